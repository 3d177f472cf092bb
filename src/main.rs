#![forbid(unsafe_code)]

/// mimalloc, not glibc's malloc: glibc raises its mmap threshold to the size of the
/// largest block freed (each password hash frees a 19 MiB Argon2 block), after which
/// every large temporary buffer comes from per-thread arenas that are never given
/// back; on the large clinic that held the server at 310–340 MiB resident for about
/// 80 MiB of live heap (docs/BENCHMARKS.md, session 9).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    carebook::cli::run()
}
