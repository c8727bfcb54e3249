//! The `accord` command line (clap). Thin: it reads files, calls the library, prints, and
//! chooses the exit code (0 success, 1 errors or changes found, 2 usage or IO problems).

mod build;
mod diff;
mod doc;
mod fhir_load;
mod hl7;
mod hl7_load;
mod hl7_validate;
mod today;

use crate::load::{self, Loaded};
use crate::{codes, compile, ir, render, Compilation, Options};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "accord",
    version,
    about = "Contract-first compiler for healthcare interfaces"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Human,
    Json,
    Markdown,
}

#[derive(Clone, Copy, ValueEnum)]
enum DocFormat {
    Html,
    Markdown,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Code maps as FHIR R4 ConceptMap JSON: one map on stdout, all of them as a
    /// `collection` Bundle, or one file per map with `-o DIR`.
    Conceptmap {
        estate: PathBuf,
        /// The code map to export (default: every code map of the estate).
        codemap: Option<String>,
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Check an estate: files or estate folders. Exit 0 clean, 1 errors, 2 usage/IO.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// The date review dates are compared with (YYYY-MM-DD); default today, or $ACCORD_TODAY.
        #[arg(long)]
        today: Option<String>,
    },
    /// Format files in the canonical layout; `--check` lists files that would change.
    Fmt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        check: bool,
    },
    /// The long explanation of a diagnostic code, with an example.
    Explain { code: String },
    /// Print the estate's IR as JSON.
    Ir {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        today: Option<String>,
    },
    /// Print the JSON Schema of the IR.
    Schema,
    /// Generate the estate's Rust crate and compile it with cargo.
    Build {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Where to write the crate (default: target/accord/<estate>).
        #[arg(short, long)]
        out: Option<PathBuf>,
        #[arg(long)]
        release: bool,
        /// Write the crate but do not run cargo.
        #[arg(long)]
        no_cargo: bool,
    },
    /// Run one mapping of the estate (or a chain `a,b`) on a sample message, through the
    /// generated code, and print the result.
    Map {
        estate: PathBuf,
        mapping: String,
        file: PathBuf,
        #[arg(long, default_value = "json")]
        format: String,
    },
    /// Build the estate's production and run it in an environment (Ctrl-C stops it).
    Run {
        estate: PathBuf,
        /// The environment (`dev`, `test`, `prod`, ... as the estate declares them).
        #[arg(long)]
        env: String,
        /// The environment's TOML configuration (settings, secrets, endpoint overrides).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the embedded journal lives.
        #[arg(long, default_value = "var")]
        store: PathBuf,
        #[arg(long)]
        release: bool,
    },
    /// Run the estate's tests against its generated code, then its scenarios on the
    /// production in process (virtual peers and clock; no sockets needed).
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Run the negative cases derived from the contract instead: each test's message
        /// with an unlisted code, a required field missing or a length broken, which must
        /// get the outcome the contract prescribes.
        #[arg(long)]
        generated: bool,
    },
    /// Generate the governance site: overview, interface catalogue and pages, the
    /// source-of-truth matrix, records, code maps and the dependency graph.
    Doc {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The folder to write the site to.
        #[arg(short, long, default_value = "target/accord-doc")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "html")]
        format: DocFormat,
        /// The date review dates are compared with (YYYY-MM-DD); default today, or $ACCORD_TODAY.
        #[arg(long)]
        today: Option<String>,
        /// Add a change log page: what `accord diff` finds since this git revision.
        #[arg(long)]
        since: Option<String>,
    },
    /// Classify every change between two versions of an estate as breaking, compatible or
    /// documentation-only, and check each interface's version bump. Each side is a folder
    /// or `git:REF[:PATH]` (PATH from the top of the repository; default the other side's). Exit 0 versions follow the
    /// changes, 1 a version error, 2 a side cannot be read or has errors.
    Diff {
        old: String,
        new: String,
        #[arg(long, value_enum, default_value = "human")]
        format: DiffFormat,
    },
    /// Export parts of the estate in standard formats.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// HL7 v2 tools: get, inspect, validate, ack, send, listen.
    Hl7 {
        #[command(subcommand)]
        command: hl7::Hl7Command,
    },
    /// FHIR tools: load (drive a running production's FHIR API and report its read throughput).
    Fhir {
        #[command(subcommand)]
        command: FhirCommand,
    },
}

#[derive(Subcommand)]
enum FhirCommand {
    /// Send the same GET over several keep-alive connections and report requests/s and latency percentiles.
    Load {
        /// The URL to read, e.g. http://127.0.0.1:18080/Patient/patient-300001
        url: String,
        /// The bearer token (a JWT the production's [auth] accepts).
        #[arg(long)]
        bearer: Option<String>,
        #[arg(long, default_value = "8")]
        connections: usize,
        #[arg(long, default_value = "20000")]
        requests: usize,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            paths,
            format,
            deny_warnings,
            today,
        } => check(&paths, format, deny_warnings, today),
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Explain { code } => explain(&code),
        Command::Ir { paths, today } => print_ir(&paths, today),
        Command::Hl7 { command } => hl7::run(command),
        Command::Fhir {
            command:
                FhirCommand::Load {
                    url,
                    bearer,
                    connections,
                    requests,
                },
        } => fhir_load::load(&fhir_load::FhirLoadOptions {
            url: &url,
            bearer: bearer.as_deref(),
            connections,
            requests,
        }),
        Command::Doc {
            paths,
            out,
            format,
            today,
            since,
        } => doc::doc(
            &paths,
            &doc::DocOptions {
                out: &out,
                format: match format {
                    DocFormat::Html => crate::docs::Format::Html,
                    DocFormat::Markdown => crate::docs::Format::Markdown,
                },
                today,
                since: since.as_deref(),
            },
        ),
        Command::Diff { old, new, format } => diff::run(
            &old,
            &new,
            match format {
                DiffFormat::Human => diff::DiffFormat::Human,
                DiffFormat::Json => diff::DiffFormat::Json,
                DiffFormat::Markdown => diff::DiffFormat::Markdown,
            },
        ),
        Command::Export {
            command:
                ExportCommand::Conceptmap {
                    estate,
                    codemap,
                    out,
                },
        } => doc::export_conceptmap(&[estate], codemap.as_deref(), out.as_deref()),
        Command::Test { paths, generated } => build::test(&paths, generated),
        Command::Map {
            estate,
            mapping,
            file,
            format,
        } => build::map(&[estate], &mapping, &file, &format),
        Command::Run {
            estate,
            env,
            config,
            store,
            release,
        } => build::run(
            &[estate],
            &build::RunOptions {
                env: &env,
                config: config.as_deref(),
                store: &store,
                release,
            },
        ),
        Command::Build {
            paths,
            out,
            release,
            no_cargo,
        } => build::build(&paths, out, release, no_cargo),
        Command::Schema => {
            let schema = schemars::schema_for!(ir::Estate);
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
    }
}

