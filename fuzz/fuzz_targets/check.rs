//! Fuzz target: any input, parsed, checked, lowered and formatted, never panics, and
//! formatting what parses is idempotent. Run with `cargo fuzz run check` from `fuzz/`.
#![no_main]

use accord_compiler::{compile, Options, SourceMap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut sources = SourceMap::new();
    sources.add("fuzz.accord", text.as_ref());
    let _ = compile(&sources, &Options::default());
    if let Ok(once) = accord_dsl::fmt::format_source(&text) {
        let twice = accord_dsl::fmt::format_source(&once).expect("formatted output parses");
        assert_eq!(once, twice);
    }
});
