//! `dlrepo conformance` (the issuer side, against any endpoint) and `dlrepo conformance
//! central` (the central side: a stand-in that checks every pushed row).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::conformance::{self, junit, Outcome, Selection, Target};

#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    /// The issuer's Pull URI endpoint, as registered on the partner portal.
    #[arg(long)]
    pub pull_uri: Option<String>,
    /// Its Pull Doc endpoint (checks of Pull Doc are skipped without it).
    #[arg(long)]
    pub pull_doc: Option<String>,
    #[arg(long)]
    pub org_id: Option<String>,
    /// The API key shared with DigiLocker [default: $DLREPO_API_KEY].
    #[arg(long)]
    pub key: Option<String>,
    /// The doc type of the document asked for.
    #[arg(long)]
    pub doctype: Option<String>,
    /// Search values of a document the issuer holds: --udf RollNo=123 --udf Year=2024.
    #[arg(long = "udf", value_name = "NAME=VALUE")]
    pub udfs: Vec<String>,
    /// The URI that document must have.
    #[arg(long)]
    pub expect_uri: Option<String>,
    /// The holder's name and date of birth (DD-MM-YYYY), sent as DigiLocker does.
    #[arg(long)]
    pub full_name: Option<String>,
    #[arg(long)]
    pub dob: Option<String>,
    /// CA certificate (PEM) the document signatures must chain to.
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Run only the checks whose names start with these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave out the checks whose names start with these.
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Write the results as JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConformanceCommand {
    /// The central side: accept PushCSVRequest and PushUriRequest, check every row and
    /// field (Verhoeff, dates, URI parts, actions) and print what was received.
    Central {
        #[arg(long, default_value = "127.0.0.1:9090")]
        bind: String,
        #[arg(long)]
        org_id: String,
        /// The push API key [default: $DLREPO_PUSH_KEY].
        #[arg(long)]
        key: Option<String>,
    },
}

pub fn run(args: ConformanceArgs) -> Result<ExitCode> {
    let need = |v: Option<String>, flag: &str| v.with_context(|| format!("{flag} is required"));
    let mut udfs = Vec::new();
    for u in &args.udfs {
        let (k, v) = u
            .split_once('=')
            .with_context(|| format!("--udf {u}: give NAME=VALUE"))?;
        udfs.push((k.to_string(), v.to_string()));
    }
    if udfs.is_empty() {
        bail!("--udf NAME=VALUE is required (the search values of a document the issuer holds)");
    }
    let mut trust = Vec::new();
    for p in &args.trust {
        let pem = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        trust.extend(
            openssl::x509::X509::stack_from_pem(&pem)
                .with_context(|| format!("{} holds no PEM certificate", p.display()))?,
        );
    }
    let key = args
        .key
        .or(crate::config::EnvOverrides::from_env().api_key)
        .context("--key (or DLREPO_API_KEY) is required")?;
    let target = Target {
        pull_uri: need(args.pull_uri, "--pull-uri")?,
        pull_doc: args.pull_doc,
        org_id: need(args.org_id, "--org-id")?,
        api_key: key,
        doctype: need(args.doctype, "--doctype")?,
        udfs,
        expect_uri: args.expect_uri,
        full_name: args.full_name,
        dob: args.dob,
        trust,
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let selection = Selection {
        only: args.only,
        skip: args.skip,
    };
    let results = conformance::run(&target, &selection).map_err(anyhow::Error::msg)?;
    let mut failed = 0;
    for r in &results {
        match &r.outcome {
            Outcome::Pass(what) => println!("pass  {:<34} {what}", r.name),
            Outcome::Fail(why) => {
                let tag = if r.required { "FAIL" } else { "warn" };
                println!("{tag}  {:<34} {why}", r.name);
                if r.failed_required() {
                    failed += 1;
                }
            }
            Outcome::Skip(why) => println!("skip  {:<34} {why}", r.name),
        }
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit::write(&results))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "{} checks: {} passed, {failed} required failed",
        results.len(),
        results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Pass(_)))
            .count()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
