//! A document type as the IT team configured it, and the one check of a search-field
//! (UDF) value, used alike by import, Pull URI and department-table lookups.

use regex::Regex;

use crate::aadhaar::mask;
use crate::docs::certificate::CertificateSpec;
use crate::resident::MatchMode;
use crate::uri::DocIdSpace;

/// A validated `[doctypes.source]`: identifiers are well-formed; whether they exist is checked
/// against the live schema by `store::department` at start-up.
#[derive(Debug, Clone)]
pub struct Source {
    pub schema: Option<String>,
    pub table: String,
    /// Resolved like `database.url`; None means dlrepo's own database.
    pub database_url: Option<String>,
    /// One column per UDF, in the doc type's UDF order.
    pub udf_columns: Vec<String>,
    pub key_columns: Vec<String>,
    pub holder_name: Option<String>,
    pub doc_name: Option<String>,
    pub issued_on: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub aadhaar: Option<String>,
    pub dob: Option<String>,
    pub gender: Option<String>,
    pub phone: Option<String>,
    pub document_column: Option<String>,
    /// True (1, yes, t) where the department cancelled the document.
    pub revoked_column: Option<String>,
    /// Changes whenever the row does (`updated_at`, a version number).
    pub version_column: Option<String>,
    pub fields: Vec<(String, String)>,
    pub pool_size: u32,
}

/// Fields the current DigiLocker API puts inside `DocDetails` beside the UDFs; a UDF may
/// not take one of these names or the request could not be told apart.
pub const RESERVED_DETAIL_NAMES: &[&str] = &[
    "URI",
    "DocContent",
    "DataContent",
    "DocType",
    "DigiLockerId",
    "UID",
    "FullName",
    "DOB",
    "Photo",
    "IssuedTo",
];

/// The import's own columns besides the UDFs (required, then optional); a UDF may not
/// take one of these names either.
pub const IMPORT_REQUIRED: &[&str] = &["doc_name", "issued_on"];
pub const IMPORT_OPTIONAL: &[&str] = &[
    "valid_from",
    "valid_to",
    "aadhaar",
    "holder_name",
    "dob",
    "gender",
    "phone",
    "doc_id",
    "pdf",
];

#[derive(Debug)]
pub struct DocType {
    pub code: String,
    pub name: String,
    pub udfs: Vec<Udf>,
    pub id_space: DocIdSpace,
    /// Set when the documents live in a department table rather than in dlrepo's store.
    pub source: Option<Source>,
    /// The layout of rendered certificates (None: the plain built-in page).
    pub template: Option<crate::docs::template::Template>,
    /// How the current API's FullName/DOB are checked against the holder.
    pub resident_match: MatchMode,
    /// What goes into the certificate XML (DataContent).
    pub certificate: CertificateSpec,
    /// Rows without a document are pending (Status 9), not rendered.
    pub await_documents: bool,
}

#[derive(Debug)]
pub struct Udf {
    pub name: String,
    pub pattern: Regex,
    pub max_len: usize,
}

impl DocType {
    /// The set of UDF names, used to recognise a doc type from a request's fields.
    pub fn udf_names_match(&self, names: &[&str]) -> bool {
        names.len() == self.udfs.len()
            && self
                .udfs
                .iter()
                .all(|u| names.iter().any(|n| n.eq_ignore_ascii_case(&u.name)))
    }
}

/// Names every document has, whichever way it came in (see `issuing::Facts`).
pub const FACT_NAMES: &[&str] = &[
    "doc_id",
    "doc_name",
    "holder_name",
    "issued_on",
    "valid_from",
    "valid_to",
    "dob",
    "gender",
    "phone",
    "aadhaar_last4",
    "uri",
];

/// A search field's value refused, named by the field; the value itself is masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("UDF {name}: {reason}")]
pub struct UdfError {
    pub name: String,
    pub reason: String,
}

impl Udf {
    /// The one check of a value: surrounding spaces are dropped, then it must be
    /// non-empty, free of control characters, within `max_len` and match the pattern.
    pub fn check<'v>(&self, value: &'v str) -> Result<&'v str, UdfError> {
        let bad = |reason: String| UdfError {
            name: self.name.clone(),
            reason,
        };
        let v = value.trim();
        if v.is_empty() {
            return Err(bad("is empty".into()));
        }
        if v.chars().any(char::is_control) {
            return Err(bad("contains control characters".into()));
        }
        if v.chars().count() > self.max_len {
            return Err(bad(format!("is longer than {} characters", self.max_len)));
        }
        if !self.pattern.is_match(v) {
            return Err(bad(format!(
                "value {} does not match the configured pattern",
                mask(v)
            )));
        }
        Ok(v)
    }
}

impl DocType {
    /// Further CSV columns an import of this doc type takes: those its template prints
    /// and those its certificate XML maps (beyond UDFs and import columns).
    pub fn extra_columns(&self) -> Vec<&str> {
        let known = |n: &str| {
            self.udfs.iter().any(|u| u.name.eq_ignore_ascii_case(n))
                || IMPORT_REQUIRED
                    .iter()
                    .chain(IMPORT_OPTIONAL)
                    .chain(FACT_NAMES)
                    .any(|k| k.eq_ignore_ascii_case(n))
        };
        let mut out: Vec<&str> = Vec::new();
        let template = self.template.iter().flat_map(|t| t.fields());
        let mapped = self.certificate.mapped().map(|(_, f)| f.as_str());
        for f in template.chain(mapped) {
            if !known(f) && !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
                out.push(f);
            }
        }
        out
    }

    /// Checks the search fields a request named (any order, names ignoring case) and
    /// returns their values in configured order: the order of the lookup key.
    pub fn udf_values(&self, given: &[(String, String)]) -> Result<Vec<String>, UdfError> {
        for (name, _) in given {
            if !self.udfs.iter().any(|u| u.name.eq_ignore_ascii_case(name)) {
                return Err(UdfError {
                    name: name.clone(),
                    reason: format!("is not a search field of {}", self.code),
                });
            }
        }
        self.udfs
            .iter()
            .map(|u| {
                let value = given
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&u.name))
                    .map(|(_, v)| v.as_str())
                    .ok_or_else(|| UdfError {
                        name: u.name.clone(),
                        reason: "missing".into(),
                    })?;
                u.check(value).map(str::to_string)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udf() -> Udf {
        Udf {
            name: "RollNo".into(),
            pattern: Regex::new("^(?:[0-9]{6})$").expect("re"),
            max_len: 8,
        }
    }

    #[test]
    fn one_rule_for_every_caller() {
        let u = udf();
        assert_eq!(u.check(" 123456 "), Ok("123456"));
        assert_eq!(u.check("  ").map_err(|e| e.reason), Err("is empty".into()));
        assert!(u.check("12\u{7}456").is_err());
        assert!(u.check("123456789").is_err());
        let e = u.check("12345x").expect_err("pattern");
        assert!(!e.to_string().contains("12345x"), "value is masked: {e}");
    }
}
