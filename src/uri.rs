//! Document URIs: `IssuerId-DocType-DocId` (SPEC.md, "Document URI").
//!
//! Strict when minting, tolerant when reading: [`DocUri::parse`] splits any URI with two
//! `-` from the right and [`DocUri::strict_violations`] lists the rules a URI breaks, so a
//! partner's long real-world URI can still be looked up and explained.

use std::fmt;

use rand::Rng;

/// DocId alphabet: digits and capitals without the look-alikes 0/O, 1/I/L.
pub const DOC_ID_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const MAX_DOC_ID_LEN: usize = 10;
pub const MAX_DOC_TYPE_LEN: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("IssuerId is empty")]
    EmptyIssuer,
    #[error("IssuerId '{0}' contains '{1}': only letters, digits and '.' are allowed")]
    IssuerChar(String, char),
    #[error("DocType '{0}' must be 1 to 5 letters")]
    DocType(String),
    #[error("DocId '{0}' must be 1 to 10 letters or digits")]
    DocId(String),
    #[error("'{0}' is not a URI: it needs the form IssuerId-DocType-DocId (two '-')")]
    Shape(String),
    #[error("the DocId space is too small: {0}")]
    Space(String),
}

pub fn validate_issuer_id(id: &str) -> Result<(), UriError> {
    if id.is_empty() {
        return Err(UriError::EmptyIssuer);
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.'))
    {
        return Err(UriError::IssuerChar(id.to_string(), c));
    }
    if id.starts_with('.') || id.ends_with('.') || id.contains("..") {
        return Err(UriError::IssuerChar(id.to_string(), '.'));
    }
    Ok(())
}

pub fn validate_doc_type(code: &str) -> Result<(), UriError> {
    if code.is_empty()
        || code.len() > MAX_DOC_TYPE_LEN
        || !code.chars().all(|c| c.is_ascii_alphabetic())
    {
        return Err(UriError::DocType(code.to_string()));
    }
    Ok(())
}

pub fn validate_doc_id(id: &str) -> Result<(), UriError> {
    if id.is_empty() || id.len() > MAX_DOC_ID_LEN || !id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(UriError::DocId(id.to_string()));
    }
    Ok(())
}

/// A URI split into its three parts. Built by [`DocUri::parse`] (tolerant) or
/// [`DocUri::new`] (strict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocUri {
    pub issuer_id: String,
    pub doc_type: String,
    pub doc_id: String,
}

impl DocUri {
    /// Strict: every part must follow the spec's rules.
    pub fn new(issuer_id: &str, doc_type: &str, doc_id: &str) -> Result<DocUri, UriError> {
        validate_issuer_id(issuer_id)?;
        validate_doc_type(doc_type)?;
        validate_doc_id(doc_id)?;
        Ok(DocUri {
            issuer_id: issuer_id.to_string(),
            doc_type: doc_type.to_string(),
            doc_id: doc_id.to_string(),
        })
    }

    /// From parts that are already known good: the configured issuer and doc type, and
    /// a DocId read from the store (which may predate today's rules). The one way URIs
    /// are put together.
    pub fn of(issuer_id: &str, doc_type: &str, doc_id: &str) -> DocUri {
        DocUri {
            issuer_id: issuer_id.to_string(),
            doc_type: doc_type.to_string(),
            doc_id: doc_id.to_string(),
        }
    }

    /// Tolerant: the last `-` starts DocId, the one before it DocType; the rest is the
    /// IssuerId. Only the shape is required (three non-empty parts, no whitespace).
    pub fn parse(s: &str) -> Result<DocUri, UriError> {
        let s = s.trim();
        let shape = || UriError::Shape(s.to_string());
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(shape());
        }
        let (rest, doc_id) = s.rsplit_once('-').ok_or_else(shape)?;
        let (issuer_id, doc_type) = rest.rsplit_once('-').ok_or_else(shape)?;
        if issuer_id.is_empty() || doc_type.is_empty() || doc_id.is_empty() {
            return Err(shape());
        }
        Ok(DocUri {
            issuer_id: issuer_id.to_string(),
            doc_type: doc_type.to_string(),
            doc_id: doc_id.to_string(),
        })
    }

    /// The spec's rules this URI breaks; empty for a well-formed one.
    pub fn strict_violations(&self) -> Vec<UriError> {
        [
            validate_issuer_id(&self.issuer_id).err(),
            validate_doc_type(&self.doc_type).err(),
            validate_doc_id(&self.doc_id).err(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// IssuerIds are case-insensitive (SPEC.md).
    pub fn issued_by(&self, issuer_id: &str) -> bool {
        self.issuer_id.eq_ignore_ascii_case(issuer_id)
    }
}

impl fmt::Display for DocUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.issuer_id, self.doc_type, self.doc_id)
    }
}

