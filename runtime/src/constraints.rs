//! A record's field constraints at run time: `length`, `range`, `pattern` and the `check`
//! validators (`nhs_modulus11`, `luhn`, `email`, `uuid`, `ascii`). Generated code checks
//! every record a mapping finishes, so a value the contract forbids never reaches a
//! receiver or the stored records: the mapping fails with [`MapErrorKind::Constraint`],
//! which the production dead-letters with reason `constraint`, and `accord map` and
//! `accord test` report. Each pattern is compiled once, on first use.

use crate::mapping::{MapError, MapErrorKind};
use serde_json::Value;
use std::sync::OnceLock;

/// One constraint as the contract writes it.
pub enum Rule {
    Length {
        min: Option<u64>,
        max: Option<u64>,
    },
    Range {
        min: Option<&'static str>,
        max: Option<&'static str>,
    },
    /// The pattern, and where its compiled form is kept.
    Pattern(&'static str, &'static OnceLock<Option<regex::Regex>>),
    Check(&'static str),
}

impl Rule {
    /// The rule as the contract writes it.
    fn shown(&self) -> String {
        let bound = |b: Option<String>| b.unwrap_or_default();
        match self {
            Rule::Length { min, max } => format!(
                "length {}..{}",
                bound(min.map(|m| m.to_string())),
                bound(max.map(|m| m.to_string()))
            ),
            Rule::Range { min, max } => format!(
                "range {}..{}",
                bound(min.map(str::to_string)),
                bound(max.map(str::to_string))
            ),
            Rule::Pattern(p, _) => format!("pattern {p:?}"),
            Rule::Check(v) => format!("check {v}"),
        }
    }

