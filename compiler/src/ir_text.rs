//! IR expressions and paths back to the text an analyst wrote (`date(PID-7)`,
//! `PID-8 via trakcare_sex`, `OBR-25 == "F" or OBR-25 == "C"`), for the site's mapping
//! tables and route conditions and for `accord diff`'s reports. Also lists what an
//! expression reads and which code maps it looks codes up in.

use crate::ir::{
    BinOp, Constraint, Expr, Hl7Path, IterSource, PathStep, SettingValue, Target, Type,
};

/// `Code<Sex>`, `[Text]`, `Date?`, as a record field's type is written.
pub fn type_text(t: &Type) -> String {
    match t {
        Type::Text => "Text".into(),
        Type::Integer => "Integer".into(),
        Type::Decimal => "Decimal".into(),
        Type::Boolean => "Boolean".into(),
        Type::Date => "Date".into(),
        Type::DateTime => "DateTime".into(),
        Type::Identifier => "Identifier".into(),
        Type::Code { codeset } => format!("Code<{codeset}>"),
        Type::Record { record } => record.clone(),
        Type::List { of } => format!("[{}]", type_text(of)),
        Type::Optional { of } => format!("{}?", type_text(of)),
        Type::Unknown => "?".into(),
    }
}

/// `length 1..20`, `check nhs_modulus11`, `pattern "^[A-Z]+$"`.
pub fn constraint(c: &Constraint) -> String {
    let bound = |v: &Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    match c {
        Constraint::Key => "key".into(),
        Constraint::Unique => "unique".into(),
        Constraint::Check { validator } => format!("check {validator}"),
        Constraint::Length { min, max } => format!("length {}..{}", bound(min), bound(max)),
        Constraint::Range { min, max } => format!(
            "range {}..{}",
            min.clone().unwrap_or_default(),
            max.clone().unwrap_or_default()
        ),
        Constraint::Pattern { regex } => format!("pattern {}", quote(regex)),
    }
}

/// What a `for each` walks: `OBX`, `group ORDER_OBSERVATION`, `observations`.
pub fn iter_source(s: &IterSource) -> String {
    match s {
        IterSource::Segment { segment } => segment.clone(),
        IterSource::Group { group, .. } => format!("group {group}"),
        IterSource::Repetitions { path } => path.text.clone(),
        IterSource::Field { path } => steps(path),
    }
}

/// A mapping line's target: `PID-5.1`, `OBX`, `patient.mrn`.
pub fn target(t: &Target) -> String {
    match t {
        Target::Hl7 { path } => path.text.clone(),
        Target::Segment { segment } => segment.clone(),
        Target::Field { path } => steps(path),
    }
}

/// An endpoint setting's value as written; a secret shows only the name it is read from.
pub fn setting_value(v: &SettingValue) -> String {
    match v {
        SettingValue::Literal(s) => s.clone(),
        SettingValue::Env(name) => format!("env({name})"),
        SettingValue::Secret(name) => format!("secret({name})"),
    }
}

