//! The configuration of one deployment: a TOML file per environment supplying what the
//! contracts reference through `env(...)` and `secret(...)`, endpoint overrides, the journal
//! and the admin listener. Missing settings are taken from environment variables of the
//! same name; secrets may also come from a file or a named variable. The result is checked
//! against the JSON Schema the compiler emitted for the environment, and every error names
//! the setting and the contract line that needs it.

use super::journal::SyncPolicy;
use crate::spec::{SettingValue, Spec};
use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One problem with the configuration: what, and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub message: String,
    pub help: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error: {}\n  = help: {}", self.message, self.help)
    }
}

/// An endpoint's settings with every `env(...)`/`secret(...)` replaced by its value.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedEndpoint {
    pub name: String,
    pub transport: String,
    pub values: BTreeMap<String, String>,
    pub loc: String,
}

impl ResolvedEndpoint {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `host:port`, for MLLP and TCP endpoints.
    pub fn address(&self) -> Result<String, ConfigError> {
        let port = self.get("port").ok_or_else(|| ConfigError {
            message: format!("endpoint `{}` has no port", self.name),
            help: format!(
                "add `port:` to the endpoint at {}, or `port = N` under [endpoints.{}]",
                self.loc, self.name
            ),
        })?;
        let port: u16 = port.parse().map_err(|_| ConfigError {
            message: format!(
                "endpoint `{}`: port `{port}` is not a port number",
                self.name
            ),
            help: "a port is a whole number from 0 to 65535".into(),
        })?;
        Ok(format!(
            "{}:{port}",
            self.get("host").unwrap_or("127.0.0.1")
        ))
    }

