//! The CSV header: which column holds which field.

use std::collections::{HashMap, HashSet};

use crate::doctype::{DocType, IMPORT_OPTIONAL, IMPORT_REQUIRED};

/// Where each known column sits in the file.
pub(super) struct Columns {
    pub udfs: Vec<usize>,
    pub doc_name: usize,
    pub issued_on: usize,
    pub optional: HashMap<&'static str, usize>,
    /// Further columns the doc type's template prints or its certificate XML maps
    /// (name, index).
    pub extra: Vec<(String, usize)>,
}

impl Columns {
    pub fn from_header(header: &csv::StringRecord, doctype: &DocType) -> Result<Columns, String> {
        let names: Vec<String> = header
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        let mut seen = HashSet::new();
        for n in &names {
            if !seen.insert(n.to_ascii_lowercase()) {
                return Err(format!("column '{n}' appears twice"));
            }
        }
        let find = |want: &str| names.iter().position(|n| n.eq_ignore_ascii_case(want));
        let extra_columns = doctype.extra_columns();
        let is_extra = |n: &str| extra_columns.iter().any(|e| e.eq_ignore_ascii_case(n));
        let expected = || {
            let mut all: Vec<String> = doctype.udfs.iter().map(|u| u.name.clone()).collect();
            all.extend(["doc_name".into(), "issued_on".into()]);
            all.extend(IMPORT_OPTIONAL.iter().map(|s| format!("[{s}]")));
            all.extend(extra_columns.iter().map(|s| format!("[{s}]")));
            all.join(", ")
        };
        for n in &names {
            let known = doctype.udfs.iter().any(|u| u.name.eq_ignore_ascii_case(n))
                || IMPORT_REQUIRED
                    .iter()
                    .chain(IMPORT_OPTIONAL)
                    .any(|k| k.eq_ignore_ascii_case(n))
                || is_extra(n);
            if !known {
                return Err(format!(
                    "unknown column '{n}'; the columns of {} are: {}",
                    doctype.code,
                    expected()
                ));
            }
        }
        let required = |want: &str| {
            find(want).ok_or_else(|| format!("missing column '{want}'; expected: {}", expected()))
        };
        // A field the certificate XML maps must be there, or the mapping points nowhere.
        for (attr, f) in doctype.certificate.mapped() {
            if is_extra(f) && find(f).is_none() {
                return Err(format!(
                    "missing column '{f}': [doctypes.certificate] maps it to '{attr}' of the certificate XML"
                ));
            }
        }
        let udfs = doctype
            .udfs
            .iter()
            .map(|u| required(&u.name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Columns {
            udfs,
            doc_name: required("doc_name")?,
            issued_on: required("issued_on")?,
            optional: IMPORT_OPTIONAL
                .iter()
                .filter_map(|k| find(k).map(|i| (*k, i)))
                .collect(),
            extra: names
                .iter()
                .enumerate()
                .filter(|(_, n)| is_extra(n))
                .map(|(i, n)| (n.clone(), i))
                .collect(),
        })
    }

    pub fn get<'r>(&self, rec: &'r csv::StringRecord, key: &str) -> Option<&'r str> {
        self.optional
            .get(key)
            .and_then(|&i| rec.get(i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}
