//! What the facade reads of the journal: stored records (the matrix's copies) by key or
//! FHIR id, made into resources by the interface's mapping, with their version and when
//! they last changed; on pooled read connections, off the async threads.

use super::error::FacadeError;
use super::{index, Facade};
use crate::journal::db::Db;
use accord_runtime::spec::Served;
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs `go` on one of the facade's read connections to the journal (opened if none is
/// free, kept for the next request).
pub(super) fn with_reader<T>(
    f: &Facade,
    go: impl FnOnce(&Db) -> Result<T, FacadeError>,
) -> Result<T, FacadeError> {
    let pooled = f.readers.lock().ok().and_then(|mut r| r.pop());
    let c = match pooled {
        Some(c) => c,
        None => crate::journal::open_read(&f.engine.config.journal)?,
    };
    let out = go(&c.db());
    // A connection the journal failed on is not kept (the server may have closed it).
    if !matches!(out, Err(FacadeError::Journal(_))) {
        if let Ok(mut r) = f.readers.lock() {
            r.push(c);
        }
    }
    out
}

/// A stored record as JSON from its (field, value) rows: the matrix stores the governed
/// fields, and the key fields are the row's key.
pub(super) fn record_from(served: &Served, key: &str, fields: Vec<(String, String)>) -> Value {
    let mut rec = json!({});
    for (field, value) in fields {
        let value: Value = serde_json::from_str(&value).unwrap_or(Value::Null);
        accord_runtime::steward::set_path(&mut rec, &field, value);
    }
    for (field, part) in served.keys.iter().zip(key.split('|')) {
        if accord_runtime::steward::get_path(&rec, field).is_null() {
            accord_runtime::steward::set_path(&mut rec, field, Value::String(part.to_string()));
        }
    }
    rec
}

/// A stored record as JSON, and when it last changed (ms).
pub(super) struct StoredRecord {
    value: Value,
    updated_at: i64,
}

/// The stored record of `served` whose key is `key`, if any field of it is stored.
pub(super) fn stored_record(
    c: &Db,
    served: &Served,
    key: &str,
) -> Result<Option<StoredRecord>, FacadeError> {
    let fields = crate::journal::facade::record_fields(c, &served.record, key)?;
    if fields.is_empty() {
        return Ok(None);
    }
    let updated_at = fields.iter().map(|f| f.2).max().unwrap_or(0);
    let fields = fields.into_iter().map(|(f, v, _)| (f, v)).collect();
    Ok(Some(StoredRecord {
        value: record_from(served, key, fields),
        updated_at,
    }))
}

/// The key and change number of the stored record `record` whose FHIR id is `id`.
pub(super) fn id_row(c: &Db, record: &str, id: &str) -> Result<Option<(String, i64)>, FacadeError> {
    Ok(crate::journal::facade::id_row(c, record, id)?)
}

/// The change number of the stored record `record` whose FHIR id is `id`.
pub(super) fn version_of(c: &Db, record: &str, id: &str) -> Result<Option<i64>, FacadeError> {
    Ok(id_row(c, record, id)?.map(|(_, version)| version))
}

/// The key of the stored record of `served` whose FHIR id is `id` (`record_ids`).
pub(super) fn key_of_id(c: &Db, served: &Served, id: &str) -> Result<Option<String>, FacadeError> {
    Ok(id_row(c, &served.record, id)?.map(|(key, _)| key))
}

/// The resource the interface's mapping makes of `rec`; `None` when it makes none (or
/// cannot: said in the log, and the record left out).
pub(super) fn serve_record(
    f: &Facade,
    served: &Served,
    rec: &Value,
) -> Result<Option<Value>, FacadeError> {
    match (f.engine.functions.serve)(&f.interface.name, &served.resource, rec) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| FacadeError::Resource(e.to_string())),
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::warn!(interface = %f.interface.name, error = %e, "a stored record gives no resource");
            Ok(None)
        }
    }
}

/// The resource made of the stored record `key` of `served`, without its `meta` (what
/// the search index works its terms out from).
pub(super) fn bare_resource(
    f: &Facade,
    c: &Db,
    served: &Served,
    key: &str,
) -> Result<Option<Value>, FacadeError> {
    match stored_record(c, served, key)? {
        Some(stored) => serve_record(f, served, &stored.value),
        None => Ok(None),
    }
}

/// The resource made of the stored record `key` of `served`, its `meta` giving the
/// record's change number as `versionId` and when it last changed as `lastUpdated`.
pub(super) fn fhir_record(
    f: &Facade,
    c: &Db,
    served: &Served,
    key: &str,
) -> Result<Option<Value>, FacadeError> {
    let Some(stored) = stored_record(c, served, key)? else {
        return Ok(None);
    };
    let Some(mut resource) = serve_record(f, served, &stored.value)? else {
        return Ok(None);
    };
    if served.resource == "Patient" {
        link_merges(c, served, key, &mut resource)?;
    }
    if let Some(meta) = resource
        .as_object_mut()
        .map(|o| o.entry("meta").or_insert_with(|| json!({})))
    {
        let id = accord_runtime::fhir::write::id_of_key(&served.record, key);
        if let Some(version) = version_of(c, &served.record, &id)? {
            meta["versionId"] = json!(version.to_string());
        }
        if let Some(at) = instant(stored.updated_at) {
            meta["lastUpdated"] = json!(at);
        }
    }
    Ok(Some(resource))
}

