//! Helpers shared by the runtime's integration tests: the corpus in `tests/corpus`.

use std::path::PathBuf;

/// Every `.hl7` file of `tests/corpus/hl7v2/fhir-converter`, sorted.
#[allow(dead_code)]
pub fn corpus_files() -> Vec<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/hl7v2/fhir-converter");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/corpus/hl7v2/fhir-converter in the repository")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "hl7"))
        .collect();
    files.sort();
    files
}

/// The 1,764-byte ADT^A01 of the benchmarks.
#[allow(dead_code)]
pub fn bench_adt() -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/corpus/bench/adt_a01_1764b.hl7"),
    )
    .expect("bench message")
}
