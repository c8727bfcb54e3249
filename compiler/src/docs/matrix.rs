//! The source-of-truth matrix as a grid: for each record, its fields against the estate's
//! systems (owner, accepted writers and their conditions), the conflict rule and locks, and
//! which interfaces really write each field (from their transform chains). Fields that no
//! one owns but an interface writes, and fields that several systems write, are flagged.

use crate::ir::{Estate, Schema, Stmt, Target};
use crate::ir_text::type_text;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize)]
pub struct Grid {
    pub record: String,
    pub docs: String,
    pub stages: Vec<String>,
    pub stage_field: Option<String>,
    pub systems: Vec<String>,
    pub rows: Vec<GridRow>,
    /// Whether any ownership row exists for the record.
    pub governed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GridRow {
    pub field: String,
    pub ty: String,
    pub docs: String,
    /// One per system, in `Grid::systems` order.
    pub cells: Vec<Cell>,
    pub conflict: String,
    pub lock: String,
    pub writers: Vec<Writer>,
    /// Written by some interface, owned by no one.
    pub unowned: bool,
    /// Written by interfaces of more than one system (a key field is carried to match the
    /// record, not written, so it is never contested).
    pub contested: bool,
    pub key: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// `owner`, `accepts` or empty.
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Writer {
    pub system: String,
    pub interfaces: Vec<String>,
}

fn collect_writes(body: &[Stmt], prefix: &str, out: &mut BTreeSet<String>) {
    for s in body {
        match s {
            Stmt::Assign {
                target: Target::Field { path },
                ..
            } => {
                let names: Vec<&str> = path.iter().map(|p| p.name.as_str()).collect();
                // The top-level field and every dotted prefix below it are written.
                for n in 1..=names.len() {
                    out.insert(format!("{prefix}{}", names[..n].join(".")));
                }
            }
            Stmt::Assign { .. } => {}
            Stmt::For { target, body, .. } => {
                if let Target::Field { path } = target {
                    let names: Vec<&str> = path.iter().map(|p| p.name.as_str()).collect();
                    let joined = format!("{prefix}{}", names.join("."));
                    out.insert(joined.clone());
                    collect_writes(body, &format!("{joined}."), out);
                } else {
                    collect_writes(body, prefix, out);
                }
            }
            Stmt::When {
                then, otherwise, ..
            } => {
                collect_writes(then, prefix, out);
                collect_writes(otherwise, prefix, out);
            }
        }
    }
}

/// Record -> field path -> system -> interfaces whose transforms write that field.
pub fn writes(
    estate: &Estate,
) -> BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<String>>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<String>>>> =
        BTreeMap::new();
    for i in &estate.interfaces {
        for m in crate::uses::mappings_of(estate, i) {
            let Schema::Record { record } = &m.target else {
                continue;
            };
            let mut fields = BTreeSet::new();
            collect_writes(&m.body, "", &mut fields);
            for f in fields {
                let list = out
                    .entry(record.clone())
                    .or_default()
                    .entry(f)
                    .or_default()
                    .entry(i.from.clone())
                    .or_default();
                if !list.contains(&i.name) {
                    list.push(i.name.clone());
                }
            }
        }
    }
    out
}

/// One grid per record that has a matrix or that some interface writes.
pub fn grids(estate: &Estate) -> Vec<Grid> {
    let systems: Vec<String> = estate.systems.iter().map(|s| s.name.clone()).collect();
    let written = writes(estate);
    let mut out = vec![];
    for r in &estate.records {
        let rows: Vec<_> = estate
            .ownership
            .iter()
            .filter(|o| o.record == r.name)
            .collect();
        let w = written.get(&r.name);
        if rows.is_empty() && w.is_none() {
            continue;
        }
        let mut grid_rows = vec![];
        for f in &r.fields {
            let own = rows.iter().find(|o| o.field == f.name);
            let key = f.constraints.contains(&crate::ir::Constraint::Key);
            let writers: Vec<Writer> = w
                .and_then(|w| w.get(&f.name))
                .map(|by| {
                    by.iter()
                        .map(|(system, interfaces)| Writer {
                            system: system.clone(),
                            interfaces: interfaces.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let cells = systems
                .iter()
                .map(|s| match own {
                    Some(o) if &o.owner == s => Cell {
                        kind: "owner".into(),
                        text: "owner".into(),
                    },
                    Some(o) => match o.accept.iter().find(|a| &a.system == s) {
                        Some(a) => Cell {
                            kind: "accepts".into(),
                            text: format!("accepts {}", crate::english::accept_when(&a.when))
                                .trim_end()
                                .to_string(),
                        },
                        None => Cell {
                            kind: String::new(),
                            text: String::new(),
                        },
                    },
                    None => Cell {
                        kind: String::new(),
                        text: String::new(),
                    },
                })
                .collect();
            grid_rows.push(GridRow {
                field: f.name.clone(),
                ty: if key {
                    format!("{} (key)", type_text(&f.ty))
                } else {
                    type_text(&f.ty)
                },
                docs: own
                    .map(|o| o.docs.clone())
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| f.docs.clone()),
                cells,
                conflict: own.map(|o| crate::english::conflict(o)).unwrap_or_default(),
                lock: own
                    .and_then(|o| o.lock_from.clone())
                    .map(|s| format!("locked from {s}"))
                    .unwrap_or_default(),
                unowned: own.is_none() && !writers.is_empty() && !key,
                contested: writers.len() > 1 && !key,
                key,
                writers,
            });
        }
        let first = rows.first();
        out.push(Grid {
            record: r.name.clone(),
            docs: r.docs.clone(),
            stages: first.map(|o| o.stages.clone()).unwrap_or_default(),
            stage_field: first.and_then(|o| o.stage_field.clone()),
            systems: systems.clone(),
            rows: grid_rows,
            governed: !rows.is_empty(),
        });
    }
    out
}
