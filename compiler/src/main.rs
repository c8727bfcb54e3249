//! The `accord` binary: see `accord_compiler::cli`.

// Nothing panics on user input: no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
fn main() -> std::process::ExitCode {
    accord_compiler::cli::main()
}