/// Writes to stdout; a closed pipe (`accord ... | head`) ends the output quietly instead
/// of panicking.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn compile_paths(
    paths: &[PathBuf],
    today: Option<String>,
) -> Result<(Loaded, Compilation), ExitCode> {
    let loaded = load::load(paths).map_err(|e| usage_error(&e))?;
    let today = today_or(today);
    let root = loaded.root.clone();
    let names: Vec<String> = loaded
        .sources
        .files()
        .map(|(_, f)| f.name.clone())
        .collect();
    let file_exists = move |file: crate::FileId, rel: &str| {
        let base = names.get(file.0 as usize).cloned().unwrap_or_default();
        root.join(crate::resolve::join_relative(&base, rel))
            .is_file()
    };
    let options = Options {
        today,
        file_exists: Some(Box::new(file_exists)),
    };
    let result = compile(&loaded.sources, &options);
    Ok((loaded, result))
}

/// The date given, else `$ACCORD_TODAY`, else the system clock's.
fn today_or(today: Option<String>) -> String {
    match today.or_else(|| std::env::var("ACCORD_TODAY").ok()) {
        Some(t) => t,
        None => today::today(),
    }
}

fn print_human(loaded: &Loaded, result: &Compilation) {
    let color = std::io::stderr().is_terminal();
    eprint!(
        "{}",
        render::human(
            &result.diagnostics,
            &loaded.sources,
            &loaded.display_prefix,
            color
        )
    );
    if let Some(s) = render::summary(&result.diagnostics) {
        eprintln!("{s}");
    }
}

fn check(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    today: Option<String>,
) -> ExitCode {
    let (loaded, result) = match compile_paths(paths, today) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match format {
        Format::Json => println!(
            "{}",
            render::json(&result.diagnostics, &loaded.sources, &loaded.display_prefix)
        ),
        Format::Human => {
            print_human(&loaded, &result);
            if result.diagnostics.is_empty() {
                eprintln!("ok: {} files checked, no problems", loaded.sources.len());
            }
        }
    }
    let failed = result.has_errors() || (deny_warnings && !result.diagnostics.is_empty());
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_ir(paths: &[PathBuf], today: Option<String>) -> ExitCode {
    let (loaded, result) = match compile_paths(paths, today) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match &result.ir {
        Some(ir) => {
            emit(&(serde_json::to_string_pretty(ir).unwrap_or_default() + "\n"));
            ExitCode::SUCCESS
        }
        None => {
            print_human(&loaded, &result);
            ExitCode::from(1)
        }
    }
}

fn fmt(paths: &[PathBuf], check: bool) -> ExitCode {
    let loaded = match load::load(paths) {
        Ok(l) => l,
        Err(e) => return usage_error(&e),
    };
    let mut changed = vec![];
    let mut broken = false;
    for (_, f) in loaded.sources.files() {
        let path = loaded.root.join(&f.name);
        match accord_dsl::fmt::format_source(&f.text) {
            Ok(formatted) if formatted != f.text => {
                if check {
                    changed.push(format!("{}{}", loaded.display_prefix, f.name));
                } else if let Err(e) = std::fs::write(&path, formatted) {
                    return usage_error(&format!("cannot write `{}`: {e}", path.display()));
                }
            }
            Ok(_) => {}
            Err(diags) => {
                broken = true;
                let mut one = accord_dsl::SourceMap::new();
                let id = one.add(f.name.clone(), f.text.clone());
                let diags: Vec<_> = diags
                    .into_iter()
                    .map(|mut d| {
                        d.labels.iter_mut().for_each(|l| l.span.file = id);
                        d
                    })
                    .collect();
                eprint!(
                    "{}",
                    render::human(
                        &diags,
                        &one,
                        &loaded.display_prefix,
                        std::io::stderr().is_terminal()
                    )
                );
            }
        }
    }
    for c in &changed {
        println!("would reformat {c}");
    }
    if broken || !changed.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn explain(code: &str) -> ExitCode {
    let Some(info) = codes::lookup(code) else {
        return usage_error(&format!(
            "`{code}` is not a diagnostic code; codes look like E0401 or W0501"
        ));
    };
    println!("{}: {}\n\n{}", info.code, info.title, info.explanation);
    if let Some(example) = codes::example(info.code) {
        println!("\nFor example, this estate triggers {}:\n", info.code);
        for line in example.lines() {
            println!("    {line}");
        }
    }
    ExitCode::SUCCESS
}
