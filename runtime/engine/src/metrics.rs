//! The production's metrics in Prometheus form (`/metrics`): messages received and sent,
//! ACK codes, dead letters, duplicates, alerts, queue depth, end-to-end latency and the
//! contract's SLAs (measured and whether they are broken), per interface; connections open and
//! refused, per listening endpoint. Counting is lock-free; encoding happens only when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Iface {
    pub interface: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AckLabel {
    pub interface: String,
    /// `sent` (our reply to a sender) or `received` (a peer's reply to us).
    pub direction: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub interface: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub interface: String,
    /// `applied` (by an accepted writer), `kept-stored`, `rejected` or `review`.
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TakenLabel {
    pub interface: String,
    /// `journal` (read back from the lane's queue) or `copy` (the processor's copy, once
    /// the lane has caught up).
    pub from: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabel {
    /// The HTTP listener: the API interface's name, or `admin`.
    pub listener: String,
    /// `connections`, `per-address`, `rate`, `request-timeout` or `token`.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabel {
    /// The endpoint's name, or `[admin]`.
    pub endpoint: String,
    /// `server`, `client` (the production's own) or `ca`.
    pub certificate: String,
    pub subject: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SlaLabel {
    pub interface: String,
    /// `delivered`, `backlog` or `quiet`.
    pub sla: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabel {
    pub target: String,
}

fn latency() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

pub struct Metrics {
    registry: Registry,
    pub received: Family<Iface, Counter>,
    pub sent: Family<Iface, Counter>,
    pub acks: Family<AckLabel, Counter>,
    pub dead: Family<ReasonLabel, Counter>,
    pub rejected: Family<ReasonLabel, Counter>,
    pub duplicates: Family<Iface, Counter>,
    pub alerts: Family<AlertLabel, Counter>,
    pub queue_depth: Family<Iface, Gauge>,
    /// 1 while an operation's queue is over its contract's `sla: backlog < N`.
    pub backlog_breached: Family<Iface, Gauge>,
    /// 1 while an interface breaks one of its contract's SLAs.
    pub sla_breached: Family<SlaLabel, Gauge>,
    /// The contract's percentile of delivery latency over the last five minutes, seconds.
    pub sla_delivered: Family<Iface, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Seconds since an interface with `sla: quiet < D` last received or delivered.
    pub quiet_seconds: Family<Iface, Gauge>,
    pub purged: Family<Iface, Counter>,
    pub ownership: Family<DecisionLabel, Counter>,
    /// Deliveries held by the matrix for a person to decide.
    pub review_pending: Family<Iface, Gauge>,
    pub connections: Family<EndpointLabel, Gauge>,
    pub connections_refused: Family<EndpointLabel, Counter>,
    pub http_refused: Family<RefusedLabel, Counter>,
    /// Connections to a TLS listener (MLLP or HTTP) closed because the handshake failed.
    pub tls_refused: Family<EndpointLabel, Counter>,
    /// Seconds until each certificate in use expires.
    pub certificate_expiry: Family<CertificateLabel, Gauge>,
    pub end_to_end: Family<Iface, Histogram, fn() -> Histogram>,
    /// Messages lanes took to send, by where from.
    pub taken: Family<TakenLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("accord");
        let m = Metrics {
            received: Family::default(),
            sent: Family::default(),
            acks: Family::default(),
            dead: Family::default(),
            rejected: Family::default(),
            duplicates: Family::default(),
            alerts: Family::default(),
            queue_depth: Family::default(),
            backlog_breached: Family::default(),
            sla_breached: Family::default(),
            sla_delivered: Family::default(),
            quiet_seconds: Family::default(),
            purged: Family::default(),
            ownership: Family::default(),
            review_pending: Family::default(),
            connections: Family::default(),
            connections_refused: Family::default(),
            http_refused: Family::default(),
            tls_refused: Family::default(),
            certificate_expiry: Family::default(),
            end_to_end: Family::new_with_constructor(latency as fn() -> Histogram),
            taken: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "messages_received",
            "Messages received by an inbound service",
            m.received.clone(),
        );
        registry.register(
            "messages_sent",
            "Messages delivered by an outbound operation (positive reply)",
            m.sent.clone(),
        );
        registry.register(
            "acks",
            "ACK codes sent to senders and received from peers",
            m.acks.clone(),
        );
        registry.register(
            "dead_letters",
            "Messages moved to the dead letter, by reason",
            m.dead.clone(),
        );
        registry.register(
            "rejected",
            "Inbound messages rejected with a NACK, by reason",
            m.rejected.clone(),
        );
        registry.register(
            "duplicates",
            "Inbound messages recognised as duplicates",
            m.duplicates.clone(),
        );
        registry.register(
            "alerts",
            "Alerts raised by reply policies and flows",
            m.alerts.clone(),
        );
        registry.register(
            "queue_depth",
            "Messages waiting to be delivered",
            m.queue_depth.clone(),
        );
        registry.register(
            "backlog_breached",
            "1 while an operation's queue is over its contract's `sla: backlog < N`",
            m.backlog_breached.clone(),
        );
        registry.register(
            "sla_breached",
            "1 while an interface breaks its contract's SLA (delivered, backlog or quiet)",
            m.sla_breached.clone(),
        );
        registry.register(
            "sla_delivered_seconds",
            "The contract's delivery percentile over the last five minutes (`sla: delivered pNN < D`)",
            m.sla_delivered.clone(),
        );
        registry.register(
            "quiet_seconds",
            "Seconds since the interface last received (a service) or delivered (an operation) a message, for `sla: quiet < D`",
            m.quiet_seconds.clone(),
        );
        registry.register(
            "ownership_decisions",
            "Decisions of the source-of-truth matrix other than an owner's write, by kind",
            m.ownership.clone(),
        );
        registry.register(
            "review_pending",
            "Deliveries the ownership matrix holds for review",
            m.review_pending.clone(),
        );
        registry.register(
            "lane_messages_taken",
            "Messages an operation's lanes took to send: read back from the journal, or from the processor's copy once caught up",
            m.taken.clone(),
        );
        registry.register(
            "purged",
            "Finished messages removed by the interface's `retain` period",
            m.purged.clone(),
        );
        registry.register(
            "connections",
            "MLLP connections open, per listening endpoint",
            m.connections.clone(),
        );
        registry.register(
            "connections_refused",
            "MLLP connections closed on arrival: limits.max_connections were open, or the address held limits.max_connections_per_address",
            m.connections_refused.clone(),
        );
        registry.register(
            "tls_handshakes_refused",
            "Connections to a TLS listener closed because the handshake failed or did not finish: plaintext, an untrusted, missing or misnamed client certificate",
            m.tls_refused.clone(),
        );
        registry.register(
            "tls_certificate_expiry_seconds",
            "Seconds until a certificate in use expires (negative once it has)",
            m.certificate_expiry.clone(),
        );
        registry.register(
            "http_refused",
            "HTTP requests and connections refused by a listener's limits, or for a bad token",
            m.http_refused.clone(),
        );
        registry.register(
            "end_to_end_seconds",
            "From receipt by the production to the peer's positive reply",
            m.end_to_end.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Registers the journal writer's counters (they are counted by the writer itself).
    pub fn register_journal(&mut self, stats: &super::journal::WriterStats) {
        let r = &mut self.registry;
        r.register(
            "journal_jobs",
            "Changes the journal's writer ran",
            stats.jobs.clone(),
        );
        r.register(
            "journal_transactions",
            "Transactions the journal's writer committed (each groups the jobs waiting)",
            stats.transactions.clone(),
        );
        r.register(
            "journal_fsyncs",
            "fsyncs of the journal's write-ahead log (`sync = \"full\"`)",
            stats.fsyncs.clone(),
        );
        r.register(
            "journal_round_trips",
            "Round trips to a PostgreSQL journal's server in the writer's transactions",
            stats.round_trips.clone(),
        );
        r.register(
            "journal_jobs_per_transaction",
            "Jobs grouped in one journal transaction",
            stats.jobs_per_transaction.clone(),
        );
        r.register(
            "journal_transaction_seconds",
            "From a journal transaction's start to its answers, fsync included",
            stats.transaction_seconds.clone(),
        );
    }

    /// Counts an alert raised for `target` (who is told: an on-call group, a backlog).
    pub fn alert(&self, target: &str) {
        self.alerts
            .get_or_create(&AlertLabel {
                target: target.to_string(),
            })
            .inc();
    }

    pub fn iface(name: &str) -> Iface {
        Iface {
            interface: name.to_string(),
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
