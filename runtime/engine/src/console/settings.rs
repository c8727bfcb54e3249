//! The console's part of the configuration (`[console]`): the operators, each a local
//! account with a role and an argon2id password hash held as a secret; the OpenID Connect
//! provider operators may sign in through instead (`[console.oidc]`, read by `oidc`); and
//! how long a session may sit idle.

use super::auth::Role;
use serde_json::Value;
use std::time::Duration;

/// Minutes a session may sit idle unless `[console] idle_minutes` says otherwise.
pub const DEFAULT_IDLE_MINUTES: u64 = 15;

/// `[console]`, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub operators: Vec<Operator>,
    /// The identity provider operators may sign in through, when configured.
    pub oidc: Option<super::oidc::OidcSettings>,
    pub idle: Duration,
}

/// An operator's account.
#[derive(Clone)]
pub struct Operator {
    pub name: String,
    pub role: Role,
    /// The argon2id hash of the password, as a PHC string (`$argon2id$v=19$...`).
    pub hash: String,
    /// Whether the operator sees patient identifiers and demographics unmasked.
    pub phi: bool,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Operator({} {:?}, hash ***)", self.name, self.role)
    }
}

/// `[console]` from the configuration file; `None` when the section is absent (no console).
/// `secret` reads a secret reference (`{ env = ... }`, `{ file = ... }` or the value).
pub fn from_config(
    console: &Value,
    secret: impl Fn(&Value) -> Result<Option<String>, String>,
) -> Result<Option<Settings>, String> {
    if console.is_null() {
        return Ok(None);
    }
    let idle = console["idle_minutes"]
        .as_u64()
        .unwrap_or(DEFAULT_IDLE_MINUTES);
    let mut operators = vec![];
    if let Some(table) = console["operators"].as_object() {
        for (name, o) in table {
            let at = format!("[console.operators.{name}]");
            let role = o["role"]
                .as_str()
                .and_then(Role::parse)
                .ok_or_else(|| format!("{at} role must be viewer, operator or admin"))?;
            let hash = secret(&o["password"])
                .map_err(|e| format!("{at} password: {e}"))?
                .ok_or_else(|| format!("{at} has no password hash"))?;
            super::auth::check_hash(&hash).map_err(|e| {
                format!("{at} password: {e}; make one with `PRODUCTION console hash-password`")
            })?;
            operators.push(Operator {
                name: name.clone(),
                role,
                hash,
                phi: o["phi"].as_bool().unwrap_or(role != Role::Viewer),
            });
        }
    }
    let oidc = super::oidc::OidcSettings::from_config(&console["oidc"], &secret)?;
    if operators.is_empty() && oidc.is_none() {
        return Err(
            "[console] lets nobody in: add [console.operators.NAME] with role and password, or [console.oidc]"
                .into(),
        );
    }
    Ok(Some(Settings {
        operators,
        oidc,
        idle: Duration::from_secs(60 * idle.max(1)),
    }))
}
