//! Derived cases of the ownership matrix, for `accord test --generated`: for each row,
//! each system the matrix accepts beside the owner writes the field after the owner
//! has, and the outcome must be the one the row's conflict rule prescribes. These need
//! stored records, so each case runs as a scenario on the production (a journal of its
//! own), from two of the estate's tests: one whose message reaches an interface of the
//! owner's that writes the field, one whose message reaches an interface of the
//! writer's. The tool changes each message at the field's path (and its control id),
//! sends the owner's, then the writer's, and reads the stored record:
//!
//! - `owner_wins`: the owner's value stays;
//! - `newest`: the writer's value is stored;
//! - `reject`: the writer's message is dead-lettered, the owner's value stays;
//! - `review`: the writer's message waits for review, the owner's value stays.
//!
//! Only rows the contract alone decides are used: no stage condition, no `lock from`, no
//! event-time order (`newest by`); a top-level text field with no pattern, range or check;
//! each side reading it straight from one HL7 path. A mapping `-> partial` cannot create
//! the record, so when the owner's is partial the writer's message goes first (accepted,
//! as nothing is stored), then the owner's, then the writer's again.

use super::derived::{base, loc, plain, writes};
use crate::ir::{AcceptWhen, Conflict, Constraint, Estate, Expr, Hl7Path};
use crate::ir::{Interface, Mapping, Schema, Stmt, Target, Type};
use accord_runtime::spec;

/// One side of a case: a test whose message reaches an interface whose chain writes the
/// field.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// The baseline test.
    pub test: usize,
    /// Where the test gives its message (the interface the scenario sends it to).
    pub service: String,
    /// The HL7 path the field is read from (no `[where ...]`: the tool changes it).
    pub path: String,
    /// The HL7 path the record's key is read from.
    pub key_path: String,
    /// Whether the key path can be changed in place.
    pub key_plain: bool,
    /// The chain's mapping is `-> partial`: it cannot create the record.
    pub partial: bool,
}

/// What the writer's message must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    KeepsOwner,
    TakesWriter,
    Dead,
    Review,
}

/// One derived case.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteCase {
    pub record: String,
    pub field: String,
    /// The case in words: `Patient.family_name written by mpi after trakcare: owner_wins`.
    pub name: String,
    pub owner: Side,
    pub writer: Side,
    pub outcome: Outcome,
    /// How the trace words the decision the row's rule makes.
    pub says: String,
    /// The values the owner and the writer send (within the field's length).
    pub owner_value: String,
    pub writer_value: String,
    /// The matrix row that prescribes the outcome.
    pub at: String,
}

/// The cases of `ir`: one per matrix row, accepted writer and pair of baselines (the
/// first test found for each side).
pub fn derive(ir: &Estate) -> Vec<WriteCase> {
    let sides = sides(ir);
    let mut out = vec![];
    for row in &ir.ownership {
        if row.field.contains('.') || row.ordered_by.is_some() || row.lock_from.is_some() {
            continue;
        }
        let Some(record) = ir.records.iter().find(|r| r.name == row.record) else {
            continue;
        };
        let Some(field) = record.fields.iter().find(|f| f.name == row.field) else {
            continue;
        };
        let key = field.constraints.contains(&Constraint::Key);
        if key || !matches!(base(&field.ty), Type::Text | Type::Identifier) {
            continue;
        }
        let Some(len) = length(&field.constraints) else {
            continue;
        };
        let (outcome, rule) = match &row.conflict {
            Conflict::OwnerWins => (Outcome::KeepsOwner, spec::Conflict::OwnerWins),
            Conflict::Newest => (Outcome::TakesWriter, spec::Conflict::Newest),
            Conflict::Reject => (Outcome::Dead, spec::Conflict::Reject),
            Conflict::Review { queue } => (
                Outcome::Review,
                spec::Conflict::Review {
                    queue: queue.clone(),
                },
            ),
        };
        let says = accord_runtime::steward::settled(&rule).to_string();
        let of = |system: &str| {
            sides
                .iter()
                .find(|(r, f, s, _)| *r == row.record && *f == row.field && s == system)
                .map(|(_, _, _, side)| side.clone())
        };
        let Some(owner) = of(&row.owner) else {
            continue;
        };
        for accepted in &row.accept {
            if !matches!(accepted.when, None | Some(AcceptWhen::Absent)) {
                continue;
            }
            let Some(writer) = of(&accepted.system) else {
                continue;
            };
            // Two partial mappings: nothing creates the record.
            if owner.partial && writer.partial {
                continue;
            }
            let rule = match &row.conflict {
                Conflict::OwnerWins => "owner_wins",
                Conflict::Newest => "newest",
                Conflict::Reject => "reject",
                Conflict::Review { .. } => "review",
            };
            out.push(WriteCase {
                record: row.record.clone(),
                field: row.field.clone(),
                name: format!(
                    "{}.{} written by {} after {}: {rule}",
                    row.record, row.field, accepted.system, row.owner
                ),
                owner: owner.clone(),
                writer,
                outcome,
                says: says.clone(),
                owner_value: "O".repeat(len),
                writer_value: "W".repeat(len),
                at: loc(&row.loc),
            });
        }
    }
    out
}

