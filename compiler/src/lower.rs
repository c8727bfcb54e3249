//! Lowering of a checked model to the IR. Runs only when checking found no error, so it
//! may rely on every name resolving; where something is still missing it lowers to a
//! neutral value rather than panicking.

use crate::check::Resolution;
use crate::ir;
use crate::model::{Kind, Model};
use crate::types::Ty;
use accord_dsl::ast::{self, LitKind};
use accord_dsl::{SourceMap, Span};
use std::collections::BTreeMap;

pub fn lower(m: &Model, sources: &SourceMap, resolved: &BTreeMap<Span, Resolution>) -> ir::Estate {
    let l = Lower {
        m,
        sources,
        resolved,
    };
    let (name, version, docs) = match &m.estate {
        Some((e, docs, _)) => (
            e.name.value.clone(),
            e.version.text.clone(),
            join_docs(docs),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    let prod = m.production_envs();
    let mut estate = ir::Estate {
        ir_version: ir::IR_VERSION.to_string(),
        name,
        version,
        docs,
        timezone: m
            .estate
            .and_then(|(e, _, _)| e.timezone.as_ref())
            .map(|z| z.value.clone()),
        environments: m
            .environments
            .decls
            .iter()
            .map(|d| ir::Environment {
                name: d.name.name.clone(),
                production: prod.contains(&d.name.name.as_str()),
                docs: join_docs(d.docs),
            })
            .collect(),
        systems: m
            .systems
            .decls
            .iter()
            .map(|d| ir::System {
                name: d.name.name.clone(),
                docs: join_docs(d.docs),
                properties: d
                    .node
                    .props
                    .iter()
                    .map(|p| (p.key.name.clone(), lit_text(&p.value)))
                    .collect::<BTreeMap<_, _>>(),
                loc: l.loc(d.span),
            })
            .collect(),
        endpoints: m
            .endpoints
            .decls
            .iter()
            .map(|d| l.endpoint(d.node, d.docs, d.span))
            .collect(),
        records: (0..m.records.len()).map(|r| l.record(r)).collect(),
        codesets: m
            .codesets
            .decls
            .iter()
            .map(|d| l.codeset(d.node, d.docs, d.span))
            .collect(),
        codemaps: (0..m.codemaps.len()).map(|c| l.codemap(c)).collect(),
        ownership: l.ownership(),
        profiles: m
            .profiles
            .decls
            .iter()
            .map(|d| l.profile(d.node, d.docs, d.span))
            .collect(),
        mappings: m
            .mappings
            .decls
            .iter()
            .map(|d| l.mapping(d.node, d.docs, d.span))
            .collect(),
        interfaces: m
            .interfaces
            .decls
            .iter()
            .map(|d| l.interface(d.node, d.docs, d.span))
            .collect(),
        routes: m
            .routes
            .decls
            .iter()
            .map(|d| l.route(d.node, d.docs, d.span))
            .collect(),
        flows: m
            .flows
            .decls
            .iter()
            .map(|d| l.flow(d.node, d.docs, d.span))
            .collect(),
        tests: m
            .tests
            .iter()
            .map(|(t, docs, span)| l.test(t, docs, *span))
            .collect(),
        scenarios: m
            .scenarios
            .iter()
            .map(|(t, docs, span)| l.scenario(t, docs, *span))
            .collect(),
    };
    crate::places::resolve(&mut estate);
    estate
}

fn join_docs(docs: &[String]) -> String {
    docs.iter()
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect::<Vec<_>>()
        .join("\n")
}

fn lit_text(l: &ast::Lit) -> String {
    match &l.kind {
        LitKind::Str(s) => s.value.clone(),
        LitKind::Int(i) => i.to_string(),
        LitKind::Decimal(s) | LitKind::Date(s) | LitKind::Semver(s) | LitKind::Ident(s) => {
            s.clone()
        }
        LitKind::Bool(b) => b.to_string(),
        LitKind::Duration(d) => d.text.clone(),
    }
}

struct Lower<'m, 'a> {
    m: &'m Model<'a>,
    sources: &'m SourceMap,
    /// What the checker made of paths only types tell apart (codes, `for each` elements).
    resolved: &'m BTreeMap<Span, Resolution>,
}

impl Lower<'_, '_> {
    fn loc(&self, span: Span) -> ir::Loc {
        let f = self.sources.get(span.file);
        ir::Loc {
            file: f.name.clone(),
            line: f.line_col(span.start as usize).0 as u32,
        }
    }

    fn ty(&self, t: &Ty) -> ir::Type {
        match t {
            Ty::Text => ir::Type::Text,
            Ty::Integer => ir::Type::Integer,
            Ty::Decimal => ir::Type::Decimal,
            Ty::Boolean => ir::Type::Boolean,
            Ty::Date => ir::Type::Date,
            Ty::DateTime => ir::Type::DateTime,
            Ty::Identifier => ir::Type::Identifier,
            Ty::Code(c) => ir::Type::Code {
                codeset: self.m.codesets.get(*c).name.name.clone(),
            },
            Ty::Record(r) => ir::Type::Record {
                record: self.m.records.get(*r).name.name.clone(),
            },
            Ty::List(inner) => ir::Type::List {
                of: Box::new(self.ty(inner)),
            },
            Ty::Optional(inner) => ir::Type::Optional {
                of: Box::new(self.ty(inner)),
            },
            // No record field holds a resource; only expressions do.
            Ty::Resource(_) | Ty::Unknown => ir::Type::Unknown,
        }
    }

    fn endpoint(&self, e: &ast::Endpoint, docs: &[String], span: Span) -> ir::Endpoint {
        let envs: Vec<&str> = self
            .m
            .environments
            .decls
            .iter()
            .map(|d| d.name.name.as_str())
            .collect();
        // An environment without a value of its own or a catch-all one (the checker refused
        // that for production environments) takes it from its configuration file.
        let from_config = |s: &ast::Setting| -> Vec<String> {
            if crate::builtins::TLS_SETTINGS.contains(&s.key.name.as_str())
                || s.values.iter().any(|v| v.env.is_none())
            {
                return vec![];
            }
            envs.iter()
                .filter(|e| {
                    !s.values
                        .iter()
                        .any(|v| v.env.as_ref().is_some_and(|x| x.name == **e))
                })
                .map(|e| e.to_string())
                .collect()
        };
        let settings: Vec<ir::Setting> = e
            .settings
            .iter()
            .map(|s| ir::Setting {
                key: s.key.name.clone(),
                from_config: from_config(s),
                values: s
                    .values
                    .iter()
                    .map(|v| ir::EnvValue {
                        env: v.env.as_ref().map(|e| e.name.clone()),
                        value: match &v.value {
                            ast::SettingValue::Env(n) => ir::SettingValue::Env(n.value.clone()),
                            ast::SettingValue::Secret(n) => {
                                ir::SettingValue::Secret(n.value.clone())
                            }
                            ast::SettingValue::Lit(l) => ir::SettingValue::Literal(lit_text(l)),
                        },
                    })
                    .collect(),
            })
            .collect();
        let transport = settings
            .iter()
            .find(|s| s.key == "transport")
            .and_then(|s| s.values.first())
            .map(|v| match &v.value {
                ir::SettingValue::Literal(t) => t.clone(),
                _ => String::new(),
            })
            .unwrap_or_default();
        ir::Endpoint {
            name: e.name.name.clone(),
            docs: join_docs(docs),
            transport,
            settings: settings
                .into_iter()
                .filter(|s| s.key != "transport")
                .collect(),
            loc: self.loc(span),
        }
    }

    fn record(&self, r: usize) -> ir::Record {
        let d = self.m.records.get(r);
        ir::Record {
            name: d.name.name.clone(),
            docs: join_docs(d.docs),
            fields: self.m.record_fields[r]
                .iter()
                .map(|f| ir::Field {
                    name: f.name.to_string(),
                    docs: join_docs(&f.decl.docs),
                    ty: self.ty(&f.ty),
                    constraints: f.decl.constraints.iter().map(constraint).collect(),
                })
                .collect(),
            loc: self.loc(d.span),
        }
    }

    fn codeset(&self, c: &ast::Codeset, docs: &[String], span: Span) -> ir::Codeset {
        ir::Codeset {
            name: c.name.name.clone(),
            docs: join_docs(docs),
            system: c
                .props
                .iter()
                .find(|(k, _)| k.name == "system")
                .map(|(_, v)| v.value.clone()),
            codes: c
                .codes
                .iter()
                .map(|e| ir::Code {
                    code: e.code.value.clone(),
                    display: e.display.as_ref().map(|d| d.value.clone()),
                })
                .collect(),
            loc: self.loc(span),
        }
    }

    fn codemap(&self, id: usize) -> ir::Codemap {
        let d = self.m.codemaps.get(id);
        let (from, to) = &self.m.codemap_types[id];
        let mut entries = vec![];
        let mut default = ir::CodemapDefault::Reject { message: None };
        for rule in &d.node.rules {
            match rule {
                ast::CodemapRule::Entry(e) => entries.push(ir::CodemapEntry {
                    from: e.sources.iter().map(|s| s.value.clone()).collect(),
                    to: e.target.value.clone(),
                }),
                ast::CodemapRule::Default(def) => {
                    default = match &def.action {
                        ast::DefaultAction::Reject(msg) => ir::CodemapDefault::Reject {
                            message: msg.as_ref().map(|m| m.value.clone()),
                        },
                        ast::DefaultAction::Pass => ir::CodemapDefault::Pass,
                        ast::DefaultAction::Absent => ir::CodemapDefault::Absent,
                        ast::DefaultAction::Value(v) => ir::CodemapDefault::Value {
                            code: v.value.clone(),
                        },
                    }
                }
            }
        }
        ir::Codemap {
            name: d.name.name.clone(),
            docs: join_docs(d.docs),
            from: self.ty(from),
            to: self.ty(to),
            entries,
            default,
            loc: self.loc(d.span),
        }
    }

    fn ownership(&self) -> Vec<ir::OwnershipRow> {
        let mut rows = vec![];
        for (o, _, _) in &self.m.ownerships {
            let stages: Vec<String> = o.stages.iter().map(|s| s.name.clone()).collect();
            for f in &o.fields {
                let mut row = ir::OwnershipRow {
                    record: o.record.name.clone(),
                    field: f
                        .path
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                    docs: join_docs(&f.docs),
                    owner: String::new(),
                    accept: vec![],
                    conflict: ir::Conflict::OwnerWins,
                    ordered_by: None,
                    lock_from: None,
                    stages: stages.clone(),
                    stage_field: o.stage_field.as_ref().map(|f| f.name.clone()),
                    loc: self.loc(f.span),
                };
                for c in &f.clauses {
                    match &c.kind {
                        ast::OwnClauseKind::Owner(o) => {
                            row.owner = o.first().map(|i| i.name.clone()).unwrap_or_default()
                        }
                        ast::OwnClauseKind::Accept { systems, when } => {
                            let when = when.as_ref().map(|w| match w {
                                ast::AcceptCond::Absent => ir::AcceptWhen::Absent,
                                ast::AcceptCond::StageBefore(s) => ir::AcceptWhen::StageBefore {
                                    stage: s.name.clone(),
                                },
                                ast::AcceptCond::StageIn(s) => ir::AcceptWhen::StageIn {
                                    stages: s.iter().map(|i| i.name.clone()).collect(),
                                },
                            });
                            row.accept.extend(systems.iter().map(|s| ir::Accept {
                                system: s.name.clone(),
                                when: when.clone(),
                            }));
                        }
                        ast::OwnClauseKind::Conflict(rule) => {
                            row.conflict = match rule {
                                ast::ConflictRule::Review(q) => ir::Conflict::Review {
                                    queue: q.as_ref().map(|q| q.value.clone()),
                                },
                                ast::ConflictRule::Named(n, by) => {
                                    row.ordered_by = by.as_ref().map(|by| {
                                        by.iter()
                                            .map(|i| i.name.as_str())
                                            .collect::<Vec<_>>()
                                            .join(".")
                                    });
                                    match n.name.as_str() {
                                        "newest" => ir::Conflict::Newest,
                                        "reject" => ir::Conflict::Reject,
                                        "review" => ir::Conflict::Review { queue: None },
                                        _ => ir::Conflict::OwnerWins,
                                    }
                                }
                            }
                        }
                        ast::OwnClauseKind::Lock(s) => row.lock_from = Some(s.name.clone()),
                    }
                }
                rows.push(row);
            }
        }
        rows
    }

    fn profile(&self, p: &ast::Profile, docs: &[String], span: Span) -> ir::Profile {
        let mut rules = vec![];
        let mut segments = vec![];
        for item in &p.items {
            match item {
                ast::ProfileItem::Rule(r) => rules.push(ir::ProfileRule {
                    path: hl7_path(&r.path),
                    usage: r.usage.text.clone(),
                    min: r.card.map(|c| c.min),
                    max: r.card.and_then(|c| c.max),
                    length: r.len,
                    table: r.table.as_ref().map(|t| t.text.clone()),
                }),
                ast::ProfileItem::Segment(s) => segments.push(ir::LocalSegment {
                    id: s.id.text.clone(),
                    docs: join_docs(&s.docs),
                    after: s.after.as_ref().map(|a| a.text.clone()),
                    usage: s.usage.as_ref().map(|u| u.text.clone()),
                    min: s.card.map(|c| c.min),
                    max: s.card.and_then(|c| c.max),
                    fields: s
                        .fields
                        .iter()
                        .map(|z| ir::LocalField {
                            position: z.position,
                            datatype: z.datatype.name.clone(),
                            name: z.name.value.clone(),
                            usage: z.usage.as_ref().map(|u| u.text.clone()),
                            min: z.card.map(|c| c.min),
                            max: z.card.and_then(|c| c.max),
                            length: z.len,
                            table: z.table.as_ref().map(|t| t.text.clone()),
                        })
                        .collect(),
                }),
            }
        }
        ir::Profile {
            name: p.name.name.clone(),
            docs: join_docs(docs),
            version: p.version.text.clone(),
            messages: p.messages.iter().map(|m| m.text.clone()).collect(),
            rules,
            segments,
            loc: self.loc(span),
        }
    }

    fn schema(&self, s: &ast::SchemaRef) -> ir::Schema {
        match &s.kind {
            ast::SchemaKind::Hl7 { version, message } => ir::Schema::Hl7 {
                version: version.text.clone(),
                message: Some(message.text.clone()),
                profile: None,
                structure: None,
            },
            ast::SchemaKind::Hl7Profile(p) => {
                let version = self
                    .m
                    .id(Kind::Profile, &p.name)
                    .map(|id| self.m.profiles.get(id).node.version.text.clone())
                    .unwrap_or_default();
                ir::Schema::Hl7 {
                    version,
                    message: None,
                    profile: Some(p.name.clone()),
                    structure: None,
                }
            }
            ast::SchemaKind::Fhir(r) => ir::Schema::Fhir {
                resource: r.name.clone(),
            },
            ast::SchemaKind::Record(r) => ir::Schema::Record {
                record: r.name.clone(),
            },
        }
    }

    fn mapping(&self, mp: &ast::Mapping, docs: &[String], span: Span) -> ir::Mapping {
        ir::Mapping {
            name: mp.name.name.clone(),
            docs: join_docs(docs),
            source: self.schema(&mp.source),
            target: self.schema(&mp.target),
            partial: mp.partial.is_some(),
            body: self.stmts(&mp.body),
            loc: self.loc(span),
        }
    }

    fn stmts(&self, body: &[ast::MapStmt]) -> Vec<ir::Stmt> {
        body.iter()
            .map(|s| {
                let (docs, loc) = (join_docs(&s.docs), self.loc(s.span));
                match &s.kind {
                    ast::MapStmtKind::Assign {
                        target,
                        values,
                        clear,
                    } => ir::Stmt::Assign {
                        target: map_target(target),
                        values: values.iter().map(|v| self.expr(v)).collect(),
                        clear: clear.is_some(),
                        docs,
                        loc,
                    },
                    ast::MapStmtKind::For {
                        target,
                        source,
                        body,
                        value,
                    } => {
                        let src = match source {
                            ast::IterSource::Segment(t) => ir::IterSource::Segment {
                                segment: t.text.clone(),
                            },
                            ast::IterSource::Group(t) => ir::IterSource::Group {
                                group: t.text.clone(),
                                segments: vec![],
                                leaders: vec![],
                            },
                            ast::IterSource::Repetitions(p) => {
                                ir::IterSource::Repetitions { path: hl7_path(p) }
                            }
                            ast::IterSource::Path(p) => ir::IterSource::Field { path: steps(p) },
                        };
                        ir::Stmt::For {
                            target: map_target(target),
                            source: src,
                            body: self.stmts(body),
                            value: value.as_ref().map(|v| Box::new(self.expr(v))),
                            docs,
                            loc,
                        }
                    }
                    ast::MapStmtKind::When {
                        cond,
                        then,
                        otherwise,
                    } => ir::Stmt::When {
                        cond: self.expr(cond),
                        then: self.stmts(then),
                        otherwise: otherwise
                            .as_ref()
                            .map(|o| self.stmts(o))
                            .unwrap_or_default(),
                        docs,
                        loc,
                    },
                }
            })
            .collect()
    }

    fn expr(&self, e: &ast::Expr) -> ir::Expr {
        match &e.kind {
            ast::ExprKind::Lit(l) => match &l.kind {
                LitKind::Str(s) => ir::Expr::Text {
                    value: s.value.clone(),
                },
                LitKind::Int(i) => ir::Expr::Integer { value: *i },
                LitKind::Decimal(d) => ir::Expr::Decimal { value: d.clone() },
                LitKind::Bool(b) => ir::Expr::Boolean { value: *b },
                LitKind::Date(d) => ir::Expr::Date { value: d.clone() },
                other => ir::Expr::Text {
                    value: lit_text(&ast::Lit {
                        kind: other.clone(),
                        span: l.span,
                    }),
                },
            },
            ast::ExprKind::Hl7(p) => ir::Expr::Hl7 { path: hl7_path(p) },
            ast::ExprKind::Path(p) => match self.resolved.get(&p.span) {
                Some(Resolution::Code { codeset, code }) => ir::Expr::Code {
                    codeset: self.m.codesets.get(*codeset).name.name.clone(),
                    code: code.clone(),
                },
                _ => ir::Expr::Field { path: steps(p) },
            },
            ast::ExprKind::Paren(inner) => self.expr(inner),
            ast::ExprKind::Not(inner) => ir::Expr::Not {
                value: Box::new(self.expr(inner)),
            },
            ast::ExprKind::Absent => ir::Expr::Absent,
            ast::ExprKind::Call { func, args } if func.name == "reference" => {
                let mapping = match args.first().map(|a| &a.kind) {
                    Some(ast::ExprKind::Path(p)) => p.segments[0].name.name.clone(),
                    _ => String::new(),
                };
                ir::Expr::Reference {
                    mapping,
                    keys: args.iter().skip(1).map(|a| self.expr(a)).collect(),
                }
            }
            ast::ExprKind::Call { func, args } if func.name == "lookup" => {
                let (record, field) = match args.first().map(|a| &a.kind) {
                    Some(ast::ExprKind::Path(p)) => (
                        p.segments[0].name.name.clone(),
                        p.segments[1..]
                            .iter()
                            .map(|s| s.name.name.clone())
                            .collect(),
                    ),
                    _ => (String::new(), vec![]),
                };
                ir::Expr::Stored {
                    record,
                    field,
                    keys: args.iter().skip(1).map(|a| self.expr(a)).collect(),
                }
            }
            ast::ExprKind::Call { func, args } => ir::Expr::Call {
                function: func.name.clone(),
                args: args.iter().map(|a| self.expr(a)).collect(),
            },
            ast::ExprKind::Via { expr, map } if self.m.id(Kind::Mapping, &map.name).is_some() => {
                ir::Expr::Apply {
                    mapping: map.name.clone(),
                    value: Box::new(self.expr(expr)),
                }
            }
            ast::ExprKind::Via { expr, map } => ir::Expr::Lookup {
                codemap: map.name.clone(),
                value: Box::new(self.expr(expr)),
            },
            ast::ExprKind::If {
                cond,
                then,
                otherwise,
            } => ir::Expr::If {
                cond: Box::new(self.expr(cond)),
                then: Box::new(self.expr(then)),
                otherwise: Box::new(self.expr(otherwise)),
            },
            ast::ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.expr(lhs), self.expr(rhs));
                ir::Expr::Binary {
                    op: match op {
                        ast::BinOp::Or => ir::BinOp::Or,
                        ast::BinOp::And => ir::BinOp::And,
                        ast::BinOp::Eq => ir::BinOp::Eq,
                        ast::BinOp::Ne => ir::BinOp::Ne,
                        ast::BinOp::Lt => ir::BinOp::Lt,
                        ast::BinOp::Le => ir::BinOp::Le,
                        ast::BinOp::Gt => ir::BinOp::Gt,
                        ast::BinOp::Ge => ir::BinOp::Ge,
                    },
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                }
            }
        }
    }

    fn interface(&self, i: &ast::Interface, docs: &[String], span: Span) -> ir::Interface {
        let mut out = ir::Interface {
            name: i.name.name.clone(),
            version: i.version.text.clone(),
            docs: join_docs(docs),
            purpose: String::new(),
            owner: String::new(),
            review: String::new(),
            status: "active".into(),
            sunset: None,
            clinical_impact: None,
            from: String::new(),
            to: String::new(),
            endpoint: None,
            pattern: String::new(),
            profile: None,
            messages: vec![],
            transforms: vec![],
            serves: vec![],
            accepts: vec![],
            ack: ir::Ack {
                mode: "never".into(),
                timeout_ms: None,
            },
            replies: vec![],
            idempotency: vec![],
            ordering: None,
            ordering_also: vec![],
            sends_only: None,
            sla: vec![],
            retain_ms: None,
            split: None,
            link: None,
            merge: None,
            loc: self.loc(span),
        };
        for c in &i.clauses {
            match &c.kind {
                ast::IfaceClauseKind::Route { from, to, via } => {
                    out.from = from.name.clone();
                    out.to = to.name.clone();
                    out.endpoint = via.as_ref().map(|v| v.name.clone());
                }
                ast::IfaceClauseKind::Messages(ms) => {
                    out.messages = ms.iter().map(|m| m.text.clone()).collect()
                }
                ast::IfaceClauseKind::Ack { mode, within } => {
                    let mode = if mode.name == "immediate" {
                        "commit".to_string()
                    } else {
                        mode.name.clone()
                    };
                    out.ack = ir::Ack {
                        mode,
                        timeout_ms: within.as_ref().map(|d| d.millis),
                    };
                }
                ast::IfaceClauseKind::On {
                    classes,
                    actions,
                    then,
                } => out.replies.push(ir::ReplyPolicy {
                    classes: classes.iter().map(|c| c.text.clone()).collect(),
                    actions: actions.iter().map(action).collect(),
                    then: then.iter().map(action).collect(),
                }),
                ast::IfaceClauseKind::Idempotency(keys) => {
                    out.idempotency = keys.iter().map(key).collect()
                }
                ast::IfaceClauseKind::Ordering(keys) => {
                    out.ordering = keys.first().map(key);
                    out.ordering_also = keys.iter().skip(1).map(key).collect();
                }
                ast::IfaceClauseKind::SendsOnly { record, fields } => {
                    out.sends_only = Some(ir::SendsOnly {
                        record: record.name.clone(),
                        fields: fields.iter().map(|f| f.name.clone()).collect(),
                    })
                }
                ast::IfaceClauseKind::Sla(items) => {
                    out.sla = items
                        .iter()
                        .map(|s| match s {
                            ast::SlaItem::Delivered { percentile, under } => ir::Sla::Delivered {
                                percentile: percentile
                                    .text
                                    .trim_start_matches('p')
                                    .parse()
                                    .unwrap_or(95),
                                under_ms: under.millis,
                            },
                            ast::SlaItem::Backlog(n) => ir::Sla::Backlog { under: *n },
                            ast::SlaItem::Quiet(d) => ir::Sla::Quiet { under_ms: d.millis },
                        })
                        .collect()
                }
                ast::IfaceClauseKind::Status { status, sunset } => {
                    out.status = status.name.clone();
                    out.sunset = sunset.as_ref().map(|s| s.text.clone());
                }
                ast::IfaceClauseKind::Transform(ms) => {
                    out.transforms = ms.iter().map(|m| m.name.clone()).collect()
                }
                ast::IfaceClauseKind::Serves(ms) => {
                    out.serves = ms.iter().map(|m| m.name.clone()).collect()
                }
                ast::IfaceClauseKind::Accepts(ms) => {
                    out.accepts = ms.iter().map(|m| m.name.clone()).collect()
                }
                ast::IfaceClauseKind::Retain(d) => out.retain_ms = Some(d.millis),
                ast::IfaceClauseKind::Split(s) => out.split = Some(s.text.clone()),
                ast::IfaceClauseKind::Link(l) => {
                    out.link = Some(ir::Link {
                        record: l.record.name.clone(),
                        first: hl7_path(&l.first),
                        second: hl7_path(&l.second),
                    })
                }
                ast::IfaceClauseKind::Merge(m) => {
                    out.merge = Some(ir::Merge {
                        record: m.record.name.clone(),
                        retired: hl7_path(&m.retired),
                        survivor: hl7_path(&m.survivor),
                        policy: match &m.policy {
                            ast::MergePolicy::Follow(_) => ir::MergePolicy::Follow,
                            ast::MergePolicy::Hold { queue, .. } => ir::MergePolicy::Hold {
                                queue: queue.as_ref().map(|q| q.value.clone()),
                            },
                        },
                    })
                }
                ast::IfaceClauseKind::Prop(p) => {
                    let v = lit_text(&p.value);
                    match p.key.name.as_str() {
                        "purpose" => out.purpose = v,
                        "owner" => out.owner = v,
                        "review" => out.review = v,
                        "pattern" => out.pattern = v,
                        "profile" => out.profile = Some(v),
                        "clinical_impact" => out.clinical_impact = Some(v),
                        _ => {}
                    }
                }
            }
        }
        out
    }

    fn route(&self, r: &ast::Route, docs: &[String], span: Span) -> ir::Route {
        let target = |t: &ast::Ident| match self.m.names.get(t.name.as_str()) {
            Some((Kind::Route, _)) => ir::RouteTarget::Route(t.name.clone()),
            Some((Kind::Flow, _)) => ir::RouteTarget::Flow(t.name.clone()),
            Some(_) => ir::RouteTarget::Interface(t.name.clone()),
            None => ir::RouteTarget::Discard,
        };
        ir::Route {
            name: r.name.name.clone(),
            docs: join_docs(docs),
            from: r.from.name.clone(),
            rules: r
                .rules
                .iter()
                .map(|rule| match &rule.kind {
                    ast::RouteRuleKind::Otherwise { targets } => ir::RouteRule {
                        messages: vec![],
                        when: None,
                        targets: targets.iter().map(target).collect(),
                        otherwise: true,
                        loc: self.loc(rule.span),
                    },
                    ast::RouteRuleKind::Match {
                        types,
                        when,
                        targets,
                    } => ir::RouteRule {
                        messages: match types {
                            Some(ast::RuleTypes::List(ts)) => {
                                ts.iter().map(|t| t.text.clone()).collect()
                            }
                            _ => vec![],
                        },
                        when: when.as_ref().map(|w| self.expr(w)),
                        targets: targets.iter().map(target).collect(),
                        otherwise: false,
                        loc: self.loc(rule.span),
                    },
                })
                .collect(),
            loc: self.loc(span),
        }
    }

    fn flow(&self, f: &ast::Flow, docs: &[String], span: Span) -> ir::Flow {
        let mut out = ir::Flow {
            name: f.name.name.clone(),
            docs: join_docs(docs),
            start: String::new(),
            correlate: ir::Key::Field {
                record: None,
                path: vec![],
            },
            wait_for: String::new(),
            within_ms: 0,
            on_timeout: vec![],
            on_reply: vec![],
            cancel_when: vec![],
            on_cancel: vec![],
            hold_early_ms: None,
            loc: self.loc(span),
        };
        for c in &f.clauses {
            match &c.kind {
                ast::FlowClauseKind::Start(i) => out.start = i.name.clone(),
                ast::FlowClauseKind::Correlate(k) => out.correlate = key(k),
                ast::FlowClauseKind::Wait { interface, within } => {
                    out.wait_for = interface.name.clone();
                    out.within_ms = within.millis;
                }
                ast::FlowClauseKind::HoldEarly(d) => out.hold_early_ms = Some(d.millis),
                ast::FlowClauseKind::Cancel(cond) => {
                    out.cancel_when = crate::check::cancel_values(cond)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(path, value)| ir::CancelValue {
                            path: hl7_path(path),
                            value,
                        })
                        .collect()
                }
                ast::FlowClauseKind::On { event, actions } => {
                    let list = actions.iter().map(action).collect();
                    match event.text.as_str() {
                        "timeout" => out.on_timeout = list,
                        "cancel" => out.on_cancel = list,
                        _ => out.on_reply = list,
                    }
                }
            }
        }
        out
    }

    fn test(&self, t: &ast::Test, docs: &[String], span: Span) -> ir::Test {
        let mut given = vec![];
        let mut expect = vec![];
        let file_name = &self.sources.get(span.file).name;
        for s in &t.stmts {
            match &s.kind {
                ast::TestStmtKind::Given { source, at } => given.push(match source {
                    ast::GivenSource::File(f) => ir::Given {
                        file: Some(crate::resolve::join_relative(file_name, &f.value)),
                        inline: None,
                        at: at.as_ref().map(|a| a.name.clone()),
                    },
                    ast::GivenSource::Inline(s) => ir::Given {
                        file: None,
                        inline: Some(s.value.clone()),
                        at: at.as_ref().map(|a| a.name.clone()),
                    },
                }),
                ast::TestStmtKind::Expect(e) => expect.push(match e {
                    ast::Expectation::Routed { negated, to, .. } => ir::Expect::Routed {
                        to: to.name.clone(),
                        negated: *negated,
                    },
                    ast::Expectation::Ack(c) => ir::Expect::Ack {
                        code: c.text.clone(),
                    },
                    ast::Expectation::Rejected(r) => ir::Expect::Rejected {
                        reason: r.as_ref().map(|r| r.value.clone()),
                    },
                    ast::Expectation::Value { path, value } => ir::Expect::Value {
                        path: key(path),
                        equals: Box::new(self.expr(value)),
                        loc: self.loc(s.span),
                    },
                }),
            }
        }
        ir::Test {
            name: t.name.value.clone(),
            docs: join_docs(docs),
            given,
            expect,
            loc: self.loc(span),
        }
    }

    fn scenario(&self, t: &ast::Scenario, docs: &[String], span: Span) -> ir::Scenario {
        use ast::{ScenarioExpect as X, StepKind as S};
        let file_name = &self.sources.get(span.file).name;
        let count = |t: &ast::Token| t.text.parse().unwrap_or(0);
        let steps = t
            .steps
            .iter()
            .map(|s| ir::ScenarioStep {
                kind: match &s.kind {
                    S::Peer { operation, answers } => ir::StepKind::Peer {
                        operation: operation.name.clone(),
                        answers: answers.iter().map(|a| a.text.clone()).collect(),
                    },
                    S::Send { source, at } => {
                        let (file, inline) = match source {
                            ast::GivenSource::File(f) => (
                                Some(crate::resolve::join_relative(file_name, &f.value)),
                                None,
                            ),
                            ast::GivenSource::Inline(s) => (None, Some(s.value.clone())),
                        };
                        ir::StepKind::Send {
                            file,
                            inline,
                            at: at.name.clone(),
                        }
                    }
                    S::Advance(d) => ir::StepKind::Advance { ms: d.millis },
                    S::Resend(op) => ir::StepKind::Resend {
                        operation: op.name.clone(),
                    },
                    S::Replay(op) => ir::StepKind::Replay {
                        operation: op.name.clone(),
                    },
                    S::Review { approve, queue } => ir::StepKind::Review {
                        approve: *approve,
                        queue: queue.as_ref().map(|q| q.value.clone()),
                    },
                    S::Expect(X::Ack(c)) => ir::StepKind::ExpectAck {
                        code: c.text.clone(),
                    },
                    S::Expect(X::Count {
                        count: n,
                        state,
                        at,
                    }) => ir::StepKind::ExpectCount {
                        count: count(n),
                        state: state.text.clone(),
                        at: at.as_ref().map(|a| a.name.clone()),
                    },
                    S::Expect(X::Record {
                        absent,
                        record,
                        key,
                        field,
                    }) => ir::StepKind::ExpectRecord {
                        record: record.name.clone(),
                        key: key.value.clone(),
                        absent: *absent,
                        field: field.as_ref().map(|(f, _)| f.name.clone()),
                        equals: field.as_ref().map(|(_, v)| v.value.clone()),
                    },
                    S::Expect(X::Link {
                        absent,
                        record,
                        first,
                        second,
                    }) => ir::StepKind::ExpectLink {
                        record: record.name.clone(),
                        first: first.value.clone(),
                        second: second.value.clone(),
                        absent: *absent,
                    },
                    S::Expect(X::Flow { flow, key, state }) => ir::StepKind::ExpectFlow {
                        flow: flow.name.clone(),
                        key: key.value.clone(),
                        state: state.text.clone(),
                    },
                    S::Expect(X::Received {
                        operation,
                        count: n,
                    }) => ir::StepKind::ExpectReceived {
                        operation: operation.name.clone(),
                        count: count(n),
                    },
                    S::Expect(X::ReceivedValues {
                        operation,
                        path,
                        values,
                    }) => ir::StepKind::ExpectValues {
                        operation: operation.name.clone(),
                        path: path.to_string(),
                        values: values.iter().map(|v| v.value.clone()).collect(),
                    },
                },
                loc: self.loc(s.span),
            })
            .collect();
        ir::Scenario {
            name: t.name.value.clone(),
            docs: join_docs(docs),
            steps,
            loc: self.loc(span),
        }
    }
}

