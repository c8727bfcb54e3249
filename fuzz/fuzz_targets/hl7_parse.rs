//! Fuzz target: any bytes through the HL7 v2 parser, batch splitter, every value read,
//! paths, the builder round trip and the ACK builder; nothing panics, and a parsed
//! message rebuilt from its raw fields serialises to its normalised form.
#![no_main]

use accord_hl7::ack::{build_ack, AckCode, AckOptions};
use accord_hl7::batch::Batch;
use accord_hl7::builder::MessageBuilder;
use accord_hl7::{Message, Path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Batch::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Path::parse(text);
    }
    let Ok(m) = Message::parse(data) else { return };
    for s in m.segments() {
        for n in 1..=s.field_count() {
            if let Some(f) = s.field(n) {
                for r in f.repetitions() {
                    for c in r.components() {
                        for sc in c.subcomponents() {
                            let _ = sc.text();
                        }
                    }
                }
            }
        }
    }
    for p in ["PID-3[where 5 = \"MR\"].1", "MSH-9.2", "OBX[2]-5.1.1", "PID-3[*]"] {
        let _ = m.get_all(&Path::parse(p).expect("valid path"));
    }
    assert_eq!(MessageBuilder::from_message(&m).serialize(), m.to_normalized());
    let _ = build_ack(&m, &AckOptions { code: AckCode::AE, text: Some("x"), errors: vec![], control_id: "1", timestamp: "2026" });
});
