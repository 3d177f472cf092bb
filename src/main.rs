#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    carebook::cli::run()
}