fn constraint(c: &ast::Constraint) -> ir::Constraint {
    match &c.kind {
        ast::ConstraintKind::Key => ir::Constraint::Key,
        ast::ConstraintKind::Unique => ir::Constraint::Unique,
        ast::ConstraintKind::Check(v) => ir::Constraint::Check {
            validator: v.name.clone(),
        },
        ast::ConstraintKind::Length(r) => ir::Constraint::Length {
            min: r.lo.as_deref().and_then(|s| s.parse().ok()),
            max: r.hi.as_deref().and_then(|s| s.parse().ok()),
        },
        ast::ConstraintKind::Range(r) => ir::Constraint::Range {
            min: r.lo.clone(),
            max: r.hi.clone(),
        },
        ast::ConstraintKind::Pattern(p) => ir::Constraint::Pattern {
            regex: p.value.clone(),
        },
    }
}

pub(crate) fn hl7_path(p: &ast::Hl7Path) -> ir::Hl7Path {
    ir::Hl7Path {
        text: p.to_string(),
        segment: p.segment.clone(),
        occurrence: p.occurrence,
        field: p.field,
        repetition: p.repetition.as_ref().map(|r| match r {
            ast::Repetition::Index(i) => ir::Repetition::Index { index: *i },
            ast::Repetition::All => ir::Repetition::All,
            ast::Repetition::Where {
                component,
                subcomponent,
                value,
            } => ir::Repetition::Where {
                component: *component,
                subcomponent: *subcomponent,
                value: value.value.clone(),
            },
        }),
        component: p.component,
        subcomponent: p.subcomponent,
        element: None,
    }
}

