//! Focused behaviour of the HL7 v2 parser and serialiser: delimiters, terminators,
//! batches, the null value, character sets, round trips, and malformed input (which must
//! give an error with a location, never a panic).

mod common;

use accord_hl7::batch::Batch;
use accord_hl7::builder::MessageBuilder;
use accord_hl7::{Charset, ErrorKind, Message, Path};
use proptest::prelude::*;

fn get(m: &Message, path: &str) -> Option<String> {
    m.get_text(path).unwrap()
}

#[test]
fn paths_read_fields_repetitions_components_and_subcomponents() {
    let text = "MSH|^~\\&|TRAK|LOTH|LAB|WP|20260101||ADT^A01^ADT_A01|42|P|2.4\rPID|1||100^^^T^MR~9434765919^^^NHS^NH||DOE^JOHN^Q&R||19800101|F\rOBX|1|NM|HB||135\rOBX|2|NM|K||6.1\r";
    let m = Message::parse(text.as_bytes()).unwrap();
    assert_eq!(get(&m, "MSH-1").as_deref(), Some("|"));
    assert_eq!(get(&m, "MSH-2").as_deref(), Some("^~\\&"));
    assert_eq!(get(&m, "MSH-9.2").as_deref(), Some("A01"));
    assert_eq!(
        get(&m, "PID-3").as_deref(),
        Some("100^^^T^MR"),
        "repetition defaults to 1"
    );
    assert_eq!(get(&m, "PID-3[2].1").as_deref(), Some("9434765919"));
    assert_eq!(
        get(&m, "PID-3[where 5 = \"NH\"].1").as_deref(),
        Some("9434765919")
    );
    assert_eq!(get(&m, "PID-5.3.2").as_deref(), Some("R"));
    assert_eq!(get(&m, "OBX[2]-5").as_deref(), Some("6.1"));
    assert_eq!(get(&m, "PID-3[3].1"), None, "absent repetition");
    assert_eq!(get(&m, "PID-30"), None, "absent field");
    assert_eq!(get(&m, "PV1-2"), None, "absent segment");
    assert_eq!(get(&m, "PID-2").as_deref(), Some(""), "present but empty");
    let all = m.get_all(&Path::parse("PID-3[*].5").unwrap()).unwrap();
    assert_eq!(
        all.iter()
            .map(|v| v.text().unwrap().into_owned())
            .collect::<Vec<_>>(),
        ["MR", "NH"]
    );
    assert_eq!(m.version(), Some("2.4"));
    assert_eq!(m.control_id(), Some("42"));
    assert_eq!(
        m.message_type(),
        (Some("ADT"), Some("A01"), Some("ADT_A01"))
    );
}

#[test]
fn any_legal_delimiters() {
    let text = "MSH#$*!@#SEND#F#RECV#F#20260101##ADT$A01#1#P#2.5\rPID#1##123$$$H$MR*456#!F!x!S!y\r";
    let m = Message::parse(text.as_bytes()).unwrap();
    assert_eq!(get(&m, "MSH-2").as_deref(), Some("$*!@"));
    assert_eq!(get(&m, "PID-3[2]").as_deref(), Some("456"));
    assert_eq!(get(&m, "PID-3.5").as_deref(), Some("MR"));
    assert_eq!(get(&m, "PID-4").as_deref(), Some("#x$y"));
}

#[test]
fn cr_lf_and_crlf_terminators() {
    let base = [
        "MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.4",
        "EVN|A01",
        "PID|1||123",
    ];
    for sep in ["\r", "\n", "\r\n", "\n\n"] {
        let text = base.join(sep) + sep;
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.segment_count(), 3, "{sep:?}");
        assert_eq!(get(&m, "PID-3").as_deref(), Some("123"));
        assert_eq!(m.to_normalized(), (base.join("\r") + "\r").into_bytes());
    }
}

#[test]
fn null_is_not_empty() {
    let m =
        Message::parse(b"MSH|^~\\&|A|B|C|D|2026||ADT^A08|1|P|2.4\rPID|1||123||\"\"||\r").unwrap();
    let null = m.get(&Path::parse("PID-5").unwrap()).unwrap().unwrap();
    let empty = m.get(&Path::parse("PID-6").unwrap()).unwrap().unwrap();
    assert!(null.is_null() && !null.is_empty());
    assert!(empty.is_empty() && !empty.is_null());
}

