//! A stand-in of DigiLocker's central CSV Upload API, on loopback.
//!
//! It speaks the spec: checks orgId, keyhash and ts, decodes the CSV and checks every
//! row (10 columns, Verhoeff Aadhaar, dates, time_stamp, Action, URI parts), answers a
//! PushCSVResponse, and records what it received. It can be told to fail the next
//! requests: HTTP 500, ResponseStatus 0, hang past the client's timeout, or drop the
//! connection after reading the body. A tiny HTTP/1.1 server of its own, so that a
//! dropped connection really is one.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

use super::csv_file::HEADER;
use crate::auth::{to_hex, Verifier};
use crate::uri::DocUri;
use crate::wire::push::{push_csv_response, push_response, PushCsvRequest, PushUriRequest};

const MAX_BODY: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Http500,
    Status0(String),
    /// Answer only after this long (longer than the client's timeout).
    Hang(Duration),
    /// Read the whole request, then close the connection without answering.
    DropAfterBody,
    /// Answer HTTP 200 with a body that is not XML.
    Garbage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub file_name: String,
    pub accepted: bool,
    pub message: String,
    pub row_count: usize,
    pub csv_sha256: String,
    /// `Action,Uri` of each row, when rows are kept.
    pub rows: Vec<String>,
    /// The Aadhaar number of each row, when rows are kept: what the issuer really sent.
    pub aadhaar: Vec<String>,
}

pub struct StandInConfig {
    pub org_id: String,
    pub api_key: String,
    /// Keep every row's URI (tests); off for benchmarks of millions of rows.
    pub keep_rows: bool,
    /// Wait this long before answering each request.
    pub delay: Duration,
}

struct Shared {
    config: StandInConfig,
    faults: Mutex<VecDeque<Fault>>,
    received: Mutex<Vec<Received>>,
    stop: AtomicBool,
}

