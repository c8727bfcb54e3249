//! Who may enter the console and what each may do. Operators log in with a local account
//! whose password is checked against its argon2id hash; a session is a random token in a
//! cookie (HttpOnly, SameSite=Strict, Path=/console, Secure over TLS) that lapses after the
//! configured idle time. Every form carries the session's CSRF token, compared in constant
//! time. Failed logins are throttled per account and per client address. Roles decide
//! actions on the server: a refused action is refused here, whatever the page showed.

use super::settings::Operator;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What an operator may do, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Sees the pages (patient data masked unless granted).
    Viewer,
    /// Also resends, edits and resends, discards, approves and rejects review items.
    Operator,
    /// Also replays and reads the audit trail.
    Admin,
}

/// An action behind a form or a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    View,
    Resend,
    Discard,
    /// Approve or reject a message held for review.
    Review,
    Replay,
    Audit,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The least role an action needs.
    fn needed(a: Action) -> Role {
        match a {
            Action::View => Role::Viewer,
            Action::Resend | Action::Discard | Action::Review => Role::Operator,
            Action::Replay | Action::Audit => Role::Admin,
        }
    }

    pub fn may(self, a: Action) -> bool {
        self >= Role::needed(a)
    }
}

impl Action {
    /// The role an operator needs for this, for the refusal's words.
    pub fn needs(self) -> &'static str {
        Role::needed(self).name()
    }
}

/// Refuses a hash that is not an argon2id PHC string.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a PHC hash string ({e})"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "hashed with {}, not argon2id",
            parsed.algorithm.as_str()
        ));
    }
    Ok(())
}

/// Whether `password` is the one `hash` was made from. Slow by design (tens of
/// milliseconds): call it off the async threads.
pub fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// An argon2id hash of `password` with a fresh salt, as a PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// 32 random bytes, URL-safe base64: a session or CSRF token.
pub fn token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two tokens are equal, in time that does not depend on where they first differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |differ, (x, y)| differ | (x ^ y))
            == 0
}

/// A logged-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    pub operator: String,
    pub role: Role,
    pub phi: bool,
    pub csrf: String,
    last_seen: Instant,
}

/// Failed logins allowed per account or client address within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 5;
/// How long failed logins are counted, and how long a throttled login waits.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The live sessions and the failed logins, in memory: a restart logs everyone out.
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    idle: Duration,
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            live: Mutex::default(),
            failures: Mutex::default(),
            idle,
        }
    }

    /// A new session for `op`; its token (the cookie's value).
    pub fn open(&self, op: &Operator) -> String {
        let id = token();
        let session = Session {
            operator: op.name.clone(),
            role: op.role,
            phi: op.phi,
            csrf: token(),
            last_seen: Instant::now(),
        };
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        // Sessions that lapsed go when a new one comes.
        let idle = self.idle;
        live.retain(|_, s| s.last_seen.elapsed() < idle);
        live.insert(id.clone(), session);
        id
    }

    /// The session of token `id`, if it is live; its idle clock starts again.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let s = live.get_mut(id)?;
        if s.last_seen.elapsed() >= self.idle {
            live.remove(id);
            return None;
        }
        s.last_seen = Instant::now();
        Some(s.clone())
    }

    pub fn close(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// How long logins under `key` (an account, an address) must wait, if throttled.
    pub fn throttled(&self, key: &str) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (n, since) = failures.get(key)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*n >= MAX_FAILURES).then_some(left)
    }

    /// Counts a failed login under `key`.
    pub fn failed(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let entry = failures.entry(key.to_string()).or_insert((0, now));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// Forgets the failures under `key` after a login succeeds.
    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// The session cookie's name.
pub const COOKIE: &str = "accord_console";

/// The `Set-Cookie` value carrying session `id` (`Secure` when served over TLS).
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session token a request's `Cookie` headers carry.
pub fn cookie_of(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(role: Role) -> Operator {
        Operator {
            name: "ana".into(),
            role,
            hash: String::new(),
            phi: false,
        }
    }

    #[test]
    fn console_roles_allow_what_they_name_and_no_more() {
        assert!(Role::Viewer.may(Action::View) && !Role::Viewer.may(Action::Resend));
        assert!(Role::Operator.may(Action::Discard) && !Role::Operator.may(Action::Replay));
        assert!(Role::Operator.may(Action::Review) && !Role::Viewer.may(Action::Review));
        assert!(Role::Admin.may(Action::Replay) && Role::Admin.may(Action::Audit));
        assert_eq!(Action::Replay.needs(), "admin");
    }

    #[test]
    fn console_passwords_are_argon2id_and_checked_whole() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        check_hash(&h).unwrap();
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct hors"));
        assert!(!verify("not a hash", "correct horse"));
        assert!(
            check_hash("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$YWJjZGVmZ2hpamtsbW5vcA")
                .unwrap_err()
                .contains("not argon2id")
        );
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn console_sessions_lapse_when_idle_and_failures_throttle() {
        let s = Sessions::new(Duration::from_millis(50));
        let id = s.open(&operator(Role::Viewer));
        assert_eq!(s.get(&id).unwrap().role, Role::Viewer);
        assert!(s.get("forged").is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.get(&id).is_none(), "idle past the timeout");
        let id = s.open(&operator(Role::Admin));
        s.close(&id);
        assert!(s.get(&id).is_none(), "logged out");
        for _ in 0..MAX_FAILURES - 1 {
            s.failed("ana");
        }
        assert!(s.throttled("ana").is_none());
        s.failed("ana");
        assert!(s.throttled("ana").is_some());
        s.succeeded("ana");
        assert!(s.throttled("ana").is_none());
    }
}
