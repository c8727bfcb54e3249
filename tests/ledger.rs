//! The clause ledger (`tests/ledger.toml`): every clause the grammar accepts, what it does at
//! run time, and what proves it: a named test that shows the effect, or the diagnostic code
//! that refuses it. This test walks the grammar (`dsl/src/accord.pest`) and the compiler's
//! lists of property keys and enumerated values, and fails when a clause has no entry, when
//! an entry names a clause, test or code that does not exist, or when an entry has no proof
//! and is not an admitted gap. Gaps are listed on the book's page and may only shrink
//! (`GAPS_AT_MOST`). The page `book/src/reference/clauses.md` is generated from the ledger
//! (`UPDATE_EXPECT=1 cargo test -p accord-tests --test ledger`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use accord_compiler::builtins;

/// How many clauses may lack a run-time proof: none. Raising it needs a reason in the review.
const GAPS_AT_MOST: usize = 0;

#[derive(serde::Deserialize)]
struct Ledger {
    clause: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    /// How the clause is written.
    syntax: String,
    /// The grammar rules and keys it stands for.
    covers: Vec<String>,
    /// What it does, in one or two sentences.
    effect: String,
    #[serde(default)]
    tests: Vec<String>,
    #[serde(default)]
    refused: Vec<String>,
    /// What is not yet proven, when nothing is.
    #[serde(default)]
    gap: Option<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn grammar() -> String {
    std::fs::read_to_string(root().join("dsl/src/accord.pest")).unwrap()
}

/// The grammar rules that are clauses a user writes: declarations and their parts.
fn grammar_clauses(grammar: &str) -> BTreeSet<String> {
    let prefixes = [
        "iface_",
        "sla_",
        "act_",
        "retry_",
        "c_",
        "own_",
        "cond_",
        "conflict_",
        "default_",
        "flow_",
        "exp_",
        "test_",
        "scen_",
        "sx_",
        "map_",
        "prof_",
        "env_ref",
        "secret_ref",
        "stage",
    ];
    let exact = [
        "otherwise_rule",
        "match_rule",
        "profile_rule",
        "profile_segment",
        "zfield",
        "cardinality",
        "codemap_entry",
        "code_entry",
        "codeset_prop",
        "field_decl",
        "rep_filter",
        "if_expr",
    ];
    // Grouping rules, not clauses of their own.
    let skip = [
        "iface_clause",
        "sla_item",
        "own_clause",
        "flow_clause",
        "flow_event",
        "test_stmt",
        "test_expect",
        "scen_step",
        "scen_expect",
        "flow_state",
        "sx_state",
        "map_stmt",
        "map_target",
        "conflict_simple",
        "act_simple",
    ];
    grammar
        .lines()
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.trim()))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .filter(|n| {
            n.ends_with("_decl")
                || exact.contains(n)
                || prefixes.iter().any(|p| n.starts_with(p)) && !skip.contains(n)
        })
        .map(str::to_string)
        .collect()
}

/// The quoted words of one grammar rule (`reply_class`, `act_simple`, `flow_event`).
fn rule_words(grammar: &str, rule: &str) -> Vec<String> {
    let line = grammar
        .lines()
        .find(|l| l.split_once('=').is_some_and(|(n, _)| n.trim() == rule))
        .unwrap_or_else(|| panic!("no rule {rule}"));
    line.split('"')
        .skip(1)
        .step_by(2)
        .filter(|w| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_string)
        .collect()
}

/// Every key the ledger must cover.
fn every_clause() -> BTreeSet<String> {
    let grammar = grammar();
    let mut all = grammar_clauses(&grammar);
    let mut add = |kind: &str, words: &[&str]| {
        for w in words {
            all.insert(format!("{kind}.{w}"));
        }
    };
    add("system", builtins::SYSTEM_PROPS);
    add("environment", builtins::ENVIRONMENT_PROPS);
    add("interface", builtins::INTERFACE_PROPS);
    add("endpoint", builtins::ENDPOINT_SETTINGS);
    add("transport", builtins::TRANSPORTS);
    add("pattern", builtins::PATTERNS);
    add("ack", builtins::ACK_MODES);
    add("status", builtins::STATUSES);
    add("conflict", builtins::CONFLICT_RULES);
    let validators: Vec<&str> = builtins::VALIDATORS.iter().map(|(n, _)| *n).collect();
    add("check", &validators);
    for (kind, rule) in [
        ("reply", "reply_class"),
        ("action", "act_simple"),
        ("flow_on", "flow_event"),
    ] {
        for w in rule_words(&grammar, rule) {
            all.insert(format!("{kind}.{w}"));
        }
    }
    all
}

