//! `[[doctypes]]`: codes, search fields (UDFs), DocId space, source table, template.

use std::collections::HashSet;
use std::path::Path;

use regex::Regex;

use super::certificate::Issuer;
use super::raw::RawDocType;
use super::Problem;
use crate::doctype::{DocType, Udf, IMPORT_OPTIONAL, IMPORT_REQUIRED, RESERVED_DETAIL_NAMES};
use crate::resident::MatchMode;
use crate::uri::{self, DocIdSpace};

/// The doc types that passed every check; each problem is named by its field.
pub(super) fn validate(
    raw: &[RawDocType],
    base: &Path,
    issuer: &Issuer<'_>,
    problems: &mut Vec<Problem>,
) -> Vec<DocType> {
    if raw.is_empty() {
        problems.push(Problem::new(
            "doctypes",
            "at least one [[doctypes]] entry is needed".into(),
        ));
    }
    let mut codes = HashSet::new();
    let mut doctypes = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let f = |s: &str| format!("doctypes[{i}].{s}");
        let before = problems.len();
        if let Err(e) = uri::validate_doc_type(&d.code) {
            problems.push(Problem::new(&f("code"), e.to_string()));
        }
        if !codes.insert(d.code.to_ascii_uppercase()) {
            problems.push(Problem::new(
                &f("code"),
                format!("'{}' is defined twice", d.code),
            ));
        }
        if d.name.trim().is_empty() {
            problems.push(Problem::new(&f("name"), "must not be empty".into()));
        }
        let udfs = udfs(d, i, problems);
        let source = d
            .source
            .as_ref()
            .and_then(|src| super::source::validate(src, &d.udfs, &f, base, problems));
        let template = d.template.as_ref().and_then(|t| {
            crate::docs::template::Template::load(&base.join(t))
                .map_err(|e| problems.push(Problem::new(&f("template"), e.to_string())))
                .ok()
        });
        let template_fields: Vec<String> = template
            .iter()
            .flat_map(|t| t.fields().map(str::to_string))
            .collect();
        let certificate = super::certificate::validate(d, &template_fields, issuer, &f, problems);
        let resident_match = match d.resident_match.as_deref().map(str::parse::<MatchMode>) {
            None => MatchMode::default(),
            Some(Ok(m)) => m,
            Some(Err(_)) => {
                problems.push(Problem::new(
                    &f("resident_match"),
                    "must be one of off, lenient, strict".into(),
                ));
                MatchMode::default()
            }
        };
        let id_space = DocIdSpace::for_expected(d.expected_count, d.doc_id_length)
            .map_err(|e| {
                let field = if d.doc_id_length.is_some() {
                    "doc_id_length"
                } else {
                    "expected_count"
                };
                problems.push(Problem::new(&f(field), e.to_string()))
            })
            .ok();
        if let (Some(id_space), true) = (id_space, problems.len() == before) {
            doctypes.push(DocType {
                code: d.code.to_ascii_uppercase(),
                name: d.name.clone(),
                udfs,
                id_space,
                source,
                template,
                resident_match,
                certificate,
                await_documents: d.await_documents,
            });
        }
    }
    doctypes
}

fn udfs(d: &RawDocType, i: usize, problems: &mut Vec<Problem>) -> Vec<Udf> {
    if d.udfs.is_empty() {
        problems.push(Problem::new(
            &format!("doctypes[{i}].udfs"),
            "a doc type needs at least one UDF".into(),
        ));
    }
    let mut udfs = Vec::new();
    let mut names = HashSet::new();
    for (j, u) in d.udfs.iter().enumerate() {
        let mut problem = |s: &str, reason: String| {
            problems.push(Problem::new(
                &format!("doctypes[{i}].udfs[{j}].{s}"),
                reason,
            ))
        };
        if !valid_element_name(&u.name) {
            problem(
                "name",
                format!("'{}' is not a usable XML element name (letters, digits, '_', starting with a letter)", u.name),
            );
        } else if RESERVED_DETAIL_NAMES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&u.name))
        {
            problem(
                "name",
                format!(
                    "'{}' is a DigiLocker field name and cannot be a UDF",
                    u.name
                ),
            );
        } else if IMPORT_REQUIRED
            .iter()
            .chain(IMPORT_OPTIONAL)
            .any(|r| r.eq_ignore_ascii_case(&u.name))
        {
            problem(
                "name",
                format!("'{}' is an import column name and cannot be a UDF", u.name),
            );
        }
        if !names.insert(u.name.to_ascii_lowercase()) {
            problem("name", format!("'{}' appears twice", u.name));
        }
        if u.max_len == 0 || u.max_len > 1024 {
            problem("max_len", "must be between 1 and 1024".into());
        }
        match Regex::new(&format!("^(?:{})$", u.pattern)) {
            Ok(re) => udfs.push(Udf {
                name: u.name.clone(),
                pattern: re,
                max_len: u.max_len,
            }),
            Err(e) => problem("pattern", format!("not a valid regular expression: {e}")),
        }
    }
    udfs
}

fn valid_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}
