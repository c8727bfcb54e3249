//! Endpoints: known settings, known environments, a value for every environment,
//! credentials only by reference (`secret(...)`/`env(...)`), and no literal address in
//! a production environment.

use super::Checker;
use crate::builtins::{
    ADDRESS_SETTINGS, ENDPOINT_SETTINGS, SECRET_SETTINGS, TLS_MODES, TLS_SETTINGS, TRANSPORTS,
};
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
            if let Some(transport) = transport_of(&d.node.settings) {
                if let Some((why, help)) = not_honoured(transport, key) {
                    c.push(diag::setting_not_honoured(
                        s.key.span, key, transport, why, help,
                    ));
                }
            }
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
                if key == "tls" {
                    if let SettingValue::Lit(l) = &v.value {
                        let t = lit_word(l).unwrap_or("");
                        if !TLS_MODES.contains(&t) {
                            c.push(diag::invalid_value(
                                l.span,
                                "tls",
                                t,
                                TLS_MODES,
                                did_you_mean(t, TLS_MODES.iter().copied()),
                            ));
                        }
                    }
                }
                if key == "transport" {
                    if let SettingValue::Lit(l) = &v.value {
                        let t = lit_word(l).unwrap_or("");
                        if matches!(t, "tcp" | "sftp") {
                            c.push(diag::transport_not_available(l.span, t));
                        } else if !TRANSPORTS.contains(&t) {
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
            // Every production environment gets its value in the contract, which the
            // board reviews: one without `in` covers all. Another environment may leave a
            // value to its configuration file, whose schema then requires it there
            // (`[endpoints.NAME] key = ...`). TLS material is needed only where TLS is
            // required.
            if !envs.is_empty()
                && !TLS_SETTINGS.contains(&key)
                && s.values.iter().all(|v| v.env.is_some())
            {
                let missing: Vec<&str> = envs
                    .iter()
                    .copied()
                    .filter(|e| prod.contains(e))
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

/// The endpoint's transport, when it is a known literal.
fn transport_of(settings: &[Setting]) -> Option<&str> {
    let s = settings.iter().find(|s| s.key.name == "transport")?;
    match &s.values.first()?.value {
        SettingValue::Lit(l) => lit_word(l).filter(|t| TRANSPORTS.contains(t)),
        _ => None,
    }
}

/// Why a `transport` endpoint would ignore `key`, and what to do instead; `None` when it
/// honours it.
fn not_honoured(transport: &str, key: &str) -> Option<(&'static str, &'static str)> {
    let http = matches!(transport, "http" | "https" | "fhir");
    let connected = matches!(transport, "mllp" | "http" | "https" | "fhir");
    match key {
        "charset" => Some((
            "not read by the production",
            "a message's character set is its MSH-18 (ASCII, UTF-8 and 8859/1 are read, and written back as received); remove `charset`",
        )),
        "user" | "password" | "token" | "token_url" | "client_id" | "client_secret" | "scope"
        | "signing_key" | "signing_kid"
            if !http =>
        {
            Some((
            "no credentials are sent on this transport",
            "MLLP and file transports carry no credentials: say who a peer is with mutual TLS (`tls: required`, `certificate`, `private_key`, `ca`, `peer_names`), and remove this setting",
            ))
        }
        "max_frame" if transport != "mllp" => Some((
            "frames are MLLP's",
            "remove `max_frame`: only MLLP reads frames",
        )),
        "timeout" | "tls" | "certificate" | "private_key" | "ca" | "peer_names" if !connected => {
            Some((
                "this transport makes no connection to time or secure",
                "remove the setting, or use a transport the production connects over (mllp, http, https, fhir)",
            ))
        }
        _ => None,
    }
}

/// `0.0.0.0` and `::` are where a listener binds, not an address that leaks.
fn is_bind_all(v: &SettingValue) -> bool {
    matches!(v, SettingValue::Lit(l) if matches!(lit_word(l), Some("0.0.0.0" | "::")))
}
