//! How the message viewer shows a stored HL7 v2 message: each segment with its name and
//! each field with its position, its name from the HL7 v2 dictionary of the message's
//! version, its raw text and its value with escapes decoded. Fields that identify or
//! describe a patient are masked for an operator who is not granted them.

use accord_hl7::dict;
use accord_hl7::Message;
use serde::Serialize;

/// A segment as the viewer shows it.
#[derive(Debug, Serialize)]
pub struct SegmentView {
    pub id: String,
    pub fields: Vec<FieldView>,
}

/// A field as the viewer shows it.
#[derive(Debug, Serialize)]
pub struct FieldView {
    /// `PID-5`.
    pub path: String,
    /// `Patient Name`, when the dictionary knows it.
    pub name: Option<String>,
    pub raw: String,
    /// The value with escapes decoded, when it differs from the raw text.
    pub decoded: Option<String>,
    pub masked: bool,
}

/// The segments holding a patient's identity, demographics, next of kin, guarantor and
/// insurance: all their fields are masked for an operator not granted patient data.
const PATIENT_SEGMENTS: &[&str] = &["PID", "PD1", "NK1", "GT1", "IN1", "IN2", "IN3", "MRG"];

/// Whether segment `id` holds a patient's identity or demographics.
pub fn is_patient_segment(id: &str) -> bool {
    PATIENT_SEGMENTS.contains(&id)
}

/// What masked text reads as.
pub const MASK: &str = "••••";

/// The segments and fields of `payload`; `None` when it is not HL7 v2.
pub fn hl7(payload: &[u8], phi: bool) -> Option<Vec<SegmentView>> {
    let msg = Message::parse(payload).ok()?;
    let dictionary = msg
        .version()
        .and_then(dict::dictionary)
        .or_else(|| dict::versions().last().and_then(dict::dictionary));
    let mut out = vec![];
    for seg in msg.segments() {
        let id = seg.id();
        let masked = !phi && PATIENT_SEGMENTS.contains(&id);
        let mut fields = vec![];
        for n in 1..=seg.field_count() {
            let Some(v) = seg.field(n) else { continue };
            if v.is_empty() {
                continue;
            }
            let raw = String::from_utf8_lossy(v.raw()).into_owned();
            let decoded = v.text().ok().map(|t| t.into_owned()).filter(|t| *t != raw);
            let name = dictionary
                .and_then(|d| d.field(id, n))
                .map(|f| f.name.to_string());
            fields.push(FieldView {
                path: format!("{id}-{n}"),
                name,
                raw: if masked { MASK.into() } else { raw },
                decoded: if masked { None } else { decoded },
                masked,
            });
        }
        out.push(SegmentView {
            id: id.to_string(),
            fields,
        });
    }
    Some(out)
}

/// `payload` as text for the raw view, segments on lines of their own; with patient
/// segments masked when `phi` is not granted.
pub fn raw(payload: &[u8], phi: bool) -> String {
    let text = String::from_utf8_lossy(payload);
    text.split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .map(|line| {
            let id = line.get(..3).unwrap_or(line);
            if !phi && PATIENT_SEGMENTS.contains(&id) {
                format!("{id}|{MASK}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `payload` is JSON (a FHIR resource, a canonical record) rather than HL7 v2.
pub fn is_json(payload: &[u8]) -> bool {
    matches!(
        payload.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// `payload` as the side-by-side view shows it: HL7 v2 a segment a line with patient
/// segments masked unless `phi`; JSON pretty-printed, or masked whole unless `phi` (a
/// record or a FHIR resource is the patient's throughout).
pub fn text(payload: &[u8], phi: bool) -> String {
    if !is_json(payload) {
        return raw(payload, phi);
    }
    if !phi {
        return MASK.into();
    }
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned())
}

/// A patient identifier as a list shows it.
pub fn patient(id: Option<&str>, phi: bool) -> String {
    match id {
        None => String::new(),
        Some(_) if !phi => MASK.into(),
        Some(p) => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &[u8] = b"MSH|^~\\&|TRAK|RIE|WINPATH|LAB|202612070930||ADT^A01|C1|P|2.5\rPID|1||MR123^^^RIE^MR||DOE^JANE\\T\\CO||19800101|F\rPV1|1|I|WARD1\r";

    #[test]
    fn console_viewer_names_fields_decodes_escapes_and_masks_the_patient() {
        let shown = hl7(ADT, true).unwrap();
        let pid = shown.iter().find(|s| s.id == "PID").unwrap();
        let name = pid.fields.iter().find(|f| f.path == "PID-5").unwrap();
        assert_eq!(name.name.as_deref(), Some("Patient Name"));
        assert_eq!(name.raw, "DOE^JANE\\T\\CO");
        assert_eq!(name.decoded.as_deref(), Some("DOE^JANE&CO"));
        let masked = hl7(ADT, false).unwrap();
        let pid = masked.iter().find(|s| s.id == "PID").unwrap();
        assert!(pid.fields.iter().all(|f| f.masked && f.raw == MASK));
        let pv1 = masked.iter().find(|s| s.id == "PV1").unwrap();
        assert!(pv1.fields.iter().all(|f| !f.masked));
        assert!(!raw(ADT, false).contains("DOE"));
        assert!(raw(ADT, true).contains("DOE^JANE"));
        assert!(hl7(b"not hl7", true).is_none());
        let record = br#" {"patient": {"family": "DOE"}}"#;
        assert!(is_json(record) && !is_json(ADT));
        assert_eq!(text(record, false), MASK, "a record is masked whole");
        assert!(text(record, true).contains("\"family\": \"DOE\""));
        assert!(!text(ADT, false).contains("DOE") && text(ADT, true).contains("DOE"));
    }
}