pub struct StandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl StandIn {
    pub fn start(bind: &str, config: StandInConfig) -> std::io::Result<StandIn> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            faults: Mutex::new(VecDeque::new()),
            received: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let s = s.clone();
                    std::thread::spawn(move || serve_connection(stream, &s));
                }
            }
        });
        Ok(StandIn { addr, shared })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/public/issuer/api/csvupload/1/xml", self.addr)
    }

    /// The next requests fail in this order; then normal service resumes.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        if let Ok(mut f) = self.shared.faults.lock() {
            f.extend(faults);
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some(body) = read_request(&mut reader) else {
            return;
        };
        let fault = shared.faults.lock().ok().and_then(|mut f| f.pop_front());
        if !shared.config.delay.is_zero() {
            std::thread::sleep(shared.config.delay);
        }
        // Every request that arrived whole is recorded, also those we then fail.
        let (code, answer) = match fault {
            Some(Fault::DropAfterBody) => {
                record_fault(&body, shared, "fault: connection dropped");
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            Some(Fault::Http500) => {
                record_fault(&body, shared, "fault: HTTP 500");
                (500, "internal error (injected)".to_string())
            }
            Some(Fault::Garbage) => {
                record_fault(&body, shared, "fault: garbage answer");
                (200, "<html>bad gateway</html".to_string())
            }
            Some(Fault::Hang(d)) => {
                record_fault(&body, shared, "fault: answered too late");
                std::thread::sleep(d);
                (200, push_csv_response("", "", "", "0", "too late"))
            }
            Some(Fault::Status0(msg)) => {
                record_fault(&body, shared, &format!("fault: {msg}"));
                (200, push_csv_response("", "", "", "0", &msg))
            }
            None => (200, handle(&body, shared)),
        };
        let head = format!(
            "HTTP/1.1 {code} {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
            if code == 200 { "OK" } else { "Error" },
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(answer.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// Reads one request; None on a closed or broken connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if first && line.trim().is_empty() {
            continue;
        }
        first = false;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    if len > MAX_BODY {
        return None;
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// A single PushUriRequest, checked as a one-row CSV would be.
fn handle_uri(body: &[u8], shared: &Shared) -> String {
    let req = match PushUriRequest::from_xml(body) {
        Ok(r) => r,
        Err(e) => {
            return push_response(
                "PushUriResponse",
                "",
                "",
                "",
                "0",
                &format!("malformed request: {e}"),
            )
        }
    };
    let answer = |status: &str, msg: &str| {
        push_response(
            "PushUriResponse",
            &req.ts,
            &req.txn,
            &req.org_id,
            status,
            msg,
        )
    };
    let verifier = Verifier {
        api_key: &shared.config.api_key,
        org_id: &shared.config.org_id,
        window_minutes: 30,
    };
    if let Err(e) = verifier.verify(&req.ts, &req.keyhash, &req.org_id, chrono::Utc::now()) {
        return answer("0", &format!("authentication failed: {e}"));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(HEADER);
    let _ = w.write_record(&req.values);
    let csv = w.into_inner().unwrap_or_default();
    let (result, rows, count) = check_csv(&csv, shared.config.keep_rows);
    let (accepted, message) = match result {
        Ok(()) => (true, "URI pushed".to_string()),
        Err(e) => (false, e.replace("line 2: ", "")),
    };
    if let Ok(mut r) = shared.received.lock() {
        r.push(Received {
            file_name: req.values[1].clone(),
            accepted,
            message: message.clone(),
            row_count: count,
            csv_sha256: to_hex(&Sha256::digest(&csv)),
            rows,
            aadhaar: if shared.config.keep_rows {
                aadhaar_column(&csv)
            } else {
                Vec::new()
            },
        });
    }
    answer(if accepted { "1" } else { "0" }, &message)
}

fn handle(body: &[u8], shared: &Shared) -> String {
    if body.windows(15).any(|w| w == b"<PushUriRequest") {
        return handle_uri(body, shared);
    }
    let req = match PushCsvRequest::from_xml(body) {
        Ok(r) => r,
        Err(e) => return push_csv_response("", "", "", "0", &format!("malformed request: {e}")),
    };
    let answer =
        |status: &str, msg: &str| push_csv_response(&req.ts, &req.txn, &req.org_id, status, msg);
    let verifier = Verifier {
        api_key: &shared.config.api_key,
        org_id: &shared.config.org_id,
        window_minutes: 30,
    };
    if let Err(e) = verifier.verify(&req.ts, &req.keyhash, &req.org_id, chrono::Utc::now()) {
        return answer("0", &format!("authentication failed: {e}"));
    }
    let (result, rows, count) = check_csv(&req.csv, shared.config.keep_rows);
    let (accepted, message) = match result {
        Ok(()) => (true, format!("{count} records uploaded")),
        Err(e) => (false, e),
    };
    if let Ok(mut r) = shared.received.lock() {
        r.push(Received {
            file_name: req.file_name.clone(),
            accepted,
            message: message.clone(),
            row_count: count,
            csv_sha256: to_hex(&Sha256::digest(&req.csv)),
            rows,
            aadhaar: if shared.config.keep_rows {
                aadhaar_column(&req.csv)
            } else {
                Vec::new()
            },
        });
    }
    answer(if accepted { "1" } else { "0" }, &message)
}

fn record_fault(body: &[u8], shared: &Shared, message: &str) {
    let Ok(req) = PushCsvRequest::from_xml(body) else {
        return;
    };
    let (_, rows, count) = check_csv(&req.csv, shared.config.keep_rows);
    if let Ok(mut r) = shared.received.lock() {
        r.push(Received {
            file_name: req.file_name,
            accepted: false,
            message: message.to_string(),
            row_count: count,
            csv_sha256: to_hex(&Sha256::digest(&req.csv)),
            rows,
            aadhaar: if shared.config.keep_rows {
                aadhaar_column(&req.csv)
            } else {
                Vec::new()
            },
        });
    }
}

/// The first column of every row (tests compare it with what was imported).
fn aadhaar_column(csv: &[u8]) -> Vec<String> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv)
        .records()
        .filter_map(|r| r.ok().and_then(|r| r.get(0).map(str::to_string)))
        .collect()
}

fn check_date(v: &str) -> bool {
    v.is_empty() || chrono::NaiveDate::parse_from_str(v, "%d/%m/%Y").is_ok()
}

/// Checks every row as the central API would; returns the rows kept and their count.
fn check_csv(csv: &[u8], keep: bool) -> (Result<(), String>, Vec<String>, usize) {
    let mut rows = Vec::new();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(csv);
    match reader.headers() {
        Ok(h) if h.iter().eq(HEADER.iter().copied()) => {}
        Ok(h) => {
            return (
                Err(format!("header is {h:?}, expected {HEADER:?}")),
                rows,
                0,
            )
        }
        Err(e) => return (Err(format!("not CSV: {e}")), rows, 0),
    }
    let mut count = 0;
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) if r.len() == 10 => r,
            Ok(r) => {
                return (
                    Err(format!("line {line}: {} columns, expected 10", r.len())),
                    rows,
                    count,
                )
            }
            Err(e) => return (Err(format!("line {line}: {e}")), rows, count),
        };
        let bad = |what: &str| Err(format!("line {line}: {what}"));
        if crate::aadhaar::normalize(&rec[0])
            .map(|a| a != rec[0])
            .unwrap_or(true)
        {
            return (bad("invalid Aadhaar"), rows, count);
        }
        match DocUri::parse(&rec[1]) {
            Ok(u) if u.doc_type == rec[2] && u.doc_id == rec[4] => {}
            _ => return (bad("Uri does not match doc_type and doc_id"), rows, count),
        }
        if rec[3].is_empty() {
            return (bad("doc_name is empty"), rows, count);
        }
        if rec[5].is_empty() || !check_date(&rec[5]) || !check_date(&rec[6]) || !check_date(&rec[7])
        {
            return (bad("dates must be DD/MM/YYYY"), rows, count);
        }
        if NaiveDateTime::parse_from_str(&rec[8], "%d/%m/%Y %I:%M:%S %p").is_err() {
            return (
                bad("time_stamp must be DD/MM/YYYY HH:MI:SS AM"),
                rows,
                count,
            );
        }
        if !matches!(&rec[9], "A" | "U" | "D") {
            return (bad("Action must be A, U or D"), rows, count);
        }
        if keep {
            rows.push(format!("{},{}", &rec[9], &rec[1]));
        }
        count += 1;
    }
    (Ok(()), rows, count)
}
