//! The configuration of one deployment: a TOML file per environment supplying what the
//! contracts reference through `env(...)` and `secret(...)`, endpoint overrides, the journal
//! and the admin listener. Missing settings are taken from environment variables of the
//! same name; secrets may also come from a file or a named variable. The result is checked
//! against the JSON Schema the compiler emitted for the environment, and every error names
//! the setting and the contract line that needs it.

use super::journal::{Store, SyncPolicy};
use accord_runtime::spec::{SettingValue, Spec};
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

    /// A setting's value trimmed, an empty one counting as absent (an environment may give
    /// `""` for what it does not use).
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
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
}

impl ResolvedEndpoint {
    /// `timeout`: how long to wait for a connection (an operation's connect and TLS
    /// handshake, a listener's idle connection); seconds, or `500ms`, `30s`, `5m`.
    pub fn timeout(&self) -> Result<Option<std::time::Duration>, ConfigError> {
        let Some(v) = self.setting("timeout") else {
            return Ok(None);
        };
        let ms = match v.parse::<i64>() {
            Ok(seconds) => Some(seconds.saturating_mul(1000)),
            Err(_) => super::time::parse_duration(v),
        };
        match ms {
            Some(ms) if ms > 0 => Ok(Some(std::time::Duration::from_millis(ms as u64))),
            _ => Err(err(
                format!(
                    "endpoint `{}` ({}): timeout `{v}` is not a duration",
                    self.name, self.loc
                ),
                "give a number of seconds, or a duration such as `500ms`, `30s` or `5m`",
            )),
        }
    }

