//! Negative cases derived from the contract, for `accord test --generated`: each
//! in-language test that gives a message at an interface or route is a baseline, and for
//! every mapping its routes can run, one case per way the contract says a message can be
//! wrong there. The message is changed at one HL7 path and must get the outcome the
//! contract prescribes:
//!
//! - a code the code map does not list: refused when the map's default is `reject`, else
//!   accepted (with its default, the code passed through, or no value);
//! - a required record field read straight from a path, left empty: refused (`required
//!   field ... was not set`);
//! - a text field with `length ..N`, given N + 1 characters (or one less than a minimum
//!   above one): refused by the constraint;
//! - a text field with a `pattern` or a `check`, given a value that breaks it first:
//!   refused by the constraint.
//!
//! A baseline the production would refuse as it is gives no cases (it is reported as
//! skipped). Only assignments at the top of a mapping, read straight from one HL7 path, are used:
//! what such a statement does with a changed value follows from the contract alone.
//! Writes by a system the matrix accepts beside the owner need stored records: they are
//! derived in `derived_writes` and run as scenarios on the production.

use crate::ir::{CodemapDefault, Constraint, Estate, Expr, Mapping, Repetition, RouteTarget};
use crate::ir::{Hl7Path, Loc, Schema, Stmt, Target, Type};

/// One derived case.
pub struct Derived {
    /// The baseline: the test whose message is changed.
    pub test: usize,
    pub mapping: String,
    /// The interfaces whose chain the mapping starts: the case applies when the changed
    /// message is routed to one of them.
    pub takers: Vec<String>,
    /// What is wrong, in words.
    pub what: String,
    pub path: String,
    pub value: String,
    /// `Some(fragment)`: the message is refused with a reason containing it; `None`: it
    /// is accepted.
    pub refused: Option<String>,
    /// The contract line that prescribes the outcome.
    pub at: String,
}

/// A value no code map lists.
const UNLISTED: &str = "ZZ-UNLISTED";

pub(super) fn loc(l: &Loc) -> String {
    format!("{}:{}", l.file, l.line)
}

/// The cases of every test of `ir`.
pub fn derive(ir: &Estate) -> Vec<Derived> {
    let mut out = vec![];
    for (i, t) in ir.tests.iter().enumerate() {
        let Some(at) = t.given.first().and_then(|g| g.at.as_deref()) else {
            continue;
        };
        for m in mappings_reached(ir, at) {
            let takers: Vec<String> = ir
                .interfaces
                .iter()
                .filter(|x| x.transforms.first() == Some(&m.name))
                .map(|x| x.name.clone())
                .collect();
            for (what, path, value, refused, at) in cases(ir, m) {
                out.push(Derived {
                    test: i,
                    mapping: m.name.clone(),
                    takers: takers.clone(),
                    what,
                    path,
                    value,
                    refused,
                    at,
                });
            }
        }
    }
    out
}

/// The mappings from HL7 v2 that start the chains of the interfaces a message given at
/// `at` (a route, or an interface a route reads) can be routed to.
fn mappings_reached<'a>(ir: &'a Estate, at: &str) -> Vec<&'a Mapping> {
    let mut targets: Vec<&str> = vec![];
    for r in ir.routes.iter().filter(|r| r.name == at || r.from == at) {
        for rule in &r.rules {
            for t in &rule.targets {
                if let RouteTarget::Interface(n) = t {
                    if !targets.contains(&n.as_str()) {
                        targets.push(n);
                    }
                }
            }
        }
    }
    let mut out: Vec<&Mapping> = vec![];
    for t in targets {
        let first = ir
            .interfaces
            .iter()
            .find(|i| i.name == t)
            .and_then(|i| i.transforms.first());
        let Some(m) = first.and_then(|f| ir.mappings.iter().find(|m| &m.name == f)) else {
            continue;
        };
        if matches!(m.source, Schema::Hl7 { .. }) && !out.iter().any(|o| o.name == m.name) {
            out.push(m);
        }
    }
    out
}

type Case = (String, String, String, Option<String>, String);

