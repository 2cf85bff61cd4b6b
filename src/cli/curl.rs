//! `dlrepo curl`: ready-to-run requests signed with the configured key.

use anyhow::{bail, Result};

use super::CurlRequest;
use crate::auth::{self, HmacEncoding};
use crate::config::Config;
use crate::wire::build;

/// Which form of the API to speak, and the current form's fields.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ApiArgs {
    /// `1.0` (the seed's form) or `current` (v1.13 / 3.0: format, DocType, resident
    /// fields, x-digilocker-hmac header).
    #[arg(long, default_value = "1.0", value_parser = ["1.0", "current"])]
    pub api: String,
    /// pdf, xml or both (current API).
    #[arg(long, default_value = "pdf", value_parser = ["pdf", "xml", "both"])]
    pub format: String,
    /// DocType (current API; default: the doc type whose UDFs these are).
    #[arg(long)]
    pub doctype: Option<String>,
    /// The resident's name and date of birth (DD-MM-YYYY), as DigiLocker sends them.
    #[arg(long)]
    pub full_name: Option<String>,
    #[arg(long)]
    pub dob: Option<String>,
    /// The HMAC header's encoding: hex (base64 of the hex MAC) or raw.
    #[arg(long, default_value = "hex", value_parser = ["hex", "raw"])]
    pub hmac: String,
}

impl ApiArgs {
    fn current(&self) -> bool {
        self.api == "current"
    }

    fn resident(&self) -> Vec<(&str, &str)> {
        let mut out = vec![("DigiLockerId", "00000000-0000-0000-0000-000000000000")];
        if let Some(n) = &self.full_name {
            out.push(("FullName", n));
        }
        if let Some(d) = &self.dob {
            out.push(("DOB", d));
        }
        out
    }
}

/// A shell-quoted curl command for a request signed with the configured key, valid for
/// `ts_window_minutes` from now.
pub fn curl_line(config: &Config, base: &str, request: &CurlRequest) -> Result<String> {
    let ts = auth::now_ts();
    let txn = format!("{}", chrono::Utc::now().timestamp_millis());
    let keyhash = auth::keyhash(config.api_key(), &ts);
    let org = &config.digilocker.org_id;
    let (path, body, api) = match request {
        CurlRequest::PullUri { udfs, api } => {
            let mut pairs = Vec::new();
            for u in udfs {
                let Some((n, v)) = u.split_once('=') else {
                    bail!("'{u}' is not NAME=VALUE");
                };
                pairs.push((n, v));
            }
            let body = if api.current() {
                let names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
                let code = match &api.doctype {
                    Some(c) => c.clone(),
                    None => match config.doctypes_with_udfs(&names)[..] {
                        [one] => one.code.clone(),
                        _ => bail!(
                            "give --doctype: the UDFs [{}] do not name one doc type",
                            names.join(", ")
                        ),
                    },
                };
                build::pull_uri_request_current(
                    &ts,
                    &txn,
                    org,
                    &keyhash,
                    &api.format,
                    &code,
                    &api.resident(),
                    &pairs,
                )
            } else {
                build::pull_uri_request(&ts, &txn, org, &keyhash, &pairs)
            };
            (config.server.pull_uri_path.clone(), body, api)
        }
        CurlRequest::PullDoc { uri, api } => {
            let body = if api.current() {
                build::pull_doc_request_current(
                    &ts,
                    &txn,
                    org,
                    &keyhash,
                    &api.format,
                    uri,
                    &api.resident(),
                )
            } else {
                build::pull_doc_request(&ts, &txn, org, &keyhash, uri)
            };
            (config.server.pull_doc_path.clone(), body, api)
        }
    };
    let hmac = if api.current() {
        let enc = if api.hmac == "raw" {
            HmacEncoding::Raw
        } else {
            HmacEncoding::Hex
        };
        format!(
            " -H 'x-digilocker-hmac: {}'",
            auth::hmac_header(body.as_bytes(), config.api_key(), enc)
        )
    } else {
        String::new()
    };
    Ok(format!(
        "curl -sS -X POST '{}{}' -H 'Content-Type: application/xml'{hmac} --data-binary '{}'",
        base.trim_end_matches('/'),
        path,
        body.replace('\'', "'\\''")
    ))
}
