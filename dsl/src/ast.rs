//! The typed syntax tree of one `.accord` file. Every node carries a byte [`Span`].
//! It records what was written (including the order of clauses, for the formatter) and
//! nothing that needs name resolution: that is the compiler's job.

use crate::span::Span;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal: `value` is unescaped, `raw` is the text between the quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub raw: String,
    pub span: Span,
}

/// A token kept as written (versions, dates, message types, percentiles).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Duration {
    pub text: String,
    pub millis: u64,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub docs: Vec<String>,
    pub span: Span,
    pub kind: ItemKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    Estate(Estate),
    Import(Import),
    Environment(Environment),
    System(System),
    Endpoint(Endpoint),
    Record(Record),
    Codeset(Codeset),
    Codemap(Codemap),
    Ownership(Ownership),
    Profile(Profile),
    Mapping(Mapping),
    Interface(Interface),
    Route(Route),
    Flow(Flow),
    Test(Test),
    Scenario(Scenario),
}

impl ItemKind {
    /// The keyword that introduces the item.
    pub fn keyword(&self) -> &'static str {
        match self {
            ItemKind::Estate(_) => "estate",
            ItemKind::Import(_) => "import",
            ItemKind::Environment(_) => "environment",
            ItemKind::System(_) => "system",
            ItemKind::Endpoint(_) => "endpoint",
            ItemKind::Record(_) => "record",
            ItemKind::Codeset(_) => "codeset",
            ItemKind::Codemap(_) => "codemap",
            ItemKind::Ownership(_) => "ownership",
            ItemKind::Profile(_) => "profile",
            ItemKind::Mapping(_) => "mapping",
            ItemKind::Interface(_) => "interface",
            ItemKind::Route(_) => "route",
            ItemKind::Flow(_) => "flow",
            ItemKind::Test(_) => "test",
            ItemKind::Scenario(_) => "scenario",
        }
    }
}

/// Keywords that start a top-level item (used for error recovery and help lines).
pub const ITEM_KEYWORDS: &[&str] = &[
    "estate",
    "import",
    "environment",
    "system",
    "endpoint",
    "record",
    "codeset",
    "codemap",
    "ownership",
    "profile",
    "mapping",
    "interface",
    "route",
    "flow",
    "test",
    "scenario",
];

// ---- simple items --------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Estate {
    pub name: StrLit,
    pub version: Token,
    /// The time zone of local times (`timezone "Europe/London"`), an IANA name.
    pub timezone: Option<StrLit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub path: StrLit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: Ident,
    pub props: Vec<Prop>,
    pub braces: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct System {
    pub name: Ident,
    pub props: Vec<Prop>,
}

/// `key: value` with a literal value.
#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    pub docs: Vec<String>,
    pub key: Ident,
    pub value: Lit,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lit {
    pub kind: LitKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LitKind {
    Str(StrLit),
    Int(i64),
    Decimal(String),
    Bool(bool),
    Date(String),
    Duration(Duration),
    Semver(String),
    Ident(String),
}

// ---- endpoints -----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub name: Ident,
    pub settings: Vec<Setting>,
}

/// `host: env("H") in prod, "localhost" in dev`
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub docs: Vec<String>,
    pub key: Ident,
    pub values: Vec<EnvValue>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnvValue {
    pub value: SettingValue,
    pub env: Option<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    Env(StrLit),
    Secret(StrLit),
    Lit(Lit),
}

// ---- records -------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: Ident,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub docs: Vec<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub constraints: Vec<Constraint>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub optional: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    /// A built-in type (`Text`, `Date`...) or a record name.
    Named(Ident),
    List(Box<TypeExpr>),
    Code(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub kind: ConstraintKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    /// The field identifies the record: mappings carry it to match, not to update.
    Key,
    /// No two stored records hold the same value: a message that would give one record
    /// another's value names two records, and waits for a person.
    Unique,
    Check(Ident),
    Length(RangeLit),
    Range(RangeLit),
    Pattern(StrLit),
}

/// `lo..hi`, either end optional; numbers kept as written.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeLit {
    pub lo: Option<String>,
    pub hi: Option<String>,
}

// ---- codesets and code maps ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Codeset {
    pub name: Ident,
    pub props: Vec<(Ident, StrLit)>,
    pub codes: Vec<CodeEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CodeEntry {
    pub docs: Vec<String>,
    pub code: CodeName,
    pub display: Option<StrLit>,
    pub span: Span,
}