#[test]
fn character_sets_from_msh_18() {
    let latin1: Vec<u8> = [
        b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5|||||GBR|8859/1\rPID|1||1||M\xdcLLER^J\xd6RG\r"
            .as_slice(),
    ]
    .concat();
    let m = Message::parse(&latin1).unwrap();
    assert_eq!(m.charset(), Charset::Latin1);
    assert_eq!(get(&m, "PID-5.1").as_deref(), Some("MÜLLER"));
    let utf8 =
        "MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5|||||GBR|UNICODE UTF-8\rPID|1||1||MÜLLER^JÖRG\r";
    let m = Message::parse(utf8.as_bytes()).unwrap();
    assert_eq!(m.charset(), Charset::Utf8);
    assert_eq!(get(&m, "PID-5.2").as_deref(), Some("JÖRG"));
    let ascii_with_bad_byte = b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5\rPID|1||1||M\xdcLLER\r";
    let m = Message::parse(ascii_with_bad_byte).unwrap();
    let e = m.get_text("PID-5.1").unwrap_err();
    assert!(matches!(e.kind, ErrorKind::InvalidText(_)));
    assert_eq!(
        e.offset,
        ascii_with_bad_byte.iter().position(|&b| b == 0xdc).unwrap()
    );
}

#[test]
fn batches_with_headers_and_plain_concatenations() {
    let text = "FHS|^~\\&|TRAK|L|LAB|W|20260101\rBHS|^~\\&|TRAK|L|LAB|W|20260101\rMSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.4\rPID|1||1\rMSH|^~\\&|A|B|C|D|2026||ADT^A08|2|P|2.4\rPID|1||2\rBTS|2\rFTS|1\r";
    let b = Batch::parse(text.as_bytes()).unwrap();
    assert!(b.file_header.is_some() && b.file_trailer.is_some());
    assert_eq!(b.batch_headers.len(), 1);
    assert_eq!(b.messages.len(), 2);
    assert_eq!(b.declared_counts, vec![Some(2)]);
    assert!(!b.count_mismatch());
    assert_eq!(b.messages[1].control_id(), Some("2"));
    let plain = "MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.4\nPID|1||1\nMSH|^~\\&|A|B|C|D|2026||ADT^A08|2|P|2.4\nPID|1||2\n";
    assert_eq!(Batch::parse(plain.as_bytes()).unwrap().messages.len(), 2);
    let short = text.replace("BTS|2", "BTS|3");
    assert!(Batch::parse(short.as_bytes()).unwrap().count_mismatch());
}

/// Input, the expected kind of error, and its byte offset.
type MalformedCase = (&'static [u8], fn(&ErrorKind) -> bool, usize);

#[test]
fn malformed_input_gives_errors_with_locations() {
    let cases: Vec<MalformedCase> = vec![
        (b"", |k| *k == ErrorKind::Empty, 0),
        (b"\r\n  \n", |k| *k == ErrorKind::Empty, 0),
        (b"PID|1||123\r", |k| matches!(k, ErrorKind::NoHeader(_)), 0),
        (b"MSH", |k| *k == ErrorKind::TruncatedHeader, 3),
        (b"MSH|^~", |k| *k == ErrorKind::TruncatedHeader, 6),
        (
            b"MSH|^^\\&|A\r",
            |k| matches!(k, ErrorKind::BadEncodingCharacters(_)),
            5,
        ),
        (
            b"MSH|^~\\&|A|B\rPID|1\x00|2\r",
            |k| *k == ErrorKind::Binary(0),
            18,
        ),
        (
            b"MSH|^~\\&|A|B\r\x0bPID|1\r",
            |k| *k == ErrorKind::Binary(0x0b),
            13,
        ),
        (
            b"MSH|^~\\&|A|B\rpid|1\r",
            |k| matches!(k, ErrorKind::BadSegmentId(_)),
            13,
        ),
        (
            b"MSH|^~\\&|A|B\rPIDX|1\r",
            |k| matches!(k, ErrorKind::BadSegmentId(_)),
            13,
        ),
    ];
    for (input, kind, offset) in cases {
        let e = Message::parse(input).unwrap_err();
        assert!(kind(&e.kind), "{:?}: {e:?}", String::from_utf8_lossy(input));
        assert_eq!(
            e.offset,
            offset,
            "{:?}: {e}",
            String::from_utf8_lossy(input)
        );
        assert!(!e.hint().is_empty());
    }
    let e = Message::parse(b"MSH|^~\\&|A|B\rPIDX|1\r").unwrap_err();
    assert_eq!(
        e.segment.as_ref().map(|s| s.0),
        Some(1),
        "segment index in the error"
    );
    let m = Message::parse(b"MSH|^~\\&|A|B\rNTE|1||unterminated \\F escape\r").unwrap();
    let e = m.get_text("NTE-3").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnterminatedEscape);
    assert_eq!(e.offset, 33);
}

