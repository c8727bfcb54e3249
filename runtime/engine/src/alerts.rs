//! Alerts that reach a person. A contract's `alert "lab-oncall"` (in a reply policy, a
//! flow, `on invalid`), an SLA breach, a feed gone quiet, a backlog and a certificate near
//! expiry are counted in `accord_alerts_total` and logged, and, where the configuration
//! routes the alert's name (`[alerts.NAME]`, else `[alerts.default]`), posted to a
//! webhook (as JSON, or in the shape Slack and Teams incoming webhooks take) and mailed
//! through the configured SMTP server (`[smtp]`, STARTTLS unless told otherwise).
//!
//! Posting never holds up a message: alerts go through a queue to one task. An alert that
//! repeats while its condition lasts is sent once: repeats within [`QUIET`] are counted
//! and reported with the next notice. A condition that ends (an SLA met again) sends a
//! recovery notice, once, if its alert was sent. A webhook that fails is tried
//! [`ATTEMPTS`] times, then given up on with a warning in the log; the metric already has
//! the alert.

use super::http::{self, HttpClient};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long an alert with the same name and subject is not sent again.
pub const QUIET: Duration = Duration::from_secs(600);
/// How many times a webhook is tried for one notice.
pub const ATTEMPTS: u32 = 3;

/// What a webhook receives: Accord's own JSON, or the `text` message Slack and Teams
/// incoming webhooks take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Slack,
    Teams,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "slack" => Some(Format::Slack),
            "teams" => Some(Format::Teams),
            _ => None,
        }
    }
}

/// Where alerts of one name go: a webhook, mail recipients, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub webhook: Option<String>,
    pub format: Format,
    pub email: Vec<String>,
}

/// The mail server alerts are sent through (`[smtp]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    /// The sender address.
    pub from: String,
    /// STARTTLS is required unless `starttls = "off"` (a relay on the same host).
    pub starttls: bool,
    /// The CA certificates (PEM) the server's certificate must chain to, in place of the
    /// system's roots: a hospital's relay is usually signed by its own CA.
    pub ca: Option<Vec<u8>>,
    pub login: Option<(String, String)>,
}

/// One notice: an alert raised, or its condition over.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The alert's name (`lab-oncall`) or kind (`sla`, `quiet`, `certificate`).
    pub name: String,
    /// What it is about: an interface, an endpoint, a flow.
    pub subject: String,
    pub text: String,
    pub resolved: bool,
    /// Alerts of the same name and subject not sent since the last notice.
    pub repeats: u32,
}

impl Notice {
    /// The webhook body in `format`, for the estate `estate` in environment `env`.
    pub fn body(&self, format: Format, estate: &str, env: &str) -> serde_json::Value {
        let state = if self.resolved { "resolved" } else { "alert" };
        let repeats = match self.repeats {
            0 => String::new(),
            n => format!(" ({n} more since the last notice)"),
        };
        let line = format!(
            "[{estate} {env}] {state} {}: {} ({}){repeats}",
            self.name, self.text, self.subject
        );
        match format {
            Format::Json => serde_json::json!({
                "estate": estate,
                "environment": env,
                "alert": self.name,
                "subject": self.subject,
                "state": state,
                "text": self.text,
                "repeats": self.repeats,
            }),
            Format::Slack | Format::Teams => serde_json::json!({ "text": line }),
        }
    }
}

/// What was sent for one (name, subject), to hold back its repeats.
#[derive(Default)]
struct Sent {
    at: Option<Instant>,
    held: u32,
}

/// The alerts of a production: raise and resolve from anywhere; a task posts them.
pub struct Notifier {
    routes: BTreeMap<String, Route>,
    smtp: Option<Smtp>,
    queue: Option<mpsc::UnboundedSender<Notice>>,
    sent: Mutex<HashMap<(String, String), Sent>>,
}

impl Notifier {
    /// With no routes, nothing is posted (alerts are still counted and logged).
    pub fn new(routes: BTreeMap<String, Route>) -> Notifier {
        Notifier {
            routes,
            smtp: None,
            queue: None,
            sent: Mutex::default(),
        }
    }

    /// Mails alerts whose routes name recipients through `smtp`.
    pub fn with_smtp(mut self, smtp: Option<Smtp>) -> Notifier {
        self.smtp = smtp;
        self
    }