fn ledger() -> Ledger {
    let text = std::fs::read_to_string(root().join("tests/ledger.toml")).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("tests/ledger.toml: {e}"))
}

/// Whether `file::name` is a test function in that file.
fn test_exists(proof: &str) -> bool {
    let Some((file, name)) = proof.split_once("::") else {
        return false;
    };
    std::fs::read_to_string(root().join(file)).is_ok_and(|src| {
        src.contains(&format!("fn {name}("))
            && (src.contains("#[test]") || src.contains("#[tokio::test"))
    })
}

/// Whether a code is registered and has its error case folder.
fn code_exists(code: &str) -> bool {
    let registered = accord_compiler::codes::CODES.iter().any(|c| c.code == code);
    let case = std::fs::read_dir(root().join("tests/cases/err"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(code));
    registered && case
}

#[test]
fn every_clause_the_grammar_accepts_is_proven_or_refused() {
    let ledger = ledger();
    let every = every_clause();
    let mut covered: BTreeMap<&str, &str> = BTreeMap::new();
    let mut problems = vec![];
    let mut gaps = 0;
    for e in &ledger.clause {
        for key in &e.covers {
            if !every.contains(key) {
                problems.push(format!(
                    "`{}` covers `{key}`, which is not a clause",
                    e.syntax
                ));
            }
            if let Some(other) = covered.insert(key, &e.syntax) {
                problems.push(format!("`{key}` is in `{other}` and `{}`", e.syntax));
            }
        }
        for t in &e.tests {
            if !test_exists(t) {
                problems.push(format!("`{}` names `{t}`, which is not a test", e.syntax));
            }
        }
        for c in &e.refused {
            if !code_exists(c) {
                problems.push(format!(
                    "`{}` names `{c}`, which is not a code with an error case",
                    e.syntax
                ));
            }
        }
        match (&e.gap, e.tests.is_empty() && e.refused.is_empty()) {
            (Some(_), _) => gaps += 1,
            (None, true) => problems.push(format!(
                "`{}` has neither a test nor a refusing code",
                e.syntax
            )),
            (None, false) => {}
        }
    }
    for key in &every {
        if !covered.contains_key(key.as_str()) {
            problems.push(format!(
                "`{key}` is accepted by the grammar and not in tests/ledger.toml"
            ));
        }
    }
    if gaps > GAPS_AT_MOST {
        problems.push(format!(
            "{gaps} clauses are unproven; at most {GAPS_AT_MOST} may be"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The book's page, from the ledger.
fn page() -> String {
    let ledger = ledger();
    let mut out = String::from(
        "# What every clause does at run time\n\n\
         <!-- Generated from tests/ledger.toml by tests/ledger.rs: edit the ledger, then run\n\
         `UPDATE_EXPECT=1 cargo test -p accord-tests --test ledger`. -->\n\n\
         Every clause the language accepts is on this page with what it does when the production\n\
         runs and what proves it: a test that shows the effect over real sockets and files, or the\n\
         diagnostic that refuses the clause until it works. A test (`tests/ledger.rs`) walks the\n\
         grammar and fails when a clause is missing here, names a test or code that does not exist,\n\
         or has no proof; a clause admitted as unproven would be listed under *Not yet proven*.\n\n\
         | Clause | At run time | Proven by |\n|---|---|---|\n",
    );
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    for e in &ledger.clause {
        let mut proof: Vec<String> = e
            .tests
            .iter()
            .map(|t| format!("`{}`", t.rsplit("::").next().unwrap_or(t)))
            .collect();
        proof.extend(
            e.refused
                .iter()
                .map(|c| format!("[{c}](../diagnostics.md#{})", c.to_lowercase())),
        );
        if e.gap.is_some() {
            proof.push("*not yet proven*".into());
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            cell(&e.syntax),
            cell(&e.effect),
            proof.join(", ")
        ));
    }
    let gaps: Vec<&Entry> = ledger.clause.iter().filter(|e| e.gap.is_some()).collect();
    if !gaps.is_empty() {
        out.push_str("\n## Not yet proven\n\n");
        for e in gaps {
            out.push_str(&format!(
                "- `{}`: {}\n",
                e.syntax,
                e.gap.as_deref().unwrap_or_default()
            ));
        }
    }
    out
}

#[test]
fn the_clause_page_is_the_ledger() {
    let path = root().join("book/src/reference/clauses.md");
    let generated = page();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "book/src/reference/clauses.md is stale: run `UPDATE_EXPECT=1 cargo test -p accord-tests --test ledger`"
    );
}
