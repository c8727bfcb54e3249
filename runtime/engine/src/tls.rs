//! The TLS each endpoint in use asks for, built from its settings when the configuration
//! is loaded, so `check-config` and `run` refuse the same things and the production never
//! starts in plaintext where the contract says TLS.
//!
//! An endpoint asks for TLS with `tls: required`, or with an `https` URL. Then:
//!
//! - a **listener** (an inbound MLLP service, a FHIR facade) needs `certificate` and
//!   `private_key`; with `ca` it requires client certificates from that CA (mutual TLS),
//!   and one of the accepted names in the client's certificate: the endpoint's
//!   `peer_names`, or else the `certificate_names` of the systems it receives from;
//! - a **client** (an MLLP, HTTP or FHIR operation) trusts `ca`, or the system's roots; the
//!   server's certificate must carry `peer_names` (one name) or else the host; with
//!   `certificate` and `private_key` it presents its own certificate when asked.
//!
//! Certificates and keys are PEM, inline (from a secret) or the path of a file. A
//! certificate that has expired is refused; one that expires within
//! `[tls] expiry_warning_days` is warned of at start and alerted on while running.
//! [`EndpointTls::take_from`] swaps in what a reloaded configuration holds (`SIGHUP`).

use super::config::{ConfigError, ResolvedEndpoint};
use accord_hl7::tls::certificate::{self, Facts};
use accord_hl7::tls::{ClientIdentity, ClientTls, Pem, ServerIdentity, ServerTls, TlsError};
use accord_runtime::spec::{Role, Spec};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Which end of the connection the production is on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Listener,
    Client,
}

/// A certificate in use, for the expiry metric and alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse {
    /// The endpoint's name, or `[admin]`.
    pub endpoint: String,
    /// `server`, `client` (the production's own certificate) or `ca`.
    pub role: &'static str,
    pub facts: Facts,
}

/// The TLS of every endpoint that asks for it.
#[derive(Default)]
pub struct EndpointTls {
    servers: BTreeMap<String, (ServerTls, ServerIdentity)>,
    clients: BTreeMap<String, (ClientTls, ClientIdentity)>,
    in_use: Mutex<Vec<InUse>>,
}

impl std::fmt::Debug for EndpointTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointTls")
            .field("listeners", &self.servers.keys().collect::<Vec<_>>())
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The name under which the admin listener's TLS is kept.
pub const ADMIN: &str = "[admin]";

