//! Name resolution: collect every item of every file into the [`Model`], report duplicate
//! names, missing or duplicate estate headers and imports that name no file, and resolve
//! record field types and codemap types. Never stops at the first error: an unresolved
//! type becomes `Ty::Unknown` and a diagnostic.

use crate::diagnostics as diag;
use crate::model::{Decl, FieldInfo, Kind, Model};
use crate::suggest::did_you_mean;
use crate::types::{Ty, BUILTIN_TYPES};
use accord_dsl::ast::{self, ItemKind, TypeExpr, TypeKind};
use accord_dsl::{Diagnostic, FileId, SourceMap, Span};

pub struct ParsedFile {
    pub id: FileId,
    pub ast: ast::File,
}

pub fn resolve<'a>(sources: &SourceMap, files: &'a [ParsedFile]) -> (Model<'a>, Vec<Diagnostic>) {
    let mut m = Model::default();
    let mut diags = vec![];
    let mut first_def: std::collections::HashMap<&str, Span> = Default::default();

    for f in files {
        for item in &f.ast.items {
            let docs = item.docs.as_slice();
            let span = item.span;
            macro_rules! add {
                ($table:ident, $kind:expr, $node:expr) => {{
                    let node = $node;
                    let name = &node.name;
                    if let Some(prev) = first_def.get(name.name.as_str()) {
                        diags.push(diag::duplicate_definition(name, *prev));
                    } else {
                        first_def.insert(&name.name, name.span);
                        m.names.insert(&name.name, ($kind, m.$table.decls.len()));
                        m.$table.decls.push(Decl {
                            name,
                            node,
                            docs,
                            span,
                        });
                    }
                }};
            }
            match &item.kind {
                ItemKind::Estate(e) => match &m.estate {
                    Some(prev) => diags.push(diag::duplicate_estate(span, prev.2)),
                    None => m.estate = Some((e, docs, span)),
                },
                ItemKind::Import(i) => check_import(sources, f.id, i, &mut diags),
                ItemKind::Environment(e) => add!(environments, Kind::Environment, e),
                ItemKind::System(s) => add!(systems, Kind::System, s),
                ItemKind::Endpoint(e) => add!(endpoints, Kind::Endpoint, e),
                ItemKind::Record(r) => add!(records, Kind::Record, r),
                ItemKind::Codeset(c) => add!(codesets, Kind::Codeset, c),
                ItemKind::Codemap(c) => add!(codemaps, Kind::Codemap, c),
                ItemKind::Profile(p) => add!(profiles, Kind::Profile, p),
                ItemKind::Mapping(mp) => add!(mappings, Kind::Mapping, mp),
                ItemKind::Interface(i) => add!(interfaces, Kind::Interface, i),
                ItemKind::Route(r) => add!(routes, Kind::Route, r),
                ItemKind::Flow(fl) => add!(flows, Kind::Flow, fl),
                ItemKind::Ownership(o) => m.ownerships.push((o, docs, span)),
                ItemKind::Test(t) => m.tests.push((t, docs, span)),
                ItemKind::Scenario(t) => m.scenarios.push((t, docs, span)),
            }
        }
    }
    if let Some(z) = m.estate.and_then(|(e, _, _)| e.timezone.as_ref()) {
        if !accord_runtime::mapping::zone::known(&z.value) {
            let names = accord_runtime::mapping::zone::names();
            diags.push(diag::invalid_value(
                z.span,
                "time zone",
                &z.value,
                &["an IANA zone such as \"Europe/London\""],
                crate::suggest::did_you_mean(&z.value, names.iter().map(String::as_str)),
            ));
        }
    }
    if m.estate.is_none() {
        if let Some(f) = files.first() {
            let span = f
                .ast
                .items
                .first()
                .map(|i| i.span)
                .unwrap_or(Span::new(f.id, 0, 0));
            diags.push(diag::missing_estate(Span {
                end: span.start,
                ..span
            }));
        }
    }

    m.codeset_codes = m
        .codesets
        .decls
        .iter()
        .map(|d| {
            let mut seen: Vec<&ast::CodeEntry> = vec![];
            for e in &d.node.codes {
                if let Some(prev) = seen.iter().find(|p| p.code.value == e.code.value) {
                    diags.push(diag::duplicate_code(&e.code, prev.code.span, &d.name.name));
                } else {
                    seen.push(e);
                }
            }
            seen.iter().map(|e| e.code.value.as_str()).collect()
        })
        .collect();

    let mut record_fields = vec![];
    for d in &m.records.decls {
        let mut fields: Vec<FieldInfo> = vec![];
        for f in &d.node.fields {
            if let Some(prev) = fields.iter().find(|p| p.name == f.name.name) {
                diags.push(diag::duplicate_field(
                    &f.name,
                    prev.decl.name.span,
                    &d.name.name,
                ));
                continue;
            }
            let ty = resolve_type(&m, &f.ty, &mut diags);
            fields.push(FieldInfo {
                name: &f.name.name,
                ty,
                decl: f,
            });
        }
        record_fields.push(fields);
    }
    m.record_fields = record_fields;

    m.codemap_types = m
        .codemaps
        .decls
        .iter()
        .map(|d| {
            (
                resolve_type(&m, &d.node.from, &mut diags),
                resolve_type(&m, &d.node.to, &mut diags),
            )
        })
        .collect();

    (m, diags)
}

