//! A delivered message's field-level lineage, composed from the contract's mappings
//! (`Spec::mappings`, in the interface's chain): for each field the chain's last mapping
//! writes, its value in the message, the expression and contract line that wrote it, and
//! back through the chain the received message's path it came from, with that mapping's
//! line and the value received. Values in patient segments are masked for an operator not
//! granted patient data.

use super::view;
use accord_hl7::{Message, Path};
use accord_runtime::spec::{LineageRow, MappingLineage, Spec};
use serde::Serialize;

/// One output field and where it came from.
#[derive(Debug, Serialize)]
pub struct Traced {
    pub target: String,
    pub value: Option<String>,
    pub expr: String,
    pub at: String,
    pub origins: Vec<Origin>,
}

/// An input the output field was made of: the received message's path (or the record
/// field a chain without an HL7 start read), the line that read it, and its value.
#[derive(Debug, Serialize)]
pub struct Origin {
    pub path: String,
    /// The record fields between, as the chain's mappings name them.
    pub through: Vec<String>,
    pub at: String,
    pub value: Option<String>,
}

/// The lineage of a message delivered on `interface` with `payload`, made from the received
/// message `received`; empty when the interface has no chain of mappings.
pub fn of(
    spec: &Spec,
    interface: &str,
    payload: &[u8],
    received: Option<&[u8]>,
    phi: bool,
) -> Vec<Traced> {
    let Some(i) = spec.interfaces.iter().find(|i| i.name == interface) else {
        return vec![];
    };
    let chain: Vec<&MappingLineage> = i
        .chain
        .iter()
        .filter_map(|n| spec.mappings.iter().find(|m| &m.name == n))
        .collect();
    let Some((last, before)) = chain.split_last() else {
        return vec![];
    };
    let output = Message::parse(payload).ok();
    let input = received.and_then(|r| Message::parse(r).ok());
    last.rows
        .iter()
        .map(|row| Traced {
            target: row.target.clone(),
            value: value_at(output.as_ref(), &row.target, phi),
            expr: row.expr.clone(),
            at: row.at.clone(),
            origins: row
                .sources
                .iter()
                .flat_map(|s| origins(before, s, row, input.as_ref(), phi, vec![]))
                .collect(),
        })
        .collect()
}

/// Where `source`, read by `row` of the mapping after `chain`, came from: through the
/// chain's mappings back to the first one's input.
fn origins(
    chain: &[&MappingLineage],
    source: &str,
    row: &LineageRow,
    input: Option<&Message>,
    phi: bool,
    through: Vec<String>,
) -> Vec<Origin> {
    let Some((previous, earlier)) = chain.split_last() else {
        return vec![Origin {
            path: source.to_string(),
            through,
            at: row.at.clone(),
            value: value_at(input, source, phi),
        }];
    };
    let writers: Vec<&LineageRow> = previous
        .rows
        .iter()
        .filter(|r| r.target == source)
        .collect();
    if writers.is_empty() {
        // Nothing in the chain wrote it: a field the production completed from the
        // stored record (a partial mapping), or a constant.
        return vec![Origin {
            path: source.to_string(),
            through,
            at: row.at.clone(),
            value: None,
        }];
    }
    writers
        .into_iter()
        .flat_map(|w| {
            let mut via = through.clone();
            via.push(source.to_string());
            w.sources
                .iter()
                .flat_map(|s| origins(earlier, s, w, input, phi, via.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The text at HL7 `path` in `msg`, masked in a patient segment unless `phi`.
fn value_at(msg: Option<&Message>, path: &str, phi: bool) -> Option<String> {
    let msg = msg?;
    let parsed = Path::parse(path).ok()?;
    let text = msg.get(&parsed).ok()??.text().ok()?.into_owned();
    if text.is_empty() {
        return None;
    }
    let segment = path.get(..3).unwrap_or(path);
    Some(if !phi && view::is_patient_segment(segment) {
        view::MASK.to_string()
    } else {
        text
    })
}
