//! `dlrepo verify`: every signature in a PDF, checked on its own — who signed, when,
//! whether the signature holds, how much of the file it covers, and whether anything
//! was added after it.

use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;

use super::keys::subject;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureReport {
    pub signer: String,
    /// The signature dictionary's /M.
    pub signing_time: Option<String>,
    pub sub_filter: Option<String>,
    /// The signed bytes hash to the signed digest and the signature verifies.
    pub intact: bool,
    /// Chains to a given trust anchor (None when no anchor was given).
    pub trusted: Option<bool>,
    pub covers_whole_file: bool,
    /// Bytes after the signed range.
    pub bytes_after: usize,
    pub problem: Option<String>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The length of a DER element (to drop the placeholder's zero padding).
fn der_len(d: &[u8]) -> Option<usize> {
    let l = *d.get(1)? as usize;
    if l < 0x80 {
        return Some(2 + l);
    }
    let n = l & 0x7f;
    let mut v = 0usize;
    for i in 0..n {
        v = (v << 8) | *d.get(2 + i)? as usize;
    }
    Some(2 + n + v)
}

fn dict_value(dict: &[u8], key: &[u8]) -> Option<String> {
    let at = find(dict, key, 0)? + key.len();
    let rest = &dict[at..];
    let rest = String::from_utf8_lossy(&rest[..rest.len().min(200)]).into_owned();
    let rest = rest.trim_start();
    if let Some(s) = rest.strip_prefix('(') {
        return s.split(')').next().map(str::to_string);
    }
    rest.split(|c: char| c == '/' || c == '>' || c.is_whitespace())
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

pub fn verify(pdf: &[u8], trust: &[X509]) -> Vec<SignatureReport> {
    let mut reports = Vec::new();
    let mut from = 0;
    while let Some(at) = find(pdf, b"/ByteRange", from) {
        from = at + 10;
        let Some(close) = find(pdf, b"]", at) else {
            break;
        };
        let Some(open) = find(pdf, b"[", at) else {
            break;
        };
        let nums: Vec<usize> = String::from_utf8_lossy(&pdf[open + 1..close])
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if nums.len() != 4 || nums[0] != 0 {
            continue;
        }
        let (a, b, c) = (nums[1], nums[2], nums[3]);
        let mut report = SignatureReport {
            signer: String::new(),
            signing_time: None,
            sub_filter: None,
            intact: false,
            trusted: None,
            covers_whole_file: b + c == pdf.len(),
            bytes_after: pdf.len().saturating_sub(b + c),
            problem: None,
        };
        // The signature dictionary around this /ByteRange.
        let start = pdf[..at].windows(3).rposition(|w| w == b"obj").unwrap_or(0);
        let end = find(pdf, b"endobj", at).unwrap_or(pdf.len());
        let dict = &pdf[start..end];
        report.signing_time = dict_value(dict, b"/M");
        report.sub_filter = dict_value(dict, b"/SubFilter");
        if a >= b || b + c > pdf.len() || pdf.get(a) != Some(&b'<') || pdf.get(b - 1) != Some(&b'>')
        {
            report.problem = Some("ByteRange does not frame the /Contents string".into());
            reports.push(report);
            continue;
        }
        let hex = &pdf[a + 1..b - 1];
        let der: Vec<u8> = hex
            .chunks(2)
            .filter_map(|p| {
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
            })
            .collect();
        let der = &der[..der_len(&der).unwrap_or(der.len()).min(der.len())];
        let mut data = pdf[..a].to_vec();
        data.extend_from_slice(&pdf[b..b + c]);
        match check(der, &data, trust) {
            Ok((signer, trusted)) => {
                report.signer = signer;
                report.intact = true;
                report.trusted = trusted;
            }
            Err(e) => report.problem = Some(e),
        }
        reports.push(report);
    }
    reports
}

fn check(der: &[u8], data: &[u8], trust: &[X509]) -> Result<(String, Option<bool>), String> {
    let p7 = Pkcs7::from_der(der).map_err(|e| format!("not a CMS signature: {e}"))?;
    let none = Stack::new().map_err(|e| e.to_string())?;
    let signers = p7
        .signers(&none, Pkcs7Flags::empty())
        .map_err(|e| format!("no signer certificate: {e}"))?;
    let signer = signers.iter().next().map(subject).unwrap_or_default();
    let empty = X509StoreBuilder::new().map_err(|e| e.to_string())?.build();
    p7.verify(
        &none,
        &empty,
        Some(data),
        None,
        Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY,
    )
    .map_err(|e| format!("signature does not verify (content changed?): {e}"))?;
    if trust.is_empty() {
        return Ok((signer, None));
    }
    let mut store = X509StoreBuilder::new().map_err(|e| e.to_string())?;
    for t in trust {
        store.add_cert(t.clone()).map_err(|e| e.to_string())?;
    }
    let store = store.build();
    let trusted = p7
        .verify(&none, &store, Some(data), None, Pkcs7Flags::BINARY)
        .is_ok();
    Ok((signer, Some(trusted)))
}
