//! The facade's search index: which served resources a search by `patient` or
//! `identifier` can find, without making a resource of every stored record.
//!
//! Every stored record has a row in `record_ids` (its FHIR id and its change number, the
//! journal's highest when it last changed; see `journal::records::store`). A facade keeps, per
//! interface and resource type (the *scope*), the terms each served resource is found by
//! in `record_terms` and, in `meta`, the change number they are complete up to. A search
//! first brings its scope up to date: the records changed since are made into resources
//! by the interface's mapping (what the index says is always what is served), their terms
//! are stored, and the mark moves on. The index only narrows the search: every resource
//! it finds is still matched against the parameters.
//!
//! Catching up goes [`CHUNK`] records at a time and one caller at a time per facade, so a
//! bulk load does not make every concurrent search serve every new record at once; each
//! facade also catches up in the background, so searches rarely wait for it.

use super::error::FacadeError;
use super::stored::{bare_resource, with_reader};
use super::Facade;
use crate::journal::db::{Db, DbResult};
use crate::journal::facade::{changes_since, found as journal_found, store_terms, terms_mark};
use accord_runtime::spec::Served;
use serde_json::Value;
use std::sync::Arc;

/// How many changed records one catch-up step serves and stores the terms of.
const CHUNK: usize = 512;

/// The scope of a served resource type's terms.
pub(super) fn scope(f: &Facade, served: &Served) -> String {
    format!("{}/{}", f.interface.name, served.resource)
}

/// The terms `resource` is found by: its patient (`patient:ID`; a Patient is its own) and
/// each identifier, with and without its system.
pub(super) fn terms_of(resource: &Value) -> Vec<String> {
    let mut out = vec![];
    if resource["resourceType"] == "Patient" {
        if let Some(id) = resource["id"].as_str() {
            out.push(format!("patient:{id}"));
        }
    }
    for k in ["subject", "patient"] {
        if let Some(p) = resource[k]["reference"]
            .as_str()
            .and_then(|r| r.strip_prefix("Patient/"))
        {
            out.push(format!("patient:{p}"));
        }
    }
    for i in resource["identifier"].as_array().into_iter().flatten() {
        let Some(value) = i["value"].as_str() else {
            continue;
        };
        out.push(format!("identifier:{value}"));
        if let Some(system) = i["system"].as_str() {
            out.push(format!("identifier:{system}|{value}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The term a search parameter looks up, for the parameters the index keeps.
pub(super) fn term_of(param: &str, value: &str) -> Option<String> {
    match param {
        "patient" | "subject" => Some(format!(
            "patient:{}",
            value.strip_prefix("Patient/").unwrap_or(value)
        )),
        // `|value` is any system, as the search matches it.
        "identifier" => Some(match value.split_once('|') {
            Some(("", v)) => format!("identifier:{v}"),
            _ => format!("identifier:{value}"),
        }),
        _ => None,
    }
}

/// The next records of a scope that changed since its terms were last stored, with the
/// terms of the resources the mapping makes of them now.
pub(super) struct Pending {
    /// The change number the scope's terms are complete up to once these are stored.
    pub upto: i64,
    /// (id, change number, terms; none when the mapping makes no resource of it).
    pub changed: Vec<(String, i64, Vec<String>)>,
    /// Whether any change was read (if only of other records, the mark still moves).
    pub moved: bool,
    /// Whether more changes follow these.
    pub more: bool,
}

/// The next [`CHUNK`] changes of any record since the scope's mark (read in one
/// statement, one snapshot; change numbers are distinct, each the highest yet plus one),
/// with the terms of those of `served`'s record.
pub(super) fn pending(f: &Facade, c: &Db, served: &Served) -> Result<Pending, FacadeError> {
    let from = terms_mark(c, &scope(f, served))?;
    let rows = changes_since(c, from, CHUNK as i64)?;
    let more = rows.len() == CHUNK;
    let upto = rows.iter().map(|r| r.3).max().unwrap_or(from);
    let mut changed = vec![];
    for (record, id, key, version) in rows {
        if record != served.record {
            continue;
        }
        let terms = bare_resource(f, c, served, &key)?
            .as_ref()
            .map(terms_of)
            .unwrap_or_default();
        changed.push((id, version, terms));
    }
    Ok(Pending {
        upto,
        changed,
        moved: upto > from,
        more,
    })
}

/// Brings the index of `served` up to date with every record change committed so far,
/// a chunk at a time, one caller at a time per facade.
pub(super) async fn catch_up(f: &Arc<Facade>, served: &Served) -> Result<(), FacadeError> {
    let _one = f.indexing.lock().await;
    let scope = scope(f, served);
    loop {
        let chunk = {
            let (f, served) = (f.clone(), served.clone());
            tokio::task::spawn_blocking(move || with_reader(&f, |c| pending(&f, c, &served)))
                .await??
        };
        let more = chunk.more;
        if !chunk.moved {
            return Ok(());
        }
        let (scope, record) = (scope.clone(), served.record.clone());
        // The index is a cache of what the mapping makes: lost, it is made again.
        f.engine
            .journal
            .write_redoable(move |c| store(c, &scope, &record, &chunk))
            .await?;
        if !more {
            return Ok(());
        }
    }
}

/// Stores the terms of what [`pending`] found and moves the scope's mark to its end
/// (inside the writer's transaction).
pub(super) fn store(c: &Db, scope: &str, record: &str, p: &Pending) -> DbResult<()> {
    store_terms(c, scope, record, &p.changed, p.upto)
}

/// The ids of the scope's resources found by `term`.
pub(super) fn found(c: &Db, scope: &str, term: &str) -> Result<Vec<String>, FacadeError> {
    Ok(journal_found(c, scope, term)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_are_found_by_their_patient_and_identifiers() {
        let allergy = json!({
            "resourceType": "AllergyIntolerance",
            "id": "allergy-1-x",
            "patient": { "reference": "Patient/patient-1" },
            "identifier": [{ "system": "urn:s", "value": "A1" }, { "value": "A2" }]
        });
        assert_eq!(
            terms_of(&allergy),
            [
                "identifier:A1",
                "identifier:A2",
                "identifier:urn:s|A1",
                "patient:patient-1"
            ]
        );
        let patient = json!({ "resourceType": "Patient", "id": "patient-1" });
        assert_eq!(terms_of(&patient), ["patient:patient-1"]);
        for (param, value) in [
            ("patient", "Patient/patient-1"),
            ("subject", "patient-1"),
            ("identifier", "urn:s|A1"),
            ("identifier", "|A2"),
        ] {
            let term = term_of(param, value).unwrap();
            assert!(
                terms_of(&allergy).contains(&term),
                "{param}={value} looks up {term}"
            );
        }
        assert_eq!(term_of("_count", "10"), None);
    }
}
