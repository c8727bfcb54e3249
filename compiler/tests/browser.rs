//! The governance site in a real browser: `accord doc` writes the example estate's site,
//! then `tests/browser/site.mjs` loads it from `file://` in Debian's Chromium (headless,
//! through playwright-core), checks the key content in the DOM, follows a link of the
//! dependency graph and saves screenshots under `target/test-artifacts/browser/`.
//! `.ci/run` installs Chromium (apt) and playwright-core (`npm ci` in `tests/browser`).

mod support;

use std::process::Command;

#[test]
fn the_site_reads_right_in_chromium() {
    let root = support::root();
    let site = support::fresh_dir("browser-site");
    let o = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "doc",
            "examples/trakcare-lab",
            "--today",
            "2026-12-01",
            "-o",
        ])
        .arg(&site)
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shots = support::target().join("test-artifacts/browser");
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (bash .ci/run does)"
    );
    let o = Command::new("node")
        .arg(root.join("tests/browser/site.mjs"))
        .arg(&site)
        .arg(&shots)
        .output()
        .expect("node runs (bash .ci/run installs Chromium and playwright-core)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
    for shot in ["overview.png", "interface-adt_to_lims.png", "matrix.png"] {
        let len = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 10_000, "screenshot {shot} is missing or empty");
    }
}
