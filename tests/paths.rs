//! One path syntax everywhere: every HL7 path the language accepts reads the same in the
//! runtime (same parts, same canonical text), and paths the runtime rejects are rejected
//! by the language too.

use accord_compiler::check::hl7paths::runtime_path;
use accord_dsl::ast::{ExprKind, ItemKind, MapStmtKind};
use accord_hl7::Path;

const PATHS: &[&str] = &[
    "PID-3",
    "PID-3[2].1",
    "OBX[4]-5",
    "PID-5.3.2",
    "PID-3[where 5 = \"MR\"].1",
    "PID-3[where 4.1 = \"NHS\"].1",
    "PV1-19[*]",
    "MSH-9.2",
    "ZPI[2]-1[3].4.5",
];

#[test]
fn the_language_and_the_runtime_read_paths_the_same() {
    let body: String = PATHS
        .iter()
        .enumerate()
        .map(|(i, p)| format!("  f{i} <- {p}\n"))
        .collect();
    let text = format!("mapping m: hl7v2 2.5 ADT^A01 -> R {{\n{body}}}\n");
    let (file, diags) = accord_dsl::parse_file(accord_dsl::FileId(0), &text);
    assert!(diags.is_empty(), "{diags:?}");
    let ItemKind::Mapping(m) = &file.items[0].kind else {
        panic!("a mapping")
    };
    for (stmt, written) in m.body.iter().zip(PATHS) {
        let MapStmtKind::Assign { values, .. } = &stmt.kind else {
            panic!("an assignment")
        };
        let ExprKind::Hl7(p) = &values[0].kind else {
            panic!("an HL7 path")
        };
        let from_language = runtime_path(p);
        let from_runtime = Path::parse(written).expect("the runtime parses it");
        assert_eq!(from_language, from_runtime, "{written}");
        assert_eq!(p.to_string(), *written);
        assert_eq!(from_runtime.to_string(), *written);
    }
}

#[test]
fn both_reject_malformed_paths() {
    for bad in ["PID-0", "PID-3[0]", "pid-3"] {
        assert!(Path::parse(bad).is_err(), "runtime accepts {bad}");
        let text = format!("mapping m: hl7v2 2.5 ADT^A01 -> R {{\n  a <- {bad}.1\n}}\n");
        let (file, diags) = accord_dsl::parse_file(accord_dsl::FileId(0), &text);
        let accepted_as_hl7 = diags.is_empty()
            && matches!(&file.items[0].kind, ItemKind::Mapping(m) if matches!(&m.body[0].kind, MapStmtKind::Assign { values, .. } if matches!(values[0].kind, ExprKind::Hl7(_))));
        if accepted_as_hl7 {
            // The grammar takes digits as written; 0 is caught by the checker.
            let mut sources = accord_compiler::SourceMap::new();
            sources.add(
                "m.accord",
                format!("estate \"x\" version 1.0.0\nrecord R {{\n  a: Text\n}}\n{text}"),
            );
            let result = accord_compiler::compile(&sources, &accord_compiler::Options::default());
            assert!(result.has_errors(), "{bad} passes the checker");
        }
    }
}
