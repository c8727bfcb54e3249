//! The intermediate representation: the one thing code generation, documentation and diff
//! read. Names are resolved (references are by the referent's unique name), defaults are
//! explicit, durations are milliseconds, and every item keeps its docs and source location.
//! Versioned by [`IR_VERSION`]; serialised with serde, described by a JSON Schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped on any change that an IR consumer could notice.
pub const IR_VERSION: &str = "1.8.0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Estate {
    pub ir_version: String,
    pub name: String,
    pub version: String,
    pub docs: String,
    /// The zone of local times (`timezone "Europe/London"`): an HL7 value without a UTC
    /// offset read by `datetime()` takes the zone's offset at that time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub environments: Vec<Environment>,
    pub systems: Vec<System>,
    pub endpoints: Vec<Endpoint>,
    pub records: Vec<Record>,
    pub codesets: Vec<Codeset>,
    pub codemaps: Vec<Codemap>,
    pub ownership: Vec<OwnershipRow>,
    pub profiles: Vec<Profile>,
    pub mappings: Vec<Mapping>,
    pub interfaces: Vec<Interface>,
    pub routes: Vec<Route>,
    pub flows: Vec<Flow>,
    pub tests: Vec<Test>,
    /// Scenarios: messages in sequence, peers that answer as told, a virtual clock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<Scenario>,
}