/// Resolves a written type. A codeset name stands for `Code<Codeset>`.
pub fn resolve_type(m: &Model, t: &TypeExpr, diags: &mut Vec<Diagnostic>) -> Ty {
    let base = match &t.kind {
        TypeKind::List(inner) => Ty::List(Box::new(resolve_type(m, inner, diags))),
        TypeKind::Code(cs) => match m.id(Kind::Codeset, &cs.name) {
            Some(id) => Ty::Code(id),
            None => {
                diags.push(diag::unknown_name(
                    cs,
                    Kind::Codeset,
                    m.names.get(cs.name.as_str()).map(|x| x.0),
                    did_you_mean(&cs.name, m.names_of(Kind::Codeset)),
                ));
                Ty::Unknown
            }
        },
        TypeKind::Named(n) => {
            if let Some(b) = Ty::builtin(&n.name) {
                b
            } else if let Some(r) = m.id(Kind::Record, &n.name) {
                Ty::Record(r)
            } else if let Some(c) = m.id(Kind::Codeset, &n.name) {
                Ty::Code(c)
            } else {
                let mut candidates: Vec<&str> = BUILTIN_TYPES.to_vec();
                candidates.extend(m.names_of(Kind::Record));
                candidates.extend(m.names_of(Kind::Codeset));
                diags.push(diag::unknown_type(n, did_you_mean(&n.name, candidates)));
                Ty::Unknown
            }
        }
    };
    if t.optional {
        Ty::Optional(Box::new(base))
    } else {
        base
    }
}

fn check_import(
    sources: &SourceMap,
    from: FileId,
    import: &ast::Import,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(name) = import.path.value.strip_prefix(crate::stdlib::PREFIX) {
        match crate::stdlib::library(name) {
            None => diags.push(diag::unknown_std_library(&import.path, name)),
            Some(lib) => {
                let first = crate::stdlib::file_name(lib.name, lib.files[0].0);
                if sources.find(&first).is_none() {
                    diags.push(diag::import_not_found(&import.path, &first));
                }
            }
        }
        return;
    }
    let target = join_relative(&sources.get(from).name, &import.path.value);
    if sources.find(&target).is_none() {
        diags.push(diag::import_not_found(&import.path, &target));
    }
}

/// `dir/a.accord` + `../b.accord` -> `b.accord`, with `/` separators.
pub fn join_relative(from_file: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = from_file.split('/').collect();
    parts.pop();
    for p in rel.split('/') {
        match p {
            "." | "" => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") && !parts.is_empty() {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}
