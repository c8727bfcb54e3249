//! What the FHIR facades read and write in storage: a stored record's fields, the FHIR id
//! and change number of each stored record (`record_ids`), a page of a record type's keys,
//! the search index (`record_terms`, and each scope's mark in `meta`), and the access
//! audit.

use super::db::{params, Db, DbResult, Dialect, OptionalExtension};

/// The fields of stored `record` `key`: name, JSON value, when it was last written.
pub fn record_fields(c: &Db, record: &str, key: &str) -> DbResult<Vec<(String, String, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT field, value, updated_at FROM records WHERE record = ?1 AND key = ?2",
    )?;
    let rows = st.query_map(params![record, key], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    rows.collect()
}

/// The key and change number of the stored `record` whose FHIR id is `id`.
pub fn id_row(c: &Db, record: &str, id: &str) -> DbResult<Option<(String, i64)>> {
    c.prepare_cached("SELECT key, version FROM record_ids WHERE record = ?1 AND id = ?2")?
        .query_row(params![record, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// At most `limit` keys of stored `record`s in FHIR id order, after the first `offset`.
pub fn record_keys(c: &Db, record: &str, limit: i64, offset: i64) -> DbResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT key FROM record_ids WHERE record = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
    )?;
    let rows = st.query_map(params![record, limit, offset], |r| r.get(0))?;
    rows.collect()
}

/// An access of a facade: who, what (`interface: action`), and the answer.
pub fn access_audit(c: &Db, at: i64, who: &str, action: &str, detail: &str) -> DbResult<()> {
    c.execute(
        "INSERT INTO audit (at, actor, action, messages, detail) VALUES (?1, ?2, ?3, '', ?4)",
        params![at, who, action, detail],
    )?;
    Ok(())
}

/// The change number a search scope's terms are complete up to (0: none yet).
pub fn terms_mark(c: &Db, scope: &str) -> DbResult<i64> {
    Ok(
        c.prepare_cached("SELECT CAST(value AS BIGINT) FROM meta WHERE key = ?1")?
            .query_row([format!("terms:{scope}")], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
    )
}

/// The next `limit` changes of any stored record after change number `from`, in order:
/// (record, FHIR id, key, change number).
pub fn changes_since(
    c: &Db,
    from: i64,
    limit: i64,
) -> DbResult<Vec<(String, String, String, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT record, id, key, version FROM record_ids WHERE version > ?1
         ORDER BY version LIMIT ?2",
    )?;
    let rows = st.query_map(params![from, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    rows.collect()
}

/// Stores the terms of `changed` (id, change number, terms) in `scope` and moves the
/// scope's mark to `upto`. A record that changed again since keeps its old terms: its
/// new change number is past the mark, so the next catch-up takes it.
pub fn store_terms(
    c: &Db,
    scope: &str,
    record: &str,
    changed: &[(String, i64, Vec<String>)],
    upto: i64,
) -> DbResult<()> {
    for (id, version, terms) in changed {
        let unchanged = c
            .prepare_cached(
                "SELECT 1 FROM record_ids WHERE record = ?1 AND id = ?2 AND version = ?3",
            )?
            .exists(params![record, id, version])?;
        if !unchanged {
            continue;
        }
        c.prepare_cached("DELETE FROM record_terms WHERE scope = ?1 AND id = ?2")?
            .execute(params![scope, id])?;
        for term in terms {
            c.prepare_cached(
                "INSERT INTO record_terms (scope, term, id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )?
            .execute(params![scope, term, id])?;
        }
    }
    // The larger of the two: SQLite's two-argument MAX is PostgreSQL's GREATEST.
    c.prepare_cached(match c.dialect() {
        Dialect::Sqlite => {
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET
               value = CAST(MAX(CAST(meta.value AS BIGINT), CAST(excluded.value AS BIGINT)) AS TEXT)"
        }
        Dialect::Postgres => {
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET
               value = CAST(GREATEST(CAST(meta.value AS BIGINT), CAST(excluded.value AS BIGINT)) AS TEXT)"
        }
    })?
    .execute(params![format!("terms:{scope}"), upto.to_string()])?;
    Ok(())
}

/// The ids of `scope`'s resources found by `term`.
pub fn found(c: &Db, scope: &str, term: &str) -> DbResult<Vec<String>> {
    let mut st = c.prepare_cached("SELECT id FROM record_terms WHERE scope = ?1 AND term = ?2")?;
    let rows = st.query_map(params![scope, term], |r| r.get(0))?;
    rows.collect()
}