/// The endpoints in use, each with the side it is used on and an interface using it.
fn sides<'a>(
    spec: &'a Spec,
    endpoints: &'a BTreeMap<String, ResolvedEndpoint>,
) -> BTreeMap<(&'a str, Side), &'a str> {
    let mut out = BTreeMap::new();
    for i in &spec.interfaces {
        let Some(e) = i.endpoint.as_deref().and_then(|n| endpoints.get(n)) else {
            continue;
        };
        let side = match i.role {
            _ if !i.serves.is_empty() => Side::Listener,
            Role::Service => Side::Listener,
            Role::Operation => Side::Client,
            Role::Unwired => continue,
        };
        out.entry((e.name.as_str(), side))
            .or_insert(i.name.as_str());
    }
    out
}

fn err(message: String, help: impl Into<String>) -> ConfigError {
    ConfigError {
        message,
        help: help.into(),
    }
}

fn pem(e: &ResolvedEndpoint, key: &str) -> Result<Option<Pem>, ConfigError> {
    let Some(value) = e.setting(key) else {
        return Ok(None);
    };
    Pem::load(value).map(Some).map_err(|why| {
        err(
            format!("endpoint `{}` ({}): `{key}`: {why}", e.name, e.loc),
            format!("give `{key}` the path of a PEM file, or the PEM itself through a secret"),
        )
    })
}

fn names(e: &ResolvedEndpoint) -> Vec<String> {
    e.setting("peer_names")
        .map(|v| {
            v.split([',', ' '])
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `e` asks for TLS on `side`: an error when its settings contradict each other
/// or its transport has no TLS.
fn asks_for_tls(e: &ResolvedEndpoint, side: Side) -> Result<bool, ConfigError> {
    let required = match e.get("tls").map(str::trim) {
        None | Some("off") => false,
        Some("required") => true,
        Some(other) => {
            return Err(err(
                format!(
                    "endpoint `{}` ({}): `tls: {other}` is neither `required` nor `off`",
                    e.name, e.loc
                ),
                "say `tls: required` or `tls: off` for each environment",
            ))
        }
    };
    let url = e.setting("url");
    let https = url.is_some_and(|u| u.starts_with("https://"));
    match e.transport.as_str() {
        "http" | "https" | "fhir" if side == Side::Client => {
            if (required || e.transport == "https") && !https {
                return Err(err(
                    format!(
                        "endpoint `{}` ({}) asks for TLS, but its url `{}` is not https",
                        e.name,
                        e.loc,
                        url.unwrap_or("")
                    ),
                    "give the endpoint an https:// URL: the production never sends in plaintext where the contract says TLS",
                ));
            }
            Ok(https)
        }
        "mllp" | "http" | "https" | "fhir" => Ok(required || https),
        other if required => Err(err(
            format!(
                "endpoint `{}` ({}) says `tls: required`, and `{other}` endpoints have no TLS",
                e.name, e.loc
            ),
            "TLS is spoken on mllp, http, https and fhir endpoints; say `tls: off` here",
        )),
        _ => Ok(false),
    }
}

/// The names a listener admits in client certificates: its `peer_names`, or else the
/// `certificate_names` the systems it receives from declare.
pub fn accepted_names(spec: &Spec, e: &ResolvedEndpoint) -> Vec<String> {
    let own = names(e);
    if !own.is_empty() {
        return own;
    }
    let mut out: Vec<String> = senders_to(spec, &e.name)
        .flat_map(|s| s.certificate_names.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The declared identities of the systems whose messages arrive at endpoint `name`.
pub fn senders_to<'a>(
    spec: &'a Spec,
    name: &'a str,
) -> impl Iterator<Item = &'a accord_runtime::spec::SenderIdentity> {
    spec.interfaces
        .iter()
        .filter(move |i| i.role == Role::Service && i.endpoint.as_deref() == Some(name))
        .filter_map(|i| i.sender.as_ref())
}

fn server_identity(spec: &Spec, e: &ResolvedEndpoint) -> Result<ServerIdentity, ConfigError> {
    let missing = |key: &str| {
        err(
            format!(
                "endpoint `{}` ({}) listens with TLS and has no `{key}`",
                e.name, e.loc
            ),
            format!("give the endpoint `certificate:` (its PEM certificate chain) and `private_key: secret(...)`, or set `{key}` under [endpoints.{}]", e.name),
        )
    };
    let certificate = pem(e, "certificate")?.ok_or_else(|| missing("certificate"))?;
    let private_key = pem(e, "private_key")?.ok_or_else(|| missing("private_key"))?;
    let client_ca = pem(e, "ca")?;
    if client_ca.is_none() && !names(e).is_empty() {
        return Err(err(
            format!(
                "endpoint `{}` ({}) names the peers it accepts (`peer_names`) but gives no `ca` to check their certificates against",
                e.name, e.loc
            ),
            "mutual TLS needs `ca:`, the CA that issues the senders' certificates",
        ));
    }
    // Without `ca` no client certificate is asked for, so there is no name to check
    // (`config::warnings` says so where a sending system declares its names).
    let client_names = match client_ca {
        Some(_) => accepted_names(spec, e),
        None => vec![],
    };
    Ok(ServerIdentity {
        certificate,
        private_key,
        client_ca,
        client_names,
    })
}

fn client_identity(e: &ResolvedEndpoint) -> Result<ClientIdentity, ConfigError> {
    let certificate = match (pem(e, "certificate")?, pem(e, "private_key")?) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(err(
                format!(
                    "endpoint `{}` ({}) gives a client certificate without its key, or a key without its certificate",
                    e.name, e.loc
                ),
                "give both `certificate` and `private_key`, or neither",
            ))
        }
    };
    let mut names = names(e);
    if names.len() > 1 {
        return Err(err(
            format!(
                "endpoint `{}` ({}) names {} peers; a server is checked against one name",
                e.name,
                e.loc,
                names.len()
            ),
            "give `peer_names` the one name the server's certificate carries, or leave it out to check the host",
        ));
    }
    Ok(ClientIdentity {
        ca: pem(e, "ca")?,
        certificate,
        server_name: names.pop(),
    })
}

fn certificates_in(
    name: &str,
    own: Option<(&'static str, &Pem)>,
    ca: Option<&Pem>,
) -> Result<Vec<InUse>, TlsError> {
    let mut out = vec![];
    if let Some((role, pem)) = own {
        out.push(InUse {
            endpoint: name.to_string(),
            role,
            facts: certificate::of_pem(pem)?,
        });
    }
    if let Some(ca) = ca {
        for der in ca.certificates()? {
            out.push(InUse {
                endpoint: name.to_string(),
                role: "ca",
                facts: certificate::of_der(der.as_ref())?,
            });
        }
    }
    Ok(out)
}

fn date(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| unix.to_string())
}

impl EndpointTls {
    /// The TLS of the endpoints in use, and of the admin listener when `admin` is given;
    /// every problem at once.
    pub fn build(
        spec: &Spec,
        endpoints: &BTreeMap<String, ResolvedEndpoint>,
        admin: Option<ServerIdentity>,
        now: i64,
    ) -> Result<EndpointTls, Vec<ConfigError>> {
        let mut errors = vec![];
        let mut tls = EndpointTls::default();
        let mut in_use = vec![];
        for ((name, side), iface) in sides(spec, endpoints) {
            let e = &endpoints[name];
            match asks_for_tls(e, side) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(mut error) => {
                    error
                        .message
                        .push_str(&format!("; used by interface `{iface}`"));
                    errors.push(error);
                    continue;
                }
            }
            match side {
                Side::Listener => match server_identity(spec, e) {
                    Ok(id) => tls.add_server(name, id, &mut in_use, &mut errors),
                    Err(error) => errors.push(error),
                },
                Side::Client => {
                    let id = match client_identity(e) {
                        Ok(id) => id,
                        Err(error) => {
                            errors.push(error);
                            continue;
                        }
                    };
                    let own = id.certificate.as_ref().map(|(c, _)| ("client", c));
                    let built = certificates_in(name, own, id.ca.as_ref()).and_then(|certs| {
                        in_use.extend(certs);
                        ClientTls::new(&id)
                    });
                    match built {
                        Ok(c) => {
                            tls.clients.insert(name.to_string(), (c, id));
                        }
                        Err(why) => errors.push(err(
                            format!("the TLS of endpoint `{name}` ({}) cannot be used: {why}", e.loc),
                            "check `ca`, `certificate` and `private_key`; without `ca` the system's root certificates are trusted",
                        )),
                    }
                }
            }
        }
        if let Some(id) = admin {
            tls.add_server(ADMIN, id, &mut in_use, &mut errors);
        }
        for c in &in_use {
            if c.facts.not_after <= now {
                errors.push(err(
                    format!(
                        "the {} certificate of `{}` ({}) expired on {}",
                        c.role,
                        c.endpoint,
                        c.facts.subject,
                        date(c.facts.not_after)
                    ),
                    "renew it; peers refuse an expired certificate, so the production does not start with one",
                ));
            } else if c.facts.not_before > now {
                errors.push(err(
                    format!(
                        "the {} certificate of `{}` ({}) is not valid until {}",
                        c.role,
                        c.endpoint,
                        c.facts.subject,
                        date(c.facts.not_before)
                    ),
                    "check the host's clock, or use a certificate valid now",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        tls.in_use = Mutex::new(in_use);
        Ok(tls)
    }

    fn add_server(
        &mut self,
        name: &str,
        id: ServerIdentity,
        in_use: &mut Vec<InUse>,
        errors: &mut Vec<ConfigError>,
    ) {
        let built = certificates_in(
            name,
            Some(("server", &id.certificate)),
            id.client_ca.as_ref(),
        )
        .and_then(|certs| {
            // An expired certificate is reported even when its key is wrong too.
            in_use.extend(certs);
            ServerTls::new(&id)
        });
        match built {
            Ok(s) => {
                self.servers.insert(name.to_string(), (s, id));
            }
            Err(why) => errors.push(err(
                format!("the TLS of `{name}` cannot be used: {why}"),
                "check that the certificate, its key and the CA are the PEM files you meant",
            )),
        }
    }

    /// The TLS of listening endpoint `name` (or [`ADMIN`]), when it has TLS.
    pub fn server(&self, name: &str) -> Option<ServerTls> {
        self.servers.get(name).map(|(s, _)| s.clone())
    }

    /// The TLS of sending endpoint `name`, when it has TLS.
    pub fn client(&self, name: &str) -> Option<ClientTls> {
        self.clients.get(name).map(|(c, _)| c.clone())
    }

    /// The certificates in use.
    pub fn certificates(&self) -> Vec<InUse> {
        match self.in_use.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Certificates that expire within `days` of `now`, as warnings.
    pub fn expiring(&self, days: u32, now: i64) -> Vec<ConfigError> {
        self.certificates()
            .iter()
            .filter(|c| c.facts.seconds_left(now) < i64::from(days) * 86_400)
            .map(|c| {
                err(
                    format!(
                        "the {} certificate of `{}` ({}) expires on {}, in {} days",
                        c.role,
                        c.endpoint,
                        c.facts.subject,
                        date(c.facts.not_after),
                        c.facts.seconds_left(now) / 86_400
                    ),
                    "renew it, then send the production SIGHUP to load it without a restart",
                )
            })
            .collect()
    }

    /// Takes `next`'s certificates, keys and CAs for the endpoints that have TLS in both:
    /// connections opened from now on use them. What cannot be changed without a restart
    /// (TLS switched on or off) is returned as notes.
    pub fn take_from(&self, next: &EndpointTls) -> Vec<String> {
        let mut notes = vec![];
        for (name, (server, _)) in &self.servers {
            match next.servers.get(name) {
                Some((_, id)) => {
                    if let Err(e) = server.reload(id) {
                        notes.push(format!("`{name}` keeps its TLS: {e}"));
                    }
                }
                None => notes.push(format!(
                    "`{name}` no longer asks for TLS: it keeps TLS until the production restarts"
                )),
            }
        }
        for (name, (client, _)) in &self.clients {
            match next.clients.get(name) {
                Some((_, id)) => {
                    if let Err(e) = client.reload(id) {
                        notes.push(format!("`{name}` keeps its TLS: {e}"));
                    }
                }
                None => notes.push(format!(
                    "`{name}` no longer asks for TLS: it keeps TLS until the production restarts"
                )),
            }
        }
        for name in next.servers.keys().chain(next.clients.keys()) {
            if !self.servers.contains_key(name) && !self.clients.contains_key(name) {
                notes.push(format!(
                    "`{name}` now asks for TLS: it takes effect when the production restarts"
                ));
            }
        }
        if let Ok(mut in_use) = self.in_use.lock() {
            *in_use = next.certificates();
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(names: &[&str]) -> Spec {
        serde_json::from_value(json!({
            "estate": "E", "version": "1.0.0", "environments": ["dev"],
            "production_environments": [], "engine_system": "hub",
            "endpoints": [], "profiles": [], "flows": [],
            "interfaces": [{
                "name": "adt_in", "version": "1.0.0", "role": "service", "from": "pas",
                "to": "hub", "endpoint": "hub_mtls", "status": "active", "messages": [],
                "profile": null, "transforms": false, "ack": {"mode": "commit", "timeout_ms": null},
                "replies": [], "idempotency": [], "ordering": null, "retain_ms": null,
                "sender": { "system": "pas", "application": null, "facility": null,
                            "certificate_names": names, "loc": "estate.accord:9" },
                "loc": "interfaces.accord:20"
            }]
        }))
        .unwrap()
    }

    fn endpoint(name: &str, peer_names: Option<&str>) -> ResolvedEndpoint {
        let mut values = BTreeMap::new();
        if let Some(n) = peer_names {
            values.insert("peer_names".to_string(), n.to_string());
        }
        ResolvedEndpoint {
            name: name.into(),
            transport: "mllp".into(),
            values,
            loc: "estate.accord:40".into(),
        }
    }

    #[test]
    fn tls_a_listener_admits_its_peer_names_or_else_its_senders_certificate_names() {
        let s = spec(&["pas.hospital.test", "pas-dr.hospital.test"]);
        assert_eq!(
            accepted_names(&s, &endpoint("hub_mtls", None)),
            ["pas-dr.hospital.test", "pas.hospital.test"],
            "the sending system's names"
        );
        assert_eq!(
            accepted_names(&s, &endpoint("hub_mtls", Some("gateway.hospital.test"))),
            ["gateway.hospital.test"],
            "the endpoint's own names win"
        );
        assert!(
            accepted_names(&s, &endpoint("other", None)).is_empty(),
            "an endpoint the system does not send to"
        );
        assert!(accepted_names(&spec(&[]), &endpoint("hub_mtls", None)).is_empty());
    }
}