/// A code written bare (`male`) or quoted (`"M"`).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeName {
    pub value: String,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Codemap {
    pub name: Ident,
    pub from: TypeExpr,
    pub to: TypeExpr,
    pub rules: Vec<CodemapRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CodemapRule {
    Entry(CodemapEntry),
    Default(CodemapDefault),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CodemapEntry {
    pub docs: Vec<String>,
    pub sources: Vec<CodeName>,
    pub target: CodeName,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CodemapDefault {
    pub docs: Vec<String>,
    pub action: DefaultAction,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DefaultAction {
    Reject(Option<StrLit>),
    Pass,
    /// `_ => absent`: a code not listed gives no value (the element is left out).
    Absent,
    Value(CodeName),
}

// ---- ownership matrix ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Ownership {
    pub record: Ident,
    pub stages: Vec<Ident>,
    /// `from field`: the record field whose value is the record's current stage.
    pub stage_field: Option<Ident>,
    pub fields: Vec<OwnershipField>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OwnershipField {
    pub docs: Vec<String>,
    pub path: Vec<Ident>,
    pub clauses: Vec<OwnClause>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OwnClause {
    pub kind: OwnClauseKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OwnClauseKind {
    Owner(Vec<Ident>),
    Accept {
        systems: Vec<Ident>,
        when: Option<AcceptCond>,
    },
    Conflict(ConflictRule),
    Lock(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AcceptCond {
    Absent,
    StageBefore(Ident),
    StageIn(Vec<Ident>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConflictRule {
    /// `owner_wins`, `newest`, `reject` (validated by the checker); `newest by FIELD`
    /// orders writes by the record's event time field instead of their arrival.
    Named(Ident, Option<Vec<Ident>>),
    Review(Option<StrLit>),
}

// ---- HL7 v2 profiles and paths -------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: Ident,
    pub version: Token,
    pub messages: Vec<Token>,
    pub items: Vec<ProfileItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProfileItem {
    Rule(ProfileRule),
    Segment(ProfileSegment),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRule {
    pub docs: Vec<String>,
    pub path: Hl7Path,
    pub usage: Token,
    pub card: Option<Cardinality>,
    pub len: Option<u32>,
    pub table: Option<Token>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSegment {
    pub docs: Vec<String>,
    pub id: Token,
    pub after: Option<Token>,
    pub usage: Option<Token>,
    pub card: Option<Cardinality>,
    pub fields: Vec<ZField>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ZField {
    pub docs: Vec<String>,
    pub position: u32,
    pub datatype: Ident,
    pub name: StrLit,
    pub usage: Option<Token>,
    pub card: Option<Cardinality>,
    pub len: Option<u32>,
    pub table: Option<Token>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cardinality {
    pub min: u32,
    /// `None` is `*`.
    pub max: Option<u32>,
    pub span: Span,
}

/// `SEG[occurrence]-field[repetition].component.subcomponent`, 1-based.
#[derive(Debug, Clone, PartialEq)]
pub struct Hl7Path {
    pub segment: String,
    pub occurrence: Option<u32>,
    pub field: u32,
    pub repetition: Option<Repetition>,
    pub component: Option<u32>,
    pub subcomponent: Option<u32>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Repetition {
    Index(u32),
    All,
    /// `[where 5 = "MR"]`: the repetition whose component (and subcomponent) equals the value.
    Where {
        component: u32,
        subcomponent: Option<u32>,
        value: StrLit,
    },
}

impl fmt::Display for Hl7Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.segment)?;
        if let Some(o) = self.occurrence {
            write!(f, "[{o}]")?;
        }
        write!(f, "-{}", self.field)?;
        match &self.repetition {
            None => {}
            Some(Repetition::Index(i)) => write!(f, "[{i}]")?,
            Some(Repetition::All) => write!(f, "[*]")?,
            Some(Repetition::Where {
                component,
                subcomponent,
                value,
            }) => {
                write!(f, "[where {component}")?;
                if let Some(s) = subcomponent {
                    write!(f, ".{s}")?;
                }
                write!(f, " = \"{}\"]", value.raw)?;
            }
        }
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
        }
        if let Some(s) = self.subcomponent {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

// ---- paths into records and FHIR -----------------------------------------------------------

/// `name[0].family` or `Patient.sex`.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRef {
    pub segments: Vec<PathSeg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathSeg {
    pub name: Ident,
    pub index: Option<u32>,
    /// `[where element = "value"]`: the first element of the list whose `element` is
    /// `value` (reads from FHIR only; the checker refuses it elsewhere).
    pub filter: Option<SegFilter>,
}

impl PathSeg {
    /// Whether the segment picks one element of a list, by index or by filter.
    pub fn picks_one(&self) -> bool {
        self.index.is_some() || self.filter.is_some()
    }
}

/// `[where element = "value"]` on a path segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegFilter {
    pub element: Ident,
    pub value: StrLit,
    pub span: Span,
}

impl fmt::Display for PathRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                write!(f, ".")?;
            }
            write!(f, "{}", s.name.name)?;
            if let Some(ix) = s.index {
                write!(f, "[{ix}]")?;
            }
            if let Some(w) = &s.filter {
                write!(f, "[where {} = \"{}\"]", w.element.name, w.value.raw)?;
            }
        }
        Ok(())
    }
}

// ---- expressions ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Lit(Lit),
    Hl7(Hl7Path),
    Path(PathRef),
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    Via {
        expr: Box<Expr>,
        map: Ident,
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
    Not(Box<Expr>),
    Paren(Box<Expr>),
    /// `absent`, after `else`: no value.
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
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

// ---- mappings ------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub name: Ident,
    pub source: SchemaRef,
    pub target: SchemaRef,
    /// `-> partial Record`: where the word `partial` is. The mapping writes only some
    /// fields; the others are completed from the stored record.
    pub partial: Option<Span>,
    pub body: Vec<MapStmt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRef {
    pub kind: SchemaKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SchemaKind {
    /// `hl7v2 2.4 ADT^A01`
    Hl7 { version: Token, message: Token },
    /// `hl7v2 trakcare_adt` (a profile)
    Hl7Profile(Ident),
    /// `fhir r4 Patient`
    Fhir(Ident),
    /// A canonical record.
    Record(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MapStmt {
    pub docs: Vec<String>,
    pub kind: MapStmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MapStmtKind {
    Assign {
        target: MapTarget,
        values: Vec<Expr>,
        /// `clear`: the HL7 null `""` clears the field (into HL7: no value is sent as `""`).
        clear: Option<Span>,
    },
    For {
        target: MapTarget,
        source: IterSource,
        body: Vec<MapStmt>,
        /// `for each SOURCE: EXPR`: one value per element (a list of values), no body.
        value: Option<Box<Expr>>,
    },
    When {
        cond: Expr,
        then: Vec<MapStmt>,
        otherwise: Option<Vec<MapStmt>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum MapTarget {
    Hl7(Hl7Path),
    Segment(Token),
    Path(PathRef),
}

impl MapTarget {
    pub fn span(&self) -> Span {
        match self {
            MapTarget::Hl7(p) => p.span,
            MapTarget::Segment(t) => t.span,
            MapTarget::Path(p) => p.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum IterSource {
    Segment(Token),
    Group(Token),
    /// The repetitions of an HL7 field: `for each PID-3`.
    Repetitions(Hl7Path),
    Path(PathRef),
}

// ---- interfaces ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub name: Ident,
    pub version: Token,
    pub clauses: Vec<IfaceClause>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IfaceClause {
    pub docs: Vec<String>,
    pub kind: IfaceClauseKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IfaceClauseKind {
    Route {
        from: Ident,
        to: Ident,
        via: Option<Ident>,
    },
    Messages(Vec<Token>),
    Ack {
        mode: Ident,
        within: Option<Duration>,
    },
    On {
        classes: Vec<Token>,
        actions: Vec<Action>,
        then: Vec<Action>,
    },
    Idempotency(Vec<KeyExpr>),
    /// The first key picks the lane; a message waits for every earlier one (to the same
    /// endpoint) that shares any of its keys (`per PID-3.1, MRG-1.1` for merges).
    Ordering(Vec<KeyExpr>),
    SendsOnly {
        record: Ident,
        fields: Vec<Ident>,
    },
    Sla(Vec<SlaItem>),
    Status {
        status: Ident,
        sunset: Option<Token>,
    },
    Transform(Vec<Ident>),
    /// `serves: patient_to_fhir, ...`: the FHIR resources an API interface answers with,
    /// each made by a mapping from a stored record.
    Serves(Vec<Ident>),
    /// `accepts: fhir_to_patient, ...`: the resources an API interface takes in updates,
    /// each read into a stored record by a mapping from FHIR.
    Accepts(Vec<Ident>),
    Retain(Duration),
    /// `split: per OBR`: an operation sends one message per occurrence of the segment.
    Split(Token),
    /// `link: Patient PID[1]-3.1 with PID[2]-3.1`: an A24 links two stored records, an
    /// A37 unlinks them.
    Link(Box<Link>),
    /// `merge: Patient from MRG-1.1 into PID-3.1 follow`: a message naming a retired
    /// key merges that stored record into the survivor's.
    Merge(Box<Merge>),
    Prop(Prop),
}

/// A merge clause: which record, where the message names the retired and the surviving
/// keys, and what later messages for the retired key do.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub record: Ident,
    pub first: Hl7Path,
    pub second: Hl7Path,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    pub record: Ident,
    pub retired: Hl7Path,
    pub survivor: Hl7Path,
    pub policy: MergePolicy,
}

/// What a later message for a retired key does: `follow` the survivor, or `hold` for
/// review (in the named queue).
#[derive(Debug, Clone, PartialEq)]
pub enum MergePolicy {
    Follow(Span),
    Hold { queue: Option<StrLit>, span: Span },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Retry {
        count: RetryCount,
        timing: Option<RetryTiming>,
    },
    Alert(StrLit),
    Send(Ident),
    /// `dead_letter`, `complete`, `suspend`, `warn`, `fail`.
    Simple(Token),
}

#[derive(Debug, Clone, PartialEq)]
pub enum RetryCount {
    /// `retry` with no count: infinite, which the checker rejects unless `forever`.
    Unbounded,
    Times(u32),
    Forever,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RetryTiming {
    Backoff(Duration, Duration),
    Every(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyExpr {
    Hl7(Hl7Path),
    Path(PathRef),
}

impl KeyExpr {
    pub fn span(&self) -> Span {
        match self {
            KeyExpr::Hl7(p) => p.span,
            KeyExpr::Path(p) => p.span,
        }
    }
}

impl fmt::Display for KeyExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyExpr::Hl7(p) => p.fmt(f),
            KeyExpr::Path(p) => p.fmt(f),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SlaItem {
    Delivered {
        percentile: Token,
        under: Duration,
    },
    Backlog(u32),
    /// `quiet < 2h`: the interface never goes longer than this without a message.
    Quiet(Duration),
}

// ---- routes, flows, tests ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: Ident,
    pub from: Ident,
    pub rules: Vec<RouteRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    pub docs: Vec<String>,
    pub kind: RouteRuleKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteRuleKind {
    Match {
        types: Option<RuleTypes>,
        when: Option<Expr>,
        targets: Vec<Ident>,
    },
    Otherwise {
        targets: Vec<Ident>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleTypes {
    Any(Span),
    List(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub name: Ident,
    pub clauses: Vec<FlowClause>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlowClause {
    pub docs: Vec<String>,
    pub kind: FlowClauseKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FlowClauseKind {
    Start(Ident),
    Correlate(KeyExpr),
    Wait {
        interface: Ident,
        within: Duration,
    },
    /// `cancel when COND`: a start message for which COND holds cancels the pending wait
    /// of its key instead of starting one.
    Cancel(Expr),
    /// `hold early within D`: a reply that arrives before its start message waits for it.
    HoldEarly(Duration),
    On {
        event: Token,
        actions: Vec<Action>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub name: StrLit,
    pub stmts: Vec<TestStmt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestStmt {
    pub kind: TestStmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestStmtKind {
    Given {
        source: GivenSource,
        at: Option<Ident>,
    },
    Expect(Expectation),
}

/// `scenario "..." { ... }`: messages in sequence at the production's services, peers
/// that answer as told, a clock that moves when told, and what must follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: StrLit,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// `peer OP answers AE, AA`: the replies in turn, the last one kept.
    Peer {
        operation: Ident,
        answers: Vec<Token>,
    },
    /// `send hl7 "..." at SERVICE`.
    Send {
        source: GivenSource,
        at: Ident,
    },
    /// `advance 31s`.
    Advance(Duration),
    /// `resend dead at OP`: an operator resends OP's dead letters.
    Resend(Ident),
    /// `replay OP`: an operator replays what OP delivered.
    Replay(Ident),
    /// `approve review ["queue"]` / `reject review ["queue"]`: a person decides what waits
    /// for review (in that queue).
    Review {
        approve: bool,
        queue: Option<StrLit>,
    },
    Expect(ScenarioExpect),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioExpect {
    /// `expect ack AA`: the reply to the last message sent.
    Ack(Token),
    /// `expect 1 dead at OP`: messages in the journal in a state.
    Count {
        count: Token,
        state: Token,
        at: Option<Ident>,
    },
    /// `expect record Patient "P1" family_name == "SMITH"`; `expect no record ...`.
    Record {
        absent: bool,
        record: Ident,
        key: StrLit,
        field: Option<(Ident, StrLit)>,
    },
    /// `expect link Patient "P1" "P2"`; `expect no link ...`.
    Link {
        absent: bool,
        record: Ident,
        first: StrLit,
        second: StrLit,
    },
    /// `expect flow order_result "ORD1" timed_out`.
    Flow {
        flow: Ident,
        key: StrLit,
        state: Token,
    },
    /// `expect OP received 2`.
    Received { operation: Ident, count: Token },
    /// `expect OP received PID-5.1 == "A", "B"`: one value per message, in order.
    ReceivedValues {
        operation: Ident,
        path: Hl7Path,
        values: Vec<StrLit>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum GivenSource {
    File(StrLit),
    Inline(StrLit),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    Routed {
        negated: bool,
        word: String,
        to: Ident,
    },
    Ack(Token),
    Rejected(Option<StrLit>),
    Value {
        path: KeyExpr,
        value: Box<Expr>,
    },
}
