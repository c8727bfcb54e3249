//! Lowering of pest pairs to `ast::*`, one function per grammar rule. Children are picked
//! by rule, never by position, so keyword tokens (`k_*`) in between are ignored.
//! This is the only module that sees pest types besides `parse::errors`.

use super::keywords::is_keyword;
use crate::ast::*;
use crate::grammar::Rule;
use crate::span::{FileId, Span};
use pest::iterators::Pair;

type P<'i> = Pair<'i, Rule>;

pub(crate) struct Lower {
    pub file: FileId,
    /// Byte offset of the parsed slice in the whole file (non-zero when recovering).
    pub offset: usize,
}

fn kids<'i>(p: &P<'i>) -> impl Iterator<Item = P<'i>> {
    p.clone().into_inner().filter(|c| !is_keyword(c.as_rule()))
}

fn first<'i>(p: &P<'i>, rule: Rule) -> Option<P<'i>> {
    kids(p).find(|c| c.as_rule() == rule)
}

fn all<'i>(p: &P<'i>, rule: Rule) -> Vec<P<'i>> {
    kids(p).filter(|c| c.as_rule() == rule).collect()
}

fn only<'i>(p: &P<'i>) -> P<'i> {
    // The grammar guarantees one child for the rules this is called on.
    kids(p).next().unwrap_or_else(|| p.clone())
}

fn num(p: &P) -> u32 {
    p.as_str().parse().unwrap_or(u32::MAX)
}

/// Length of `text` without trailing whitespace and `//` comments.
fn trimmed_len(text: &str) -> usize {
    let mut t = text.trim_end();
    loop {
        let line_start = t.rfind('\n').map(|i| i + 1).unwrap_or(0);
        match comment_start(&t[line_start..]) {
            Some(c) if line_start + c > 0 => t = t[..line_start + c].trim_end(),
            _ => return t.len(),
        }
    }
}

