//! Retention's task: each interface's `retain: 30d` purges its finished messages (and,
//! for an API interface, its facade's access audit) once they are older than that, every
//! minute, in small transactions. What a purge deletes, and what it never deletes, is the
//! journal's (`journal::retention`).

use super::journal::{purge_audit, purge_batch, Cursor, BATCH};
use super::{time, Engine};
use std::sync::Arc;
use std::time::Duration;

/// How often the purger looks for expired messages.
const EVERY: Duration = Duration::from_secs(60);

/// Purges every interface with a retention period, then again each minute.
pub async fn run(engine: Arc<Engine>) {
    let retained: Vec<(String, u64)> = engine
        .spec
        .interfaces
        .iter()
        .filter_map(|i| Some((i.name.clone(), i.retain_ms?)))
        .collect();
    if retained.is_empty() {
        return;
    }
    loop {
        // When nodes share the journal, one of them purges: the holder of the timers' lease.
        if !engine.cluster.owns(super::cluster::TIMERS) {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        for (interface, retain) in &retained {
            let retain = *retain;
            let cutoff = time::now_ms() - retain as i64;
            let mut total = 0;
            // Each pass walks the age index once, from the oldest message on.
            let mut after = Cursor::START;
            loop {
                let name = interface.clone();
                // A purge lost to a power failure is simply done again.
                let done = engine
                    .journal
                    .write_redoable(move |c| purge_batch(c, &name, cutoff, after, BATCH))
                    .await;
                match done {
                    Ok(batch) => {
                        total += batch.messages;
                        match batch.next {
                            Some(next) => after = next,
                            None => break,
                        }
                    }
                    Err(e) => {
                        tracing::error!(interface = %interface, error = %e, "cannot purge expired messages; trying again later");
                        break;
                    }
                }
            }
            // The facade's access audit, for an API interface.
            loop {
                let name = interface.clone();
                match engine
                    .journal
                    .write_redoable(move |c| purge_audit(c, &name, cutoff, BATCH))
                    .await
                {
                    Ok(n) if n == BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(interface = %interface, error = %e, "cannot purge expired audit rows; trying again later");
                        break;
                    }
                }
            }
            if total > 0 {
                engine
                    .metrics
                    .purged
                    .get_or_create(&super::metrics::Metrics::iface(interface))
                    .inc_by(total as u64);
                tracing::info!(interface = %interface, purged = total, retain_days = retain / 86_400_000, "expired messages purged");
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}