/// (record, field, system, side) for every test that reaches a chain writing a field of
/// a stored record straight from one HL7 path.
fn sides(ir: &Estate) -> Vec<(String, String, String, Side)> {
    let mut out: Vec<(String, String, String, Side)> = vec![];
    for (i, t) in ir.tests.iter().enumerate() {
        let Some(at) = t.given.first().and_then(|g| g.at.as_deref()) else {
            continue;
        };
        let Some(service) = ir.interfaces.iter().find(|x| x.name == at) else {
            continue;
        };
        for iface in chains_reached(ir, service) {
            let Some(m) = iface
                .transforms
                .first()
                .and_then(|f| ir.mappings.iter().find(|m| &m.name == f))
            else {
                continue;
            };
            let (Schema::Hl7 { .. }, Schema::Record { record }) = (&m.source, &m.target) else {
                continue;
            };
            let Some(key) = key_read(ir, record, m) else {
                continue;
            };
            for (field, path) in straight_reads(m) {
                let seen = out
                    .iter()
                    .any(|(r, f, s, _)| r == record && *f == field && *s == iface.from);
                if seen {
                    continue;
                }
                out.push((
                    record.clone(),
                    field,
                    iface.from.clone(),
                    Side {
                        test: i,
                        service: service.name.clone(),
                        path: path.text.clone(),
                        key_path: key.text.clone(),
                        key_plain: plain(key),
                        partial: m.partial,
                    },
                ));
            }
        }
    }
    out
}

/// The interfaces whose chain a message received on `service` runs: the targets of the
/// routes reading it, or the service itself when it maps what it receives (a store-only
/// feed).
fn chains_reached<'e>(ir: &'e Estate, service: &'e Interface) -> Vec<&'e Interface> {
    let mut out: Vec<&Interface> = vec![];
    for r in ir.routes.iter().filter(|r| r.from == service.name) {
        for rule in &r.rules {
            for t in &rule.targets {
                if let crate::ir::RouteTarget::Interface(n) = t {
                    if let Some(i) = ir.interfaces.iter().find(|i| &i.name == n) {
                        if !out.iter().any(|o| o.name == i.name) {
                            out.push(i);
                        }
                    }
                }
            }
        }
    }
    let routed = ir.routes.iter().any(|r| r.from == service.name);
    if !routed && !service.transforms.is_empty() {
        out.push(service);
    }
    out
}

/// The one HL7 path `m` reads its record's single key from.
fn key_read<'m>(ir: &Estate, record: &str, m: &'m Mapping) -> Option<&'m Hl7Path> {
    let r = ir.records.iter().find(|r| r.name == record)?;
    let keys: Vec<&str> = r
        .fields
        .iter()
        .filter(|f| f.constraints.contains(&Constraint::Key))
        .map(|f| f.name.as_str())
        .collect();
    let [key] = keys.as_slice() else {
        return None;
    };
    m.body.iter().find_map(|s| match s {
        Stmt::Assign {
            target: Target::Field { path },
            values,
            ..
        } if path.len() == 1 && path[0].name == *key => match values.as_slice() {
            [Expr::Hl7 { path }] => Some(path),
            _ => None,
        },
        _ => None,
    })
}

/// Top-level fields `m` writes straight from one plain HL7 path, once.
fn straight_reads(m: &Mapping) -> Vec<(String, &Hl7Path)> {
    let mut out = vec![];
    for s in &m.body {
        let Stmt::Assign {
            target: Target::Field { path },
            values,
            ..
        } = s
        else {
            continue;
        };
        let ([step], [Expr::Hl7 { path: p }]) = (path.as_slice(), values.as_slice()) else {
            continue;
        };
        if plain(p) && writes(&m.body, &step.name) == 1 {
            out.push((step.name.clone(), p));
        }
    }
    out
}

