//! HL7 v2 conformance profiles: a known HL7 version, one rule per path, non-empty
//! cardinalities consistent with usage, and local segments named `Z..` with unique
//! field positions. (Paths are checked against the HL7 dictionary with the HL7 v2 engine.)

use super::Checker;
use crate::builtins::HL7_VERSIONS;
use crate::diagnostics as diag;
use crate::suggest::did_you_mean;
use accord_dsl::ast::{Cardinality, ProfileItem, Token};

pub(super) fn check(c: &mut Checker) {
    for (id, d) in c.m.profiles.iter() {
        check_version(c, &d.node.version);
        if let Some(ctx) = c.hl7_ctx_for_profile(id) {
            for item in &d.node.items {
                if let ProfileItem::Rule(r) = item {
                    c.check_hl7_path(&ctx, &r.path);
                }
            }
        }
        let mut rules: Vec<(String, accord_dsl::Span)> = vec![];
        let mut segments: Vec<&Token> = vec![];
        for item in &d.node.items {
            match item {
                ProfileItem::Rule(r) => {
                    let key = r.path.to_string();
                    if let Some((_, prev)) = rules.iter().find(|(k, _)| *k == key) {
                        c.push(diag::duplicate_clause(r.span, *prev, &key));
                    } else {
                        rules.push((key, r.span));
                    }
                    check_card(c, r.card, &r.usage);
                }
                ProfileItem::Segment(s) => {
                    if !s.id.text.starts_with('Z') {
                        c.push(diag::local_segment_not_z(&s.id));
                    }
                    if let Some(prev) = segments.iter().find(|p| p.text == s.id.text) {
                        c.push(diag::duplicate_clause(s.id.span, prev.span, &s.id.text));
                    }
                    segments.push(&s.id);
                    if let Some(u) = &s.usage {
                        check_card(c, s.card, u);
                    }
                    let mut positions: Vec<(u32, accord_dsl::Span)> = vec![];
                    for z in &s.fields {
                        if let Some((_, prev)) = positions.iter().find(|(p, _)| *p == z.position) {
                            c.push(diag::duplicate_clause(
                                z.span,
                                *prev,
                                &format!("{}-{}", s.id.text, z.position),
                            ));
                        }
                        positions.push((z.position, z.span));
                        if let Some(u) = &z.usage {
                            check_card(c, z.card, u);
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn check_version(c: &mut Checker, v: &Token) {
    if !HL7_VERSIONS.contains(&v.text.as_str()) {
        c.push(diag::unknown_hl7_version(
            v,
            did_you_mean(&v.text, HL7_VERSIONS.iter().copied()),
        ));
    }
}

fn check_card(c: &mut Checker, card: Option<Cardinality>, usage: &Token) {
    let Some(card) = card else { return };
    if card.max.is_some_and(|m| m < card.min)
        || card.max == Some(0) && card.min == 0 && usage.text != "X"
    {
        c.push(diag::empty_range(
            card.span,
            &card.min.to_string(),
            &card.max.map(|m| m.to_string()).unwrap_or("*".into()),
        ));
    } else if usage.text == "R" && card.min == 0 {
        c.push(diag::usage_contradicts_cardinality(
            usage,
            card.span,
            "R (required) needs at least one occurrence; write `1..` or use RE",
        ));
    } else if usage.text == "X" && card.max != Some(0) {
        c.push(diag::usage_contradicts_cardinality(
            usage,
            card.span,
            "X (not supported) allows no occurrence; drop the cardinality",
        ));
    }
}
