//! Authentication of calls from DigiLocker (SPEC.md 8.2.1): `keyhash` is the lowercase hex
//! SHA-256 of the API key followed by `ts`, and `ts` must fall inside a window around now.
//!
//! The caller only ever learns "Status 0"; [`AuthError`] says which check failed, for the
//! issuer's log. The key never appears in an error.

use chrono::{DateTime, FixedOffset, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "ts '{0}' is not an ISO-8601 timestamp with an offset (e.g. 2016-01-11T14:44:48+05:30)"
    )]
    BadTimestamp(String),
    #[error("ts is {0} s in the past, outside the {1} min window (stale request or clock skew)")]
    Stale(i64, i64),
    #[error("ts is {0} s in the future, outside the {1} min window (caller's clock is ahead)")]
    Future(i64, i64),
    #[error("keyhash does not match sha256(api_key + ts): wrong key, or the hash was built from another ts")]
    WrongKeyHash,
    #[error("orgId '{0}' is not the configured digilocker.org_id")]
    OrgId(String),
}

/// `hex(sha256(api_key + ts))`, lowercase.
pub fn keyhash(api_key: &str, ts: &str) -> String {
    let mut h = Sha256::new();
    h.update(api_key.as_bytes());
    h.update(ts.as_bytes());
    to_hex(&h.finalize())
}

pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub fn parse_ts(ts: &str) -> Result<DateTime<FixedOffset>, AuthError> {
    DateTime::parse_from_rfc3339(ts.trim()).map_err(|_| AuthError::BadTimestamp(ts.to_string()))
}

/// The checks a request from DigiLocker must pass, in the order they are cheapest.
pub struct Verifier<'a> {
    pub api_key: &'a str,
    pub org_id: &'a str,
    pub window_minutes: i64,
}

impl Verifier<'_> {
    pub fn verify(
        &self,
        ts: &str,
        keyhash_given: &str,
        org_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let t = parse_ts(ts)?;
        let skew = now.signed_duration_since(t).num_seconds();
        let window = self.window_minutes * 60;
        if skew > window {
            return Err(AuthError::Stale(skew, self.window_minutes));
        }
        if -skew > window {
            return Err(AuthError::Future(-skew, self.window_minutes));
        }
        let expected = keyhash(self.api_key, ts);
        // Hex case carries no secret; the comparison of the digits is constant-time.
        let given = keyhash_given.trim().to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(AuthError::WrongKeyHash);
        }
        if !org_id.trim().eq_ignore_ascii_case(self.org_id) {
            return Err(AuthError::OrgId(org_id.to_string()));
        }
        Ok(())
    }
}

/// A `ts` for now in IST, the form DigiLocker sends.
pub fn now_ts() -> String {
    let ist = FixedOffset::east_opt(5 * 3600 + 1800)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    Utc::now()
        .with_timezone(&ist)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const KEY: &str = "test-api-key-0123456789";

    fn v() -> Verifier<'static> {
        Verifier {
            api_key: KEY,
            org_id: "ORG",
            window_minutes: 30,
        }
    }

    #[test]
    fn known_vector() {
        // sha256("abc") — the concatenation "a" + "bc".
        assert_eq!(
            keyhash("a", "bc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn accepts_fresh_and_rejects_each_failure() {
        let ts = "2016-01-11T14:44:48+05:30";
        let t = parse_ts(ts).expect("ts").with_timezone(&Utc);
        let h = keyhash(KEY, ts);
        assert_eq!(v().verify(ts, &h, "ORG", t), Ok(()));
        assert_eq!(v().verify(ts, &h.to_uppercase(), "org", t), Ok(()));
        assert_eq!(
            v().verify(ts, &h, "ORG", t + Duration::minutes(31)),
            Err(AuthError::Stale(31 * 60, 30))
        );
        assert_eq!(
            v().verify(ts, &h, "ORG", t - Duration::minutes(31)),
            Err(AuthError::Future(31 * 60, 30))
        );
        assert_eq!(
            v().verify(ts, &keyhash("other-key", ts), "ORG", t),
            Err(AuthError::WrongKeyHash)
        );
        assert!(matches!(
            v().verify("yesterday", &h, "ORG", t),
            Err(AuthError::BadTimestamp(_))
        ));
        assert!(matches!(
            v().verify(ts, &h, "OTHER", t),
            Err(AuthError::OrgId(_))
        ));
    }

    #[test]
    fn errors_never_contain_the_key() {
        let ts = now_ts();
        let e = v().verify(&ts, "00", "ORG", Utc::now()).expect_err("wrong");
        assert!(!e.to_string().contains(KEY));
    }
}

/// How the `x-digilocker-hmac` header encodes HMAC-SHA256(api_key, raw body): the
/// spec's words say base64 of the MAC; issuers seen working against DigiLocker check
/// base64 of its lowercase hex. Which are accepted is configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacEncoding {
    /// base64 of the 32-byte MAC.
    Raw,
    /// base64 of the MAC's 64 lowercase hex characters.
    Hex,
}

