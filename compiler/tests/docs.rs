//! `accord doc` and `accord export conceptmap` as real processes: the example estate's
//! site against golden files in `tests/docs/trakcare-lab/{html,markdown}` (`UPDATE_EXPECT=1`
//! rewrites them), deterministic output, and every ConceptMap valid for an independent
//! FHIR R4 validator (Python `fhir.resources`, R4 models, installed by `.ci/run`).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn accord(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .current_dir(root())
        .env_remove("ACCORD_TODAY")
        .output()
        .unwrap()
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out);
    }
    out
}

/// The site in `format`, written to a fresh folder of its own (`name`: tests run at once).
fn site(format: &str, name: &str) -> PathBuf {
    let out = support::fresh_dir(&format!("docs-{name}"));
    let o = accord(&[
        "doc",
        "examples/trakcare-lab",
        "--today",
        "2026-12-01",
        "--format",
        format,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn compare_with_golden(format: &str) {
    let out = site(format, &format!("golden-{format}"));
    let golden = root().join("tests/docs/trakcare-lab").join(format);
    let got = files(&out);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let _ = std::fs::remove_dir_all(&golden);
        for (rel, bytes) in &got {
            let p = golden.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        return;
    }
    let want = files(&golden);
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "site files differ from {}: missing {missing:?}, extra {extra:?} (UPDATE_EXPECT=1 rewrites)",
        golden.display()
    );
    for (rel, bytes) in &want {
        let g = &got[rel];
        if g != bytes {
            let (a, b) = (String::from_utf8_lossy(bytes), String::from_utf8_lossy(g));
            // The first differing line, or the first line one of them lacks.
            let line = a
                .lines()
                .zip(b.lines())
                .position(|(x, y)| x != y)
                .unwrap_or_else(|| a.lines().count().min(b.lines().count()));
            panic!(
                "{rel} differs from the golden at line {}:\n  golden: {}\n  now:    {}\n(UPDATE_EXPECT=1 rewrites)",
                line + 1,
                a.lines().nth(line).unwrap_or(""),
                b.lines().nth(line).unwrap_or("")
            );
        }
    }
}

#[test]
fn the_html_site_matches_its_golden_files() {
    compare_with_golden("html");
}

#[test]
fn the_markdown_site_matches_its_golden_files() {
    compare_with_golden("markdown");
}

#[test]
fn the_site_is_deterministic_and_self_contained() {
    let a = files(&site("html", "first"));
    let b = files(&site("html", "second"));
    assert_eq!(a, b, "two runs gave different bytes");
    for (rel, bytes) in &a {
        let text = String::from_utf8_lossy(bytes);
        // Works from file:// with no network: nothing is fetched from elsewhere.
        for bad in ["http://", "https://", "//cdn", "<script"] {
            let allowed = |line: &str| {
                line.contains("xmlns=\"http://www.w3.org/2000/svg\"")
                    || rel.ends_with(".json")
                    || line.contains("http://hl7.org/fhir/")
                    || line.contains("http://terminology.hl7.org/")
            };
            for line in text.lines().filter(|l| l.contains(bad)) {
                assert!(allowed(line), "{rel} reaches the network: {line}");
            }
        }
        // Every relative link of an HTML page points at a file of the site.
        if rel.ends_with(".html") {
            let dir = Path::new(rel).parent().unwrap_or(Path::new(""));
            for href in text.split("href=\"").skip(1) {
                let target = href.split('"').next().unwrap().split('#').next().unwrap();
                if target.is_empty() || target.contains("://") {
                    continue;
                }
                let joined = normalise(&dir.join(target));
                assert!(a.contains_key(&joined), "{rel} links to a missing {joined}");
            }
        }
    }
}

fn normalise(p: &Path) -> String {
    let mut parts: Vec<String> = vec![];
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into()),
            _ => {}
        }
    }
    parts.join("/")
}

