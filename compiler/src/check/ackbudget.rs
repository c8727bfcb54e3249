//! Retry budgets against the application ACKs that wait for them: when a service answers
//! its sender only once the downstream outcome is known (`ack: application within 8s`),
//! every operation its routes deliver to must reach an outcome within that time. A retry
//! policy whose worst case (every attempt timing out, every wait at its longest) outlasts
//! it means the sender is answered before the retries end: a contradiction (E0513).

use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{
    ActionKind, IfaceClauseKind, Interface, RetryCount, RetryTiming, RouteRuleKind,
};
use accord_dsl::Span;

/// How long an operation waits for a reply when its contract gives no timeout (the
/// engine's default).
const DEFAULT_REPLY_TIMEOUT_MS: u64 = 30_000;

pub(super) fn check(c: &mut Checker) {
    let mut found = vec![];
    for (_, d) in c.m.routes.iter() {
        let Some(source) = interface(c, &d.node.from.name) else {
            continue;
        };
        let Some((within, ack_span)) = application_ack(source) else {
            continue;
        };
        for rule in &d.node.rules {
            let (RouteRuleKind::Match { targets, .. } | RouteRuleKind::Otherwise { targets }) =
                &rule.kind;
            for t in targets {
                let Some(op) = interface(c, &t.name) else {
                    continue;
                };
                for (span, budget) in retry_budgets(op) {
                    if budget.is_none_or(|b| b > within) {
                        found.push((
                            span,
                            budget,
                            t.name.clone(),
                            d.node.from.name.clone(),
                            within,
                            ack_span,
                        ));
                    }
                }
            }
        }
    }
    found.sort_by_key(|f| (f.0.file, f.0.start));
    found.dedup_by_key(|f| (f.0, f.3.clone()));
    for (span, budget, op, service, within, ack_span) in found {
        c.push(diag::retries_outlast_application_ack(
            span,
            budget.map(millis_text),
            &op,
            &service,
            &millis_text(within),
            ack_span,
        ));
    }
}

fn interface<'a>(c: &Checker<'_, 'a>, name: &str) -> Option<&'a Interface> {
    match c.m.names.get(name) {
        Some(&(Kind::Interface, id)) => Some(c.m.interfaces.get(id).node),
        _ => None,
    }
}

/// `ack: application within T`: T and the clause.
fn application_ack(i: &Interface) -> Option<(u64, Span)> {
    i.clauses.iter().find_map(|cl| match &cl.kind {
        IfaceClauseKind::Ack {
            mode,
            within: Some(w),
        } if mode.name == "application" => Some((w.millis, cl.span)),
        _ => None,
    })
}

/// Every retry action of an operation with its worst-case duration in milliseconds
/// (`None`: it never ends).
fn retry_budgets(op: &Interface) -> Vec<(Span, Option<u64>)> {
    let reply_timeout = op
        .clauses
        .iter()
        .find_map(|cl| match &cl.kind {
            IfaceClauseKind::Ack { mode, within } => Some(if mode.name == "never" {
                0
            } else {
                within
                    .as_ref()
                    .map_or(DEFAULT_REPLY_TIMEOUT_MS, |w| w.millis)
            }),
            _ => None,
        })
        .unwrap_or(DEFAULT_REPLY_TIMEOUT_MS);
    let mut out = vec![];
    for cl in &op.clauses {
        let IfaceClauseKind::On { actions, then, .. } = &cl.kind else {
            continue;
        };
        for a in actions.iter().chain(then) {
            let ActionKind::Retry { count, timing } = &a.kind else {
                continue;
            };
            let budget = match count {
                RetryCount::Times(n) => {
                    let n = u64::from(*n);
                    Some((n + 1) * reply_timeout + waits(n, timing.as_ref()))
                }
                RetryCount::Forever | RetryCount::Unbounded => None,
            };
            out.push((a.span, budget));
        }
    }
    out
}

/// The longest total wait between `n` retries.
fn waits(n: u64, timing: Option<&RetryTiming>) -> u64 {
    match timing {
        None => 0,
        Some(RetryTiming::Every(d)) => n * d.millis,
        Some(RetryTiming::Backoff(min, max)) => (0..n)
            .map(|k| min.millis.saturating_mul(1u64 << k.min(32)).min(max.millis))
            .sum(),
    }
}

/// `95s`, `2m 5s`, `1h 30m`, `500ms`.
fn millis_text(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .iter()
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_and_their_text() {
        let d = |millis| accord_dsl::ast::Duration {
            text: String::new(),
            millis,
            span: Span::default(),
        };
        assert_eq!(
            waits(3, Some(&RetryTiming::Backoff(d(1000), d(3000)))),
            6000
        );
        assert_eq!(waits(2, Some(&RetryTiming::Every(d(500)))), 1000);
        assert_eq!(millis_text(95_000), "1m 35s");
        assert_eq!(millis_text(500), "500ms");
    }
}
