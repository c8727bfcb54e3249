//! The estate's scenarios as the engine runs them (`accord_runtime::scenario`), built from
//! the IR only and embedded in the generated tool as JSON: `accord test` hands them to
//! `accord_engine::scenario::run` with the production.

use crate::ir::{self, Estate};
use accord_runtime::scenario::{Scenario, Step, StepKind};

/// The scenarios of `ir` as JSON (`[]` when it has none).
pub fn json(ir: &Estate) -> String {
    let all: Vec<Scenario> = ir.scenarios.iter().map(scenario).collect();
    serde_json::to_string(&all).unwrap_or_else(|_| "[]".into())
}

fn scenario(s: &ir::Scenario) -> Scenario {
    Scenario {
        name: s.name.clone(),
        at: super::spec::loc(&s.loc),
        steps: s
            .steps
            .iter()
            .map(|step| Step {
                at: super::spec::loc(&step.loc),
                kind: kind(&step.kind),
            })
            .collect(),
    }
}

fn kind(k: &ir::StepKind) -> StepKind {
    use ir::StepKind as S;
    match k.clone() {
        S::Peer { operation, answers } => StepKind::Peer { operation, answers },
        S::Send { file, inline, at } => StepKind::Send { file, inline, at },
        S::Advance { ms } => StepKind::Advance { ms },
        S::Resend { operation } => StepKind::Resend { operation },
        S::Replay { operation } => StepKind::Replay { operation },
        S::Review { approve, queue } => StepKind::Review { approve, queue },
        S::ExpectAck { code } => StepKind::ExpectAck { code },
        S::ExpectCount { count, state, at } => StepKind::ExpectCount { count, state, at },
        S::ExpectRecord {
            record,
            key,
            absent,
            field,
            equals,
        } => StepKind::ExpectRecord {
            record,
            key,
            absent,
            field,
            equals,
        },
        S::ExpectFlow { flow, key, state } => StepKind::ExpectFlow { flow, key, state },
        S::ExpectLink {
            record,
            first,
            second,
            absent,
        } => StepKind::ExpectLink {
            record,
            first,
            second,
            absent,
        },
        S::ExpectReceived { operation, count } => StepKind::ExpectReceived { operation, count },
        S::ExpectValues {
            operation,
            path,
            values,
        } => StepKind::ExpectValues {
            operation,
            path,
            values,
        },
    }
}
