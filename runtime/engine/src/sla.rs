//! The contract's service levels at run time. `delivered pNN < D` is measured over a
//! sliding window of the last five minutes of deliveries (from receipt by the production to
//! the receiver's accepting reply), for the operation that delivered and for the service
//! that received the message. `backlog < N` counts what waits in the journal: an
//! operation's queue, or for a service what it received that still waits to go out.
//! `quiet < D` times the last message a service received or an operation delivered.
//!
//! Each SLA is a gauge on `/metrics` (`accord_sla_breached{interface,sla}`), and a breach
//! raises one alert and a warning; the recovery is logged.

use super::alerts::Notifier;
use super::metrics::{Metrics, SlaLabel};
use accord_runtime::spec::{Interface, Role};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

/// How far back `delivered pNN` looks.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;
/// The most deliveries kept per interface: past this the oldest go first, so memory stays
/// flat at any rate (the percentile is then over the most recent deliveries).
const SAMPLES: usize = 8192;

/// Delivery latencies and last-message times, for the interfaces whose contracts ask.
pub struct Tracker {
    /// Interfaces with `delivered` (latencies kept) and with `quiet` (last times kept).
    timed: BTreeSet<String>,
    quiet: BTreeSet<String>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// (when delivered, milliseconds taken), oldest first.
    latencies: HashMap<String, VecDeque<(i64, i64)>>,
    /// When each interface last received or delivered a message.
    last: HashMap<String, i64>,
}

impl Tracker {
    /// A tracker for `interfaces`' SLAs; every quiet clock starts at `now` (a production
    /// that has heard nothing since it started has been quiet since then).
    pub fn new(interfaces: &[Interface], now: i64) -> Tracker {
        let timed = interfaces
            .iter()
            .filter(|i| i.sla.delivered.is_some())
            .map(|i| i.name.clone())
            .collect();
        let quiet: BTreeSet<String> = interfaces
            .iter()
            .filter(|i| i.sla.quiet_ms.is_some())
            .map(|i| i.name.clone())
            .collect();
        let state = State {
            last: quiet.iter().map(|n| (n.clone(), now)).collect(),
            ..State::default()
        };
        Tracker {
            timed,
            quiet,
            state: Mutex::new(state),
        }
    }

    /// A service received (journalled) a message; or, read from the journal, an interface
    /// last had one then (at start-up, and from other nodes' receipts).
    pub fn heard(&self, interface: &str, now: i64) {
        if !self.quiet.contains(interface) {
            return;
        }
        if let Ok(mut s) = self.state.lock() {
            let last = s.last.entry(interface.to_string()).or_insert(now);
            *last = (*last).max(now);
        }
    }

    /// `operation` delivered a message that `origin` received `took` milliseconds earlier.
    pub fn delivered(&self, operation: &str, origin: Option<&str>, took: i64, now: i64) {
        self.heard(operation, now);
        let names = std::iter::once(operation)
            .chain(origin)
            .filter(|n| self.timed.contains(*n));
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        for name in names {
            let q = s.latencies.entry(name.to_string()).or_default();
            if q.len() == SAMPLES {
                q.pop_front();
            }
            q.push_back((now, took));
        }
    }

    /// The `percentile` of the window's latencies in milliseconds, or `None` when nothing
    /// was delivered in the window. Drops what has left the window.
    pub fn percentile(&self, interface: &str, percentile: u32, now: i64) -> Option<i64> {
        let mut s = self.state.lock().ok()?;
        let q = s.latencies.get_mut(interface)?;
        while q.front().is_some_and(|(at, _)| *at < now - WINDOW_MS) {
            q.pop_front();
        }
        let mut took: Vec<i64> = q.iter().map(|(_, t)| *t).collect();
        nearest_rank(&mut took, percentile)
    }

    /// Milliseconds since `interface` last had a message.
    pub fn quiet_for(&self, interface: &str, now: i64) -> Option<i64> {
        let s = self.state.lock().ok()?;
        s.last.get(interface).map(|at| (now - at).max(0))
    }
}

