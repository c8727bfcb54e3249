//! A diff report as text for people (`human`), for machines (`json`) or for a change log
//! or pull request (`markdown`). Every change shows its rule id and class; every version
//! error says which version would do.

use super::rules::{self, Class};
use super::{Report, VersionError};

const CLASSES: [(Class, &str); 3] = [
    (Class::Breaking, "Breaking changes"),
    (Class::Compatible, "Compatible changes"),
    (Class::Documentation, "Documentation-only changes"),
];

/// A version error as a message and a help line.
pub fn error_text(e: &VersionError) -> (String, String) {
    let what = match &e.interface {
        Some(i) => format!("interface {i}"),
        None => "the estate".to_string(),
    };
    if e.rules.first() == Some(&"version-decreased") {
        return (
            format!(
                "{what} goes from version {} down to {} (version-decreased)",
                e.old, e.new
            ),
            format!(
                "a version never goes down; make it {} or later",
                e.suggestion
            ),
        );
    }
    let kind = match e.needed {
        Class::Breaking => "breaking",
        Class::Compatible => "additive",
        Class::Documentation => "documentation",
    };
    let level = match e.needed {
        Class::Breaking => "a major version",
        _ => "a minor version",
    };
    (
        format!(
            "{what} has {kind} changes ({}) but goes from version {} to {}",
            e.rules.join(", "),
            e.old,
            e.new
        ),
        format!(
            "make it {} ({kind} changes need {level}), or undo the changes",
            e.suggestion
        ),
    )
}

fn summary(r: &Report) -> String {
    format!(
        "{} breaking, {} compatible, {} documentation-only; {} version error{}",
        r.count(Class::Breaking),
        r.count(Class::Compatible),
        r.count(Class::Documentation),
        r.errors.len(),
        if r.errors.len() == 1 { "" } else { "s" }
    )
}

pub fn human(r: &Report) -> String {
    let mut out = format!("estate version {} -> {}\n", r.old_version, r.new_version);
    if r.changes.is_empty() {
        out.push_str("\nno changes\n");
    }
    for (class, title) in CLASSES {
        let list: Vec<_> = r.changes.iter().filter(|c| c.class == class).collect();
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title} ({}):\n", list.len()));
        for c in list {
            out.push_str(&format!("  [{}] {}: {}\n", c.rule, c.subject, c.detail));
            if class != Class::Documentation {
                out.push_str(&format!("      why: {}\n", rules::rule(c.rule).why));
                if !c.interfaces.is_empty() {
                    out.push_str(&format!(
                        "      counts against: {}\n",
                        c.interfaces.join(", ")
                    ));
                }
            }
        }
    }
    for e in &r.errors {
        let (msg, help) = error_text(e);
        out.push_str(&format!(
            "\nerror[version-bump-required]: {msg}\n  = help: {help}\n"
        ));
    }
    out.push_str(&format!("\nsummary: {}\n", summary(r)));
    out
}

pub fn json(r: &Report) -> String {
    let value = serde_json::json!({
        "old_version": r.old_version,
        "new_version": r.new_version,
        "changes": r.changes.iter().map(|c| serde_json::json!({
            "rule": c.rule,
            "class": c.class,
            "subject": c.subject,
            "detail": c.detail,
            "why": rules::rule(c.rule).why,
            "interfaces": c.interfaces,
        })).collect::<Vec<_>>(),
        "errors": r.errors.iter().map(|e| {
            let (message, help) = error_text(e);
            serde_json::json!({
                "code": "version-bump-required",
                "interface": e.interface,
                "old": e.old,
                "new": e.new,
                "needed": e.needed,
                "suggestion": e.suggestion,
                "rules": e.rules,
                "message": message,
                "help": help,
            })
        }).collect::<Vec<_>>(),
        "summary": {
            "breaking": r.count(Class::Breaking),
            "compatible": r.count(Class::Compatible),
            "documentation": r.count(Class::Documentation),
            "errors": r.errors.len(),
        },
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

pub fn markdown(r: &Report) -> String {
    let mut out = format!(
        "# Changes: estate version {} -> {}\n\n{}.\n",
        r.old_version,
        r.new_version,
        summary(r)
    );
    if !r.errors.is_empty() {
        out.push_str("\n## Version errors\n\n");
        for e in &r.errors {
            let (msg, help) = error_text(e);
            out.push_str(&format!("- **{}**: {}.\n", md(&msg), md(&help)));
        }
    }
    for (class, title) in CLASSES {
        let list: Vec<_> = r.changes.iter().filter(|c| c.class == class).collect();
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n## {title} ({})\n\n| Rule | What | Change | Counts against |\n| --- | --- | --- | --- |\n",
            list.len()
        ));
        for c in list {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                c.rule,
                md(&c.subject),
                md(&c.detail),
                c.interfaces.join(", ")
            ));
        }
    }
    out
}