/// Where an item or line was written: file (relative to the estate) and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Loc {
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    pub name: String,
    pub production: bool,
    pub docs: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct System {
    pub name: String,
    pub docs: String,
    /// `name`, `role`, `owner`, ... as written.
    pub properties: BTreeMap<String, String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Endpoint {
    pub name: String,
    pub docs: String,
    pub transport: String,
    pub settings: Vec<Setting>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Setting {
    pub key: String,
    /// Values in the order written; `env: None` applies to every environment.
    pub values: Vec<EnvValue>,
    /// The environments the contract gives no value for, whose configuration file must
    /// then set it under `[endpoints.NAME]` (TLS material is needed only where TLS is on,
    /// and is never listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_config: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvValue {
    pub env: Option<String>,
    pub value: SettingValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum SettingValue {
    Literal(String),
    /// Read from the environment variable or configuration key of this name.
    Env(String),
    /// Read from the secret store (configuration, environment variable or file).
    Secret(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Type {
    Text,
    Integer,
    Decimal,
    Boolean,
    Date,
    DateTime,
    Identifier,
    Code {
        codeset: String,
    },
    Record {
        record: String,
    },
    List {
        of: Box<Type>,
    },
    Optional {
        of: Box<Type>,
    },
    /// No canonical type: a complex FHIR element (a `HumanName`), read whole.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    pub name: String,
    pub docs: String,
    pub fields: Vec<Field>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Field {
    pub name: String,
    pub docs: String,
    pub ty: Type,
    pub constraints: Vec<Constraint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Constraint {
    /// Identifies the record; carried to match, never an update.
    Key,
    /// No two stored records hold the same value.
    Unique,
    Check {
        validator: String,
    },
    Length {
        min: Option<u64>,
        max: Option<u64>,
    },
    Range {
        min: Option<String>,
        max: Option<String>,
    },
    Pattern {
        regex: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Codeset {
    pub name: String,
    pub docs: String,
    pub system: Option<String>,
    pub codes: Vec<Code>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Code {
    pub code: String,
    pub display: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Codemap {
    pub name: String,
    pub docs: String,
    pub from: Type,
    pub to: Type,
    pub entries: Vec<CodemapEntry>,
    pub default: CodemapDefault,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CodemapEntry {
    pub from: Vec<String>,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodemapDefault {
    Reject {
        message: Option<String>,
    },
    Value {
        code: String,
    },
    Pass,
    /// A code not listed gives no value.
    Absent,
}

/// One row of the source-of-truth matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OwnershipRow {
    pub record: String,
    /// Field path, `.`-separated for nested records.
    pub field: String,
    pub docs: String,
    pub owner: String,
    pub accept: Vec<Accept>,
    pub conflict: Conflict,
    /// `conflict newest by FIELD`: the record's event time field that orders the writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered_by: Option<String>,
    pub lock_from: Option<String>,
    /// The workflow stages of the record, in order.
    pub stages: Vec<String>,
    /// The record field that holds the record's current stage (`from field`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_field: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Accept {
    pub system: String,
    pub when: Option<AcceptWhen>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AcceptWhen {
    /// Only while the field has no value.
    Absent,
    StageBefore {
        stage: String,
    },
    StageIn {
        stages: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conflict {
    OwnerWins,
    Newest,
    Reject,
    Review { queue: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    pub name: String,
    pub docs: String,
    pub version: String,
    pub messages: Vec<String>,
    pub rules: Vec<ProfileRule>,
    pub segments: Vec<LocalSegment>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProfileRule {
    pub path: Hl7Path,
    pub usage: String,
    pub min: Option<u32>,
    /// `None` with `min` set is `*`.
    pub max: Option<u32>,
    pub length: Option<u32>,
    pub table: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LocalSegment {
    pub id: String,
    pub docs: String,
    pub after: Option<String>,
    pub usage: Option<String>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub fields: Vec<LocalField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LocalField {
    pub position: u32,
    pub datatype: String,
    pub name: String,
    pub usage: Option<String>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub length: Option<u32>,
    pub table: Option<String>,
}

/// `SEG[occurrence]-field[repetition].component.subcomponent`, 1-based.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hl7Path {
    /// The path as written in canonical form, e.g. `PID-3[where 5 = "MR"].1`.
    pub text: String,
    pub segment: String,
    pub occurrence: Option<u32>,
    pub field: u32,
    pub repetition: Option<Repetition>,
    pub component: Option<u32>,
    pub subcomponent: Option<u32>,
    /// What the HL7 v2 dictionary of the mapping's side calls the place (in mappings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<Hl7Element>,
}

impl Hl7Path {
    /// `SEG-field.component` as the generator writes header fields itself (`MSH-9.1`).
    pub fn field(segment: &str, field: u32, component: Option<u32>) -> Hl7Path {
        let text = match component {
            Some(c) => format!("{segment}-{field}.{c}"),
            None => format!("{segment}-{field}"),
        };
        Hl7Path {
            text,
            segment: segment.to_string(),
            occurrence: None,
            field,
            repetition: None,
            component,
            subcomponent: None,
            element: None,
        }
    }
}

/// An HL7 v2 field, component or subcomponent as the dictionary names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hl7Element {
    /// `Patient Identifier List / ID Number`: the field's name, then each component's.
    pub name: String,
    /// The data type of the last step (`ST`, `CX`).
    pub datatype: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Repetition {
    Index {
        index: u32,
    },
    All,
    Where {
        component: u32,
        subcomponent: Option<u32>,
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mapping {
    pub name: String,
    pub docs: String,
    pub source: Schema,
    pub target: Schema,
    /// `-> partial Record`: the mapping writes some of the record's fields, and the
    /// production completes the rest from the stored record (which the matrix keeps).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    pub body: Vec<Stmt>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schema {
    Hl7 {
        version: String,
        message: Option<String>,
        profile: Option<String>,
        /// The dictionary's message structure for the message (`ADT_A01` for `ADT^A04`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        structure: Option<String>,
    },
    Fhir {
        resource: String,
    },
    Record {
        record: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stmt {
    Assign {
        target: Target,
        values: Vec<Expr>,
        /// `clear`: from HL7 v2, the null `""` at the value's path clears the field;
        /// into HL7 v2, an empty value is written as `""`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clear: bool,
        docs: String,
        loc: Loc,
    },
    For {
        target: Target,
        source: IterSource,
        body: Vec<Stmt>,
        /// `for each SOURCE: EXPR`: one value per element, into a list of values.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Box<Expr>>,
        docs: String,
        loc: Loc,
    },
    When {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
        docs: String,
        loc: Loc,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    Hl7 {
        path: Hl7Path,
    },
    Segment {
        segment: String,
    },
    /// A record field (or FHIR element) path; `index` picks a list element.
    Field {
        path: Vec<PathStep>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathStep {
    pub name: String,
    pub index: Option<u32>,
    /// `[where element = "value"]`: the first list element whose `element` is `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<PathFilter>,
    /// The FHIR R4 element this step reaches, on a FHIR side of a mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fhir: Option<FhirElement>,
}

/// A FHIR R4 element as the dictionary defines it, at one step of a mapping's path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FhirElement {
    /// The definition path (`Patient.name`, `HumanName.family`).
    pub path: String,
    /// The type at this step (`string`, `HumanName`; a choice's picked type).
    pub ty: String,
    pub min: u32,
    /// `None` is `*`.
    pub max: Option<u32>,
    /// The value set of a required binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<String>,
    /// The canonical type a read of this element gives (`date` reads as a date).
    pub reads_as: Type,
}

impl FhirElement {
    /// Whether the element repeats.
    pub fn is_list(&self) -> bool {
        self.max != Some(1) && self.max != Some(0)
    }

    /// `0..1`, `1..*`.
    pub fn cardinality(&self) -> String {
        let max = self.max.map_or_else(|| "*".to_string(), |m| m.to_string());
        format!("{}..{max}", self.min)
    }
}

impl PathStep {
    /// Whether the step picks one element of a list, by index or by filter.
    pub fn picks_one(&self) -> bool {
        self.index.is_some() || self.filter.is_some()
    }
}

/// A list element chosen by the text value of one of its elements (`system = "phone"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathFilter {
    pub element: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IterSource {
    Segment {
        segment: String,
    },
    Group {
        group: String,
        /// Every segment inside the group of the source structure, nested groups included.
        #[serde(default)]
        segments: Vec<String>,
        /// The segments an occurrence of the group can begin with: its optional first
        /// segments up to and including its first required one (`ORC`, `OBR`).
        #[serde(default)]
        leaders: Vec<String>,
    },
    /// The repetitions of an HL7 field (`for each PID-3`).
    Repetitions {
        path: Hl7Path,
    },
    Field {
        path: Vec<PathStep>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expr {
    Text {
        value: String,
    },
    Integer {
        value: i64,
    },
    Decimal {
        value: String,
    },
    Boolean {
        value: bool,
    },
    Date {
        value: String,
    },
    Hl7 {
        path: Hl7Path,
    },
    /// A field of the source record (or of the current `for each` element).
    Field {
        path: Vec<PathStep>,
    },
    Code {
        codeset: String,
        code: String,
    },
    Call {
        function: String,
        args: Vec<Expr>,
    },
    Lookup {
        codemap: String,
        value: Box<Expr>,
    },
    /// `value via mapping`: another mapping applied to a record (to each, for a list),
    /// giving the FHIR resource or record it makes.
    Apply {
        mapping: String,
        value: Box<Expr>,
    },
    /// `reference(mapping, key, ...)`: the literal reference (`Patient/patient-100001`)
    /// to the resource `mapping` makes from the record with these key values.
    Reference {
        mapping: String,
        keys: Vec<Expr>,
    },
    /// `lookup(Record.field, key, ...)`: the field of the record the production stored
    /// under these key values (the matrix's copy), or no value when none is stored.
    Stored {
        record: String,
        field: Vec<String>,
        keys: Vec<Expr>,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Not {
        value: Box<Expr>,
    },
    /// `else absent`: no value.
    Absent,
}

/// A binary operator, spelled in JSON as the language writes it (`==`, `and`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BinOp {
    #[serde(rename = "or")]
    Or,
    #[serde(rename = "and")]
    And,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl BinOp {
    /// The operator as the language writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }
}

impl std::fmt::Display for BinOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Interface {
    pub name: String,
    pub version: String,
    pub docs: String,
    pub purpose: String,
    pub owner: String,
    pub review: String,
    pub status: String,
    pub sunset: Option<String>,
    pub clinical_impact: Option<String>,
    pub from: String,
    pub to: String,
    pub endpoint: Option<String>,
    pub pattern: String,
    pub profile: Option<String>,
    pub messages: Vec<String>,
    pub transforms: Vec<String>,
    /// An API interface's FHIR resources: mappings from stored records to FHIR.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serves: Vec<String>,
    /// An API interface's write-back: mappings from FHIR to stored records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepts: Vec<String>,
    pub ack: Ack,
    pub replies: Vec<ReplyPolicy>,
    pub idempotency: Vec<Key>,
    /// Picks the lane; messages with the same value keep their order.
    pub ordering: Option<Key>,
    /// Further keys a message is ordered by (a merge's retired patient, MRG-1): it waits
    /// for every earlier message to the same endpoint that shares any of its keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ordering_also: Vec<Key>,
    pub sends_only: Option<SendsOnly>,
    pub sla: Vec<Sla>,
    pub retain_ms: Option<u64>,
    /// `split: per OBR`: one message out per occurrence of this segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// A message naming a retired key merges that stored record into the survivor's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Merge>,
    /// An ADT^A24 links two stored records, an ADT^A37 unlinks them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    pub loc: Loc,
}

/// `merge: Patient from MRG-1.1 into PID-3.1 follow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Link {
    pub record: String,
    /// Where the message names one record's key (`PID[1]-3.1`).
    pub first: Hl7Path,
    /// Where it names the other's (`PID[2]-3.1`).
    pub second: Hl7Path,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Merge {
    pub record: String,
    /// Where the message names the key that is retired (`MRG-1.1`).
    pub retired: Hl7Path,
    /// Where it names the key that survives (`PID-3.1`).
    pub survivor: Hl7Path,
    /// What a later message for a retired key does.
    pub policy: MergePolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MergePolicy {
    /// It is taken as the survivor's.
    Follow,
    /// It waits for a person in review `queue` (`review` when none is named).
    Hold { queue: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ack {
    /// `never`, `commit`, `application` or `msh` (`immediate` is lowered to `commit`).
    pub mode: String,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReplyPolicy {
    pub classes: Vec<String>,
    pub actions: Vec<Action>,
    /// What happens when the retries of `actions` are exhausted.
    pub then: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Key {
    Hl7 {
        path: Hl7Path,
    },
    Field {
        record: Option<String>,
        path: Vec<PathStep>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SendsOnly {
    pub record: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sla {
    /// `delivered p95 < 5s`: that share of messages delivered within the time, measured
    /// from receipt by the production to the receiver's accepting reply.
    Delivered { percentile: u32, under_ms: u64 },
    /// `backlog < 100`: fewer messages waiting than this (an operation's queue, or what a
    /// service received that still waits to go out).
    Backlog { under: u32 },
    /// `quiet < 2h`: never longer than this without a message (received by a service,
    /// delivered by an operation).
    Quiet { under_ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Route {
    pub name: String,
    pub docs: String,
    pub from: String,
    pub rules: Vec<RouteRule>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteRule {
    /// Message types at trigger level; empty matches every type.
    pub messages: Vec<String>,
    pub when: Option<Expr>,
    pub targets: Vec<RouteTarget>,
    pub otherwise: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum RouteTarget {
    Interface(String),
    Route(String),
    Flow(String),
    Discard,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Flow {
    pub name: String,
    pub docs: String,
    pub start: String,
    pub correlate: Key,
    pub wait_for: String,
    pub within_ms: u64,
    pub on_timeout: Vec<Action>,
    pub on_reply: Vec<Action>,
    /// `cancel when P == "v" or ...`: a start message with any of these values cancels
    /// the pending wait of its key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancel_when: Vec<CancelValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_cancel: Vec<Action>,
    /// `hold early within D`: how long a reply that arrives before its start waits for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_early_ms: Option<u64>,
    pub loc: Loc,
}

/// One value that makes a flow's start message a cancellation: `ORC-1 == "CA"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CancelValue {
    pub path: Hl7Path,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Test {
    pub name: String,
    pub docs: String,
    pub given: Vec<Given>,
    pub expect: Vec<Expect>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Given {
    /// The message file, relative to the estate root.
    pub file: Option<String>,
    pub inline: Option<String>,
    /// The interface or route the message enters at.
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expect {
    Routed {
        to: String,
        negated: bool,
    },
    Ack {
        code: String,
    },
    Rejected {
        reason: Option<String>,
    },
    Value {
        path: Key,
        equals: Box<Expr>,
        loc: Loc,
    },
}

/// A scenario: run in order on the generated production, in process, with virtual peers
/// and a virtual clock (`accord test`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Scenario {
    pub name: String,
    pub docs: String,
    pub steps: Vec<ScenarioStep>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioStep {
    pub kind: StepKind,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StepKind {
    /// The peer of operation `operation` answers these in turn, the last one kept
    /// (`nothing`: no reply within the contract's timeout).
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
    /// An operator resends `operation`'s dead letters.
    Resend {
        operation: String,
    },
    /// An operator replays what `operation` delivered.
    Replay {
        operation: String,
    },
    /// A person approves (or rejects) what waits for review, in `queue` when named.
    Review {
        approve: bool,
        queue: Option<String>,
    },
    /// The reply to the last message sent, by MSA-1.
    ExpectAck {
        code: String,
    },
    /// How many messages of the journal are in `state` (dead, review, rejected, held),
    /// of interface `at` when named.
    ExpectCount {
        count: u64,
        state: String,
        at: Option<String>,
    },
    /// The stored record `record` with key `key`: absent, present, or with `field`
    /// equal to `equals`.
    ExpectRecord {
        record: String,
        key: String,
        absent: bool,
        field: Option<String>,
        equals: Option<String>,
    },
    /// Whether stored records `first` and `second` of `record` are linked (or, `absent`,
    /// not).
    ExpectLink {
        record: String,
        first: String,
        second: String,
        absent: bool,
    },
    /// The state of flow `flow`'s wait for `key` (`waiting`, `completed`, `timed_out`,
    /// `dead`, `cancelled`).
    ExpectFlow {
        flow: String,
        key: String,
        state: String,
    },
    /// How many messages `operation`'s peer received (every attempt counts).
    ExpectReceived {
        operation: String,
        count: u64,
    },
    /// The value at `path` of each message `operation`'s peer received, in order.
    ExpectValues {
        operation: String,
        path: String,
        values: Vec<String>,
    },
}
