//! `accord diff` as a real process over the cases in `tests/diff/<case>/`: each case has a
//! `new/` estate, an optional `old/` one (else `tests/diff/base/` is the old side) and
//! `expected.txt`, the exit code and the human report (`UPDATE_EXPECT=1` rewrites them).
//! Every rule of the catalogue must be shown by some case. Also: the JSON and Markdown
//! formats, and `git:REF` sides in a scratch repository.

mod support;

use accord_compiler::diff::rules::RULES;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let dir = support::root().join("tests/diff");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.join("new").is_dir())
        .collect();
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(support::root())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

fn old_side(case: &Path) -> String {
    if case.join("old").is_dir() {
        rel(&case.join("old"))
    } else {
        "tests/diff/base".into()
    }
}

fn accord(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn every_case_reports_what_it_expects() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = vec![];
    for case in cases() {
        let new = rel(&case.join("new"));
        let o = accord(&["diff", &old_side(&case), &new], &support::root());
        let got = format!(
            "exit: {}\n{}{}",
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let expected = case.join("expected.txt");
        if update {
            std::fs::write(&expected, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected).unwrap_or_default();
        if want != got {
            failures.push(format!("--- {}\n{got}", rel(&case)));
        }
    }
    assert!(
        failures.is_empty(),
        "cases differ from expected.txt (UPDATE_EXPECT=1 rewrites):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_rule_is_shown_by_a_case() {
    let all: String = cases()
        .iter()
        .map(|c| std::fs::read_to_string(c.join("expected.txt")).unwrap_or_default())
        .collect();
    let missing: Vec<&str> = RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| !all.contains(&format!("[{id}]")) && !all.contains(&format!("({id}")))
        .collect();
    assert!(missing.is_empty(), "no case shows these rules: {missing:?}");
}

#[test]
fn json_and_markdown_carry_the_same_report() {
    let case = support::root().join("tests/diff/contract-clauses-with-major-bump");
    let new = rel(&case.join("new"));
    let o = accord(
        &["diff", "tests/diff/base", &new, "--format", "json"],
        &support::root(),
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes = v["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["rule"] == "ack-changed"
        && c["class"] == "breaking"
        && c["interfaces"] == serde_json::json!(["adt_to_lab"])));
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["interface"], "discharges_to_lab");
    assert_eq!(errors[0]["suggestion"], "2.0.0");
    assert_eq!(
        v["summary"]["breaking"],
        changes.iter().filter(|c| c["class"] == "breaking").count()
    );

    let md = accord(
        &["diff", "tests/diff/base", &new, "--format", "markdown"],
        &support::root(),
    );
    let text = String::from_utf8_lossy(&md.stdout);
    assert!(
        text.contains("| `ack-changed` | interface adt_to_lab |"),
        "{text}"
    );
    assert!(text.contains("## Version errors"));
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=Accord Tests",
            "-c",
            "user.email=tests@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn git_refs_compare_committed_estates() {
    let repo = support::fresh_dir("diff-git");
    let estate = repo.join("estates/lab");
    std::fs::create_dir_all(&estate).unwrap();
    let base =
        std::fs::read_to_string(support::root().join("tests/diff/base/estate.accord")).unwrap();
    std::fs::write(estate.join("estate.accord"), &base).unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let changed = base.replace("ack: application within 30s", "ack: application within 60s");
    std::fs::write(estate.join("estate.accord"), changed).unwrap();

    // The working tree against the last commit: PATH defaults to the other side's folder.
    let o = accord(&["diff", "git:HEAD", "estates/lab"], &repo);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("[ack-changed] interface adt_to_lab: ACK application within 30 s -> application within 1 min"), "{out}");

    // The site's change log page is built from the same report.
    let site = repo.join("site");
    let o = accord(
        &[
            "doc",
            "estates/lab",
            "--since",
            "HEAD",
            "--today",
            "2026-12-01",
            "-o",
            site.to_str().unwrap(),
        ],
        &repo,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(site.join("changes.html")).unwrap();
    assert!(page.contains("<code>ack-changed</code>"), "{page}");
    assert!(page.contains("Changes since <code>HEAD</code>"));
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(
        index.contains("href=\"changes.html\""),
        "the overview links the change log"
    );

    // From a subfolder, with the path given as git names it (from the top).
    let o = accord(
        &["diff", "git:HEAD:estates/lab", "lab"],
        &repo.join("estates"),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Two commits.
    git(&repo, &["commit", "-q", "-am", "slower lab"]);
    let o = accord(&["diff", "git:HEAD~1", "git:HEAD:estates/lab"], &repo);
    assert!(String::from_utf8_lossy(&o.stdout).contains("[ack-changed]"));
    let o = accord(&["diff", "git:HEAD", "estates/lab"], &repo);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the working tree is the last commit"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("no changes"));

    // A revision that does not exist is a clear error, exit 2.
    let o = accord(&["diff", "git:no-such-branch", "estates/lab"], &repo);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read `no-such-branch`"));
}

#[test]
fn a_side_with_errors_cannot_be_compared() {
    let dir = support::fresh_dir("diff-broken");
    std::fs::write(
        dir.join("estate.accord"),
        "estate \"x\" version 1.0.0\nrecord P { a: Nope }\n",
    )
    .unwrap();
    let o = accord(
        &["diff", "tests/diff/base", dir.to_str().unwrap()],
        &support::root(),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("E0201") && err.contains("cannot compare"),
        "{err}"
    );
}