/// A merged or linked patient's links (`Patient.link`): a retired record is `replaced-by`
/// its survivor and no longer `active`; a survivor `replaces` each record merged into it;
/// two records an ADT^A24 linked (`link:`) are each other's `seealso`.
fn link_merges(
    c: &Db,
    served: &Served,
    key: &str,
    resource: &mut Value,
) -> Result<(), FacadeError> {
    use crate::journal::records::{linked, merged_into, retired_into};
    let reference = |key: &str| json!({ "reference": format!("Patient/{}", accord_runtime::fhir::write::id_of_key(&served.record, key)) });
    let mut links = vec![];
    let survivor = merged_into(c, &served.record, key)?;
    if let Some(survivor) = &survivor {
        links.push(json!({ "other": reference(survivor), "type": "replaced-by" }));
    }
    for retired in retired_into(c, &served.record, key)? {
        links.push(json!({ "other": reference(&retired), "type": "replaces" }));
    }
    for other in linked(c, &served.record, key)? {
        links.push(json!({ "other": reference(&other), "type": "seealso" }));
    }
    let Some(o) = resource.as_object_mut() else {
        return Ok(());
    };
    if survivor.is_some() {
        o.insert("active".into(), json!(false));
    }
    if !links.is_empty() {
        o.insert("link".into(), Value::Array(links));
    }
    Ok(())
}

/// Milliseconds since the epoch as a FHIR instant (UTC).
pub(super) fn instant(ms: i64) -> Option<String> {
    let t = jiff::Timestamp::from_millisecond(ms).ok()?;
    Some(t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// The weak ETag of a resource's version: `W/"N"`.
pub(super) fn etag(resource: &Value) -> Option<String> {
    resource["meta"]["versionId"]
        .as_str()
        .map(|v| format!("W/\"{v}\""))
}

/// The resource made of the stored record of `served` whose id is `id` (found through
/// `record_ids`), as JSON.
pub(super) fn resources(f: &Facade, served: &Served, id: &str) -> Result<Vec<Value>, FacadeError> {
    with_reader(f, |c| {
        let Some(key) = key_of_id(c, served, id)? else {
            return Ok(vec![]);
        };
        Ok(fhir_record(f, c, served, &key)?.into_iter().collect())
    })
}

/// The resources a search by the indexed `term` can match: the scope's index is brought
/// up to date first (so it misses no change committed before the search), then the
/// resources it finds by `term` are served.
pub(super) async fn indexed(
    f: &Arc<Facade>,
    served: Served,
    term: String,
) -> Result<Vec<Value>, FacadeError> {
    index::catch_up(f, &served).await?;
    let scope = index::scope(f, &served);
    let f = f.clone();
    tokio::task::spawn_blocking(move || {
        with_reader(&f, |c| {
            let mut out = vec![];
            for id in index::found(c, &scope, &term)? {
                if let Some(key) = key_of_id(c, &served, &id)? {
                    out.extend(fhir_record(&f, c, &served, &key)?);
                }
            }
            Ok(out)
        })
    })
    .await?
}

/// [`resources`] off the async threads (it reads the journal).
pub(super) async fn load(
    f: &Arc<Facade>,
    served: Served,
    id: String,
) -> Result<Vec<Value>, FacadeError> {
    let f = f.clone();
    tokio::task::spawn_blocking(move || resources(&f, &served, &id)).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_instants_and_weak_etags() {
        assert_eq!(
            instant(1_764_583_200_123).as_deref(),
            Some("2025-12-01T10:00:00.123Z")
        );
        let r = json!({ "meta": { "versionId": "42" } });
        assert_eq!(etag(&r).as_deref(), Some("W/\"42\""));
    }

    #[test]
    fn a_merged_patient_is_replaced_by_its_survivor_and_linked_ones_are_seealso() {
        use crate::journal::records::{store_merge, Merge};
        let (dir, _, c) = crate::journal::scratch("facade-links");
        let merge = Merge {
            record: "Patient".into(),
            retired: "P1".into(),
            survivor: "P2".into(),
        };
        store_merge(&c, &merge, 1, 0).unwrap();
        let served = Served {
            resource: "Patient".into(),
            record: "Patient".into(),
            mapping: "patient_to_fhir".into(),
            keys: vec!["mrn".into()],
            patient: None,
        };
        let linked = |key: &str| {
            let mut r = json!({ "resourceType": "Patient", "active": true });
            link_merges(&c, &served, key, &mut r).unwrap();
            r
        };
        let retired = linked("P1");
        assert_eq!(retired["active"], false);
        assert_eq!(
            retired["link"],
            json!([{ "other": { "reference": "Patient/patient-P2" }, "type": "replaced-by" }])
        );
        let survivor = linked("P2");
        assert_eq!(survivor["active"], true);
        assert_eq!(
            survivor["link"],
            json!([{ "other": { "reference": "Patient/patient-P1" }, "type": "replaces" }])
        );
        let unmerged = linked("P3");
        assert!(unmerged.get("link").is_none(), "{unmerged}");

        // An ADT^A24 links P3 and P4, both active: each is the other's `seealso`, until an
        // A37 unlinks them.
        use crate::journal::records::{store_link, Link};
        let mut link = Link {
            record: "Patient".into(),
            first: "P3".into(),
            second: "P4".into(),
            unlink: false,
        };
        store_link(&c, &link, 2, 0).unwrap();
        store_link(&c, &link, 3, 0).unwrap(); // the same A24 again changes nothing
        for (key, other) in [("P3", "P4"), ("P4", "P3")] {
            let r = linked(key);
            assert_eq!(r["active"], true);
            assert_eq!(
                r["link"],
                json!([{ "other": { "reference": format!("Patient/patient-{other}") }, "type": "seealso" }])
            );
        }
        link.unlink = true;
        store_link(&c, &link, 4, 0).unwrap();
        for key in ["P3", "P4"] {
            let r = linked(key);
            assert!(r.get("link").is_none(), "{r}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
