//! The registry of diagnostic codes: title and long explanation of each, for
//! `accord explain CODE` and the book's diagnostics index. An example that triggers each
//! code is its case under `tests/cases/err/`, embedded by the build script.

pub struct CodeInfo {
    pub code: &'static str,
    pub title: &'static str,
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($code:literal, $title:literal, $text:literal;)*) => {
        pub const CODES: &[CodeInfo] = &[$(CodeInfo { code: $code, title: $title, explanation: $text }),*];
    };
}

codes! {
    "E0100", "syntax error",
        "The file does not follow the grammar. The message names what was expected at the marked place. Parsing resumes at the next top-level item, so several syntax errors are reported at once; items that parsed are still checked.";
    "E0101", "unknown name",
        "A name refers to no item of the expected kind: a system, endpoint, record, codeset, code map, profile, mapping, interface, route, flow or environment. Either the item is not declared, its name is misspelled, or it is an item of another kind.";
    "E0102", "defined more than once",
        "Two items of an estate share a name, or a record lists a field twice, or a codeset lists a code twice. All items share one namespace so that a name in a route or test is never ambiguous.";
    "E0103", "import not found",
        "An `import` names a file that is not part of the estate. Paths are relative to the importing file.";
    "E0104", "estate declaration missing or repeated",
        "An estate has exactly one `estate \"Name\" version X.Y.Z` declaration. Its version is the estate's release, which `accord diff` compares.";
    "E0105", "unknown property",
        "A `key: value` line uses a key that this kind of item does not accept. The help line lists the keys it does accept.";
    "E0106", "no such field",
        "A path names a field that the record does not have.";
    "E0107", "name cannot be read here",
        "An expression names something that is not in scope: in a mapping from HL7 v2, values are read with HL7 paths; in a mapping from a record, with that record's fields.";
    "E0108", "clause given more than once",
        "A clause that takes one value (an ACK mode, a status, an ownership row, a reply handler for one reply class, a profile rule for one path...) appears twice. Two values would leave the contract ambiguous.";
    "E0109", "invalid value",
        "A clause takes one of a fixed set of words (pattern, ACK mode, status, transport, TLS mode, conflict rule) and this is not one of them.";
    "E0110", "unknown HL7 v2 version",
        "Profiles and mappings name the HL7 v2 version they follow; it must be a published version from 2.1 to 2.8.2.";
    "E0111", "local segment not named Z",
        "A profile declares local segments with `segment Zxx { ... }`. Standard segments are constrained with rules instead, and local segments must start with Z so they never collide with a standard one.";
    "E0112", "required clause missing",
        "An item lacks a clause it cannot work without: an interface needs `from ... to ...`, `pattern` and `ack`; an endpoint needs `transport`; a flow needs `start on`, `correlate by`, `wait for` and `on timeout`; a test needs `given`.";
    "E0113", "unknown code",
        "A bare name is compared with, or expected as, a code of a codeset, but the codeset has no such code.";
    "E0201", "unknown type",
        "A field or code map names a type that is neither built in (Text, Integer, Decimal, Boolean, Date, DateTime, Identifier) nor a declared record or codeset.";
    "E0202", "type mismatch in a mapping",
        "A mapping writes a value whose type does not fit the target: text into a date without `date(...)`, text into a code without a code map, a code into an HL7 field without a code map, several values into a single field. Caught here, it would otherwise fail per message in production.";
    "E0203", "condition is not Boolean",
        "`when`, `if` and route conditions need a Boolean: a comparison, `exists(...)`, or `and`/`or`/`not` of those.";
    "E0204", "incomparable values",
        "A comparison puts values of different types side by side (text and a number, a code and a date). Convert one side first. Ordering operators need numbers, dates or text.";
    "E0205", "if branches differ",
        "Both branches of `if ... then ... else ...` must produce the same type.";
    "E0206", "unknown function",
        "A mapping calls a function that is not built in. `accord explain E0206` and the language reference list the functions.";
    "E0207", "wrong arguments",
        "A built-in function is called with the wrong number or types of arguments.";
    "E0208", "path does not fit the type",
        "A path reads a field of something that is not a record, or indexes (`[n]`) something that is not a list.";
    "E0209", "constraint does not fit the field",
        "`length` applies to text and lists, `range` to numbers and dates, `pattern` and `check` to text.";
    "E0210", "unknown check",
        "`check` names a built-in validator (nhs_modulus11, luhn, email, uuid, ascii).";
    "E0211", "empty range",
        "A range or cardinality whose lower bound exceeds its upper bound admits no value.";
    "E0212", "invalid date",
        "Dates are written YYYY-MM-DD and must exist in the calendar.";
    "E0213", "code map reads another type",
        "`value via codemap` passes the value to a code map whose source type is different.";
    "E0214", "usage contradicts cardinality",
        "In a profile, `R` (required) needs a minimum of at least one, and `X` (not supported) allows none.";
    "E0215", "invalid pattern",
        "A `pattern` constraint is a regular expression in the Rust `regex` syntax. One that does not compile would refuse every value at run time, so it is refused here.";
    "E0301", "two owners for one field",
        "The source-of-truth matrix names one owner per field. Other systems that may write it are listed with `accept`, optionally with a condition, and conflicts are settled by the field's conflict rule.";
    "E0302", "write not allowed by the matrix",
        "An interface's transforms set a record field with data from a system that neither owns the field nor is accepted as a writer. In production this is how a secondary system silently overwrites the source of truth. Fields marked `key` identify the record and are carried to match it, so setting them is not a write.";
    "E0303", "field without owner",
        "Every field listed in the matrix names its owner.";
    "E0304", "unknown workflow stage",
        "`accept ... when stage ...` and `lock from ...` name a stage declared on the ownership block with `stages [...]`.";
    "E0305", "stage field cannot hold the stages",
        "`ownership R stages [...] from field` names the record field whose value is the record's current workflow stage; the production reads it from the stored record to decide `when stage` and `lock from` rules. It must be `Text` or a code whose codeset lists every stage.";
    "E0306", "event time that cannot order writes",
        "`conflict newest by FIELD` orders the writes to a field by an event time instead of by their arrival: an update older than the stored value's does not overwrite it, however late it arrives (an A08 held up behind a newer one). FIELD is a Date or DateTime field of the record, filled by each writer's mapping from its message's event time (`updated_at <- datetime(EVN-2)`). Only `newest` is ordered: `owner_wins`, `reject` and `review` do not depend on time.";
    "E0307", "partial record that cannot be completed",
        "A mapping `-> partial Record` carries only the fields it writes (the MPI sends the NHS number and nothing else): a field it does not write is no write, and the production completes the record from its stored copy before the next step of the chain. So the record must be one the production keeps (an `ownership` matrix and a `key` field), the mapping must write the key that finds the stored record, and each required field it leaves out must have a row in the matrix, which is what the production stores. Only records can be partial: HL7 v2 messages and FHIR resources are written whole.";
    "E0308", "unique field the production cannot compare",
        "`unique` on a record field says no two stored records hold the same value: an NHS number names one patient. The production checks each new value against the records it stores, so the field must be one it stores (a row in the record's ownership matrix, of a record with a `key`), and not the key itself, which names one record by definition. A message that would give a record a value another record holds names two records: it waits for a person in review, never a guess.";
    "E0309", "`clear` that cannot clear",
        "`clear` on a mapping statement gives the HL7 v2 null `\"\"` (\"delete this value\") its meaning. From HL7 v2 into a record, the sender's `\"\"` at the path the value reads clears the stored field: a write of no value, which the ownership matrix decides like any other (an empty field is otherwise no write). Only a mapping `-> partial Record` can carry a clear, into an optional field at the top of the record, outside `for each`, from a value that reads exactly one HL7 path. Into HL7 v2, `clear` sends an empty value as `\"\"`, so the receiver deletes its copy. Anywhere else the word would be accepted and do nothing, so it is refused.";
    "E0401", "code map without default",
        "Every code map says what happens to a code it does not list: `_ => reject \"reason\"` (the message is rejected with that reason), `_ => <code>` (a fixed target code) or `_ => pass` (the value passes unchanged). Lookup tables without a default are how unknown codes silently become empty fields.";
    "E0402", "code outside the codeset",
        "A code map maps from or to a code that is not in the codeset on that side.";
    "E0403", "pass-through default cannot be total",
        "`_ => pass` keeps the source value, which is only a valid result when the target is text or the same codeset as the source.";
    "E0404", "payload outside `sends only`",
        "The interface declares the fields it may send (data minimisation), but its outbound mapping reads another field of that record into the payload.";
    "E0405", "target not in the target schema",
        "A mapping writes to a place that does not belong to its target: an HL7 path in a mapping to a record, a record field in a mapping to HL7 v2.";
    "E0406", "HL7 path without a message",
        "An HL7 v2 path is read where no HL7 v2 message is in scope, such as a mapping whose source is a record.";
    "E0407", "code mapped twice",
        "A source code appears on two lines of a code map; a code maps to one target.";
    "E0408", "entry after the default",
        "The default (`_ =>`) takes every code not yet listed, so entries after it are never used.";
    "E0409", "code map over a non-code type",
        "Code maps translate codes: each side is Text or a codeset.";
    "E0410", "for each over something that is not a list",
        "`target <- for each source { ... }` builds one element per repetition: the target is a list of records (or a repeating FHIR element, or HL7 segments) and the source a repeating segment, a group, the repetitions of a whole field (`for each PID-3`), or a list of records.";
    "E0412", "HL7 path does not exist",
        "An HL7 v2 path names a segment, field, component or subcomponent that the declared HL7 version and message structure do not have: a segment outside the message structure (OBR in an ADT^A01), a field beyond the segment's last, a component beyond its data type's. Local Z-segments exist when a profile declares them. The check uses the HL7 v2 dictionary (versions 2.3 to 2.8.2).";
    "E0413", "unknown segment group",
        "`for each GROUP` iterates over a segment group of the message structure, such as ORDER_OBSERVATION or OBSERVATION in ORU^R01; the group must exist in the structure of the declared message type and version.";
    "E0414", "FHIR element does not exist",
        "A mapping to or from FHIR names a resource or an element that FHIR R4 (4.0.1) does not define, or goes below a primitive value (`gender.code`). Element names are the JSON names: a choice element takes its type (`deceasedBoolean`, `valueQuantity`). The check uses the FHIR R4 dictionary extracted from the official StructureDefinitions.";
    "E0415", "FHIR list or single element",
        "FHIR JSON writes a repeating element (`Patient.name`, 0..*) as an array and a single one (`Patient.birthDate`, 0..1) as a value. A path that goes below a repeating element must pick one (`name[0].family`, 0-based) or build the list with `for each`; a single element takes no index.";
    "E0416", "value does not fit the FHIR element",
        "The value written to a FHIR element must have the element's type: text to `string`, `code` or `uri`; `Date` to `date` or `dateTime`; `Integer` to `integer` or `decimal`; `Boolean` to `boolean`. A structure (`HumanName`, `CodeableConcept`, a backbone element) is written element by element.";
    "E0417", "required binding not met",
        "A FHIR element with a required binding (`Patient.gender`, `Observation.status`) accepts only the codes of its value set. Write a code of a codeset whose `system` is the value set's code system and whose codes are all in it (usually through a code map), or literal codes of the value set. A text value read straight from a message could hold any code, so it is refused.";
    "E0418", "mapping applied to the wrong value",
        "`value via mapping` runs another mapping on a canonical record and gives what it makes: a FHIR resource (for a Bundle's `entry[0].resource`) or a record. The mapping must read a record of the value's type; a list applies it to each element. Inside a mapping or a `for each` over records, the record in scope is named by its record name (`Allergy via allergy_to_fhir`).";
    "E0419", "reference that cannot name a resource",
        "`reference(mapping, key, ...)` is the literal reference `Type/id` to the resource a mapping from a canonical record into FHIR makes, with the id the engine derives from that record's key fields. The mapping must leave `id` to the engine, and the arguments after it are the record's key values, in order and of their types, so the reference and the resource always agree.";
    "E0420", "API interface serves wrongly",
        "An interface with `pattern: api` is a FHIR facade: `serves:` names the resources it answers with, each made by a mapping from a record the ownership matrix governs (the production keeps a copy of those records, and the facade serves it), one mapping per resource type. Only an API interface serves, and it serves at least one resource. `accepts:` names what clients may write: a mapping from a FHIR resource into a record it also serves takes updates (`PUT`), which the ownership matrix then decides field by field; a mapping into a record the production does not store takes creates (`POST`), journalled and then routed on by the interface's routes.";
    "E0421", "route from an API interface that is not by resource type",
        "An API interface's routes send on the resources clients create (`POST`), after the facade has journalled them: each rule names the resource types it takes (`ServiceRequest -> orders_to_lims`) and the interfaces that deliver them, whose transform chains start with a mapping from that resource. A condition over the resource, or a route or flow as a target, is not available for a created resource.";
    "E0422", "where filter that cannot pick",
        "`list[where element = \"value\"]` reads the first entry of a repeating FHIR element whose `element` is the text `value` (`telecom[where system = \"phone\"].value`, `identifier[where system = \"https://fhir.nhs.uk/Id/nhs-number\"].value`), wherever it stands in the list. It reads: a mapping from FHIR may filter, but a write names its entry by index and sets the element itself (`telecom[0].system <- \"phone\"`). The filtered element must repeat, and the element compared must be a text primitive (`string`, `code`, `uri`) of its entries. A record path takes no filter.";
    "E0423", "date pattern with letters that are no token",
        "`format_date(value, pattern)` writes a Date or DateTime with a pattern of tokens: `YYYY` (year), `MM` (month), `DD` (day) and, for a DateTime, `hh`, `mm`, `ss`; `T` and `Z` and anything that is not a letter (`-`, `/`, `:`, spaces) are written as they are. Other letters would be copied into every date the mapping writes, so a literal pattern with them is refused: `YY` (write `YYYY`), `Mon`, or a time token in a pattern for a Date, which has no time.";
    "E0424", "lookup that cannot find a stored value",
        "`lookup(Record.field, key, ...)` reads a field of a record the production stored (the copy the ownership matrix keeps), found by the record's key values: a RIS report carries the patient's name the RIS never sends. It has no value when nothing is stored under the key; `coalesce(lookup(...), \"default\")` gives a default, and `require(lookup(...), \"reason\")` refuses the message with the reason. The record must be one the production keeps (an `ownership` matrix and `key` fields), the field one the matrix has a row for, and the values after it the record's keys, in order and of their types. Only mappings look records up: routes, flows and tests read the message.";
    "E0411", "transforms do not compose",
        "An interface's `transform:` chain runs left to right; each mapping must read what the previous one produces, and the first must read the inbound message.";
    "E0425", "index() outside a for each",
        "`index()` gives the place of the current element of the innermost `for each`, counting from 1: the set id of a repeating segment (`OBX-1 <- index()`), a sequence number in a record list. Outside a `for each` there is no current element, so it has no value to give.";
    "E0426", "`split` that cannot split",
        "`split: per SEGMENT` on an interface makes the production send one message per occurrence of the segment: one ORM with three OBRs becomes three orders. Each part carries the segments before the first occurrence (MSH, PID, an ORC that heads every order) and one occurrence with the segments after it up to the next; each goes through the interface's transform chain on its own and is delivered, acknowledged, retried and dead-lettered alone. The interface must be one the production sends to (a route's target or a `send`), and what it maps HL7 v2; a segment its messages cannot hold is reported as an HL7 path error.";
    "E0501", "literal secret",
        "Credentials are never written in contracts. Reference them with `secret(\"NAME\")` (or `env(\"NAME\")`); the production reads them from its configuration, the environment or a file.";
    "E0502", "literal production address",
        "Production hosts, ports and URLs come from configuration, so the contract can be promoted between environments and reviewed without leaking addresses.";
    "E0503", "governance field missing",
        "Every interface names its `owner`, its `purpose` and its next `review` date, so the governance board can see who answers for it and when it is due.";
    "E0504", "deprecated without sunset",
        "A deprecated interface says when it will be retired: `status: deprecated sunset YYYY-MM-DD`.";
    "E0505", "retry without end",
        "A retry policy without a count retries forever, which is how a single bad message blocks a queue for days. Give a count, or write `retry forever` to say it is intended.";
    "E0506", "application ACK cannot be delivered",
        "An application ACK reports the downstream outcome back to the sender. It needs a timeout (`within 30s`), a conversational pattern (not batch or API) and a transport that carries replies (not a file drop).";
    "E0507", "reply handler for a reply that never comes",
        "With `ack: never` no reply is read, so handlers for AA/AE/AR/CA/CE/CR, no_msa or mismatch never run; only `timeout` and `refused` can occur.";
    "E0508", "setting missing for a production environment",
        "An endpoint setting given per environment must have a value in the contract for every production environment (`kind: production`), which the governance board reviews: a literal, or `env(...)`/`secret(...)` naming where the deployment supplies it. Another environment may leave it out: its configuration file must then set it under `[endpoints.NAME]`, and `check-config` and `run` refuse one that does not.";
    "E0509", "unreachable route rule",
        "A route rule can never match: an earlier rule without a condition takes the same message types, it follows `otherwise`, or its source interface never receives those message types.";
    "E0510", "cycle between routes",
        "Routes that send to each other in a loop would route a message forever.";
    "E0511", "test names something unknown",
        "A test's `at`, `routed to` or `mapping.field` names something that is not in the estate.";
    "E0512", "test message file missing",
        "`given hl7 file(\"...\")` names a file that does not exist, relative to the `.accord` file.";
    "E0513", "retries outlast the application ACK",
        "A service with `ack: application within T` answers its sender once the downstream outcome is known, or when T runs out. An operation its routes deliver to must reach an outcome within T: its worst case is every attempt waiting its full reply timeout (the operation's `ack ... within`, 30s by default) plus every wait between retries at its longest. A retry policy that can outlast T (or `retry forever`) means the sender is answered before the retries end.";
    "E0514", "setting the transport cannot honour",
        "Every endpoint setting has an effect at run time, or it is refused here: a contract must not promise what the production does not do. `user`, `password`, `token` and the OAuth2 settings (`token_url`, `client_id`, `client_secret`, `scope`, `signing_key`, `signing_kid`) are used by `http`, `https` and `fhir` endpoints only (MLLP carries no credentials: mutual TLS says who a peer is); `max_frame` is MLLP's; `timeout` and the TLS settings (`tls`, `certificate`, `private_key`, `ca`, `peer_names`) need a connection (not a `file` folder); `charset` is refused everywhere, since a message's character set is its MSH-18.";
    "E0515", "transport not available yet",
        "`tcp` (raw TCP with a delimiter) and `sftp` are part of the language, and the production cannot send or receive over them yet. An endpoint that names one is refused rather than accepted and then failing at start-up; use `mllp`, `http`, `https`, `fhir` or a `file` folder (an SFTP drop can be a folder that a site's transfer agent syncs).";
    "E0516", "route to a retired interface",
        "A retired interface is over: the production starts nothing for it, refuses the messages it would have received with `AR` (reason `retired`), and sends nothing through it. A route to it would queue messages that never leave, so it is refused; route them to the interface that replaced it.";
    "E0517", "SLA percentile out of range",
        "`sla: delivered pNN < D` promises that NN per cent of messages are delivered within D. The production measures it over the last five minutes of deliveries and alerts when it is broken, so NN must be a share it can compute: from `p1` to `p100` (`p100` is the slowest message). Each kind of SLA (`delivered`, `backlog`, `quiet`) is given once per interface.";
    "E0518", "pattern not available yet",
        "`pattern: request_response` and `pattern: query` describe a caller that waits for an answer built from another system's reply (for example a PDQ query `QBP^Q22` to the MPI answered `RSP^K22`). The production does not relay such answers yet: it would acknowledge the request and never answer it. An interface that names one is refused rather than accepted and then silently answering with an ACK; use `pattern: event` for messages whose reply is an acknowledgement.";
    "E0519", "flow action with no effect",
        "A flow acts when its wait ends. On `timeout` it can `alert`, `warn`, `dead_letter` (or `fail`) the wait, `send` the start message to another interface, or `complete` it quietly. On `reply` (the awaited message arrived) it can `alert`, `warn`, `send` the reply to another interface, or `complete`. `retry` and `suspend` have nothing to retry or suspend in a flow, and `dead_letter` after the reply arrived has nothing to hold, so they are refused rather than ignored.";
    "E0520", "reply handling that cannot apply",
        "`on invalid` decides what becomes of an outbound HL7 v2 message that breaks its receiver's profile or the structure of its message type, found before it is queued: `warn` sends it anyway and notes why (the default), `dead_letter` holds it for an operator with reason `conformance`, and `alert` raises an alert. Mapping the message again would give the same result, so `retry`, `send`, `complete` and `suspend` cannot apply; and an interface whose output is FHIR or a record sends no HL7 v2 to check.";
    "E0521", "route sends a type the interface does not carry",
        "An interface's `messages:` is its contract: the message types the receiver agreed to take. A route rule that sends another type to it (named in the rule, or reaching an `otherwise` or `*` rule because the source receives it and no earlier unconditional rule takes it) would deliver messages the contract does not list, which the receiver may reject or, worse, process as something else. Add the type to the interface's `messages:` once the receiver takes it, or route it to an interface that carries it.";
    "E0522", "merge or link that cannot apply",
        "`merge: Patient from MRG-1.1 into PID-3.1 follow` tells the production that a message it receives retires one stored record into another: the record under the key at the first path is merged into the record under the key at the second, and later messages for the retired key follow the survivor (`follow`) or wait for a person (`hold \"queue\"`). The production can only do that for a record it stores (one with an ownership matrix) that is found by a single text `key` field, on an interface it receives (a route reads from it, or it goes to the engine system), with the two keys read from different places in the message. Two interfaces that merge the same record must treat a retired key the same way. `link: Patient PID[1]-3.1 with PID[2]-3.1` is the same for two records that stay (one person registered twice, both kept): an ADT^A24 links them and an ADT^A37 unlinks them, so its interface must receive one of those, and the same rules hold for its record and keys.";
    "E0523", "cancellation that cannot be told",
        "`cancel when ORC-1 == \"CA\" or ORC-1 == \"OC\"` in a flow says which start messages cancel the pending wait of their key instead of starting one: the production reads the paths off each message the flow's start interface is given and compares them with the texts. Any other condition (a function, `and`, `!=`, a record field) is one it does not evaluate there, so it is refused rather than ignored. `on cancel: ...` says what happens when a wait is cancelled, and needs a `cancel when` to say what a cancellation is.";
    "E0524", "scenario step that cannot run",
        "A scenario runs on the generated production as it would run in the hospital, so each step must name something the production does: a message is sent at an interface it receives (a route reads from it, or it goes to the engine system); a `peer`, and what a peer `received`, belong to an interface it sends to (a route's target, or one a reply policy or a flow sends to); a stored record is one an ownership matrix governs, and its field one the record has; `expect ack` follows a `send` at an interface that answers (not `ack: never`), and a `peer` answers only for an interface that waits for a reply (not `ack: never`); the clock moves forward; and a scenario sends at least one message. A step that could never happen would pass or fail for reasons that have nothing to do with the contract, so it is refused.";
    "W0301", "stage rules without a stage field",
        "`accept ... when stage ...` and `lock from ...` depend on the record's current stage, which the production reads from the field named by `from <field>` on the ownership block. Without it, the production cannot apply these rules and treats them as not met: the write goes to the field's conflict rule.";
    "W0302", "matrix on a record without a key",
        "The production enforces the matrix against the stored copy of each record, found by the record's `key` fields. A record without a key has its matrix checked at compile time only.";
    "W0401", "required field never set",
        "A mapping to a record never sets a required (non-optional, non-list) field, so every record it produces fails validation.";
    "W0402", "outbound message incomplete",
        "A mapping that builds an HL7 v2 message for a receiver never writes something the receiver needs: a segment the structure of its message type requires (EVN and PV1 in an ADT^A01), a field the HL7 v2 dictionary requires in a segment it writes (PID-3 and PID-5 in PID), a field its target profile marks `R`; or it writes a field the profile marks `X` (not supported). The production checks every outbound message against the same dictionary and profile before it is queued and applies the interface's `on invalid` (warn and send by default, or `dead_letter`), so what this warning names is what would be reported, or held, for every message. MSH is left out: the production fills the header.";
    "W0403", "message type the mapping cannot carry",
        "An interface carries a message type that its last mapping does not send as itself. A mapping to a fixed type (`-> hl7v2 2.5 ADT^A01`) sends every other trigger of the same message as that type, so an update (A08) reaches the receiver as an admission (A01). A mapping to a profile that names several types carries the inbound trigger through, and a type the profile does not name is dead-lettered at run time with reason `conformance`. Target a profile that names every type the interface carries, or carry fewer types.";
    "W0501", "review date passed",
        "The interface's review date is in the past. It is a warning so that builds keep working; `--deny-warnings` makes it fail.";
    "W0502", "route without otherwise",
        "A route without `otherwise` silently drops messages that match no rule. Say where they go, or `otherwise -> discard` to drop them on purpose.";
    "W0503", "sunset passed",
        "A deprecated interface's sunset is the date it was to stop. Past it, the interface still runs until its status says `retired`, which the board should decide rather than discover: retire it, or agree a later date.";
}

pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let code = code.to_ascii_uppercase();
    CODES.iter().find(|c| c.code == code)
}

/// The example input for a code: its `tests/cases/err/` case, embedded at build time.
pub fn example(code: &str) -> Option<&'static str> {
    let table: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/examples.rs"));
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, text)| *text)
}
