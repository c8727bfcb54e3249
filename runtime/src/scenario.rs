//! Scenarios as the compiler writes them for the engine to run (`accord test`): the steps
//! in order, each with where it was written. The compiler builds these from its IR; the
//! engine's `scenario` module runs them on the production, in process.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    /// `file:line` of the scenario.
    pub at: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `file:line` of the step, for a failure to point at.
    pub at: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StepKind {
    /// The peer of `operation` answers these in turn, the last one kept; `nothing` is no
    /// reply within the contract's timeout.
    Peer {
        operation: String,
        answers: Vec<String>,
    },
    /// A message received by service `at`: a file relative to the estate root, or inline.
    Send {
        file: Option<String>,
        inline: Option<String>,
        at: String,
    },
    Advance {
        ms: u64,
    },
    Resend {
        operation: String,
    },
    Replay {
        operation: String,
    },
    /// A person approves (or rejects) what waits for review, in `queue` when named.
    Review {
        approve: bool,
        queue: Option<String>,
    },
    ExpectAck {
        code: String,
    },
    ExpectCount {
        count: u64,
        state: String,
        at: Option<String>,
    },
    ExpectRecord {
        record: String,
        key: String,
        absent: bool,
        field: Option<String>,
        equals: Option<String>,
    },
    ExpectFlow {
        flow: String,
        key: String,
        state: String,
    },
    ExpectLink {
        record: String,
        first: String,
        second: String,
        absent: bool,
    },
    /// The matrix's last decision on `record` `key`'s `field`, as the journal's trace says
    /// it, contains `says` (`kept the stored value (conflict owner_wins)`). Made by the
    /// tool for the cases it derives (`accord test --generated`); no scenario step of the
    /// language makes it.
    ExpectDecision {
        record: String,
        key: String,
        field: String,
        says: String,
    },
    ExpectReceived {
        operation: String,
        count: u64,
    },
    ExpectValues {
        operation: String,
        path: String,
        values: Vec<String>,
    },
}
