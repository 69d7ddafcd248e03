fn main() -> std::process::ExitCode {
    fnwire_bench::cli::main()
}
