//! The JSON Schema of a production's configuration file, one per environment: which
//! `env(...)` settings and `secret(...)` values that environment needs (required), which
//! endpoint settings may be overridden, and the journal and admin sections. Each setting's
//! description names the endpoint and the contract line that uses it, so the engine's
//! error for a missing or wrong setting can point back at the `.accord` source.

use crate::ir::{Estate, SettingValue};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Who uses a setting: `endpoint winpath_mllp (host) at estate.accord:66`.
fn users(ir: &Estate, env: Option<&str>, secret: bool) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &ir.endpoints {
        for s in &e.settings {
            for v in &s.values {
                if env.is_some() && v.env.is_some() && v.env.as_deref() != env {
                    continue;
                }
                // A value for this environment written explicitly hides the catch-all one.
                if v.env.is_none()
                    && env.is_some()
                    && s.values.iter().any(|o| o.env.as_deref() == env)
                {
                    continue;
                }
                let name = match (&v.value, secret) {
                    (SettingValue::Env(n), false) | (SettingValue::Secret(n), true) => n,
                    _ => continue,
                };
                out.entry(name.clone()).or_default().push(format!(
                    "endpoint {} ({}) at {}:{}",
                    e.name, s.key, e.loc.file, e.loc.line
                ));
            }
        }
    }
    out
}

fn section(
    all: &BTreeMap<String, Vec<String>>,
    needed: &BTreeMap<String, Vec<String>>,
    what: &str,
    value_schema: Value,
) -> Value {
    let mut props = Map::new();
    for (name, used) in all {
        let mut schema = value_schema.clone();
        schema["description"] = json!(format!("{what}(\"{name}\"): {}", used.join("; ")));
        props.insert(name.clone(), schema);
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": props,
        "required": needed.keys().collect::<Vec<_>>(),
    })
}