/// Where a `//` comment (not `///`, not inside a string) starts in one line.
fn comment_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && b.get(i + 1) == Some(&b'/') => {
                return if b.get(i + 2) == Some(&b'/') {
                    None
                } else {
                    Some(i)
                };
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Unescapes `\"`, `\\`, `\n`, `\r`, `\t`; any other escape is kept as written.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Milliseconds of a duration token such as `30s` or `5m`.
pub fn duration_millis(text: &str) -> u64 {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let n: u64 = text[..split].parse().unwrap_or(u64::MAX / 1_000_000);
    let unit = match &text[split..] {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 1,
    };
    n.saturating_mul(unit)
}

impl Lower {
    /// The node's span without the whitespace and comments pest's implicit skipping
    /// leaves at its end.
    fn span(&self, p: &P) -> Span {
        let s = p.as_span();
        let len = trimmed_len(p.as_str());
        Span::new(
            self.file,
            s.start() + self.offset,
            s.start() + len + self.offset,
        )
    }

    fn ident(&self, p: P) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn idents(&self, p: &P) -> Vec<Ident> {
        all(p, Rule::ident)
            .into_iter()
            .map(|i| self.ident(i))
            .collect()
    }

    fn token(&self, p: P) -> Token {
        Token {
            text: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn string(&self, p: P) -> StrLit {
        let raw = first(&p, Rule::string_inner)
            .map(|i| i.as_str())
            .unwrap_or("")
            .to_string();
        StrLit {
            value: unescape(&raw),
            raw,
            span: self.span(&p),
        }
    }

    fn duration(&self, p: P) -> Duration {
        Duration {
            text: p.as_str().to_string(),
            millis: duration_millis(p.as_str()),
            span: self.span(&p),
        }
    }

    fn docs(&self, p: &P) -> Vec<String> {
        first(p, Rule::docs)
            .map(|d| {
                all(&d, Rule::doc_line)
                    .iter()
                    .map(|l| l.as_str().trim_start_matches("///").trim_end().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn file(&self, p: P) -> File {
        File {
            items: all(&p, Rule::item)
                .into_iter()
                .map(|i| self.item(i))
                .collect(),
        }
    }

    fn item(&self, p: P) -> Item {
        let docs = self.docs(&p);
        let span = self.span(&p);
        let decl = kids(&p)
            .find(|c| c.as_rule() != Rule::docs)
            .unwrap_or_else(|| p.clone());
        let kind = match decl.as_rule() {
            Rule::estate_decl => {
                let mut strings = all(&decl, Rule::string).into_iter();
                ItemKind::Estate(Estate {
                    name: self.string(strings.next().unwrap_or_else(|| decl.clone())),
                    version: self.token(only_rule(&decl, Rule::semver)),
                    timezone: strings.next().map(|s| self.string(s)),
                })
            }
            Rule::import_decl => ItemKind::Import(Import {
                path: self.string(only_rule(&decl, Rule::string)),
            }),
            Rule::environment_decl => ItemKind::Environment(Environment {
                name: self.ident(only_rule(&decl, Rule::ident)),
                props: self.props(&decl),
                braces: decl.as_str().contains('{'),
            }),
            Rule::system_decl => ItemKind::System(System {
                name: self.ident(only_rule(&decl, Rule::ident)),
                props: self.props(&decl),
            }),
            Rule::endpoint_decl => ItemKind::Endpoint(self.endpoint(decl)),
            Rule::record_decl => ItemKind::Record(self.record(decl)),
            Rule::codeset_decl => ItemKind::Codeset(self.codeset(decl)),
            Rule::codemap_decl => ItemKind::Codemap(self.codemap(decl)),
            Rule::ownership_decl => ItemKind::Ownership(self.ownership(decl)),
            Rule::profile_decl => ItemKind::Profile(self.profile(decl)),
            Rule::mapping_decl => ItemKind::Mapping(self.mapping(decl)),
            Rule::interface_decl => ItemKind::Interface(self.interface(decl)),
            Rule::route_decl => ItemKind::Route(self.route(decl)),
            Rule::flow_decl => ItemKind::Flow(self.flow(decl)),
            Rule::scenario_decl => ItemKind::Scenario(self.scenario(decl)),
            _ => ItemKind::Test(self.test(decl)),
        };
        Item { docs, span, kind }
    }

    fn props(&self, p: &P) -> Vec<Prop> {
        all(p, Rule::prop)
            .into_iter()
            .map(|pr| self.prop(pr))
            .collect()
    }

    fn prop(&self, p: P) -> Prop {
        Prop {
            docs: self.docs(&p),
            key: self.ident(only_rule(&p, Rule::ident)),
            value: self.lit(only(&only_rule(&p, Rule::prop_value))),
            span: self.span(&p),
        }
    }

    fn lit(&self, p: P) -> Lit {
        let span = self.span(&p);
        let text = p.as_str();
        let kind = match p.as_rule() {
            Rule::string => LitKind::Str(self.string(p)),
            Rule::integer => LitKind::Int(text.parse().unwrap_or(i64::MAX)),
            Rule::decimal => LitKind::Decimal(text.to_string()),
            Rule::boolean => LitKind::Bool(text == "true"),
            Rule::date => LitKind::Date(text.to_string()),
            Rule::duration => LitKind::Duration(self.duration(p)),
            Rule::semver => LitKind::Semver(text.to_string()),
            _ => LitKind::Ident(text.to_string()),
        };
        Lit { kind, span }
    }

    // ---- endpoints ---------------------------------------------------------------------------

    fn endpoint(&self, p: P) -> Endpoint {
        Endpoint {
            name: self.ident(only_rule(&p, Rule::ident)),
            settings: all(&p, Rule::setting)
                .into_iter()
                .map(|s| self.setting(s))
                .collect(),
        }
    }

    fn setting(&self, p: P) -> Setting {
        let values = all(&p, Rule::env_value)
            .into_iter()
            .map(|ev| {
                let sv = only(&only_rule(&ev, Rule::setting_value));
                let value = match sv.as_rule() {
                    Rule::env_ref => SettingValue::Env(self.string(only_rule(&sv, Rule::string))),
                    Rule::secret_ref => {
                        SettingValue::Secret(self.string(only_rule(&sv, Rule::string)))
                    }
                    _ => SettingValue::Lit(self.lit(sv)),
                };
                EnvValue {
                    value,
                    env: first(&ev, Rule::ident).map(|i| self.ident(i)),
                    span: self.span(&ev),
                }
            })
            .collect();
        Setting {
            docs: self.docs(&p),
            key: self.ident(only_rule(&p, Rule::ident)),
            values,
            span: self.span(&p),
        }
    }

    // ---- records -----------------------------------------------------------------------------

    fn record(&self, p: P) -> Record {
        Record {
            name: self.ident(only_rule(&p, Rule::ident)),
            fields: all(&p, Rule::field_decl)
                .into_iter()
                .map(|f| self.field(f))
                .collect(),
        }
    }

    fn field(&self, p: P) -> Field {
        Field {
            docs: self.docs(&p),
            name: self.ident(only_rule(&p, Rule::ident)),
            ty: self.type_expr(only_rule(&p, Rule::type_expr)),
            constraints: all(&p, Rule::constraint)
                .into_iter()
                .map(|c| self.constraint(c))
                .collect(),
            span: self.span(&p),
        }
    }

    fn type_expr(&self, p: P) -> TypeExpr {
        let span = self.span(&p);
        let optional = first(&p, Rule::optional_mark).is_some();
        let inner = only(&p);
        let kind = match inner.as_rule() {
            Rule::list_type => {
                TypeKind::List(Box::new(self.type_expr(only_rule(&inner, Rule::type_expr))))
            }
            Rule::code_type => TypeKind::Code(self.ident(only_rule(&inner, Rule::ident))),
            _ => TypeKind::Named(self.ident(inner)),
        };
        TypeExpr {
            kind,
            optional,
            span,
        }
    }

    fn constraint(&self, p: P) -> Constraint {
        let span = self.span(&p);
        let inner = only(&p);
        let kind = match inner.as_rule() {
            Rule::c_key => ConstraintKind::Key,
            Rule::c_unique => ConstraintKind::Unique,
            Rule::c_check => ConstraintKind::Check(self.ident(only_rule(&inner, Rule::ident))),
            Rule::c_length => {
                ConstraintKind::Length(self.range_lit(only_rule(&inner, Rule::range_lit)))
            }
            Rule::c_range => {
                ConstraintKind::Range(self.range_lit(only_rule(&inner, Rule::range_lit)))
            }
            _ => ConstraintKind::Pattern(self.string(only_rule(&inner, Rule::string))),
        };
        Constraint { kind, span }
    }

    fn range_lit(&self, p: P) -> RangeLit {
        RangeLit {
            lo: first(&p, Rule::range_lo).map(|x| x.as_str().trim().to_string()),
            hi: first(&p, Rule::range_hi).map(|x| x.as_str().trim().to_string()),
        }
    }

    // ---- codesets and code maps --------------------------------------------------------------

    fn codeset(&self, p: P) -> Codeset {
        Codeset {
            name: self.ident(only_rule(&p, Rule::ident)),
            props: all(&p, Rule::codeset_prop)
                .into_iter()
                .map(|cp| {
                    (
                        self.ident(only_rule(&cp, Rule::ident)),
                        self.string(only_rule(&cp, Rule::string)),
                    )
                })
                .collect(),
            codes: all(&p, Rule::code_entry)
                .into_iter()
                .map(|e| CodeEntry {
                    docs: self.docs(&e),
                    code: self.code_name(only_rule(&e, Rule::code_name)),
                    display: first(&e, Rule::string).map(|s| self.string(s)),
                    span: self.span(&e),
                })
                .collect(),
        }
    }

    fn code_name(&self, p: P) -> CodeName {
        let span = self.span(&p);
        let inner = only(&p);
        match inner.as_rule() {
            Rule::string => CodeName {
                value: self.string(inner).value,
                quoted: true,
                span,
            },
            _ => CodeName {
                value: inner.as_str().to_string(),
                quoted: false,
                span,
            },
        }
    }

    fn codemap(&self, p: P) -> Codemap {
        let types = all(&p, Rule::type_expr);
        let rules = kids(&p)
            .filter_map(|r| match r.as_rule() {
                Rule::codemap_entry => {
                    let mut names: Vec<CodeName> = all(&r, Rule::code_name)
                        .into_iter()
                        .map(|c| self.code_name(c))
                        .collect();
                    let target = names.pop()?;
                    Some(CodemapRule::Entry(CodemapEntry {
                        docs: self.docs(&r),
                        sources: names,
                        target,
                        span: self.span(&r),
                    }))
                }
                Rule::codemap_default => {
                    let act = kids(&r).find(|c| c.as_rule() != Rule::docs)?;
                    let action = match act.as_rule() {
                        Rule::default_reject => {
                            DefaultAction::Reject(first(&act, Rule::string).map(|s| self.string(s)))
                        }
                        Rule::default_pass => DefaultAction::Pass,
                        Rule::default_absent => DefaultAction::Absent,
                        _ => DefaultAction::Value(self.code_name(act)),
                    };
                    Some(CodemapRule::Default(CodemapDefault {
                        docs: self.docs(&r),
                        action,
                        span: self.span(&r),
                    }))
                }
                _ => None,
            })
            .collect();
        let mut types = types.into_iter();
        let from = types.next().map(|t| self.type_expr(t));
        let to = types.next().map(|t| self.type_expr(t));
        let name = self.ident(only_rule(&p, Rule::ident));
        let fallback = TypeExpr {
            kind: TypeKind::Named(name.clone()),
            optional: false,
            span: name.span,
        };
        Codemap {
            from: from.unwrap_or(fallback.clone()),
            to: to.unwrap_or(fallback),
            name,
            rules,
        }
    }

    // ---- ownership ---------------------------------------------------------------------------

    fn ownership(&self, p: P) -> Ownership {
        Ownership {
            record: self.ident(only_rule(&p, Rule::ident)),
            stages: first(&p, Rule::stages)
                .map(|s| self.idents(&s))
                .unwrap_or_default(),
            stage_field: first(&p, Rule::stage_source)
                .map(|s| self.ident(only_rule(&s, Rule::ident))),
            fields: all(&p, Rule::ownership_field)
                .into_iter()
                .map(|f| self.ownership_field(f))
                .collect(),
        }
    }

    fn ownership_field(&self, p: P) -> OwnershipField {
        let path = self.idents(&only_rule(&p, Rule::field_path));
        let clauses = all(&p, Rule::own_clause)
            .into_iter()
            .map(|c| {
                let span = self.span(&c);
                let inner = only(&c);
                let kind = match inner.as_rule() {
                    Rule::own_owner => OwnClauseKind::Owner(self.idents(&inner)),
                    Rule::own_accept => OwnClauseKind::Accept {
                        systems: self.idents(&inner),
                        when: first(&inner, Rule::accept_cond).map(|ac| {
                            let cond = only(&ac);
                            match cond.as_rule() {
                                Rule::cond_absent => AcceptCond::Absent,
                                Rule::cond_stage_before => AcceptCond::StageBefore(
                                    self.ident(only_rule(&cond, Rule::ident)),
                                ),
                                _ => AcceptCond::StageIn(self.idents(&cond)),
                            }
                        }),
                    },
                    Rule::own_conflict => {
                        let rule = only(&inner);
                        OwnClauseKind::Conflict(match rule.as_rule() {
                            Rule::conflict_review => ConflictRule::Review(
                                first(&rule, Rule::string).map(|s| self.string(s)),
                            ),
                            _ => ConflictRule::Named(
                                self.ident(only_rule(&rule, Rule::ident)),
                                first(&rule, Rule::field_path).map(|f| self.idents(&f)),
                            ),
                        })
                    }
                    _ => OwnClauseKind::Lock(self.ident(only_rule(&inner, Rule::ident))),
                };
                OwnClause { kind, span }
            })
            .collect();
        OwnershipField {
            docs: self.docs(&p),
            path,
            clauses,
            span: self.span(&p),
        }
    }

    // ---- profiles and HL7 paths --------------------------------------------------------------

    fn profile(&self, p: P) -> Profile {
        let items = kids(&p)
            .filter_map(|i| match i.as_rule() {
                Rule::profile_rule => Some(ProfileItem::Rule(ProfileRule {
                    docs: self.docs(&i),
                    path: self.hl7_path(only_rule(&i, Rule::hl7_path)),
                    usage: self.token(only_rule(&i, Rule::usage)),
                    card: first(&i, Rule::cardinality).map(|c| self.cardinality(c)),
                    len: first(&i, Rule::prof_length).map(|l| num(&only(&l))),
                    table: first(&i, Rule::prof_table).map(|t| self.token(only(&t))),
                    span: self.span(&i),
                })),
                Rule::profile_segment => {
                    let mut segs = all(&i, Rule::seg_id).into_iter();
                    let id = segs.next().map(|s| self.token(s))?;
                    Some(ProfileItem::Segment(ProfileSegment {
                        docs: self.docs(&i),
                        id,
                        after: segs.next().map(|s| self.token(s)),
                        usage: first(&i, Rule::usage).map(|u| self.token(u)),
                        card: first(&i, Rule::cardinality).map(|c| self.cardinality(c)),
                        fields: all(&i, Rule::zfield)
                            .into_iter()
                            .map(|z| self.zfield(z))
                            .collect(),
                        span: self.span(&i),
                    }))
                }
                _ => None,
            })
            .collect();
        Profile {
            name: self.ident(only_rule(&p, Rule::ident)),
            version: self.token(only_rule(&p, Rule::hl7_version)),
            messages: all(&p, Rule::message_type)
                .into_iter()
                .map(|m| self.token(m))
                .collect(),
            items,
        }
    }

    fn zfield(&self, p: P) -> ZField {
        ZField {
            docs: self.docs(&p),
            position: num(&only_rule(&p, Rule::pos_int)),
            datatype: self.ident(only_rule(&p, Rule::ident)),
            name: self.string(only_rule(&p, Rule::string)),
            usage: first(&p, Rule::usage).map(|u| self.token(u)),
            card: first(&p, Rule::cardinality).map(|c| self.cardinality(c)),
            len: first(&p, Rule::prof_length).map(|l| num(&only(&l))),
            table: first(&p, Rule::prof_table).map(|t| self.token(only(&t))),
            span: self.span(&p),
        }
    }

    fn cardinality(&self, p: P) -> Cardinality {
        let ints = all(&p, Rule::pos_int);
        Cardinality {
            min: ints.first().map(num).unwrap_or(0),
            max: if first(&p, Rule::card_many).is_some() {
                None
            } else {
                ints.get(1).map(num)
            },
            span: self.span(&p),
        }
    }

    pub(crate) fn hl7_path(&self, p: P) -> Hl7Path {
        let span = self.span(&p);
        let mut segment = String::new();
        let mut occurrence = None;
        let mut numbers = vec![];
        let mut repetition = None;
        for c in kids(&p) {
            match c.as_rule() {
                Rule::seg_id_raw => segment = c.as_str().to_string(),
                Rule::occurrence => occurrence = Some(num(&only(&c))),
                Rule::path_int => numbers.push(num(&c)),
                Rule::repetition => {
                    let r = only(&c);
                    repetition = Some(match r.as_rule() {
                        Rule::rep_all => Repetition::All,
                        Rule::rep_filter => {
                            let comp = all(&only_rule(&r, Rule::comp_ref), Rule::path_int);
                            Repetition::Where {
                                component: comp.first().map(num).unwrap_or(1),
                                subcomponent: comp.get(1).map(num),
                                value: self.string(only_rule(&r, Rule::string)),
                            }
                        }
                        _ => Repetition::Index(num(&r)),
                    });
                }
                _ => {}
            }
        }
        Hl7Path {
            segment,
            occurrence,
            field: numbers.first().copied().unwrap_or(0),
            repetition,
            component: numbers.get(1).copied(),
            subcomponent: numbers.get(2).copied(),
            span,
        }
    }

    fn path_ref(&self, p: P) -> PathRef {
        PathRef {
            span: self.span(&p),
            segments: all(&p, Rule::path_seg)
                .into_iter()
                .map(|s| PathSeg {
                    name: self.ident(only_rule(&s, Rule::ident)),
                    index: first(&s, Rule::pos_int).map(|i| num(&i)),
                    filter: first(&s, Rule::seg_filter).map(|w| SegFilter {
                        element: self.ident(only_rule(&w, Rule::ident)),
                        value: self.string(only_rule(&w, Rule::string)),
                        span: self.span(&w),
                    }),
                })
                .collect(),
        }
    }

    fn key_expr(&self, p: P) -> KeyExpr {
        let inner = only(&p);
        match inner.as_rule() {
            Rule::hl7_path => KeyExpr::Hl7(self.hl7_path(inner)),
            _ => KeyExpr::Path(self.path_ref(inner)),
        }
    }

    // ---- expressions -------------------------------------------------------------------------

    pub(crate) fn expr(&self, p: P) -> Expr {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::primary if p.as_str().starts_with('(') => Expr {
                kind: ExprKind::Paren(Box::new(self.expr(only(&p)))),
                span,
            },
            Rule::expr | Rule::primary => self.expr(only(&p)),
            Rule::or_expr | Rule::and_expr => {
                let op = if p.as_rule() == Rule::or_expr {
                    BinOp::Or
                } else {
                    BinOp::And
                };
                let mut operands =
                    kids(&p).filter(|c| !matches!(c.as_rule(), Rule::kw_or | Rule::kw_and));
                let mut acc = operands.next().map(|o| self.expr(o));
                for rhs in operands {
                    let rhs = self.expr(rhs);
                    acc = acc.map(|lhs| Expr {
                        span: lhs.span.to(rhs.span),
                        kind: ExprKind::Binary {
                            op,
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        },
                    });
                }
                acc.unwrap_or(Expr {
                    kind: ExprKind::Lit(Lit {
                        kind: LitKind::Bool(false),
                        span,
                    }),
                    span,
                })
            }
            Rule::not_expr => match first(&p, Rule::not_expr) {
                Some(inner) => Expr {
                    kind: ExprKind::Not(Box::new(self.expr(inner))),
                    span,
                },
                None => self.expr(only(&p)),
            },
            Rule::cmp_expr => {
                let parts: Vec<P> = kids(&p).collect();
                if parts.len() == 3 {
                    let op = match parts[1].as_str() {
                        "==" => BinOp::Eq,
                        "!=" => BinOp::Ne,
                        "<" => BinOp::Lt,
                        "<=" => BinOp::Le,
                        ">" => BinOp::Gt,
                        _ => BinOp::Ge,
                    };
                    Expr {
                        kind: ExprKind::Binary {
                            op,
                            lhs: Box::new(self.expr(parts[0].clone())),
                            rhs: Box::new(self.expr(parts[2].clone())),
                        },
                        span,
                    }
                } else {
                    self.expr(parts[0].clone())
                }
            }
            Rule::via_expr => {
                let mut parts = kids(&p).filter(|c| c.as_rule() != Rule::kw_via);
                let mut acc = parts.next().map(|e| self.expr(e)).unwrap_or(Expr {
                    kind: ExprKind::Lit(Lit {
                        kind: LitKind::Bool(false),
                        span,
                    }),
                    span,
                });
                for map in parts {
                    let map = self.ident(map);
                    acc = Expr {
                        span: acc.span.to(map.span),
                        kind: ExprKind::Via {
                            expr: Box::new(acc),
                            map,
                        },
                    };
                }
                acc
            }
            Rule::if_expr => {
                let mut es = kids(&p)
                    .filter(|c| matches!(c.as_rule(), Rule::expr | Rule::absent_expr))
                    .map(|e| {
                        Box::new(match e.as_rule() {
                            Rule::absent_expr => Expr {
                                kind: ExprKind::Absent,
                                span: self.span(&e),
                            },
                            _ => self.expr(e),
                        })
                    });
                match (es.next(), es.next(), es.next()) {
                    (Some(cond), Some(then), Some(otherwise)) => Expr {
                        kind: ExprKind::If {
                            cond,
                            then,
                            otherwise,
                        },
                        span,
                    },
                    _ => Expr {
                        kind: ExprKind::Lit(Lit {
                            kind: LitKind::Bool(false),
                            span,
                        }),
                        span,
                    },
                }
            }
            Rule::call => Expr {
                kind: ExprKind::Call {
                    func: self.ident(only_rule(&p, Rule::ident)),
                    args: all(&p, Rule::expr)
                        .into_iter()
                        .map(|e| self.expr(e))
                        .collect(),
                },
                span,
            },
            Rule::literal => Expr {
                kind: ExprKind::Lit(self.lit(only(&p))),
                span,
            },
            Rule::hl7_path => Expr {
                kind: ExprKind::Hl7(self.hl7_path(p)),
                span,
            },
            Rule::path_ref => Expr {
                kind: ExprKind::Path(self.path_ref(p)),
                span,
            },
            _ => self.expr(only(&p)),
        }
    }

    // ---- mappings ----------------------------------------------------------------------------

    fn mapping(&self, p: P) -> Mapping {
        let mut schemas = all(&p, Rule::schema_ref)
            .into_iter()
            .map(|s| self.schema_ref(s));
        let name = self.ident(only_rule(&p, Rule::ident));
        let fallback = SchemaRef {
            kind: SchemaKind::Record(name.clone()),
            span: name.span,
        };
        Mapping {
            partial: first(&p, Rule::map_partial).map(|k| self.span(&k)),
            source: schemas.next().unwrap_or(fallback.clone()),
            target: schemas.next().unwrap_or(fallback),
            body: all(&p, Rule::map_stmt)
                .into_iter()
                .map(|s| self.map_stmt(s))
                .collect(),
            name,
        }
    }

    fn schema_ref(&self, p: P) -> SchemaRef {
        let span = self.span(&p);
        let inner = only(&p);
        let kind = match inner.as_rule() {
            Rule::hl7_schema => match first(&inner, Rule::ident) {
                Some(profile) => SchemaKind::Hl7Profile(self.ident(profile)),
                None => SchemaKind::Hl7 {
                    version: self.token(only_rule(&inner, Rule::hl7_version)),
                    message: self.token(only_rule(&inner, Rule::message_type)),
                },
            },
            Rule::fhir_schema => SchemaKind::Fhir(self.ident(only_rule(&inner, Rule::ident))),
            _ => SchemaKind::Record(self.ident(inner)),
        };
        SchemaRef { kind, span }
    }

    fn map_stmt(&self, p: P) -> MapStmt {
        let docs = self.docs(&p);
        let span = self.span(&p);
        let inner = kids(&p)
            .find(|c| c.as_rule() != Rule::docs)
            .unwrap_or_else(|| p.clone());
        let kind = match inner.as_rule() {
            Rule::map_assign => MapStmtKind::Assign {
                target: self.map_target(only_rule(&inner, Rule::map_target)),
                values: all(&inner, Rule::expr)
                    .into_iter()
                    .map(|e| self.expr(e))
                    .collect(),
                clear: first(&inner, Rule::map_clear).map(|k| self.span(&k)),
            },
            Rule::map_for => {
                let src = only(&only_rule(&inner, Rule::iter_source));
                MapStmtKind::For {
                    target: self.map_target(only_rule(&inner, Rule::map_target)),
                    source: match src.as_rule() {
                        Rule::seg_id => IterSource::Segment(self.token(src)),
                        Rule::hl7_path => IterSource::Repetitions(self.hl7_path(src)),
                        Rule::group_name => IterSource::Group(self.token(src)),
                        _ => IterSource::Path(self.path_ref(src)),
                    },
                    body: all(&inner, Rule::map_stmt)
                        .into_iter()
                        .map(|s| self.map_stmt(s))
                        .collect(),
                    value: first(&inner, Rule::for_value)
                        .map(|v| Box::new(self.expr(only_rule(&v, Rule::expr)))),
                }
            }
            _ => {
                // map_when: children are expr, map_stmt* and, after `else`, more map_stmt.
                let mut then = vec![];
                let mut otherwise: Option<Vec<MapStmt>> = None;
                let mut cond = None;
                for c in kids(&inner) {
                    match c.as_rule() {
                        Rule::expr => cond = Some(self.expr(c)),
                        Rule::kw_else => otherwise = Some(vec![]),
                        Rule::map_stmt => match otherwise.as_mut() {
                            Some(o) => o.push(self.map_stmt(c)),
                            None => then.push(self.map_stmt(c)),
                        },
                        _ => {}
                    }
                }
                let cond = cond.unwrap_or(Expr {
                    kind: ExprKind::Lit(Lit {
                        kind: LitKind::Bool(true),
                        span,
                    }),
                    span,
                });
                MapStmtKind::When {
                    cond,
                    then,
                    otherwise,
                }
            }
        };
        MapStmt { docs, kind, span }
    }

    fn map_target(&self, p: P) -> MapTarget {
        let inner = only(&p);
        match inner.as_rule() {
            Rule::hl7_path => MapTarget::Hl7(self.hl7_path(inner)),
            Rule::seg_id => MapTarget::Segment(self.token(inner)),
            _ => MapTarget::Path(self.path_ref(inner)),
        }
    }

    // ---- interfaces --------------------------------------------------------------------------

    fn interface(&self, p: P) -> Interface {
        Interface {
            name: self.ident(only_rule(&p, Rule::ident)),
            version: self.token(only_rule(&p, Rule::semver)),
            clauses: all(&p, Rule::iface_clause)
                .into_iter()
                .map(|c| self.iface_clause(c))
                .collect(),
        }
    }

    fn iface_clause(&self, p: P) -> IfaceClause {
        let docs = self.docs(&p);
        let span = self.span(&p);
        let c = kids(&p)
            .find(|c| c.as_rule() != Rule::docs)
            .unwrap_or_else(|| p.clone());
        let kind = match c.as_rule() {
            Rule::iface_route => {
                let ids = self.idents(&c);
                let mut ids = ids.into_iter();
                let from = ids.next().unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                let to = ids.next().unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                IfaceClauseKind::Route {
                    from,
                    to,
                    via: ids.next(),
                }
            }
            Rule::iface_messages => IfaceClauseKind::Messages(
                all(&c, Rule::message_type)
                    .into_iter()
                    .map(|m| self.token(m))
                    .collect(),
            ),
            Rule::iface_ack => IfaceClauseKind::Ack {
                mode: self.ident(only_rule(&c, Rule::ident)),
                within: first(&c, Rule::duration).map(|d| self.duration(d)),
            },
            Rule::iface_on => {
                let classes = all(&c, Rule::reply_class)
                    .into_iter()
                    .map(|r| self.token(r))
                    .collect();
                let mut actions = vec![];
                let mut then = vec![];
                let mut after_then = false;
                for k in kids(&c) {
                    match k.as_rule() {
                        Rule::kw_then => after_then = true,
                        Rule::action if after_then => then.push(self.action(k)),
                        Rule::action => actions.push(self.action(k)),
                        _ => {}
                    }
                }
                IfaceClauseKind::On {
                    classes,
                    actions,
                    then,
                }
            }
            Rule::iface_idem => IfaceClauseKind::Idempotency(
                all(&c, Rule::key_expr)
                    .into_iter()
                    .map(|k| self.key_expr(k))
                    .collect(),
            ),
            Rule::iface_order => IfaceClauseKind::Ordering(
                all(&c, Rule::key_expr)
                    .into_iter()
                    .map(|k| self.key_expr(k))
                    .collect(),
            ),
            Rule::iface_sends => {
                let mut ids = self.idents(&c).into_iter();
                let record = ids.next().unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                IfaceClauseKind::SendsOnly {
                    record,
                    fields: ids.collect(),
                }
            }
            Rule::iface_sla => IfaceClauseKind::Sla(
                all(&c, Rule::sla_item)
                    .into_iter()
                    .map(|s| {
                        let s = only(&s);
                        match s.as_rule() {
                            Rule::sla_delivered => SlaItem::Delivered {
                                percentile: self.token(only_rule(&s, Rule::percentile)),
                                under: self.duration(only_rule(&s, Rule::duration)),
                            },
                            Rule::sla_quiet => {
                                SlaItem::Quiet(self.duration(only_rule(&s, Rule::duration)))
                            }
                            _ => SlaItem::Backlog(num(&only_rule(&s, Rule::pos_int))),
                        }
                    })
                    .collect(),
            ),
            Rule::iface_status => IfaceClauseKind::Status {
                status: self.ident(only_rule(&c, Rule::ident)),
                sunset: first(&c, Rule::date).map(|d| self.token(d)),
            },
            Rule::iface_transform => IfaceClauseKind::Transform(self.idents(&c)),
            Rule::iface_serves => IfaceClauseKind::Serves(self.idents(&c)),
            Rule::iface_accepts => IfaceClauseKind::Accepts(self.idents(&c)),
            Rule::iface_retain => {
                IfaceClauseKind::Retain(self.duration(only_rule(&c, Rule::duration)))
            }
            Rule::iface_merge => IfaceClauseKind::Merge(Box::new(self.merge(&c))),
            Rule::iface_link => {
                // The grammar gives a link two paths.
                let paths: Vec<Hl7Path> = all(&c, Rule::hl7_path)
                    .into_iter()
                    .map(|p| self.hl7_path(p))
                    .collect();
                IfaceClauseKind::Link(Box::new(Link {
                    record: self.ident(only_rule(&c, Rule::ident)),
                    first: paths[0].clone(),
                    second: paths[paths.len() - 1].clone(),
                }))
            }
            Rule::iface_split => IfaceClauseKind::Split(self.token(only_rule(&c, Rule::seg_id))),
            _ => IfaceClauseKind::Prop(self.prop(c)),
        };
        IfaceClause { docs, kind, span }
    }

    fn merge(&self, c: &P) -> Merge {
        // The grammar gives a merge two paths.
        let paths: Vec<Hl7Path> = all(c, Rule::hl7_path)
            .into_iter()
            .map(|p| self.hl7_path(p))
            .collect();
        let (retired, survivor) = (paths[0].clone(), paths[paths.len() - 1].clone());
        let policy = only_rule(c, Rule::merge_policy);
        let span = self.span(&policy);
        let policy = match first(&policy, Rule::merge_hold) {
            Some(h) => MergePolicy::Hold {
                queue: first(&h, Rule::string).map(|s| self.string(s)),
                span,
            },
            None => MergePolicy::Follow(span),
        };
        Merge {
            record: self.ident(only_rule(c, Rule::ident)),
            retired,
            survivor,
            policy,
        }
    }

    fn action(&self, p: P) -> Action {
        let span = self.span(&p);
        let a = only(&p);
        let kind = match a.as_rule() {
            Rule::act_retry => ActionKind::Retry {
                count: if first(&a, Rule::retry_forever).is_some() {
                    RetryCount::Forever
                } else if let Some(c) = first(&a, Rule::retry_count) {
                    RetryCount::Times(num(&only_rule(&c, Rule::pos_int)))
                } else {
                    RetryCount::Unbounded
                },
                timing: if let Some(b) = first(&a, Rule::retry_backoff) {
                    let ds = all(&b, Rule::duration);
                    match (ds.first(), ds.get(1)) {
                        (Some(lo), Some(hi)) => Some(RetryTiming::Backoff(
                            self.duration(lo.clone()),
                            self.duration(hi.clone()),
                        )),
                        _ => None,
                    }
                } else {
                    first(&a, Rule::retry_every)
                        .map(|e| RetryTiming::Every(self.duration(only_rule(&e, Rule::duration))))
                },
            },
            Rule::act_alert => ActionKind::Alert(self.string(only_rule(&a, Rule::string))),
            Rule::act_send => ActionKind::Send(self.ident(only_rule(&a, Rule::ident))),
            _ => ActionKind::Simple(self.token(a)),
        };
        Action { kind, span }
    }

    // ---- routes, flows, tests ----------------------------------------------------------------

    fn route(&self, p: P) -> Route {
        let ids = self.idents(&p);
        let mut ids = ids.into_iter();
        let name = ids.next().unwrap_or(Ident {
            name: String::new(),
            span: self.span(&p),
        });
        let from = ids.next().unwrap_or(name.clone());
        Route {
            name,
            from,
            rules: all(&p, Rule::route_rule)
                .into_iter()
                .map(|r| self.route_rule(r))
                .collect(),
        }
    }

    fn route_rule(&self, p: P) -> RouteRule {
        let docs = self.docs(&p);
        let span = self.span(&p);
        let r = kids(&p)
            .find(|c| c.as_rule() != Rule::docs)
            .unwrap_or_else(|| p.clone());
        let targets = self.idents(&r);
        let kind = match r.as_rule() {
            Rule::otherwise_rule => RouteRuleKind::Otherwise { targets },
            _ => RouteRuleKind::Match {
                types: first(&r, Rule::rule_types).map(|t| match first(&t, Rule::rule_any) {
                    Some(any) => RuleTypes::Any(self.span(&any)),
                    None => RuleTypes::List(
                        kids(&t)
                            .filter(|m| {
                                matches!(m.as_rule(), Rule::message_type | Rule::resource_type)
                            })
                            .map(|m| self.token(m))
                            .collect(),
                    ),
                }),
                when: first(&r, Rule::expr).map(|e| self.expr(e)),
                targets,
            },
        };
        RouteRule { docs, kind, span }
    }

    fn flow(&self, p: P) -> Flow {
        Flow {
            name: self.ident(only_rule(&p, Rule::ident)),
            clauses: all(&p, Rule::flow_clause)
                .into_iter()
                .map(|fc| {
                    let docs = self.docs(&fc);
                    let span = self.span(&fc);
                    let c = kids(&fc)
                        .find(|c| c.as_rule() != Rule::docs)
                        .unwrap_or_else(|| fc.clone());
                    let kind = match c.as_rule() {
                        Rule::flow_start => {
                            FlowClauseKind::Start(self.ident(only_rule(&c, Rule::ident)))
                        }
                        Rule::flow_correlate => {
                            FlowClauseKind::Correlate(self.key_expr(only_rule(&c, Rule::key_expr)))
                        }
                        Rule::flow_hold => {
                            FlowClauseKind::HoldEarly(self.duration(only_rule(&c, Rule::duration)))
                        }
                        Rule::flow_cancel => {
                            FlowClauseKind::Cancel(self.expr(only_rule(&c, Rule::expr)))
                        }
                        Rule::flow_wait => FlowClauseKind::Wait {
                            interface: self.ident(only_rule(&c, Rule::ident)),
                            within: self.duration(only_rule(&c, Rule::duration)),
                        },
                        _ => FlowClauseKind::On {
                            event: self.token(only_rule(&c, Rule::flow_event)),
                            actions: all(&c, Rule::action)
                                .into_iter()
                                .map(|a| self.action(a))
                                .collect(),
                        },
                    };
                    FlowClause { docs, kind, span }
                })
                .collect(),
        }
    }

    fn test(&self, p: P) -> Test {
        Test {
            name: self.string(only_rule(&p, Rule::string)),
            stmts: all(&p, Rule::test_stmt)
                .into_iter()
                .map(|s| {
                    let span = self.span(&s);
                    let s = only(&s);
                    let kind = match s.as_rule() {
                        Rule::test_given => TestStmtKind::Given {
                            source: self.given_source(&s),
                            at: first(&s, Rule::ident).map(|i| self.ident(i)),
                        },
                        _ => TestStmtKind::Expect(self.expectation(only(&s))),
                    };
                    TestStmt { kind, span }
                })
                .collect(),
        }
    }

    /// The message of a `given` or a `send`: `file("...")` or an inline string.
    fn given_source(&self, s: &P) -> GivenSource {
        match first(s, Rule::file_ref) {
            Some(f) => GivenSource::File(self.string(only_rule(&f, Rule::string))),
            None => GivenSource::Inline(self.string(only_rule(s, Rule::string))),
        }
    }

    fn scenario(&self, p: P) -> Scenario {
        Scenario {
            name: self.string(only_rule(&p, Rule::string)),
            steps: all(&p, Rule::scen_step)
                .into_iter()
                .map(|s| {
                    let span = self.span(&s);
                    let s = only(&s);
                    let ident = |s: &P| self.ident(only_rule(s, Rule::ident));
                    let kind = match s.as_rule() {
                        Rule::scen_peer => StepKind::Peer {
                            operation: ident(&s),
                            answers: all(&s, Rule::peer_answer)
                                .into_iter()
                                .map(|a| self.token(a))
                                .collect(),
                        },
                        Rule::scen_send => StepKind::Send {
                            source: self.given_source(&s),
                            at: ident(&s),
                        },
                        Rule::scen_advance => {
                            StepKind::Advance(self.duration(only_rule(&s, Rule::duration)))
                        }
                        Rule::scen_resend => StepKind::Resend(ident(&s)),
                        Rule::scen_replay => StepKind::Replay(ident(&s)),
                        Rule::scen_review => StepKind::Review {
                            approve: first(&s, Rule::scen_approve).is_some(),
                            queue: first(&s, Rule::string).map(|q| self.string(q)),
                        },
                        _ => StepKind::Expect(self.scenario_expect(only(&s))),
                    };
                    Step { kind, span }
                })
                .collect(),
        }
    }

    fn scenario_expect(&self, e: P) -> ScenarioExpect {
        match e.as_rule() {
            Rule::exp_ack => ScenarioExpect::Ack(self.token(only_rule(&e, Rule::reply_class))),
            Rule::sx_count => ScenarioExpect::Count {
                count: self.token(only_rule(&e, Rule::pos_int)),
                state: self.token(only_rule(&e, Rule::sx_state)),
                at: first(&e, Rule::ident).map(|i| self.ident(i)),
            },
            Rule::sx_flow => ScenarioExpect::Flow {
                flow: self.ident(only_rule(&e, Rule::ident)),
                key: self.string(only_rule(&e, Rule::string)),
                state: self.token(only_rule(&e, Rule::flow_state)),
            },
            Rule::sx_link => {
                let strings = all(&e, Rule::string);
                ScenarioExpect::Link {
                    absent: first(&e, Rule::sx_no).is_some(),
                    record: self.ident(only_rule(&e, Rule::ident)),
                    first: self.string(strings[0].clone()),
                    second: self.string(strings[strings.len() - 1].clone()),
                }
            }
            Rule::sx_record => {
                let names = all(&e, Rule::ident);
                let strings = all(&e, Rule::string);
                ScenarioExpect::Record {
                    absent: first(&e, Rule::sx_no).is_some(),
                    record: self.ident(only_rule(&e, Rule::ident)),
                    key: self.string(only_rule(&e, Rule::string)),
                    field: match (names.get(1), strings.get(1)) {
                        (Some(f), Some(v)) => Some((self.ident(f.clone()), self.string(v.clone()))),
                        _ => None,
                    },
                }
            }
            _ => {
                let operation = self.ident(only_rule(&e, Rule::ident));
                match first(&e, Rule::sx_values) {
                    Some(v) => ScenarioExpect::ReceivedValues {
                        operation,
                        path: self.hl7_path(only_rule(&v, Rule::hl7_path)),
                        values: all(&v, Rule::string)
                            .into_iter()
                            .map(|s| self.string(s))
                            .collect(),
                    },
                    None => ScenarioExpect::Received {
                        operation,
                        count: self.token(only_rule(&e, Rule::pos_int)),
                    },
                }
            }
        }
    }

    fn expectation(&self, e: P) -> Expectation {
        match e.as_rule() {
            Rule::exp_routed => Expectation::Routed {
                negated: first(&e, Rule::exp_not).is_some(),
                word: if e.as_str().contains("delivered") {
                    "delivered"
                } else {
                    "routed"
                }
                .to_string(),
                to: self.ident(only_rule(&e, Rule::ident)),
            },
            Rule::exp_ack => Expectation::Ack(self.token(only_rule(&e, Rule::reply_class))),
            Rule::exp_rejected => {
                Expectation::Rejected(first(&e, Rule::string).map(|s| self.string(s)))
            }
            _ => {
                let mut parts = kids(&e);
                let path = parts.next().map(|p| match p.as_rule() {
                    Rule::hl7_path => KeyExpr::Hl7(self.hl7_path(p)),
                    _ => KeyExpr::Path(self.path_ref(p)),
                });
                let value = parts
                    .find(|p| p.as_rule() == Rule::expr)
                    .map(|x| self.expr(x));
                let span = self.span(&e);
                Expectation::Value {
                    path: path.unwrap_or(KeyExpr::Path(PathRef {
                        segments: vec![],
                        span,
                    })),
                    value: Box::new(value.unwrap_or(Expr {
                        kind: ExprKind::Lit(Lit {
                            kind: LitKind::Bool(true),
                            span,
                        }),
                        span,
                    })),
                }
            }
        }
    }
}

/// The first child of `rule`; the grammar guarantees it exists where this is called.
fn only_rule<'i>(p: &P<'i>, rule: Rule) -> P<'i> {
    first(p, rule).unwrap_or_else(|| p.clone())
}
