//! Endpoint settings read again on `SIGHUP`, with their secrets read anew, for what the
//! running lanes take without a restart: the credentials of HTTP and FHIR operations
//! (a rotated bearer token, password or client secret), and the admin listener's token.
//! Certificates are reloaded by `tls::EndpointTls::take_from`; this is the rest of the
//! secrets.

use super::config::ResolvedEndpoint;
use super::credentials::Secret;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The endpoints of the last successful reload, and how many reloads there were.
#[derive(Default)]
pub struct Reloaded {
    generation: AtomicU64,
    endpoints: RwLock<Arc<BTreeMap<String, ResolvedEndpoint>>>,
    admin_token: RwLock<Option<Secret>>,
}

impl Reloaded {
    /// Publishes a reloaded configuration's endpoints: lanes take them before their next
    /// delivery.
    pub fn publish(
        &self,
        endpoints: BTreeMap<String, ResolvedEndpoint>,
        admin_token: Option<Secret>,
    ) {
        if let Ok(mut e) = self.endpoints.write() {
            *e = Arc::new(endpoints);
        }
        if let Ok(mut t) = self.admin_token.write() {
            *t = admin_token;
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many reloads were published; a lane compares it with the one it last took.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The reloaded settings of endpoint `name`.
    pub fn endpoint(&self, name: &str) -> Option<ResolvedEndpoint> {
        self.endpoints.read().ok()?.get(name).cloned()
    }

    /// The admin listener's token now: the last reload's, or `started` (the one the
    /// production started with) before any reload.
    pub fn admin_token(&self, started: &Option<Secret>) -> Option<Secret> {
        if self.generation() == 0 {
            return started.clone();
        }
        self.admin_token.read().ok()?.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_a_reload_is_published_once_per_generation() {
        let r = Reloaded::default();
        assert_eq!((r.generation(), r.endpoint("portal")), (0, None));
        let started = Some(Secret("first".into()));
        assert_eq!(r.admin_token(&started), started);
        r.publish(BTreeMap::new(), None);
        assert_eq!(r.generation(), 1);
        assert_eq!(r.endpoint("portal"), None);
        assert_eq!(
            r.admin_token(&started),
            None,
            "a reload that removes the token"
        );
    }
}
