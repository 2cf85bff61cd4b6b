//! The command line: `dlrepo demo | serve | import | mint | uri | curl | migrate |
//! check-config | bench`.

use std::io::IsTerminal;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use crate::auth;
use crate::config::{Config, EnvOverrides};
use crate::import::{self, ImportOptions};
use crate::store::{self, documents};
use crate::uri::DocUri;
use crate::wire::pull::build;

#[derive(Debug, Parser)]
#[command(
    name = "dlrepo",
    version,
    about = "A DigiLocker issuer's dedicated repository"
)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "DLREPO_CONFIG",
        default_value = "dlrepo.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
        /// Write `line,uri` for every imported row to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Rows per transaction.
        #[arg(long, default_value_t = import::DEFAULT_BATCH)]
        batch: usize,
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
    /// Run a stand-in of the central CSV Upload API on loopback, for trying `push`.
    CentralStandin {
        #[arg(long, default_value = "127.0.0.1:9090")]
        bind: String,
        #[arg(long)]
        org_id: String,
        #[arg(long, env = "DLREPO_PUSH_KEY")]
        key: String,
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
        /// Also write signer.p12 protected by this password.
        #[arg(long, env = "DLREPO_SIGNING_PASSWORD")]
        p12_password: Option<String>,
    },
    /// Sign a PDF (PAdES B-B, incremental update) with the configured key, or the given one.
    Sign {
        input: PathBuf,
        output: PathBuf,
        #[command(flatten)]
        key: crate::sign_cli::KeyArgs,
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
    /// Benchmark helpers (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum PushCommand {
    /// Queued, in-flight, pushed and failed counts, and why failed files failed.
    Status,
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
    },
    /// A PullDocRequest for a URI.
    PullDoc { uri: String },
}

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn load_config(path: &Path) -> Result<Config> {
    let config = Config::load(path, &EnvOverrides::from_env())?;
    for w in config.warnings() {
        tracing::warn!("config: {w}");
    }
    Ok(config)
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    use std::process::ExitCode;
    match cli.command {
        Command::Demo { dir, no_serve } => {
            crate::demo::run(&dir, !no_serve).map(|_| ExitCode::SUCCESS)
        }
        Command::Serve => {
            let config = load_config(&cli.config)?;
            serve(config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            doctype,
            file,
            out,
            batch,
            correct,
        } => {
            let config = load_config(&cli.config)?;
            let report = import_file(&config, &doctype, &file, out.as_deref(), batch, correct)?;
            Ok(if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Mint { doctype, count } => {
            let config = load_config(&cli.config)?;
            let dt = config
                .doctype(&doctype)
                .with_context(|| format!("doc type '{doctype}' is not in the config"))?;
            store::open_and_migrate(&config.database)?;
            let mut conn = store::establish(&config.database.url)?;
            let ids = documents::reserve(
                &mut conn,
                &dt.code,
                &dt.id_space,
                count,
                chrono::Utc::now().naive_utc(),
            )?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for id in ids {
                use std::io::Write;
                writeln!(out, "{}-{}-{}", config.issuer_id, dt.code, id)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Uri {
            command: UriCommand::Parse { uri },
        } => Ok(explain_uri(&uri)),
        Command::Revoke { uri } => {
            let config = load_config(&cli.config)?;
            revoke(&config, &uri)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Push {
            command,
            retry_failed,
            export,
            mark_uploaded,
        } => {
            let config = load_config(&cli.config)?;
            crate::push_cli::run(
                &config,
                command.is_some(),
                retry_failed,
                export,
                mark_uploaded,
            )
        }
        Command::CentralStandin { bind, org_id, key } => {
            crate::push_cli::standin(&bind, &org_id, &key)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Curl { request, url } => {
            let config = load_config(&cli.config)?;
            let base = url.unwrap_or_else(|| format!("http://{}", config.server.bind));
            println!("{}", curl_line(&config, &base, &request)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen {
            dir,
            algo,
            days,
            p12_password,
        } => {
            crate::docs::keygen::generate(&dir, algo, days, p12_password.as_deref())?;
            println!(
                "wrote ca.crt, ca.key, signer.key, signer.crt, signer-chain.pem{} to {} — for trying out only",
                if p12_password.is_some() { ", signer.p12" } else { "" },
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign { input, output, key } => {
            crate::sign_cli::sign(&cli.config, &key, &input, &output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, trust } => crate::sign_cli::verify(&file, &trust),
        Command::Migrate => {
            let config = load_config(&cli.config)?;
            let applied = store::open_and_migrate(&config.database)?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for m in applied {
                println!("applied {m}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => match Config::load(&cli.config, &EnvOverrides::from_env()) {
            Ok(config) => {
                for w in config.warnings() {
                    println!("warning: {w}");
                }
                match config.signing_key() {
                    Ok(Some(k)) => println!("signing key: {}", crate::docs::keys::subject(&k.cert)),
                    Ok(None) => println!("warning: no [signing]: documents are served unsigned"),
                    Err(e) => {
                        eprintln!("signing: {e}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
                if config.doctypes.iter().any(|d| d.source.is_some()) {
                    // Start-up checks department tables against the live schema; so do we.
                    let pool = store::pool(&config.database)?;
                    if let Err(problems) = crate::store::department::prepare_all(
                        &config.doctypes,
                        &config.database,
                        &pool,
                    ) {
                        for p in problems {
                            eprintln!("{p}");
                        }
                        return Ok(ExitCode::FAILURE);
                    }
                }
                println!(
                    "{}: OK ({} doc type(s): {})",
                    cli.config.display(),
                    config.doctypes.len(),
                    config
                        .doctypes
                        .iter()
                        .map(|d| format!("{} DocId length {}", d.code, d.id_space.length))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Bench(cmd) => crate::bench::run(cmd, &cli.config).map(|_| ExitCode::SUCCESS),
    }
}

/// Migrates, then serves until interrupted.
pub fn serve(config: Config) -> Result<()> {
    let applied = store::open_and_migrate(&config.database).with_context(|| {
        format!(
            "cannot prepare the database at {}",
            redact_url(&config.database.url)
        )
    })?;
    for m in applied {
        tracing::info!("applied migration {m}");
    }
    let pool = store::pool(&config.database)?;
    let config = Arc::new(config);
    let state = crate::server::AppState::prepare(config.clone(), pool).map_err(|problems| {
        anyhow::anyhow!(
            "department tables do not match the config:\n  {}",
            problems.join("\n  ")
        )
    })?;
    if config.signing.is_none() {
        tracing::warn!("no [signing] section: documents are served unsigned");
    }
    let listener = TcpListener::bind(&config.server.bind)
        .with_context(|| format!("cannot listen on {}", config.server.bind))?;
    tracing::info!(
        bind = %config.server.bind,
        pull_uri = %config.server.pull_uri_path,
        pull_doc = %config.server.pull_doc_path,
        database = %redact_url(&config.database.url),
        "dlrepo serving"
    );
    if let Some(p) = config.push.as_ref().filter(|p| p.schedule_secs > 0) {
        crate::push_cli::spawn_background(config.clone(), p.schedule_secs);
    }
    actix_web::rt::System::new()
        .block_on(async move { crate::server::run(state, listener)?.await })?;
    Ok(())
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

pub fn import_file(
    config: &Config,
    doctype: &str,
    file: &Path,
    out: Option<&Path>,
    batch: usize,
    correct: bool,
) -> Result<import::ImportReport> {
    store::open_and_migrate(&config.database)?;
    let signer = config.signing_key()?;
    let mut conn = store::establish(&config.database.url)?;
    let report = import::run(
        config,
        &mut conn,
        &ImportOptions {
            doctype,
            csv: file,
            out,
            batch_size: batch,
            progress: std::io::stderr().is_terminal(),
            correct,
            signer: signer.as_ref(),
        },
    )?;
    for r in &report.rejected {
        eprintln!("{}: line {}: {}", file.display(), r.line, r.reason);
    }
    let secs = report.elapsed.as_secs_f64();
    println!(
        "imported {} row(s), rejected {} in {:.2} s ({:.0} rows/s)",
        report.imported,
        report.rejected.len(),
        secs,
        report.imported as f64 / secs.max(1e-9)
    );
    Ok(report)
}

/// `dlrepo revoke URI`: in one transaction, the document is revoked and, when it was
/// pushed under an Aadhaar number, a D row is queued.
fn revoke(config: &Config, uri: &str) -> Result<()> {
    use diesel::Connection;
    let u = DocUri::parse(uri)?;
    if !u.issued_by(&config.issuer_id) {
        bail!("{uri} was not issued by {}", config.issuer_id);
    }
    let dt = config
        .doctype(&u.doc_type)
        .with_context(|| format!("doc type '{}' is not in the config", u.doc_type))?;
    store::open_and_migrate(&config.database)?;
    let mut conn = store::establish(&config.database.url)?;
    let now = chrono::Utc::now().naive_utc();
    let queued = conn.transaction(|conn| -> Result<bool, store::StoreError> {
        let Some(r) = documents::revoke(conn, &dt.code, &u.doc_id, now)? else {
            return Err(store::StoreError::Unavailable(format!(
                "{uri} is not an issued document"
            )));
        };
        let Some(aadhaar) = r.aadhaar else {
            return Ok(false);
        };
        crate::push::outbox::enqueue(
            conn,
            &[crate::push::outbox::NewOutboxRow {
                aadhaar,
                uri: format!("{}-{}-{}", config.issuer_id, dt.code, u.doc_id),
                doc_type: dt.code.clone(),
                doc_name: r.doc_name.unwrap_or_else(|| dt.name.clone()),
                doc_id: u.doc_id.clone(),
                issued_on: r.issued_on,
                valid_from: r.valid_from,
                valid_to: r.valid_to,
                action: crate::push::outbox::Action::Delete.code().to_string(),
                time_stamp: now,
            }],
        )?;
        Ok(true)
    })?;
    println!(
        "revoked {uri}{}",
        if queued {
            "; a D row is queued for push"
        } else {
            " (no Aadhaar: nothing to push)"
        }
    );
    Ok(())
}

fn explain_uri(s: &str) -> std::process::ExitCode {
    match DocUri::parse(s) {
        Err(e) => {
            println!("malformed: {e}");
            std::process::ExitCode::FAILURE
        }
        Ok(u) => {
            println!("IssuerId: {}", u.issuer_id);
            println!("DocType:  {}", u.doc_type);
            println!("DocId:    {}", u.doc_id);
            let v = u.strict_violations();
            if v.is_empty() {
                println!("well-formed: follows every rule of the spec");
            } else {
                println!(
                    "readable, but breaks the spec's rules (accepted from partners, never minted):"
                );
                for e in v {
                    println!("  - {e}");
                }
            }
            std::process::ExitCode::SUCCESS
        }
    }
}

/// A shell-quoted curl command for a request signed with the configured key, valid for
/// `ts_window_minutes` from now.
pub fn curl_line(config: &Config, base: &str, request: &CurlRequest) -> Result<String> {
    let ts = auth::now_ts();
    let txn = format!("{}", chrono::Utc::now().timestamp_millis());
    let keyhash = auth::keyhash(config.api_key(), &ts);
    let (path, body) = match request {
        CurlRequest::PullUri { udfs } => {
            let mut pairs = Vec::new();
            for u in udfs {
                let Some((n, v)) = u.split_once('=') else {
                    bail!("'{u}' is not NAME=VALUE");
                };
                pairs.push((n, v));
            }
            (
                config.server.pull_uri_path.clone(),
                build::pull_uri_request(&ts, &txn, &config.digilocker.org_id, &keyhash, &pairs),
            )
        }
        CurlRequest::PullDoc { uri } => (
            config.server.pull_doc_path.clone(),
            build::pull_doc_request(&ts, &txn, &config.digilocker.org_id, &keyhash, uri),
        ),
    };
    Ok(format!(
        "curl -sS -X POST '{}{}' -H 'Content-Type: application/xml' --data-binary '{}'",
        base.trim_end_matches('/'),
        path,
        body.replace('\'', "'\\''")
    ))
}