#[test]
fn huge_fields_parse_without_trouble() {
    let big = "X".repeat(8 << 20);
    let text =
        format!("MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5\rOBX|1|ED|PDF||^AP^PDF^Base64^{big}\r");
    let m = Message::parse(text.as_bytes()).unwrap();
    assert_eq!(
        m.get_text("OBX-5.5").unwrap().map(|s| s.len()),
        Some(8 << 20)
    );
}

#[test]
fn every_corpus_message_round_trips_through_the_builder() {
    for f in common::corpus_files() {
        let bytes = std::fs::read(&f).unwrap();
        let m = Message::parse(&bytes).unwrap();
        let rebuilt = MessageBuilder::from_message(&m).serialize();
        assert_eq!(
            rebuilt.as_slice(),
            m.to_normalized().as_slice(),
            "{}",
            f.display()
        );
        // Every value of the corpus unescapes (or fails with a location, never a panic).
        for s in m.segments() {
            for n in 1..=s.field_count() {
                if let Some(v) = s.field(n) {
                    let _ = v.text();
                }
            }
        }
    }
}

/// Text for a generated value: any characters, delimiters and line breaks included.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 .,'-]{0,12}",
        prop::collection::vec(
            prop::sample::select(vec![
                '|', '^', '~', '\\', '&', '\n', 'a', 'Z', '0', ' ', 'é', '"'
            ]),
            0..10
        )
        .prop_map(|cs| cs.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever values are set, serialising and parsing gives them back.
    #[test]
    fn built_messages_round_trip(values in prop::collection::vec((prop::sample::select(vec!["PID", "PV1", "OBX", "ZPI"]), 1usize..12, 1usize..3, 1usize..4, value()), 1..20)) {
        let mut b = MessageBuilder::new(Default::default());
        b.set(&Path::parse("MSH-9.1").unwrap(), "ADT").unwrap();
        let mut expected = std::collections::BTreeMap::new();
        for (seg, field, rep, comp, text) in values {
            let path = Path::parse(&format!("{seg}-{field}[{rep}].{comp}")).unwrap();
            b.set(&path, &text).unwrap();
            expected.insert(path.to_string(), text);
        }
        let wire = b.serialize();
        let m = Message::parse(&wire).unwrap();
        for (path, text) in expected {
            let got = m.get_text(&path).unwrap();
            prop_assert_eq!(got.as_deref(), Some(text.as_str()), "{} in {:?}", path, wire);
        }
        prop_assert_eq!(MessageBuilder::from_message(&m).serialize(), wire);
    }

    /// No input makes the parser or a value read panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut input = b"MSH|^~\\&|".to_vec();
        input.extend(bytes);
        if let Ok(m) = Message::parse(&input) {
            for s in m.segments() {
                for n in 1..=s.field_count() {
                    if let Some(v) = s.field(n) {
                        for r in v.repetitions() {
                            for c in r.components() {
                                let _ = c.text();
                            }
                        }
                    }
                }
            }
        }
        let _ = Batch::parse(&input);
    }
}

#[test]
fn split_per_cuts_a_message_before_each_occurrence_and_repeats_the_header() {
    let orm = "MSH|^~\\&|T|L|H|L|20261102120000||ORM^O01|M1|P|2.4\rPID|1||100001^^^TRAK^MR\rORC|NW|G1\rOBR|1|O1||FBC\rNTE|1||fasting\rOBR|2|O2||U&E\rOBR|3|O3||LFT\rZDS|x";
    let m = Message::parse(orm.as_bytes()).unwrap();
    let parts: Vec<String> = m
        .split_per("OBR")
        .into_iter()
        .map(|p| String::from_utf8(p).unwrap())
        .collect();
    let head =
        "MSH|^~\\&|T|L|H|L|20261102120000||ORM^O01|M1|P|2.4\rPID|1||100001^^^TRAK^MR\rORC|NW|G1\r";
    assert_eq!(
        parts,
        [
            format!("{head}OBR|1|O1||FBC\rNTE|1||fasting\r"),
            format!("{head}OBR|2|O2||U&E\r"),
            format!("{head}OBR|3|O3||LFT\rZDS|x\r"),
        ]
    );
    for p in &parts {
        Message::parse(p.as_bytes()).expect("each part is a message");
    }
    // One occurrence, or none: the message itself.
    assert_eq!(m.split_per("ORC"), [orm.as_bytes().to_vec()]);
    assert_eq!(m.split_per("OBX"), [orm.as_bytes().to_vec()]);
}