    /// `max_frame`: the largest MLLP frame, in bytes.
    pub fn max_frame(&self) -> Result<Option<usize>, ConfigError> {
        let Some(v) = self
            .get("max_frame")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        else {
            return Ok(None);
        };
        match v.parse::<usize>() {
            Ok(n) if n >= 1024 => Ok(Some(n)),
            _ => Err(err(
                format!(
                    "endpoint `{}` ({}): max_frame `{v}` is not a number of bytes from 1024 up",
                    self.name, self.loc
                ),
                "give the largest frame in bytes, e.g. `max_frame: 1048576`",
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_connections: usize,
    /// Connections one client address may hold at once, per listener.
    pub max_connections_per_address: usize,
    pub idle_timeout_s: u64,
    /// An HTTP client must send a request's headers within this (and is closed if idle
    /// this long between requests).
    pub header_timeout_s: u64,
    /// An HTTP request, body included, must be read and answered within this.
    pub request_timeout_s: u64,
    /// Requests per second one client address may make to an HTTP listener (0: no limit),
    /// and how many above that rate it may make at once.
    pub requests_per_s: u32,
    pub request_burst: u32,
    /// Parallel lanes of an operation with an ordering key (one connection each).
    pub lanes: u32,
}

/// The checked configuration of a production in one environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: String,
    pub endpoints: BTreeMap<String, ResolvedEndpoint>,
    /// Where the journal lives: a SQLite file (the default) or a PostgreSQL database.
    pub journal: Store,
    pub sync: SyncPolicy,
    pub admin: Option<String>,
    /// The bearer token `/metrics` asks of its scrapers (`[admin] token`); without it the
    /// admin listener asks nothing. `/health` and `/ready` never ask (probes).
    pub admin_token: Option<super::credentials::Secret>,
    pub limits: Limits,
    pub auth: Auth,
    /// The address clients reach the FHIR facade at (`[api] base_url`), for the links of
    /// search results; without it, the address the facade listens on. A request's `Host`
    /// header is never used.
    pub api_base_url: Option<String>,
    /// The TLS of the endpoints that ask for it, and of the admin listener.
    pub tls: std::sync::Arc<super::tls::EndpointTls>,
    /// A certificate this close to its expiry is warned of and alerted on.
    pub tls_expiry_warning_days: u32,
    /// Where alerts are posted, by alert name (`[alerts.NAME]`).
    pub alerts: BTreeMap<String, super::alerts::Route>,
    /// The operations console's operators (`[console]`); no console without it.
    pub console: Option<super::console::Settings>,
    /// The mail server alerts are mailed through (`[smtp]`).
    pub smtp: Option<super::alerts::Smtp>,
}

/// How API interfaces check bearer tokens (`[auth]`): RS256 keys from a JWKS file, or an
/// HS256 secret; the issuer and audience every token must carry.
#[derive(Clone, Default, PartialEq)]
pub struct Auth {
    pub jwks: Option<PathBuf>,
    pub hs256_secret: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// The secret is never printed, in a log line or an error.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("jwks", &self.jwks)
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "***"))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The endpoints the production listens on or sends to: those of its interfaces.
fn endpoints_in_use<'a>(
    spec: &'a Spec,
    endpoints: &'a BTreeMap<String, ResolvedEndpoint>,
) -> impl Iterator<Item = (&'a accord_runtime::spec::Interface, &'a ResolvedEndpoint)> {
    spec.interfaces.iter().filter_map(move |i| {
        let e = endpoints.get(i.endpoint.as_deref()?)?;
        (i.role != accord_runtime::spec::Role::Unwired).then_some((i, e))
    })
}

/// What `check-config` and `run` warn of without refusing: a certificate close to its
/// expiry; in a production environment, a listener without TLS bound to every address of
/// the host.
pub fn warnings(spec: &Spec, config: &Config) -> Vec<ConfigError> {
    let mut out = config.tls.expiring(
        config.tls_expiry_warning_days,
        jiff::Timestamp::now().as_second(),
    );
    out.extend(unchecked_certificate_names(spec, config));
    if !spec.production_environments.contains(&config.env) {
        return out;
    }
    for (i, e) in endpoints_in_use(spec, &config.endpoints) {
        let listens = (i.role == accord_runtime::spec::Role::Service || !i.serves.is_empty())
            && config.tls.server(&e.name).is_none();
        let everywhere = matches!(e.get("host"), Some("0.0.0.0" | "::" | "[::]" | "*"));
        if listens
            && everywhere
            && !out
                .iter()
                .any(|w| w.message.contains(&format!("`{}`", e.name)))
        {
            out.push(err(
                format!(
                    "endpoint `{}` ({}) listens on every address of the host in `{}`, without TLS",
                    e.name, e.loc, config.env
                ),
                "anyone who can reach the host can connect: bind it to the address its senders reach (`host = ...` under [endpoints] or in the contract)",
            ));
        }
    }
    if let Some(a) = &config.admin {
        let everywhere = a.starts_with("0.0.0.0:") || a.starts_with("[::]:");
        let tls = config.tls.server(super::tls::ADMIN).is_some();
        let shown = format!(
            "[admin] listen = \"{a}\" serves /metrics on every address of the host in `{}`",
            config.env
        );
        match (everywhere, &config.admin_token, tls) {
            (true, None, _) => out.push(err(
                shown,
                "bind it to loopback or a management network, or ask scrapers for a bearer token with `[admin] token`",
            )),
            (true, Some(_), false) => out.push(err(
                format!("{shown} without TLS: its token crosses the network in the clear"),
                "give `[admin] certificate` and `private_key`, or bind it to loopback",
            )),
            _ => {}
        }
    }
    out.extend(unrouted_alerts(spec, config));
    out
}

/// The alert names the contract raises (`alert "lab-oncall"` in reply policies and flows).
pub fn alert_names(spec: &Spec) -> std::collections::BTreeSet<String> {
    let replies = spec
        .interfaces
        .iter()
        .flat_map(|i| i.replies.iter().flat_map(|r| r.actions.iter()));
    let flows = spec
        .flows
        .iter()
        .flat_map(|f| f.on_timeout.iter().chain(f.on_reply.iter()));
    replies
        .chain(flows)
        .filter_map(|a| match a {
            accord_runtime::spec::Action::Alert { target } => Some(target.clone()),
            _ => None,
        })
        .collect()
}

/// In production, an alert the contract raises that no `[alerts]` route posts anywhere:
/// it is only counted and logged.
fn unrouted_alerts(spec: &Spec, config: &Config) -> Vec<ConfigError> {
    if config.alerts.contains_key("default") {
        return vec![];
    }
    alert_names(spec)
        .into_iter()
        .filter(|name| !config.alerts.contains_key(name))
        .map(|name| {
            err(
                format!(
                    "alert `{name}` reaches no one in `{}`: it is only counted (accord_alerts_total) and logged",
                    config.env
                ),
                format!("route it to a webhook: `[alerts.{name}] webhook = {{ env = \"VAR\" }}` (or `[alerts.default]` for every alert)"),
            )
        })
        .collect()
}

/// Listeners with TLS that ask no client certificate (no `ca`) of a system that declares
/// the names its certificates carry: those names cannot be checked there.
fn unchecked_certificate_names(spec: &Spec, config: &Config) -> Vec<ConfigError> {
    let mut out = vec![];
    for e in config.endpoints.values() {
        if config.tls.server(&e.name).is_none() || e.setting("ca").is_some() {
            continue;
        }
        for s in super::tls::senders_to(spec, &e.name) {
            if s.certificate_names.is_empty() {
                continue;
            }
            let message = format!(
                "endpoint `{}` ({}) receives from `{}` with TLS but asks no client certificate, so its certificate_names ({}) are not checked there",
                e.name,
                e.loc,
                s.system,
                s.certificate_names.join(", ")
            );
            if !out.iter().any(|w: &ConfigError| w.message == message) {
                out.push(err(
                    message,
                    "give the endpoint `ca:` (the CA of the senders' certificates) for mutual TLS",
                ));
            }
        }
    }
    out
}

/// The fewest bytes an HS256 secret may have: the hash's own size (RFC 7518 3.2).
pub const HS256_MIN_BYTES: usize = 32;

/// What `[auth]` must say when the estate has an API interface: a key to check tokens
/// with, the issuer and audience every token must name, an HS256 secret long enough to
/// resist guessing, and none at all in a production environment (whoever holds a shared
/// secret can mint tokens; production takes RS256 keys from the authorisation server's
/// JWKS).
fn check_auth(auth: &Auth, spec: &Spec, env: &str) -> Vec<ConfigError> {
    let Some(api) = spec
        .interfaces
        .iter()
        .find(|i| !i.serves.is_empty() || !i.accepts.is_empty())
    else {
        return vec![];
    };
    let needed = format!("the API interface `{}` ({})", api.name, api.loc);
    let mut errors = vec![];
    if auth.jwks.is_none() && auth.hs256_secret.is_none() {
        errors.push(err(
            format!("[auth] has no key to check the bearer tokens of {needed} with"),
            "set `jwks = \"path\"` to the authorisation server's JSON Web Key Set (RS256)",
        ));
    }
    for (key, value, what) in [
        ("issuer", &auth.issuer, "`iss`"),
        ("audience", &auth.audience, "`aud`"),
    ] {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            errors.push(err(
                format!("[auth] {key} is not set: every token's {what} is checked against it"),
                format!(
                    "set `{key} = \"...\"` under [auth] to the value your authorisation server puts in {what} (needed by {needed})"
                ),
            ));
        }
    }
    if let Some(path) = &auth.jwks {
        let read = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot be read: {e}"))
            .and_then(|t| {
                serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(&t)
                    .map_err(|e| format!("is not a JSON Web Key Set: {e}"))
            });
        match read {
            Ok(set) if set.keys.is_empty() => errors.push(err(
                format!("[auth] jwks {} has no keys", path.display()),
                "give the file the authorisation server publishes at its jwks_uri",
            )),
            Ok(_) => {}
            Err(why) => errors.push(err(
                format!("[auth] jwks {} {why}", path.display()),
                "give the file the authorisation server publishes at its jwks_uri; it is read again when a token names a key it lacks",
            )),
        }
    }
    if let Some(secret) = &auth.hs256_secret {
        if spec.production_environments.iter().any(|e| e == env) {
            errors.push(err(
                format!("[auth] hs256_secret is set in `{env}`, an environment of kind production"),
                "anyone who holds a shared secret can mint tokens: in production give the authorisation server's RS256 keys with `jwks = \"path\"` and remove hs256_secret",
            ));
        } else if secret.len() < HS256_MIN_BYTES {
            errors.push(err(
                format!(
                    "[auth] hs256_secret is {} bytes long; it must have at least {HS256_MIN_BYTES}",
                    secret.len()
                ),
                "make one with `openssl rand -base64 48`; an empty one is refused too",
            ));
        }
    }
    errors
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
    let journal = match config["journal"]["url"].as_str() {
        Some(url) => {
            let bad = |message: String| {
                vec![ConfigError {
                    message,
                    help: "write url = \"postgres://USER@HOST:PORT/DATABASE\" and the password as { env = \"VAR\" } or { file = \"path\" }".into(),
                }]
            };
            let password = secret(&config["journal"]["password"])
                .map_err(|e| bad(format!("[journal] password: {e}")))?;
            let ca = config["journal"]["ca"].as_str().map(PathBuf::from);
            let mut target = super::journal::pg::PgTarget::from_url(url, password.as_deref(), ca)
                .map_err(|e| bad(format!("[journal] url: {}", e.0)))?;
            if let Some(n) = config["journal"]["writers"].as_u64() {
                target.writers = n.clamp(1, 32) as usize;
            }
            if config["journal"]["lane_placement"].as_str() == Some("with-processor") {
                target.lanes_with_processor = true;
            }
            Store::Postgres(std::sync::Arc::new(target))
        }
        None => Store::Sqlite(
            config["journal"]["path"]
                .as_str()
                .map(PathBuf::from)
                .unwrap_or_else(|| store.join("journal.sqlite")),
        ),
    };
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
    let mut errors = check_auth(&auth, spec, env);
    for (_, e) in endpoints_in_use(spec, &endpoints) {
        for problem in [e.timeout().err(), e.max_frame().err()]
            .into_iter()
            .flatten()
        {
            if !errors.contains(&problem) {
                errors.push(problem);
            }
        }
    }
    let admin_token = admin_token(&config["admin"]).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let admin_tls = admin_tls(&config["admin"]).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let mut alerts = alert_routes(&config["alerts"]).unwrap_or_else(|e| {
        errors.extend(e);
        BTreeMap::new()
    });
    route_service_levels(spec, &mut alerts);
    let smtp = smtp(&config["smtp"], &alerts).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let tls = super::tls::EndpointTls::build(
        spec,
        &endpoints,
        admin_tls,
        jiff::Timestamp::now().as_second(),
    )
    .unwrap_or_else(|e| {
        errors.extend(e);
        Default::default()
    });
    let console = super::console::settings::from_config(&config["console"], secret)
        .unwrap_or_else(|e| {
            errors.push(err(
                e,
                "each [console.operators.NAME] has role = \"viewer\", \"operator\" or \"admin\" and password = the argon2id hash (a secret reference); [console.oidc] has issuer, client_id, redirect_url and [console.oidc.roles]",
            ));
            None
        });
    if console.is_some() && config["admin"]["listen"].is_null() {
        errors.push(err(
            "[console] is set but there is no admin listener to serve it",
            "give [admin] listen, e.g. \"127.0.0.1:9464\" (with a certificate unless it is loopback)",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Config {
        env: env.to_string(),
        endpoints,
        journal,
        sync,
        admin: config["admin"]["listen"].as_str().map(str::to_string),
        admin_token,
        limits: Limits {
            max_frame_bytes: limit("max_frame_bytes", 16 << 20) as usize,
            max_connections: limit("max_connections", 256) as usize,
            max_connections_per_address: limit("max_connections_per_address", 64) as usize,
            idle_timeout_s: limit("idle_timeout_s", 300),
            header_timeout_s: limit("header_timeout_s", 10).max(1),
            request_timeout_s: limit("request_timeout_s", 30).max(1),
            requests_per_s: limit("requests_per_s", 500).min(u32::MAX as u64) as u32,
            request_burst: limit("request_burst", 1000).clamp(1, u32::MAX as u64) as u32,
            lanes: limit("lanes", 4).clamp(1, 64) as u32,
        },
        auth,
        api_base_url: config["api"]["base_url"]
            .as_str()
            .map(|u| u.trim_end_matches('/').to_string()),
        tls: std::sync::Arc::new(tls),
        tls_expiry_warning_days: config["tls"]["expiry_warning_days"]
            .as_u64()
            .unwrap_or(30)
            .min(3650) as u32,
        alerts,
        console,
        smtp,
    })
}

/// An interface's service-level alerts (`sla:I`, `backlog:I`, `quiet:I`) without a route
/// of their own go where the interface's own alerts go: the route of the first alert name
/// its reply policies raise (`alert "lab-oncall"`) that has one. So the people the
/// contract names for an interface hear of its SLA breaches too, before `default`.
fn route_service_levels(spec: &Spec, routes: &mut BTreeMap<String, super::alerts::Route>) {
    for i in &spec.interfaces {
        let own = i
            .replies
            .iter()
            .flat_map(|r| r.actions.iter())
            .find_map(|a| match a {
                accord_runtime::spec::Action::Alert { target } => routes.get(target).cloned(),
                _ => None,
            });
        let Some(route) = own else { continue };
        for kind in ["sla", "backlog", "quiet"] {
            routes
                .entry(format!("{kind}:{}", i.name))
                .or_insert_with(|| route.clone());
        }
    }
}

/// `[alerts.NAME]`: where alerts of each name go (`default`: those of a name with no
/// route of its own): a webhook, mail recipients, or both. A webhook URL is a secret (it
/// lets anyone post to the channel): text, `{ env = "VAR" }` or `{ file = "path" }`.
fn alert_routes(
    alerts: &Value,
) -> Result<BTreeMap<String, super::alerts::Route>, Vec<ConfigError>> {
    let (mut routes, mut errors) = (BTreeMap::new(), vec![]);
    for (name, a) in alerts.as_object().into_iter().flatten() {
        let format = a["format"].as_str().unwrap_or("json");
        let Some(format) = super::alerts::Format::parse(format) else {
            errors.push(err(
                format!("[alerts.{name}] format `{format}` is not json, slack or teams"),
                "json posts Accord's own JSON; slack and teams post the `text` their incoming webhooks take",
            ));
            continue;
        };
        let webhook = match secret(&a["webhook"]) {
            Ok(Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
                Some(url.trim().to_string())
            }
            Ok(Some(_)) => {
                errors.push(err(
                    format!("[alerts.{name}] webhook is not an http(s) URL"),
                    "give the URL the channel's incoming webhook has",
                ));
                continue;
            }
            Ok(None) => None,
            Err(why) => {
                errors.push(err(
                    format!("[alerts.{name}] webhook: {why}"),
                    "set it, or remove the route",
                ));
                continue;
            }
        };
        let email: Vec<String> = a["email"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect();
        if webhook.is_none() && email.is_empty() {
            errors.push(err(
                format!("[alerts.{name}] sends nowhere"),
                "give it `webhook = ...`, `email = [\"...\"]`, or both",
            ));
            continue;
        }
        routes.insert(
            name.clone(),
            super::alerts::Route {
                webhook,
                format,
                email,
            },
        );
    }
    if errors.is_empty() {
        Ok(routes)
    } else {
        Err(errors)
    }
}

/// Whether `host` (a name, or an address with or without IPv6 brackets) is this machine,
/// where plain text does not cross the network.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `[smtp]`: the mail server alerts are mailed through; needed when a route has `email`.
fn smtp(
    smtp: &Value,
    routes: &BTreeMap<String, super::alerts::Route>,
) -> Result<Option<super::alerts::Smtp>, ConfigError> {
    let mails = routes.values().any(|r| !r.email.is_empty());
    let Some(host) = smtp["host"].as_str() else {
        return if mails {
            Err(err(
                "alerts are to be mailed, but [smtp] has no host",
                "set `host`, `from` (and `port`, `username`, `password`) under [smtp]",
            ))
        } else {
            Ok(None)
        };
    };
    let starttls = smtp["starttls"].as_str().unwrap_or("required") != "off";
    let from = smtp["from"].as_str().ok_or_else(|| {
        err(
            "[smtp] has no `from` address",
            "set `from = \"accord@hospital.example\"`",
        )
    })?;
    let password = secret(&smtp["password"]).map_err(|why| {
        err(
            format!("[smtp] password: {why}"),
            "set it, or remove username",
        )
    })?;
    let login = match (smtp["username"].as_str(), password) {
        (Some(u), Some(p)) => Some((u.to_string(), p)),
        (None, None) => None,
        _ => {
            return Err(err(
                "[smtp] has a username without a password, or a password without a username",
                "give both, or neither",
            ))
        }
    };
    if login.is_some() && !starttls && !is_loopback(host) {
        return Err(err(
            format!("[smtp] would send its password to {host} in the clear (starttls = \"off\")"),
            "keep STARTTLS required for a relay on another host, or use a relay on this host without a login",
        ));
    }
    let ca = match smtp["ca"].as_str() {
        Some(_) if !starttls => {
            return Err(err(
                "[smtp] has a `ca`, but starttls = \"off\" never checks a certificate",
                "remove `ca`, or require STARTTLS",
            ))
        }
        Some(path) => {
            let pem = accord_hl7::tls::Pem::load(path)
                .and_then(|p| p.certificates().map(|_| p))
                .map_err(|e| {
                    err(
                        format!("[smtp] ca: {e}"),
                        "give the path of the PEM file of the CA that signed the mail server's certificate",
                    )
                })?;
            Some(pem.0)
        }
        None => None,
    };
    Ok(Some(super::alerts::Smtp {
        host: host.to_string(),
        port: smtp["port"]
            .as_u64()
            .map_or(if starttls { 587 } else { 25 }, |p| p.min(65535) as u16),
        from: from.to_string(),
        starttls,
        ca,
        login,
    }))
}

/// The fewest bytes the admin listener's bearer token may have: long enough that it
/// cannot be guessed by asking.
pub const ADMIN_TOKEN_MIN_BYTES: usize = 32;

/// `[admin] token`: a secret of at least [`ADMIN_TOKEN_MIN_BYTES`], or none.
fn admin_token(admin: &Value) -> Result<Option<super::credentials::Secret>, ConfigError> {
    let hint = "a random value of at least 32 characters, e.g. from `openssl rand -hex 32`, as { env = \"VAR\" } or { file = \"path\" }";
    let token = secret(&admin["token"]).map_err(|e| err(format!("[admin] token: {e}"), hint))?;
    match token {
        None => Ok(None),
        Some(t) if t.trim().len() < ADMIN_TOKEN_MIN_BYTES => Err(err(
            format!(
                "[admin] token has {} bytes, fewer than the {ADMIN_TOKEN_MIN_BYTES} a token must have",
                t.trim().len()
            ),
            hint,
        )),
        Some(t) => Ok(Some(super::credentials::Secret(t.trim().to_string()))),
    }
}

/// The admin listener's TLS: `[admin] certificate` and `private_key` (each a PEM file's
/// path or, as a secret, the PEM), both or neither.
fn admin_tls(admin: &Value) -> Result<Option<accord_hl7::tls::ServerIdentity>, ConfigError> {
    let pem = |key: &str| -> Result<Option<accord_hl7::tls::Pem>, ConfigError> {
        let value = secret(&admin[key]).map_err(|e| {
            err(
                format!("[admin] {key}: {e}"),
                "give a PEM file's path, { env = \"VAR\" } or { file = \"path\" }",
            )
        })?;
        value
            .map(|v| accord_hl7::tls::Pem::load(&v))
            .transpose()
            .map_err(|e| {
                err(
                    format!("[admin] {key}: {e}"),
                    "give the path of a PEM file, or the PEM itself",
                )
            })
    };
    match (pem("certificate")?, pem("private_key")?) {
        (None, None) => Ok(None),
        (Some(certificate), Some(private_key)) => Ok(Some(accord_hl7::tls::ServerIdentity {
            certificate,
            private_key,
            client_ca: None,
            client_names: vec![],
        })),
        _ => Err(err(
            "[admin] has a certificate without its private key, or a key without its certificate",
            "give both `certificate` and `private_key` under [admin] for HTTPS, or neither",
        )),
    }
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
        // A setting the contract leaves to this environment's file, or its endpoint's
        // whole table, or the whole [endpoints] section.
        ValidationErrorKind::Required { property }
            if section == "endpoints" || property.as_str() == Some("endpoints") =>
        {
            let endpoints = &schema["properties"]["endpoints"];
            let within = at.trim_start_matches('/').split('/').nth(1);
            let missing = property.as_str().unwrap_or_default();
            let (endpoint, key) = match within {
                Some(endpoint) => (endpoint.to_string(), missing.to_string()),
                None => {
                    let endpoint = if missing == "endpoints" {
                        endpoints["required"][0].as_str().unwrap_or_default()
                    } else {
                        missing
                    };
                    let key = endpoints["properties"][endpoint]["required"][0]
                        .as_str()
                        .unwrap_or_default();
                    (endpoint.to_string(), key.to_string())
                }
            };
            let about = endpoints["properties"][&endpoint]["properties"][&key]["description"]
                .as_str()
                .unwrap_or_default();
            err(
                format!("endpoint `{endpoint}` has no `{key}` for environment `{env}`"),
                format!("{about}: set `{key} = ...` under [endpoints.{endpoint}] in {file}"),
            )
        }
        // The SQLite file's settings beside a PostgreSQL journal's `url`.
        ValidationErrorKind::Not { .. } if at == "/journal" => {
            let sqlite_only: Vec<&str> = ["path", "sync"]
                .into_iter()
                .filter(|k| e.instance.get(*k).is_some())
                .collect();
            err(
                format!(
                    "[journal] in {file} has a PostgreSQL `url` and the SQLite file's {}",
                    sqlite_only
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "a journal is one or the other: remove `url` to keep the SQLite file, or the SQLite settings (a PostgreSQL commit is as durable as the server's synchronous_commit)",
            )
        }
        // A PostgreSQL journal's setting (`dependencies` on `url`) beside the SQLite file.
        ValidationErrorKind::Required { property }
            if section == "journal" && property.as_str() == Some("url") =>
        {
            let needs_url: Vec<String> = schema["properties"]["journal"]["dependencies"]
                .as_object()
                .into_iter()
                .flat_map(|d| d.keys())
                .filter(|k| e.instance.get(k.as_str()).is_some())
                .map(|k| format!("`{k}`"))
                .collect();
            err(
                format!(
                    "[journal] {} in {file} applies to a PostgreSQL journal, and the journal has no `url`",
                    needs_url.join(", ")
                ),
                "remove it to keep the SQLite journal, or give the PostgreSQL journal's `url = \"postgres://USER@HOST:PORT/DATABASE\"` under [journal]",
            )
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An estate with one API interface and a production environment `prod`.
    fn api_spec() -> Spec {
        serde_json::from_value(json!({
            "estate": "E", "version": "1.0.0", "environments": ["dev", "prod"],
            "production_environments": ["prod"], "engine_system": "hub",
            "endpoints": [], "profiles": [], "flows": [],
            "interfaces": [{
                "name": "portal_fhir", "version": "1.0.0", "role": "service", "from": "portal",
                "to": "hub", "endpoint": "portal_api", "status": "active", "messages": [],
                "profile": null, "transforms": false, "ack": {"mode": "commit", "timeout_ms": null},
                "replies": [], "idempotency": [], "ordering": null, "retain_ms": null,
                "serves": [{ "resource": "Patient", "record": "Patient", "mapping": "m", "keys": ["mrn"] }],
                "loc": "interfaces.accord:20"
            }]
        }))
        .unwrap()
    }

    fn auth(secret: Option<&str>) -> Auth {
        Auth {
            jwks: None,
            hs256_secret: secret.map(str::to_string),
            issuer: Some("https://as.example.org".into()),
            audience: Some("https://api.example.org".into()),
        }
    }

    fn errors(auth: &Auth, env: &str) -> Vec<String> {
        check_auth(auth, &api_spec(), env)
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    /// A setting the contract leaves to this environment's file is named when the file
    /// lacks it, whether the key, its endpoint's table or the whole section is missing.
    #[test]
    fn a_setting_left_to_the_file_is_named_when_missing() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["endpoints"],
            "properties": { "endpoints": {
                "type": "object",
                "required": ["archive"],
                "properties": { "archive": {
                    "type": "object",
                    "required": ["path"],
                    "properties": { "path": { "description": "archive.path for dev: the contract leaves it to this file (estate.accord:7)" } }
                } }
            } }
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&schema)
            .unwrap();
        for config in [
            serde_json::json!({}),
            serde_json::json!({ "endpoints": {} }),
            serde_json::json!({ "endpoints": { "archive": {} } }),
        ] {
            let errors: Vec<ConfigError> = validator
                .iter_errors(&config)
                .map(|e| explain(&e, &schema, "dev", "dev.toml"))
                .collect();
            assert_eq!(errors.len(), 1, "{config}");
            assert_eq!(
                errors[0].message, "endpoint `archive` has no `path` for environment `dev`",
                "{config}"
            );
            assert!(
                errors[0]
                    .help
                    .contains("under [endpoints.archive] in dev.toml"),
                "{}",
                errors[0].help
            );
        }
        let ok = serde_json::json!({ "endpoints": { "archive": { "path": "/srv/archive" } } });
        assert_eq!(validator.iter_errors(&ok).count(), 0);
    }

    #[test]
    fn security_hs256_secrets_are_long_enough_and_not_in_production() {
        let long = "x".repeat(HS256_MIN_BYTES);
        assert_eq!(errors(&auth(Some(&long)), "dev"), Vec::<String>::new());
        for short in ["", "k", &"x".repeat(HS256_MIN_BYTES - 1)] {
            let got = errors(&auth(Some(short)), "dev");
            assert!(got[0].contains("at least 32"), "{short:?}: {got:?}");
        }
        let got = errors(&auth(Some(&long)), "prod");
        assert!(got[0].contains("kind production"), "{got:?}");
    }

    #[test]
    fn security_tokens_need_a_key_an_issuer_and_an_audience() {
        let none = Auth::default();
        let got = errors(&none, "dev");
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].contains("no key"));
        assert!(got[1].contains("issuer"));
        assert!(got[2].contains("audience"));
        let mut blank = auth(Some(&"x".repeat(40)));
        blank.issuer = Some("  ".into());
        assert!(errors(&blank, "dev")[0].contains("issuer"));
        // An estate without an API interface needs no [auth].
        let mut spec = api_spec();
        spec.interfaces[0].serves.clear();
        assert!(check_auth(&none, &spec, "dev").is_empty());
    }

    pub(crate) fn endpoint(host: &str, tls: Option<&str>) -> BTreeMap<String, ResolvedEndpoint> {
        let mut values = BTreeMap::from([("host".to_string(), host.to_string())]);
        if let Some(t) = tls {
            values.insert("tls".into(), t.into());
        }
        BTreeMap::from([(
            "portal_api".to_string(),
            ResolvedEndpoint {
                name: "portal_api".into(),
                transport: "http".into(),
                values,
                loc: "estate.accord:9".into(),
            },
        )])
    }

    fn config(env: &str, endpoints: BTreeMap<String, ResolvedEndpoint>) -> Config {
        Config {
            env: env.into(),
            endpoints,
            journal: Store::Sqlite("j".into()),
            sync: SyncPolicy::Full,
            admin: Some("0.0.0.0:9464".into()),
            admin_token: None,
            limits: Limits {
                max_frame_bytes: 1 << 20,
                max_connections: 8,
                max_connections_per_address: 8,
                idle_timeout_s: 1,
                lanes: 1,
                header_timeout_s: 1,
                request_timeout_s: 1,
                requests_per_s: 1,
                request_burst: 1,
            },
            auth: Auth::default(),
            api_base_url: None,
            tls: Default::default(),
            tls_expiry_warning_days: 30,
            alerts: BTreeMap::new(),
            console: None,
            smtp: None,
        }
    }

    #[test]
    fn security_listening_everywhere_in_production_is_a_warning() {
        let spec = api_spec();
        let w = warnings(&spec, &config("prod", endpoint("0.0.0.0", None)));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].message.contains("every address"));
        assert!(w[1].message.contains("[admin]"));
        assert!(warnings(&spec, &config("dev", endpoint("0.0.0.0", None))).is_empty());
        let mut quiet = config("prod", endpoint("10.1.2.3", None));
        quiet.admin = Some("127.0.0.1:9464".into());
        assert!(warnings(&spec, &quiet).is_empty());
        // A token without TLS would be sent in the clear.
        let mut token = config("prod", endpoint("10.1.2.3", None));
        token.admin_token = Some(super::super::credentials::Secret("t".repeat(32)));
        let w = warnings(&spec, &token);
        assert!(w[0].message.contains("in the clear"), "{w:?}");
    }

