//! HL7 v2 engine benchmark (a bench binary, not a timed test): msg/s and MB/s on one
//! core for parse + index, parse + read ten fields, serialise, build an ACK, and validate
//! against the version's structure and dictionary (what the production does to every
//! outbound message before it is queued), on the
//! 1.7 KB ADT^A01 of `tests/corpus/bench`, an ORU^R01 of the corpus, and the whole
//! corpus. Baselines measured in the same run: a bare `memchr` pass that records segment
//! and field offsets (the floor), and the `er7` crate (the fastest permissive parser).
//!
//! Run: `cargo bench -p accord-hl7 --bench hl7`

use accord_hl7::ack::{build_ack, AckCode, AckOptions};
use accord_hl7::builder::MessageBuilder;
use accord_hl7::{Message, Path};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

/// The floor: one memchr pass over the message, recording every segment and field offset.
fn floor(bytes: &[u8]) -> Vec<u32> {
    let mut offsets = Vec::with_capacity(bytes.len() / 8 + 8);
    for p in memchr::memchr3_iter(b'|', b'\r', b'\n', bytes) {
        offsets.push(p as u32);
    }
    offsets
}

/// Median time of `samples` runs of `iters` iterations of `f` over every message.
fn measure(messages: &[Vec<u8>], mut f: impl FnMut(&[u8])) -> Duration {
    let once = Instant::now();
    for m in messages {
        f(m);
    }
    let per_round = once.elapsed().max(Duration::from_nanos(100));
    let iters = ((Duration::from_millis(250).as_nanos() / per_round.as_nanos()) as usize)
        .clamp(1, 1_000_000);
    let mut samples: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                for m in messages {
                    f(m);
                }
            }
            t.elapsed() / iters as u32
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

struct Row {
    name: &'static str,
    per_round: Duration,
}

fn report(title: &str, messages: &[Vec<u8>], rows: &[Row]) {
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let n = messages.len() as f64;
    let find = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.per_round.as_secs_f64())
    };
    let (floor_t, er7_t) = (find("floor: memchr offsets"), find("er7: parse"));
    println!("\n{title}: {} message(s), {} bytes", messages.len(), bytes);
    println!(
        "{:<34} {:>12} {:>10} {:>11} {:>9}",
        "operation", "msg/s", "MB/s", "vs floor", "vs er7"
    );
    for r in rows {
        let t = r.per_round.as_secs_f64();
        let ratio = |base: Option<f64>| base.map(|b| format!("{:.2}x", b / t)).unwrap_or_default();
        println!(
            "{:<34} {:>12.0} {:>10.1} {:>11} {:>9}",
            r.name,
            n / t,
            bytes as f64 / t / 1e6,
            ratio(floor_t),
            ratio(er7_t)
        );
    }
}

const ADT_FIELDS: [&str; 10] = [
    "MSH-9.1", "MSH-10", "PID-3.1", "PID-5.1", "PID-5.2", "PID-7", "PID-8", "PV1-2", "PV1-3.1",
    "PID-11.5",
];
const ORU_FIELDS: [&str; 10] = [
    "MSH-9.1", "MSH-10", "PID-3.1", "PID-5.1", "OBR-2.1", "OBR-4.1", "OBX-3.1", "OBX-5",
    "OBX[2]-5", "OBR-25",
];

fn run(title: &str, messages: &[Vec<u8>], fields: &[&str]) {
    let paths: Vec<Path> = fields
        .iter()
        .map(|p| Path::parse(p).expect("bench path"))
        .collect();
    let texts: Vec<String> = messages
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    for m in messages {
        Message::parse(m).expect("bench messages parse");
    }
    let mut rows = vec![];
    rows.push(Row {
        name: "floor: memchr offsets",
        per_round: measure(messages, |m| drop(black_box(floor(black_box(m))))),
    });
    let mut i = 0;
    rows.push(Row {
        name: "er7: parse",
        per_round: measure(messages, |_| {
            let t = &texts[i % texts.len()];
            i += 1;
            drop(black_box(er7::parse(black_box(t))));
        }),
    });
    let mut j = 0;
    rows.push(Row {
        name: "er7: parse + read ten fields",
        per_round: measure(messages, |_| {
            let t = &texts[j % texts.len()];
            j += 1;
            if let Ok(msg) = er7::parse(black_box(t)) {
                for f in fields {
                    drop(black_box(msg.query(f)));
                }
            }
        }),
    });
    rows.push(Row {
        name: "accord: parse + index",
        per_round: measure(messages, |m| drop(black_box(Message::parse(black_box(m))))),
    });
    rows.push(Row {
        name: "accord: parse + read ten fields",
        per_round: measure(messages, |m| {
            if let Ok(msg) = Message::parse(black_box(m)) {
                for p in &paths {
                    if let Ok(Some(v)) = msg.get(p) {
                        drop(black_box(v.text()));
                    }
                }
            }
        }),
    });
    let parsed: Vec<Message> = messages
        .iter()
        .map(|m| Message::parse(m).expect("parses"))
        .collect();
    let mut k = 0;
    rows.push(Row {
        name: "accord: serialise (builder)",
        per_round: measure(messages, |_| {
            let m = &parsed[k % parsed.len()];
            k += 1;
            drop(black_box(
                MessageBuilder::from_message(black_box(m)).serialize(),
            ));
        }),
    });
    let mut l = 0;
    rows.push(Row {
        name: "accord: build an ACK",
        per_round: measure(messages, |_| {
            let m = &parsed[l % parsed.len()];
            l += 1;
            let opts = AckOptions {
                code: AckCode::AA,
                text: None,
                errors: vec![],
                control_id: "ACK1",
                timestamp: "20260101120000",
            };
            drop(black_box(build_ack(black_box(m), &opts)));
        }),
    });
    let mut v = 0;
    rows.push(Row {
        name: "accord: validate (dictionary)",
        per_round: measure(messages, |_| {
            let m = &parsed[v % parsed.len()];
            v += 1;
            let version = m.version().unwrap_or("2.5");
            if let Some(d) = accord_hl7::dict::dictionary(version) {
                drop(black_box(accord_hl7::validate::validate(
                    black_box(m),
                    d,
                    None,
                )));
            }
        }),
    });
    report(title, messages, &rows);
}

fn main() {
    let dir = corpus_dir();
    let adt =
        std::fs::read(dir.join("bench/adt_a01_1764b.hl7")).expect("tests/corpus in the repository");
    let oru = std::fs::read(dir.join("hl7v2/fhir-converter/ORU-R01-01.hl7")).expect("corpus ORU");
    let mut corpus = vec![];
    let mut names: Vec<_> = std::fs::read_dir(dir.join("hl7v2/fhir-converter"))
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "hl7"))
        .collect();
    names.sort();
    for n in names {
        let bytes = std::fs::read(n).expect("read");
        // er7 and the comparison want the message without a byte-order mark.
        corpus.push(
            bytes
                .strip_prefix(&[0xEF, 0xBB, 0xBF][..])
                .map(<[u8]>::to_vec)
                .unwrap_or(bytes),
        );
    }
    println!("HL7 v2 engine, one core; each figure the median of 7 samples of at least 250 ms");
    run(
        "ADT^A01 (tests/corpus/bench/adt_a01_1764b.hl7)",
        &[adt],
        &ADT_FIELDS,
    );
    run("ORU^R01 (corpus ORU-R01-01.hl7)", &[oru], &ORU_FIELDS);
    run("whole corpus", &corpus, &ADT_FIELDS);
}