/// The length of the values the case sends: 6, within the field's `length`; `None` when
/// another constraint (pattern, range, check) could refuse a made-up value.
fn length(constraints: &[Constraint]) -> Option<usize> {
    let mut len = 6usize;
    for c in constraints {
        match c {
            Constraint::Length { min, max } => {
                if let Some(min) = min {
                    len = len.max(*min as usize);
                }
                if let Some(max) = max {
                    len = len.min(*max as usize);
                }
            }
            Constraint::Unique | Constraint::Key => {}
            _ => return None,
        }
    }
    (len > 0).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use crate::{compile, Options, SourceMap};

    const ESTATE: &str = r#"estate "x" version 1.0.0
system pas {
  name: "PAS"
}
system mpi {
  name: "MPI"
}
system hub {
  name: "Hub"
  role: engine
}
record P {
  mrn: Identifier key
  family: Text length 1..4
  phone: Text?
  postcode: Text? pattern "^[A-Z]+$"
  stage: Text?
}
ownership P stages [a b] from stage {
  mrn: owner pas
  family: owner pas; accept mpi; conflict owner_wins
  phone: owner mpi; accept pas when absent; conflict review "q"
  postcode: owner pas; accept mpi; conflict newest
  stage: owner pas; accept mpi when stage before b; conflict newest
}
mapping pas_to_p: hl7v2 2.5 ADT^A01 -> P {
  mrn <- PID-3.1
  family <- PID-5.1
  phone <- PID-13.1
  postcode <- PID-11.5
  stage <- PV1-2
}
mapping mpi_to_p: hl7v2 2.5 ADT^A31 -> partial P {
  mrn <- PID-3[where 5 = "MR"].1
  family <- PID-5.1
  phone <- PID-13.1
  postcode <- PID-11.5
  stage <- PV1-2
}
interface pas_in version 1.0.0 {
  purpose: "In"
  owner: "Team"
  review: 2099-01-01
  status: active
  from pas to hub
  pattern: event
  messages: ADT^A01
  transform: pas_to_p
  ack: commit
}
interface mpi_in version 1.0.0 {
  purpose: "In"
  owner: "Team"
  review: 2099-01-01
  status: active
  from mpi to hub
  pattern: event
  messages: ADT^A31
  transform: mpi_to_p
  ack: commit
}
test "an admission" {
  given hl7 "MSH|^~\\&|PAS|H|HUB|H|20260101||ADT^A01|1|P|2.5\rPID|1||1^^^^MR||X" at pas_in
  expect pas_to_p.family == "X"
}
test "an MPI update" {
  given hl7 "MSH|^~\\&|MPI|H|HUB|H|20260101||ADT^A31|1|P|2.5\rPID|1||1^^^^MR||X" at mpi_in
  expect mpi_to_p.family == "X"
}
"#;

    #[test]
    fn each_accepted_writer_of_a_row_the_contract_decides_gives_a_case() {
        let mut sources = SourceMap::new();
        sources.add("main.accord".to_string(), ESTATE.to_string());
        let ir = compile(&sources, &Options::default()).ir.expect("compiles");
        let cases = super::derive(&ir);
        let got: Vec<(&str, Outcome, &str, &str, bool)> = cases
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.outcome,
                    c.owner.service.as_str(),
                    c.writer.service.as_str(),
                    c.owner.partial,
                )
            })
            .collect();
        // The postcode has a pattern (a made-up value could break it) and the stage a
        // stage condition: no case. The MPI's key is read through `[where ...]`.
        assert_eq!(
            got,
            [
                (
                    "P.family written by mpi after pas: owner_wins",
                    Outcome::KeepsOwner,
                    "pas_in",
                    "mpi_in",
                    false
                ),
                (
                    "P.phone written by pas after mpi: review",
                    Outcome::Review,
                    "mpi_in",
                    "pas_in",
                    true
                ),
            ]
        );
        // Values within the field's `length 1..4`.
        assert_eq!(cases[0].owner_value, "OOOO");
        assert_eq!(cases[0].writer_value, "WWWW");
        // The PAS's key can be set to the MPI's patient; the MPI's cannot be changed.
        assert!(cases[1].writer.key_plain && cases[1].writer.key_path == "PID-3.1");
        assert!(!cases[0].writer.key_plain, "{:?}", cases[0].writer);
        assert_eq!(
            cases[1].says,
            "sent the message for review (conflict review)"
        );
    }
}
