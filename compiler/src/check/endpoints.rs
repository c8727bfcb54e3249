//! Endpoints: known settings, known environments, a value for every environment,
//! credentials only by reference (`secret(...)`/`env(...)`), and no literal address in
//! a production environment.

use super::Checker;
use crate::builtins::{ADDRESS_SETTINGS, ENDPOINT_SETTINGS, SECRET_SETTINGS, TRANSPORTS};
use crate::diagnostics as diag;
use crate::model::{lit_word, Kind};
use crate::suggest::did_you_mean;
use accord_dsl::ast::{Setting, SettingValue};

pub(super) fn check(c: &mut Checker) {
    let envs: Vec<&str> =
        c.m.environments
            .decls
            .iter()
            .map(|d| d.name.name.as_str())
            .collect();
    let prod = c.m.production_envs();
    for (_, d) in c.m.endpoints.iter() {
        let mut seen: Vec<&Setting> = vec![];
        for s in &d.node.settings {
            let key = s.key.name.as_str();
            if !ENDPOINT_SETTINGS.contains(&key) {
                c.push(diag::unknown_property(
                    &s.key,
                    "endpoint",
                    ENDPOINT_SETTINGS,
                    did_you_mean(key, ENDPOINT_SETTINGS.iter().copied()),
                ));
                continue;
            }
            if let Some(prev) = seen.iter().find(|p| p.key.name == key) {
                c.push(diag::duplicate_clause(s.span, prev.span, key));
                continue;
            }
            seen.push(s);
            for v in &s.values {
                if let Some(e) = &v.env {
                    c.lookup(e, Kind::Environment);
                }
                let literal = matches!(v.value, SettingValue::Lit(_));
                if literal && SECRET_SETTINGS.contains(&key) {
                    c.push(diag::literal_secret(v.span, key));
                }
                let applies_to_prod = match &v.env {
                    Some(e) => prod.contains(&e.name.as_str()),
                    None => !prod.is_empty(),
                };
                if literal
                    && applies_to_prod
                    && ADDRESS_SETTINGS.contains(&key)
                    && !is_bind_all(&v.value)
                {
                    let env = v.env.as_ref().map(|e| e.name.as_str()).unwrap_or(prod[0]);
                    c.push(diag::literal_production_address(v.span, key, env));
                }
                if key == "transport" {
                    if let SettingValue::Lit(l) = &v.value {
                        let t = lit_word(l).unwrap_or("");
                        if !TRANSPORTS.contains(&t) {
                            c.push(diag::invalid_value(
                                l.span,
                                "transport",
                                t,
                                TRANSPORTS,
                                did_you_mean(t, TRANSPORTS.iter().copied()),
                            ));
                        }
                    }
                }
            }
            // Every environment gets a value: one without `in` covers all.
            if !envs.is_empty() && s.values.iter().all(|v| v.env.is_some()) {
                let missing: Vec<&str> = envs
                    .iter()
                    .copied()
                    .filter(|e| {
                        !s.values
                            .iter()
                            .any(|v| v.env.as_ref().is_some_and(|x| x.name == *e))
                    })
                    .collect();
                if !missing.is_empty() {
                    c.push(diag::setting_missing_environment(s, &missing));
                }
            }
        }
        if !seen.iter().any(|s| s.key.name == "transport") {
            c.push(diag::missing_clause(
                d.name.span,
                "endpoint",
                "transport",
                "transport: mllp",
            ));
        }
    }
}

/// `0.0.0.0` and `::` are where a listener binds, not an address that leaks.
fn is_bind_all(v: &SettingValue) -> bool {
    matches!(v, SettingValue::Lit(l) if matches!(lit_word(l), Some("0.0.0.0" | "::")))
}
