//! What a PostgreSQL transaction writes only at its commit: the events of its messages,
//! and its notices to the other nodes. Each costs a round trip to the server when written
//! at once, and together they were a third of the writer's statements (six events and a
//! notice per message received and delivered). Nothing in a transaction reads them back,
//! so they are kept in order and written just before `COMMIT`, in two statements whatever
//! their number. A savepoint rolled back drops those written since it; a transaction
//! rolled back drops them all. Outside a transaction they are written at once.

use super::db::DbResult;

/// An event on a message, as `processing::event` writes it.
pub(super) struct Event {
    pub message: i64,
    pub at: i64,
    pub kind: String,
    pub detail: Option<String>,
}

/// The writes held back for the open transaction, if one is open.
#[derive(Default)]
pub(super) struct Deferred {
    open: bool,
    events: Vec<Event>,
    notices: Vec<String>,
    /// Each savepoint open, with how many events and notices were held when it was set.
    marks: Vec<(String, usize, usize)>,
}

/// The events, all at once, in the order they were held.
pub(super) const INSERT_EVENTS: &str = "INSERT INTO events (message, at, kind, detail)
     SELECT m, a, k, d FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[])
       WITH ORDINALITY AS e(m, a, k, d, n) ORDER BY n";

/// The notices, each once.
pub(super) const NOTIFY_ALL: &str =
    "SELECT COUNT(pg_notify($1, p)) FROM (SELECT DISTINCT UNNEST($2::text[]) AS p) n";

/// A transaction control statement the deferral follows.
enum Control<'a> {
    Begin,
    Commit,
    Rollback,
    Savepoint(&'a str),
    RollbackTo(&'a str),
    Release(&'a str),
}

impl<'a> Control<'a> {
    fn of(sql: &'a str) -> Option<Control<'a>> {
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
            self.events.push(e);
        }
        self.open
    }

    /// Holds notice `payload` for the commit; false outside a transaction.
    pub(super) fn notice(&mut self, payload: &str) -> bool {
        if self.open {
            self.notices.push(payload.to_string());
        }
        self.open
    }

    /// Runs control statement `sql` with `run`, writing what is held first when it
    /// commits (`flush`), and following the transaction's savepoints.
    pub(super) fn control(
        &mut self,
        sql: &str,
        run: impl FnOnce(&str) -> DbResult<()>,
        flush: impl FnOnce(Vec<Event>, Vec<String>) -> DbResult<()>,
    ) -> DbResult<()> {
        let Some(control) = Control::of(sql) else {
            return run(sql);
        };
        match control {
            Control::Commit => {
                let (events, notices) = self.take();
                if !events.is_empty() || !notices.is_empty() {
                    flush(events, notices)?;
                }
                run(sql)
            }
            Control::Begin => {
                run(sql)?;
                self.take();
                self.open = true;
                Ok(())
            }
            Control::Rollback => {
                self.take();
                run(sql)
            }
            Control::Savepoint(name) => {
                run(sql)?;
                self.marks
                    .push((name.to_string(), self.events.len(), self.notices.len()));
                Ok(())
            }
            Control::RollbackTo(name) => {
                run(sql)?;
                // The savepoint stays, as PostgreSQL keeps it; what followed it goes.
                if let Some(at) = self.marks.iter().rposition(|(n, _, _)| n == name) {
                    let (_, events, notices) = self.marks[at];
                    self.marks.truncate(at + 1);
                    self.events.truncate(events);
                    self.notices.truncate(notices);
                }
                Ok(())
            }
            Control::Release(name) => {
                run(sql)?;
                if let Some(at) = self.marks.iter().rposition(|(n, _, _)| n == name) {
                    self.marks.truncate(at);
                }
                Ok(())
            }
        }
    }

    /// Ends the transaction's deferral: what was held, for the commit.
    fn take(&mut self) -> (Vec<Event>, Vec<String>) {
        self.open = false;
        self.marks.clear();
        (
            std::mem::take(&mut self.events),
            std::mem::take(&mut self.notices),
        )
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
        d.control(
            sql,
            |_| Ok(()),
            |events, _| {
                written = events.iter().map(|e| e.message).collect();
                Ok(())
            },
        )
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
}
