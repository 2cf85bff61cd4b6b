// mimalloc: imports allocate and free a dozen strings per row and pulls a 40 KiB answer
// per request; glibc's malloc spent a fifth of an import in malloc/free and gave pages
// back to the kernel only to fault them in again (BENCHMARKS.md, import).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dlrepo::cli::main()
}
