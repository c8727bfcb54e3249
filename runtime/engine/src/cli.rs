//! The production binary's command line: `run`, `check-config`, `status`, `messages`,
//! `trace`, and the operator's actions: `dead-letters`, `replay`, `audit`. `run` checks the configuration, opens the journal, binds every listener (a
//! port in use is an error naming the endpoint), then starts the workers and reports ready.

use super::config::{self, ConfigError};
use super::journal::{Journal, Store};
use super::operator::{self, Actor, Selection};
use super::{admin, flows, folder, inbound, outbound, process, review, time, Engine, Production};
use accord_runtime::spec::{Role, Spec};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Parser)]
#[command(about = "An Accord production: run it, check its configuration, inspect its journal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Where {
    /// The environment, as declared in the estate (`dev`, `test`, `prod`, ...).
    #[arg(long)]
    env: String,
    /// The TOML configuration file for that environment.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the journal lives unless the configuration says otherwise.
    #[arg(long, default_value = "var")]
    store: PathBuf,
}

#[derive(Subcommand)]
enum ConsoleCommand {
    /// Read a password from standard input and print its argon2id hash, for an operator's
    /// `password` in `[console.operators.NAME]` (keep it as a secret: a file or a variable).
    HashPassword,
}

#[derive(Subcommand)]
enum Command {
    /// Run the production until interrupted.
    Run {
        #[command(flatten)]
        at: Where,
        /// This node's name, when several nodes share a PostgreSQL journal (else
        /// `ACCORD_NODE`, else the host's name); `status` shows it.
        #[arg(long)]
        node: Option<String>,
    },
    /// The operations console's accounts.
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// Check the configuration for an environment and print the resolved endpoints.
    CheckConfig {
        #[command(flatten)]
        at: Where,
        /// Print the configuration's JSON Schema instead.
        #[arg(long)]
        schema: bool,
    },
    /// Per interface: received, sent, queued, failed (retrying), dead, rejected, duplicates.
    Status {
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
        #[arg(long)]
        json: bool,
    },
    /// Search the journal.
    Messages {
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
        /// MSH-10 of the message.
        #[arg(long)]
        control_id: Option<String>,
        /// PID-3.1 (first identifier) of the patient.
        #[arg(long)]
        patient: Option<String>,
        /// received, processed, queued, retrying, completed, dead, rejected, duplicate.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        interface: Option<String>,
        /// Only messages received in this last period: `15m`, `2h`, `7d`.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Every hop of one message, by journal id, control id or correlation id.
    Trace {
        id: String,
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
    },
    /// The dead letter: list, show, resend (as is, mapped again, or edited), discard.
    #[command(subcommand)]
    DeadLetters(DeadLetters),
    /// Send again what an interface received (processed again) or delivered (sent again),
    /// by time window or key; audited.
    Replay {
        interface: String,
        /// Only messages received in this last period: `15m`, `2h`, `7d`.
        #[arg(long)]
        since: Option<String>,
        /// From this instant (UTC): `2026-11-22` or `2026-11-22T10:15`.
        #[arg(long)]
        from: Option<String>,
        /// Up to this instant (UTC), exclusive.
        #[arg(long)]
        to: Option<String>,
        /// Only messages with this ordering key, patient identifier or control id.
        #[arg(long)]
        key: Option<String>,
        /// Replay messages first processed by another contract version under this one.
        #[arg(long)]
        version: Option<String>,
        /// Show what would be replayed and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        who: Who,
    },
    /// The ownership matrix's review queue: list, approve, reject held deliveries.
    #[command(subcommand)]
    Review(Review),
    /// The stored copy of a record the matrix governs: each field, its writer and message.
    Records {
        /// The record type, e.g. `Patient`.
        record: String,
        /// Its key (key fields joined by `|`), e.g. the MRN.
        key: String,
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
        #[arg(long)]
        json: bool,
    },
    /// Copy the journal to a new file while the production runs (consistent: everything
    /// acknowledged before it began is in it).
    Backup {
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
        /// The backup file to make (never overwritten).
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup in place of a stopped production's journal (the journal it replaces is
    /// kept beside it); the production started on it carries on from it.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
    },
    /// What operators did: resends, edits, discards, replays, reviews.
    Audit {
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Clone)]
struct Who {
    /// Who acts (recorded in the audit); the login name by default.
    #[arg(long)]
    by: Option<String>,
    /// Why (recorded in the audit).
    #[arg(long)]
    why: Option<String>,
    #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
    journal: Store,
}

#[derive(clap::Args, Clone)]
struct Pick {
    /// Journal ids of dead letters.
    ids: Vec<i64>,
    /// Every dead letter matching the filters (instead of ids).
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    #[arg(long)]
    interface: Option<String>,
    /// parse, validate, map, route, ownership, transport, nack, timeout.
    #[arg(long)]
    reason: Option<String>,
    /// Only messages received in this last period: `15m`, `2h`, `7d`.
    #[arg(long)]
    since: Option<String>,
}

#[derive(Subcommand)]
enum DeadLetters {
    /// Dead letters, oldest first, with their reason.
    List {
        #[command(flatten)]
        pick: Pick,
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
        #[arg(long)]
        json: bool,
    },
    /// One dead letter: reason, history, the message and the last reply.
    Show {
        id: i64,
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
    },
    /// Queue dead letters again (a mapping failure is mapped again first).
    Resend {
        #[command(flatten)]
        pick: Pick,
        /// Resend this file instead (one message): the original is kept, the edit audited.
        #[arg(long)]
        edit: Option<PathBuf>,
        #[command(flatten)]
        who: Who,
    },
    /// Take dead letters out of the dead letter (kept in the journal as `discarded`).
    Discard {
        #[command(flatten)]
        pick: Pick,
        #[command(flatten)]
        who: Who,
    },
}

#[derive(clap::Args, Clone)]
struct PickHeld {
    /// Journal ids of held deliveries.
    ids: Vec<i64>,
    /// Every held delivery of this review queue (instead of ids).
    #[arg(long, conflicts_with = "ids")]
    queue: Option<String>,
}

#[derive(Subcommand)]
enum Review {
    /// Deliveries waiting for a person, oldest first, with the matrix's reason.
    List {
        /// Only this review queue.
        #[arg(long)]
        queue: Option<String>,
        #[arg(long, default_value = "var/journal.sqlite", value_parser = parse_store, value_name = "SQLITE_FILE|POSTGRES_URL")]
        journal: Store,
        #[arg(long)]
        json: bool,
    },
    /// Apply the held change to the stored record and queue the delivery.
    Approve {
        #[command(flatten)]
        pick: PickHeld,
        #[command(flatten)]
        who: Who,
    },
    /// Keep the stored record as it is and send nothing (kept as `discarded`).
    Reject {
        #[command(flatten)]
        pick: PickHeld,
        #[command(flatten)]
        who: Who,
    },
}

fn held(p: &PickHeld) -> Result<review::Held, ExitCode> {
    if p.ids.is_empty() && p.queue.is_none() {
        eprintln!("error: name held deliveries by id, or a whole queue with --queue");
        return Err(ExitCode::from(2));
    }
    Ok(review::Held {
        ids: p.ids.clone(),
        queue: p.queue.clone(),
    })
}

fn review_command(
    spec: &Spec,
    production: &Production,
    r: Review,
    print: impl Fn(Result<String, super::journal::JournalError>) -> ExitCode,
) -> ExitCode {
    match r {
        Review::List {
            queue,
            journal,
            json,
        } => print(review::list(
            &journal,
            &review::Held { ids: vec![], queue },
            json,
        )),
        Review::Approve { pick, who } => match held(&pick) {
            Err(code) => code,
            Ok(h) => print(review::approve(
                &who.journal,
                spec,
                production.chains(),
                &h,
                &Actor::new(who.by, who.why),
            )),
        },
        Review::Reject { pick, who } => {
            let h = match held(&pick) {
                Ok(h) => h,
                Err(code) => return code,
            };
            if let Err(code) = require_why(&who, "a review rejection") {
                return code;
            }
            print(review::reject(
                &who.journal,
                &h,
                &Actor::new(who.by, who.why),
            ))
        }
    }
}

/// The dead letters an action names: ids, or `--all` (narrowed by the filters). Listing
/// needs neither.
fn selection(p: &Pick, acting: bool) -> Result<Selection, ExitCode> {
    if acting && p.ids.is_empty() && !p.all && p.interface.is_none() && p.reason.is_none() {
        eprintln!("error: name dead letters by id, or pass --all (with --interface/--reason/--since to narrow)");
        return Err(ExitCode::from(2));
    }
    Ok(Selection {
        ids: p.ids.clone(),
        interface: p.interface.clone(),
        reason: p.reason.clone(),
        since_ms: since(p.since.as_deref())?,
    })
}

/// Actions that change what the peers get are audited with a reason.
fn require_why(who: &Who, action: &str) -> Result<(), ExitCode> {
    if who.why.is_none() {
        eprintln!("error: {action} is audited: say why with --why \"...\"");
        return Err(ExitCode::from(2));
    }
    Ok(())
}

fn since(s: Option<&str>) -> Result<Option<i64>, ExitCode> {
    match s.map(time::parse_duration) {
        Some(None) => {
            eprintln!("error: --since takes a period such as 15m, 2h or 7d");
            Err(ExitCode::from(2))
        }
        Some(v) => Ok(v),
        None => Ok(None),
    }
}

fn instant(flag: &str, s: Option<&str>) -> Result<Option<i64>, ExitCode> {
    match s.map(time::parse_instant) {
        Some(None) => {
            eprintln!(
                "error: --{flag} takes a UTC date or time such as 2026-11-22 or 2026-11-22T10:15"
            );
            Err(ExitCode::from(2))
        }
        Some(v) => Ok(v),
        None => Ok(None),
    }
}

fn print_errors(errors: &[ConfigError]) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    eprintln!("error: the configuration has {} problem(s)", errors.len());
    ExitCode::from(2)
}