    #[test]
    fn security_the_admin_token_is_long_or_absent() {
        let short = serde_json::json!({ "token": "letmein" });
        let e = admin_token(&short).unwrap_err();
        assert!(e.message.contains("fewer than the 32"), "{}", e.message);
        assert!(!e.message.contains("letmein"), "the token is never shown");
        assert!(admin_token(&serde_json::json!({ "token": "" })).is_err());
        assert!(admin_token(&serde_json::json!({})).unwrap().is_none());
        let long = serde_json::json!({ "token": "k".repeat(40) });
        assert!(admin_token(&long).unwrap().is_some());
    }

    #[test]
    fn security_smtp_sends_no_password_in_the_clear_and_checks_a_given_ca() {
        let none = BTreeMap::new();
        let mail = |v: serde_json::Value| smtp(&v, &none).map(|s| s.unwrap());
        let relay = serde_json::json!({ "host": "mail.hospital.example", "from": "a@b.example",
            "username": "accord", "password": "pw", "starttls": "off" });
        let e = mail(relay).unwrap_err();
        assert!(e.message.contains("in the clear"), "{}", e.message);
        let local = serde_json::json!({ "host": "127.0.0.1", "from": "a@b.example",
            "username": "accord", "password": "pw", "starttls": "off" });
        assert!(!mail(local).unwrap().starttls);
        for (host, here) in [
            ("localhost", true),
            ("::1", true),
            ("[::1]", true),
            ("127.0.0.2", true),
            ("10.0.0.1", false),
            ("localhost.example.org", false),
        ] {
            assert_eq!(is_loopback(host), here, "{host}");
        }
        let e = mail(
            serde_json::json!({ "host": "mail.hospital.example", "from": "a@b.example",
            "ca": "/no/such/ca.pem" }),
        )
        .unwrap_err();
        assert!(e.message.starts_with("[smtp] ca: "), "{}", e.message);
        let e = mail(
            serde_json::json!({ "host": "127.0.0.1", "from": "a@b.example",
            "ca": "/no/such/ca.pem", "starttls": "off" }),
        )
        .unwrap_err();
        assert!(e.message.contains("never checks"), "{}", e.message);
        let default =
            mail(serde_json::json!({ "host": "mail.hospital.example", "from": "a@b.example" }))
                .unwrap();
        assert_eq!(
            (default.starttls, default.port, default.ca),
            (true, 587, None)
        );
    }

    #[test]
    fn security_the_secret_is_never_printed() {
        let shown = format!("{:?}", auth(Some("a very secret shared key of 32 bytes")));
        assert!(!shown.contains("very secret"), "{shown}");
        assert!(shown.contains("***"));
    }
}
