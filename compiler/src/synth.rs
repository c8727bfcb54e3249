//! Synthetic estates for benchmarks and scale tests: `n` interfaces with records,
//! codesets, code maps, mappings, ownership rows, routes and tests in the proportions of
//! a real hospital estate (per ten interfaces: two systems, two records, two codesets,
//! three code maps, four mappings, one route, one test). Every estate it makes checks
//! with no diagnostic, so a benchmark times the full pipeline including lowering.

use std::fmt::Write;

/// The estate as files of about fifty interfaces each: `(name, text)`.
pub fn estate(n: usize) -> Vec<(String, String)> {
    let mut files = vec![("estate.accord".to_string(), header(n))];
    let groups = n.div_ceil(10);
    let mut chunk = String::new();
    for g in 0..groups {
        group(&mut chunk, g, (n - g * 10).min(10));
        if (g + 1) % 5 == 0 || g + 1 == groups {
            files.push((
                format!("part{:04}.accord", files.len()),
                std::mem::take(&mut chunk),
            ));
        }
    }
    files
}

fn header(n: usize) -> String {
    let mut s = format!("estate \"Synthetic estate of {n} interfaces\" version 1.0.0\n\n");
    s.push_str("environment dev\nenvironment test\nenvironment prod {\n  kind: production\n}\n\n");
    s.push_str("system hub {\n  name: \"Integration engine\"\n  role: engine\n}\n");
    s
}

