//! The book and the house rules, checked:
//!
//! - every ```accord block in `book/src` compiles: plain blocks of a page are compiled
//!   together with `book/src/prelude.accord` and must have no error; `accord,standalone`
//!   blocks are compiled alone; `accord,tutorial` blocks of a page are one estate,
//!   compiled together without the prelude (the tutorial also runs them:
//!   `compiler/tests/tutorial.rs`); `accord,expect=CODE` blocks must produce CODE, against
//!   the page's tutorial blocks if it has any;
//! - `book/src/diagnostics.md` is generated from the code registry, and the rules table of
//!   `book/src/governance.md` from `accord diff`'s catalogue (UPDATE_EXPECT=1);
//! - every link between book pages resolves, anchors included;
//! - every diagnostic code emitted has a registry entry and an err case, and back;
//! - tidy: every Rust file starts with `//!` and leaves no debugging macros.

use accord_compiler::{codes, compile, render, Options, SourceMap};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn book_pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "md") {
                out.push(p);
            }
        }
    }
    let mut out = vec![];
    walk(&root().join("book/src"), &mut out);
    out
}

/// (info string, code, line) of every fenced block.
fn blocks(md: &str) -> Vec<(String, String, usize)> {
    let mut out = vec![];
    let mut current: Option<(String, String, usize)> = None;
    for (n, line) in md.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((rest.trim().to_string(), String::new(), n + 1)),
            }
        } else if let Some((_, code, _)) = current.as_mut() {
            code.push_str(line);
            code.push('\n');
        }
    }
    out
}

fn options() -> Options {
    Options {
        today: "2026-06-01".into(),
        file_exists: None,
    }
}

fn compile_blocks(parts: &[(String, String)]) -> (accord_compiler::Compilation, SourceMap) {
    let mut sources = SourceMap::new();
    for (name, text) in parts {
        sources.add(name.clone(), text.clone());
    }
    // As `accord` does: the standard library a block imports comes with it.
    accord_compiler::stdlib::add_imported(&mut sources);
    (compile(&sources, &options()), sources)
}

#[test]
fn every_accord_block_in_the_book_compiles() {
    let prelude = std::fs::read_to_string(root().join("book/src/prelude.accord")).unwrap();
    let mut failures = vec![];
    let mut checked = 0;
    for page in book_pages() {
        let md = std::fs::read_to_string(&page).unwrap();
        let name = page
            .strip_prefix(root().join("book/src"))
            .unwrap()
            .display()
            .to_string();
        let mut plain = vec![("prelude.accord".to_string(), prelude.clone())];
        let mut tutorial = vec![];
        let mut expects = vec![];
        for (info, code, line) in blocks(&md) {
            let mut words = info.split(',').map(str::trim);
            if words.next() != Some("accord") {
                continue;
            }
            checked += 1;
            let label = format!("{name}:{line}.accord");
            match words.next() {
                None => plain.push((label, code)),
                Some("tutorial") => tutorial.push((label, code)),
                Some("standalone") => {
                    let (result, sources) = compile_blocks(&[(label.clone(), code)]);
                    if result.has_errors() {
                        failures.push(format!(
                            "{label}:\n{}",
                            render::human(&result.diagnostics, &sources, "", false)
                        ));
                    }
                }
                Some(attr) => match attr.strip_prefix("expect=") {
                    Some(expected) => expects.push((label, code, expected.to_string())),
                    None => failures.push(format!("{label}: unknown block attribute `{attr}`")),
                },
            }
        }
        let (result, sources) = compile_blocks(&plain);
        if result.has_errors() {
            failures.push(format!(
                "{name}:\n{}",
                render::human(&result.diagnostics, &sources, "", false)
            ));
        }
        if !tutorial.is_empty() {
            let (result, sources) = compile_blocks(&tutorial);
            if result.has_errors() {
                failures.push(format!(
                    "{name} (tutorial blocks):\n{}",
                    render::human(&result.diagnostics, &sources, "", false)
                ));
            }
        }
        // A page that builds one estate (`tutorial` blocks) shows its mistakes against it.
        let base = if tutorial.is_empty() {
            &plain
        } else {
            &tutorial
        };
        for (label, code, expected) in expects {
            let mut parts = base.clone();
            parts.push((label.clone(), code));
            let (result, sources) = compile_blocks(&parts);
            if !result.diagnostics.iter().any(|d| d.code == expected) {
                failures.push(format!(
                    "{label}: expected {expected}, got:\n{}",
                    render::human(&result.diagnostics, &sources, "", false)
                ));
            }
        }
    }
    assert!(checked > 20, "only {checked} accord blocks found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The diagnostics index, generated from the registry.
fn diagnostics_index() -> String {
    let mut s = String::from(
        "# Diagnostics index\n\n\
         Every diagnostic has a stable code, a primary span with a label, and a help line.\n\
         Codes are grouped by area: E01xx names and structure, E02xx types, E03xx the\n\
         ownership matrix, E04xx code maps and mappings, E05xx interfaces, endpoints, routes,\n\
         flows and tests; W codes are warnings (`--deny-warnings` makes them fail).\n\
         `accord explain CODE` prints the explanation with an example. This page is\n\
         generated from the compiler's code registry.\n\n\
         | code | severity | meaning |\n| --- | --- | --- |\n",
    );
    for c in codes::CODES {
        let sev = if c.code.starts_with('W') {
            "warning"
        } else {
            "error"
        };
        s.push_str(&format!(
            "| [{0}](#{1}) | {sev} | {2} |\n",
            c.code,
            c.code.to_lowercase(),
            c.title
        ));
    }
    for c in codes::CODES {
        s.push_str(&format!(
            "\n<a id=\"{}\"></a>\n\n## {}: {}\n\n{}\n",
            c.code.to_lowercase(),
            c.code,
            c.title,
            c.explanation
        ));
        if let Some(example) = codes::example(c.code) {
            s.push_str("\nAn estate that triggers it:\n\n```text\n");
            s.push_str(example);
            if !example.ends_with('\n') {
                s.push('\n');
            }
            s.push_str("```\n");
        }
    }
    s
}

#[test]
fn diagnostics_index_is_up_to_date() {
    let path = root().join("book/src/diagnostics.md");
    let generated = diagnostics_index();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(current == generated, "book/src/diagnostics.md is stale: run `UPDATE_EXPECT=1 cargo test -p accord-tests --test book`");
}

/// The table of `accord diff` rules, generated from the catalogue.
fn diff_rules_table() -> String {
    let mut s = String::from("| rule | class | why |\n| --- | --- | --- |\n");
    for r in accord_compiler::diff::rules::RULES {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            r.id,
            r.class.as_str(),
            r.why
        ));
    }
    s
}

