//! The wiring of a production, as data: which services listen where, which operations send
//! where, how replies are handled, which flows wait for what, and which settings each
//! environment needs. The compiler builds a [`Spec`] from the IR and embeds it (as JSON) in
//! the generated crate; the engine reads it once at start. Mappings and routes are not here:
//! they are generated functions, handed to the engine as function pointers.

use serde::{Deserialize, Serialize};

pub use accord_hl7::profile::{LocalField, LocalSegment, Profile, ProfileRule};

/// Everything the engine needs to know about an estate besides its generated functions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub estate: String,
    pub version: String,
    pub environments: Vec<String>,
    /// The environments of kind `production`: where the configuration is held to the
    /// stricter rules (no HS256 shared secrets for API tokens).
    #[serde(default)]
    pub production_environments: Vec<String>,
    /// The system whose role is `engine` (the production itself), if declared.
    pub engine_system: Option<String>,
    pub endpoints: Vec<Endpoint>,
    pub interfaces: Vec<Interface>,
    pub profiles: Vec<Profile>,
    pub flows: Vec<Flow>,
    /// The source-of-truth matrix of each record that has one and a key.
    #[serde(default)]
    pub matrices: Vec<Matrix>,
    /// Every mapping's assignments, for the console's field-level lineage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<MappingLineage>,
}

/// A mapping's assignments as written: what each output field is made of, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingLineage {
    pub name: String,
    /// `mappings.accord:3`.
    pub at: String,
    pub rows: Vec<LineageRow>,
}

/// One assignment: the output field (`PID-5.1`, `family_name`, `name[*].family` inside a
/// `for each`), the expression as written, the inputs it reads (HL7 paths, or the
/// source record's fields), and its place in the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineageRow {
    pub target: String,
    pub expr: String,
    pub sources: Vec<String>,
    pub at: String,
}

/// One record's rows of the source-of-truth matrix, enforced when a transform produces
/// that record from a system's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub record: String,
    /// The fields whose values identify one record (`key`), in declaration order.
    pub keys: Vec<String>,
    /// Workflow stages, in order.
    pub stages: Vec<String>,
    /// The field that holds the record's current stage.
    pub stage_field: Option<String>,
    pub fields: Vec<OwnedField>,
    /// What a message for a key merged into another does (`None`: nothing merges this
    /// record, so no key is ever retired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Retired>,
    /// The fields no two stored records may share a value of (`unique`): a message that
    /// would give this record another's value names two records, and waits for review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique: Vec<String>,
}

/// A link clause (`link: Patient PID[1]-3.1 with PID[2]-3.1`): a received ADT^A24 links
/// the stored `record`s under the values at `first` and `second` (one person, two
/// records that both stay), an ADT^A37 unlinks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub record: String,
    pub first: String,
    pub second: String,
    pub loc: Loc,
}

/// A merge clause (`merge: Patient from MRG-1.1 into PID-3.1 follow`): a received message
/// whose `retired` path has a value retires that stored `record` into the one under the
/// value at `survivor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merge {
    pub record: String,
    pub retired: String,
    pub survivor: String,
    pub loc: Loc,
}

/// What a message for a retired key does: it is taken as the survivor's (`follow`), or
/// waits for a person in a review queue (`hold`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Retired {
    Follow,
    Hold { queue: Option<String> },
}

