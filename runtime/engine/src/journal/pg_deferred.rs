//! What a PostgreSQL transaction writes only at its commit, or just before a statement
//! that could read it: the events of its messages, its notices to the other nodes, and its
//! deliveries' outcomes. Each costs a round trip to the server when written at once, and
//! together they were half of the writer's statements (six events, a notice and two
//! outcomes per message received and delivered). They are kept in order and written just
//! before `COMMIT` in one statement whatever their number (`FLUSH`). Nothing reads events
//! or notices back; outcomes are rows others read, so a statement that could read them
//! writes those held first, in its own round trip (`PgConn::statement`); a receipt, which
//! reads no delivery, leaves them held (`PgConn::query_beside_outcomes`). A savepoint rolled
//! back drops what was held since it; a transaction rolled back drops it all. Outside a
//! transaction each is written at once. The connection sends the writes held with the
//! `COMMIT`, in the same round trip (`PgConn::batch`).

use super::db::DbResult;

/// An event on a message, as `processing::event` writes it.
pub(super) struct Event {
    pub message: i64,
    pub at: i64,
    pub kind: String,
    pub detail: Option<String>,
}

/// A delivery's outcome, as `queue::record_outcome` writes it.
pub(super) struct Outcome {
    pub id: i64,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub class: String,
    pub reply: Option<Vec<u8>>,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub at: i64,
}

/// What is held for the commit.
#[derive(Default)]
pub(super) struct Held {
    pub events: Vec<Event>,
    pub notices: Vec<String>,
    pub outcomes: Vec<Outcome>,
}

impl Held {
    pub(super) fn is_empty(&self) -> bool {
        self.events.is_empty() && self.notices.is_empty() && self.outcomes.is_empty()
    }
}

/// A savepoint open, with how much of each kind was held when it was set.
struct Mark {
    name: String,
    events: usize,
    notices: usize,
    outcomes: usize,
}

/// The writes held back for the open transaction, if one is open.
#[derive(Default)]
pub(super) struct Deferred {
    open: bool,
    held: Held,
    marks: Vec<Mark>,
}

/// Outcomes, all at once (`$1` to `$9`): `pg_schema::ONE_ROUND_TRIP`'s
/// `accord_outcomes`, the last held for a delivery written last.
pub(super) const UPDATE_OUTCOMES: &str =
    "SELECT accord_outcomes($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Everything held, in one statement at the commit: the outcomes (`$1` to `$9`), the
/// events in the order they were held (`$10` to `$13`), and the notices, each once, on
/// channel `$14` (`$15`).
pub(super) const FLUSH: &str = "WITH events AS (
       INSERT INTO events (message, at, kind, detail)
       SELECT m, a, k, d FROM UNNEST($10::bigint[], $11::bigint[], $12::text[], $13::text[])
         WITH ORDINALITY AS e(m, a, k, d, n) ORDER BY n)
     SELECT accord_outcomes($1, $2, $3, $4, $5, $6, $7, $8, $9)
       + (SELECT COUNT(pg_notify($14, p)) FROM (SELECT DISTINCT UNNEST($15::text[]) AS p) n)";

