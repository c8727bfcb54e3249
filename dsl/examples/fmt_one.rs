//! Formats one file to stdout (a development aid; `accord fmt` is the product).
fn main() {
    let path = std::env::args().nth(1).expect("path");
    let text = std::fs::read_to_string(path).expect("read");
    match accord_dsl::fmt::format_source(&text) {
        Ok(s) => print!("{s}"),
        Err(d) => eprintln!("{d:#?}"),
    }
}
