//! Validation of a message against the HL7 v2 dictionary (segment order and cardinality in
//! its message structure, required fields, repetitions) and against a conformance
//! [`Profile`] (usage, cardinality, length, local Z-segments). Each [`Problem`] has its
//! byte offset, an HL7 table 0357 error code and a location, so the same result serves
//! `accord hl7 validate` (printed with line and column) and the engine (ERR segments of a
//! NACK).

use super::ack::{ErrDetail, ErrLocation, Severity};
use super::dict::{Dictionary, Element};
use super::{Message, Path, Value};
use crate::profile::{Profile, ProfileRule};

/// One thing wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the message where the problem is.
    pub offset: usize,
    pub what: String,
    /// Warnings are reported but do not reject the message.
    pub warning: bool,
    /// HL7 table 0357: 100 segment sequence, 101 required field missing, 102 data type
    /// (cardinality), 104 value too long, 200 unsupported message type.
    pub code: u16,
    pub location: Option<ErrLocation>,
}

impl Problem {
    /// The problem as an ERR segment's content.
    pub fn err_detail(&self) -> ErrDetail {
        ErrDetail {
            code: self.code,
            severity: if self.warning {
                Severity::Warning
            } else {
                Severity::Error
            },
            location: self.location.clone(),
            message: self.what.clone(),
        }
    }
}

/// Everything wrong with `m` under dictionary `d` and, if given, `profile`.
pub fn validate(m: &Message, d: &Dictionary, profile: Option<&Profile>) -> Vec<Problem> {
    let mut out = vec![];
    check_dictionary(m, d, profile, &mut out);
    if let Some(p) = profile {
        check_profile(m, p, &mut out);
    }
    out
}

fn check_dictionary(
    m: &Message,
    d: &Dictionary,
    profile: Option<&Profile>,
    out: &mut Vec<Problem>,
) {
    let (code, trigger, structure) = m.message_type();
    let mt = [code, trigger, structure]
        .iter()
        .map(|p| p.unwrap_or(""))
        .collect::<Vec<_>>()
        .join("^");
    let local: Vec<&str> = profile
        .map(|p| p.segments.iter().map(|s| s.id.as_str()).collect())
        .unwrap_or_default();
    if let Some(st) = structure.filter(|st| d.structure(st).is_none()) {
        out.push(Problem {
            code: 207,
            location: None,
            warning: true,
            offset: m.segment_at(0).and_then(|s| s.field_offset(9)).unwrap_or(0),
            what: format!(
                "MSH-9.3 names `{st}`, which HL7 v{} does not define; read by its trigger event",
                d.version
            ),
        });
    }
    match d.structure_for(mt.trim_end_matches('^')) {
        None => out.push(Problem {
            code: 200,
            location: None,
            warning: false,
            offset: m.segment_at(0).and_then(|s| s.field_offset(9)).unwrap_or(0),
            what: format!(
                "MSH-9: message type `{}` has no structure in HL7 v{}",
                mt.trim_end_matches('^'),
                d.version
            ),
        }),
        Some(s) => check_structure(m, d, s, out),
    }
    for seg in m.segments() {
        let id = seg.id();
        if id.starts_with('Z') {
            if !local.is_empty() && !local.contains(&id) {
                out.push(Problem {
                    code: 100,
                    location: None,
                    warning: false,
                    offset: seg.offset(),
                    what: format!(
                        "{id} (segment {}): local segment not declared in the profile",
                        seg.index() + 1
                    ),
                });
            }
            continue;
        }
        let Some(fields) = d.segment(id) else {
            out.push(Problem {
                code: 100,
                location: None,
                warning: false,
                offset: seg.offset(),
                what: format!(
                    "{id} (segment {}): not a segment of HL7 v{}",
                    seg.index() + 1,
                    d.version
                ),
            });
            continue;
        };
        for f in fields {
            let value = seg.field(f.position);
            let reps = value
                .map(|v| {
                    if v.is_empty() {
                        0
                    } else {
                        v.repetitions().count()
                    }
                })
                .unwrap_or(0);
            let offset = seg.field_offset(f.position).unwrap_or(seg.offset());
            if f.min > 0 && reps == 0 {
                out.push(Problem {
                    code: 101,
                    location: Some(ErrLocation {
                        segment: id.to_string(),
                        sequence: 1,
                        field: Some(f.position),
                        ..Default::default()
                    }),
                    warning: false,
                    offset,
                    what: format!("{id}-{} ({}) is required but missing", f.position, f.name),
                });
            }
            if let Some(max) = f.max {
                if max == 0 && reps > 0 {
                    out.push(Problem {
                        code: 102,
                        location: Some(ErrLocation {
                            segment: id.to_string(),
                            sequence: 1,
                            field: Some(f.position),
                            ..Default::default()
                        }),
                        warning: true,
                        offset,
                        what: format!(
                            "{id}-{} ({}) is withdrawn in HL7 v{}; receivers ignore it",
                            f.position, f.name, d.version
                        ),
                    });
                } else if id != "MSH" && reps > max as usize {
                    out.push(Problem {
                        code: 102,
                        location: Some(ErrLocation {
                            segment: id.to_string(),
                            sequence: 1,
                            field: Some(f.position),
                            ..Default::default()
                        }),
                        warning: false,
                        offset,
                        what: format!(
                            "{id}-{} ({}) repeats {reps} times; at most {max} allowed",
                            f.position, f.name
                        ),
                    });
                }
            }
        }
    }
}

