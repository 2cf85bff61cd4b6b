//! Builders for the requests DigiLocker sends, used by `dlrepo curl`, the demo, the
//! tests and the benchmarks.

use super::xml::escape;

pub fn pull_uri_request(
    ts: &str,
    txn: &str,
    org_id: &str,
    keyhash: &str,
    udfs: &[(&str, &str)],
) -> String {
    let mut details = String::new();
    for (n, v) in udfs {
        details.push_str(&format!("<{n}>{}</{n}>", escape(v)));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><PullURIRequest xmlns:ns2="http://tempuri.org/" ver="1.0" ts="{}" txn="{}" orgId="{}" keyhash="{}"><DocDetails>{details}</DocDetails></PullURIRequest>"#,
        escape(ts),
        escape(txn),
        escape(org_id),
        escape(keyhash)
    )
}

/// A current-API (3.0) Pull URI request: `format`, `DocType`, the resident fields
/// (`DigiLockerId`, `UID`, `FullName`, `DOB`) in the spec's order, then the UDFs.
#[allow(clippy::too_many_arguments)]
pub fn pull_uri_request_current(
    ts: &str,
    txn: &str,
    org_id: &str,
    keyhash: &str,
    format: &str,
    doc_type: &str,
    resident: &[(&str, &str)],
    udfs: &[(&str, &str)],
) -> String {
    let mut details = format!("<DocType>{}</DocType>", escape(doc_type));
    for (n, v) in resident.iter().chain(udfs) {
        details.push_str(&format!("<{n}>{}</{n}>", escape(v)));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><PullURIRequest xmlns="http://tempuri.org/" ver="3.0" ts="{}" txn="{}" orgId="{}" keyhash="{}" format="{}"><DocDetails>{details}</DocDetails></PullURIRequest>"#,
        escape(ts),
        escape(txn),
        escape(org_id),
        escape(keyhash),
        escape(format)
    )
}

/// A current-API Pull Doc request.
pub fn pull_doc_request_current(
    ts: &str,
    txn: &str,
    org_id: &str,
    keyhash: &str,
    format: &str,
    uri: &str,
    resident: &[(&str, &str)],
) -> String {
    let mut details = format!("<URI>{}</URI>", escape(uri));
    for (n, v) in resident {
        details.push_str(&format!("<{n}>{}</{n}>", escape(v)));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><PullDocRequest xmlns="http://tempuri.org/" ver="3.0" ts="{}" txn="{}" orgId="{}" keyhash="{}" format="{}"><DocDetails>{details}</DocDetails></PullDocRequest>"#,
        escape(ts),
        escape(txn),
        escape(org_id),
        escape(keyhash),
        escape(format)
    )
}

pub fn pull_doc_request(ts: &str, txn: &str, org_id: &str, keyhash: &str, uri: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><PullDocRequest xmlns:ns2="http://tempuri.org/" ver="1.0" ts="{}" txn="{}" orgId="{}" keyhash="{}"><DocDetails><URI>{}</URI></DocDetails></PullDocRequest>"#,
        escape(ts),
        escape(txn),
        escape(org_id),
        escape(keyhash),
        escape(uri)
    )
}