    fn holds(&self, value: &Value) -> bool {
        let text = match value {
            Value::String(s) => s.as_str(),
            _ => "",
        };
        match self {
            Rule::Length { min, max } => {
                let n = text.chars().count() as u64;
                min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
            }
            Rule::Range { min, max } => {
                let within = |bound: &str, ok: fn(std::cmp::Ordering) -> bool| {
                    ok(compare(value, bound).unwrap_or(std::cmp::Ordering::Equal))
                };
                min.is_none_or(|m| within(m, |o| o.is_ge()))
                    && max.is_none_or(|m| within(m, |o| o.is_le()))
            }
            Rule::Pattern(p, compiled) => compiled
                .get_or_init(|| regex::Regex::new(p).ok())
                .as_ref()
                .is_some_and(|re| re.is_match(text)),
            Rule::Check(name) => valid(name, text),
        }
    }
}

/// `value` against a range bound: as numbers when both are, else as text (ISO dates and
/// times compare so).
fn compare(value: &Value, bound: &str) -> Option<std::cmp::Ordering> {
    match value {
        Value::Number(n) => n.as_f64()?.partial_cmp(&bound.parse::<f64>().ok()?),
        Value::String(s) => match (s.parse::<f64>(), bound.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ => Some(s.as_str().cmp(bound)),
        },
        _ => None,
    }
}

/// Checks `value` (the field `field`, as JSON) against every rule: an absent value is
/// not checked (whether a field may be empty is its type's business); a list's `length`
/// is its number of items, and every other rule holds for each item.
pub fn check(
    at: &'static str,
    field: &'static str,
    value: &Value,
    rules: &[Rule],
) -> Result<(), MapError> {
    match value {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for rule in rules {
                if let Rule::Length { min, max } = rule {
                    let n = items.len() as u64;
                    if !(min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)) {
                        return Err(broken(at, field, rule, format!("{n} items")));
                    }
                }
            }
            let each: Vec<&Rule> = rules
                .iter()
                .filter(|r| !matches!(r, Rule::Length { .. }))
                .collect();
            for item in items {
                if let Some(rule) = each.iter().find(|r| !r.holds(item)) {
                    return Err(broken(at, field, rule, shown(item)));
                }
            }
            Ok(())
        }
        one => match rules.iter().find(|r| !r.holds(one)) {
            None => Ok(()),
            Some(rule) => Err(broken(at, field, rule, shown(one))),
        },
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn broken(at: &'static str, field: &'static str, rule: &Rule, value: String) -> MapError {
    MapError {
        at,
        kind: MapErrorKind::Constraint {
            field,
            rule: rule.shown(),
            value,
            source: None,
        },
    }
}

/// Whether `text` passes the built-in validator `name`.
pub fn valid(name: &str, text: &str) -> bool {
    match name {
        "nhs_modulus11" => nhs_modulus11(text),
        "luhn" => luhn(text),
        "email" => email(text),
        "uuid" => uuid(text),
        "ascii" => text.bytes().all(|b| (0x20..0x7f).contains(&b)),
        _ => false,
    }
}

/// An NHS number: ten digits, the last the modulus 11 check digit of the first nine
/// (weights 10 to 2; 11 reads as 0, and 10 is never valid).
fn nhs_modulus11(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 10 || text.len() != 10 {
        return false;
    }
    let sum: u32 = digits[..9]
        .iter()
        .zip((2..=10).rev())
        .map(|(d, w)| d * w)
        .sum();
    match 11 - sum % 11 {
        11 => digits[9] == 0,
        10 => false,
        check => digits[9] == check,
    }
}

/// Digits whose last is the Luhn check digit of the rest.
fn luhn(text: &str) -> bool {
    if text.len() < 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = text
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match i % 2 {
                1 if d * 2 > 9 => d * 2 - 9,
                1 => d * 2,
                _ => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// An address of the form `local@domain.tld`: one `@`, no spaces or controls, a domain of
/// dot-separated labels. (What mail servers accept is wider; what a contract means by an
/// e-mail address is this.)
fn email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let clean = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() && c != '@');
    clean(local)
        && clean(domain)
        && domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// `8-4-4-4-12` hexadecimal digits.
fn uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constraint_validators_take_real_values_and_refuse_wrong_ones() {
        for ok in ["9434765919", "9434765870", "4010232137"] {
            assert!(valid("nhs_modulus11", ok), "{ok}");
        }
        for bad in [
            "9434765918",
            "943476591",
            "94347659190",
            "943 476 5919",
            "",
            "abcdefghij",
        ] {
            assert!(!valid("nhs_modulus11", bad), "{bad}");
        }
        assert!(valid("luhn", "79927398713") && valid("luhn", "4539578763621486"));
        assert!(!valid("luhn", "79927398710") && !valid("luhn", "7992739871a"));
        assert!(valid("email", "adam.everyman@example.org"));
        for bad in ["adam", "a@b", "a @b.org", "@b.org", "a@b..org", "a@@b.org"] {
            assert!(!valid("email", bad), "{bad}");
        }
        assert!(valid("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(!valid("uuid", "123e4567e89b12d3a456426614174000"));
        assert!(valid("ascii", "EVERYMAN") && !valid("ascii", "ÉMILE") && !valid("ascii", "a\tb"));
    }

    #[test]
    fn constraint_rules_name_the_field_the_rule_and_the_value() {
        static POSTCODE: OnceLock<Option<regex::Regex>> = OnceLock::new();
        let rules = [
            Rule::Length {
                min: Some(1),
                max: Some(8),
            },
            Rule::Pattern("^[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}$", &POSTCODE),
        ];
        assert!(check("m:1", "Patient.postcode", &json!("EH2 2BB"), &rules).is_ok());
        assert!(check("m:1", "Patient.postcode", &Value::Null, &rules).is_ok());
        let e = check("m:1", "Patient.postcode", &json!("NOT A POSTCODE"), &rules).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m:1: Patient.postcode = \"NOT A POSTCODE\" breaks the contract's `length 1..8`"
        );
        let e = check("m:1", "Patient.postcode", &json!("EH2"), &rules).unwrap_err();
        assert!(e.to_string().contains("pattern"), "{e}");
        let range = [Rule::Range {
            min: Some("1"),
            max: Some("999"),
        }];
        assert!(check("m:1", "Result.sequence", &json!(999), &range).is_ok());
        assert!(check("m:1", "Result.sequence", &json!(0), &range).is_err());
        assert!(check("m:1", "Result.sequence", &json!([1, 2, 1000]), &range).is_err());
        // A list's length is its number of items.
        let two = [Rule::Length {
            min: Some(1),
            max: Some(2),
        }];
        assert!(check(
            "m:1",
            "Patient.given_names",
            &json!(["ADAM", "JOHNATHAN"]),
            &two
        )
        .is_ok());
        assert!(check("m:1", "Patient.given_names", &json!(["A", "B", "C"]), &two).is_err());
        assert!(check("m:1", "Patient.given_names", &json!([]), &two).is_err());
        let dates = [Rule::Range {
            min: Some("1900-01-01"),
            max: None,
        }];
        assert!(check("m:1", "Patient.birth_date", &json!("1975-06-21"), &dates).is_ok());
        assert!(check("m:1", "Patient.birth_date", &json!("1875-06-21"), &dates).is_err());
    }
}
