//! `[doctypes.certificate]`: the certificate XML of a doc type, and which fields feed it.

use super::raw::{RawCertificate, RawDocType};
use super::Problem;
use crate::docs::certificate::{valid_xml_name, CertificateSpec, Organization};
use crate::doctype::FACT_NAMES;

/// The issuer as the certificate names it by default.
pub(super) struct Issuer<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
}

pub(super) fn validate(
    d: &RawDocType,
    template_fields: &[String],
    issuer: &Issuer<'_>,
    field: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> CertificateSpec {
    let default = RawCertificate::default();
    let raw = d.certificate.as_ref().unwrap_or(&default);
    let mut problem = |f: &str, reason: String| problems.push(Problem::new(&field(f), reason));
    let org = raw.organization.as_ref();
    let org_type = org
        .and_then(|o| o.org_type.clone())
        .unwrap_or_else(|| "SG".into());
    if !["CG", "SG", "NG"].contains(&org_type.as_str()) {
        problem(
            "certificate.organization.type",
            format!("'{org_type}' is not one of CG, SG, NG"),
        );
    }
    let data_element = raw.data_element.clone().unwrap_or_else(|| "Data".into());
    if !valid_xml_name(&data_element) {
        problem(
            "certificate.data_element",
            format!("'{data_element}' is not a usable XML element name"),
        );
    }
    for (list, attr, source_field) in raw
        .data
        .iter()
        .map(|(a, f)| ("certificate.data", a, f))
        .chain(
            raw.attributes
                .iter()
                .map(|(a, f)| ("certificate.attributes", a, f)),
        )
        .chain(raw.person.iter().map(|(a, f)| ("certificate.person", a, f)))
    {
        if !valid_xml_name(attr) {
            problem(list, format!("'{attr}' is not a usable XML attribute name"));
        }
        // Imported doc types take any other name as a CSV column; a department table
        // only has what its source maps.
        if let Some(src) = &d.source {
            let known = d
                .udfs
                .iter()
                .map(|u| u.name.as_str())
                .chain(FACT_NAMES.iter().copied())
                .chain(template_fields.iter().map(String::as_str))
                .chain(src.fields.iter().map(|(label, _)| label.as_str()))
                .any(|k| k.eq_ignore_ascii_case(source_field));
            if !known {
                problem(
                    list,
                    format!(
                        "'{source_field}' (for attribute '{attr}') is neither a UDF, a document field nor a label in source.fields"
                    ),
                );
            }
        }
    }
    CertificateSpec {
        cert_type: raw
            .cert_type
            .clone()
            .unwrap_or_else(|| d.code.to_ascii_uppercase()),
        language: raw.language.clone().unwrap_or_else(|| "99".into()),
        issued_at: raw.issued_at.clone(),
        organization: Organization {
            name: org
                .and_then(|o| o.name.clone())
                .or_else(|| issuer.name.map(str::to_string))
                .unwrap_or_else(|| issuer.id.to_string()),
            code: org
                .and_then(|o| o.code.clone())
                .unwrap_or_else(|| issuer.id.to_string()),
            org_type,
            tin: org.and_then(|o| o.tin.clone()),
        },
        data_element,
        data: raw.data.clone(),
        attributes: raw.attributes.clone(),
        person: raw.person.clone(),
    }
}