/// One field of the matrix: who owns it, who else may write it and when, and how a
/// conflict is settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnedField {
    /// `.`-separated for nested records.
    pub field: String,
    pub owner: String,
    pub accept: Vec<Acceptance>,
    pub conflict: Conflict,
    /// `conflict newest by FIELD`: the record's event time field (`.`-separated) that
    /// orders writes; an older write than the stored value's does not overwrite it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered_by: Option<String>,
    /// No writes from this stage on.
    pub lock_from: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    pub system: String,
    pub when: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// Only while the field has no value.
    Absent,
    StageBefore {
        stage: String,
    },
    StageIn {
        stages: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conflict {
    /// The owner's value stays; the other system's change is not applied.
    OwnerWins,
    /// The latest write is applied.
    Newest,
    /// The message is not delivered: dead letter with reason `ownership`.
    Reject,
    /// The message waits in a review queue until someone approves or rejects it.
    Review { queue: Option<String> },
}

/// `file:line` of the `.accord` source that declared something.
pub type Loc = String;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    /// `mllp`, `http`, `file`, ...
    pub transport: String,
    pub settings: Vec<Setting>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    pub key: String,
    /// In source order; `env: None` applies to every environment.
    pub values: Vec<EnvValue>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvValue {
    pub env: Option<String>,
    pub value: SettingValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum SettingValue {
    Literal(String),
    /// `env("NAME")`: from the configuration's `[settings]` or the environment variable NAME.
    Env(String),
    /// `secret("NAME")`: from `[secrets]`, a file, or the environment variable NAME.
    Secret(String),
}

impl Endpoint {
    /// The value of setting `key` in environment `env`, as written in the contract.
    pub fn setting(&self, key: &str, env: &str) -> Option<(&SettingValue, &Loc)> {
        let s = self.settings.iter().find(|s| s.key == key)?;
        let v = s
            .values
            .iter()
            .find(|v| v.env.as_deref() == Some(env))
            .or_else(|| s.values.iter().find(|v| v.env.is_none()))?;
        Some((&v.value, &s.loc))
    }
}

/// `code^trigger` of a message type written with or without its structure.
pub fn trigger_level(m: &str) -> &str {
    match m.match_indices('^').nth(1) {
        Some((i, _)) => &m[..i],
        None => m,
    }
}

/// What part an interface plays in the production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Receives messages from a system (an inbound service).
    Service,
    /// Sends messages to a system (an outbound operation, a route's target).
    Operation,
    /// Declared but not wired (no route reaches it and it receives nothing).
    Unwired,
}

impl Interface {
    /// An interface with nothing declared beyond its name and role, for the engine's unit
    /// tests (which live in another crate, so this cannot be `cfg(test)`).
    #[doc(hidden)]
    pub fn example(name: &str, role: Role) -> Interface {
        Interface {
            name: name.into(),
            version: "1".into(),
            role,
            from: "a".into(),
            to: "b".into(),
            endpoint: None,
            status: "active".into(),
            messages: vec![],
            profile: None,
            transforms: false,
            chain: vec![],
            ack: Ack {
                mode: "commit".into(),
                timeout_ms: None,
            },
            replies: vec![],
            idempotency: vec![],
            ordering: None,
            ordering_also: vec![],
            retain_ms: None,
            split: None,
            link: None,
            sla: Sla::default(),
            sender: None,
            serves: vec![],
            accepts: vec![],
            merge: None,
            loc: "x:1".into(),
        }
    }
}

/// An interface's `sla:` clause.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sla {
    /// `delivered pNN < D`: (NN, D in milliseconds).
    #[serde(default)]
    pub delivered: Option<(u32, u64)>,
    /// `backlog < N`: more waiting than this raises an alert.
    #[serde(default)]
    pub backlog_under: Option<u32>,
    /// `quiet < D`: longer than this without a message raises an alert (milliseconds).
    #[serde(default)]
    pub quiet_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub version: String,
    pub role: Role,
    pub from: String,
    pub to: String,
    pub endpoint: Option<String>,
    pub status: String,
    /// Message types (`ADT^A01`) this interface carries; empty means any.
    pub messages: Vec<String>,
    pub profile: Option<String>,
    /// Whether the interface has a transform chain (`deliver` returns its output).
    pub transforms: bool,
    /// The mappings of that chain, in order (`Spec::mappings` has their lineage).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    pub ack: Ack,
    pub replies: Vec<ReplyPolicy>,
    /// HL7 paths whose values, joined, identify a message for duplicate detection.
    pub idempotency: Vec<String>,
    /// The HL7 path whose value assigns a message to its ordering lane.
    pub ordering: Option<String>,
    /// Further ordering keys (`ordering: per PID-3.1, MRG-1.1`): a message waits for every
    /// earlier message to the same endpoint that shares any of its keys.
    #[serde(default)]
    pub ordering_also: Vec<String>,
    pub retain_ms: Option<u64>,
    /// `split: per OBR`: one message out per occurrence of this segment, each with the
    /// segments before the first occurrence (see `Message::split_per`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// The contract's service levels (`sla:`), measured and alerted by the production.
    #[serde(default)]
    pub sla: Sla,
    /// Who the sending system says it is in MSH-3/MSH-4 (`hl7_application`,
    /// `hl7_facility` on the system): an inbound message that says otherwise is refused.
    #[serde(default)]
    pub sender: Option<SenderIdentity>,
    /// An API interface's FHIR resources (`serves:`), each from a stored record.
    #[serde(default)]
    pub serves: Vec<Served>,
    /// Its write-back (`accepts:`): resources read into stored records (`mapping` from
    /// FHIR), decided field by field by the ownership matrix.
    #[serde(default)]
    pub accepts: Vec<Served>,
    /// A merge the messages it receives can carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Merge>,
    /// An ADT^A24 links two stored records, an ADT^A37 unlinks them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    pub loc: Loc,
}

/// The HL7 v2 identity of a sending system, as its declaration gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SenderIdentity {
    pub system: String,
    /// MSH-3.1 (namespace id of the sending application).
    pub application: Option<String>,
    /// MSH-4.1 (namespace id of the sending facility).
    pub facility: Option<String>,
    /// The names its TLS client certificates carry (`certificate_names`): a listener
    /// receiving from it with mutual TLS admits only a certificate naming one of them.
    #[serde(default)]
    pub certificate_names: Vec<String>,
    /// Where the system is declared.
    pub loc: Loc,
}