#[test]
fn reply_table_is_the_productions() {
    let path = root().join("book/src/production.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- replies:start -->\n", "<!-- replies:end -->");
    let (Some(a), Some(b)) = (page.find(start), page.find(end)) else {
        panic!("book/src/production.md lost its replies markers");
    };
    let generated = format!(
        "{}{start}{}{}",
        &page[..a],
        accord_runtime::answer::table(),
        &page[b..]
    );
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap();
    assert!(current == generated, "the reply table in book/src/production.md is stale: run `UPDATE_EXPECT=1 cargo test -p accord-tests --test book`");
}

#[test]
fn governance_rules_table_is_up_to_date() {
    let path = root().join("book/src/governance.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- rules:start -->\n", "<!-- rules:end -->");
    let (Some(a), Some(b)) = (page.find(start), page.find(end)) else {
        panic!("book/src/governance.md lost its rules markers");
    };
    let generated = format!("{}{start}{}{}", &page[..a], diff_rules_table(), &page[b..]);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap();
    assert!(current == generated, "the rules table in book/src/governance.md is stale: run `UPDATE_EXPECT=1 cargo test -p accord-tests --test book`");
}

#[test]
fn book_links_resolve() {
    let mut broken = vec![];
    for page in book_pages() {
        let md = std::fs::read_to_string(&page).unwrap();
        let mut rest = md.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if target.starts_with("http") || target.contains(' ') {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            // An image is a file that exists; a page, one whose anchors are there.
            if anchor.is_empty() && path.is_file() {
                continue;
            }
            match std::fs::read_to_string(&path) {
                Err(_) => broken.push(format!("{}: {target}", page.display())),
                Ok(text) if !anchor.is_empty() && !text.contains(&format!("id=\"{anchor}\"")) => {
                    broken.push(format!("{}: {target} (no anchor)", page.display()))
                }
                Ok(_) => {}
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if p.is_dir() && name != "target" && !name.starts_with('.') {
                walk(&p, out);
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }
    let mut out = vec![];
    for dir in ["dsl", "compiler", "runtime", "tests", "fuzz/fuzz_targets"] {
        walk(&root().join(dir), &mut out);
    }
    out
}

#[test]
fn tidy_every_rust_file_has_a_module_doc_and_no_debug_macros() {
    let banned = [
        concat!("db", "g!("),
        concat!("to", "do!("),
        concat!("unimpl", "emented!("),
    ];
    let mut problems = vec![];
    for f in rust_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        if text.starts_with("// @generated") {
            continue; // goldens of generated code
        }
        if !text.trim_start().starts_with("//!") {
            problems.push(format!(
                "{}: does not start with a `//!` module doc",
                f.display()
            ));
        }
        for b in banned {
            if text.contains(b) {
                problems.push(format!("{}: contains {b}", f.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_code_is_registered_explained_and_has_an_err_case() {
    let mut emitted = std::collections::BTreeSet::new();
    for f in [
        root().join("compiler/src/diagnostics.rs"),
        root().join("dsl/src/parse/errors.rs"),
    ] {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, _) in text.match_indices('"') {
            let s = &text[i + 1..];
            if s.len() > 6
                && (s.starts_with('E') || s.starts_with('W'))
                && s[1..5].chars().all(|c| c.is_ascii_digit())
                && &s[5..6] == "\""
            {
                emitted.insert(s[..5].to_string());
            }
        }
    }
    let registered: std::collections::BTreeSet<String> =
        codes::CODES.iter().map(|c| c.code.to_string()).collect();
    let cases: std::collections::BTreeSet<String> =
        std::fs::read_dir(root().join("tests/cases/err"))
            .unwrap()
            .flatten()
            .map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .split('-')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
    assert_eq!(
        emitted, registered,
        "codes emitted vs registered in codes.rs"
    );
    assert_eq!(
        registered, cases,
        "codes registered vs err cases in tests/cases/err"
    );
    for c in codes::CODES {
        assert!(
            codes::example(c.code).is_some(),
            "{} has no embedded example",
            c.code
        );
    }
}

/// Files outside `runtime/engine/src/journal/` that may run SQL of their own: none. The
/// journal module owns every statement (the storage layer a second backend implements).
const SQL_OUTSIDE_THE_JOURNAL: &[&str] = &[];

#[test]
fn tidy_sql_lives_in_the_journal_module() {
    let runs_sql = |text: &str| {
        [
            "prepare_cached(",
            ".execute(",
            "query_row(",
            "execute_batch(",
            ".prepare(",
            "query_map(",
        ]
        .iter()
        .any(|s| text.contains(s))
    };
    let mut problems = vec![];
    for f in rust_files() {
        let rel = f
            .strip_prefix(root())
            .unwrap_or(&f)
            .to_string_lossy()
            .replace('\\', "/");
        if !(rel.starts_with("runtime/src/") || rel.starts_with("compiler/src/")) {
            continue;
        }
        let whole = std::fs::read_to_string(&f).unwrap();
        // A unit test may set up its rows by hand.
        let text = whole.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let listed = SQL_OUTSIDE_THE_JOURNAL.contains(&rel.as_str());
        let inside = rel.starts_with("runtime/engine/src/journal/");
        match (runs_sql(text), inside, listed) {
            (true, false, false) => problems.push(format!(
                "{rel} runs SQL: put the statements in runtime/engine/src/journal/"
            )),
            (false, _, true) => problems.push(format!(
                "{rel} no longer runs SQL: take it off SQL_OUTSIDE_THE_JOURNAL"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// ARCHITECTURE.md is a map: every source file or folder it names (`name.rs`, `name/`)
/// exists somewhere in the workspace.
#[test]
fn tidy_architecture_names_only_files_that_exist() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut names: Vec<String> = vec![];
    for part in map.split('`').skip(1).step_by(2) {
        let looks_like_file = part.ends_with(".rs")
            && !part.contains(' ')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_/.-".contains(c));
        if looks_like_file {
            names.push(part.to_string());
        }
    }
    assert!(names.len() > 20, "found only {names:?}");
    let files: Vec<String> = rust_files()
        .iter()
        .map(|f| f.to_string_lossy().replace('\\', "/"))
        .collect();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !files.iter().any(|f| f.ends_with(&format!("/{n}"))))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names files that do not exist: {missing:?}"
    );
}

/// Code generation, the governance site and diff read the IR and nothing else: no
/// dictionary, syntax tree, model or checker, directly or through the helpers they share
/// (`english.rs`, `ir_text.rs`, `uses.rs`, `words.rs`). What they need from the HL7 v2 and
/// FHIR dictionaries, lowering has written into the IR (`compiler/src/places.rs`).
#[test]
fn tidy_codegen_docs_and_diff_read_only_the_ir() {
    let forbidden = [
        "accord_hl7",
        "accord_fhir",
        "accord_dsl",
        "crate::check",
        "crate::model",
        "crate::resolve",
        "crate::lower",
        "crate::places",
        "crate::types",
        "crate::builtins",
        "crate::stdlib",
    ];
    let compiler = root().join("compiler/src");
    let readers: Vec<PathBuf> = rust_files()
        .into_iter()
        .filter(|f| {
            let Ok(rel) = f.strip_prefix(&compiler) else {
                return false;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            ["codegen/", "docs/", "diff/"]
                .iter()
                .any(|d| rel.starts_with(d))
                || ["english.rs", "ir_text.rs", "uses.rs", "words.rs"].contains(&rel.as_str())
        })
        .collect();
    assert!(readers.len() > 20, "found only {readers:?}");
    let mut problems = vec![];
    for f in &readers {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                if code.contains(word) {
                    problems.push(format!("{}:{}: uses {word}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "codegen, docs and diff read only the IR (put what they need into it when lowering):\n{}",
        problems.join("\n")
    );
}
