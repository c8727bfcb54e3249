//! `accord hl7 validate`: a message against the HL7 v2 dictionary (segment order and
//! cardinality in the message structure, required fields, repetitions) and, with
//! `--profile ESTATE:NAME`, against a conformance profile of an estate (usage, cardinality,
//! length, local Z-segments). Each problem is printed with its file position.

use super::hl7::{line_col, with_messages};
use crate::ir;
use accord_runtime::hl7::dict::{self, Dictionary, Element};
use accord_runtime::hl7::{Message, Path, Value};
use std::process::ExitCode;

struct Problem {
    offset: usize,
    what: String,
    /// Warnings are printed but do not fail validation.
    warning: bool,
}

pub fn validate(file: &std::path::Path, version: Option<&str>, profile: Option<&str>) -> ExitCode {
    let profile = match profile.map(load_profile).transpose() {
        Ok(p) => p,
        Err(code) => return code,
    };
    with_messages(file, |bytes, msgs| {
        let mut problems = vec![];
        let base = bytes.as_ptr() as usize;
        for m in msgs {
            let origin = m.bytes().as_ptr() as usize - base;
            let v = version
                .map(str::to_string)
                .or_else(|| profile.as_ref().map(|p| p.version.clone()))
                .or_else(|| m.version().map(str::to_string))
                .unwrap_or_default();
            let Some(d) = dict::dictionary(&v) else {
                eprintln!(
                    "error: no HL7 v2 dictionary for version `{v}`; pass --version (one of {})",
                    dict::versions().collect::<Vec<_>>().join(", ")
                );
                return ExitCode::from(2);
            };
            let mut found = vec![];
            check_dictionary(m, d, profile.as_ref(), &mut found);
            if let Some(p) = &profile {
                check_profile(m, p, &mut found);
            }
            problems.extend(found.into_iter().map(|p| Problem {
                warning: p.warning,
                offset: p.offset + origin,
                ..p
            }));
        }
        for p in &problems {
            let (line, col) = line_col(bytes, p.offset);
            let level = if p.warning { "warning" } else { "error" };
            println!("{}:{line}:{col}: {level}: {}", file.display(), p.what);
        }
        let errors = problems.iter().filter(|p| !p.warning).count();
        let warnings = problems.len() - errors;
        if errors == 0 {
            eprintln!("ok: {} message(s) valid, {warnings} warning(s)", msgs.len());
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "{errors} error(s), {warnings} warning(s) in {} message(s)",
                msgs.len()
            );
            ExitCode::from(1)
        }
    })
}

/// `ESTATE:NAME`: the profile NAME of the estate at path ESTATE, which must compile.
fn load_profile(spec: &str) -> Result<ir::Profile, ExitCode> {
    let Some((estate, name)) = spec.rsplit_once(':') else {
        eprintln!("error: --profile takes ESTATE:NAME, e.g. examples/trakcare-lab:trakcare_adt");
        return Err(ExitCode::from(2));
    };
    let (loaded, result) = super::compile_paths(&[std::path::PathBuf::from(estate)], None)?;
    let Some(ir) = result.ir else {
        super::print_human(&loaded, &result);
        return Err(ExitCode::from(2));
    };
    match ir.profiles.into_iter().find(|p| p.name == name) {
        Some(p) => Ok(p),
        None => {
            eprintln!("error: the estate has no profile `{name}`");
            Err(ExitCode::from(2))
        }
    }
}

fn check_dictionary(
    m: &Message,
    d: &Dictionary,
    profile: Option<&ir::Profile>,
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
                    warning: false,
                    offset,
                    what: format!(
                        "{id}-{} ({}) is required but missing [HL7 0357 code 101]",
                        f.position, f.name
                    ),
                });
            }
            if let Some(max) = f.max {
                if max == 0 && reps > 0 {
                    out.push(Problem {
                        warning: true,
                        offset,
                        what: format!(
                            "{id}-{} ({}) is withdrawn in HL7 v{}; receivers ignore it",
                            f.position, f.name, d.version
                        ),
                    });
                } else if id != "MSH" && reps > max as usize {
                    out.push(Problem {
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
            warning: false,
            offset: *offset,
            what: format!("{id}: segment not expected here in {structure}"),
        });
    }
}

fn first_ids(e: &Element) -> Vec<&'static str> {
    match e {
        Element::Segment { id, .. } => vec![id],
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
                warning: false,
                offset,
                what,
            });
        }
    }
}

fn values<'a>(m: &Message<'a>, rule: &ir::ProfileRule) -> Vec<Value<'a>> {
    let text = rule.path.text.as_str();
    let Ok(mut path) = Path::parse(text) else {
        return vec![];
    };
    if path.repetition.is_none() {
        path.repetition = Some(accord_runtime::hl7::Repetition::All);
    }
    m.get_all(&path)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect()
}

fn check_profile(m: &Message, p: &ir::Profile, out: &mut Vec<Problem>) {
    for rule in &p.rules {
        let vals = values(m, rule);
        let seg = m.segment(
            &rule.path.segment,
            rule.path.occurrence.unwrap_or(1) as usize,
        );
        let offset = seg
            .map(|s| {
                s.field_offset(rule.path.field as usize)
                    .unwrap_or(s.offset())
            })
            .unwrap_or(0);
        let path = &rule.path.text;
        match rule.usage.as_str() {
            "R" if vals.is_empty() => out.push(Problem {
                warning: false,
                offset,
                what: format!(
                    "{path} is required (R) by profile `{}` but missing or empty",
                    p.name
                ),
            }),
            "X" if !vals.is_empty() => out.push(Problem {
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
                    out.push(Problem { warning: false,  offset, what: format!("{path} is {n} characters; profile `{}` allows {len} [HL7 0357 code 104]", p.name) });
                }
            }
        }
    }
    for z in &p.segments {
        let present = m.segment(&z.id, 1);
        if z.usage.as_deref() == Some("R") && present.is_none() {
            out.push(Problem {
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
