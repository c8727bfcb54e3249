//! The operations' lanes as the rest of the production sees them: each lane's wake-up, and
//! a copy in memory of what the processor has just queued for it.
//!
//! A lane that has caught up with the journal (its queue there was empty) sends what the
//! processor queues next from this copy, without reading it back from the journal. The
//! copy is only a shortcut: the journal stays the queue, and the lane goes back to reading
//! it (`outbound::choose_batch`) whenever the copy may be incomplete or out of order. That
//! is the lane's *epoch*: anything that queues for the lane other than the processor's
//! copy, a copy that did not fit, or a delivery queued for an operation that can hold this
//! one's messages back (`Engine::order_peers`) moves it on, and a copy taken under an older
//! epoch is not used.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

/// The most messages a lane's copy holds; past that the lane reads the journal again.
/// Bounded so that memory stays flat when an operation falls behind.
const COPY_LIMIT: usize = 64;

/// A message a lane sends: what it needs from its journal row.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Next {
    pub(super) id: i64,
    pub(super) parent: Option<i64>,
    pub(super) payload: Vec<u8>,
    pub(super) attempts: u32,
    /// When the message it came from was received (for the end-to-end metric).
    pub(super) received_at: i64,
    /// The interface that received the message it came from (for that service's SLA).
    pub(super) origin: Option<String>,
    pub(super) control_id: Option<String>,
    pub(super) order_key: Option<String>,
}

/// One lane of an operation.
#[derive(Default)]
pub struct Lane {
    /// Wakes the lane when something is queued for it.
    pub(super) wake: Notify,
    epoch: AtomicU64,
    copy: Mutex<VecDeque<Next>>,
}

impl Lane {
    /// The lane's epoch now: read it before reading the journal, and the copy may be used
    /// from that read on only if the epoch has not moved since (see [`Lane::enter`]).
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Something may be queued for the lane that its copy lacks.
    pub(super) fn stale(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Adds a message the processor has just committed to the queue. Called in commit
    /// order, so the copy is in the journal's order.
    pub(super) fn copy(&self, next: Next) {
        let Ok(mut copy) = self.copy.lock() else {
            return self.stale();
        };
        if copy.len() >= COPY_LIMIT {
            copy.clear();
            drop(copy);
            return self.stale();
        }
        copy.push_back(next);
    }

    /// After a journal read, begun under `epoch`, found nothing pending for the lane and
    /// nothing that could hold it back: the copy is the queue from then on. What it holds
    /// up to `seen` (the highest message id at that read) was committed before the read,
    /// and so is already sent. False if the epoch has moved: read the journal again.
    pub(super) fn enter(&self, epoch: u64, seen: i64) -> bool {
        let Ok(mut copy) = self.copy.lock() else {
            return false;
        };
        if self.epoch() != epoch {
            return false;
        }
        copy.retain(|n| n.id > seen);
        true
    }

    /// The next messages of the copy, at most `n`, oldest first; `None` if the epoch has
    /// moved since `epoch` (checked under the copy's lock, so a message copied after the
    /// lane went stale is never taken).
    pub(super) fn take(&self, epoch: u64, n: usize) -> Option<Vec<Next>> {
        let mut copy = self.copy.lock().ok()?;
        if self.epoch() != epoch {
            return None;
        }
        let n = n.min(copy.len());
        Some(copy.drain(..n).collect())
    }

    /// The lane reads its queue from the journal again: the copy goes.
    pub(super) fn leave(&self) {
        if let Ok(mut copy) = self.copy.lock() {
            copy.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(id: i64) -> Next {
        Next {
            id,
            parent: None,
            payload: vec![],
            attempts: 0,
            received_at: 0,
            origin: None,
            control_id: None,
            order_key: None,
        }
    }

    #[test]
    fn a_copy_is_used_only_under_the_epoch_of_the_read_that_found_the_queue_empty() {
        let lane = Lane::default();
        let epoch = lane.epoch();
        // Committed before the read: the read saw them, so they are sent already.
        lane.copy(next(1));
        lane.copy(next(2));
        // Committed after.
        lane.copy(next(3));
        assert!(lane.enter(epoch, 2));
        assert_eq!(lane.take(epoch, 10), Some(vec![next(3)]));
        assert_eq!(lane.take(epoch, 10), Some(vec![]));
        // Queued some other way: the copy may lack it.
        lane.stale();
        lane.copy(next(4));
        assert_eq!(lane.take(epoch, 10), None);
        let later = lane.epoch();
        lane.stale();
        assert!(!lane.enter(later, 3), "the epoch moved during the read");
    }

    #[test]
    fn a_copy_that_outgrows_its_limit_is_dropped_and_the_journal_read_again() {
        let lane = Lane::default();
        let epoch = lane.epoch();
        assert!(lane.enter(epoch, 0));
        for id in 1..=COPY_LIMIT as i64 + 1 {
            lane.copy(next(id));
        }
        assert_eq!(lane.take(epoch, 10), None);
    }
}