/// The cases of one mapping: its top-level assignments read straight from one HL7 path.
fn cases(ir: &Estate, m: &Mapping) -> Vec<Case> {
    let record = match &m.target {
        Schema::Record { record } => ir.records.iter().find(|r| &r.name == record),
        _ => None,
    };
    let mut out = vec![];
    for s in &m.body {
        let Stmt::Assign {
            target: Target::Field { path },
            values,
            loc: l,
            ..
        } = s
        else {
            continue;
        };
        let ([step], [value]) = (path.as_slice(), values.as_slice()) else {
            continue;
        };
        // A field written twice (here and in a condition, say) has no one outcome.
        if writes(&m.body, &step.name) != 1 {
            continue;
        }
        let field = record.and_then(|r| r.fields.iter().find(|f| f.name == step.name));
        match value {
            Expr::Lookup { codemap, value } => {
                let (Expr::Hl7 { path: p }, Some(cm)) = (
                    value.as_ref(),
                    ir.codemaps.iter().find(|c| &c.name == codemap),
                ) else {
                    continue;
                };
                if !plain(p) || !matches!(cm.from, Type::Text | Type::Identifier) {
                    continue;
                }
                let what = format!("a code `{codemap}` does not list at {}", p.text);
                let refused = match &cm.default {
                    CodemapDefault::Reject { .. } => Some(format!("code map `{codemap}` rejects")),
                    CodemapDefault::Absent
                        if field.is_some_and(|f| required(&f.ty)) && !m.partial =>
                    {
                        Some(format!("{}` was not set", step.name))
                    }
                    _ => None,
                };
                out.push((what, p.text.clone(), UNLISTED.into(), refused, loc(&cm.loc)));
            }
            Expr::Hl7 { path: p } if plain(p) => {
                let Some(f) = field else {
                    continue;
                };
                if !matches!(base(&f.ty), Type::Text | Type::Identifier) {
                    continue;
                }
                let at = loc(l);
                // A partial mapping's missing field is no write, not a refusal.
                if required(&f.ty) && !m.partial {
                    out.push((
                        format!("required `{}` missing at {}", f.name, p.text),
                        p.text.clone(),
                        String::new(),
                        Some(format!("{}` was not set", f.name)),
                        at.clone(),
                    ));
                }
                for c in &f.constraints {
                    let Constraint::Length { min, max } = c else {
                        continue;
                    };
                    if let Some(max) = max {
                        out.push((
                            format!("`{}` longer than {max} at {}", f.name, p.text),
                            p.text.clone(),
                            "X".repeat(*max as usize + 1),
                            Some("breaks the contract's `length".into()),
                            at.clone(),
                        ));
                    }
                    if let Some(min) = min.filter(|n| *n > 1) {
                        out.push((
                            format!("`{}` shorter than {min} at {}", f.name, p.text),
                            p.text.clone(),
                            "X".repeat(min as usize - 1),
                            Some("breaks the contract's `length".into()),
                            at.clone(),
                        ));
                    }
                }
                // A pattern or a check: the first value tried that breaks it before any
                // other rule of the field (the order the production checks them in).
                let ranged = f
                    .constraints
                    .iter()
                    .any(|c| matches!(c, Constraint::Range { .. }));
                for c in f.constraints.iter().filter(|_| !ranged) {
                    let (what, rule) = match c {
                        Constraint::Pattern { .. } => (
                            format!("`{}` not matching its pattern at {}", f.name, p.text),
                            "pattern",
                        ),
                        Constraint::Check { validator } => (
                            format!("`{}` failing `check {validator}` at {}", f.name, p.text),
                            "check",
                        ),
                        _ => continue,
                    };
                    let breaks = |v: &&&str| first_broken(&f.constraints, v) == Some(c);
                    if let Some(value) = BREAKERS.iter().find(breaks) {
                        out.push((
                            what,
                            p.text.clone(),
                            value.to_string(),
                            Some(format!("breaks the contract's `{rule}")),
                            at.clone(),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Values tried in turn to break a pattern or a check.
const BREAKERS: &[&str] = &["!", "!!", "0", "00", "X", "x", "1234567890", "a b", "-"];

/// The first of `constraints` that `value` breaks, in the order the production checks
/// them (keys, `unique` and ranges are not judged here).
fn first_broken<'c>(constraints: &'c [Constraint], value: &str) -> Option<&'c Constraint> {
    constraints.iter().find(|c| match c {
        Constraint::Length { min, max } => {
            let n = value.chars().count() as u64;
            !(min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m))
        }
        Constraint::Pattern { regex } => {
            regex::Regex::new(regex).is_ok_and(|re| !re.is_match(value))
        }
        Constraint::Check { validator } => !accord_runtime::constraints::valid(validator, value),
        _ => false,
    })
}

/// A path the tool can change in place: no repetition filter, no `*`.
pub(super) fn plain(p: &Hl7Path) -> bool {
    !matches!(
        p.repetition,
        Some(Repetition::Where { .. } | Repetition::All)
    )
}

pub(super) fn base(ty: &Type) -> &Type {
    match ty {
        Type::Optional { of } => base(of),
        other => other,
    }
}

/// A field a record must have: not optional, not a list.
fn required(ty: &Type) -> bool {
    !matches!(ty, Type::Optional { .. } | Type::List { .. })
}

/// How many statements of `body` (at any depth) write field `name` at the top level.
pub(super) fn writes(body: &[Stmt], name: &str) -> usize {
    body.iter()
        .map(|s| match s {
            Stmt::Assign {
                target: Target::Field { path },
                ..
            }
            | Stmt::For {
                target: Target::Field { path },
                ..
            } => usize::from(path.first().is_some_and(|p| p.name == name)),
            Stmt::When {
                then, otherwise, ..
            } => writes(then, name) + writes(otherwise, name),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use crate::{compile, Options, SourceMap};

    const ESTATE: &str = r#"estate "x" version 1.0.0
system pas {
  name: "PAS"
}
system lab {
  name: "Lab"
}
record P {
  mrn: Identifier key
  family: Text length 1..20
  given: Text?
  sex: Text
  class: Text?
  nhs: Text? check nhs_modulus11
  code: Text? length 2..2 pattern "^[A-Z]+$"
}
codemap sexes: Text -> Text {
  "F" => "female"
  _ => reject "unknown sex"
}
codemap classes: Text -> Text {
  "I" => "inpatient"
  _ => absent
}
mapping adt_to_p: hl7v2 2.5 ADT^A01 -> P {
  mrn <- PID-3[where 5 = "MR"].1
  family <- PID-5.1
  given <- PID-5.2
  sex <- PID-8 via sexes
  class <- PV1-2 via classes
  nhs <- PID-19
  code <- PID-20.1
}
interface adt_in version 1.0.0 {
  purpose: "In"
  owner: "Team"
  review: 2099-01-01
  status: active
  from pas to lab
  pattern: event
  messages: ADT^A01
  ack: commit
}
interface adt_out version 1.0.0 {
  purpose: "Out"
  owner: "Team"
  review: 2099-01-01
  status: active
  from pas to lab
  pattern: event
  messages: ADT^A01
  transform: adt_to_p
  ack: commit
}
route adt from adt_in {
  ADT^A01 -> adt_out
  otherwise -> discard
}
test "an admission" {
  given hl7 "MSH|^~\\&|PAS|H|LAB|H|20260101||ADT^A01|1|P|2.5\rPID|1||1^^^^MR||X^Y||19800101|F" at adt_in
  expect routed to adt_out
}
"#;

    #[test]
    fn each_straight_read_gives_the_cases_its_contract_prescribes() {
        let mut sources = SourceMap::new();
        sources.add("main.accord".to_string(), ESTATE.to_string());
        let ir = compile(&sources, &Options::default()).ir.expect("compiles");
        let cases: Vec<(String, String, String, Option<String>)> = super::derive(&ir)
            .into_iter()
            .map(|d| (d.what, d.path, d.value, d.refused))
            .collect();
        let r = |s: &str| Some(s.to_string());
        assert_eq!(
            cases,
            vec![
                // The key is read through `[where ...]`: left alone.
                (
                    "required `family` missing at PID-5.1".into(),
                    "PID-5.1".into(),
                    "".into(),
                    r("family` was not set")
                ),
                (
                    "`family` longer than 20 at PID-5.1".into(),
                    "PID-5.1".into(),
                    "X".repeat(21),
                    r("breaks the contract's `length")
                ),
                // `given` is optional: nothing to derive.
                (
                    "a code `sexes` does not list at PID-8".into(),
                    "PID-8".into(),
                    "ZZ-UNLISTED".into(),
                    r("code map `sexes` rejects")
                ),
                // No value for an optional field: accepted.
                (
                    "a code `classes` does not list at PV1-2".into(),
                    "PV1-2".into(),
                    "ZZ-UNLISTED".into(),
                    None
                ),
                (
                    "`nhs` failing `check nhs_modulus11` at PID-19".into(),
                    "PID-19".into(),
                    "!".into(),
                    r("breaks the contract's `check")
                ),
                (
                    "`code` longer than 2 at PID-20.1".into(),
                    "PID-20.1".into(),
                    "XXX".into(),
                    r("breaks the contract's `length")
                ),
                (
                    "`code` shorter than 2 at PID-20.1".into(),
                    "PID-20.1".into(),
                    "X".into(),
                    r("breaks the contract's `length")
                ),
                // One character breaks the length first: two break the pattern alone.
                (
                    "`code` not matching its pattern at PID-20.1".into(),
                    "PID-20.1".into(),
                    "!!".into(),
                    r("breaks the contract's `pattern")
                ),
            ]
        );
    }
}
