//! Compiles `estate/` into `OUT_DIR/estate.rs`; a broken estate fails the build with the
//! same diagnostics `accord check` prints.
fn main() {
    if let Err(diagnostics) = accord_compiler::build_script::compile_estate("estate") {
        eprintln!("{diagnostics}");
        std::process::exit(1);
    }
}
