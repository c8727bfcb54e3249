//! Saying a refusal once: a client refused a thousand times a second is one log line per
//! interval (with how many were refused since the last), not a thousand. The counts in
//! the metrics stay exact; only the log is thinned. The table holds each client and
//! reason once and forgets those not seen for an interval, so its size is bounded by the
//! clients refused lately.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one client's refusals of one kind are logged.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Per client and reason: when its last line was written, and the refusals since.
type Seen = HashMap<(IpAddr, &'static str), (Instant, u64)>;

#[derive(Default)]
pub struct Notices {
    seen: Mutex<Seen>,
}

impl Notices {
    /// Counts one refusal of `client` for `reason`; gives the number to log (this one and
    /// those not logged since the last line) when a line is due, else `None`.
    pub fn note(&self, client: IpAddr, reason: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().ok()?;
        if seen.len() > 10_000 {
            seen.retain(|_, (at, _)| now.duration_since(*at) < INTERVAL);
        }
        match seen.get_mut(&(client, reason)) {
            Some((at, n)) if now.duration_since(*at) < INTERVAL => {
                *n += 1;
                None
            }
            Some((at, n)) => {
                let due = *n + 1;
                *at = now;
                *n = 0;
                Some(due)
            }
            None => {
                seen.insert((client, reason), (now, 0));
                Some(1)
            }
        }
    }
}

impl Notices {
    /// The clients and reasons refused since their last line more than an interval ago:
    /// each with how many, now counted as said (for a summary nobody's next refusal
    /// would otherwise bring).
    pub fn overdue(&self) -> Vec<(IpAddr, &'static str, u64)> {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return vec![];
        };
        let mut out = vec![];
        for ((client, reason), (at, n)) in seen.iter_mut() {
            if *n > 0 && now.duration_since(*at) >= INTERVAL {
                out.push((*client, *reason, *n));
                *at = now;
                *n = 0;
            }
        }
        seen.retain(|_, (at, n)| *n > 0 || now.duration_since(*at) < INTERVAL);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_a_refused_client_is_logged_once_per_interval() {
        let n = Notices::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(n.note(a, "rate"), Some(1));
        for _ in 0..999 {
            assert_eq!(n.note(a, "rate"), None);
        }
        assert_eq!(
            n.note(a, "connections"),
            Some(1),
            "another reason is another line"
        );
        // After the interval, one line says how many came since.
        n.seen.lock().unwrap().get_mut(&(a, "rate")).unwrap().0 -= INTERVAL;
        assert_eq!(n.note(a, "rate"), Some(1000));
        // Refusals no later one reports are summed up once their interval has passed.
        assert_eq!(n.note(a, "rate"), None);
        assert_eq!(n.note(a, "rate"), None);
        assert!(n.overdue().is_empty());
        n.seen.lock().unwrap().get_mut(&(a, "rate")).unwrap().0 -= INTERVAL;
        assert_eq!(n.overdue(), vec![(a, "rate", 2)]);
        assert!(n.overdue().is_empty());
    }
}
