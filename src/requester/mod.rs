//! The requester side of DigiLocker (seed 002, "Requester"; seed 004, "Save to
//! Locker"), off unless `[requester]` is configured:
//!
//! - the widget snippet for the department's page (`data-app-hash` =
//!   hex SHA-256(app id + app key + timestamp), the timestamp in epoch seconds, valid for
//!   30 minutes), whose `data-upload-url` carries the same three values, so that dlrepo
//!   can tell its own page's upload calls from forged or stale ones;
//! - [`fetch`]: the upload service's download of `doc_url`, only from the configured
//!   DigiLocker hosts, over HTTPS, size- and time-limited, redirects only to allowed
//!   hosts (no server-side request forgery);
//! - [`store`]: received documents, one copy per (user_ref, doc_id);
//! - Save to Locker links: an unguessable, expiring URL per document.

pub mod fetch;
pub mod store;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::RequesterConfig;

/// The widget's timestamps are good for this long (the spec's 30 minutes).
pub const HASH_WINDOW_SECS: i64 = 30 * 60;

/// `data-app-hash`: hex SHA-256 of app id, app key and timestamp, in that order.
pub fn app_hash(app_id: &str, app_key: &str, ts: &str) -> String {
    crate::auth::to_hex(&Sha256::digest(format!("{app_id}{app_key}{ts}").as_bytes()))
}

/// Why an upload call was refused (the caller only ever sees FAILURE).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("app id is not the configured one")]
    AppId,
    #[error("timestamp is not epoch seconds")]
    BadTimestamp,
    #[error("timestamp is more than 30 minutes old, or ahead")]
    Stale,
    #[error("app hash does not match sha256(app id + app key + timestamp)")]
    Hash,
}

/// Checks the `app_id`, `ts` and `hash` that dlrepo's own snippet put in the upload URL.
pub fn check_call(
    cfg: &RequesterConfig,
    app_id: &str,
    ts: &str,
    hash: &str,
    now: i64,
) -> Result<(), CallError> {
    let id_ok: bool = app_id.as_bytes().ct_eq(cfg.app_id.as_bytes()).into();
    if !id_ok {
        return Err(CallError::AppId);
    }
    let t: i64 = ts.trim().parse().map_err(|_| CallError::BadTimestamp)?;
    if (now - t).abs() > HASH_WINDOW_SECS {
        return Err(CallError::Stale);
    }
    let want = app_hash(&cfg.app_id, cfg.app_key(), ts.trim());
    let ok: bool = want
        .as_bytes()
        .ct_eq(hash.trim().to_ascii_lowercase().as_bytes())
        .into();
    if ok {
        Ok(())
    } else {
        Err(CallError::Hash)
    }
}

/// The widget markup for one "Choose from DigiLocker" button (`button` is its id: the
/// document type the department asks for, e.g. `poi`, `poa`).
pub fn widget_snippet(cfg: &RequesterConfig, button: &str, now: i64) -> String {
    use crate::wire::xml::escape;
    let ts = now.to_string();
    let hash = app_hash(&cfg.app_id, cfg.app_key(), &ts);
    let upload = format!(
        "{}?app_id={}&ts={ts}&hash={hash}",
        cfg.public_upload_url,
        url_escape(&cfg.app_id)
    );
    format!(
        r#"<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script type="text/javascript" src="https://services.digitallocker.gov.in/requester/api/1/dl.js" id="dlshare" data-app-id="{}" data-app-hash="{hash}" time-stamp="{ts}" data-upload-url="{}"></script>
<div class="share_fm_dl" id="{}"></div>
"#,
        escape(&cfg.app_id),
        escape(&upload),
        escape(button)
    )
}

/// The Save to Locker markup for one document at its public link.
pub fn save_snippet(cfg: &RequesterConfig, link: &str, id: &str, now: i64) -> String {
    use crate::wire::xml::escape;
    let ts = now.to_string();
    let hash = app_hash(&cfg.app_id, cfg.app_key(), &ts);
    format!(
        r#"<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script type="text/javascript" src="https://services.digitallocker.gov.in/savelocker/api/1/savelocker.js" id="dlshare" data-app-id="{}" data-app-hash="{hash}" time-stamp="{ts}"></script>
<a id="{}" href="{}" class="locker-saver"></a>
"#,
        escape(&cfg.app_id),
        escape(id),
        escape(link)
    )
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Save to Locker link token: the URI and its expiry, signed with the app key, so
/// that nobody can guess or extend a link. `uri.expiry.mac`.
pub fn link_token(app_key: &str, uri: &str, expiry: i64) -> String {
    let mac = crate::auth::hmac_sha256(app_key.as_bytes(), format!("{uri}|{expiry}").as_bytes());
    format!("{}.{expiry}.{}", url_escape(uri), crate::auth::to_hex(&mac))
}

/// The URI a link token stands for, if the token is ours and has not expired.
pub fn open_link(app_key: &str, token: &str, now: i64) -> Option<String> {
    let mut parts = token.rsplitn(3, '.');
    let mac = parts.next()?;
    let expiry: i64 = parts.next()?.parse().ok()?;
    let uri_escaped = parts.next()?;
    let uri = percent_decode(uri_escaped)?;
    let want = link_token(app_key, &uri, expiry);
    let good: bool = want.as_bytes().ct_eq(token.as_bytes()).into();
    (good && !mac.is_empty() && expiry > now).then_some(uri)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_cannot_be_forged_or_extended() {
        let t = link_token("key", "in.gov.x-MARKS-ABC", 2_000);
        assert_eq!(
            open_link("key", &t, 1_000).as_deref(),
            Some("in.gov.x-MARKS-ABC")
        );
        assert_eq!(open_link("key", &t, 2_001), None, "expired");
        assert_eq!(open_link("other", &t, 1_000), None, "another key");
        let longer = t.replace(".2000.", ".9000.");
        assert_eq!(open_link("key", &longer, 1_000), None, "extended");
        assert_eq!(open_link("key", "garbage", 1_000), None);
    }

    #[test]
    fn the_app_hash_is_sha256_of_id_key_and_ts() {
        assert_eq!(
            app_hash("a", "b", "1"),
            crate::auth::to_hex(&Sha256::digest(b"ab1"))
        );
    }
}
