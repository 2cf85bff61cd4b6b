//! The command line: one file per command group; this one parses and dispatches.
//!
//! The commands use the capabilities (`config`, `store`, `import`, `push`, `docs`,
//! `server`); nothing below `cli` imports it.

mod bench;
mod check_config;
mod check_data;
mod conformance;
mod console;
mod curl;
mod demo;
mod documents;
mod import;
mod push;
mod render;
mod report;
mod requester;
mod serve;
mod sign;
mod vault;

pub use curl::curl_line;
pub use serve::redact_url;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::{Config, EnvOverrides};

#[derive(Debug, Parser)]
#[command(
    name = "dlrepo",
    version,
    about = "A DigiLocker issuer's dedicated repository"
)]
pub struct Cli {
    /// The configuration file [default: $DLREPO_CONFIG, else dlrepo.toml].
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// Log lines as text (for people) or JSON (for log shippers).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The usage report (per doc type and month): pulls found, not found, refused by
    /// reason, Pull Doc, distinct URIs, latency, pushes.
    Report {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day, YYYY-MM-DD (included).
        #[arg(long)]
        to: chrono::NaiveDate,
        #[arg(long, value_enum, default_value = "text")]
        format: report::ReportFormat,
        /// Write it here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The read-only web console.
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// Receiving documents residents share through DigiLocker ([requester]).
    #[command(subcommand)]
    Requester(RequesterCommand),
    /// Save to Locker buttons for issued documents ([requester]).
    #[command(subcommand)]
    SaveToLocker(SaveCommand),
    /// Set up a working folder with example config, database and documents, then serve it.
    Demo {
        /// The working folder (created if missing, reused if present).
        #[arg(long, default_value = "dlrepo-demo")]
        dir: PathBuf,
        /// Set up and print the curl line, but do not start the server.
        #[arg(long)]
        no_serve: bool,
    },
    /// Serve Pull URI, Pull Doc and /healthz.
    Serve,
    /// Import documents of one doc type from a CSV file.
    Import {
        #[arg(long)]
        doctype: String,
        /// The CSV file: a header row, one column per UDF, doc_name, issued_on, ...
        file: PathBuf,
        /// Write `line,uri` for every row now issued: imported, or found already issued (a re-run lists them all).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Rows read and written at a time (what the import holds in memory; by default
        /// 25,000 on SQLite, 50,000 on PostgreSQL); a transaction takes as many batches
        /// as it can write in about 5 seconds.
        #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        batch: Option<usize>,
        /// Seconds a transaction goes on taking batches before it commits; 0 commits
        /// each batch on its own (the least that other writers wait, the slowest
        /// import into a large table).
        #[arg(long, default_value_t = crate::import::COMMIT_AFTER.as_secs_f64(), value_parser = seconds)]
        commit_after: f64,
        /// MiB of SQLite's page cache while importing (SQLite only): it should hold the
        /// table's two indexes, ~52 MiB a million documents; past that the import slows
        /// down but its memory does not grow.
        #[arg(long, default_value_t = crate::import::SQLITE_CACHE_MB,
              value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
        sqlite_cache_mb: u64,
        /// Rows whose doc_id is already issued replace that document (pushed as U).
        #[arg(long)]
        correct: bool,
    },
    /// Revoke an issued document: Pull Doc refuses it and a D row is queued for push.
    Revoke { uri: String },
    /// Push queued URIs to the central locker (see `[push]` in the config).
    Push {
        #[command(subcommand)]
        command: Option<PushCommand>,
        /// Send failed files again (same file names, same rows).
        #[arg(long)]
        retry_failed: bool,
        /// Write the CSV files here for manual upload instead of sending them.
        #[arg(long, value_name = "DIR", conflicts_with = "mark_uploaded")]
        export: Option<PathBuf>,
        /// An exported file was uploaded by hand: count its rows as pushed.
        #[arg(long, value_name = "FILE")]
        mark_uploaded: Option<String>,
    },
    /// Test an issuer's Pull URI / Pull Doc endpoints as DigiLocker calls them (any
    /// implementation), or with `central` stand in for the central push API.
    #[command(args_conflicts_with_subcommands = true)]
    Conformance {
        #[command(subcommand)]
        command: Option<conformance::ConformanceCommand>,
        #[command(flatten)]
        args: conformance::ConformanceArgs,
    },
    /// Run a stand-in of the central CSV Upload API on loopback, for trying `push`.
    CentralStandin {
        #[arg(long, default_value = "127.0.0.1:9090")]
        bind: String,
        #[arg(long)]
        org_id: String,
        /// The push API key [default: $DLREPO_PUSH_KEY].
        #[arg(long)]
        key: Option<String>,
    },
    /// Reserve N fresh, unused DocIds and print their URIs.
    Mint {
        #[arg(long)]
        doctype: String,
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
    /// Work with document URIs.
    Uri {
        #[command(subcommand)]
        command: UriCommand,
    },
    /// Print a ready-to-run curl command with a fresh ts and keyhash.
    Curl {
        #[command(subcommand)]
        request: CurlRequest,
        /// Base URL of the server (default: http:// + server.bind).
        #[arg(long)]
        url: Option<String>,
    },
    /// Make a throwaway CA and signing certificate for trying things out.
    Keygen {
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "rsa")]
        algo: crate::docs::keygen::Algorithm,
        /// Validity of the signing certificate in days (negative: already expired).
        #[arg(long, default_value_t = 365, allow_negative_numbers = true)]
        days: i64,
        /// Also write signer.p12 protected by this password (default:
        /// DLREPO_SIGNING_PASSWORD, read with the other environment overrides).
        #[arg(long)]
        p12_password: Option<String>,
    },
    /// Render a doc type's template on one row (a JSON object of field -> value),
    /// unsigned, to check a layout before documents are issued with it.
    Render {
        #[arg(long)]
        doctype: String,
        #[arg(long)]
        row: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Also write a PNG of the page (needs pdftoppm).
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Sign a PDF (PAdES B-B, incremental update) with the configured key, or the given one.
    Sign {
        input: PathBuf,
        output: PathBuf,
        #[command(flatten)]
        key: sign::KeyArgs,
    },
    /// Make and sign again every document of a doc type not signed with the configured
    /// key (after a key or template change). Killed midway: run it again.
    Resign {
        #[arg(long)]
        doctype: String,
        /// Only documents issued (first stored) on or after this day, YYYY-MM-DD.
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// Documents per transaction.
        #[arg(long, default_value_t = 100)]
        batch: i64,
    },
    /// Report every signature of a PDF: signer, time, coverage, changes after signing.
    Verify {
        file: PathBuf,
        /// Trust anchors (PEM); without them the chain is not judged.
        #[arg(long)]
        trust: Vec<PathBuf>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Validate the configuration and name each problem's field.
    CheckConfig,
    /// List documents that break the one-document-per-search rule (from databases
    /// written before it); exits 1 when there are any.
    CheckData,
    /// The Aadhaar vault: keygen, add-key, rotate-key, status.
    #[command(subcommand)]
    Vault(vault::VaultCommand),
    /// Benchmark helpers (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum PushCommand {
    /// Queued, in-flight, pushed and failed counts, and why failed files failed.
    Status,
    /// Read a department table whole: queue A for new rows with an Aadhaar number, U
    /// for changed ones, D for cancelled or vanished ones. Run again to resume.
    Scan {
        #[arg(long)]
        doctype: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequesterCommand {
    /// Print the "Choose from DigiLocker" widget markup for the department's page.
    Snippet {
        /// The button's id: the document asked for (poi, poa, marksheet, ...).
        #[arg(long)]
        button: String,
    },
    /// The documents received, newest first.
    List,
}

#[derive(Debug, Subcommand)]
pub enum SaveCommand {
    /// Print the Save to Locker button for one issued document.
    Snippet { uri: String },
}

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Read a password on standard input, print its argon2 hash for
    /// `[console] password_hash` (or DLREPO_CONSOLE_PASSWORD_HASH).
    HashPassword,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The pulls of one search: did roll number X pull its mark sheet?
    Find {
        #[arg(long)]
        doctype: String,
        /// The search values: RollNo=2024100 Year=2024.
        #[arg(required = true)]
        values: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UriCommand {
    /// Explain a URI's parts, or why it is malformed.
    Parse { uri: String },
}

#[derive(Debug, Subcommand)]
pub enum CurlRequest {
    /// A PullURIRequest: `dlrepo curl pull-uri RollNo=2024100 Year=2024`.
    PullUri {
        /// Search fields as NAME=VALUE.
        udfs: Vec<String>,
        #[command(flatten)]
        api: curl::ApiArgs,
    },
    /// A PullDocRequest for a URI.
    PullDoc {
        uri: String,
        #[command(flatten)]
        api: curl::ApiArgs,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Each cause once: anyhow's "{:#}" repeats one whose text the message
            // already ends with (an import's failed transaction said its cause twice).
            eprintln!("error: {}", crate::error::chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // One JSON object a line, the request's txn among the fields of its lines.
        LogFormat::Json => builder.json().try_init(),
        // Colour codes only for a person at a terminal, never into a log file.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

pub fn load_config(path: &Path) -> Result<Config> {
    let config = Config::load(path, &EnvOverrides::from_env())?;
    for w in config.warnings() {
        tracing::warn!("config: {w}");
    }
    Ok(config)
}

/// The config file: `--config`, else `DLREPO_CONFIG`, else `dlrepo.toml`.
struct ConfigPath {
    config: PathBuf,
}

fn run(cli: Cli) -> Result<ExitCode> {
    let ok = |_| ExitCode::SUCCESS;
    let cli_config = cli
        .config
        .or(EnvOverrides::from_env().config_path)
        .unwrap_or_else(|| PathBuf::from("dlrepo.toml"));
    let command = cli.command;
    let cli = ConfigPath { config: cli_config };
    match command {
        Command::Demo { dir, no_serve } => demo::run(&dir, !no_serve).map(ok),
        Command::Serve => serve::serve(load_config(&cli.config)?, &cli.config).map(ok),
        Command::Migrate => serve::migrate(&load_config(&cli.config)?).map(ok),
        Command::Import {
            doctype,
            file,
            out,
            batch,
            commit_after,
            sqlite_cache_mb,
            correct,
        } => {
            let config = load_config(&cli.config)?;
            let flags = import::ImportFlags {
                out: out.as_deref(),
                batch,
                commit_after: std::time::Duration::from_secs_f64(commit_after),
                sqlite_cache_mb,
                correct,
            };
            let report = import::import_file(&config, &doctype, &file, &flags)?;
            Ok(if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Mint { doctype, count } => {
            documents::mint(&load_config(&cli.config)?, &doctype, count).map(ok)
        }
        Command::Revoke { uri } => documents::revoke(&load_config(&cli.config)?, &uri).map(ok),
        Command::Uri {
            command: UriCommand::Parse { uri },
        } => Ok(documents::explain_uri(&uri)),
        Command::Push {
            command,
            retry_failed,
            export,
            mark_uploaded,
        } => push::run(
            &load_config(&cli.config)?,
            command,
            retry_failed,
            export,
            mark_uploaded,
        ),
        Command::Conformance { command, args } => match command {
            Some(conformance::ConformanceCommand::Central { bind, org_id, key }) => {
                let key = key
                    .or(EnvOverrides::from_env().push_key)
                    .context("--key (or DLREPO_PUSH_KEY) is required")?;
                push::standin(&bind, &org_id, &key).map(ok)
            }
            None => conformance::run(args),
        },
        Command::CentralStandin { bind, org_id, key } => {
            let key = key
                .or(EnvOverrides::from_env().push_key)
                .context("--key (or DLREPO_PUSH_KEY) is required")?;
            push::standin(&bind, &org_id, &key).map(ok)
        }
        Command::Curl { request, url } => {
            let config = load_config(&cli.config)?;
            let base = url.unwrap_or_else(|| format!("http://{}", config.server.bind));
            println!("{}", curl::curl_line(&config, &base, &request)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen {
            dir,
            algo,
            days,
            p12_password,
        } => {
            let password = p12_password.or(EnvOverrides::from_env().signing_password);
            sign::keygen(&dir, algo, days, password.as_deref()).map(ok)
        }
        Command::Render {
            doctype,
            row,
            out,
            png,
        } => render::run(
            &load_config(&cli.config)?,
            &doctype,
            &row,
            &out,
            png.as_deref(),
        )
        .map(ok),
        Command::Sign { input, output, key } => {
            sign::sign(&cli.config, &key, &input, &output).map(ok)
        }
        Command::Verify { file, trust } => sign::verify(&file, &trust),
        Command::Resign {
            doctype,
            since,
            batch,
        } => sign::resign(&load_config(&cli.config)?, &doctype, since, batch),
        Command::CheckConfig => Ok(check_config::run(&cli.config)),
        Command::Report {
            from,
            to,
            format,
            out,
        } => report::report(&load_config(&cli.config)?, from, to, format, out.as_deref()),
        Command::Console(ConsoleCommand::HashPassword) => console::hash_password().map(ok),
        Command::Requester(RequesterCommand::Snippet { button }) => {
            requester::snippet(&load_config(&cli.config)?, &button).map(ok)
        }
        Command::Requester(RequesterCommand::List) => {
            requester::list(&load_config(&cli.config)?).map(ok)
        }
        Command::SaveToLocker(SaveCommand::Snippet { uri }) => {
            requester::save_snippet(&load_config(&cli.config)?, &uri).map(ok)
        }
        Command::Audit(AuditCommand::Find { doctype, values }) => {
            report::find(&load_config(&cli.config)?, &doctype, &values)
        }
        Command::CheckData => check_data::run(&load_config(&cli.config)?),
        Command::Bench(cmd) => bench::run(cmd, &cli.config).map(ok),
        Command::Vault(cmd) => vault::run(cmd, &cli.config).map(ok),
    }
}

/// A number of seconds from 0 to an hour.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds from 0 to 3600")),
    }
}
