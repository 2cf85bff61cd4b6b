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