impl HmacEncoding {
    pub fn name(self) -> &'static str {
        match self {
            HmacEncoding::Raw => "raw",
            HmacEncoding::Hex => "hex",
        }
    }
}

/// Which HMAC check failed; never carries the key or a MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HmacError {
    #[error("header missing, and digilocker.require_hmac is set")]
    Missing,
    #[error("header is not base64")]
    NotBase64,
    #[error("header decodes to {0} bytes: neither a 32-byte MAC nor its 64 hex characters")]
    WrongLength(usize),
    #[error("header uses the {} encoding, which digilocker.hmac_encodings does not accept", .0.name())]
    EncodingNotAccepted(HmacEncoding),
    #[error("does not match HMAC-SHA256(api_key, body): wrong key, or the body changed after it was computed")]
    Mismatch,
}

/// HMAC-SHA256 (RFC 2104) of `body` keyed with `key`.
pub fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The header value for `body`, in one encoding: for `dlrepo curl` and the tests.
pub fn hmac_header(body: &[u8], api_key: &str, encoding: HmacEncoding) -> String {
    use base64::Engine;
    let mac = hmac_sha256(api_key.as_bytes(), body);
    let b64 = base64::engine::general_purpose::STANDARD;
    match encoding {
        HmacEncoding::Raw => b64.encode(mac),
        HmacEncoding::Hex => b64.encode(to_hex(&mac)),
    }
}

/// Checks the header over the exact raw body, in constant time. `Ok(None)`: no header
/// and none required; otherwise the encoding it came in.
pub fn verify_hmac(
    header: Option<&str>,
    body: &[u8],
    api_key: &str,
    accept: &[HmacEncoding],
    required: bool,
) -> Result<Option<HmacEncoding>, HmacError> {
    use base64::Engine;
    let Some(value) = header.map(str::trim) else {
        return if required {
            Err(HmacError::Missing)
        } else {
            Ok(None)
        };
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| HmacError::NotBase64)?;
    let mac = hmac_sha256(api_key.as_bytes(), body);
    let (encoding, expected) = match decoded.len() {
        32 => (HmacEncoding::Raw, mac.to_vec()),
        // Hex digits in either case are the same MAC.
        64 => (HmacEncoding::Hex, to_hex(&mac).into_bytes()),
        n => return Err(HmacError::WrongLength(n)),
    };
    if !accept.contains(&encoding) {
        return Err(HmacError::EncodingNotAccepted(encoding));
    }
    let given = if encoding == HmacEncoding::Hex {
        decoded.to_ascii_lowercase()
    } else {
        decoded
    };
    if bool::from(given.ct_eq(&expected)) {
        Ok(Some(encoding))
    } else {
        Err(HmacError::Mismatch)
    }
}

#[cfg(test)]
mod hmac_tests {
    use super::*;

    const BOTH: &[HmacEncoding] = &[HmacEncoding::Raw, HmacEncoding::Hex];

    #[test]
    fn rfc_4231_case_2() {
        assert_eq!(
            to_hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (RFC 4231 case 6).
        assert_eq!(
            to_hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn both_encodings_and_every_failure() {
        let body = b"<PullURIRequest/>";
        let key = "test-api-key-0123456789abcdef";
        for enc in BOTH {
            let h = hmac_header(body, key, *enc);
            assert_eq!(verify_hmac(Some(&h), body, key, BOTH, true), Ok(Some(*enc)));
            assert_eq!(
                verify_hmac(Some(&h), b"<PullURIRequest />", key, BOTH, false),
                Err(HmacError::Mismatch)
            );
            assert_eq!(
                verify_hmac(Some(&h), body, "another-key-0123456789", BOTH, false),
                Err(HmacError::Mismatch)
            );
        }
        assert_eq!(verify_hmac(None, body, key, BOTH, false), Ok(None));
        assert_eq!(
            verify_hmac(None, body, key, BOTH, true),
            Err(HmacError::Missing)
        );
        assert_eq!(
            verify_hmac(Some("%%%"), body, key, BOTH, false),
            Err(HmacError::NotBase64)
        );
        assert_eq!(
            verify_hmac(Some("AAAA"), body, key, BOTH, false),
            Err(HmacError::WrongLength(3))
        );
        let hex = hmac_header(body, key, HmacEncoding::Hex);
        assert_eq!(
            verify_hmac(Some(&hex), body, key, &[HmacEncoding::Raw], false),
            Err(HmacError::EncodingNotAccepted(HmacEncoding::Hex))
        );
    }
}