/// One resource type an API interface serves: made by `mapping` from the stored copies
/// of `record`, whose key fields (in order) give each resource's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    pub resource: String,
    pub record: String,
    pub mapping: String,
    pub keys: Vec<String>,
    /// For a resource clients send (`accepts:`): where its mapping reads the patient the
    /// resource is about, so the facade checks a patient token against that very value.
    #[serde(default)]
    pub patient: Option<PatientLink>,
}

/// Which record field an accepting mapping writes the resource's patient into, and the
/// FHIR element it reads it from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientLink {
    pub field: String,
    /// `subject.reference` (a `Patient/ID` reference) or `subject.identifier.value` (one
    /// of the patient's identifiers), or the same under `patient`.
    pub element: String,
}

impl PatientLink {
    /// Whether the element is an identifier (else a reference).
    pub fn by_identifier(&self) -> bool {
        self.element.ends_with(".identifier.value")
    }

    /// The element holding the identifier's system, for an identifier.
    pub fn system_element(&self) -> Option<String> {
        self.element
            .strip_suffix(".value")
            .filter(|_| self.by_identifier())
            .map(|e| format!("{e}.system"))
    }
}

impl Interface {
    /// Whether this interface carries messages of type `code^trigger`.
    pub fn accepts(&self, message_type: &str) -> bool {
        // `ADT^A01^ADT_A01` in the contract matches `ADT^A01` on the wire.
        self.messages.is_empty()
            || self
                .messages
                .iter()
                .any(|m| trigger_level(m) == message_type)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// `never`, `commit`, `application` or `msh`.
    pub mode: String,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyPolicy {
    /// `AA`, `AE`, `AR`, `CA`, `CE`, `CR`, `timeout`, `refused`, ...
    pub classes: Vec<String>,
    pub actions: Vec<Action>,
    /// What happens when the retries of `actions` are exhausted.
    pub then: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    Retry {
        times: Option<u32>,
        forever: bool,
        backoff_min_ms: Option<u64>,
        backoff_max_ms: Option<u64>,
        every_ms: Option<u64>,
    },
    DeadLetter,
    Complete,
    Suspend,
    Warn,
    Fail,
    Alert {
        target: String,
    },
    Send {
        interface: String,
    },
}

/// What the engine does with a reply class that the contract gives no policy: an accept
/// completes, a timeout or refused connection is retried for ever (1 s to 1 min apart), and
/// anything else goes to the dead letter. Nothing is lost and nothing waits for hand
/// clearing. The governance site states these defaults from this one definition.
pub fn default_actions(class: &str) -> Vec<Action> {
    match class {
        "AA" | "CA" => vec![Action::Complete],
        // What breaks the receiver's profile is sent, with a warning, unless the
        // contract says `on invalid: dead_letter`.
        "invalid" => vec![Action::Warn],
        "timeout" | "refused" => vec![Action::Retry {
            times: None,
            forever: true,
            backoff_min_ms: Some(1_000),
            backoff_max_ms: Some(60_000),
            every_ms: None,
        }],
        _ => vec![Action::DeadLetter],
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub name: String,
    /// The interface whose messages start a wait.
    pub start: String,
    /// The HL7 path whose value correlates the start with what it waits for.
    pub correlate: String,
    pub wait_for: String,
    pub within_ms: u64,
    pub on_timeout: Vec<Action>,
    /// What to do when the awaited message arrives (`on reply:`): alerts, a warning, and
    /// follow-ups (`send x`: the arriving message mapped for interface `x`).
    #[serde(default)]
    pub on_reply: Vec<Action>,
    /// (HL7 path, value) pairs of `cancel when`: a start message with any of them cancels
    /// the pending wait of its key instead of starting one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancel_when: Vec<(String, String)>,
    /// What to do when a wait is cancelled (`on cancel:`): alerts, a warning, and
    /// follow-ups (`send x`: the cancelling message mapped for interface `x`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_cancel: Vec<Action>,
    /// `hold early within D`: a delivery to `wait_for` whose key no start message has
    /// opened a wait for is held this long for it (milliseconds), then dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_early_ms: Option<u64>,
    pub loc: Loc,
}

#[cfg(test)]
mod tests {
    use super::trigger_level;

    #[test]
    fn message_types_compare_at_trigger_level() {
        assert_eq!(trigger_level("ADT^A01^ADT_A01"), "ADT^A01");
        assert_eq!(trigger_level("ADT^A01"), "ADT^A01");
        assert_eq!(trigger_level("ACK"), "ACK");
    }
}
