//! Backup and restore of the embedded journal. A backup is taken while the production
//! runs, without stopping it: `VACUUM INTO` copies the journal as one read transaction
//! sees it, so the copy is consistent (every message in it with every row made from it)
//! and holds everything committed before it began, hence everything acknowledged by then;
//! under WAL the production's writer never waits for it. A restore puts a backup in a
//! stopped production's place: the journal it replaces is kept beside it, never deleted,
//! and a production running on the store refuses the restore (the store's lock). Started
//! on the restored journal, the production carries on from it: what was queued is
//! delivered, what was received is still known, so a sender's resend is a duplicate.

use super::lock;
use super::JournalError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// What a backup or restore copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    pub messages: i64,
    pub bytes: u64,
}

/// Copies the journal at `journal` to the new file `to`, while a production may be
/// writing it.
pub fn backup(journal: &Path, to: &Path) -> Result<Copied, JournalError> {
    if to.exists() {
        return Err(JournalError(format!(
            "{} exists already\n  = help: a backup never overwrites a file; name a new one",
            to.display()
        )));
    }
    let c =
        Connection::open_with_flags(journal, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
            JournalError(format!(
                "cannot open the journal {}: {e}",
                journal.display()
            ))
        })?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    let messages = message_count(&c, journal)?;
    let target = to.to_string_lossy().into_owned();
    c.execute("VACUUM INTO ?1", [&target])
        .map_err(|e| JournalError(format!("cannot back up to {}: {e}", to.display())))?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(Copied { messages, bytes })
}

/// Puts the backup `from` in place of the journal at `journal`, which no production may
/// be running on. The journal it replaces (with its WAL) is renamed, not deleted; its new
/// name is returned with what was restored.
pub fn restore(from: &Path, journal: &Path) -> Result<(Copied, Option<PathBuf>), JournalError> {
    let _held = lock::acquire(journal, "restore")?;
    let backup = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| JournalError(format!("cannot open {}: {e}", from.display())))?;
    let messages = message_count(&backup, from)?;
    drop(backup);
    if let Some(dir) = journal.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| JournalError(format!("cannot create {}: {e}", dir.display())))?;
    }
    // Copied beside the journal first, so the journal is replaced whole or not at all.
    let incoming = with_suffix(journal, ".restoring");
    std::fs::copy(from, &incoming)
        .and_then(|_| std::fs::File::open(&incoming)?.sync_all())
        .map_err(|e| JournalError(format!("cannot copy {}: {e}", from.display())))?;
    let kept = if journal.exists() {
        let stamp = jiff::Timestamp::now().as_millisecond();
        let aside = with_suffix(journal, &format!(".replaced-{stamp}"));
        for part in ["", "-wal", "-shm"] {
            let (now, then) = (with_suffix(journal, part), with_suffix(&aside, part));
            if now.exists() {
                std::fs::rename(&now, &then).map_err(|e| {
                    JournalError(format!("cannot move {} aside: {e}", now.display()))
                })?;
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&incoming, journal)
        .map_err(|e| JournalError(format!("cannot put the backup in place: {e}")))?;
    let bytes = std::fs::metadata(journal).map(|m| m.len()).unwrap_or(0);
    Ok((Copied { messages, bytes }, kept))
}

/// How many messages the journal holds; an error for a file that is no Accord journal.
fn message_count(c: &Connection, path: &Path) -> Result<i64, JournalError> {
    c.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .map_err(|e| {
            JournalError(format!(
                "{} is not an Accord journal ({e})\n  = help: name the journal.sqlite of a production's store, or a backup of one",
                path.display()
            ))
        })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_taken_while_writing_restores_whole_and_keeps_the_journal_it_replaces() {
        let (dir, path, c) = crate::journal::scratch("backup");
        for n in 0..3 {
            c.execute(
                "INSERT INTO messages (correlation, interface, contract_version, direction, state, received_at, updated_at, payload) VALUES (?1, 'adt', '1.0.0', 'in', 'received', 1, 1, x'00')",
                [format!("c{n}")],
            )
            .unwrap();
        }
        let before = message_count(&Connection::open(&path).unwrap(), &path).unwrap();
        assert_eq!(before, 3);
        let copy = dir.join("copy.sqlite");
        let copied = backup(&path, &copy).unwrap();
        assert_eq!(copied.messages, before);
        assert!(copied.bytes > 0);
        // Never over an existing file.
        assert!(backup(&path, &copy)
            .unwrap_err()
            .to_string()
            .contains("exists already"));
        // Not a journal: refused before anything moves.
        let junk = dir.join("junk.sqlite");
        std::fs::write(&junk, b"not a database").unwrap();
        assert!(restore(&junk, &path).is_err());
        assert!(path.exists());
        let (restored, kept) = restore(&copy, &path).unwrap();
        assert_eq!(restored.messages, before);
        let kept = kept.unwrap();
        assert!(kept.exists(), "the replaced journal is kept");
        let c = Connection::open(&path).unwrap();
        assert_eq!(message_count(&c, &path).unwrap(), before);
        // A running production's store cannot be restored over.
        let _running = lock::acquire(&path, "run").unwrap();
        let refused = restore(&copy, &path).unwrap_err().to_string();
        assert!(refused.contains("in use by run"), "{refused}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
