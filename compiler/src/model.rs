//! The resolved model of an estate: every named item in one namespace with an index per
//! kind, record fields with resolved types, and codeset codes. Built by `resolve`; read
//! by `check` and `lower`. It borrows the syntax trees; it owns no text.

use crate::types::Ty;
use accord_dsl::ast::{self, Ident};
use accord_dsl::Span;
use std::collections::HashMap;

/// The kinds of named items. All share one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Environment,
    System,
    Endpoint,
    Record,
    Codeset,
    Codemap,
    Profile,
    Mapping,
    Interface,
    Route,
    Flow,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Environment => "environment",
            Kind::System => "system",
            Kind::Endpoint => "endpoint",
            Kind::Record => "record",
            Kind::Codeset => "codeset",
            Kind::Codemap => "code map",
            Kind::Profile => "profile",
            Kind::Mapping => "mapping",
            Kind::Interface => "interface",
            Kind::Route => "route",
            Kind::Flow => "flow",
        }
    }
}

/// One declaration: its name, node, doc lines and the span of the whole item.
#[derive(Debug)]
pub struct Decl<'a, T> {
    pub name: &'a Ident,
    pub node: &'a T,
    pub docs: &'a [String],
    pub span: Span,
}

impl<T> Clone for Decl<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Decl<'_, T> {}

/// The declarations of one kind, in source order.
#[derive(Debug)]
pub struct Table<'a, T> {
    pub decls: Vec<Decl<'a, T>>,
}

impl<T> Default for Table<'_, T> {
    fn default() -> Self {
        Table { decls: vec![] }
    }
}

impl<'a, T> Table<'a, T> {
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Decl<'a, T>)> {
        self.decls.iter().enumerate()
    }

    pub fn get(&self, id: usize) -> &Decl<'a, T> {
        &self.decls[id]
    }

    pub fn len(&self) -> usize {
        self.decls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.decls.is_empty()
    }
}

/// A record field with its resolved type.
#[derive(Debug, Clone)]
pub struct FieldInfo<'a> {
    pub name: &'a str,
    pub ty: Ty,
    pub decl: &'a ast::Field,
}

#[derive(Debug, Default)]
pub struct Model<'a> {
    pub estate: Option<(&'a ast::Estate, &'a [String], Span)>,
    pub environments: Table<'a, ast::Environment>,
    pub systems: Table<'a, ast::System>,
    pub endpoints: Table<'a, ast::Endpoint>,
    pub records: Table<'a, ast::Record>,
    pub codesets: Table<'a, ast::Codeset>,
    pub codemaps: Table<'a, ast::Codemap>,
    pub profiles: Table<'a, ast::Profile>,
    pub mappings: Table<'a, ast::Mapping>,
    pub interfaces: Table<'a, ast::Interface>,
    pub routes: Table<'a, ast::Route>,
    pub flows: Table<'a, ast::Flow>,
    pub ownerships: Vec<(&'a ast::Ownership, &'a [String], Span)>,
    pub tests: Vec<(&'a ast::Test, &'a [String], Span)>,
    pub scenarios: Vec<(&'a ast::Scenario, &'a [String], Span)>,
    /// Every named item: name -> (kind, index in its table).
    pub names: HashMap<&'a str, (Kind, usize)>,
    /// Resolved fields per record, indexed like `records`.
    pub record_fields: Vec<Vec<FieldInfo<'a>>>,
    /// Codes per codeset, indexed like `codesets`.
    pub codeset_codes: Vec<Vec<&'a str>>,
    /// Codemap source and target types, indexed like `codemaps`.
    pub codemap_types: Vec<(Ty, Ty)>,
}

impl<'a> Model<'a> {
    /// The id of a name if it is of `kind`.
    pub fn id(&self, kind: Kind, name: &str) -> Option<usize> {
        match self.names.get(name) {
            Some(&(k, id)) if k == kind => Some(id),
            _ => None,
        }
    }

    /// Names of one kind, for "did you mean" suggestions.
    pub fn names_of(&self, kind: Kind) -> Vec<&'a str> {
        let mut v: Vec<&str> = self
            .names
            .iter()
            .filter(|(_, (k, _))| *k == kind)
            .map(|(n, _)| *n)
            .collect();
        v.sort_unstable();
        v
    }

    pub fn field(&self, record: usize, name: &str) -> Option<&FieldInfo<'a>> {
        self.record_fields
            .get(record)?
            .iter()
            .find(|f| f.name == name)
    }

    pub fn has_code(&self, codeset: usize, code: &str) -> bool {
        self.codeset_codes
            .get(codeset)
            .is_some_and(|c| c.contains(&code))
    }

    /// Environments that are production: `kind: production`, or, when no environment
    /// declares a kind, the ones named `prod` or `production`.
    pub fn production_envs(&self) -> Vec<&'a str> {
        let kinded: Vec<&str> = self
            .environments
            .decls
            .iter()
            .filter(|d| {
                d.node
                    .props
                    .iter()
                    .any(|p| p.key.name == "kind" && lit_word(&p.value) == Some("production"))
            })
            .map(|d| d.name.name.as_str())
            .collect();
        if !kinded.is_empty()
            || self
                .environments
                .decls
                .iter()
                .any(|d| d.node.props.iter().any(|p| p.key.name == "kind"))
        {
            return kinded;
        }
        self.environments
            .decls
            .iter()
            .map(|d| d.name.name.as_str())
            .filter(|n| *n == "prod" || *n == "production")
            .collect()
    }
}

/// The text of a literal that is a bare word or a string.
pub fn lit_word(l: &ast::Lit) -> Option<&str> {
    match &l.kind {
        ast::LitKind::Ident(s) => Some(s),
        ast::LitKind::Str(s) => Some(&s.value),
        _ => None,
    }
}
