//! `dlrepo sign`, `dlrepo verify` and `dlrepo keygen`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use openssl::x509::X509;

use crate::docs::keys::{KeySource, SigningKey};
use crate::docs::{pdf_sign, verify as pdf_verify};

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// PEM private key (instead of the config's [signing]).
    #[arg(long, requires = "chain")]
    pub key: Option<PathBuf>,
    /// PEM certificates: the signing certificate first, then its chain.
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// PKCS#12 file; its password comes from DLREPO_SIGNING_PASSWORD.
    #[arg(long, conflicts_with = "key")]
    pub pkcs12: Option<PathBuf>,
    #[arg(long)]
    pub allow_expired: bool,
}

pub fn key_from(config: &Path, args: &KeyArgs) -> Result<SigningKey> {
    if args.key.is_some() || args.pkcs12.is_some() {
        let password = crate::config::EnvOverrides::from_env().signing_password;
        return Ok(SigningKey::load(&KeySource {
            key: args.key.as_deref(),
            chain: args.chain.as_deref(),
            pkcs12: args.pkcs12.as_deref(),
            pkcs12_password: password.as_deref(),
            allow_expired: args.allow_expired,
        })?);
    }
    let config = crate::cli::load_config(config)?;
    config
        .signing_key()?
        .context("no key: give --key/--chain or --pkcs12, or add [signing] to the config")
}

pub fn sign(config: &Path, args: &KeyArgs, input: &Path, output: &Path) -> Result<()> {
    let key = key_from(config, args)?;
    let bytes = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let signed = pdf_sign::sign(&bytes, &key, chrono::Utc::now())
        .with_context(|| format!("cannot sign {}", input.display()))?;
    if input.canonicalize().ok() == output.canonicalize().ok() {
        bail!("the output must be another file: the input is never modified");
    }
    // Write then rename: a reader never sees half a signed file.
    let tmp = output.with_extension("pdf.partial");
    std::fs::write(&tmp, &signed)
        .and_then(|_| std::fs::rename(&tmp, output))
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "signed {} -> {} as {}",
        input.display(),
        output.display(),
        crate::docs::keys::subject(&key.cert)
    );
    Ok(())
}

pub fn verify(file: &Path, trust: &[PathBuf]) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut anchors = Vec::new();
    for t in trust {
        let pem = std::fs::read(t).with_context(|| format!("cannot read {}", t.display()))?;
        anchors.extend(
            X509::stack_from_pem(&pem)
                .with_context(|| format!("{} holds no PEM certificate", t.display()))?,
        );
    }
    let reports = pdf_verify::verify(&bytes, &anchors);
    if reports.is_empty() {
        println!("{}: no signatures", file.display());
        return Ok(ExitCode::FAILURE);
    }
    let mut ok = true;
    let last = reports.len() - 1;
    for (i, r) in reports.iter().enumerate() {
        println!("signature {}:", i + 1);
        println!(
            "  signer:       {}",
            if r.signer.is_empty() { "?" } else { &r.signer }
        );
        println!(
            "  signing time: {}",
            r.signing_time.as_deref().unwrap_or("(none)")
        );
        println!(
            "  sub-filter:   {}",
            r.sub_filter.as_deref().unwrap_or("(none)")
        );
        println!(
            "  intact:       {}",
            if r.intact {
                "yes, the signed bytes are unchanged"
            } else {
                "NO"
            }
        );
        if let Some(t) = r.trusted {
            println!(
                "  trusted:      {}",
                if t {
                    "yes"
                } else {
                    "NO (does not chain to --trust)"
                }
            );
            ok &= t;
        }
        if r.covers_whole_file {
            println!("  coverage:     the whole file");
        } else if i < last {
            println!(
                "  coverage:     the file up to a later incremental update ({} bytes after it)",
                r.bytes_after
            );
        } else {
            println!(
                "  coverage:     NOT the whole file: {} bytes were added after signing",
                r.bytes_after
            );
            ok = false;
        }
        if let Some(p) = &r.problem {
            println!("  problem:      {p}");
        }
        ok &= r.intact;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `dlrepo keygen`: a throwaway CA and signing certificate for trying things out.
pub fn keygen(
    dir: &Path,
    algo: crate::docs::keygen::Algorithm,
    days: i64,
    p12_password: Option<&str>,
) -> Result<()> {
    crate::docs::keygen::generate(dir, algo, days, p12_password)?;
    println!(
        "wrote ca.crt, ca.key, signer.key, signer.crt, signer-chain.pem{} to {} — for trying out only",
        if p12_password.is_some() { ", signer.p12" } else { "" },
        dir.display()
    );
    Ok(())
}

/// `dlrepo resign --doctype D [--since DATE] [--batch N]`.
pub fn resign(
    config: &crate::config::Config,
    code: &str,
    since: Option<chrono::NaiveDate>,
    batch: i64,
) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let doctype = config
        .doctype(code)
        .with_context(|| format!("doc type '{code}' is not in the config"))?;
    let key = config
        .signing_key()?
        .context("no [signing] section: there is no key to sign with")?;
    if batch < 1 {
        bail!("--batch must be at least 1");
    }
    crate::store::open_and_migrate(&config.database)?;
    let mut conn = crate::store::establish(&config.database.url)?;
    let pool = crate::store::pool(&config.database)?;
    let tables = crate::store::department::prepare_all(
        std::slice::from_ref(doctype),
        &config.database,
        &pool,
    )
    .map_err(|p| anyhow::anyhow!("{}", p.join("\n  ")))?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let r = crate::issuing::resign::resign(
        &mut conn,
        config,
        doctype,
        tables.get(&doctype.code),
        &key,
        since,
        batch,
        |r| bar.set_message(format!("{} re-signed", r.resigned)),
    )?;
    bar.finish_and_clear();
    println!(
        "{}: {} document(s) made and signed again in {:.1} s with {}{}",
        doctype.code,
        r.resigned,
        started.elapsed().as_secs_f64(),
        crate::docs::keys::subject(&key.cert),
        if r.skipped > 0 {
            format!(
                "; {} left as they were (their department row is gone)",
                r.skipped
            )
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