/// Greedy match of the segments (Z-segments aside) against the message structure.
fn check_structure(m: &Message, d: &Dictionary, structure: &str, out: &mut Vec<Problem>) {
    let Some(elements) = d.structure(structure) else {
        return;
    };
    let segs: Vec<(&str, usize)> = m
        .segments()
        .filter(|s| !s.id().starts_with('Z'))
        .map(|s| (s.id(), s.offset()))
        .collect();
    let mut pos = 0;
    match_elements(elements, &segs, &mut pos, structure, out);
    for (id, offset) in &segs[pos..] {
        out.push(Problem {
            code: 100,
            location: None,
            warning: false,
            offset: *offset,
            what: format!("{id}: segment not expected here in {structure}"),
        });
    }
}

/// A choice in the structure (`ORDER_DETAIL` of ORM^O01: one of OBR, RQD, RQ1, RXO,
/// ODS, ODT): the dictionary names such a group `CHOICE`, and one child fills it.
fn is_choice(name: &str) -> bool {
    name == "CHOICE"
}

fn first_ids(e: &Element) -> Vec<&'static str> {
    match e {
        Element::Segment { id, .. } => vec![id],
        Element::Group { name, children, .. } if is_choice(name) => {
            children.iter().flat_map(first_ids).collect()
        }
        Element::Group { children, .. } => {
            let mut ids = vec![];
            for c in children {
                ids.extend(first_ids(c));
                let required = match c {
                    Element::Segment { min, .. } | Element::Group { min, .. } => *min > 0,
                };
                if required {
                    break;
                }
            }
            ids
        }
    }
}

fn match_elements(
    elements: &[Element],
    segs: &[(&str, usize)],
    pos: &mut usize,
    context: &str,
    out: &mut Vec<Problem>,
) {
    for e in elements {
        let mut count = 0u32;
        let (min, max) = match e {
            Element::Segment { min, max, .. } | Element::Group { min, max, .. } => (*min, *max),
        };
        let starts = first_ids(e);
        while *pos < segs.len() && starts.contains(&segs[*pos].0) && max.is_none_or(|m| count < m) {
            match e {
                Element::Segment { .. } => *pos += 1,
                Element::Group { name, children, .. } if is_choice(name) => {
                    // The one alternative that starts here.
                    let here = segs[*pos].0;
                    if let Some(c) = children.iter().find(|c| first_ids(c).contains(&here)) {
                        match_elements(std::slice::from_ref(c), segs, pos, context, out);
                    }
                }
                Element::Group { name, children, .. } => {
                    match_elements(children, segs, pos, name, out)
                }
            }
            count += 1;
        }
        if count < min {
            let offset = segs.get(*pos).or(segs.last()).map(|s| s.1).unwrap_or(0);
            let what = match e {
                Element::Segment { id, .. } => {
                    format!("{id}: required segment missing in {context}")
                }
                Element::Group { name, .. } => {
                    format!("{name}: required segment group missing in {context}")
                }
            };
            out.push(Problem {
                code: 100,
                location: None,
                warning: false,
                offset,
                what,
            });
        }
    }
}

fn values<'a>(m: &Message<'a>, rule: &ProfileRule) -> Vec<Value<'a>> {
    let Ok(mut path) = Path::parse(&rule.path) else {
        return vec![];
    };
    if path.repetition.is_none() {
        path.repetition = Some(super::Repetition::All);
    }
    m.get_all(&path)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect()
}

