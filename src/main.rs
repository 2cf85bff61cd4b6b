fn main() -> std::process::ExitCode {
    dlrepo::cli::main()
}
