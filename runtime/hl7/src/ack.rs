//! ACK and NACK. Original mode (AA/AE/AR) and enhanced mode (commit CA/CE/CR, then an
//! application ACK), chosen by MSH-15/MSH-16. The ACK's MSH swaps sender and receiver,
//! keeps the original's delimiters, processing id and version; MSA-2 echoes MSH-10; ERR
//! segments carry location, HL7 table 0357 code and severity in the v2.5+ layout, or the
//! ERR-1 layout for 2.3 and 2.4.

use super::escape::escape;
use super::message::Message;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    AA,
    AE,
    AR,
    CA,
    CE,
    CR,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
            AckCode::CA => "CA",
            AckCode::CE => "CE",
            AckCode::CR => "CR",
        }
    }

    pub fn parse(s: &str) -> Option<AckCode> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "AA" => AckCode::AA,
            "AE" => AckCode::AE,
            "AR" => AckCode::AR,
            "CA" => AckCode::CA,
            "CE" => AckCode::CE,
            "CR" => AckCode::CR,
            _ => return None,
        })
    }

    /// A commit (accept) acknowledgement of enhanced mode.
    pub fn is_commit(self) -> bool {
        matches!(self, AckCode::CA | AckCode::CE | AckCode::CR)
    }

    pub fn is_positive(self) -> bool {
        matches!(self, AckCode::AA | AckCode::CA)
    }
}

impl fmt::Display for AckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// MSH-15 / MSH-16 values (HL7 table 0155).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCondition {
    Always,
    Never,
    ErrorOnly,
    SuccessOnly,
}

impl AckCondition {
    fn parse(s: Option<&str>) -> AckCondition {
        match s.map(str::trim) {
            Some("NE") => AckCondition::Never,
            Some("ER") => AckCondition::ErrorOnly,
            Some("SU") => AckCondition::SuccessOnly,
            _ => AckCondition::Always,
        }
    }

    /// Should an acknowledgement be sent for this outcome?
    pub fn wants(self, success: bool) -> bool {
        match self {
            AckCondition::Always => true,
            AckCondition::Never => false,
            AckCondition::ErrorOnly => !success,
            AckCondition::SuccessOnly => success,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// MSH-15 and MSH-16 empty: one ACK, AA/AE/AR.
    Original,
    /// A commit ACK per MSH-15, then an application ACK per MSH-16.
    Enhanced {
        accept: AckCondition,
        application: AckCondition,
    },
}

impl AckMode {
    pub fn of(msg: &Message) -> AckMode {
        let (accept, application) = (msg.header_component(15, 1), msg.header_component(16, 1));
        if accept.is_none() && application.is_none() {
            return AckMode::Original;
        }
        AckMode::Enhanced {
            accept: AckCondition::parse(accept),
            application: AckCondition::parse(application),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Information,
    Fatal,
}

impl Severity {
    fn code(self) -> &'static str {
        match self {
            Severity::Error => "E",
            Severity::Warning => "W",
            Severity::Information => "I",
            Severity::Fatal => "F",
        }
    }
}

/// Where an error is: segment id and occurrence, then field, repetition, component,
/// subcomponent as far as known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrLocation {
    pub segment: String,
    pub sequence: usize,
    pub field: Option<usize>,
    pub repetition: Option<usize>,
    pub component: Option<usize>,
    pub subcomponent: Option<usize>,
}

impl ErrLocation {
    /// The location of a value read at the message path `path` (`PID-3[2].1`): its
    /// segment and occurrence, field, repetition when the path names one by number, and
    /// component and subcomponent. `None` for a path that does not parse.
    pub fn of_path(path: &str) -> Option<ErrLocation> {
        let p = super::path::Path::parse(path).ok()?;
        Some(ErrLocation {
            segment: p.segment,
            sequence: p.occurrence.unwrap_or(1),
            field: Some(p.field),
            repetition: match p.repetition {
                Some(super::path::Repetition::Index(i)) => Some(i),
                _ => None,
            },
            component: p.component,
            subcomponent: p.subcomponent,
        })
    }
}

/// One ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrDetail {
    /// HL7 table 0357 code, e.g. 101 (required field missing).
    pub code: u16,
    pub severity: Severity,
    pub location: Option<ErrLocation>,
    /// What went wrong, for a person.
    pub message: String,
}

/// The text of an HL7 table 0357 (message error condition) code.
pub fn error_code_text(code: u16) -> &'static str {
    match code {
        0 => "Message accepted",
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        104 => "Value too long",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        202 => "Unsupported processing id",
        203 => "Unsupported version id",
        204 => "Unknown key identifier",
        205 => "Duplicate key identifier",
        206 => "Application record locked",
        207 => "Application internal error",
        _ => "Error",
    }
}

/// What to put in the ACK besides the original's header.
#[derive(Debug, Clone)]
pub struct AckOptions<'t> {
    pub code: AckCode,
    /// MSA-3, the text message.
    pub text: Option<&'t str>,
    pub errors: Vec<ErrDetail>,
    /// MSH-10 of the ACK itself.
    pub control_id: &'t str,
    /// MSH-7, e.g. `20261122101500`.
    pub timestamp: &'t str,
}

fn version_at_least_25(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(2), parts.next().unwrap_or(0));
    major > 2 || (major == 2 && minor >= 5)
}

