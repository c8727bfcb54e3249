//! Canonical text of the small pieces of syntax (types, literals, expressions, clauses)
//! that the formatter prints on one line.

use crate::ast::*;

pub(super) fn quoted(s: &StrLit) -> String {
    format!("\"{}\"", s.raw)
}

pub(super) fn names(ids: &[Ident], sep: &str) -> String {
    ids.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(sep)
}

pub(super) fn lit(l: &Lit) -> String {
    match &l.kind {
        LitKind::Str(s) => quoted(s),
        LitKind::Int(i) => i.to_string(),
        LitKind::Decimal(d) | LitKind::Date(d) | LitKind::Semver(d) | LitKind::Ident(d) => {
            d.clone()
        }
        LitKind::Bool(b) => b.to_string(),
        LitKind::Duration(d) => d.text.clone(),
    }
}

pub(super) fn setting_values(values: &[EnvValue]) -> String {
    values
        .iter()
        .map(|v| {
            let mut s = match &v.value {
                SettingValue::Env(n) => format!("env({})", quoted(n)),
                SettingValue::Secret(n) => format!("secret({})", quoted(n)),
                SettingValue::Lit(l) => lit(l),
            };
            if let Some(e) = &v.env {
                s.push_str(" in ");
                s.push_str(&e.name);
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn type_expr(t: &TypeExpr) -> String {
    let base = match &t.kind {
        TypeKind::Named(n) => n.name.clone(),
        TypeKind::List(inner) => format!("[{}]", type_expr(inner)),
        TypeKind::Code(c) => format!("Code<{}>", c.name),
    };
    if t.optional {
        format!("{base}?")
    } else {
        base
    }
}

fn range(r: &RangeLit) -> String {
    format!(
        "{}..{}",
        r.lo.as_deref().unwrap_or(""),
        r.hi.as_deref().unwrap_or("")
    )
}

pub(super) fn constraint(c: &Constraint) -> String {
    match &c.kind {
        ConstraintKind::Key => "key".to_string(),
        ConstraintKind::Unique => "unique".to_string(),
        ConstraintKind::Check(n) => format!("check {}", n.name),
        ConstraintKind::Length(r) => format!("length {}", range(r)),
        ConstraintKind::Range(r) => format!("range {}", range(r)),
        ConstraintKind::Pattern(s) => format!("pattern {}", quoted(s)),
    }
}

pub(super) fn code_name(c: &CodeName) -> String {
    if c.quoted {
        format!("\"{}\"", c.value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        c.value.clone()
    }
}

pub(super) fn own_clause(c: &OwnClause) -> String {
    match &c.kind {
        OwnClauseKind::Owner(o) => format!("owner {}", names(o, ", ")),
        OwnClauseKind::Accept { systems, when } => {
            let mut s = format!("accept {}", names(systems, ", "));
            match when {
                None => {}
                Some(AcceptCond::Absent) => s.push_str(" when absent"),
                Some(AcceptCond::StageBefore(st)) => {
                    s.push_str(&format!(" when stage before {}", st.name))
                }
                Some(AcceptCond::StageIn(sts)) => {
                    s.push_str(&format!(" when stage in [{}]", names(sts, " ")))
                }
            }
            s
        }
        OwnClauseKind::Conflict(ConflictRule::Named(n, None)) => format!("conflict {}", n.name),
        OwnClauseKind::Conflict(ConflictRule::Named(n, Some(by))) => {
            let by: Vec<&str> = by.iter().map(|i| i.name.as_str()).collect();
            format!("conflict {} by {}", n.name, by.join("."))
        }
        OwnClauseKind::Conflict(ConflictRule::Review(None)) => "conflict review".to_string(),
        OwnClauseKind::Conflict(ConflictRule::Review(Some(q))) => {
            format!("conflict review {}", quoted(q))
        }
        OwnClauseKind::Lock(st) => format!("lock from {}", st.name),
    }
}

pub(super) fn card(c: Cardinality) -> String {
    match c.max {
        Some(m) => format!("{}..{m}", c.min),
        None => format!("{}..*", c.min),
    }
}

pub(super) fn constraints_tail(
    c: Option<Cardinality>,
    len: Option<u32>,
    table: &Option<Token>,
) -> String {
    let mut s = String::new();
    if let Some(c) = c {
        s.push_str(&format!(" {}", card(c)));
    }
    if let Some(l) = len {
        s.push_str(&format!(" len {l}"));
    }
    if let Some(t) = table {
        s.push_str(&format!(" table {}", t.text));
    }
    s
}

pub(super) fn schema(s: &SchemaRef) -> String {
    match &s.kind {
        SchemaKind::Hl7 { version, message } => format!("hl7v2 {} {}", version.text, message.text),
        SchemaKind::Hl7Profile(p) => format!("hl7v2 {}", p.name),
        SchemaKind::Fhir(r) => format!("fhir r4 {}", r.name),
        SchemaKind::Record(r) => r.name.clone(),
    }
}

pub(super) fn map_target(t: &MapTarget) -> String {
    match t {
        MapTarget::Hl7(p) => p.to_string(),
        MapTarget::Segment(s) => s.text.clone(),
        MapTarget::Path(p) => p.to_string(),
    }
}

pub(super) fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Lit(l) => lit(l),
        ExprKind::Hl7(p) => p.to_string(),
        ExprKind::Path(p) => p.to_string(),
        ExprKind::Call { func, args } => {
            let args: Vec<String> = args.iter().map(expr).collect();
            format!("{}({})", func.name, args.join(", "))
        }
        ExprKind::Via { expr: inner, map } => format!("{} via {}", expr(inner), map.name),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            format!(
                "if {} then {} else {}",
                expr(cond),
                expr(then),
                expr(otherwise)
            )
        }
        ExprKind::Binary { op, lhs, rhs } => format!("{} {} {}", expr(lhs), op.as_str(), expr(rhs)),
        ExprKind::Absent => "absent".to_string(),
        ExprKind::Not(inner) => format!("not {}", expr(inner)),
        ExprKind::Paren(inner) => format!("({})", expr(inner)),
    }
}

pub(super) fn action(a: &Action) -> String {
    match &a.kind {
        ActionKind::Retry { count, timing } => {
            let mut s = "retry".to_string();
            match count {
                RetryCount::Unbounded => {}
                RetryCount::Times(n) => s.push_str(&format!(" {n} times")),
                RetryCount::Forever => s.push_str(" forever"),
            }
            match timing {
                None => {}
                Some(RetryTiming::Backoff(lo, hi)) => {
                    s.push_str(&format!(" backoff {}..{}", lo.text, hi.text))
                }
                Some(RetryTiming::Every(d)) => s.push_str(&format!(" every {}", d.text)),
            }
            s
        }
        ActionKind::Alert(t) => format!("alert {}", quoted(t)),
        ActionKind::Send(i) => format!("send {}", i.name),
        ActionKind::Simple(t) => t.text.clone(),
    }
}

fn actions(list: &[Action]) -> String {
    list.iter().map(action).collect::<Vec<_>>().join(" ")
}

pub(super) fn iface_clause(c: &IfaceClauseKind) -> String {
    match c {
        IfaceClauseKind::Route { from, to, via } => {
            let mut s = format!("from {} to {}", from.name, to.name);
            if let Some(v) = via {
                s.push_str(&format!(" via {}", v.name));
            }
            s
        }
        IfaceClauseKind::Messages(m) => {
            format!(
                "messages: {}",
                m.iter()
                    .map(|t| t.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        IfaceClauseKind::Ack { mode, within } => match within {
            Some(d) => format!("ack: {} within {}", mode.name, d.text),
            None => format!("ack: {}", mode.name),
        },
        IfaceClauseKind::On {
            classes,
            actions: first,
            then,
        } => {
            let classes: Vec<&str> = classes.iter().map(|c| c.text.as_str()).collect();
            let mut s = format!("on {}: {}", classes.join(" | "), actions(first));
            if !then.is_empty() {
                s.push_str(&format!(" then {}", actions(then)));
            }
            s
        }
        IfaceClauseKind::Idempotency(keys) => {
            format!(
                "idempotency: {}",
                keys.iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        IfaceClauseKind::Ordering(keys) => format!(
            "ordering: per {}",
            keys.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        IfaceClauseKind::SendsOnly { record, fields } => {
            format!("sends only: {}.{{{}}}", record.name, names(fields, " "))
        }
        IfaceClauseKind::Sla(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|i| match i {
                    SlaItem::Delivered { percentile, under } => {
                        format!("delivered {} < {}", percentile.text, under.text)
                    }
                    SlaItem::Backlog(n) => format!("backlog < {n}"),
                    SlaItem::Quiet(d) => format!("quiet < {}", d.text),
                })
                .collect();
            format!("sla: {}", items.join(", "))
        }
        IfaceClauseKind::Status { status, sunset } => match sunset {
            Some(d) => format!("status: {} sunset {}", status.name, d.text),
            None => format!("status: {}", status.name),
        },
        IfaceClauseKind::Transform(ms) => format!("transform: {}", names(ms, ", ")),
        IfaceClauseKind::Serves(ms) => format!("serves: {}", names(ms, ", ")),
        IfaceClauseKind::Accepts(ms) => format!("accepts: {}", names(ms, ", ")),
        IfaceClauseKind::Retain(d) => format!("retain: {}", d.text),
        IfaceClauseKind::Split(s) => format!("split: per {}", s.text),
        IfaceClauseKind::Link(l) => {
            format!("link: {} {} with {}", l.record.name, l.first, l.second)
        }
        IfaceClauseKind::Merge(m) => {
            let policy = match &m.policy {
                MergePolicy::Follow(_) => "follow".to_string(),
                MergePolicy::Hold { queue: None, .. } => "hold".to_string(),
                MergePolicy::Hold { queue: Some(q), .. } => format!("hold \"{}\"", q.raw),
            };
            format!(
                "merge: {} from {} into {} {policy}",
                m.record.name, m.retired, m.survivor
            )
        }
        IfaceClauseKind::Prop(p) => format!("{}: {}", p.key.name, lit(&p.value)),
    }
}

pub(super) fn route_rule(r: &RouteRuleKind) -> String {
    match r {
        RouteRuleKind::Otherwise { targets } => format!("otherwise -> {}", names(targets, ", ")),
        RouteRuleKind::Match {
            types,
            when,
            targets,
        } => {
            let mut parts = vec![];
            match types {
                None => {}
                Some(RuleTypes::Any(_)) => parts.push("*".to_string()),
                Some(RuleTypes::List(ts)) => parts.push(
                    ts.iter()
                        .map(|t| t.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" | "),
                ),
            }
            if let Some(w) = when {
                parts.push(format!("when {}", expr(w)));
            }
            parts.push(format!("-> {}", names(targets, ", ")));
            parts.join(" ")
        }
    }
}

pub(super) fn flow_clause(c: &FlowClauseKind) -> String {
    match c {
        FlowClauseKind::Start(i) => format!("start on {}", i.name),
        FlowClauseKind::Correlate(k) => format!("correlate by {k}"),
        FlowClauseKind::Wait { interface, within } => {
            format!("wait for {} within {}", interface.name, within.text)
        }
        FlowClauseKind::Cancel(cond) => format!("cancel when {}", expr(cond)),
        FlowClauseKind::HoldEarly(d) => format!("hold early within {}", d.text),
        FlowClauseKind::On {
            event,
            actions: list,
        } => format!("on {}: {}", event.text, actions(list)),
    }
}

pub(super) fn test_stmt(s: &TestStmtKind) -> String {
    match s {
        TestStmtKind::Given { source, at } => {
            let mut line = match source {
                GivenSource::File(f) => format!("given hl7 file({})", quoted(f)),
                GivenSource::Inline(s) => format!("given hl7 {}", quoted(s)),
            };
            if let Some(a) = at {
                line.push_str(&format!(" at {}", a.name));
            }
            line
        }
        TestStmtKind::Expect(e) => match e {
            Expectation::Routed { negated, word, to } => {
                format!(
                    "expect {}{word} to {}",
                    if *negated { "not " } else { "" },
                    to.name
                )
            }
            Expectation::Ack(c) => format!("expect ack {}", c.text),
            Expectation::Rejected(None) => "expect rejected".to_string(),
            Expectation::Rejected(Some(m)) => format!("expect rejected {}", quoted(m)),
            Expectation::Value { path, value } => format!("expect {path} == {}", expr(value)),
        },
    }
}

pub(super) fn scenario_step(s: &StepKind) -> String {
    let source = |s: &GivenSource| match s {
        GivenSource::File(f) => format!("file({})", quoted(f)),
        GivenSource::Inline(s) => quoted(s),
    };
    match s {
        StepKind::Peer { operation, answers } => format!(
            "peer {} answers {}",
            operation.name,
            answers
                .iter()
                .map(|a| a.text.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        StepKind::Send { source: s, at } => format!("send hl7 {} at {}", source(s), at.name),
        StepKind::Advance(d) => format!("advance {}", d.text),
        StepKind::Resend(op) => format!("resend dead at {}", op.name),
        StepKind::Replay(op) => format!("replay {}", op.name),
        StepKind::Review { approve, queue } => {
            let mut line = format!("{} review", if *approve { "approve" } else { "reject" });
            if let Some(q) = queue {
                line.push_str(&format!(" {}", quoted(q)));
            }
            line
        }
        StepKind::Expect(e) => match e {
            ScenarioExpect::Ack(c) => format!("expect ack {}", c.text),
            ScenarioExpect::Count { count, state, at } => {
                let mut line = format!("expect {} {}", count.text, state.text);
                if let Some(a) = at {
                    line.push_str(&format!(" at {}", a.name));
                }
                line
            }
            ScenarioExpect::Link {
                absent,
                record,
                first,
                second,
            } => format!(
                "expect {}link {} {} {}",
                if *absent { "no " } else { "" },
                record.name,
                quoted(first),
                quoted(second)
            ),
            ScenarioExpect::Record {
                absent,
                record,
                key,
                field,
            } => {
                let mut line = format!(
                    "expect {}record {} {}",
                    if *absent { "no " } else { "" },
                    record.name,
                    quoted(key)
                );
                if let Some((f, v)) = field {
                    line.push_str(&format!(" {} == {}", f.name, quoted(v)));
                }
                line
            }
            ScenarioExpect::Flow { flow, key, state } => {
                format!("expect flow {} {} {}", flow.name, quoted(key), state.text)
            }
            ScenarioExpect::Received { operation, count } => {
                format!("expect {} received {}", operation.name, count.text)
            }
            ScenarioExpect::ReceivedValues {
                operation,
                path,
                values,
            } => format!(
                "expect {} received {path} == {}",
                operation.name,
                values.iter().map(quoted).collect::<Vec<_>>().join(", ")
            ),
        },
    }
}
