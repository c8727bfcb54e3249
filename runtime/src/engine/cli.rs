//! The production binary's command line: `run`, `check-config`, `status`, `messages`,
//! `trace`. `run` checks the configuration, opens the journal, binds every listener (a
//! port in use is an error naming the endpoint), then starts the workers and reports ready.

use super::config::{self, ConfigError};
use super::journal::Journal;
use super::{admin, flows, folder, inbound, outbound, process, query, time, Engine, Production};
use crate::spec::{Role, Spec};
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
enum Command {
    /// Run the production until interrupted.
    Run(Where),
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
        #[arg(long, default_value = "var/journal.sqlite")]
        journal: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Search the journal.
    Messages {
        #[arg(long, default_value = "var/journal.sqlite")]
        journal: PathBuf,
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
        #[arg(long, default_value = "var/journal.sqlite")]
        journal: PathBuf,
    },
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
        Command::Run(at) => run(spec, production, at),
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
                    for (name, e) in &c.endpoints {
                        let shown: Vec<String> = e
                            .values
                            .iter()
                            .map(|(k, v)| {
                                if k == "password" || k.contains("secret") || k.contains("token") {
                                    format!("{k}=***")
                                } else {
                                    format!("{k}={v}")
                                }
                            })
                            .collect();
                        println!("  {name} ({}): {}", e.transport, shown.join(" "));
                    }
                    println!(
                        "  journal: {} (sync {:?})",
                        c.journal_path.display(),
                        c.sync
                    );
                    ExitCode::SUCCESS
                }
            }
        }
        Command::Status { journal, json } => print(query::status(&journal, json)),
        Command::Messages {
            journal,
            control_id,
            patient,
            state,
            interface,
            since,
            limit,
            json,
        } => {
            let since_ms = match since.as_deref().map(time::parse_duration) {
                Some(None) => {
                    eprintln!("error: --since takes a period such as 15m, 2h or 7d");
                    return ExitCode::from(2);
                }
                Some(v) => v,
                None => None,
            };
            let f = query::Filter {
                control_id,
                patient,
                state,
                interface,
                since_ms,
                limit,
            };
            print(query::messages(&journal, &f, json))
        }
        Command::Trace { id, journal } => match query::trace(&journal, &id) {
            Ok(Some(s)) => {
                print!("{s}");
                ExitCode::SUCCESS
            }
            Ok(None) => {
                eprintln!(
                    "error: no message with id, control id or correlation `{id}` in {}",
                    journal.display()
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

fn run(spec: Spec, production: Production, at: Where) -> ExitCode {
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
        match start(spec, production, config).await {
            Ok(engine) => {
                tracing::info!(estate = %engine.spec.estate, version = %engine.spec.version, env = %engine.config.env, "production ready");
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("stopping: every acknowledged message is in the journal");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("error: {why}");
                ExitCode::from(2)
            }
        }
    })
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
) -> Result<Arc<Engine>, String> {
    let journal = Journal::open(&config.journal_path, config.sync).map_err(|e| e.to_string())?;
    let (estate, version) = (spec.estate.clone(), spec.version.clone());
    journal
        .write(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('estate', ?1), ('version', ?2)",
                [estate, version],
            )
        })
        .await
        .map_err(|e| e.to_string())?;
    // Bind everything before starting anything, so a port in use fails the start cleanly.
    let mut listeners = vec![];
    let mut folders = vec![];
    let mut endpoints: Vec<&str> = spec
        .interfaces
        .iter()
        .filter(|i| i.role == Role::Service)
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
    let engine = Arc::new(Engine::new(spec, production, config, journal));
    for (name, l) in listeners {
        tokio::spawn(inbound::run(engine.clone(), name, l));
    }
    for (name, dir) in folders {
        tokio::spawn(folder::run(engine.clone(), name, dir));
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
        .filter(|i| i.role == Role::Operation)
    {
        tokio::spawn(outbound::run(engine.clone(), i.name.clone()));
    }
    tokio::spawn(flows::run(engine.clone()));
    tokio::spawn(gauges(engine.clone()));
    engine.ready.store(true, Ordering::Release);
    Ok(engine)
}

/// Refreshes the queue-depth gauges from the journal once a second.
async fn gauges(engine: Arc<Engine>) {
    loop {
        let depths = engine
            .journal
            .write(|c| {
                let mut st = c.prepare_cached(
                    "SELECT interface, COUNT(*) FROM messages WHERE direction = 'out' AND state IN ('queued', 'retrying') GROUP BY interface",
                )?;
                let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .unwrap_or_default();
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
            engine
                .metrics
                .queue_depth
                .get_or_create(&super::metrics::Metrics::iface(&i.name))
                .set(depth);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