#[test]
fn the_site_says_what_the_board_must_see() {
    let out = site("html", "content");
    let read = |rel: &str| std::fs::read_to_string(out.join(rel)).unwrap();
    let page = read("interface/adt_to_lims.html");
    assert!(page.contains(
        "An AE reply is retried 5 times, 2 s to 5 min apart, then dead-lettered and alerts"
    ));
    assert!(page.contains(
        "Never sent: <code>postcode</code>, <code>stage</code>, <code>updated_at</code>."
    ));
    assert!(page.contains("PID-8 via trakcare_sex"));
    assert!(page.contains("Administrative Sex (IS)"));
    // The example message comes from the estate's test, escaped.
    assert!(page.contains("MSH|^~\\&amp;|TRAKCARE"));
    let index = read("index.html");
    // 2027-01-15 is within 60 days of 2026-12-01: due; 2027-03-01 is not.
    assert!(
        index.contains("2027-01-15 (due)"),
        "adt_to_pharmacy's review is due"
    );
    assert!(!index.contains("2027-03-01 (due)"));
    let matrix = read("matrix.html");
    assert!(
        matrix.contains("<span class=\"flag unowned\">unowned</span>"),
        "postcode is unowned"
    );
    assert!(matrix.contains("human review (demographics-queue)"));
    // A secret is shown only as the name it is read from.
    let catalogue = read("interfaces.html");
    assert!(catalogue.contains("mllp env(WINPATH_HOST):env(WINPATH_PORT) (TLS required)"));

    // Overdue with a later date; warnings from check appear on the overview.
    let later = support::fresh_dir("docs-later");
    let o = accord(&[
        "doc",
        "examples/trakcare-lab",
        "--today",
        "2027-02-10",
        "-o",
        later.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let index = std::fs::read_to_string(later.join("index.html")).unwrap();
    assert!(index.contains("2027-01-15 (overdue)"));
    assert!(
        index.contains("<code>W0501</code>"),
        "the review warning is listed"
    );
}

#[test]
fn doc_refuses_an_estate_with_errors() {
    let dir = support::fresh_dir("docs-broken");
    std::fs::write(
        dir.join("main.accord"),
        "estate \"x\" version 1.0.0\nrecord P { a: Nope }\n",
    )
    .unwrap();
    let out = dir.join("site");
    let o = accord(&["doc", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("E0201"), "{err}");
    assert!(!out.exists(), "nothing is written for a broken estate");
}

#[test]
fn concept_maps_are_valid_fhir_r4() {
    let out = support::fresh_dir("conceptmaps");
    let o = accord(&[
        "export",
        "conceptmap",
        "examples/trakcare-lab",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let maps: Vec<PathBuf> = files(&out).keys().map(|k| out.join(k)).collect();
    assert_eq!(maps.len(), 8, "one ConceptMap per code map");
    let (valid, report) = support::fhir_validate(&maps);
    assert!(valid, "{report}");

    let one = accord(&[
        "export",
        "conceptmap",
        "examples/trakcare-lab",
        "trakcare_sex",
    ]);
    assert!(one.status.success());
    let cm: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(cm["resourceType"], "ConceptMap");
    let group = &cm["group"][0];
    assert_eq!(group["target"], "http://hl7.org/fhir/administrative-gender");
    let a = group["element"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "A")
        .unwrap();
    assert_eq!(a["target"][0]["code"], "other");
    assert!(
        group.get("unmapped").is_none(),
        "a rejecting default maps nothing"
    );

    let all = accord(&["export", "conceptmap", "examples/trakcare-lab"]);
    let bundle: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(bundle["type"], "collection");
    assert_eq!(bundle["entry"].as_array().unwrap().len(), 8);

    let typo = accord(&[
        "export",
        "conceptmap",
        "examples/trakcare-lab",
        "trakcare_sx",
    ]);
    assert_eq!(typo.status.code(), Some(2));
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(err.contains("did you mean `trakcare_sex`"), "{err}");
}