fn steps(p: &ast::PathRef) -> Vec<ir::PathStep> {
    p.segments
        .iter()
        .map(|s| ir::PathStep {
            name: s.name.name.clone(),
            index: s.index,
            filter: s.filter.as_ref().map(|w| ir::PathFilter {
                element: w.element.name.clone(),
                value: w.value.value.clone(),
            }),
            fhir: None,
        })
        .collect()
}

fn map_target(t: &ast::MapTarget) -> ir::Target {
    match t {
        ast::MapTarget::Hl7(p) => ir::Target::Hl7 { path: hl7_path(p) },
        ast::MapTarget::Segment(s) => ir::Target::Segment {
            segment: s.text.clone(),
        },
        ast::MapTarget::Path(p) => ir::Target::Field { path: steps(p) },
    }
}

fn key(k: &ast::KeyExpr) -> ir::Key {
    match k {
        ast::KeyExpr::Hl7(p) => ir::Key::Hl7 { path: hl7_path(p) },
        ast::KeyExpr::Path(p) => ir::Key::Field {
            record: None,
            path: steps(p),
        },
    }
}

fn action(a: &ast::Action) -> ir::Action {
    match &a.kind {
        ast::ActionKind::Retry { count, timing } => {
            let (backoff_min_ms, backoff_max_ms, every_ms) = match timing {
                Some(ast::RetryTiming::Backoff(lo, hi)) => (Some(lo.millis), Some(hi.millis), None),
                Some(ast::RetryTiming::Every(d)) => (None, None, Some(d.millis)),
                None => (None, None, None),
            };
            ir::Action::Retry {
                times: match count {
                    ast::RetryCount::Times(n) => Some(*n),
                    _ => None,
                },
                forever: matches!(count, ast::RetryCount::Forever),
                backoff_min_ms,
                backoff_max_ms,
                every_ms,
            }
        }
        ast::ActionKind::Alert(t) => ir::Action::Alert {
            target: t.value.clone(),
        },
        ast::ActionKind::Send(i) => ir::Action::Send {
            interface: i.name.clone(),
        },
        ast::ActionKind::Simple(t) => match t.text.as_str() {
            "dead_letter" => ir::Action::DeadLetter,
            "complete" => ir::Action::Complete,
            "suspend" => ir::Action::Suspend,
            "warn" => ir::Action::Warn,
            _ => ir::Action::Fail,
        },
    }
}
