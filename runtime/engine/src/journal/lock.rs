//! One production per SQLite journal. Two productions writing one journal would each run
//! their lanes from it and send every queued message twice, and each would think it alone
//! decides the matrix's records. So the production holds an exclusive lock on
//! `journal.sqlite.lock` beside the journal for as long as it runs; a second one is refused
//! at once, naming the process that holds it. The lock is the operating system's (`flock`):
//! it goes with the process however the process ends, a `kill -9` included, so a restart
//! after a crash is never refused. The operator commands only read or make single writes
//! between the production's, and take no lock.

use super::JournalError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The journal's lock, held until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The lock file of the journal at `journal`.
pub fn lock_path(journal: &Path) -> PathBuf {
    let mut p = journal.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the journal's lock for this process (`what` says what for: `run`, `restore`),
/// or says who holds it.
pub fn acquire(journal: &Path, what: &str) -> Result<StoreLock, JournalError> {
    let path = lock_path(journal);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| JournalError(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                "another process".to_string()
            } else {
                holder.to_string()
            };
            return Err(JournalError(format!(
                "the journal {} is in use by {holder}\n  = help: one SQLite journal serves one production; stop that one first, or give this one its own store (--store)",
                journal.display()
            )));
        }
        Err(TryLockError::Error(e)) => {
            return Err(JournalError(format!("cannot lock {}: {e}", path.display())))
        }
    }
    // Who holds it, for the refusal of the next one.
    let holder = format!(
        "{what} (pid {}, since {})",
        std::process::id(),
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
    );
    let _ = file.set_len(0);
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.write_all(holder.as_bytes());
    let _ = file.sync_data();
    Ok(StoreLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("accord-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = dir.join("journal.sqlite");
        let first = acquire(&journal, "run").unwrap();
        let refused = acquire(&journal, "run").unwrap_err().to_string();
        assert!(refused.contains("in use by run (pid"), "{refused}");
        assert!(refused.contains("help:"), "{refused}");
        drop(first);
        let again = acquire(&journal, "restore");
        assert!(again.is_ok(), "{again:?}");
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
