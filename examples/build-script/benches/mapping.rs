//! Generated mappings against hand-written Rust doing the same work, in the same run (a
//! bench binary, not a timed test): an ADT^A01 is parsed, mapped to the canonical Patient
//! (`adt_to_patient`: identifier by type, name, birth date, sex through a code map) and the
//! Patient written as the lab's HL7 v2 message (`patient_to_lab`). The reference uses the
//! same runtime (zero-copy message, builder) the way a careful engineer would by hand.
//! Target: the generated pipeline at least 0.9x the hand-written speed.
//!
//! Run: `cargo bench -p accord-example-build-script --bench mapping`

mod common;

use accord_example_build_script::estate;
use accord_runtime::hl7::builder::MessageBuilder;
use accord_runtime::hl7::{Message, Path};
use common::{compare, measure};
use std::hint::black_box;
use std::time::Duration;

const ADT: &[u8] = b"MSH|^~\\&|PAS|LOTHIAN|HUB|LOTHIAN|20261102101500||ADT^A01^ADT_A01|MSG00001|P|2.5.1\r\
EVN|A01|20261102101500\r\
PID|1||9434765919^^^NHS^NH~100001^^^TRAK^MR||EVERYWOMAN^EVE^JANE||19800314|F|||12 Example Street^^Edinburgh^^EH1 1AA^GBR\r\
PV1|1|I|WARD1^BED2^^LOTHIAN||||C123^CONSULTANT^CARL\r";

/// The hand-written reference: the same reads, checks and writes.
struct Patient {
    mrn: String,
    family_name: String,
    given_name: Option<String>,
    birth_date: Option<(u16, u8, u8)>,
    male: bool,
    recorded_at: Option<String>,
    patient_class: Option<String>,
}

struct Paths {
    msh9_1: Path,
    msh9_2: Path,
    msh12: Path,
    pid3_1: Path,
    pid3_5: Path,
    pid5_1: Path,
    pid5_2: Path,
    pid7: Path,
    pid8: Path,
    evn2: Path,
    pv1_2: Path,
}

fn paths() -> Paths {
    let p = |s: &str| Path::parse(s).unwrap();
    Paths {
        msh9_1: p("MSH-9.1"),
        msh9_2: p("MSH-9.2"),
        msh12: p("MSH-12"),
        pid3_1: p("PID-3.1"),
        pid3_5: p("PID-3.5"),
        pid5_1: p("PID-5.1"),
        pid5_2: p("PID-5.2"),
        pid7: p("PID-7"),
        pid8: p("PID-8"),
        evn2: p("EVN-2"),
        pv1_2: p("PV1-2"),
    }
}

fn hand_in(msg: &Message) -> Result<Patient, String> {
    let pid = msg.segment("PID", 1).ok_or("no PID")?;
    let ids = pid.field(3).ok_or("no PID-3")?;
    let mrn = ids
        .repetitions()
        .find(|r| r.component(5).is_some_and(|c| c.raw() == b"MR"))
        .and_then(|r| r.component(1))
        .ok_or("no MR")?
        .text()
        .map_err(|e| e.to_string())?
        .into_owned();
    let name = pid.field(5).ok_or("no PID-5")?;
    let family_name = name
        .component(1)
        .ok_or("no family name")?
        .text()
        .map_err(|e| e.to_string())?
        .into_owned();
    let given_name = name
        .component(2)
        .filter(|v| !v.is_empty())
        .and_then(|v| v.text().ok())
        .map(|t| t.into_owned());
    let birth_date = pid.field(7).filter(|v| !v.is_empty()).and_then(|v| {
        let r = v.raw();
        if r.len() < 8 {
            return None;
        }
        let n = |a: usize, b: usize| std::str::from_utf8(&r[a..b]).ok()?.parse::<u16>().ok();
        let (y, m, d) = (n(0, 4)?, n(4, 6)? as u8, n(6, 8)? as u8);
        ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
    });
    let male = match pid.field(8).map(|v| v.raw()) {
        Some(b"M") => true,
        Some(b"F") => false,
        _ => return Err("unknown sex code".into()),
    };
    let text = |seg: &str, field: usize| {
        msg.segment(seg, 1)
            .and_then(|s| s.field(field))
            .filter(|v| !v.is_empty())
            .and_then(|v| v.text().ok())
            .map(|t| t.into_owned())
    };
    Ok(Patient {
        mrn,
        family_name,
        given_name,
        birth_date,
        male,
        recorded_at: text("EVN", 2),
        patient_class: text("PV1", 2),
    })
}