/// Ten interfaces (or fewer) with everything they use, named with the group number.
fn group(s: &mut String, g: usize, count: usize) {
    let _ = write!(
        s,
        r#"
/// Source system of group {g}.
system src{g} {{
  name: "Source {g}"
  owner: "Team {g}"
}}

system dst{g} {{
  name: "Destination {g}"
  owner: "Team {g}"
}}

endpoint in{g} {{
  transport: mllp
  host: "0.0.0.0"
  port: {p} in dev, {p} in test, env("IN{g}_PORT") in prod
}}

endpoint out{g} {{
  transport: mllp
  host: "localhost" in dev, "dst{g}.test" in test, env("OUT{g}_HOST") in prod
  port: {q} in dev, {q} in test, env("OUT{g}_PORT") in prod
  tls: off in dev, off in test, required in prod
  certificate: env("OUT{g}_CERT") in prod
  private_key: secret("OUT{g}_KEY") in prod
}}

codeset Sex{g} {{
  male "Male"
  female "Female"
  other "Other"
  unknown "Unknown"
}}

codeset Flag{g} {{
  "H" "High"
  "L" "Low"
  "N" "Normal"
  "A" "Abnormal"
}}

codemap sex_in{g}: Text -> Sex{g} {{
  "M" => male
  "F" => female
  "O" => other
  _ => unknown
}}

codemap sex_out{g}: Sex{g} -> Text {{
  male => "M"
  female => "F"
  _ => "U"
}}

codemap flag_in{g}: Text -> Flag{g} {{
  "H" | "HH" => "H"
  "L" | "LL" => "L"
  "N" => "N"
  _ => reject "unknown flag"
}}

/// A patient as group {g} sees it.
record Patient{g} {{
  mrn: Identifier key length 1..20
  nhs_number: Identifier? check nhs_modulus11
  family_name: Text length 1..80
  given_names: [Text]
  birth_date: Date
  sex: Code<Sex{g}>
  postcode: Text?
  results: [Result{g}]
}}

record Result{g} {{
  code: Text
  value: Text
  flag: Code<Flag{g}>?
  sequence: Integer range 1..999
}}

ownership Patient{g} {{
  mrn: owner src{g}; conflict reject
  nhs_number: owner src{g}; accept dst{g} when absent; conflict review
  family_name: owner src{g}; conflict owner_wins
  birth_date: owner src{g}; conflict review
  sex: owner src{g}; conflict newest
}}

mapping adt_in{g}: hl7v2 2.4 ADT^A01 -> Patient{g} {{
  mrn <- PID-3[where 5 = "MR"].1
  nhs_number <- PID-3[where 5 = "NH"].1
  family_name <- upper(PID-5[1].1)
  given_names <- PID-5[1].2, PID-5[1].3
  birth_date <- date(PID-7)
  sex <- PID-8 via sex_in{g}
  when exists(PID-11.5) {{
    postcode <- trim(PID-11.5)
  }}
  results <- for each OBX {{
    code <- OBX-3.1
    value <- OBX-5
    flag <- OBX-8 via flag_in{g}
    sequence <- integer(OBX-1)
  }}
}}

mapping adt_out{g}: Patient{g} -> hl7v2 2.4 ADT^A01 {{
  EVN-2 <- now()
  PID-3[1].1 <- mrn
  PID-3[1].5 <- "MR"
  PID-5.1 <- family_name
  PID-5.2 <- first(given_names)
  PID-7 <- format_date(birth_date, "YYYYMMDD")
  PID-8 <- sex via sex_out{g}
  PV1-2 <- "U"
}}

mapping adt_slim{g}: Patient{g} -> hl7v2 2.5 ADT^A08 {{
  EVN-2 <- now()
  PID-3[1].1 <- mrn
  PID-5.1 <- family_name
  PV1-2 <- "U"
}}

mapping adt_fhir{g}: Patient{g} -> fhir r4 Patient {{
  identifier[0].value <- mrn
  name[0].family <- family_name
}}

interface feed{g} version 1.0.0 {{
  purpose: "Events from source {g}"
  owner: "Integration Team"
  review: 2099-01-01
  status: active
  from src{g} to hub via in{g}
  pattern: event
  messages: ADT^A01 ADT^A08
  ack: commit
  idempotency: MSH-4, MSH-10
}}
"#,
        p = 10_000 + g,
        q = 20_000 + g,
    );
    let mut targets = vec![];
    for i in 0..count {
        let name = format!("if{g}_{i}");
        // Each mapping names one message type: the interface carries that type.
        let carried = if i % 2 == 0 { "ADT^A01" } else { "ADT^A08" };
        let (transform, sends) = if i % 2 == 0 {
            (
                format!("adt_in{g}, adt_out{g}"),
                "mrn nhs_number family_name given_names birth_date sex",
            )
        } else {
            (format!("adt_in{g}, adt_slim{g}"), "mrn family_name")
        };
        let _ = write!(
            s,
            r#"
/// Interface {i} of group {g}.
interface {name} version 1.{i}.0 {{
  purpose: "Deliver events of group {g} to destination {g}"
  owner: "Integration Team"
  review: 2099-01-01
  status: active
  clinical_impact: "Stale demographics downstream"
  from src{g} to dst{g} via out{g}
  pattern: event
  messages: {carried}
  transform: {transform}
  ack: application within 30s
  on AE: retry 5 times backoff 2s..5m then dead_letter alert "oncall-{g}"
  on AR: dead_letter
  on timeout | refused: retry forever every 30s
  idempotency: MSH-10
  ordering: per PID-3
  sends only: Patient{g}.{{{sends}}}
  sla: delivered p95 < 5s, backlog < 100
}}
"#
        );
        targets.push(name);
    }
    let first = targets.first().cloned().unwrap_or_default();
    // Each type goes to the interfaces that carry it (the even ones A01, the odd ones A08).
    let of_parity = |parity: usize| -> String {
        let names: Vec<&str> = targets
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == parity)
            .map(|(_, n)| n.as_str())
            .collect();
        if names.is_empty() {
            "discard".to_string()
        } else {
            names.join(", ")
        }
    };
    let _ = write!(
        s,
        r#"
route route{g} from feed{g} {{
  ADT^A01 when PID-8 == "F" -> {a01}
  ADT^A08 -> {a08}
  otherwise -> discard
}}

test "group {g} routes A01" {{
  given hl7 "MSH|^~\\&|SRC|H|HUB|H|20260101||ADT^A01|{g}|P|2.4" at feed{g}
  expect routed to {first}
  expect adt_in{g}.sex == female
}}
"#,
        a01 = of_parity(0),
        a08 = of_parity(1),
    );
}

#[cfg(test)]
mod tests {
    use crate::{compile, Options, SourceMap};

    #[test]
    fn synthetic_estates_check_clean() {
        for n in [1, 10, 37] {
            let mut sources = SourceMap::new();
            for (name, text) in super::estate(n) {
                sources.add(name, text);
            }
            let result = compile(
                &sources,
                &Options {
                    today: "2026-06-01".into(),
                    file_exists: None,
                },
            );
            let rendered: Vec<String> = result
                .diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect();
            assert!(result.diagnostics.is_empty(), "n={n}: {rendered:#?}");
            assert_eq!(
                result.ir.map(|ir| ir.interfaces.len()),
                Some(n + n.div_ceil(10))
            );
        }
    }
}