fn check_profile(m: &Message, p: &Profile, out: &mut Vec<Problem>) {
    for rule in &p.rules {
        let vals = values(m, rule);
        let Ok(parsed) = Path::parse(&rule.path) else {
            continue;
        };
        let seg = m.segment(&parsed.segment, parsed.occurrence.unwrap_or(1));
        let offset = seg
            .map(|s| s.field_offset(parsed.field).unwrap_or(s.offset()))
            .unwrap_or(0);
        let location = Some(ErrLocation {
            segment: parsed.segment.clone(),
            sequence: parsed.occurrence.unwrap_or(1),
            field: Some(parsed.field),
            repetition: None,
            component: parsed.component,
            subcomponent: parsed.subcomponent,
        });
        let path = &rule.path;
        match rule.usage.as_str() {
            "R" if vals.is_empty() => out.push(Problem {
                code: 101,
                location: location.clone(),
                warning: false,
                offset,
                what: format!(
                    "{path} is required (R) by profile `{}` but missing or empty",
                    p.name
                ),
            }),
            "X" if !vals.is_empty() => out.push(Problem {
                code: 102,
                location: location.clone(),
                warning: false,
                offset,
                what: format!(
                    "{path} is not supported (X) by profile `{}` but has a value",
                    p.name
                ),
            }),
            _ => {}
        }
        if let Some(min) = rule.min {
            if !vals.is_empty() && (vals.len() as u32) < min {
                out.push(Problem {
                    code: 102,
                    location: location.clone(),
                    warning: false,
                    offset,
                    what: format!(
                        "{path} has {} repetition(s); profile `{}` needs at least {min}",
                        vals.len(),
                        p.name
                    ),
                });
            }
        }
        if let Some(max) = rule.max {
            if vals.len() as u32 > max {
                out.push(Problem {
                    code: 102,
                    location: location.clone(),
                    warning: false,
                    offset,
                    what: format!(
                        "{path} has {} repetition(s); profile `{}` allows at most {max}",
                        vals.len(),
                        p.name
                    ),
                });
            }
        }
        if let Some(len) = rule.length {
            for v in &vals {
                let n = v.text().map(|t| t.chars().count()).unwrap_or(v.raw().len());
                if n > len as usize {
                    out.push(Problem {
                        code: 104,
                        location: location.clone(),
                        warning: false,
                        offset,
                        what: format!(
                            "{path} is {n} characters; profile `{}` allows {len}",
                            p.name
                        ),
                    });
                }
            }
        }
    }
    for z in &p.segments {
        let present = m.segment(&z.id, 1);
        if z.usage.as_deref() == Some("R") && present.is_none() {
            out.push(Problem {
                code: 100,
                location: None,
                warning: false,
                offset: 0,
                what: format!(
                    "{} is required (R) by profile `{}` but missing",
                    z.id, p.name
                ),
            });
        }
        let Some(seg) = present else { continue };
        for f in &z.fields {
            let empty = seg.field(f.position as usize).is_none_or(|v| v.is_empty());
            if f.usage.as_deref() == Some("R") && empty {
                out.push(Problem {
                    code: 101,
                    location: None,
                    warning: false,
                    offset: seg.offset(),
                    what: format!(
                        "{}-{} ({}) is required (R) by profile `{}` but missing",
                        z.id, f.position, f.name, p.name
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(raw: &str) -> Vec<String> {
        let m = Message::parse(raw.as_bytes()).unwrap();
        let d = crate::dict::dictionary("2.4").unwrap();
        validate(&m, d, None).into_iter().map(|p| p.what).collect()
    }

    /// ORM^O01's order detail is a choice: one of OBR, RQD, RQ1, RXO, ODS, ODT fills it.
    #[test]
    fn a_choice_is_filled_by_one_of_its_alternatives() {
        let head = "MSH|^~\\&|A|B|C|D|20260101||ORM^O01^ORM_O01|1|P|2.4\rPID|1||1^^^H^MR||DOE^JANE\rORC|NW|1\r";
        assert_eq!(
            problems(&format!("{head}OBR|1|1||FBC\r")),
            Vec::<String>::new()
        );
        assert_eq!(problems(&format!("{head}RXO|1\r")), Vec::<String>::new());
    }
}