/// The acknowledgement of `original`, CR-terminated.
pub fn build_ack(original: &Message, opts: &AckOptions) -> String {
    let d = original.delimiters();
    let (f, c, s) = (d.field as char, d.component as char, d.subcomponent as char);
    let h = |n: usize| -> String {
        original
            .segment_at(0)
            .and_then(|m| m.field(n))
            .map(|v| String::from_utf8_lossy(v.raw()).into_owned())
            .unwrap_or_default()
    };
    let version_field = h(12);
    let version = original.version().unwrap_or("2.5").to_string();
    let trigger = original.message_type().1.unwrap_or("");
    let structure = if version == "2.3" || version.starts_with("2.2") || version.starts_with("2.1")
    {
        String::new()
    } else {
        format!("{c}ACK")
    };
    let esc = |t: &str| escape(t, &d).into_owned();
    let mut out = format!(
        "MSH{f}{}{f}{}{f}{}{f}{}{f}{}{f}{}{f}{f}ACK{c}{}{structure}{f}{}{f}{}{f}{}\r",
        d.encoding_characters(),
        h(5),
        h(6),
        h(3),
        h(4),
        esc(opts.timestamp),
        trigger,
        esc(opts.control_id),
        h(11),
        version_field,
    );
    out.push_str(&format!("MSA{f}{}{f}{}", opts.code, h(10)));
    if let Some(t) = opts.text {
        out.push_str(&format!("{f}{}", esc(t)));
    }
    out.push('\r');
    for e in &opts.errors {
        let loc = e.location.clone().unwrap_or_default();
        let opt = |n: Option<usize>| n.map(|v| v.to_string()).unwrap_or_default();
        let code_text = error_code_text(e.code);
        if version_at_least_25(&version) {
            let location = if e.location.is_some() {
                format!(
                    "{}{c}{}{c}{}{c}{}{c}{}{c}{}",
                    loc.segment,
                    loc.sequence.max(1),
                    opt(loc.field),
                    opt(loc.repetition),
                    opt(loc.component),
                    opt(loc.subcomponent)
                )
            } else {
                String::new()
            };
            out.push_str(&format!(
                "ERR{f}{f}{location}{f}{}{c}{code_text}{c}HL70357{f}{}{f}{f}{f}{f}{}\r",
                e.code,
                e.severity.code(),
                esc(&e.message)
            ));
        } else {
            out.push_str(&format!(
                "ERR{f}{}{c}{}{c}{}{c}{}{s}{}{s}HL70357\r",
                loc.segment,
                if e.location.is_some() {
                    loc.sequence.max(1).to_string()
                } else {
                    String::new()
                },
                opt(loc.field),
                e.code,
                esc(&format!("{code_text}: {}", e.message)).replace(s, "")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "MSH|^~\\&|TRAK|LOTH|LAB|WINPATH|20261102101500||ADT^A01^ADT_A01|MSG00001|P|2.5.1\rPID|1||100001^^^TRAK^MR\r";

    fn ack(code: AckCode, errors: Vec<ErrDetail>, original: &str) -> String {
        let m = Message::parse(original.as_bytes()).unwrap();
        build_ack(
            &m,
            &AckOptions {
                code,
                text: None,
                errors,
                control_id: "ACK001",
                timestamp: "20261102101501",
            },
        )
    }

    #[test]
    fn aa_swaps_sender_and_receiver_and_echoes_the_control_id() {
        let a = ack(AckCode::AA, vec![], ORIGINAL);
        assert_eq!(a, "MSH|^~\\&|LAB|WINPATH|TRAK|LOTH|20261102101501||ACK^A01^ACK|ACK001|P|2.5.1\rMSA|AA|MSG00001\r");
        let m = Message::parse(a.as_bytes()).unwrap();
        assert_eq!(m.get_text("MSA-2").unwrap().as_deref(), Some("MSG00001"));
    }

    #[test]
    fn err_segments_by_version() {
        let err = ErrDetail {
            code: 101,
            severity: Severity::Error,
            location: Some(ErrLocation {
                segment: "PID".into(),
                sequence: 1,
                field: Some(3),
                ..Default::default()
            }),
            message: "PID-3 is required".into(),
        };
        let a = ack(AckCode::AR, vec![err.clone()], ORIGINAL);
        assert!(
            a.contains(
                "\rERR||PID^1^3^^^|101^Required field missing^HL70357|E||||PID-3 is required\r"
            ),
            "{a}"
        );
        let old = ack(AckCode::AE, vec![err], &ORIGINAL.replace("2.5.1", "2.4"));
        assert!(
            old.contains("\rERR|PID^1^3^101&Required field missing: PID-3 is required&HL70357\r"),
            "{old}"
        );
    }

    #[test]
    fn enhanced_mode_comes_from_msh_15_and_16() {
        let orig = Message::parse(ORIGINAL.as_bytes()).unwrap();
        assert_eq!(AckMode::of(&orig), AckMode::Original);
        let enh_text = ORIGINAL.replace("|2.5.1", "|2.5.1|||AL|ER");
        let enh = Message::parse(enh_text.as_bytes()).unwrap();
        let AckMode::Enhanced {
            accept,
            application,
        } = AckMode::of(&enh)
        else {
            panic!("enhanced")
        };
        assert!(accept.wants(true) && accept.wants(false));
        assert!(!application.wants(true) && application.wants(false));
    }

    #[test]
    fn custom_delimiters_are_kept() {
        let a = ack(
            AckCode::CA,
            vec![],
            "MSH#$*!@#A#B#C#D#20260101##ADT$A08#1#P#2.4\r",
        );
        assert!(a.starts_with("MSH#$*!@#C#D#A#B#"), "{a}");
        assert!(a.contains("ACK$A08$ACK#"), "{a}");
        assert!(a.ends_with("MSA#CA#1\r"), "{a}");
    }
}
