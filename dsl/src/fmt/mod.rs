//! The formatter: one canonical layout for `.accord` files. It prints the syntax tree (so
//! layout never depends on how the input was spaced), keeps every `//` comment and `///`
//! doc line, keeps single blank lines inside blocks, and is idempotent. A file with syntax
//! errors is not formatted.

mod comments;
mod printer;
mod text;

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::span::FileId;
use printer::Printer;
use text::*;

/// Formats a whole file, or returns its syntax errors.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, diags) = crate::parse_file(FileId(0), text);
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(format_file(text, &file))
}

/// Formats a parsed file; `text` is the source it was parsed from.
pub fn format_file(text: &str, file: &File) -> String {
    let mut p = Printer::new(text, comments::collect(text));
    let mut prev: Option<&Item> = None;
    for item in &file.items {
        if let Some(prev) = prev {
            let keep_together = same_one_liners(prev, item)
                && !p.blank_between(prev.span.end as usize, item.span.start as usize);
            if !keep_together {
                p.blank();
            }
        }
        p.leading(item.span.start as usize);
        p.docs(&item.docs);
        print_item(&mut p, item);
        prev = Some(item);
    }
    p.finish()
}

fn same_one_liners(a: &Item, b: &Item) -> bool {
    matches!(
        (&a.kind, &b.kind),
        (ItemKind::Import(_), ItemKind::Import(_))
            | (
                ItemKind::Environment(Environment { braces: false, .. }),
                ItemKind::Environment(Environment { braces: false, .. })
            )
    )
}

fn end(span: crate::span::Span) -> usize {
    span.end as usize
}

fn start(span: crate::span::Span) -> usize {
    span.start as usize
}

/// Prints a block's children, keeping one blank line where the source had one.
fn children<T>(
    p: &mut Printer,
    nodes: &[T],
    span_of: impl Fn(&T) -> crate::span::Span,
    mut print: impl FnMut(&mut Printer, &T),
) {
    let mut prev_end: Option<usize> = None;
    for n in nodes {
        let s = span_of(n);
        if let Some(pe) = prev_end {
            if p.blank_between(pe, start(s)) {
                p.blank();
            }
        }
        p.leading(start(s));
        print(p, n);
        prev_end = Some(end(s));
    }
}

fn print_item(p: &mut Printer, item: &Item) {
    let close = end(item.span).saturating_sub(1);
    match &item.kind {
        ItemKind::Estate(e) => p.line(
            &match &e.timezone {
                Some(z) => format!(
                    "estate {} version {} timezone {}",
                    quoted(&e.name),
                    e.version.text,
                    quoted(z)
                ),
                None => format!("estate {} version {}", quoted(&e.name), e.version.text),
            },
            end(item.span),
        ),
        ItemKind::Import(i) => p.line(&format!("import {}", quoted(&i.path)), end(item.span)),
        ItemKind::Environment(e) => {
            if e.braces {
                p.open(&format!("environment {}", e.name.name), end(e.name.span));
                print_props(p, &e.props);
                p.close(close);
            } else {
                p.line(&format!("environment {}", e.name.name), end(item.span));
            }
        }
        ItemKind::System(s) => {
            p.open(&format!("system {}", s.name.name), end(s.name.span));
            print_props(p, &s.props);
            p.close(close);
        }
        ItemKind::Endpoint(e) => {
            p.open(&format!("endpoint {}", e.name.name), end(e.name.span));
            children(
                p,
                &e.settings,
                |s| s.span,
                |p, s| {
                    p.docs(&s.docs);
                    p.line(
                        &format!("{}: {}", s.key.name, setting_values(&s.values)),
                        end(s.span),
                    );
                },
            );
            p.close(close);
        }
        ItemKind::Record(r) => {
            p.open(&format!("record {}", r.name.name), end(r.name.span));
            children(
                p,
                &r.fields,
                |f| f.span,
                |p, f| {
                    p.docs(&f.docs);
                    let mut line = format!("{}: {}", f.name.name, type_expr(&f.ty));
                    for c in &f.constraints {
                        line.push(' ');
                        line.push_str(&constraint(c));
                    }
                    p.line(&line, end(f.span));
                },
            );
            p.close(close);
        }
        ItemKind::Codeset(c) => print_codeset(p, c, close),
        ItemKind::Codemap(c) => print_codemap(p, c, close),
        ItemKind::Ownership(o) => print_ownership(p, o, close),
        ItemKind::Profile(pr) => print_profile(p, pr, close),
        ItemKind::Mapping(m) => {
            p.open(
                &format!(
                    "mapping {}: {} -> {}{}",
                    m.name.name,
                    schema(&m.source),
                    if m.partial.is_some() { "partial " } else { "" },
                    schema(&m.target)
                ),
                end(m.target.span),
            );
            print_map_body(p, &m.body);
            p.close(close);
        }
        ItemKind::Interface(i) => {
            p.open(
                &format!("interface {} version {}", i.name.name, i.version.text),
                end(i.version.span),
            );
            children(
                p,
                &i.clauses,
                |c| c.span,
                |p, c| {
                    p.docs(&c.docs);
                    p.line(&iface_clause(&c.kind), end(c.span));
                },
            );
            p.close(close);
        }
        ItemKind::Route(r) => {
            p.open(
                &format!("route {} from {}", r.name.name, r.from.name),
                end(r.from.span),
            );
            children(
                p,
                &r.rules,
                |r| r.span,
                |p, r| {
                    p.docs(&r.docs);
                    p.line(&route_rule(&r.kind), end(r.span));
                },
            );
            p.close(close);
        }
        ItemKind::Flow(f) => {
            p.open(&format!("flow {}", f.name.name), end(f.name.span));
            children(
                p,
                &f.clauses,
                |c| c.span,
                |p, c| {
                    p.docs(&c.docs);
                    p.line(&flow_clause(&c.kind), end(c.span));
                },
            );
            p.close(close);
        }
        ItemKind::Test(t) => {
            p.open(&format!("test {}", quoted(&t.name)), end(t.name.span));
            children(
                p,
                &t.stmts,
                |s| s.span,
                |p, s| p.line(&test_stmt(&s.kind), end(s.span)),
            );
            p.close(close);
        }
        ItemKind::Scenario(t) => {
            p.open(&format!("scenario {}", quoted(&t.name)), end(t.name.span));
            children(
                p,
                &t.steps,
                |s| s.span,
                |p, s| p.line(&scenario_step(&s.kind), end(s.span)),
            );
            p.close(close);
        }
    }
}

