//! `dlrepo curl`: ready-to-run requests signed with the configured key.

use anyhow::{bail, Result};

use super::CurlRequest;
use crate::auth;
use crate::config::Config;
use crate::wire::pull::build;

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
