//! Flow timeouts: waits live in the journal's `flows` table with their deadlines, so they
//! survive restarts. This task fires the contract's `on timeout` actions for every wait
//! past its deadline: alerts (log line and metric), a warning, dead letter (the wait is
//! kept as `dead`, with the reason), or a follow-up message to another interface. A wait
//! that ends because its message arrived runs `on reply` in the processor (`process`).
//! Replies held for a start that never came (`hold early within`) are dead-lettered here
//! once their time is up.

use super::journal::flows::{
    close_timed_out, expire_early, expired_early, expired_waits, payload, queue_child,
};
use super::{metrics, time, Engine};
use accord_runtime::spec::Action;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(engine: Arc<Engine>) {
    if engine.spec.flows.is_empty() {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        engine.cluster.pulse(super::cluster::TIMERS);
        // When nodes share the journal, one of them times flows out: the holder of the
        // timers' lease.
        if !engine.cluster.owns(super::cluster::TIMERS) {
            continue;
        }
        tick(&engine).await;
    }
}

/// Times out every wait past its deadline now, and every held reply past its limit.
pub(crate) async fn tick(engine: &Arc<Engine>) {
    if engine.spec.flows.is_empty() {
        return;
    }
    let now = time::now_ms();
    let expired = engine
        .journal
        .write_redoable(move |c| expired_waits(c, now, 256))
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
                Action::Alert { target } => engine.alert(
                    target,
                    &flow.name,
                    &format!(
                        "flow {} timed out waiting for {} ({})",
                        flow.name, flow.wait_for, e.key
                    ),
                ),
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
        let deliver = engine.functions.deliver;
        let written = engine
            .journal
            .write(move |c| {
                let now = time::now_ms();
                close_timed_out(c, &e, state, now, &detail)?;
                for (iface, version) in &queued {
                    let payload = payload(c, e.start)?;
                    let out = accord_hl7::Message::parse(&payload)
                        .ok()
                        .and_then(|m| {
                            // The start message's records were governed when it was
                            // first processed; the follow-up only re-maps it.
                            deliver(iface, &m, &mut accord_runtime::steward::Unsupervised).ok()
                        })
                        .flatten()
                        .map(|o| o.into_bytes())
                        .unwrap_or(payload);
                    queue_child(c, e.start, iface, version, now, &out)?;
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
    expire_held_replies(engine, now).await;
}

/// Replies held for a start that did not come in time (`hold early within`): each is
/// dead-lettered with reason `timeout`, to be resent by an operator once its order is in.
async fn expire_held_replies(engine: &Engine, now: i64) {
    let expired = engine
        .journal
        .write_redoable(move |c| expired_early(c, now, 256))
        .await
        .unwrap_or_default();
    for e in expired {
        let Some(flow) = engine.spec.flows.iter().find(|f| f.name == e.flow) else {
            continue;
        };
        let detail = format!(
            "{}: no start of the wait for key {} came within {} ms of this reply; resend it once it has",
            flow.name,
            e.key,
            flow.hold_early_ms.unwrap_or_default()
        );
        let dead = engine
            .journal
            .write(move |c| expire_early(c, &e, time::now_ms(), &detail))
            .await;
        match dead {
            Ok(true) => {
                engine
                    .metrics
                    .dead
                    .get_or_create(&metrics::ReasonLabel {
                        interface: flow.wait_for.clone(),
                        reason: "timeout".into(),
                    })
                    .inc();
            }
            Ok(false) => {}
            Err(err) => tracing::error!(error = %err, "cannot time out a held reply"),
        }
    }
}
