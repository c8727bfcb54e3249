//! The `accord` binary: see `accord_compiler::cli`.
fn main() -> std::process::ExitCode {
    accord_compiler::cli::main()
}
