//! The catalogue of change rules: a stable id, a class (breaking, compatible or
//! documentation-only) and the reason, in the spirit of buf's breaking-change rules. Ids
//! are never reused or renamed; the book's governance guide lists this table.

use serde::Serialize;

/// How a change affects the systems on either side of an interface. Ordered: the
/// strongest class of an interface's changes decides the version bump it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Only text a person reads changed: no bump needed.
    Documentation,
    /// Additive: existing senders and receivers keep working. Needs a minor bump.
    Compatible,
    /// Existing senders or receivers can break. Needs a major bump.
    Breaking,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Documentation => "documentation",
            Class::Compatible => "compatible",
            Class::Breaking => "breaking",
        }
    }
}

pub struct Rule {
    pub id: &'static str,
    pub class: Class,
    /// Why a change of this kind has its class.
    pub why: &'static str,
}

use Class::{Breaking as B, Compatible as C, Documentation as D};

pub const RULES: &[Rule] = &[
    // Interfaces.
    Rule {
        id: "interface-removed",
        class: B,
        why: "the systems on both sides lose the interface",
    },
    Rule {
        id: "interface-added",
        class: C,
        why: "nothing that exists changes",
    },
    Rule {
        id: "interface-retired",
        class: B,
        why: "a retired interface carries no more messages",
    },
    Rule {
        id: "interface-deprecated",
        class: C,
        why: "deprecation announces a removal; the interface still works",
    },
    Rule {
        id: "interface-reinstated",
        class: C,
        why: "the interface goes back to active",
    },
    Rule {
        id: "direction-changed",
        class: B,
        why: "a different system sends or receives",
    },
    Rule {
        id: "pattern-changed",
        class: B,
        why: "the exchange pattern (event, batch, api, ...) changes how both sides talk",
    },
    Rule {
        id: "endpoint-changed",
        class: B,
        why: "the address, transport or TLS of the connection changes",
    },
    Rule {
        id: "endpoint-setting-changed",
        class: C,
        why: "a setting other than the address changes; the connection stays where it is",
    },
    Rule {
        id: "message-type-removed",
        class: B,
        why: "the sender's messages of that type are no longer accepted",
    },
    Rule {
        id: "message-type-added",
        class: C,
        why: "a new message type is accepted; the old ones still are",
    },
    Rule {
        id: "profile-changed",
        class: B,
        why: "messages are validated against another conformance profile",
    },
    Rule {
        id: "ack-changed",
        class: B,
        why: "the ACK mode or timeout decides what the sender waits for and when it gives up",
    },
    Rule {
        id: "reply-handling-changed",
        class: B,
        why: "a reply class is completed, retried, dead-lettered or alerted differently",
    },
    Rule {
        id: "idempotency-key-changed",
        class: B,
        why: "a different set of messages counts as duplicates",
    },
    Rule {
        id: "ordering-key-changed",
        class: B,
        why: "a different set of messages is kept in order",
    },
    Rule {
        id: "sends-only-narrowed",
        class: B,
        why: "the receiver stops getting fields it may rely on",
    },
    Rule {
        id: "sends-only-widened",
        class: C,
        why: "the receiver gets more fields; review it as a data-minimisation change",
    },
    Rule {
        id: "sla-loosened",
        class: B,
        why: "the interface promises less than before",
    },
    Rule {
        id: "sla-tightened",
        class: C,
        why: "the interface promises more than before",
    },
    Rule {
        id: "retention-shortened",
        class: B,
        why: "messages can be replayed for a shorter time",
    },
    Rule {
        id: "retention-lengthened",
        class: C,
        why: "messages are kept longer",
    },
    Rule {
        id: "link-added",
        class: C,
        why: "an ADT^A24 now links two stored records (and an A37 unlinks them): the facade adds `seealso` links, nothing else changes",
    },
    Rule {
        id: "link-changed",
        class: B,
        why: "which stored records an ADT^A24 links (and an A37 unlinks) changed: the facade's `Patient.link` follows",
    },
    Rule {
        id: "split-changed",
        class: B,
        why: "the receiver gets one message per part of what it used to get whole, or the reverse",
    },
    Rule {
        id: "merge-changed",
        class: B,
        why: "the stored records a message merges, or what later messages for a retired key do, changed",
    },
    Rule {
        id: "transforms-changed",
        class: B,
        why: "another transform chain produces the outbound message",
    },
    Rule {
        id: "api-resource-removed",
        class: B,
        why: "an API no longer serves a resource type its clients read",
    },
    Rule {
        id: "api-resource-added",
        class: C,
        why: "an API serves another resource type; what it served is unchanged",
    },
    Rule {
        id: "api-update-removed",
        class: B,
        why: "an API no longer takes updates of a resource type its clients write",
    },
    Rule {
        id: "api-update-added",
        class: C,
        why: "an API takes updates of another resource type, as the matrix allows",
    },
    Rule {
        id: "route-narrowed",
        class: B,
        why: "a routing rule that sent messages here was removed or changed",
    },
    Rule {
        id: "route-widened",
        class: C,
        why: "a new routing rule sends more messages here",
    },
    Rule {
        id: "flow-changed",
        class: B,
        why: "what a stateful flow waits for, how long, what cancels it, or what it does on timeout, reply or cancel changes",
    },
    Rule {
        id: "flow-added",
        class: C,
        why: "a new wait is tracked; messages flow as before",
    },
    Rule {
        id: "flow-removed",
        class: B,
        why: "a missing reply is no longer noticed",
    },
    Rule {
        id: "governance-changed",
        class: D,
        why: "owner, review date or sunset date: people, not systems, read these",
    },
    Rule {
        id: "docs-changed",
        class: D,
        why: "doc comments, purpose or clinical impact: text for people",
    },
    // Records, codes and code maps.
    Rule {
        id: "record-removed",
        class: B,
        why: "mappings and interfaces that carry the record lose it",
    },
    Rule {
        id: "record-added",
        class: C,
        why: "nothing that exists changes",
    },
    Rule {
        id: "field-removed",
        class: B,
        why: "the field's value is no longer carried",
    },
    Rule {
        id: "field-added",
        class: C,
        why: "an optional field adds data without requiring it",
    },
    Rule {
        id: "field-added-required",
        class: B,
        why: "every message must now provide a value for the new field",
    },
    Rule {
        id: "field-type-changed",
        class: B,
        why: "values of the old type may not fit the new one",
    },
    Rule {
        id: "field-made-required",
        class: B,
        why: "messages without the field are now rejected",
    },
    Rule {
        id: "field-made-optional",
        class: C,
        why: "messages without the field are now accepted; receivers' profiles still apply",
    },
    Rule {
        id: "field-constraint-tightened",
        class: B,
        why: "values that passed before can now be rejected",
    },
    Rule {
        id: "field-constraint-relaxed",
        class: C,
        why: "every value that passed before still passes",
    },
    Rule {
        id: "codeset-removed",
        class: B,
        why: "every field and code map typed with the codeset loses it",
    },
    Rule {
        id: "codeset-added",
        class: C,
        why: "nothing that exists changes",
    },
    Rule {
        id: "code-system-changed",
        class: B,
        why: "every code now names a code of another code system",
    },
    Rule {
        id: "code-removed",
        class: B,
        why: "messages with that code no longer have a meaning",
    },
    Rule {
        id: "code-added",
        class: C,
        why: "a new code is available; the old ones are unchanged",
    },
    Rule {
        id: "codemap-removed",
        class: B,
        why: "the lookups through it are gone",
    },
    Rule {
        id: "codemap-added",
        class: C,
        why: "nothing that exists changes",
    },
    Rule {
        id: "codemap-code-unmapped",
        class: B,
        why: "a code that was mapped now falls to the default",
    },
    Rule {
        id: "codemap-target-changed",
        class: B,
        why: "a code now maps to a different value",
    },
    Rule {
        id: "codemap-code-added",
        class: C,
        why: "a code that fell to the default now has its own entry",
    },
    Rule {
        id: "codemap-default-changed",
        class: B,
        why: "codes without an entry now give another result, or are rejected",
    },
    Rule {
        id: "codemap-types-changed",
        class: B,
        why: "the code map reads or gives values of another type",
    },
    Rule {
        id: "codemap-default-widened",
        class: C,
        why: "codes that were rejected now map to a value",
    },
    // The source-of-truth matrix.
    Rule {
        id: "owner-changed",
        class: B,
        why: "another system's writes win, or a field gains or loses its owner",
    },
    Rule {
        id: "writer-narrowed",
        class: B,
        why: "a system's writes that were accepted are now conflicts",
    },
    Rule {
        id: "writer-added",
        class: C,
        why: "a system's writes that were conflicts are now accepted",
    },
    Rule {
        id: "conflict-rule-changed",
        class: B,
        why: "a conflict is settled another way",
    },
    Rule {
        id: "lock-added",
        class: B,
        why: "writes are refused from an earlier stage than before",
    },
    Rule {
        id: "lock-removed",
        class: C,
        why: "writes are accepted at stages where they were refused",
    },
    // Profiles and mappings.
    Rule {
        id: "profile-usage-tightened",
        class: B,
        why: "messages that conformed before can now be rejected (O -> R, a smaller maximum, ...)",
    },
    Rule {
        id: "profile-usage-relaxed",
        class: C,
        why: "every message that conformed before still conforms",
    },
    Rule {
        id: "mapping-schema-changed",
        class: B,
        why: "the mapping reads or writes another message or record",
    },
    Rule {
        id: "mapping-output-removed",
        class: B,
        why: "a value the receiver got is no longer set",
    },
    Rule {
        id: "mapping-output-added",
        class: C,
        why: "the receiver gets a value it did not get before",
    },
    Rule {
        id: "mapping-source-changed",
        class: B,
        why: "a value now comes from somewhere else, or under another condition",
    },
    // Systems.
    Rule {
        id: "system-removed",
        class: B,
        why: "interfaces to and from the system are gone",
    },
    Rule {
        id: "timezone-changed",
        class: B,
        why: "local times from the estate's systems take another offset: the same message names other instants",
    },
    Rule {
        id: "system-added",
        class: C,
        why: "nothing that exists changes",
    },
    // Versions.
    Rule {
        id: "version-decreased",
        class: B,
        why: "a version never goes down",
    },
];

/// The rule with this id. Every id the diff emits is in [`RULES`] (a unit test checks).
pub fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .unwrap_or(&RULES[RULES.len() - 1])
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = super::RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
