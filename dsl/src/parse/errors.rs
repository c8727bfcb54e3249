//! Syntax-error factories: turn a pest error into a [`Diagnostic`] with code `E0100`, a
//! span on the offending token, what was expected in words an analyst knows, and a hint.

use crate::ast::ITEM_KEYWORDS;
use crate::diag::Diagnostic;
use crate::grammar::Rule;
use crate::span::{FileId, Span};
use pest::error::{ErrorVariant, InputLocation};

/// For the (unexpected) case where the detailed re-parse succeeds.
pub(crate) fn syntax_error_unknown(file: FileId, offset: usize) -> Diagnostic {
    Diagnostic::error(
        "E0100",
        "syntax error",
        Span::new(file, offset, offset),
        "here",
    )
    .with_help("see the language reference in the book for the form this construct takes")
}

pub(crate) fn syntax_error(
    file: FileId,
    slice: &str,
    offset: usize,
    e: pest::error::Error<Rule>,
) -> Diagnostic {
    let attempts = e.parse_attempts();
    let pos = match (&attempts, e.location) {
        (Some(a), _) => a.max_position,
        (None, InputLocation::Pos(p)) => p,
        (None, InputLocation::Span((s, _))) => s,
    };
    let pos = pos.min(slice.len());
    if let Some(d) = duration_in_words(file, slice, offset, pos) {
        return d;
    }
    if let Some(d) = doc_with_nothing_after(file, slice, offset, pos) {
        return d;
    }
    let found = found_token(&slice[pos..]);
    let end = pos + found.len().max(1).min(slice.len() - pos);
    let span = Span::new(file, offset + pos, offset + end.max(pos));
    let mut expected: Vec<String> = vec![];
    fn push(expected: &mut Vec<String>, name: String) {
        if !expected.contains(&name) {
            expected.push(name);
        }
    }
    if let Some(a) = &attempts {
        for t in a.expected_tokens() {
            let shown = match t.to_string().as_str() {
                "a..z" | "A..Z" | "_" => "a name".to_string(),
                "0..9" => "a number".to_string(),
                "\"" => "a string".to_string(),
                t if t.trim().is_empty() || t.starts_with("//") => continue,
                t => format!("`{t}`"),
            };
            push(&mut expected, shown);
        }
        // `ParseAttempt` is not exported by pest; its Debug form names the rule.
        for stack in &a.call_stacks {
            let deepest = format!("{:?}", stack.deepest);
            let rule = deepest
                .strip_prefix("Rule(")
                .and_then(|r| r.strip_suffix(')'));
            if let Some(r) = rule.and_then(rule_by_name) {
                if !matches!(
                    r,
                    Rule::docs | Rule::doc_line | Rule::WHITESPACE | Rule::COMMENT
                ) {
                    push(&mut expected, rule_name(r));
                }
            }
        }
    }
    if expected.is_empty() {
        if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
            for r in positives
                .iter()
                .filter(|r| !matches!(r, Rule::docs | Rule::doc_line))
            {
                push(&mut expected, rule_name(*r));
            }
        }
    }
    let found_text = if found.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{found}`")
    };
    let message = if expected.is_empty() {
        format!("syntax error: unexpected {found_text}")
    } else {
        format!(
            "syntax error: expected {}, found {found_text}",
            one_of(&expected)
        )
    };
    let help = help_for(&expected, found);
    Diagnostic::error("E0100", message, span, "unexpected here").with_help(help)
}

/// A doc comment (`///`) on the last line of a block: it documents the clause after it,
/// and the parser finds the closing brace instead. The error names the comment.
fn doc_with_nothing_after(
    file: FileId,
    slice: &str,
    offset: usize,
    pos: usize,
) -> Option<Diagnostic> {
    if !slice[pos..].trim_start().starts_with('}') {
        return None;
    }
    let before = slice[..pos].trim_end();
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    let line = &before[line_start..];
    let indent = line.len() - line.trim_start().len();
    if !line.trim_start().starts_with("///") {
        return None;
    }
    let start = offset + line_start + indent;
    Some(
        Diagnostic::error(
            "E0100",
            "syntax error: this doc comment documents nothing: the block ends after it".to_string(),
            Span::new(file, start, offset + before.len()),
            "nothing follows this `///`",
        )
        .with_help(
            "a `///` comment documents the clause or item after it: move it above the clause it is about, or make it a plain `//` comment".to_string(),
        ),
    )
}

/// A duration written in words just before the error (`timeout: 20 minutes`,
/// `within 5 mins`): the parser stops later, where the words stop making sense (often at
/// the closing brace), so the error names the words instead, with the form to write.
fn duration_in_words(file: FileId, slice: &str, offset: usize, pos: usize) -> Option<Diagnostic> {
    const UNITS: [(&str, &str); 16] = [
        ("milliseconds", "ms"),
        ("millisecond", "ms"),
        ("seconds", "s"),
        ("second", "s"),
        ("secs", "s"),
        ("sec", "s"),
        ("minutes", "m"),
        ("minute", "m"),
        ("mins", "m"),
        ("min", "m"),
        ("hours", "h"),
        ("hour", "h"),
        ("hrs", "h"),
        ("hr", "h"),
        ("days", "d"),
        ("day", "d"),
    ];
    // Only the source up to the error, back to the start of the line before it.
    let before = &slice[..pos];
    let from = before
        .trim_end()
        .rfind('\n')
        .and_then(|nl| before[..nl].rfind('\n'))
        .map_or(0, |nl| nl + 1);
    // ... and on to the end of the word after it (`within 20| minutes`).
    let after = &slice[pos..];
    let gap = after.len() - after.trim_start_matches([' ', '\t']).len();
    let word = after[gap..]
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(after.len() - gap);
    let window = &slice[from..pos + gap + word];
    let words: Vec<(usize, &str)> = window
        .split_inclusive(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == '{')
        .scan(0, |at, w| {
            let start = *at;
            *at += w.len();
            Some((
                start,
                w.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == '{'),
            ))
        })
        .filter(|(_, w)| !w.is_empty())
        .collect();
    words.windows(2).rev().find_map(|pair| {
        let [(_, number), (at, word)] = pair else {
            return None;
        };
        let (_, unit) = UNITS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word))?;
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let start = offset + from + at;
        Some(
            Diagnostic::error(
                "E0100",
                format!("syntax error: a duration is written as a number and a unit letter, not `{number} {word}`"),
                Span::new(file, start, start + word.len()),
                "a unit in words",
            )
            .with_help(format!("write `{number}{unit}` (units: ms, s, m, h, d)")),
        )
    })
}

