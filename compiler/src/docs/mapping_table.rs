//! A mapping as a table for the board: one row per mapped value, with the source as
//! written, the names the HL7 v2 dictionary (or the record's doc comments) give its paths,
//! the target, the code maps it goes through and the conditions it is under (`when`,
//! `for each`). Reads the IR only: the dictionaries' names are in it.

use crate::ir::{
    self, Estate, Expr, Hl7Path, IterSource, Mapping, PathStep, Schema, Stmt, Target, Type,
};
use crate::ir_text::{self as exprs, type_text, Read};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    /// What the target is: the dictionary's name for an HL7 path, the type and doc comment
    /// for a record field.
    pub target_about: String,
    pub source: String,
    /// The dictionary names of the HL7 paths the source reads (or record field docs).
    pub source_about: Vec<String>,
    pub codemaps: Vec<String>,
    /// `when` conditions and `for each` loops around the line, outermost first.
    pub condition: String,
    pub line: u32,
    pub file: String,
}

/// The HL7 v2 side of a mapping: the profile whose local segments it may use.
struct Hl7Side<'e> {
    profile: Option<&'e ir::Profile>,
}

fn hl7_side<'e>(estate: &'e Estate, schema: &Schema) -> Option<Hl7Side<'e>> {
    match schema {
        Schema::Hl7 { profile, .. } => Some(Hl7Side {
            profile: profile
                .as_ref()
                .and_then(|p| estate.profiles.iter().find(|x| &x.name == p)),
        }),
        _ => None,
    }
}

/// `Patient Identifier List / ID Number` for `PID-3.1` in the side's version; local
/// segments from the profile.
fn hl7_about(side: Option<&Hl7Side>, path: &Hl7Path) -> String {
    let Some(side) = side else {
        return String::new();
    };
    if let Some(seg) = side
        .profile
        .and_then(|p| p.segments.iter().find(|s| s.id == path.segment))
    {
        return seg
            .fields
            .iter()
            .find(|f| f.position == path.field)
            .map(|f| format!("{} ({}, local)", f.name, f.datatype))
            .unwrap_or_default();
    }
    path.element
        .as_ref()
        .map(|e| format!("{} ({})", e.name, e.datatype))
        .unwrap_or_default()
}

fn base(t: &Type) -> &Type {
    match t {
        Type::List { of } | Type::Optional { of } => base(of),
        other => other,
    }
}

/// The field at `path` under `record` (nested records and list elements followed).
pub fn field<'e>(estate: &'e Estate, record: &str, path: &[&str]) -> Option<&'e ir::Field> {
    let mut rec = estate.records.iter().find(|r| r.name == record)?;
    let mut found = None;
    for (i, name) in path.iter().enumerate() {
        let f = rec.fields.iter().find(|f| f.name == *name)?;
        found = Some(f);
        if i + 1 < path.len() {
            let Type::Record { record } = base(&f.ty) else {
                return None;
            };
            rec = estate.records.iter().find(|r| &r.name == record)?;
        }
    }
    found
}

fn field_about(estate: &Estate, record: Option<&str>, path: &[&str]) -> String {
    let Some(f) = record.and_then(|r| field(estate, r, path)) else {
        return String::new();
    };
    if f.docs.is_empty() {
        type_text(&f.ty)
    } else {
        format!("{}: {}", type_text(&f.ty), f.docs)
    }
}

struct Walk<'e> {
    estate: &'e Estate,
    mapping: &'e Mapping,
    source: Option<Hl7Side<'e>>,
    target: Option<Hl7Side<'e>>,
    source_record: Option<&'e str>,
    target_record: Option<&'e str>,
    /// The FHIR resource a side reads or writes.
    source_fhir: Option<&'e str>,
    target_fhir: Option<&'e str>,
    rows: Vec<Row>,
}

/// What FHIR R4 says of the element a path reaches: `HumanName.family (string, 0..1)`,
/// with a required binding's value set.
fn fhir_about(path: &[PathStep]) -> String {
    let Some(e) = path.last().and_then(|s| s.fhir.as_ref()) else {
        return String::new();
    };
    let mut about = format!("{} ({}, {})", e.path, e.ty, e.cardinality());
    if let Some(vs) = &e.required {
        about.push_str(&format!("; required codes of {vs}"));
    }
    about
}

