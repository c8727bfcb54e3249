//! Benchmark of `accord check` + IR lowering on synthetic estates of 250 to 2,000
//! interfaces (see `accord_compiler::synth`). Not a timed test: it prints figures.
//!
//! Run: `cargo bench -p accord-compiler --bench check`
//!
//! Baseline in the same run: parsing alone (the front end's floor). Reported per size:
//! the median of several runs of the whole pipeline, its ratio to parsing, and growth
//! against the previous (half) size, which must stay at or under 2.2x for linear time.

use accord_compiler::{compile, synth, Options, SourceMap};
use std::time::{Duration, Instant};

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let runs: usize = std::env::var("ACCORD_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    println!("accord check + lower, synthetic estates, median of {runs} runs, one thread");
    println!(
        "{:>6} {:>6} {:>9} {:>10} {:>12} {:>11} {:>9} {:>13}",
        "N", "files", "KiB", "parse ms", "check+IR ms", "vs parse", "growth", "interfaces/s"
    );
    let mut previous: Option<Duration> = None;
    for n in [250usize, 500, 1000, 2000] {
        let mut sources = SourceMap::new();
        for (name, text) in synth::estate(n) {
            sources.add(name, text);
        }
        let bytes: usize = sources.files().map(|(_, f)| f.text.len()).sum();
        let options = Options {
            today: "2026-06-01".into(),
            file_exists: None,
        };
        let check = compile(&sources, &options);
        assert!(
            check.diagnostics.is_empty() && check.ir.is_some(),
            "the synthetic estate must check clean"
        );
        let parse = time(runs, || {
            for (id, f) in sources.files() {
                std::hint::black_box(accord_dsl::parse_file(id, &f.text));
            }
        });
        let full = time(runs, || {
            std::hint::black_box(compile(&sources, &options));
        });
        let growth = previous
            .map(|p| format!("{:.2}x", full.as_secs_f64() / p.as_secs_f64()))
            .unwrap_or_else(|| "-".into());
        println!(
            "{n:>6} {:>6} {:>9} {:>10.1} {:>12.1} {:>10.2}x {:>9} {:>13.0}",
            sources.len(),
            bytes / 1024,
            parse.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e3,
            full.as_secs_f64() / parse.as_secs_f64(),
            growth,
            n as f64 / full.as_secs_f64(),
        );
        previous = Some(full);
    }
}