/// The rule whose Debug name is `name` (only the rules worth naming in messages).
fn rule_by_name(name: &str) -> Option<Rule> {
    use Rule::*;
    [
        ident,
        string,
        integer,
        pos_int,
        decimal,
        semver,
        date,
        duration,
        boolean,
        hl7_version,
        message_type,
        resource_type,
        seg_id,
        hl7_path,
        path_ref,
        field_path,
        expr,
        type_expr,
        usage,
        cardinality,
        reply_class,
        action,
        own_clause,
        iface_clause,
        map_stmt,
        route_rule,
        flow_clause,
        test_stmt,
        field_decl,
        code_entry,
        codemap_entry,
        codemap_default,
        setting,
        prop,
        constraint,
        schema_ref,
        item,
        docs,
        doc_line,
    ]
    .into_iter()
    .find(|r| format!("{r:?}") == name)
}

fn one_of(names: &[String]) -> String {
    match names {
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
        [] => String::new(),
    }
}

/// The token at the start of `rest`: a word, a quoted string start, or one character.
fn found_token(rest: &str) -> &str {
    let mut chars = rest.char_indices();
    match chars.next() {
        None => "",
        Some((_, c)) if c.is_alphanumeric() || c == '_' => {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        }
        Some((_, c)) => &rest[..c.len_utf8()],
    }
}

fn help_for(expected: &[String], found: &str) -> String {
    if expected.iter().any(|e| e.starts_with("an item")) {
        return format!(
            "each top-level item starts with one of: {}",
            ITEM_KEYWORDS.join(", ")
        );
    }
    if found == "\"" {
        return "strings are written on one line between double quotes; escape a quote inside as \\\"".into();
    }
    if expected.iter().any(|e| e == "`}`") {
        return "check that every `{` has a matching `}` and that each line inside is a clause this item accepts".into();
    }
    if expected.iter().any(|e| e == "a name") {
        return "names start with a letter and contain letters, digits and `_` (keywords such as `if` or `each` cannot be names)".into();
    }
    "see the language reference in the book for the form this construct takes".into()
}

/// How a rule reads in "expected ..." messages.
fn rule_name(rule: Rule) -> String {
    let name = format!("{rule:?}");
    if let Some(word) = name.strip_prefix("k_").or(name.strip_prefix("kw_")) {
        return format!("`{word}`");
    }
    match rule_phrase(rule) {
        "a valid token" => name.replace('_', " "),
        phrase => phrase.to_string(),
    }
}

fn rule_phrase(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        EOI | item => "an item (estate, system, record, interface, ...)",
        ident => "a name",
        string | string_inner => "a string",
        integer | pos_int => "a number",
        path_int => "a position (1 or more)",
        decimal => "a decimal number",
        semver => "a version such as `1.0.0`",
        date => "a date such as `2027-03-01`",
        duration => "a duration such as `30s` or `5m`",
        boolean => "`true` or `false`",
        hl7_version => "an HL7 version such as `2.4`",
        message_type => "a message type such as `ADT^A01`",
        resource_type => "a FHIR resource type such as `ServiceRequest`",
        seg_id | seg_id_raw => "a segment id such as `PID`",
        hl7_path => "an HL7 path such as `PID-3.1`",
        path_ref | field_path => "a field path",
        expr | or_expr | and_expr | not_expr | cmp_expr | via_expr | primary => "an expression",
        cmp_op => "a comparison",
        type_expr => "a type",
        usage => "a usage (R, RE, O, C or X)",
        cardinality => "a cardinality such as `1..*`",
        reply_class => "a reply class (AA, AE, AR, CA, CE, CR, timeout, refused, no_msa, mismatch)",
        action | act_simple => {
            "an action (retry, dead_letter, complete, suspend, warn, fail, alert, send)"
        }
        own_clause => "`owner`, `accept`, `conflict` or `lock`",
        iface_clause => "an interface clause",
        map_stmt => "a mapping line (`target <- source`)",
        route_rule => "a route rule",
        flow_clause => "a flow clause",
        test_stmt => "`given` or `expect`",
        scen_step => "a step (`peer`, `send`, `advance`, `resend`, `replay`, `approve`, `reject` or `expect`)",
        peer_answer => "an answer (AA, AE, AR, CA, CE, CR or nothing)",
        sx_state => "a state (dead, review, rejected or held)",
        flow_state => "a flow state (waiting, completed, timed_out, dead or cancelled)",
        field_decl => "a field",
        code_entry | code_name => "a code",
        codemap_entry => "a code map entry (`\"M\" => male`)",
        codemap_default => "a default (`_ => ...`)",
        setting => "a setting",
        prop => "a property (`key: value`)",
        constraint => "a constraint",
        schema_ref => "a schema (`hl7v2 ...`, `fhir r4 ...` or a record)",
        _ => punct_or_keyword(rule),
    }
}

fn punct_or_keyword(_rule: Rule) -> &'static str {
    "a valid token"
}
