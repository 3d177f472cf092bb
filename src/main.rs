#![forbid(unsafe_code)]

/// Not glibc's malloc, which kept large freed buffers for good (why: the mimalloc
/// decision in docs/ARCHITECTURE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    carebook::cli::run()
}
