//! The client of the central push APIs: CSV Upload (many rows) and Push URI (one).

use std::io::Read;
use std::time::Duration;

use crate::auth;
use crate::wire::push::{push_csv_request, push_uri_request, PushCsvResponse};

/// Answers larger than this are not read further: the central API's body is untrusted.
const MAX_ANSWER: u64 = 256 * 1024;

pub struct CentralClient {
    endpoint: String,
    org_id: String,
    api_key: String,
    http: reqwest::blocking::Client,
}

impl CentralClient {
    pub fn new(
        endpoint: &str,
        org_id: &str,
        api_key: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(CentralClient {
            endpoint: endpoint.to_string(),
            org_id: org_id.to_string(),
            api_key: api_key.to_string(),
            http,
        })
    }

    /// One attempt: Ok(message) when the central API answered ResponseStatus 1;
    /// Err(reason) for anything else (timeout, connection error, HTTP error, Status 0,
    /// an answer we cannot read).
    pub fn send(&self, file_name: &str, csv: &[u8]) -> Result<String, String> {
        let (ts, txn) = Self::stamp();
        let body = push_csv_request(
            &ts,
            &txn,
            &self.org_id,
            &auth::keyhash(&self.api_key, &ts),
            file_name,
            csv,
        );
        self.post(body)
    }

    /// One attempt of a single PushUriRequest (one row's 10 values).
    pub fn send_uri(&self, values: &[String; 10]) -> Result<String, String> {
        let (ts, txn) = Self::stamp();
        let body = push_uri_request(
            &ts,
            &txn,
            &self.org_id,
            &auth::keyhash(&self.api_key, &ts),
            values,
        );
        self.post(body)
    }

    fn stamp() -> (String, String) {
        let txn = format!(
            "{}{:04}",
            chrono::Utc::now().timestamp_millis(),
            rand::random::<u16>() % 10_000
        );
        (auth::now_ts(), txn)
    }

    fn post(&self, body: String) -> Result<String, String> {
        let resp = self
            .http
            .post(&self.endpoint)
            .header("Content-Type", "application/xml")
            .body(body)
            .send()
            .map_err(|e| {
                if e.is_timeout() {
                    "timed out waiting for the central API".to_string()
                } else {
                    format!("cannot reach the central API: {}", crate::error::chain(&e))
                }
            })?;
        let status = resp.status();
        let mut answer = Vec::new();
        resp.take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .map_err(|e| format!("answer broke off: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "central API answered HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&answer[..answer.len().min(200)])
            ));
        }
        match PushCsvResponse::from_xml(&answer) {
            Ok(r) if r.accepted => Ok(r.message),
            Ok(r) => Err(format!(
                "central API answered ResponseStatus 0: {}",
                r.message
            )),
            Err(e) => Err(e),
        }
    }
}