/// The schema of the configuration file for environment `env`.
pub fn config_schema(ir: &Estate, env: &str) -> Value {
    let settings = section(
        &users(ir, None, false),
        &users(ir, Some(env), false),
        "env",
        json!({ "type": ["string", "integer"] }),
    );
    let secrets = section(
        &users(ir, None, true),
        &users(ir, Some(env), true),
        "secret",
        json!({ "oneOf": secret_forms() }),
    );
    let mut endpoints = Map::new();
    let mut endpoints_needed = vec![];
    for e in &ir.endpoints {
        let mut props = Map::new();
        let mut needed = vec![];
        for s in &e.settings {
            // Left out of this environment by the contract: the configuration gives it.
            let left_out = s.from_config.iter().any(|e| e == env);
            let description = if left_out {
                format!(
                    "{}.{} for {env}: the contract leaves it to this file ({}:{})",
                    e.name, s.key, e.loc.file, e.loc.line
                )
            } else {
                format!(
                    "overrides {}.{} ({}:{})",
                    e.name, s.key, e.loc.file, e.loc.line
                )
            };
            if left_out {
                needed.push(s.key.clone());
            }
            props.insert(
                s.key.clone(),
                json!({ "type": ["string", "integer"], "description": description }),
            );
        }
        if !needed.is_empty() {
            endpoints_needed.push(e.name.clone());
        }
        let mut endpoint =
            json!({ "type": "object", "additionalProperties": false, "properties": props });
        if !needed.is_empty() {
            endpoint["required"] = json!(needed);
        }
        endpoints.insert(e.name.clone(), endpoint);
    }
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("Configuration of the production \"{}\" {} for environment {env}", ir.name, ir.version),
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "settings": settings,
            "secrets": secrets,
            "endpoints": endpoints_schema(endpoints, endpoints_needed.clone()),
            "alerts": {
                "description": "Where alerts are posted, by alert name: the contract's (`alert \"lab-oncall\"`), `sla:INTERFACE`, `backlog:INTERFACE`, `quiet:INTERFACE`, `certificate:ENDPOINT`; `default` takes those with no route of their own.",
                "type": "object",
                "additionalProperties": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "email": { "type": "array", "items": { "type": "string" }, "description": "Mail recipients, through [smtp]." },
                        "webhook": {
                            "description": "The webhook URL (a secret: anyone holding it can post to the channel): text, { env = \"VAR\" } or { file = \"path\" }.",
                            "oneOf": secret_forms()
                        },
                        "format": { "enum": ["json", "slack", "teams"], "description": "json: Accord's own JSON (default); slack and teams: the `text` their incoming webhooks take." }
                    }
                }
            },
            "smtp": {
                "description": "The mail server alerts with `email` recipients are sent through.",
                "type": "object", "additionalProperties": false,
                "properties": {
                    "host": { "type": "string" },
                    "port": { "type": "integer", "minimum": 1, "maximum": 65535, "description": "Default 587 (STARTTLS), or 25 with starttls = \"off\"." },
                    "from": { "type": "string", "description": "The sender address." },
                    "starttls": { "enum": ["required", "off"], "description": "required (default): the connection is upgraded to TLS, verified against the system's roots (or `ca`), or nothing is sent; off: plain SMTP, for a relay on the same host (no password is sent in the clear to another host)." },
                    "ca": { "type": "string", "description": "PEM file of the CA that signed the mail server's certificate, trusted in place of the system's roots." },
                    "username": { "type": "string" },
                    "password": {
                        "description": "text, { env = \"VAR\" } or { file = \"path\" }.",
                        "oneOf": secret_forms()
                    }
                }
            },
            "journal": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "path": { "type": "string", "description": "The SQLite journal file (default: STORE/journal.sqlite)." },
                    "sync": { "enum": ["full", "normal", "off"], "description": "fsync policy: full syncs every commit (default), normal syncs at checkpoints, off never. SQLite only: PostgreSQL's commits are as durable as its synchronous_commit." },
                    "url": { "type": "string", "pattern": "^postgres(ql)?://", "description": "A PostgreSQL journal in place of the SQLite file: postgres://USER@HOST:PORT/DATABASE (?sslmode=require for TLS)." },
                    "password": {
                        "description": "The PostgreSQL role's password: text, { env = \"VAR\" } or { file = \"path\" }.",
                        "oneOf": secret_forms()
                    },
                    "ca": { "type": "string", "description": "PEM file of the CA that signed the PostgreSQL server's certificate (default: the system's roots)." },
                    "writers": { "type": "integer", "minimum": 1, "maximum": 32, "description": "PostgreSQL only: transactions this node commits side by side, each on a connection of its own (default 4). Keep the nodes' total near twice the server's cores." },
                    "lane_placement": { "enum": ["spread", "with-processor"], "description": "PostgreSQL only: where the operations' lanes run when several nodes share the journal. spread (default) shares each operation's lanes out among the live nodes; with-processor runs them all on the node that processes, which hands them what it queues in memory instead of through the journal. Every node of an estate sets the same." }
                },
                "not": { "anyOf": [{ "required": ["url", "path"] }, { "required": ["url", "sync"] }] },
                "dependencies": { "writers": ["url"], "lane_placement": ["url"], "password": ["url"], "ca": ["url"] }
            },
            "admin": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "listen": { "type": "string", "description": "Address of /health, /ready and /metrics, e.g. 127.0.0.1:9464." },
                    "token": {
                        "description": "Ask scrapers of /metrics for this bearer token (at least 32 characters): { env = \"VAR\" }, { file = \"path\" } or the value. /health and /ready stay open.",
                        "oneOf": secret_forms()
                    },
                    "certificate": {
                        "description": "Serve the admin endpoints over HTTPS with this PEM certificate chain: a file's path, { env = \"VAR\" } or { file = \"path\" } (with private_key).",
                        "oneOf": secret_forms()
                    },
                    "private_key": {
                        "description": "The PEM private key of the admin certificate: a file's path, { env = \"VAR\" } or { file = \"path\" }.",
                        "oneOf": secret_forms()
                    }
                }
            },
            "console": {
                "description": "The operations console, served on the admin listener under /console: its local operators, each with a role and a password hash, the OpenID Connect provider operators may sign in through, and how long a session may sit idle.",
                "type": "object", "additionalProperties": false,
                "anyOf": [{ "required": ["operators"] }, { "required": ["oidc"] }],
                "properties": {
                    "idle_minutes": { "type": "integer", "minimum": 1, "maximum": 1440, "description": "A session unused this many minutes ends (default 15)." },
                    "operators": {
                        "description": "The operators, by login name.",
                        "type": "object", "minProperties": 1,
                        "additionalProperties": {
                            "type": "object", "additionalProperties": false,
                            "required": ["role", "password"],
                            "properties": {
                                "role": { "enum": ["viewer", "operator", "admin"], "description": "viewer: sees the pages; operator: also resends and discards dead letters; admin: also replays and reads the audit trail." },
                                "password": {
                                    "description": "The argon2id hash of the operator's password (`PRODUCTION console hash-password`): { env = \"VAR\" }, { file = \"path\" } or the value.",
                                    "oneOf": secret_forms()
                                },
                                "phi": { "type": "boolean", "description": "Whether the operator sees patients' identifiers and demographics unmasked (default: yes for operator and admin, no for viewer)." }
                            }
                        }
                    },
                    "oidc": console_oidc_schema()
                }
            },
            "tls": {
                "description": "Certificates in use: the endpoints' (tls: required) and the admin listener's.",
                "type": "object", "additionalProperties": false,
                "properties": {
                    "expiry_warning_days": { "type": "integer", "minimum": 0, "maximum": 3650, "description": "Warn at start and raise an alert while running when a certificate expires within this many days (default 30)." }
                }
            },
            "auth": {
                "description": "How API interfaces (FHIR facades) check bearer tokens: OAuth2 JWTs with SMART v2 scopes.",
                "type": "object", "additionalProperties": false,
                "properties": {
                    "jwks": { "type": "string", "description": "A JSON Web Key Set file of the authorisation server's RS256 keys." },
                    "hs256_secret": {
                        "description": "A shared HS256 secret (tests and development): text, { env = \"VAR\" } or { file = \"path\" }.",
                        "oneOf": secret_forms()
                    },
                    "issuer": { "type": "string", "description": "The `iss` every token must carry (required when the estate has an API interface)." },
                    "audience": { "type": "string", "description": "The `aud` every token must carry (required when the estate has an API interface)." }
                }
            },
            "api": {
                "description": "The FHIR facades of API interfaces.",
                "type": "object", "additionalProperties": false,
                "properties": {
                    "base_url": { "type": "string", "description": "The address clients reach the API at (e.g. https://portal-api.example.org/fhir), used in the links of search results; by default the address it listens on. The request's Host header is never used." }
                }
            },
            "limits": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "max_frame_bytes": { "type": "integer", "minimum": 1024, "description": "The largest MLLP frame accepted (default 16 MiB); a bigger one is NACKed and stored as rejected with its first bytes." },
                    "max_connections": { "type": "integer", "minimum": 1, "description": "Connections served at once per listening endpoint (default 256); more are closed on arrival, logged and counted in accord_connections_refused_total." },
                    "max_connections_per_address": { "type": "integer", "minimum": 1, "description": "Connections one client address may hold at once on one listener, MLLP or HTTP (default 64), so one client cannot take every slot; more are closed on arrival and counted." },
                    "header_timeout_s": { "type": "integer", "minimum": 1, "description": "An HTTP client (FHIR API, admin) must send a request's headers within this many seconds, and is closed when idle this long between requests (default 10)." },
                    "request_timeout_s": { "type": "integer", "minimum": 1, "description": "An HTTP request, body included, must be read and answered within this many seconds (default 30); else 408." },
                    "requests_per_s": { "type": "integer", "minimum": 0, "description": "Requests per second one client address may make to an HTTP listener (default 500; 0: no limit); more are answered 429 with Retry-After." },
                    "request_burst": { "type": "integer", "minimum": 1, "description": "How many requests above requests_per_s one client address may make at once (default 1000)." },
                    "idle_timeout_s": { "type": "integer", "minimum": 1, "description": "A connection that sends nothing, or does not read its reply, for this many seconds is closed (default 300)." },
                    "lanes": { "type": "integer", "minimum": 1, "maximum": 64, "description": "Parallel lanes of each operation that has an ordering key, one connection each (default 4). One key's messages always take the same lane, in order; a crash re-sends at most one message per lane." }
                }
            }
        }
    });
    // The file must have the settings the contract leaves to it.
    if !endpoints_needed.is_empty() {
        schema["required"] = json!(["endpoints"]);
    }
    schema
}

