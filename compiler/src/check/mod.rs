//! Semantic checks over the resolved [`Model`]. Each submodule owns one area and pushes
//! diagnostics into the shared [`Checker`]; none stops at the first error. Facts that one
//! area computes for another (what each mapping reads and writes) are returned, not stored.

mod ackbudget;
mod api;
mod clears;
mod codemaps;
mod endpoints;
mod exprs;
pub mod fhirpaths;
mod flows;
pub mod hl7paths;
mod interfaces;
mod mappings;
mod merges;
mod outbound;
mod ownership;
mod profiles;
mod records;
mod routes;
mod scenarios;
mod splits;
mod tests;

pub use flows::cancel_values;
pub use mappings::{MappingFacts, SchemaTy};

use crate::diagnostics as diag;
use crate::model::{Kind, Model};
use crate::suggest::did_you_mean;
use crate::types::{Ty, TyName};
use crate::Options;
use accord_dsl::ast::Ident;
use accord_dsl::{Diagnostic, Span};
use std::collections::BTreeMap;

pub struct Checker<'m, 'a> {
    pub m: &'m Model<'a>,
    pub opts: &'m Options,
    pub diags: Vec<Diagnostic>,
    /// What the checker made of each path whose meaning depends on types (see
    /// [`Resolution`]), by the path's span: lowering reads it instead of typing again.
    pub resolved: BTreeMap<Span, Resolution>,
}

/// What a name in an expression turned out to be, where only its types tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// A code of a codeset: written out (`Sex.male`), or bare where the value it is
    /// compared with or expected of is of that codeset (`sex == male`).
    Code { codeset: usize, code: String },
    /// The record each element of a `for each` over a list of records is.
    Element(usize),
}

/// What the checks learned that lowering needs too.
pub struct Facts {
    pub mappings: Vec<MappingFacts>,
    pub resolved: BTreeMap<Span, Resolution>,
}

pub fn check(m: &Model, opts: &Options) -> (Vec<Diagnostic>, Facts) {
    let mut c = Checker {
        m,
        opts,
        diags: vec![],
        resolved: BTreeMap::new(),
    };
    records::check(&mut c);
    codemaps::check(&mut c);
    endpoints::check(&mut c);
    profiles::check(&mut c);
    let facts = mappings::check(&mut c);
    clears::check(&mut c, &facts);
    ownership::check(&mut c, &facts);
    interfaces::check(&mut c, &facts);
    merges::check(&mut c);
    splits::check(&mut c);
    outbound::check(&mut c);
    routes::check(&mut c);
    ackbudget::check(&mut c);
    flows::check(&mut c);
    tests::check(&mut c);
    scenarios::check(&mut c);
    (
        c.diags,
        Facts {
            mappings: facts,
            resolved: c.resolved,
        },
    )
}

impl Checker<'_, '_> {
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The id of `ident` as a `kind`, or a diagnostic saying what it is instead.
    pub fn lookup(&mut self, ident: &Ident, kind: Kind) -> Option<usize> {
        self.lookup_any(ident, &[kind]).map(|(_, id)| id)
    }

    /// Like `lookup`, accepting any of `kinds`.
    pub fn lookup_any(&mut self, ident: &Ident, kinds: &[Kind]) -> Option<(Kind, usize)> {
        match self.m.names.get(ident.name.as_str()) {
            Some(&(k, id)) if kinds.contains(&k) => Some((k, id)),
            found => {
                let mut candidates = vec![];
                for k in kinds {
                    candidates.extend(self.m.names_of(*k));
                }
                let d = diag::unknown_name(
                    ident,
                    kinds[0],
                    found.map(|f| f.0),
                    did_you_mean(&ident.name, candidates),
                );
                self.push(d);
                None
            }
        }
    }

    pub fn ty_name(&self, ty: &Ty) -> String {
        let codesets = |i: usize| {
            self.m
                .codesets
                .decls
                .get(i)
                .map(|d| d.name.name.clone())
                .unwrap_or_default()
        };
        let records = |i: usize| {
            self.m
                .records
                .decls
                .get(i)
                .map(|d| d.name.name.clone())
                .unwrap_or_default()
        };
        TyName {
            ty,
            codesets: &codesets,
            records: &records,
        }
        .to_string()
    }

    pub fn record_name(&self, id: usize) -> &str {
        &self.m.records.get(id).name.name
    }
}
