//! Lineage of a mapping from HL7 v2 into a record: which message path each record field
//! is read from (`Patient.nhs_number` from `PID-3[where 4 = "NHS"].1`). Generated code
//! gives it to a failed mapping, so a value that breaks a record's constraint is reported
//! at its place in the message: the ERR segment of an application ACK names the field,
//! and `accord map` says where the value came from. Only fields with a constraint the
//! runtime checks are listed (no other value can fail after it is read). A field takes the
//! first HL7 path its value reads (a code map's input, a function's argument); a field
//! written twice keeps its first source.

//!
//! [`rows`] is every assignment of a mapping, for the production's `Spec`: the console
//! composes a delivered message's field-level lineage from them (output field, the
//! record field it was made of, the received message's path, each with its line).

use crate::ir::{Constraint, Estate, Expr, Mapping, PathStep, Schema, Stmt, Target, Type};
use accord_runtime::spec::{LineageRow, MappingLineage};

/// Every assignment of `m`, with what it reads and where it is written.
pub fn rows(m: &Mapping) -> MappingLineage {
    let mut out = vec![];
    assignments(&m.body, "", &mut out);
    MappingLineage {
        name: m.name.clone(),
        at: format!("{}:{}", m.loc.file, m.loc.line),
        rows: out,
    }
}

/// The text of an assignment's target, under `prefix` inside a `for each`.
fn target_text(t: &Target, prefix: &str) -> String {
    let own = match t {
        Target::Hl7 { path } => path.text.clone(),
        Target::Segment { segment } => segment.clone(),
        Target::Field { path } => crate::ir_text::steps(path),
    };
    format!("{prefix}{own}")
}

fn assignments(body: &[Stmt], prefix: &str, out: &mut Vec<LineageRow>) {
    for s in body {
        match s {
            Stmt::Assign {
                target,
                values,
                loc,
                ..
            } => {
                let mut reads = vec![];
                for v in values {
                    crate::ir_text::reads(v, &mut reads);
                }
                out.push(LineageRow {
                    target: target_text(target, prefix),
                    expr: values
                        .iter()
                        .map(crate::ir_text::expr)
                        .collect::<Vec<_>>()
                        .join(", "),
                    sources: reads
                        .into_iter()
                        .map(|r| match r {
                            crate::ir_text::Read::Hl7(p) => p.text,
                            crate::ir_text::Read::Field(f) => crate::ir_text::steps(&f),
                        })
                        .collect(),
                    at: format!("{}:{}", loc.file, loc.line),
                });
            }
            Stmt::For { target, body, .. } => {
                let inner = format!("{}[*].", target_text(target, prefix));
                assignments(body, &inner, out);
            }
            Stmt::When {
                then, otherwise, ..
            } => {
                assignments(then, prefix, out);
                assignments(otherwise, prefix, out);
            }
        }
    }
}

/// `(Record.field, HL7 path)` for every constrained record field the mapping fills from
/// the message.
pub fn of_mapping(ir: &Estate, m: &Mapping) -> Vec<(String, String)> {
    let (Schema::Hl7 { .. }, Schema::Record { record }) = (&m.source, &m.target) else {
        return vec![];
    };
    let mut out = vec![];
    walk(ir, record, &m.body, &mut out);
    out
}

fn walk(ir: &Estate, record: &str, body: &[Stmt], out: &mut Vec<(String, String)>) {
    for s in body {
        match s {
            Stmt::Assign {
                target: Target::Field { path },
                values,
                ..
            } => {
                let (Some(field), Some(read)) =
                    (owner(ir, record, path), values.iter().find_map(first_hl7))
                else {
                    continue;
                };
                if !out.iter().any(|(f, _)| *f == field) {
                    out.push((field, read));
                }
            }
            Stmt::For {
                target: Target::Field { path },
                body,
                ..
            } => {
                if let Some(element) = element_record(ir, record, path) {
                    walk(ir, &element, body, out);
                }
            }
            Stmt::When {
                then, otherwise, ..
            } => {
                walk(ir, record, then, out);
                walk(ir, record, otherwise, out);
            }
            _ => {}
        }
    }
}

/// The type of field `name` of record `record`.
fn field_type<'a>(ir: &'a Estate, record: &str, name: &str) -> Option<&'a Type> {
    let r = ir.records.iter().find(|r| r.name == record)?;
    Some(&r.fields.iter().find(|f| f.name == name)?.ty)
}

/// The record a field's type holds (itself, optional, or as the elements of a list).
fn record_in(t: &Type) -> Option<&str> {
    match t {
        Type::Record { record } => Some(record),
        Type::Optional { of } | Type::List { of } => record_in(of),
        _ => None,
    }
}

/// `Record.field` of the last step of `path`, walked from `record`, when the field has a
/// constraint the runtime checks.
fn owner(ir: &Estate, record: &str, path: &[PathStep]) -> Option<String> {
    let (last, through) = path.split_last()?;
    let mut at = record.to_string();
    for step in through {
        at = record_in(field_type(ir, &at, &step.name)?)?.to_string();
    }
    let r = ir.records.iter().find(|r| r.name == at)?;
    let f = r.fields.iter().find(|f| f.name == last.name)?;
    let checked = f
        .constraints
        .iter()
        .any(|c| !matches!(c, Constraint::Key | Constraint::Unique));
    checked.then(|| format!("{at}.{}", last.name))
}

/// The record of the elements a `for each` builds at `path`.
fn element_record(ir: &Estate, record: &str, path: &[PathStep]) -> Option<String> {
    let mut at = record.to_string();
    for step in path {
        at = record_in(field_type(ir, &at, &step.name)?)?.to_string();
    }
    Some(at)
}

/// The first HL7 path `e` reads, as written (a condition's before its branches').
fn first_hl7(e: &Expr) -> Option<String> {
    let mut reads = vec![];
    crate::ir_text::reads(e, &mut reads);
    reads.into_iter().find_map(|r| match r {
        crate::ir_text::Read::Hl7(p) => Some(p.text),
        crate::ir_text::Read::Field(_) => None,
    })
}