/// The `[endpoints]` section: overrides of the contract's values, and the values it leaves
/// to this environment's file (required).
fn endpoints_schema(endpoints: Map<String, Value>, needed: Vec<String>) -> Value {
    let mut section = json!({
        "description": "Endpoint settings that replace the contract's values in this deployment (e.g. a port), and those the contract leaves to this environment's file.",
        "type": "object", "additionalProperties": false, "properties": endpoints
    });
    if !needed.is_empty() {
        section["required"] = json!(needed);
    }
    section
}

/// The schema of `[console.oidc]`, apart: one `json!` of the whole schema would pass the
/// macro's recursion limit.
fn console_oidc_schema() -> serde_json::Value {
    json!({
        "description": "Sign-in through the hospital's OpenID Connect provider (authorization code flow with PKCE); the ID token is checked as the FHIR facade's tokens are, and a claim's values give the role.",
        "type": "object", "additionalProperties": false,
        "required": ["issuer", "client_id", "redirect_url", "roles"],
        "properties": {
            "issuer": { "type": "string", "description": "The provider's issuer identifier, exactly as its tokens' `iss` (https; http only on loopback). Its metadata is read from ISSUER/.well-known/openid-configuration." },
            "client_id": { "type": "string", "description": "The console's client id at the provider." },
            "client_secret": {
                "description": "The client secret of a confidential client (sent as client_secret_basic): { env = \"VAR\" }, { file = \"path\" } or the value. Without it the console is a public client, bound by PKCE alone.",
                "oneOf": secret_forms()
            },
            "redirect_url": { "type": "string", "description": "The console's callback as registered with the provider: https://HOST:PORT/console/oidc/callback." },
            "label": { "type": "string", "description": "The sign-in button says \"Sign in with LABEL\" (default \"single sign-on\")." },
            "scopes": { "type": "array", "items": { "type": "string" }, "description": "The scopes asked for (default [\"openid\", \"profile\"]; openid is always asked for)." },
            "roles_claim": { "type": "string", "description": "The ID token claim holding the operator's groups or roles (default \"roles\"); a dotted path walks objects, e.g. \"realm_access.roles\"." },
            "name_claim": { "type": "string", "description": "The claim naming the operator in the console and the audit trail (default \"preferred_username\", else `sub`)." },
            "roles": {
                "description": "Which value of the roles claim grants which role; the highest held wins, and somebody holding none is refused.",
                "type": "object", "minProperties": 1,
                "additionalProperties": { "enum": ["viewer", "operator", "admin"] }
            },
            "phi": { "type": "string", "description": "The value of the roles claim that grants unmasked patient data; without it, operators and admins see it and viewers do not." },
            "ca": { "type": "string", "description": "The CA bundle (a path or PEM) the provider's certificate must chain to, when not the system's roots." }
        }
    })
}

/// The three ways a secret is given in the file: the value, `{ env = "VAR" }` or
/// `{ file = "path" }`.
fn secret_forms() -> Value {
    json!([
        { "type": "string" },
        { "type": "object", "additionalProperties": false, "required": ["env"], "properties": { "env": { "type": "string" } } },
        { "type": "object", "additionalProperties": false, "required": ["file"], "properties": { "file": { "type": "string" } } }
    ])
}