    /// Starts the task that posts notices (on the current Tokio runtime).
    pub fn start(&mut self, estate: String, env: String) {
        if self.routes.is_empty() {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.queue = Some(tx);
        let mail = self.smtp.clone().map(Mailer::new);
        tokio::spawn(post_all(rx, self.routes.clone(), mail, estate, env));
    }

    /// The route of alert `name`: its own, else `default`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.get(name).or_else(|| self.routes.get("default"))
    }

    /// Raises alert `name` about `subject`; sent unless the same was sent within
    /// [`QUIET`] (then counted for the next notice).
    pub fn raise(&self, name: &str, subject: &str, text: &str) {
        let Some(repeats) = self.due(name, subject, Instant::now()) else {
            return;
        };
        self.send(Notice {
            name: name.into(),
            subject: subject.into(),
            text: text.into(),
            resolved: false,
            repeats,
        });
    }

    /// The condition of alert `name` about `subject` is over: a recovery notice, if its
    /// alert was sent.
    pub fn resolve(&self, name: &str, subject: &str, text: &str) {
        let was_sent = self
            .sent
            .lock()
            .ok()
            .and_then(|mut s| s.remove(&(name.to_string(), subject.to_string())))
            .is_some_and(|s| s.at.is_some());
        if was_sent {
            self.send(Notice {
                name: name.into(),
                subject: subject.into(),
                text: text.into(),
                resolved: true,
                repeats: 0,
            });
        }
    }

    /// Whether an alert is to be sent now, with how many were held back since the last;
    /// `None` while it is held back.
    fn due(&self, name: &str, subject: &str, now: Instant) -> Option<u32> {
        self.route(name)?;
        let mut sent = self.sent.lock().ok()?;
        let s = sent
            .entry((name.to_string(), subject.to_string()))
            .or_default();
        match s.at {
            Some(at) if now.duration_since(at) < QUIET => {
                s.held += 1;
                None
            }
            _ => {
                s.at = Some(now);
                Some(std::mem::take(&mut s.held))
            }
        }
    }

    fn send(&self, notice: Notice) {
        if let Some(q) = &self.queue {
            let _ = q.send(notice);
        }
    }
}

/// Posts every notice to its route's webhook and mails its recipients, one notice at a
/// time, in the order raised.
async fn post_all(
    mut rx: mpsc::UnboundedReceiver<Notice>,
    routes: BTreeMap<String, Route>,
    mail: Option<Mailer>,
    estate: String,
    env: String,
) {
    let mut clients: HashMap<bool, HttpClient> = HashMap::new();
    while let Some(n) = rx.recv().await {
        let Some(route) = routes.get(&n.name).or_else(|| routes.get("default")) else {
            continue;
        };
        if let Some(url) = &route.webhook {
            let https = url.starts_with("https://");
            let client = match clients.entry(https) {
                std::collections::hash_map::Entry::Occupied(c) => c.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => match webhook_client(https) {
                    Ok(c) => slot.insert(c),
                    Err(why) => {
                        tracing::warn!(alert = %n.name, error = %why, "alert not posted: no HTTP client");
                        continue;
                    }
                },
            };
            let body = n.body(route.format, &estate, &env).to_string();
            let last = retried(|| async {
                match http::post_json(client, url, body.as_bytes(), Duration::from_secs(10)).await {
                    Ok(status) if (200..300).contains(&status) => Ok(()),
                    Ok(status) => Err(format!("HTTP {status}")),
                    Err(why) => Err(why),
                }
            })
            .await;
            if let Err(why) = last {
                tracing::warn!(alert = %n.name, subject = %n.subject, error = %why, "alert not posted to its webhook after {ATTEMPTS} attempts");
            }
        }
        if !route.email.is_empty() {
            let Some(mail) = &mail else {
                tracing::warn!(alert = %n.name, "alert not mailed: the configuration has no [smtp]");
                continue;
            };
            let sent = retried(|| mail.send(&route.email, &n, &estate, &env)).await;
            if let Err(why) = sent {
                tracing::warn!(alert = %n.name, subject = %n.subject, error = %why, "alert not mailed after {ATTEMPTS} attempts");
            }
        }
    }
}