impl Walk<'_> {
    fn stmts(
        &mut self,
        body: &[Stmt],
        outer: &[String],
        target_prefix: &[String],
        source_prefix: &[String],
    ) {
        for s in body {
            match s {
                Stmt::Assign {
                    target,
                    values,
                    clear,
                    loc,
                    ..
                } => {
                    // `clear`: the HL7 null's meaning, beside the row's other conditions.
                    let mut conds = outer.to_vec();
                    if *clear {
                        conds.push(match target {
                            Target::Hl7 { .. } => "no value is sent as `\"\"` (delete)".into(),
                            _ => "`\"\"` clears the stored value".into(),
                        });
                    }
                    self.assign(target, values, loc, &conds, target_prefix, source_prefix)
                }
                Stmt::For {
                    target,
                    source,
                    body,
                    value,
                    loc,
                    ..
                } => {
                    let over = exprs::iter_source(source);
                    let mut conds = outer.to_vec();
                    conds.push(format!("for each {over}"));
                    // `for each SOURCE: value`: one row, the value per element.
                    if let Some(v) = value {
                        let mut sp = source_prefix.to_vec();
                        if let IterSource::Field { path } = source {
                            sp.extend(path.iter().map(|s| s.name.clone()));
                        }
                        self.assign(
                            target,
                            std::slice::from_ref(v),
                            loc,
                            &conds,
                            target_prefix,
                            &sp,
                        );
                        continue;
                    }
                    let mut tp = target_prefix.to_vec();
                    if let Target::Field { path } = target {
                        tp.extend(path.iter().map(|s| s.name.clone()));
                    }
                    let mut sp = source_prefix.to_vec();
                    if let IterSource::Field { path } = source {
                        sp.extend(path.iter().map(|s| s.name.clone()));
                    }
                    self.stmts(body, &conds, &tp, &sp);
                }
                Stmt::When {
                    cond,
                    then,
                    otherwise,
                    ..
                } => {
                    let c = exprs::expr(cond);
                    let mut yes = outer.to_vec();
                    yes.push(format!("when {c}"));
                    self.stmts(then, &yes, target_prefix, source_prefix);
                    let mut no = outer.to_vec();
                    no.push(format!("unless {c}"));
                    self.stmts(otherwise, &no, target_prefix, source_prefix);
                }
            }
        }
    }

    fn assign(
        &mut self,
        target: &Target,
        values: &[Expr],
        loc: &ir::Loc,
        outer: &[String],
        target_prefix: &[String],
        source_prefix: &[String],
    ) {
        let (target_text, target_about) = match target {
            Target::Hl7 { path } => (exprs::target(target), hl7_about(self.target.as_ref(), path)),
            Target::Segment { .. } => (exprs::target(target), "segment".into()),
            Target::Field { path } => {
                let mut full: Vec<&str> = target_prefix.iter().map(String::as_str).collect();
                full.extend(path.iter().map(|s| s.name.as_str()));
                let shown = if target_prefix.is_empty() {
                    exprs::steps(path)
                } else {
                    format!("{}[].{}", target_prefix.join("."), exprs::steps(path))
                };
                let about = match self.target_fhir {
                    Some(_) => fhir_about(path),
                    None => field_about(self.estate, self.target_record, &full),
                };
                (shown, about)
            }
        };
        let mut reads = vec![];
        let mut maps = vec![];
        for v in values {
            exprs::reads(v, &mut reads);
            exprs::codemaps(v, &mut maps);
        }
        let source = values
            .iter()
            .map(exprs::expr)
            .collect::<Vec<_>>()
            .join(", ");
        // A source that is one path needs no second copy of the path in its description.
        let bare = reads.len() == 1;
        let source_about = reads
            .iter()
            .map(|r| match r {
                Read::Hl7(p) => {
                    let about = hl7_about(self.source.as_ref(), p);
                    if bare && !about.is_empty() && source == p.text {
                        about
                    } else if about.is_empty() {
                        p.text.clone()
                    } else {
                        format!("{}: {about}", p.text)
                    }
                }
                Read::Field(path) => {
                    let f = &exprs::steps(path);
                    let mut full: Vec<&str> = source_prefix.iter().map(String::as_str).collect();
                    full.extend(path.iter().map(|s| s.name.as_str()));
                    let about = match self.source_fhir {
                        Some(_) => fhir_about(path),
                        None => field_about(self.estate, self.source_record, &full),
                    };
                    if bare && !about.is_empty() && &source == f {
                        about
                    } else if about.is_empty() {
                        f.clone()
                    } else {
                        format!("{f}: {about}")
                    }
                }
            })
            .collect();
        self.rows.push(Row {
            target: target_text,
            target_about,
            source,
            source_about,
            codemaps: maps,
            condition: outer.join("; "),
            line: loc.line,
            file: self.mapping.loc.file.clone(),
        });
    }
}

fn record_of(schema: &Schema) -> Option<&str> {
    match schema {
        Schema::Record { record } => Some(record),
        _ => None,
    }
}

fn fhir_of(schema: &Schema) -> Option<&str> {
    match schema {
        Schema::Fhir { resource } => Some(resource),
        _ => None,
    }
}

/// Every mapped value of `mapping`, in source order.
pub fn rows(estate: &Estate, mapping: &Mapping) -> Vec<Row> {
    let mut w = Walk {
        estate,
        mapping,
        source: hl7_side(estate, &mapping.source),
        target: hl7_side(estate, &mapping.target),
        source_record: record_of(&mapping.source),
        target_record: record_of(&mapping.target),
        source_fhir: fhir_of(&mapping.source),
        target_fhir: fhir_of(&mapping.target),
        rows: vec![],
    };
    w.stmts(&mapping.body, &[], &[], &[]);
    w.rows
}

/// `hl7v2 2.4 ORU^R01 (profile winpath_oru)`, `Patient`, `fhir r4 Patient`.
pub fn schema_text(s: &Schema) -> String {
    match s {
        Schema::Hl7 {
            version,
            message,
            profile,
            ..
        } => {
            let mut t = format!("HL7 v2 {version}");
            if let Some(m) = message {
                t.push(' ');
                t.push_str(m);
            }
            if let Some(p) = profile {
                t.push_str(&format!(" (profile {p})"));
            }
            t
        }
        Schema::Fhir { resource } => format!("FHIR R4 {resource}"),
        Schema::Record { record } => record.clone(),
    }
}

#[cfg(test)]
mod tests {
    use crate::{compile, Options, SourceMap};

    #[test]
    fn fhir_targets_are_described_from_the_r4_dictionary() {
        let mut sources = SourceMap::new();
        sources.add(
            "main.accord".to_string(),
            r#"estate "x" version 1.0.0
record P {
  mrn: Identifier key
  family: Text
}
mapping p_to_fhir: P -> fhir r4 Patient {
  identifier[0].value <- mrn
  name[0].family <- family
}
"#
            .to_string(),
        );
        let ir = compile(&sources, &Options::default()).ir.expect("compiles");
        let rows = super::rows(&ir, &ir.mappings[0]);
        assert_eq!(rows[0].target_about, "Identifier.value (string, 0..1)");
        assert_eq!(rows[1].target_about, "HumanName.family (string, 0..1)");
    }
}
