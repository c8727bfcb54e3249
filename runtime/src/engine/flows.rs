//! Flow timeouts: waits live in the journal's `flows` table with their deadlines, so they
//! survive restarts. This task fires the contract's `on timeout` actions for every wait
//! past its deadline: alerts (log line and metric), a warning, dead letter (the wait is
//! kept as `dead`, with the reason), or a follow-up message to another interface. A wait
//! that ends because its message arrived runs `on reply` in the processor (`process`).

use super::{metrics, time, Engine};
use crate::spec::Action;
use rusqlite::params;
use std::sync::Arc;
use std::time::Duration;

struct Expired {
    flow: String,
    key: String,
    start: i64,
}

pub async fn run(engine: Arc<Engine>) {
    if engine.spec.flows.is_empty() {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = time::now_ms();
        let expired = engine
            .journal
            .write_redoable(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT flow, key, start_message FROM flows WHERE state = 'waiting' AND deadline <= ?1 ORDER BY deadline LIMIT 256",
                )?;
                let rows = st.query_map(params![now], |r| Ok(Expired { flow: r.get(0)?, key: r.get(1)?, start: r.get(2)? }))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .unwrap_or_default();
        for e in expired {
            let Some(flow) = engine.spec.flows.iter().find(|f| f.name == e.flow) else {
                continue;
            };
            let mut state = "timed_out";
            let mut follow_ups = vec![];
            for a in &flow.on_timeout {
                match a {
                    Action::Alert { target } => {
                        engine.metrics.alert(target);
                        tracing::warn!(alert = %target, flow = %flow.name, key = %e.key, "ALERT: flow timed out waiting for {}", flow.wait_for);
                    }
                    Action::DeadLetter | Action::Fail => {
                        state = "dead";
                        engine
                            .metrics
                            .dead
                            .get_or_create(&metrics::ReasonLabel {
                                interface: flow.start.clone(),
                                reason: "timeout".into(),
                            })
                            .inc();
                    }
                    Action::Send { interface } => follow_ups.push(interface.clone()),
                    Action::Warn => {
                        tracing::warn!(flow = %flow.name, key = %e.key, "flow timed out waiting for {}", flow.wait_for);
                    }
                    // `complete` closes the wait quietly; retry and suspend are refused
                    // by `accord check` (E0519).
                    _ => {}
                }
            }
            let detail = format!(
                "{} waited {} ms for {} (key {}): {state}",
                flow.name, flow.within_ms, flow.wait_for, e.key
            );
            // A follow-up is the start message mapped for the named interface.
            let queued: Vec<(String, String)> = follow_ups
                .iter()
                .filter_map(|name| {
                    let iface = engine.interface(name)?;
                    Some((iface.name.clone(), iface.version.clone()))
                })
                .collect();
            let (flow_name, key, start) = (e.flow.clone(), e.key.clone(), e.start);
            let deliver = engine.functions.deliver;
            let written = engine
                .journal
                .write(move |c| {
                    let now = time::now_ms();
                    c.prepare_cached("UPDATE flows SET state = ?1 WHERE flow = ?2 AND key = ?3 AND state = 'waiting'")?
                        .execute(params![state, flow_name, key])?;
                    c.prepare_cached("INSERT INTO events (message, at, kind, detail) VALUES (?1, ?2, 'flow-timeout', ?3)")?
                        .execute(params![start, now, detail])?;
                    for (iface, version) in &queued {
                        let payload: Vec<u8> = c.query_row("SELECT payload FROM messages WHERE id = ?1", params![start], |r| r.get(0))?;
                        let out = crate::hl7::Message::parse(&payload)
                            .ok()
                            .and_then(|m| {
                                // The start message's records were governed when it was
                                // first processed; the follow-up only re-maps it.
                                deliver(iface, &m, &mut crate::steward::Unsupervised).ok()
                            })
                            .flatten()
                            .map(|o| o.into_bytes())
                            .unwrap_or(payload);
                        c.prepare_cached(
                            "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state, received_at, updated_at, payload)
                             SELECT correlation, id, ?2, ?3, 'out', 'queued', ?4, ?4, ?5 FROM messages WHERE id = ?1",
                        )?
                        .execute(params![start, iface, version, now, out])?;
                    }
                    Ok(())
                })
                .await;
            if let Err(err) = written {
                tracing::error!(error = %err, "cannot record a flow timeout");
            }
            for name in &follow_ups {
                engine.wake_operation(name);
            }
        }
    }
}
