//! `[doctypes.source]`: a doc type served from the department's own table.

use std::path::Path;

use super::raw::{RawSource, RawUdf};
use super::{resolve_db_url, Problem};
use crate::doctype::Source;

/// SQL identifiers we accept: they are quoted when used, and this keeps them plain.
pub fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

pub(super) fn validate(
    raw: &RawSource,
    udfs: &[RawUdf],
    field: &dyn Fn(&str) -> String,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<Source> {
    let before = problems.len();
    let mut problem = |f: &str, reason: String| {
        problems.push(Problem {
            field: field(f),
            reason,
        })
    };
    let (schema, table) = match raw.table.split_once('.') {
        Some((s, t)) => (Some(s.to_string()), t.to_string()),
        None => (None, raw.table.clone()),
    };
    if !valid_identifier(&table) || !schema.as_deref().is_none_or(valid_identifier) {
        problem(
            "source.table",
            format!(
                "'{}' is not a plain table name (letters, digits, '_'; optionally schema.table)",
                raw.table
            ),
        );
    }
    let mut check_col = |f: &str, c: &str| {
        if !valid_identifier(c) {
            problem(
                f,
                format!("'{c}' is not a plain column name (letters, digits, '_')"),
            );
        }
    };
    let mut udf_columns = Vec::new();
    for u in udfs {
        match raw
            .udf_columns
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&u.name))
        {
            Some((_, c)) => {
                check_col("source.udf_columns", c);
                udf_columns.push(c.clone());
            }
            None => check_col(
                "source.udf_columns",
                &format!("(no column given for UDF {})", u.name),
            ),
        }
    }
    for k in raw.udf_columns.keys() {
        if !udfs.iter().any(|u| u.name.eq_ignore_ascii_case(k)) {
            check_col(
                "source.udf_columns",
                &format!("({k} is not a UDF of this doc type)"),
            );
        }
    }
    let key_columns = if raw.key_columns.is_empty() {
        udf_columns.clone()
    } else {
        raw.key_columns.clone()
    };
    for c in &key_columns {
        check_col("source.key_columns", c);
    }
    for (f, c) in [
        ("source.holder_name", &raw.holder_name),
        ("source.doc_name", &raw.doc_name),
        ("source.issued_on", &raw.issued_on),
        ("source.valid_from", &raw.valid_from),
        ("source.valid_to", &raw.valid_to),
        ("source.aadhaar", &raw.aadhaar),
        ("source.dob", &raw.dob),
        ("source.gender", &raw.gender),
        ("source.phone", &raw.phone),
        ("source.document_column", &raw.document_column),
        ("source.revoked_column", &raw.revoked_column),
        ("source.version_column", &raw.version_column),
    ] {
        if let Some(c) = c {
            check_col(f, c);
        }
    }
    for (_, c) in &raw.fields {
        check_col("source.fields", c);
    }
    if raw.pool_size == 0 || raw.pool_size > 64 {
        problem("source.pool_size", "must be between 1 and 64".into());
    }
    if problems.len() > before {
        return None;
    }
    Some(Source {
        schema,
        table,
        database_url: raw.database_url.as_deref().map(|u| resolve_db_url(u, base)),
        udf_columns,
        key_columns,
        holder_name: raw.holder_name.clone(),
        doc_name: raw.doc_name.clone(),
        issued_on: raw.issued_on.clone(),
        valid_from: raw.valid_from.clone(),
        valid_to: raw.valid_to.clone(),
        aadhaar: raw.aadhaar.clone(),
        dob: raw.dob.clone(),
        gender: raw.gender.clone(),
        phone: raw.phone.clone(),
        document_column: raw.document_column.clone(),
        revoked_column: raw.revoked_column.clone(),
        version_column: raw.version_column.clone(),
        fields: raw.fields.clone(),
        pool_size: raw.pool_size,
    })
}