/// The DocId length for a doc type, chosen so the space is at least ten times the number
/// of documents expected: guessing the next id stays hopeless and collisions rare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocIdSpace {
    pub length: usize,
}

impl DocIdSpace {
    pub fn for_expected(expected: u64, fixed_length: Option<usize>) -> Result<Self, UriError> {
        let need = (expected.max(1) as u128) * 10;
        let size = |len: usize| (DOC_ID_ALPHABET.len() as u128).pow(len as u32);
        match fixed_length {
            Some(len) if len == 0 || len > MAX_DOC_ID_LEN => Err(UriError::Space(format!(
                "doc_id_length {len} must be between 1 and {MAX_DOC_ID_LEN}"
            ))),
            Some(len) if size(len) < need => Err(UriError::Space(format!(
                "{len} characters give {} ids, less than 10x the {expected} expected",
                size(len)
            ))),
            Some(len) => Ok(DocIdSpace { length: len }),
            None => (1..=MAX_DOC_ID_LEN)
                .find(|&len| size(len) >= need)
                .map(|length| DocIdSpace { length })
                .ok_or_else(|| {
                    UriError::Space(format!(
                        "even {MAX_DOC_ID_LEN} characters cannot hold 10x {expected} documents"
                    ))
                }),
        }
    }

    pub fn size(&self) -> u128 {
        (DOC_ID_ALPHABET.len() as u128).pow(self.length as u32)
    }

    /// A fresh random DocId from the thread's CSPRNG (ChaCha, seeded from the OS).
    pub fn mint(&self) -> String {
        let mut rng = rand::thread_rng();
        (0..self.length)
            .map(|_| DOC_ID_ALPHABET[rng.gen_range(0..DOC_ID_ALPHABET.len())] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_from_the_right() {
        let u = DocUri::parse("in.gov.dept.state-INCER-1234567").expect("parse");
        assert_eq!(u.issuer_id, "in.gov.dept.state");
        assert_eq!(u.doc_type, "INCER");
        assert_eq!(u.doc_id, "1234567");
        assert!(u.strict_violations().is_empty());
        assert_eq!(u.to_string(), "in.gov.dept.state-INCER-1234567");
    }

    #[test]
    fn tolerates_real_world_long_forms() {
        let u = DocUri::parse("testt.in.gov.kerala.edistrict-A001116301471-420").expect("parse");
        assert_eq!(u.issuer_id, "testt.in.gov.kerala.edistrict");
        assert_eq!(u.doc_type, "A001116301471");
        assert_eq!(u.doc_id, "420");
        assert_eq!(u.strict_violations().len(), 1);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "nodash",
            "one-dash",
            "-MARKS-123",
            "a--123",
            "a-B-",
            "in.gov x-A-1",
        ] {
            assert!(DocUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strict_constructor_rules() {
        assert!(DocUri::new("in.gov.x", "MARKS", "ABC234").is_ok());
        assert!(DocUri::new("in-gov", "MARKS", "ABC").is_err());
        assert!(DocUri::new("in.gov", "MARKS1", "ABC").is_err());
        assert!(DocUri::new("in.gov", "MARKSX", "ABC").is_err());
        assert!(DocUri::new("in.gov", "MARKS", "ABCDEFGHJKM").is_err());
        assert!(DocUri::new("in.gov", "MARKS", "AB-C").is_err());
    }

    #[test]
    fn space_is_ten_times_expected() {
        let s = DocIdSpace::for_expected(1_000_000, None).expect("space");
        assert!(s.size() >= 10_000_000);
        assert!(
            (DOC_ID_ALPHABET.len() as u128).pow(s.length as u32 - 1) < 10_000_000,
            "shortest length that fits"
        );
        assert!(DocIdSpace::for_expected(1_000_000, Some(3)).is_err());
        assert!(DocIdSpace::for_expected(1_000_000, Some(11)).is_err());
        assert_eq!(
            DocIdSpace::for_expected(10, Some(8)).expect("space").length,
            8
        );
    }

    #[test]
    fn alphabet_has_no_look_alikes() {
        for c in b"01OIL" {
            assert!(!DOC_ID_ALPHABET.contains(c));
        }
        assert_eq!(DOC_ID_ALPHABET.len(), 31);
    }

    proptest! {
        #[test]
        fn minted_ids_parse_back(
            issuer in "[a-z][a-z0-9]{0,8}(\\.[a-z0-9]{1,8}){0,4}",
            doc_type in "[A-Z]{1,5}",
            expected in 1u64..1_000_000_000u64,
        ) {
            let space = DocIdSpace::for_expected(expected, None).expect("space");
            let id = space.mint();
            prop_assert_eq!(id.len(), space.length);
            let uri = DocUri::new(&issuer, &doc_type, &id).expect("strict");
            let back = DocUri::parse(&uri.to_string()).expect("parse");
            prop_assert!(back.strict_violations().is_empty());
            prop_assert_eq!(back, uri);
        }
    }
}