/// A transaction control statement the deferral follows.
pub(super) enum Control<'a> {
    Begin,
    Commit,
    Rollback,
    Savepoint(&'a str),
    RollbackTo(&'a str),
    Release(&'a str),
}

/// Whether the outcomes held must be written before `sql`: before any statement but
/// those that end the transaction or a savepoint (a savepoint is set with nothing held).
pub(super) fn writes_held_first(sql: &str) -> bool {
    matches!(Control::of(sql), None | Some(Control::Savepoint(_)))
}

impl<'a> Control<'a> {
    /// What `sql` is, if it is one of these.
    pub(super) fn of(sql: &'a str) -> Option<Control<'a>> {
        let words: Vec<&str> = sql.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        match (upper.as_slice(), words.as_slice()) {
            (["BEGIN", ..], _) | (["START", "TRANSACTION", ..], _) => Some(Control::Begin),
            (["COMMIT"] | ["END"], _) => Some(Control::Commit),
            (["ROLLBACK"], _) => Some(Control::Rollback),
            (["SAVEPOINT", _], [_, name]) => Some(Control::Savepoint(name)),
            (["ROLLBACK", "TO", _], [_, _, name])
            | (["ROLLBACK", "TO", "SAVEPOINT", _], [_, _, _, name]) => {
                Some(Control::RollbackTo(name))
            }
            (["RELEASE", _], [_, name]) | (["RELEASE", "SAVEPOINT", _], [_, _, name]) => {
                Some(Control::Release(name))
            }
            _ => None,
        }
    }
}

impl Deferred {
    /// Holds `e` for the commit; false outside a transaction (write it now).
    pub(super) fn event(&mut self, e: Event) -> bool {
        if self.open {
            self.held.events.push(e);
        }
        self.open
    }

    /// Holds notice `payload` for the commit; false outside a transaction.
    pub(super) fn notice(&mut self, payload: &str) -> bool {
        if self.open {
            self.held.notices.push(payload.to_string());
        }
        self.open
    }

    /// Holds outcome `o` for the commit or the transaction's next other statement; false
    /// outside a transaction.
    pub(super) fn outcome(&mut self, o: Outcome) -> bool {
        if self.open {
            self.held.outcomes.push(o);
        }
        self.open
    }

    /// The outcomes held, to be written now, before another statement.
    pub(super) fn take_outcomes(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.held.outcomes)
    }

    /// The outcomes taken were written: the savepoints set before now no longer hold them
    /// (the server's own savepoints undo them if rolled back to).
    pub(super) fn outcomes_written(&mut self) {
        for m in &mut self.marks {
            m.outcomes = 0;
        }
    }

    /// The outcomes taken could not be written: they are held again, first.
    pub(super) fn outcomes_unwritten(&mut self, mut taken: Vec<Outcome>) {
        taken.append(&mut self.held.outcomes);
        self.held.outcomes = taken;
    }

    /// Runs control statement `sql` with `run`, which writes what is held (given at the
    /// commit, empty otherwise) before `sql`; follows the transaction's savepoints.
    pub(super) fn control(
        &mut self,
        sql: &str,
        run: impl FnOnce(&str, Held) -> DbResult<()>,
    ) -> DbResult<()> {
        let Some(control) = Control::of(sql) else {
            return run(sql, Held::default());
        };
        match control {
            Control::Commit => {
                let held = self.take();
                run(sql, held)
            }
            Control::Begin => {
                run(sql, Held::default())?;
                self.take();
                self.open = true;
                Ok(())
            }
            Control::Rollback => {
                self.take();
                run(sql, Held::default())
            }
            Control::Savepoint(name) => {
                run(sql, Held::default())?;
                self.marks.push(Mark {
                    name: name.to_string(),
                    events: self.held.events.len(),
                    notices: self.held.notices.len(),
                    outcomes: self.held.outcomes.len(),
                });
                Ok(())
            }
            Control::RollbackTo(name) => {
                run(sql, Held::default())?;
                // The savepoint stays, as PostgreSQL keeps it; what followed it goes.
                if let Some(at) = self.marks.iter().rposition(|m| m.name == name) {
                    let m = &self.marks[at];
                    self.held.events.truncate(m.events);
                    self.held.notices.truncate(m.notices);
                    self.held.outcomes.truncate(m.outcomes);
                    self.marks.truncate(at + 1);
                }
                Ok(())
            }
            Control::Release(name) => {
                run(sql, Held::default())?;
                if let Some(at) = self.marks.iter().rposition(|m| m.name == name) {
                    self.marks.truncate(at);
                }
                Ok(())
            }
        }
    }

    /// Ends the transaction's deferral: what was held, for the commit.
    fn take(&mut self) -> Held {
        self.open = false;
        self.marks.clear();
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> Event {
        Event {
            message: n,
            at: 0,
            kind: "k".into(),
            detail: None,
        }
    }

    /// Runs `sql` on `d`; what a commit wrote (event messages).
    fn run(d: &mut Deferred, sql: &str) -> Vec<i64> {
        let mut written = vec![];
        d.control(sql, |_, held| {
            written = held.events.iter().map(|e| e.message).collect();
            Ok(())
        })
        .unwrap();
        written
    }

    #[test]
    fn held_writes_follow_savepoints_and_are_written_at_the_commit_only() {
        let mut d = Deferred::default();
        assert!(!d.event(event(0)), "outside a transaction: written at once");
        run(&mut d, "BEGIN");
        assert!(d.event(event(1)));
        run(&mut d, "SAVEPOINT job");
        d.event(event(2));
        run(&mut d, "ROLLBACK TO job");
        run(&mut d, "RELEASE job");
        run(&mut d, "SAVEPOINT job");
        d.event(event(3));
        run(&mut d, "RELEASE job");
        assert!(d.notice("n"));
        assert_eq!(run(&mut d, "COMMIT"), [1, 3]);
        // A rolled back transaction writes nothing.
        run(&mut d, "BEGIN");
        d.event(event(4));
        run(&mut d, "ROLLBACK");
        run(&mut d, "BEGIN");
        assert_eq!(run(&mut d, "COMMIT"), Vec::<i64>::new());
        assert!(!d.event(event(5)));
    }

    fn outcome(id: i64) -> Outcome {
        Outcome {
            id,
            state: "completed".into(),
            attempts: 1,
            next_at: 0,
            class: "AA".into(),
            reply: None,
            reason: None,
            detail: None,
            at: 0,
        }
    }

    fn held_outcomes(d: &Deferred) -> Vec<i64> {
        d.held.outcomes.iter().map(|o| o.id).collect()
    }

    #[test]
    fn outcomes_written_early_are_left_to_the_servers_savepoints() {
        let mut d = Deferred::default();
        assert!(
            !d.outcome(outcome(0)),
            "outside a transaction: written at once"
        );
        run(&mut d, "BEGIN");
        d.outcome(outcome(1));
        // A savepoint is set with nothing held (`PgConn::batch` writes 1 first).
        assert!(writes_held_first("SAVEPOINT job") && !writes_held_first("RELEASE job"));
        assert_eq!(d.take_outcomes().len(), 1);
        d.outcomes_written();
        run(&mut d, "SAVEPOINT job");
        d.outcome(outcome(2));
        // Another statement comes: 2 is written now, inside the savepoint.
        let taken = d.take_outcomes();
        assert_eq!(taken.iter().map(|o| o.id).collect::<Vec<_>>(), [2]);
        d.outcomes_written();
        d.outcome(outcome(3));
        // Rolled back to: the server undoes 2; 3 followed the savepoint and goes.
        run(&mut d, "ROLLBACK TO job");
        assert_eq!(held_outcomes(&d), Vec::<i64>::new());
        d.outcome(outcome(4));
        // A write that failed holds its outcomes again, before those held since.
        let taken = d.take_outcomes();
        d.outcome(outcome(5));
        d.outcomes_unwritten(taken);
        assert_eq!(held_outcomes(&d), [4, 5]);
        run(&mut d, "ROLLBACK");
        assert_eq!(held_outcomes(&d), Vec::<i64>::new());
    }
}
