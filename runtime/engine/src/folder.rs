//! Inbound drop folders: a service whose endpoint is `file` polls its folder. Each file
//! (a single message, a plain concatenation, or an FHS/BHS batch) goes through the same
//! path as an MLLP frame (parse, contract, profile, duplicates, journal), message by
//! message in file order. Only when every message of a file is in the journal is the file
//! moved, to `processed/` (or `rejected/` if any message was rejected), so a crash or a
//! journal failure leaves it where it was, to be read again.

use super::inbound::{receive, Fate};
use super::Engine;
use accord_hl7::batch::Batch;
use accord_hl7::mllp::codec::Frame;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The messages of a file: each as its own bytes; the whole file if it does not split.
fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    match Batch::parse(bytes) {
        Ok(b) if !b.messages.is_empty() => b.messages.iter().map(|m| m.bytes().to_vec()).collect(),
        _ => vec![bytes.to_vec()],
    }
}

fn pending(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

pub async fn run(engine: Arc<Engine>, endpoint: String, dir: PathBuf) {
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::error!(endpoint = %endpoint, dir = %dir.display(), error = %e, "cannot create the drop folder");
        return;
    }
    tracing::info!(endpoint = %endpoint, dir = %dir.display(), "watching drop folder");
    loop {
        for file in pending(&dir) {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let peer = format!("file:{}", file.display());
            let mut any_rejected = false;
            let mut all_stored = true;
            for m in split(&bytes) {
                match receive(&engine, &endpoint, Frame::Message(m.into()), &peer)
                    .await
                    .1
                {
                    Fate::Stored => {}
                    Fate::Rejected => any_rejected = true,
                    Fate::NotStored => all_stored = false,
                }
            }
            if !all_stored {
                tracing::error!(file = %file.display(), "not every message of the file is stored; it will be read again");
                continue;
            }
            let to = dir.join(if any_rejected {
                "rejected"
            } else {
                "processed"
            });
            let moved = std::fs::create_dir_all(&to).and_then(|_| {
                std::fs::rename(&file, to.join(file.file_name().unwrap_or_default()))
            });
            if let Err(e) = moved {
                tracing::error!(file = %file.display(), error = %e, "cannot move a read file; remove it by hand to avoid reading it twice (duplicates are detected if the contract has an idempotency key)");
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