pub fn main(production: Production) -> ExitCode {
    let cli = Cli::parse();
    let spec: Spec = match serde_json::from_str(production.spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: the embedded production spec does not read ({e}); rebuild with `accord build`");
            return ExitCode::from(2);
        }
    };
    let print = |r: Result<String, super::journal::JournalError>| match r {
        Ok(s) => {
            print!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    };
    match cli.command {
        Command::Run { at, node } => run(
            spec,
            production,
            at,
            node.or_else(|| std::env::var("ACCORD_NODE").ok()),
        ),
        Command::Backup { journal, to } => {
            let Some(journal) = sqlite_only(&journal, "backup") else {
                return ExitCode::from(2);
            };
            print(super::journal::backup::backup(journal, &to).map(|c| {
                format!(
                    "backed up {} ({} messages, {} bytes) to {}\n",
                    journal.display(),
                    c.messages,
                    c.bytes,
                    to.display()
                )
            }))
        }
        Command::Restore { from, journal } => {
            let Some(journal) = sqlite_only(&journal, "restore") else {
                return ExitCode::from(2);
            };
            print(
                super::journal::backup::restore(&from, journal).map(|(c, kept)| {
                    let kept = kept
                        .map(|k| format!("; the journal it replaced is {}", k.display()))
                        .unwrap_or_default();
                    format!(
                        "restored {} ({} messages) to {}{kept}\n",
                        from.display(),
                        c.messages,
                        journal.display()
                    )
                }),
            )
        }
        Command::Console(ConsoleCommand::HashPassword) => {
            let mut password = String::new();
            if let Err(e) = std::io::stdin().read_line(&mut password) {
                eprintln!("error: cannot read the password from standard input: {e}");
                return ExitCode::from(2);
            }
            let password = password.trim_end_matches(['\r', '\n']);
            if password.len() < 12 {
                eprintln!("error: the password has {} characters, fewer than 12\n  = help: choose a longer one; a passphrase of a few words is easier to type", password.chars().count());
                return ExitCode::from(2);
            }
            match super::console::hash_password(password) {
                Ok(h) => {
                    println!("{h}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot hash the password: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::CheckConfig { at, schema } => {
            if schema {
                return match production.config_schemas.iter().find(|(e, _)| *e == at.env) {
                    Some((_, s)) => {
                        println!("{s}");
                        ExitCode::SUCCESS
                    }
                    None => print_errors(&[ConfigError {
                        message: format!("no environment `{}`", at.env),
                        help: format!("choose one of: {}", spec.environments.join(", ")),
                    }]),
                };
            }
            match config::load(
                &spec,
                production.config_schemas,
                &at.env,
                at.config.as_deref(),
                &at.store,
            ) {
                Err(errors) => print_errors(&errors),
                Ok(c) => {
                    println!("configuration for `{}` is valid", c.env);
                    for w in config::warnings(&spec, &c) {
                        println!("warning: {}\n  = help: {}", w.message, w.help);
                    }
                    for (name, e) in &c.endpoints {
                        let shown: Vec<String> = e
                            .values
                            .iter()
                            .map(|(k, v)| {
                                if k == "password"
                                    || k == "private_key"
                                    || k == "signing_key"
                                    || k.contains("secret")
                                    || k.contains("token")
                                {
                                    format!("{k}=***")
                                } else if v.trim_start().starts_with("-----BEGIN") {
                                    format!("{k}=<PEM, {} bytes>", v.len())
                                } else {
                                    format!("{k}={v}")
                                }
                            })
                            .collect();
                        println!("  {name} ({}): {}", e.transport, shown.join(" "));
                    }
                    println!("  journal: {} (sync {:?})", c.journal, c.sync);
                    ExitCode::SUCCESS
                }
            }
        }
        Command::Status { journal, json } => print(super::journal::query::status(&journal, json)),
        Command::Messages {
            journal,
            control_id,
            patient,
            state,
            interface,
            since: period,
            limit,
            json,
        } => {
            let since_ms = match since(period.as_deref()) {
                Ok(v) => v,
                Err(code) => return code,
            };
            let f = super::journal::query::Filter {
                control_id,
                patient,
                state,
                interface,
                since_ms,
                limit,
            };
            print(super::journal::query::messages(&journal, &f, json))
        }
        Command::DeadLetters(d) => dead_letters(&spec, &production, d, print),
        Command::Review(r) => review_command(&spec, &production, r, print),
        Command::Records {
            record,
            key,
            journal,
            json,
        } => print(review::show_record(&journal, &record, &key, json)),
        Command::Replay {
            interface,
            since: window,
            from,
            to,
            key,
            version,
            dry_run,
            who,
        } => {
            let from_ms = match (since(window.as_deref()), instant("from", from.as_deref())) {
                (Ok(Some(w)), Ok(None)) => Some(time::now_ms() - w),
                (Ok(None), Ok(f)) => f,
                (Ok(Some(_)), Ok(Some(_))) => {
                    eprintln!("error: give --since or --from, not both");
                    return ExitCode::from(2);
                }
                (Err(code), _) | (_, Err(code)) => return code,
            };
            let to_ms = match instant("to", to.as_deref()) {
                Ok(v) => v,
                Err(code) => return code,
            };
            if !dry_run {
                if let Err(code) = require_why(&who, "a replay") {
                    return code;
                }
            }
            let r = operator::Replay {
                interface,
                from_ms,
                to_ms,
                key,
                version,
                dry_run,
            };
            print(operator::replay(
                &who.journal,
                &spec,
                &r,
                &Actor::new(who.by, who.why),
            ))
        }
        Command::Audit { journal, json } => print(operator::audit_log(&journal, json)),
        Command::Trace { id, journal } => match super::journal::query::trace(&journal, &id) {
            Ok(Some(s)) => {
                print!("{s}");
                ExitCode::SUCCESS
            }
            Ok(None) => {
                eprintln!(
                    "error: no message with id, control id or correlation `{id}` in {journal}"
                );
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn run(spec: Spec, production: Production, at: Where, node: Option<String>) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ACCORD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let config = match config::load(
        &spec,
        production.config_schemas,
        &at.env,
        at.config.as_deref(),
        &at.store,
    ) {
        Ok(c) => c,
        Err(errors) => return print_errors(&errors),
    };
    for w in config::warnings(&spec, &config) {
        tracing::warn!(help = %w.help, "{}", w.message);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        #[cfg(unix)]
        let reload = (production, at.clone());
        match start(spec, production, config, super::cluster::Identity::new(node)).await {
            Ok(engine) => {
                #[cfg(unix)]
                tokio::spawn(reload_on_hangup(engine.clone(), reload.0, reload.1));
                tracing::info!(estate = %engine.spec.estate, version = %engine.spec.version, env = %engine.config.env, "production ready");
                stop_signal().await;
                tracing::info!("stopping: every acknowledged message is in the journal");
                // The other nodes take this one's lanes at once, not when its leases run out.
                tokio::task::block_in_place(|| super::cluster::leave(&engine));
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("error: {why}");
                ExitCode::from(2)
            }
        }
    })
}

/// Waits for the signal to stop: SIGINT (Ctrl-C), or SIGTERM, which service managers send.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn bind(addr: &str, what: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} for {what}: {e}\n  = help: free the port, or set another under [endpoints.NAME] port = N in the configuration"))
}

async fn start(
    spec: Spec,
    production: Production,
    config: config::Config,
    node: super::cluster::Identity,
) -> Result<Arc<Engine>, String> {
    // Admitted among the estate's nodes before the journal is opened (which sets the
    // lanes the nodes agree on).
    let cluster = tokio::task::block_in_place(|| super::cluster::join(&spec, &config, node))?;
    let journal = Journal::open_store(&config.journal, config.sync, config.limits.lanes)
        .map_err(|e| e.to_string())?;
    let (estate, version) = (spec.estate.clone(), spec.version.clone());
    journal
        .write(move |c| super::journal::gauges::record_estate(c, &estate, &version))
        .await
        .map_err(|e| e.to_string())?;
    // Bind everything before starting anything, so a port in use fails the start cleanly.
    let mut listeners = vec![];
    let mut folders = vec![];
    // API interfaces (FHIR facades) listen for HTTP on their endpoint.
    let mut facades = vec![];
    for i in spec.interfaces.iter().filter(|i| !i.serves.is_empty()) {
        let Some(e) = i.endpoint.as_deref().and_then(|n| config.endpoints.get(n)) else {
            return Err(format!(
                "API interface `{}` has no endpoint to listen on\n  = help: give it `via ENDPOINT`, an endpoint with a host and port",
                i.name
            ));
        };
        let addr = e
            .address()
            .map_err(|e| format!("{}\n  = help: {}", e.message, e.help))?;
        let l = bind(&addr, &format!("the FHIR API of `{}`", i.name)).await?;
        tracing::info!(interface = %i.name, addr = %l.local_addr().map(|a| a.to_string()).unwrap_or(addr), "FHIR API listening");
        facades.push((i.name.clone(), l));
    }
    let mut endpoints: Vec<&str> = spec
        .interfaces
        .iter()
        .filter(|i| i.role == Role::Service && i.serves.is_empty())
        .filter_map(|i| i.endpoint.as_deref())
        .collect();
    endpoints.sort();
    endpoints.dedup();
    for name in endpoints {
        let Some(e) = config.endpoints.get(name) else {
            continue;
        };
        if e.transport == "file" {
            let dir = std::path::PathBuf::from(e.get("path").unwrap_or("./var/in"));
            folders.push((name.to_string(), dir));
            continue;
        }
        if e.transport != "mllp" {
            return Err(format!(
                "endpoint `{name}` receives over `{}`, which the engine cannot serve yet\n  = help: receive over mllp or from a file folder",
                e.transport
            ));
        }
        let addr = e
            .address()
            .map_err(|e| format!("{}\n  = help: {}", e.message, e.help))?;
        let l = bind(&addr, &format!("endpoint `{name}`")).await?;
        tracing::info!(endpoint = name, addr = %l.local_addr().map(|a| a.to_string()).unwrap_or(addr), "listening");
        listeners.push((name.to_string(), l));
    }
    let admin = match &config.admin {
        Some(a) => Some(bind(a, "the admin HTTP listener").await?),
        None => None,
    };
    let engine = Arc::new(Engine::new(spec, production, config, journal, cluster));
    for (name, l) in listeners {
        tokio::spawn(inbound::run(engine.clone(), name, l));
    }
    for (name, dir) in folders {
        tokio::spawn(folder::run(engine.clone(), name, dir));
    }
    for (name, l) in facades {
        tokio::spawn(super::api::serve(engine.clone(), name, l));
    }
    if let Some(l) = admin {
        tracing::info!(addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "admin HTTP: /health /ready /metrics");
        tokio::spawn(admin::serve(engine.clone(), l));
    }
    tokio::spawn(process::run(engine.clone()));
    for i in engine
        .spec
        .interfaces
        .iter()
        .filter(|i| i.role == Role::Operation && i.status != "retired")
    {
        tokio::spawn(outbound::run(engine.clone(), i.name.clone()));
    }
    tokio::spawn(flows::run(engine.clone()));
    tokio::spawn(gauges(engine.clone()));
    tokio::spawn(super::retention::run(engine.clone()));
    super::cluster::start(engine.clone());
    engine.ready.store(true, Ordering::Release);
    Ok(engine)
}

/// Refreshes the queue-depth and review gauges from the journal once a second, and
/// measures the contracts' SLAs (see `sla`): alerts when one breaks, logs when it is met again.
async fn gauges(engine: Arc<Engine>) {
    let mut breaches = super::sla::Breaches::default();
    let mut expiring: std::collections::BTreeSet<(String, String)> = Default::default();
    seed_quiet_clocks(&engine).await;
    // Counting a service's backlog joins each waiting delivery to its inbound message:
    // done only when a service's contract asks.
    let service_backlogs = engine
        .spec
        .interfaces
        .iter()
        .any(|i| i.role == Role::Service && i.sla.backlog_under.is_some());
    loop {
        certificate_gauges(&engine, &mut expiring);
        // Only the node that judges the SLAs reads the services' backlogs (see below).
        let judges = !engine.cluster.clustered() || engine.cluster.owns(super::cluster::TIMERS);
        let by_service = service_backlogs && judges;
        let depths = engine
            .journal
            .write_redoable(move |c| super::journal::gauges::depths(c, by_service))
            .await
            .unwrap_or_default();
        let (depths, held, by_service) = depths;
        for i in engine
            .spec
            .interfaces
            .iter()
            .filter(|i| i.role == Role::Operation)
        {
            let depth = depths
                .iter()
                .find(|(n, _)| n == &i.name)
                .map(|(_, d)| *d)
                .unwrap_or(0);
            let label = super::metrics::Metrics::iface(&i.name);
            engine.metrics.queue_depth.get_or_create(&label).set(depth);
            let waiting = held.iter().find(|(n, _)| n == &i.name).map(|(_, d)| *d);
            engine
                .metrics
                .review_pending
                .get_or_create(&label)
                .set(waiting.unwrap_or(0));
        }
        let backlogs = super::sla::Backlogs {
            operations: depths.into_iter().collect(),
            services: by_service.into_iter().collect(),
        };
        // When nodes share the journal, one of them judges the SLAs (the holder of the
        // timers' lease), so an alert is raised once, and a feed heard by another node is
        // not quiet: its clock is read from the journal first. Its delivery times are
        // those of its own lanes.
        if engine.cluster.clustered() {
            if !judges {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            seed_quiet_clocks(&engine).await;
        }
        super::sla::evaluate(
            &engine.spec.interfaces,
            &engine.sla,
            &backlogs,
            &engine.metrics,
            &engine.alerts,
            &mut breaches,
            super::time::now_ms(),
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Starts each `sla: quiet` clock at the interface's last message in the journal (a
/// restart does not reset how long a feed has been quiet).
/// Sets when each interface with a `quiet:` SLA last had a message, from the journal: at
/// start-up (a restart does not reset how long a feed has been quiet), and, when nodes
/// share the journal, before each evaluation (a feed may be heard by another node).
async fn seed_quiet_clocks(engine: &Engine) {
    let names: Vec<(String, bool)> = engine
        .spec
        .interfaces
        .iter()
        .filter(|i| i.sla.quiet_ms.is_some())
        .map(|i| (i.name.clone(), i.role == Role::Operation))
        .collect();
    if names.is_empty() {
        return;
    }
    let last = engine
        .journal
        .write_redoable(move |c| {
            let mut out = vec![];
            for (name, operation) in &names {
                let at = super::journal::gauges::last_activity(c, name, *operation)?;
                out.extend(at.map(|at| (name.clone(), at)));
            }
            Ok(out)
        })
        .await
        .unwrap_or_default();
    for (name, at) in last {
        engine.sla.heard(&name, at);
    }
}

/// Sets each certificate's seconds-to-expiry gauge, and raises an alert once when one comes
/// within `[tls] expiry_warning_days` of expiring (again after it is renewed and reloaded).
fn certificate_gauges(
    engine: &Engine,
    expiring: &mut std::collections::BTreeSet<(String, String)>,
) {
    let now = jiff::Timestamp::now().as_second();
    let warn_s = i64::from(engine.config.tls_expiry_warning_days) * 86_400;
    for c in engine.config.tls.certificates() {
        let left = c.facts.seconds_left(now);
        let label = super::metrics::CertificateLabel {
            endpoint: c.endpoint.clone(),
            certificate: c.role.to_string(),
            subject: c.facts.subject.clone(),
        };
        engine
            .metrics
            .certificate_expiry
            .get_or_create(&label)
            .set(left);
        let key = (c.endpoint.clone(), c.facts.subject.clone());
        if left < warn_s {
            if expiring.insert(key) {
                engine.alert(
                    &format!("certificate:{}", c.endpoint),
                    &c.endpoint,
                    &format!(
                        "the {} certificate of {} ({}) expires in {} days; renew it and send SIGHUP",
                        c.role,
                        c.endpoint,
                        c.facts.subject,
                        left / 86_400
                    ),
                );
            }
        } else {
            expiring.remove(&key);
        }
    }
}

/// On `SIGHUP`, reads the configuration again and takes the endpoints' new certificates,
/// keys and CAs (files and secrets read anew) for the connections that follow, and the
/// HTTP and FHIR operations' new credentials for their next delivery. A
/// configuration with errors changes nothing; open connections and the journal are
/// untouched, so no message is lost.
#[cfg(unix)]
async fn reload_on_hangup(engine: Arc<Engine>, production: Production, at: Where) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("SIGHUP cannot be caught: certificates are reloaded only by a restart");
        return;
    };
    while hangups.recv().await.is_some() {
        let loaded = config::load(
            &engine.spec,
            production.config_schemas,
            &at.env,
            at.config.as_deref(),
            &at.store,
        );
        match loaded {
            Ok(next) => {
                for note in engine.config.tls.take_from(&next.tls) {
                    tracing::warn!("SIGHUP: {note}");
                }
                engine.reloaded.publish(next.endpoints, next.admin_token);
                tracing::info!(
                    certificates = engine.config.tls.certificates().len(),
                    "SIGHUP: certificates, keys, CAs and credentials reloaded"
                );
            }
            Err(errors) => {
                for e in errors {
                    tracing::error!(help = %e.help, "SIGHUP: the configuration was not reloaded: {}", e.message);
                }
            }
        }
    }
}

fn dead_letters(
    spec: &Spec,
    production: &Production,
    d: DeadLetters,
    print: impl Fn(Result<String, super::journal::JournalError>) -> ExitCode,
) -> ExitCode {
    match d {
        DeadLetters::List {
            pick,
            journal,
            json,
        } => {
            let s = match selection(&pick, false) {
                Ok(s) => s,
                Err(code) => return code,
            };
            print(operator::list(&journal, &s, json))
        }
        DeadLetters::Show { id, journal } => print(operator::show(&journal, id)),
        DeadLetters::Resend { pick, edit, who } => {
            let s = match selection(&pick, true) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let edited = match &edit {
                None => None,
                Some(path) => match std::fs::read(path) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        eprintln!("error: cannot read {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                },
            };
            if edited.is_some() {
                if let Err(code) = require_why(&who, "an edit") {
                    return code;
                }
            }
            print(operator::resend(
                &who.journal,
                spec,
                production.chains(),
                &s,
                edited.as_deref(),
                &Actor::new(who.by, who.why),
            ))
        }
        DeadLetters::Discard { pick, who } => {
            let s = match selection(&pick, true) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if let Err(code) = require_why(&who, "a discard") {
                return code;
            }
            print(operator::discard(
                &who.journal,
                &s,
                &Actor::new(who.by, who.why),
            ))
        }
    }
}

/// A `--journal` argument: a SQLite file's path or a PostgreSQL URL.
fn parse_store(s: &str) -> Result<Store, String> {
    Store::parse(s).map_err(|e| e.0)
}

/// The SQLite file of a command only the embedded journal has; `None`, with the reason
/// printed, for a PostgreSQL journal.
fn sqlite_only<'a>(store: &'a Store, command: &str) -> Option<&'a std::path::Path> {
    let path = store.sqlite_path();
    if path.is_none() {
        eprintln!(
            "error: `{command}` copies a SQLite journal; {store} is PostgreSQL\n  = help: use PostgreSQL's own tools: pg_basebackup for a base backup, a streaming standby for failover (runbook: Availability)"
        );
    }
    path
}
