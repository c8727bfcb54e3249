//! `accord diff`: two IRs in, every change out, each classified by a rule of
//! [`rules::RULES`] as breaking, compatible or documentation-only, and counted against the
//! interfaces whose contract it changes; then each interface's version is checked against
//! the strongest change it carries (a breaking change needs a major bump, an additive one a
//! minor bump). Reads the IR only; rendering is in [`render`].

mod interfaces;
mod model;
pub mod render;
pub mod rules;
mod versions;

use crate::ir::Estate;
pub use rules::Class;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub rule: &'static str,
    pub class: Class,
    /// What changed: `interface adt_to_lims`, `field Patient.birth_date`, `codemap trakcare_sex`.
    pub subject: String,
    /// The change itself: `ACK application within 30 s -> commit`.
    pub detail: String,
    /// The interfaces whose versions this change counts against (those that still exist);
    /// empty for a change to the estate as a whole, which counts against its version.
    pub interfaces: Vec<String>,
}

/// A version that does not follow its changes.
#[derive(Debug, Clone, Serialize)]
pub struct VersionError {
    /// The interface, or `None` for the estate's own version.
    pub interface: Option<String>,
    pub old: String,
    pub new: String,
    /// The strongest class of the changes it carries.
    pub needed: Class,
    /// The smallest version that would do, e.g. `3.0.0`.
    pub suggestion: String,
    /// The rules of the changes behind `needed`.
    pub rules: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub old_version: String,
    pub new_version: String,
    pub changes: Vec<Change>,
    pub errors: Vec<VersionError>,
}

impl Report {
    pub fn count(&self, class: Class) -> usize {
        self.changes.iter().filter(|c| c.class == class).count()
    }
}

/// Collects changes; the class comes from the rule, never from the call site.
pub(crate) struct Changes {
    list: Vec<Change>,
}

impl Changes {
    /// A doc comment of `subject` reworded (documentation-only, counts against nothing).
    pub(crate) fn docs(&mut self, subject: String) {
        self.push(
            "docs-changed",
            subject,
            "doc comment reworded".into(),
            vec![],
        );
    }

    /// Something new that no existing interface depends on (counts against the estate).
    pub(crate) fn added(&mut self, rule: &'static str, subject: String) {
        self.push(rule, subject, "added".into(), vec![]);
    }

    pub(crate) fn push(
        &mut self,
        rule: &'static str,
        subject: String,
        detail: String,
        interfaces: Vec<String>,
    ) {
        let r = rules::rule(rule);
        debug_assert_eq!(r.id, rule, "unknown diff rule {rule}");
        let mut interfaces = interfaces;
        interfaces.sort();
        interfaces.dedup();
        self.list.push(Change {
            rule: r.id,
            class: r.class,
            subject,
            detail,
            interfaces,
        });
    }
}

/// Every change from `old` to `new`, and the version errors they imply.
pub fn diff(old: &Estate, new: &Estate) -> Report {
    let mut changes = Changes { list: vec![] };
    interfaces::diff(old, new, &mut changes);
    model::diff(old, new, &mut changes);
    let mut list = changes.list;
    // Strongest first, then by subject, so reports read from what matters most.
    list.sort_by(|a, b| {
        b.class
            .cmp(&a.class)
            .then_with(|| a.subject.cmp(&b.subject))
            .then_with(|| a.rule.cmp(b.rule))
            .then_with(|| a.detail.cmp(&b.detail))
    });
    let errors = versions::check(old, new, &list);
    Report {
        old_version: old.version.clone(),
        new_version: new.version.clone(),
        changes: list,
        errors,
    }
}
