//! `dlrepo bench ...`: data and load helpers for BENCHMARKS.md. Nothing here is used
//! by the server; numbers come from `bench/run.sh`, never from tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use crate::auth;
use crate::docs::render;
use crate::uri::DocIdSpace;
use crate::wire::pull::build;

pub const BENCH_KEY: &str = "bench-api-key-not-a-secret-0123456789";

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Write a bench config, N rows of CSV in random order and a few shared PDFs.
    Gen {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Distinct PDF files the rows share.
        #[arg(long, default_value_t = 4)]
        pdfs: u64,
        #[arg(long, default_value_t = 30)]
        pdf_kb: usize,
        #[arg(long, default_value = "127.0.0.1:8088")]
        bind: String,
        /// Rows without a pdf column instead, rendered by import with this template
        /// and signed with a throwaway ECDSA key made in DIR/keys.
        #[arg(long)]
        render: Option<PathBuf>,
    },
    /// Write COUNT PullURIRequest bodies, one per line, for rows drawn at random (with
    /// --pull-doc, PullDocRequest bodies for issued or linked documents drawn at random).
    Requests {
        #[arg(long)]
        rows: u64,
        #[arg(long, default_value_t = 20_000)]
        count: u64,
        #[arg(long)]
        out: PathBuf,
        /// Pull Doc requests instead, for COUNT issued or linked documents drawn at random from
        /// the configured database (its first doc type).
        #[arg(long)]
        pull_doc: bool,
    },
    /// A bare actix-web "hello" server: the ceiling for our requests/s.
    Hello {
        #[arg(long, default_value = "127.0.0.1:8089")]
        bind: String,
        /// Answer this many KiB instead of "hello" (to match a Pull URI answer's size).
        #[arg(long, default_value_t = 0)]
        body_kb: usize,
    },
    /// A TCP relay that holds every chunk MICROS µs each way before passing it on: a
    /// database "across the network" on a machine where both run (`tc netem` needs a
    /// kernel module these machines lack).
    Delay {
        #[arg(long, default_value = "127.0.0.1:6432")]
        listen: String,
        #[arg(long, default_value = "127.0.0.1:5432")]
        to: String,
        #[arg(long, default_value_t = 250)]
        micros: u64,
    },
    /// Queue ROWS synthetic outbox rows for `dlrepo push` (Aadhaar-valid, 10 columns).
    Queue {
        #[arg(long)]
        rows: u64,
    },
    /// Write a valid PDF of about KB KiB (for the signing benchmark).
    Pdf {
        #[arg(long, default_value_t = 100)]
        kb: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign one PDF over and over on THREADS threads for SECONDS; report signatures/s.
    Sign {
        #[arg(long)]
        pdf: PathBuf,
        #[command(flatten)]
        key: super::sign::KeyArgs,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Render TEMPLATE on ROW (a JSON object of field -> text) over and over on THREADS
    /// threads for SECONDS, and sign each with KEY when given; report certificates/s.
    Render {
        #[arg(long)]
        template: PathBuf,
        #[arg(long)]
        row: PathBuf,
        #[command(flatten)]
        key: super::sign::KeyArgs,
        /// Sign each certificate too (with --key/--chain or --pkcs12).
        #[arg(long)]
        sign: bool,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Mint COUNT DocIds in memory and report ids/s.
    Mint {
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
    },
}

pub fn roll_no(i: u64) -> String {
    (10_000_000 + i).to_string()
}

pub fn year(i: u64) -> String {
    (2000 + i % 25).to_string()
}

/// A valid PDF of about `kb` KiB: a rendered page plus an incompressible stream.
pub fn filler_pdf(kb: usize, n: u64) -> Result<Vec<u8>> {
    let base = render::plain_certificate(
        "Bench Board",
        "Mark Sheet",
        &[("Copy", &n.to_string())],
        "bench",
    )?;
    let mut doc = lopdf::Document::load_mem(&base)?;
    let mut noise = vec![0u8; kb * 1024];
    rand::thread_rng().fill_bytes(&mut noise);
    doc.add_object(lopdf::Stream::new(lopdf::dictionary! {}, noise));
    let mut out = Vec::new();
    doc.save_to(&mut out)?;
    Ok(out)
}

/// Runs `work(thread, n)` on `threads` threads for `seconds`; a thread stops early when
/// its work fails. Returns how many succeeded and the seconds taken.
fn timed(threads: usize, seconds: u64, work: impl Fn(usize, usize) -> bool + Sync) -> (usize, f64) {
    let deadline = Instant::now() + std::time::Duration::from_secs(seconds);
    let started = Instant::now();
    let total = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|i| {
                let work = &work;
                s.spawn(move || {
                    let mut n = 0usize;
                    while Instant::now() < deadline && work(i, n) {
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    (total, started.elapsed().as_secs_f64())
}

/// The URIs of `count` issued documents of the config's first doc type, at random.
fn random_uris(config: &crate::config::Config, count: u64) -> Result<Vec<String>> {
    use crate::store::documents::status;
    use crate::store::schema::documents::dsl as d;
    use diesel::prelude::*;
    let doctype = config.doctypes.first().context("no doc type configured")?;
    let mut conn = crate::store::establish(&config.database.url)?;
    let ids: Vec<String> = d::documents
        .filter(d::doctype.eq(&doctype.code))
        // Imported documents, or a department table's rows linked by earlier pulls.
        .filter(d::status.eq_any([status::ISSUED, status::LINKED]))
        .order(diesel::dsl::sql::<diesel::sql_types::Integer>("random()"))
        .limit(i64::try_from(count)?)
        .select(d::doc_id)
        .load(&mut conn)?;
    anyhow::ensure!(
        !ids.is_empty(),
        "no issued or linked {} documents",
        doctype.code
    );
    Ok(ids
        .iter()
        .map(|id| crate::uri::DocUri::of(&config.issuer_id, &doctype.code, id).to_string())
        .collect())
}

pub fn run(cmd: BenchCommand, config_path: &Path) -> Result<()> {
    match cmd {
        BenchCommand::Gen {
            dir,
            rows,
            pdfs,
            pdf_kb,
            bind,
            render,
        } => match render {
            Some(template) => gen_rendered(&dir, rows, &template, &bind),
            None => gen(&dir, rows, pdfs, pdf_kb, &bind),
        },
        BenchCommand::Requests {
            rows,
            count,
            out,
            pull_doc,
        } => {
            let config = super::load_config(config_path)?;
            let ts = auth::now_ts();
            let keyhash = auth::keyhash(config.api_key(), &ts);
            let mut w = std::io::BufWriter::new(std::fs::File::create(&out)?);
            if pull_doc {
                for (t, uri) in random_uris(&config, count)?.iter().enumerate() {
                    let txn = t.to_string();
                    let org = &config.digilocker.org_id;
                    writeln!(
                        w,
                        "{}",
                        build::pull_doc_request(&ts, &txn, org, &keyhash, uri)
                    )?;
                }
                w.flush()?;
                return Ok(());
            }
            let mut rng = rand::thread_rng();
            for t in 0..count {
                let i = rng.gen_range(0..rows);
                let body = build::pull_uri_request(
                    &ts,
                    &t.to_string(),
                    &config.digilocker.org_id,
                    &keyhash,
                    &[("RollNo", &roll_no(i)), ("Year", &year(i))],
                );
                writeln!(w, "{body}")?;
            }
            w.flush()?;
            Ok(())
        }
        BenchCommand::Hello { bind, body_kb } => {
            use actix_web::{web, App, HttpResponse, HttpServer};
            let body = web::Bytes::from(if body_kb == 0 {
                b"hello".to_vec()
            } else {
                vec![b'A'; body_kb * 1024]
            });
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    let body = body.clone();
                    App::new().route(
                        "/",
                        // Reads the request body, as a pull does: an unread one costs
                        // the connection its reuse.
                        web::post().to(move |_request: web::Bytes| {
                            let body = body.clone();
                            async move { HttpResponse::Ok().body(body) }
                        }),
                    )
                })
                .bind(&bind)?
                .run()
                .await
            })?;
            Ok(())
        }
        BenchCommand::Delay { listen, to, micros } => {
            let listener = std::net::TcpListener::bind(&listen)?;
            let delay = std::time::Duration::from_micros(micros);
            // A connection that fails is dropped; the relay goes on (a database restart).
            let pair = |inbound: std::io::Result<std::net::TcpStream>| -> std::io::Result<()> {
                let inbound = inbound?;
                let outbound = std::net::TcpStream::connect(&to)?;
                inbound.set_nodelay(true)?;
                outbound.set_nodelay(true)?;
                relay(inbound.try_clone()?, outbound.try_clone()?, delay);
                relay(outbound, inbound, delay);
                Ok(())
            };
            for inbound in listener.incoming() {
                if let Err(e) = pair(inbound) {
                    eprintln!("bench delay: a connection failed: {e}");
                }
            }
            Ok(())
        }
        BenchCommand::Queue { rows } => {
            use diesel::Connection;
            let config = super::load_config(config_path)?;
            crate::store::open_and_migrate(&config.database)?;
            let mut conn = crate::store::establish(&config.database.url)?;
            let now = chrono::Utc::now().naive_utc();
            let started = Instant::now();
            let mut i = 0u64;
            while i < rows {
                let n = (rows - i).min(50_000);
                let batch: Vec<_> = (i..i + n)
                    .map(|k| {
                        let base = format!("{}", 23_000_000_000u64 + k % 70_000_000_000);
                        crate::push::outbox::NewOutboxRow {
                            aadhaar: format!("{base}{}", crate::aadhaar::verhoeff_digit(&base)),
                            uri: crate::uri::DocUri::of(
                                &config.issuer_id,
                                "MARKS",
                                &format!("Q{k:09}"),
                            )
                            .to_string(),
                            doc_type: "MARKS".into(),
                            doc_name: "Mark Sheet, Class X".into(),
                            doc_id: format!("Q{k:09}"),
                            issued_on: Some("2024-05-15".into()),
                            valid_from: None,
                            valid_to: None,
                            action: "A".into(),
                            time_stamp: now,
                        }
                    })
                    .collect();
                conn.transaction(|c| crate::push::outbox::enqueue(c, &batch))?;
                i += n;
            }
            println!(
                "queued {rows} rows in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        BenchCommand::Pdf { kb, out } => {
            std::fs::write(&out, filler_pdf(kb, 0)?)?;
            Ok(())
        }
        BenchCommand::Sign {
            pdf,
            key,
            threads,
            seconds,
        } => {
            let key = super::sign::key_from(config_path, &key)?;
            let input = std::fs::read(&pdf)?;
            let (total, secs) = timed(threads, seconds, |_, _| {
                crate::docs::pdf_sign::sign(&input, &key, chrono::Utc::now()).is_ok()
            });
            println!(
                "{total} signatures of a {} KiB PDF on {threads} thread(s) in {secs:.1} s: {:.1} signatures/s",
                input.len() / 1024,
                total as f64 / secs
            );
            Ok(())
        }
        BenchCommand::Render {
            template,
            row,
            key,
            sign,
            threads,
            seconds,
        } => {
            let t = crate::docs::template::Template::load(&template)?;
            let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&row)?)?;
            let values: std::collections::HashMap<String, String> = json
                .as_object()
                .context("the row must be a JSON object")?
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect();
            let key = if sign {
                Some(super::sign::key_from(config_path, &key)?)
            } else {
                None
            };
            let size = t.render(&values, "in.gov.bench-MARKS-ABCDEFG")?.len();
            let (total, secs) = timed(threads, seconds, |i, n| {
                let uri = format!("in.gov.bench-MARKS-{i}{n:07}");
                let Ok(pdf) = t.render(&values, &uri) else {
                    return false;
                };
                key.as_ref().is_none_or(|k| {
                    crate::docs::pdf_sign::sign(&pdf, k, chrono::Utc::now()).is_ok()
                })
            });
            println!(
                "{total} certificates ({} KiB) {} on {threads} thread(s) in {secs:.1} s: {:.1} certificates/s",
                size / 1024,
                if sign { "rendered and signed" } else { "rendered" },
                total as f64 / secs
            );
            Ok(())
        }
        BenchCommand::Mint { count } => {
            let space = DocIdSpace::for_expected(1_000_000, None)?;
            let started = Instant::now();
            let mut total = 0usize;
            for _ in 0..count {
                total += space.mint().len();
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "minted {count} DocIds of {} chars in {secs:.3} s: {:.0} ids/s (checksum {total})",
                space.length,
                count as f64 / secs
            );
            Ok(())
        }
    }
}

/// Passes what `from` sends on to `to`, each chunk `delay` after it arrived (two
/// threads: one reads and stamps, one waits and writes, so chunks overlap in flight).
fn relay(mut from: std::net::TcpStream, mut to: std::net::TcpStream, delay: std::time::Duration) {
    use std::io::Read;
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (at, bytes) in rx {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// The bench config; `extra` goes into the doc type's block.
fn bench_config(dir: &Path, bind: &str, rows: u64, head: &str, extra: &str) -> Result<()> {
    crate::files::write_private(
        &dir.join("dlrepo.toml"),
        format!(
            r#"{head}[issuer]
id = "in.gov.bench.board"
[server]
bind = "{bind}"
[database]
url = "bench.sqlite3"
[digilocker]
org_id = "BENCH"
api_key = "{BENCH_KEY}"
# wrk sends the same pre-signed requests again and again.
refuse_replays = false
[[doctypes]]
code = "MARKS"
name = "Mark Sheet"
expected_count = {expected}
udfs = [ {{ name = "RollNo", pattern = "[0-9]{{8}}" }}, {{ name = "Year", pattern = "(19|20)[0-9]{{2}}" }} ]
{extra}"#,
            expected = rows.max(1_000_000)
        )
        .as_bytes(),
    )?;
    Ok(())
}

/// Rows in random order for `bench gen`, with `tail(i)` closing each line.
fn bench_rows(dir: &Path, rows: u64, header: &str, tail: impl Fn(u64) -> String) -> Result<()> {
    let mut order: Vec<u64> = (0..rows).collect();
    order.shuffle(&mut rand::thread_rng());
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("rows.csv"))?);
    writeln!(w, "RollNo,Year,holder_name,doc_name,issued_on,{header}")?;
    for i in order {
        writeln!(
            w,
            "{},{},Student {i},Mark Sheet,15/05/{},{}",
            roll_no(i),
            year(i),
            year(i),
            tail(i)
        )?;
    }
    w.flush()?;
    Ok(())
}

fn gen(dir: &Path, rows: u64, pdfs: u64, pdf_kb: usize, bind: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    bench_config(dir, bind, rows, "", "")?;
    for n in 0..pdfs.max(1) {
        std::fs::write(dir.join(format!("doc{n}.pdf")), filler_pdf(pdf_kb, n)?)?;
    }
    bench_rows(dir, rows, "pdf", |i| format!("doc{}.pdf", i % pdfs.max(1)))?;
    println!(
        "wrote {} rows and {} PDFs of ~{pdf_kb} KiB to {}",
        rows,
        pdfs.max(1),
        dir.display()
    );
    Ok(())
}

/// Rows for import to render with `template` and sign, as a department without PDFs of
/// its own imports them.
fn gen_rendered(dir: &Path, rows: u64, template: &Path, bind: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Named where it is, so that the fonts and images it names beside it are found.
    let template = template
        .canonicalize()
        .with_context(|| format!("cannot find {}", template.display()))?;
    if !dir.join("keys/signer.key").exists() {
        crate::docs::keygen::generate(
            &dir.join("keys"),
            crate::docs::keygen::Algorithm::Ec,
            365,
            None,
        )?;
    }
    let head = "[signing]\nkey = \"keys/signer.key\"\nchain = \"keys/signer-chain.pem\"\n";
    let extra = format!("template = {:?}\n", template.to_string_lossy());
    bench_config(dir, bind, rows, head, &extra)?;
    bench_rows(dir, rows, "TotalMarks", |i| (300 + i % 200).to_string())?;
    println!(
        "wrote {rows} rows to render with {} to {}",
        template.display(),
        dir.display()
    );
    Ok(())
}
