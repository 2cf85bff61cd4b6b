//! Downloading a shared document from the `doc_url` DigiLocker hands the upload
//! service. The URL comes from a browser, so it is treated as hostile: HTTPS only, a
//! host (and port) on the configured list only — no IP literal unless listed, no other
//! port of an allowed host — redirects only to allowed hosts, a size cap enforced while
//! reading, a time limit for the whole download.

use std::time::Duration;

use crate::config::RequesterConfig;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("doc_url is not a URL")]
    BadUrl,
    #[error("doc_url is not https")]
    NotHttps,
    #[error("host {0} is not in requester.allowed_hosts")]
    HostNotAllowed(String),
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the document host answered HTTP {0}")]
    Http(u16),
    #[error("download failed: {0}")]
    Transport(String),
}

/// Whether `host:port` is on the list: `host` (port 443), `host:port`, or `*.domain`
/// (any subdomain, port 443).
pub fn allowed(cfg: &RequesterConfig, url: &reqwest::Url) -> Result<(), FetchError> {
    if url.scheme() != "https" {
        return Err(FetchError::NotHttps);
    }
    let host = url
        .host_str()
        .ok_or(FetchError::BadUrl)?
        .to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(443);
    let ok = cfg.allowed_hosts.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        let (name, want_port) = match entry.rsplit_once(':') {
            Some((n, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                (n.to_string(), p.parse().unwrap_or(443))
            }
            _ => (entry.clone(), 443),
        };
        if port != want_port {
            return false;
        }
        match name.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host == name,
        }
    });
    if ok {
        Ok(())
    } else {
        Err(FetchError::HostNotAllowed(format!("{host}:{port}")))
    }
}

fn client(cfg: &RequesterConfig) -> Result<reqwest::Client, FetchError> {
    let policy_cfg = cfg.clone();
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(cfg.timeout_secs))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 3 {
                attempt.error("too many redirects")
            } else if allowed(&policy_cfg, attempt.url()).is_ok() {
                attempt.follow()
            } else {
                attempt.error("redirect to a host not allowed")
            }
        }));
    if let Some(ca) = &cfg.ca_pem {
        let cert = reqwest::Certificate::from_pem(ca)
            .map_err(|e| FetchError::Transport(format!("requester.ca_file: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| FetchError::Transport(e.to_string()))
}

/// The document's bytes and content type.
pub async fn fetch(
    cfg: &RequesterConfig,
    doc_url: &str,
) -> Result<(Vec<u8>, Option<String>), FetchError> {
    let url = reqwest::Url::parse(doc_url.trim()).map_err(|_| FetchError::BadUrl)?;
    allowed(cfg, &url)?;
    let mut resp = client(cfg)?
        .get(url)
        .send()
        .await
        .map_err(|e| FetchError::Transport(e.without_url().to_string()))?;
    if !resp.status().is_success() {
        return Err(FetchError::Http(resp.status().as_u16()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > cfg.max_bytes as u64)
    {
        return Err(FetchError::TooLarge(cfg.max_bytes));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(100).collect());
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > cfg.max_bytes {
            return Err(FetchError::TooLarge(cfg.max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, content_type))
}
