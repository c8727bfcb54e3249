//! The dashboard's rates: messages a minute per interface over the last few minutes, from
//! the production's own counters (received by a service, sent by an operation), sampled
//! each time the dashboard is drawn. Nothing is counted in the journal, so a rate costs the
//! same at any journal size. The counters are this node's: with several nodes on one
//! journal, each node's console shows its own share.

use crate::metrics::Metrics;
use crate::Engine;
use accord_runtime::spec::Role;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The window a rate is measured over, in minutes.
pub const WINDOW_MINUTES: i64 = 15;

/// Samples of the counters: when, and each interface's count then.
pub struct Rates {
    samples: Mutex<VecDeque<(i64, HashMap<String, u64>)>>,
}

impl Rates {
    /// Starts with every counter at zero at `now`, as the production's counters start.
    pub fn new(now: i64) -> Rates {
        Rates {
            samples: Mutex::new(VecDeque::from([(now, HashMap::new())])),
        }
    }

    /// Each interface's messages a minute since the oldest sample within the window (or,
    /// within the window's first minutes, since the production started).
    pub fn per_minute(&self, engine: &Engine, now: i64) -> HashMap<String, f64> {
        let counts: HashMap<String, u64> = engine
            .spec
            .interfaces
            .iter()
            .map(|i| {
                let label = Metrics::iface(&i.name);
                let n = match i.role {
                    Role::Operation => engine.metrics.sent.get_or_create(&label).get(),
                    _ => engine.metrics.received.get_or_create(&label).get(),
                };
                (i.name.clone(), n)
            })
            .collect();
        self.rates(counts, now)
    }

    fn rates(&self, counts: HashMap<String, u64>, now: i64) -> HashMap<String, f64> {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the newest sample older than the window as the base, and what follows it.
        let start = now - WINDOW_MINUTES * 60_000;
        while samples.len() > 1 && samples.get(1).is_some_and(|(at, _)| *at <= start) {
            samples.pop_front();
        }
        let (base_at, base) = samples.front().cloned().unwrap_or((now, HashMap::new()));
        let minutes = ((now - base_at) as f64 / 60_000.0).max(1.0 / 60.0);
        let rates = counts
            .iter()
            .map(|(name, n)| {
                let was = base.get(name).copied().unwrap_or(0);
                (name.clone(), n.saturating_sub(was) as f64 / minutes)
            })
            .collect();
        // One sample a minute at most is enough to slide the window.
        if samples.back().is_none_or(|(at, _)| now - at >= 60_000) {
            samples.push_back((now, counts));
        }
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: u64) -> HashMap<String, u64> {
        HashMap::from([("adt_in".to_string(), n)])
    }

    #[test]
    fn console_rates_slide_over_the_window() {
        let r = Rates::new(0);
        // Two minutes after the start, 600 messages: 300 a minute.
        assert_eq!(r.rates(counts(600), 120_000)["adt_in"], 300.0);
        // Twenty minutes on, the base is the sample at two minutes.
        let later = r.rates(counts(600 + 1800), 1_320_000);
        assert_eq!(later["adt_in"], 1800.0 / 20.0);
        // No sample since the window began: the newest before it is the base.
        let much_later = r.rates(counts(3000), 2_000_000);
        assert!((much_later["adt_in"] - 2400.0 / (1_880_000.0 / 60_000.0)).abs() < 1e-9);
    }
}