/// The nearest-rank percentile: the smallest value with at least `percentile` per cent of
/// the values at or below it.
fn nearest_rank(values: &mut [i64], percentile: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (u64::from(percentile.clamp(1, 100)) * values.len() as u64).div_ceil(100);
    Some(values[(rank as usize).saturating_sub(1)])
}

/// What the journal says waits: per operation its queue, per service what it received
/// that still waits to go out.
#[derive(Default)]
pub struct Backlogs {
    pub operations: HashMap<String, i64>,
    pub services: HashMap<String, i64>,
}

/// Which SLAs are broken now; remembered between evaluations so that each breach alerts
/// once and its end is logged.
#[derive(Default)]
pub struct Breaches(BTreeSet<(String, &'static str)>);

/// What an SLA's state did at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Broke,
    Mended,
    Same,
}

impl Breaches {
    /// Records whether `interface`'s `sla` holds, and whether it has just broken or mended.
    fn set(
        &mut self,
        metrics: &Metrics,
        interface: &str,
        sla: &'static str,
        broken: bool,
    ) -> Change {
        metrics
            .sla_breached
            .get_or_create(&SlaLabel {
                interface: interface.to_string(),
                sla: sla.to_string(),
            })
            .set(i64::from(broken));
        let key = (interface.to_string(), sla);
        if broken {
            if self.0.insert(key) {
                Change::Broke
            } else {
                Change::Same
            }
        } else if self.0.remove(&key) {
            tracing::info!(interface, sla, "SLA met again");
            Change::Mended
        } else {
            Change::Same
        }
    }
}

/// Alerts on a breach (counted, logged, posted) and a recovery notice when it mends.
fn notify(
    change: Change,
    metrics: &Metrics,
    alerts: &Notifier,
    (kind, interface): (&str, &str),
    breach: impl FnOnce() -> String,
) {
    let name = format!("{kind}:{interface}");
    match change {
        Change::Broke => {
            let text = breach();
            metrics.alert(&name);
            tracing::warn!(alert = kind, interface, "ALERT: {text}");
            alerts.raise(&name, interface, &text);
        }
        Change::Mended => alerts.resolve(
            &name,
            interface,
            &format!("{interface} meets its contract's `sla` ({kind}) again"),
        ),
        Change::Same => {}
    }
}

/// Measures every interface's SLAs now, sets their gauges, and alerts on new breaches.
pub fn evaluate(
    interfaces: &[Interface],
    tracker: &Tracker,
    backlogs: &Backlogs,
    metrics: &Metrics,
    alerts: &Notifier,
    breaches: &mut Breaches,
    now: i64,
) {
    for i in interfaces {
        let label = Metrics::iface(&i.name);
        if let Some((percentile, under_ms)) = i.sla.delivered {
            let measured = tracker.percentile(&i.name, percentile, now);
            if let Some(ms) = measured {
                metrics
                    .sla_delivered
                    .get_or_create(&label)
                    .set(ms as f64 / 1000.0);
            }
            let broken = measured.is_some_and(|ms| ms >= under_ms as i64);
            let change = breaches.set(metrics, &i.name, "delivered", broken);
            notify(change, metrics, alerts, ("sla", &i.name), || {
                format!(
                    "deliveries take {} ms at p{percentile} over the last five minutes, over the contract's `sla: delivered p{percentile} < {under_ms} ms`",
                    measured.unwrap_or(0)
                )
            });
        }
        if let Some(limit) = i.sla.backlog_under {
            let waiting = match i.role {
                Role::Operation => backlogs.operations.get(&i.name),
                _ => backlogs.services.get(&i.name),
            };
            let depth = waiting.copied().unwrap_or(0);
            let broken = depth >= i64::from(limit);
            if i.role == Role::Operation {
                metrics
                    .backlog_breached
                    .get_or_create(&label)
                    .set(i64::from(broken));
            }
            let change = breaches.set(metrics, &i.name, "backlog", broken);
            notify(change, metrics, alerts, ("backlog", &i.name), || {
                format!("{depth} messages wait, over the contract's `sla: backlog < {limit}`; is the peer down?")
            });
        }
        if let Some(under_ms) = i.sla.quiet_ms {
            let quiet = tracker.quiet_for(&i.name, now).unwrap_or(0);
            metrics
                .quiet_seconds
                .get_or_create(&label)
                .set(quiet / 1000);
            let broken = quiet >= under_ms as i64;
            let change = breaches.set(metrics, &i.name, "quiet", broken);
            notify(change, metrics, alerts, ("quiet", &i.name), || {
                format!(
                    "no message for {} s, over the contract's `sla: quiet < {} s`; has the feed stopped?",
                    quiet / 1000,
                    under_ms / 1000
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<i64> = (1..=100).collect();
        assert_eq!(nearest_rank(&mut v, 95), Some(95));
        assert_eq!(nearest_rank(&mut v, 100), Some(100));
        assert_eq!(nearest_rank(&mut v, 1), Some(1));
        assert_eq!(nearest_rank(&mut [7], 95), Some(7));
        assert_eq!(nearest_rank(&mut [], 95), None);
        // Twenty values: p95 is the 19th, so one outlier does not break p95 alone.
        let mut v: Vec<i64> = std::iter::repeat_n(10, 19).chain([5000]).collect();
        assert_eq!(nearest_rank(&mut v, 95), Some(10));
        assert_eq!(nearest_rank(&mut v, 99), Some(5000));
    }

    fn iface(name: &str, sla: accord_runtime::spec::Sla) -> Interface {
        let mut i = Interface::example(name, Role::Operation);
        i.sla = sla;
        i
    }

    #[test]
    fn latencies_leave_the_window() {
        let i = iface(
            "out",
            accord_runtime::spec::Sla {
                delivered: Some((95, 1000)),
                ..Default::default()
            },
        );
        let t = Tracker::new(std::slice::from_ref(&i), 0);
        t.delivered("out", Some("untracked"), 4000, 1_000);
        assert_eq!(t.percentile("out", 95, 2_000), Some(4000));
        assert_eq!(t.percentile("out", 95, 1_000 + WINDOW_MS + 1), None);
    }

    #[test]
    fn a_breach_alerts_once_and_recovers() {
        let i = iface(
            "feed",
            accord_runtime::spec::Sla {
                quiet_ms: Some(60_000),
                ..Default::default()
            },
        );
        let t = Tracker::new(std::slice::from_ref(&i), 0);
        let m = Metrics::new();
        let mut b = Breaches::default();
        let none = Backlogs::default();
        let quiet_alerts = Notifier::new(Default::default());
        let alerts = |m: &Metrics| {
            m.alerts
                .get_or_create(&super::super::metrics::AlertLabel {
                    target: "quiet:feed".into(),
                })
                .get()
        };
        evaluate(
            std::slice::from_ref(&i),
            &t,
            &none,
            &m,
            &quiet_alerts,
            &mut b,
            30_000,
        );
        assert_eq!(alerts(&m), 0);
        evaluate(
            std::slice::from_ref(&i),
            &t,
            &none,
            &m,
            &quiet_alerts,
            &mut b,
            61_000,
        );
        evaluate(
            std::slice::from_ref(&i),
            &t,
            &none,
            &m,
            &quiet_alerts,
            &mut b,
            62_000,
        );
        assert_eq!(alerts(&m), 1, "one alert per breach");
        t.heard("feed", 63_000);
        evaluate(
            std::slice::from_ref(&i),
            &t,
            &none,
            &m,
            &quiet_alerts,
            &mut b,
            64_000,
        );
        let breached = m
            .sla_breached
            .get_or_create(&SlaLabel {
                interface: "feed".into(),
                sla: "quiet".into(),
            })
            .get();
        assert_eq!(breached, 0);
    }
}