/// Runs `attempt` until it succeeds, at most [`ATTEMPTS`] times; the last error.
async fn retried<F, Fut>(mut attempt: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut last = Ok(());
    for n in 1..=ATTEMPTS {
        last = attempt().await;
        if last.is_ok() {
            break;
        }
        if n < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(n))).await;
        }
    }
    last
}

/// Mail through the configured server: one message per notice to the route's recipients.
struct Mailer {
    smtp: Smtp,
}

impl Mailer {
    fn new(smtp: Smtp) -> Mailer {
        Mailer { smtp }
    }

    /// STARTTLS's parameters: the server's certificate must name its host and chain to
    /// the configured CA, or to the system's roots.
    fn tls(&self) -> Result<TlsParameters, lettre::transport::smtp::Error> {
        let mut tls = TlsParameters::builder(self.smtp.host.clone());
        if let Some(ca) = &self.smtp.ca {
            tls = tls
                .certificate_store(CertificateStore::None)
                .add_root_certificate(Certificate::from_pem(ca)?);
        }
        tls.build_rustls()
    }

    async fn send(&self, to: &[String], n: &Notice, estate: &str, env: &str) -> Result<(), String> {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let state = if n.resolved { "resolved" } else { "alert" };
        let mut message = Message::builder()
            .from(
                self.smtp
                    .from
                    .parse()
                    .map_err(|e| format!("[smtp] from: {e}"))?,
            )
            .subject(format!(
                "[{estate} {env}] {state} {}: {}",
                n.name, n.subject
            ));
        for address in to {
            message = message.to(address.parse().map_err(|e| format!("`{address}`: {e}"))?);
        }
        let text = n.body(Format::Slack, estate, env)["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let message = message.body(text).map_err(|e| e.to_string())?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.smtp.host);
        if self.smtp.starttls {
            builder = builder.tls(Tls::Required(self.tls().map_err(|e| e.to_string())?));
        }
        let mut builder = builder
            .port(self.smtp.port)
            .timeout(Some(Duration::from_secs(10)));
        if let Some((user, password)) = &self.smtp.login {
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    user.clone(),
                    password.clone(),
                ));
        }
        builder
            .build()
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A client for webhooks: HTTPS against the system's root certificates, or plain HTTP.
fn webhook_client(https: bool) -> Result<HttpClient, String> {
    let tls = if https {
        Some(
            accord_hl7::tls::ClientTls::new(&accord_hl7::tls::ClientIdentity::default())
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    http::client(tls, Duration::from_secs(10)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notifier() -> Notifier {
        let route = Route {
            webhook: Some("http://127.0.0.1:9/hook".into()),
            format: Format::Json,
            email: vec![],
        };
        Notifier::new(BTreeMap::from([("lab-oncall".to_string(), route)]))
    }

    #[test]
    fn an_alert_repeating_while_it_lasts_is_sent_once_and_counted_for_the_next() {
        let n = notifier();
        let t = Instant::now();
        assert_eq!(n.due("lab-oncall", "adt_to_lims", t), Some(0));
        assert_eq!(
            n.due("lab-oncall", "adt_to_lims", t + Duration::from_secs(5)),
            None
        );
        assert_eq!(
            n.due("lab-oncall", "adt_to_lims", t + Duration::from_secs(9)),
            None
        );
        // Another subject is another alert.
        assert_eq!(n.due("lab-oncall", "orders_to_lims", t), Some(0));
        // After the quiet period, sent again with the two held back.
        assert_eq!(n.due("lab-oncall", "adt_to_lims", t + QUIET), Some(2));
        // No route and no default: nothing to send.
        assert_eq!(n.due("pharmacy-oncall", "x", t), None);
    }

    #[test]
    fn notices_take_the_shape_their_webhook_asks_for() {
        let notice = Notice {
            name: "lab-oncall".into(),
            subject: "adt_to_lims".into(),
            text: "message 42 moved to the dead letter (AR)".into(),
            resolved: false,
            repeats: 3,
        };
        let json = notice.body(Format::Json, "Lothian", "prod");
        assert_eq!(json["alert"], "lab-oncall");
        assert_eq!(json["state"], "alert");
        assert_eq!(json["repeats"], 3);
        let slack = notice.body(Format::Slack, "Lothian", "prod");
        assert_eq!(
            slack["text"],
            "[Lothian prod] alert lab-oncall: message 42 moved to the dead letter (AR) (adt_to_lims) (3 more since the last notice)"
        );
    }
}