pub fn steps(path: &[PathStep]) -> String {
    path.iter()
        .map(|s| match s.index {
            Some(i) => format!("{}[{i}]", s.name),
            None => s.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        _ => 3,
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

pub fn expr(e: &Expr) -> String {
    expr_in(e, 0)
}

fn expr_in(e: &Expr, parent: u8) -> String {
    match e {
        Expr::Text { value } => quote(value),
        Expr::Integer { value } => value.to_string(),
        Expr::Decimal { value } | Expr::Date { value } => value.clone(),
        Expr::Boolean { value } => value.to_string(),
        Expr::Hl7 { path } => path.text.clone(),
        Expr::Field { path } => steps(path),
        Expr::Code { code, .. } if is_ident(code) => code.clone(),
        Expr::Code { code, .. } => quote(code),
        Expr::Call { function, args } => {
            let args: Vec<String> = args.iter().map(expr).collect();
            format!("{function}({})", args.join(", "))
        }
        Expr::Lookup { codemap, value } => format!("{} via {codemap}", expr_in(value, 4)),
        Expr::Apply { mapping, value } => format!("{} via {mapping}", expr_in(value, 4)),
        Expr::Reference { mapping, keys } => {
            let keys: Vec<String> = keys.iter().map(expr).collect();
            format!("reference({mapping}, {})", keys.join(", "))
        }
        Expr::Stored {
            record,
            field,
            keys,
        } => {
            let keys: Vec<String> = keys.iter().map(expr).collect();
            format!("lookup({record}.{}, {})", field.join("."), keys.join(", "))
        }
        Expr::If {
            cond,
            then,
            otherwise,
        } => {
            let s = format!(
                "if {} then {} else {}",
                expr(cond),
                expr(then),
                expr(otherwise)
            );
            if parent > 0 {
                format!("({s})")
            } else {
                s
            }
        }
        Expr::Binary { op, lhs, rhs } => {
            let p = precedence(*op);
            let s = format!("{} {op} {}", expr_in(lhs, p), expr_in(rhs, p + 1));
            if p < parent {
                format!("({s})")
            } else {
                s
            }
        }
        Expr::Not { value } => format!("not {}", expr_in(value, 4)),
        Expr::Absent => "absent".into(),
    }
}

/// What an expression reads, as written: HL7 paths and record fields, in order, once each.
pub fn reads(e: &Expr, out: &mut Vec<Read>) {
    match e {
        Expr::Hl7 { path } => push(out, Read::Hl7(path.clone())),
        Expr::Field { path } => push(out, Read::Field(path.clone())),
        Expr::Call { args, .. }
        | Expr::Reference { keys: args, .. }
        | Expr::Stored { keys: args, .. } => args.iter().for_each(|a| reads(a, out)),
        Expr::Lookup { value, .. } | Expr::Apply { value, .. } | Expr::Not { value } => {
            reads(value, out)
        }
        Expr::If {
            cond,
            then,
            otherwise,
        } => {
            reads(cond, out);
            reads(then, out);
            reads(otherwise, out);
        }
        Expr::Binary { lhs, rhs, .. } => {
            reads(lhs, out);
            reads(rhs, out);
        }
        Expr::Absent
        | Expr::Text { .. }
        | Expr::Integer { .. }
        | Expr::Decimal { .. }
        | Expr::Boolean { .. }
        | Expr::Date { .. }
        | Expr::Code { .. } => {}
    }
}

/// One source of a mapped value.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    Hl7(Hl7Path),
    /// A field (or FHIR element) path, with what the IR knows of each step.
    Field(Vec<PathStep>),
}

fn push(out: &mut Vec<Read>, r: Read) {
    if !out.contains(&r) {
        out.push(r);
    }
}

/// The other mappings an expression runs (`x via m`) or refers to (`reference(m, ...)`),
/// in order, once each.
pub fn mappings_used(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Apply { mapping, value } => {
            if !out.contains(mapping) {
                out.push(mapping.clone());
            }
            mappings_used(value, out);
        }
        Expr::Reference { mapping, keys } => {
            if !out.contains(mapping) {
                out.push(mapping.clone());
            }
            keys.iter().for_each(|k| mappings_used(k, out));
        }
        Expr::Call { args, .. } | Expr::Stored { keys: args, .. } => {
            args.iter().for_each(|a| mappings_used(a, out))
        }
        Expr::Not { value } | Expr::Lookup { value, .. } => mappings_used(value, out),
        Expr::If {
            cond,
            then,
            otherwise,
        } => {
            mappings_used(cond, out);
            mappings_used(then, out);
            mappings_used(otherwise, out);
        }
        Expr::Binary { lhs, rhs, .. } => {
            mappings_used(lhs, out);
            mappings_used(rhs, out);
        }
        _ => {}
    }
}

/// The records an expression looks up in the store (`lookup(Patient.family_name, ...)`),
/// in order, once each.
pub fn stored_records(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Stored { record, keys, .. } => {
            if !out.contains(record) {
                out.push(record.clone());
            }
            keys.iter().for_each(|k| stored_records(k, out));
        }
        Expr::Call { args, .. } | Expr::Reference { keys: args, .. } => {
            args.iter().for_each(|a| stored_records(a, out))
        }
        Expr::Not { value } | Expr::Apply { value, .. } | Expr::Lookup { value, .. } => {
            stored_records(value, out)
        }
        Expr::If {
            cond,
            then,
            otherwise,
        } => {
            stored_records(cond, out);
            stored_records(then, out);
            stored_records(otherwise, out);
        }
        Expr::Binary { lhs, rhs, .. } => {
            stored_records(lhs, out);
            stored_records(rhs, out);
        }
        _ => {}
    }
}

/// The code maps an expression looks up, in order, once each.
pub fn codemaps(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Lookup { codemap, value } => {
            if !out.contains(codemap) {
                out.push(codemap.clone());
            }
            codemaps(value, out);
        }
        Expr::Call { args, .. }
        | Expr::Reference { keys: args, .. }
        | Expr::Stored { keys: args, .. } => args.iter().for_each(|a| codemaps(a, out)),
        Expr::Not { value } | Expr::Apply { value, .. } => codemaps(value, out),
        Expr::If {
            cond,
            then,
            otherwise,
        } => {
            codemaps(cond, out);
            codemaps(then, out);
            codemaps(otherwise, out);
        }
        Expr::Binary { lhs, rhs, .. } => {
            codemaps(lhs, out);
            codemaps(rhs, out);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hl7(text: &str) -> Expr {
        Expr::Hl7 {
            path: Hl7Path {
                text: text.into(),
                segment: text[..3].into(),
                occurrence: None,
                field: 1,
                repetition: None,
                component: None,
                subcomponent: None,
                element: None,
            },
        }
    }

    fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
        Expr::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        }
    }

    #[test]
    fn precedence_keeps_meaning() {
        let eq = |v: &str| {
            bin(
                BinOp::Eq,
                hl7("OBR-25"),
                Expr::Text {
                    value: v.to_string(),
                },
            )
        };
        let e = bin(BinOp::And, bin(BinOp::Or, eq("F"), eq("C")), eq("X"));
        assert_eq!(
            expr(&e),
            r#"(OBR-25 == "F" or OBR-25 == "C") and OBR-25 == "X""#
        );
        let e = bin(BinOp::Or, eq("F"), bin(BinOp::And, eq("C"), eq("X")));
        assert_eq!(
            expr(&e),
            r#"OBR-25 == "F" or OBR-25 == "C" and OBR-25 == "X""#
        );
    }

    #[test]
    fn lookups_and_calls() {
        let e = Expr::Lookup {
            codemap: "trakcare_sex".into(),
            value: Box::new(Expr::Call {
                function: "trim".into(),
                args: vec![hl7("PID-8")],
            }),
        };
        assert_eq!(expr(&e), "trim(PID-8) via trakcare_sex");
        let mut maps = vec![];
        codemaps(&e, &mut maps);
        assert_eq!(maps, ["trakcare_sex"]);
    }
}