fn print_props(p: &mut Printer, props: &[Prop]) {
    children(
        p,
        props,
        |pr| pr.span,
        |p, pr| {
            p.docs(&pr.docs);
            p.line(
                &format!("{}: {}", pr.key.name, lit(&pr.value)),
                end(pr.span),
            );
        },
    );
}

/// A codeset's properties and codes, printed in the order they were written: a code
/// without a display moved up against a quoted code would take that code as its display
/// (`n` then `"H" "High"` reads back as `n "H"`).
enum CodesetMember<'a> {
    Prop(&'a Ident, &'a StrLit),
    Code(&'a CodeEntry),
}

fn print_codeset(p: &mut Printer, c: &Codeset, close: usize) {
    p.open(&format!("codeset {}", c.name.name), end(c.name.span));
    let mut members: Vec<CodesetMember> = c
        .props
        .iter()
        .map(|(k, v)| CodesetMember::Prop(k, v))
        .chain(c.codes.iter().map(CodesetMember::Code))
        .collect();
    let span_of = |m: &CodesetMember| match m {
        CodesetMember::Prop(k, v) => crate::span::Span {
            end: v.span.end,
            ..k.span
        },
        CodesetMember::Code(e) => e.span,
    };
    members.sort_by_key(|m| start(span_of(m)));
    children(p, &members, span_of, |p, m| match m {
        CodesetMember::Prop(k, v) => p.line(&format!("{}: {}", k.name, quoted(v)), end(v.span)),
        CodesetMember::Code(e) => {
            p.docs(&e.docs);
            let mut line = code_name(&e.code);
            if let Some(d) = &e.display {
                line.push(' ');
                line.push_str(&quoted(d));
            }
            p.line(&line, end(e.span));
        }
    });
    p.close(close);
}

fn print_codemap(p: &mut Printer, c: &Codemap, close: usize) {
    p.open(
        &format!(
            "codemap {}: {} -> {}",
            c.name.name,
            type_expr(&c.from),
            type_expr(&c.to)
        ),
        end(c.to.span),
    );
    let span_of = |r: &CodemapRule| match r {
        CodemapRule::Entry(e) => e.span,
        CodemapRule::Default(d) => d.span,
    };
    children(p, &c.rules, span_of, |p, r| match r {
        CodemapRule::Entry(e) => {
            p.docs(&e.docs);
            let sources: Vec<String> = e.sources.iter().map(code_name).collect();
            p.line(
                &format!("{} => {}", sources.join(" | "), code_name(&e.target)),
                end(e.span),
            );
        }
        CodemapRule::Default(d) => {
            p.docs(&d.docs);
            let action = match &d.action {
                DefaultAction::Reject(None) => "reject".to_string(),
                DefaultAction::Reject(Some(m)) => format!("reject {}", quoted(m)),
                DefaultAction::Pass => "pass".to_string(),
                DefaultAction::Absent => "absent".to_string(),
                DefaultAction::Value(v) => code_name(v),
            };
            p.line(&format!("_ => {action}"), end(d.span));
        }
    });
    p.close(close);
}

fn print_ownership(p: &mut Printer, o: &Ownership, close: usize) {
    let mut header = format!("ownership {}", o.record.name);
    let mut header_end = end(o.record.span);
    if !o.stages.is_empty() {
        header.push_str(&format!(" stages [{}]", names(&o.stages, " ")));
        header_end = o
            .stages
            .last()
            .map(|s| end(s.span) + 1)
            .unwrap_or(header_end);
    }
    if let Some(f) = &o.stage_field {
        header.push_str(&format!(" from {}", f.name));
        header_end = end(f.span);
    }
    p.open(&header, header_end);
    children(
        p,
        &o.fields,
        |f| f.span,
        |p, f| {
            p.docs(&f.docs);
            let clauses: Vec<String> = f.clauses.iter().map(own_clause).collect();
            p.line(
                &format!("{}: {}", names(&f.path, "."), clauses.join("; ")),
                end(f.span),
            );
        },
    );
    p.close(close);
}