fn hand_out(p: &Patient, paths: &Paths) -> Vec<u8> {
    let mut b = MessageBuilder::new(Default::default());
    let _ = b.set(&paths.msh9_1, "ADT");
    let _ = b.set(&paths.msh9_2, "A01");
    let _ = b.set(&paths.msh12, "2.5.1");
    // Segments in the structure's order, as the generated mapping writes them.
    if let Some(t) = &p.recorded_at {
        let _ = b.set(&paths.evn2, t);
    }
    let _ = b.set(&paths.pid3_1, &p.mrn);
    let _ = b.set(&paths.pid3_5, "MR");
    let _ = b.set(&paths.pid5_1, &p.family_name);
    if let Some(g) = &p.given_name {
        let _ = b.set(&paths.pid5_2, g);
    }
    if let Some((y, m, d)) = p.birth_date {
        let _ = b.set(&paths.pid7, &format!("{y:04}{m:02}{d:02}"));
    }
    let _ = b.set(&paths.pid8, if p.male { "M" } else { "F" });
    if let Some(c) = &p.patient_class {
        let _ = b.set(&paths.pv1_2, c);
    }
    b.serialize()
}

fn generated(bytes: &[u8]) -> Vec<u8> {
    let msg = Message::parse(bytes).unwrap();
    let p = estate::adt_to_patient(&msg).unwrap();
    estate::patient_to_lab(&p).unwrap()
}

fn hand(bytes: &[u8], paths: &Paths) -> Vec<u8> {
    let msg = Message::parse(bytes).unwrap();
    let p = hand_in(&msg).unwrap();
    hand_out(&p, paths)
}

fn main() {
    let paths = paths();
    // Same output, or the comparison means nothing.
    let (g, h) = (generated(ADT), hand(ADT, &paths));
    assert_eq!(String::from_utf8_lossy(&g), String::from_utf8_lossy(&h));
    let (hand_t, gen_t, ratio) = compare(
        || hand(black_box(ADT), &paths),
        || generated(black_box(ADT)),
    );
    let per_s = |d: Duration| 1.0 / d.as_secs_f64();
    let msg = Message::parse(ADT).unwrap();
    let gen_p = estate::adt_to_patient(&msg).unwrap();
    let hand_p = hand_in(&msg).unwrap();
    let in_hand = measure(|| {
        black_box(hand_in(black_box(&msg)).ok());
        vec![]
    });
    let in_gen = measure(|| {
        black_box(estate::adt_to_patient(black_box(&msg)).ok());
        vec![]
    });
    let out_hand = measure(|| hand_out(black_box(&hand_p), &paths));
    let out_gen = measure(|| estate::patient_to_lab(black_box(&gen_p)).unwrap());
    println!("  in  (message -> Patient): hand {in_hand:?}, generated {in_gen:?}");
    println!("  out (Patient -> message): hand {out_hand:?}, generated {out_gen:?}");
    println!("ADT^A01 -> Patient -> HL7 v2 (parse, map, build, serialise), one core:");
    println!(
        "  hand-written   {:>10.0} msg/s  ({:?}/msg)",
        per_s(hand_t),
        hand_t
    );
    println!(
        "  generated      {:>10.0} msg/s  ({:?}/msg)",
        per_s(gen_t),
        gen_t
    );
    println!(
        "  generated / hand-written: {ratio:.2}x, the median of 15 alternating rounds (target >= 0.90x)"
    );
}