    /// Whether the endpoint asks for TLS (`tls: required`).
    pub fn tls(&self) -> bool {
        matches!(self.get("tls"), Some("required" | "on" | "true"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_connections: usize,
    pub idle_timeout_s: u64,
    /// Parallel lanes of an operation with an ordering key (one connection each).
    pub lanes: u32,
}

/// The checked configuration of a production in one environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: String,
    pub endpoints: BTreeMap<String, ResolvedEndpoint>,
    pub journal_path: PathBuf,
    pub sync: SyncPolicy,
    pub admin: Option<String>,
    pub limits: Limits,
    pub auth: Auth,
}

/// How API interfaces check bearer tokens (`[auth]`): RS256 keys from a JWKS file, or an
/// HS256 secret; the issuer and audience every token must carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Auth {
    pub jwks: Option<PathBuf>,
    pub hs256_secret: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

fn err(message: impl Into<String>, help: impl Into<String>) -> ConfigError {
    ConfigError {
        message: message.into(),
        help: help.into(),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads `file` (if any) as the configuration of environment `env`, checks it against the
/// environment's schema and resolves every endpoint. `store` holds the journal by default.
pub fn load(
    spec: &Spec,
    schemas: &[(&str, &str)],
    env: &str,
    file: Option<&Path>,
    store: &Path,
) -> Result<Config, Vec<ConfigError>> {
    let Some((_, schema)) = schemas.iter().find(|(e, _)| *e == env) else {
        return Err(vec![err(
            format!("the estate has no environment `{env}`"),
            format!("choose one of: {}", spec.environments.join(", ")),
        )]);
    };
    let schema: Value = serde_json::from_str(schema).map_err(|e| {
        vec![err(
            format!("the embedded schema is broken: {e}"),
            "rebuild the production with `accord build`",
        )]
    })?;
    let shown = file
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "the configuration file (none given; pass --config FILE)".into());
    let mut config: Value = match file {
        None => Value::Object(Map::new()),
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| {
                vec![err(
                    format!("cannot read {}: {e}", f.display()),
                    "pass an existing TOML file with --config",
                )]
            })?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| {
                vec![err(
                    format!("{} is not valid TOML: {}", f.display(), e.message()),
                    match e.span() {
                        Some(s) => format!("at byte {}..{} of the file", s.start, s.end),
                        None => "see https://toml.io for the syntax".into(),
                    },
                )]
            })?;
            serde_json::to_value(table).unwrap_or_default()
        }
    };
    // Settings and secrets the file leaves out come from environment variables.
    for section in ["settings", "secrets"] {
        let required: Vec<String> = schema["properties"][section]["required"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(obj) = config.as_object_mut() {
            let entry = obj
                .entry(section.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(values) = entry.as_object_mut() {
                for name in required {
                    if !values.contains_key(&name) {
                        if let Ok(v) = std::env::var(&name) {
                            values.insert(name, Value::String(v));
                        }
                    }
                }
            }
        }
    }
    // The schema only uses draft-07 keywords. Compiled as 2020-12, its meta-schema's
    // dynamic references cost 30 MiB of transient heap, which glibc then keeps for the
    // production's whole life; as draft-07 it takes a few hundred KiB.
    let mut as_draft7 = schema.clone();
    if let Some(o) = as_draft7.as_object_mut() {
        o.remove("$schema");
    }
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&as_draft7)
        .map_err(|e| {
            vec![err(
                format!("the embedded schema is broken: {e}"),
                "rebuild the production",
            )]
        })?;
    let mut errors: Vec<ConfigError> = validator
        .iter_errors(&config)
        .map(|e| explain(&e, &schema, env, &shown))
        .collect();
    if !errors.is_empty() {
        errors.dedup();
        return Err(errors);
    }
    let mut endpoints = BTreeMap::new();
    for e in &spec.endpoints {
        let mut values = BTreeMap::new();
        for s in &e.settings {
            let Some((value, _)) = e.setting(&s.key, env) else {
                continue;
            };
            let resolved = match value {
                SettingValue::Literal(v) => Some(v.clone()),
                SettingValue::Env(n) => config["settings"].get(n).and_then(as_text),
                SettingValue::Secret(n) => match secret(&config["secrets"][n]) {
                    Ok(v) => v,
                    Err(why) => {
                        errors.push(err(
                            format!("secret `{n}` for endpoint `{}` ({}): {why}", e.name, s.key),
                            format!("needed by the endpoint at {}", e.loc),
                        ));
                        None
                    }
                },
            };
            if let Some(v) = resolved {
                values.insert(s.key.clone(), v);
            }
        }
        if let Some(over) = config["endpoints"][&e.name].as_object() {
            for (k, v) in over {
                if let Some(v) = as_text(v) {
                    values.insert(k.clone(), v);
                }
            }
        }
        endpoints.insert(
            e.name.clone(),
            ResolvedEndpoint {
                name: e.name.clone(),
                transport: e.transport.clone(),
                values,
                loc: e.loc.clone(),
            },
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let journal_path = config["journal"]["path"]
        .as_str()
        .map(PathBuf::from)
        .unwrap_or_else(|| store.join("journal.sqlite"));
    let sync = config["journal"]["sync"]
        .as_str()
        .and_then(SyncPolicy::parse)
        .unwrap_or(SyncPolicy::Full);
    let limit = |k: &str, d: u64| config["limits"][k].as_u64().unwrap_or(d);
    let auth = Auth {
        jwks: config["auth"]["jwks"].as_str().map(PathBuf::from),
        hs256_secret: secret(&config["auth"]["hs256_secret"]).map_err(|e| {
            vec![ConfigError {
                message: format!("[auth] hs256_secret: {e}"),
                help: "give the secret as text, { env = \"VAR\" } or { file = \"path\" }".into(),
            }]
        })?,
        issuer: config["auth"]["issuer"].as_str().map(str::to_string),
        audience: config["auth"]["audience"].as_str().map(str::to_string),
    };
    Ok(Config {
        env: env.to_string(),
        endpoints,
        journal_path,
        sync,
        admin: config["admin"]["listen"].as_str().map(str::to_string),
        limits: Limits {
            max_frame_bytes: limit("max_frame_bytes", 16 << 20) as usize,
            max_connections: limit("max_connections", 256) as usize,
            idle_timeout_s: limit("idle_timeout_s", 300),
            lanes: limit("lanes", 4).clamp(1, 64) as u32,
        },
        auth,
    })
}

/// A secret's value: a string, `{ env = "VAR" }` or `{ file = "path" }`.
fn secret(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Object(o) => {
            if let Some(var) = o.get("env").and_then(Value::as_str) {
                std::env::var(var)
                    .map(Some)
                    .map_err(|_| format!("environment variable `{var}` is not set"))
            } else if let Some(f) = o.get("file").and_then(Value::as_str) {
                std::fs::read_to_string(f)
                    .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_string()))
                    .map_err(|e| format!("cannot read `{f}`: {e}"))
            } else {
                Ok(None)
            }
        }
        _ => Ok(None),
    }
}

/// A schema error as a message naming the setting and the contract line that needs it.
fn explain(e: &jsonschema::ValidationError, schema: &Value, env: &str, file: &str) -> ConfigError {
    let at = e.instance_path.to_string();
    let section = at.trim_start_matches('/').split('/').next().unwrap_or("");
    match &e.kind {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let used = schema["properties"][section]["properties"][name]["description"]
                .as_str()
                .unwrap_or_default();
            err(
                format!("{} `{name}` is missing for environment `{env}`", section.trim_end_matches('s')),
                format!(
                    "needed by {used}; set `{name} = ...` under [{section}] in {file}, or export {name}"
                ),
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            err(
                format!(
                    "unknown key{} {} in {}",
                    if unexpected.len() > 1 { "s" } else { "" },
                    unexpected.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                    if at.is_empty() { "the top level".to_string() } else { format!("[{}]", at.trim_start_matches('/').replace('/', ".")) }
                ),
                "remove it, or check its spelling against the estate's settings (`check-config --schema` prints them)",
            )
        }
        _ => {
            let used = schema["properties"][section]["properties"]
                [at.rsplit('/').next().unwrap_or_default()]["description"]
                .as_str()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            err(
                format!("{}: {e}{used}", at.trim_start_matches('/').replace('/', ".")),
                format!("fix the value in {file}"),
            )
        }
    }
}