fn print_profile(p: &mut Printer, pr: &Profile, close: usize) {
    let msgs: Vec<&str> = pr.messages.iter().map(|m| m.text.as_str()).collect();
    let header_end = pr
        .messages
        .last()
        .map(|m| end(m.span))
        .unwrap_or(end(pr.version.span));
    p.open(
        &format!(
            "profile {}: hl7v2 {} {}",
            pr.name.name,
            pr.version.text,
            msgs.join(", ")
        ),
        header_end,
    );
    let span_of = |i: &ProfileItem| match i {
        ProfileItem::Rule(r) => r.span,
        ProfileItem::Segment(s) => s.span,
    };
    children(p, &pr.items, span_of, |p, i| match i {
        ProfileItem::Rule(r) => {
            p.docs(&r.docs);
            let line = format!(
                "{} {}{}",
                r.path,
                r.usage.text,
                constraints_tail(r.card, r.len, &r.table)
            );
            p.line(&line, end(r.span));
        }
        ProfileItem::Segment(s) => {
            p.docs(&s.docs);
            let mut header = format!("segment {}", s.id.text);
            if let Some(a) = &s.after {
                header.push_str(&format!(" after {}", a.text));
            }
            if let Some(u) = &s.usage {
                header.push_str(&format!(" {}", u.text));
            }
            if let Some(c) = s.card {
                header.push_str(&format!(" {}", card(c)));
            }
            let header_end = s
                .card
                .map(|c| end(c.span))
                .or(s.usage.as_ref().map(|u| end(u.span)))
                .unwrap_or(end(s.id.span));
            p.open(&header, header_end);
            children(
                p,
                &s.fields,
                |z| z.span,
                |p, z| {
                    p.docs(&z.docs);
                    let usage = z
                        .usage
                        .as_ref()
                        .map(|u| format!(" {}", u.text))
                        .unwrap_or_default();
                    p.line(
                        &format!(
                            "{}: {} {}{usage}{}",
                            z.position,
                            z.datatype.name,
                            quoted(&z.name),
                            constraints_tail(z.card, z.len, &z.table)
                        ),
                        end(z.span),
                    );
                },
            );
            p.close(end(s.span).saturating_sub(1));
        }
    });
    p.close(close);
}

fn print_map_body(p: &mut Printer, body: &[MapStmt]) {
    children(
        p,
        body,
        |s| s.span,
        |p, s| {
            p.docs(&s.docs);
            let close = end(s.span).saturating_sub(1);
            match &s.kind {
                MapStmtKind::Assign {
                    target,
                    values,
                    clear,
                } => {
                    let vals: Vec<String> = values.iter().map(expr).collect();
                    let clear = if clear.is_some() { " clear" } else { "" };
                    p.line(
                        &format!("{} <- {}{clear}", map_target(target), vals.join(", ")),
                        end(s.span),
                    );
                }
                MapStmtKind::For {
                    target,
                    source,
                    value: Some(value),
                    ..
                } => {
                    let src = match source {
                        IterSource::Segment(t) | IterSource::Group(t) => t.text.clone(),
                        IterSource::Path(pr) => pr.to_string(),
                        IterSource::Repetitions(p) => p.to_string(),
                    };
                    p.line(
                        &format!("{} <- for each {src}: {}", map_target(target), expr(value)),
                        end(s.span),
                    );
                }
                MapStmtKind::For {
                    target,
                    source,
                    body,
                    value: None,
                } => {
                    let src = match source {
                        IterSource::Segment(t) | IterSource::Group(t) => t.text.clone(),
                        IterSource::Path(pr) => pr.to_string(),
                        IterSource::Repetitions(p) => p.to_string(),
                    };
                    let src_end = match source {
                        IterSource::Segment(t) | IterSource::Group(t) => end(t.span),
                        IterSource::Path(pr) => end(pr.span),
                        IterSource::Repetitions(p) => end(p.span),
                    };
                    p.open(
                        &format!("{} <- for each {src}", map_target(target)),
                        src_end,
                    );
                    print_map_body(p, body);
                    p.close(close);
                }
                MapStmtKind::When {
                    cond,
                    then,
                    otherwise,
                } => {
                    p.open(&format!("when {}", expr(cond)), end(cond.span));
                    print_map_body(p, then);
                    match otherwise {
                        None => p.close(close),
                        Some(other) => {
                            // `} else {` is one line: close the first block by hand.
                            let else_start = other.first().map(|o| start(o.span)).unwrap_or(close);
                            let then_close =
                                p.src[..else_start].rfind("else").unwrap_or(else_start);
                            p.leading(then_close);
                            p.dedent_line("} else {", then_close + 4);
                            print_map_body(p, other);
                            p.close(close);
                        }
                    }
                }
            }
        },
    );
}
