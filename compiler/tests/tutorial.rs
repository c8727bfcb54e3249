//! The book's tutorial (`book/src/tutorial.md`), run as written. The estate is the page's
//! ```accord,tutorial blocks in order, the sample is its ```text,file=PATH block; every
//! ```console,run block is run line by line in a scratch folder (`accord` is this build's
//! binary) and each command's output must be the one printed under it. Then the running
//! step: the production is built and started (ports moved to free ones by configuration),
//! the sample is sent over MLLP, WinPath's stand-in must receive what the page shows, and
//! `status` and `trace` must print what it shows.

mod support;

use std::path::Path;
use std::process::Command;

/// (info string, body) of every fenced block.
fn blocks(md: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut current: Option<(String, String)> = None;
    for line in md.lines() {
        if let Some(rest) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((rest.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// A console block as (command, the output printed under it).
fn commands(body: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for line in body.lines() {
        match line.strip_prefix("$ ") {
            Some(cmd) => out.push((cmd.to_string(), String::new())),
            None => {
                if let Some((_, expected)) = out.last_mut() {
                    expected.push_str(line);
                    expected.push('\n');
                }
            }
        }
    }
    out
}

fn sh(cmd: &str, dir: &Path, bin: &Path) -> (bool, String) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(dir)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", support::target())
        .env_remove("ACCORD_TODAY")
        .output()
        .unwrap();
    (o.status.success(), support::text(&o))
}

#[test]
fn the_tutorial_runs_as_written() {
    let md = std::fs::read_to_string(support::root().join("book/src/tutorial.md")).unwrap();
    let all = blocks(&md);
    let work = support::fresh_dir("tutorial");

    // `accord` on the PATH is this build's binary.
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_accord"), bin.join("accord")).unwrap();

    // The files the page asks for.
    let estate: Vec<&str> = all
        .iter()
        .filter(|(info, _)| info == "accord,tutorial")
        .map(|(_, body)| body.as_str())
        .collect();
    assert!(estate.len() >= 6, "the tutorial builds its estate in steps");
    std::fs::create_dir_all(work.join("my-estate/samples")).unwrap();
    std::fs::write(work.join("my-estate/estate.accord"), estate.join("\n")).unwrap();
    for (info, body) in &all {
        if let Some(file) = info.strip_prefix("text,file=") {
            let text = if file.ends_with(".hl7") {
                body.replace('\n', "\r")
            } else {
                body.clone()
            };
            std::fs::write(work.join(file), text).unwrap();
        }
    }

    // Every command shown with its output, in order.
    let mut ran = 0;
    for (info, body) in &all {
        if info != "console,run" {
            continue;
        }
        for (cmd, expected) in commands(body) {
            let (_, got) = sh(&cmd, &work, &bin);
            assert_eq!(
                got.trim_end(),
                expected.trim_end(),
                "`{cmd}` printed something else than the tutorial shows"
            );
            ran += 1;
        }
    }
    assert!(ran >= 8, "only {ran} commands ran");

    // Step 8, with the ports moved to free ones.
    let peer = support::Peer::start(|_, _| "AA");
    let (hub, admin) = (support::free_port(), support::free_port());
    let config = work.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[endpoints.hub_in]\nport = {hub}\n\n[endpoints.winpath_mllp]\nport = {}\n\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n",
            peer.port
        ),
    )
    .unwrap();
    let production = support::build(work.join("my-estate").to_str().unwrap());
    let store = work.join("var");
    let _running = support::start(&production, &config, &store, admin);
    let ack = support::accord_send(hub, &work.join("my-estate/samples/adt_a01.hl7"));
    assert!(ack.contains("MSA|AA|MSG00001"), "{ack}");

    let shown = |needle: &str| -> String {
        all.iter()
            .find(|(_, body)| body.contains(needle))
            .map(|(_, body)| body.clone())
            .unwrap_or_else(|| panic!("the tutorial lost the block with {needle}"))
    };
    // What WinPath got, without the header line's timestamp and control id.
    let received = peer.wait_for(1).remove(0);
    // Every segment the page shows, but the header and EVN-2 (both carry the time).
    let got: Vec<&str> = received
        .split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect();
    let want = shown("PID|||100001");
    let want: Vec<&str> = want.lines().collect();
    assert_eq!(got.len(), want.len(), "the lab got {received:?}");
    for (got, want) in got.iter().zip(&want).skip(1) {
        match want.strip_prefix("EVN||") {
            Some(_) => assert!(got.starts_with("EVN||"), "the lab got {got:?}"),
            None => assert_eq!(got, want, "the lab got {received:?}"),
        }
    }

    let journal = store.join("journal.sqlite");
    let console = shown("my-first-estate status");
    let steps = commands(&console);
    // The lab's ACK is recorded just after the lab has the message: wait for it.
    let status = || {
        let o = Command::new(&production)
            .args(["status", "--journal"])
            .arg(&journal)
            .output()
            .unwrap();
        support::text(&o).trim_end().to_string()
    };
    let started = std::time::Instant::now();
    while status() != steps[0].1.trim_end() && started.elapsed().as_secs() < 15 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status(), steps[0].1.trim_end());
    let trace = Command::new(&production)
        .args(["trace", "MSG00001", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    let trace = support::text(&trace);
    for line in steps[1].1.lines() {
        assert!(trace.contains(line), "trace lacks {line:?}:\n{trace}");
    }
}
