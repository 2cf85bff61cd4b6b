//! DigiLocker's common certificate XML (`DataContent` of the current API), written
//! directly in exclusive-c14n canonical form (attributes sorted, no empty-element tags,
//! c14n escaping) so that the enveloped signature of [`super::xmldsig`] covers exactly
//! these bytes. What goes where is the doc type's [`CertificateSpec`], set in the TOML
//! without code.

use super::xmldsig::c14n_attr;

/// `[doctypes.certificate]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSpec {
    /// `Certificate/@type`; the doc type code unless configured.
    pub cert_type: String,
    /// `Certificate/@language`: "99" is DigiLocker's code for English.
    pub language: String,
    /// `Certificate/@issuedAt`: the place of issue.
    pub issued_at: Option<String>,
    pub organization: Organization,
    /// The element inside `CertificateData` that carries the mapped fields.
    pub data_element: String,
    /// (attribute of `data_element`, field name) in order.
    pub data: Vec<(String, String)>,
    /// (attribute of `Certificate`, field name): set per document, over the defaults.
    pub attributes: Vec<(String, String)>,
    /// (attribute of `IssuedTo/Person`, field name), beside the holder's own.
    pub person: Vec<(String, String)>,
}

impl CertificateSpec {
    /// Every (attribute, field) the doc type maps, wherever it goes.
    pub fn mapped(&self) -> impl Iterator<Item = &(String, String)> {
        self.data.iter().chain(&self.attributes).chain(&self.person)
    }
}

/// Sets mapped attributes over `attrs` (replacing one of the same name).
fn overlay<'s>(
    attrs: &mut Vec<(&'s str, String)>,
    mapped: &'s [(String, String)],
    value: &dyn Fn(&str) -> String,
) {
    for (attr, field) in mapped {
        let v = value(field);
        if v.is_empty() {
            continue;
        }
        match attrs.iter_mut().find(|(k, _)| k == attr) {
            Some(slot) => slot.1 = v,
            None => attrs.push((attr.as_str(), v)),
        }
    }
}

/// `IssuedBy/Organization`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organization {
    pub name: String,
    pub code: String,
    /// CG (central), SG (state) or NG (non-government).
    pub org_type: String,
    pub tin: Option<String>,
}

/// `IssuedTo/Person`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub name: Option<String>,
    /// DD-MM-YYYY.
    pub dob: Option<String>,
    pub gender: Option<String>,
    pub phone: Option<String>,
    /// Masked: the full Aadhaar number never leaves the repository in a certificate.
    pub uid: Option<String>,
}

/// What one document says, for its certificate.
#[derive(Debug, Clone, Default)]
pub struct CertificateFacts<'a> {
    pub name: &'a str,
    pub number: &'a str,
    /// Any date form dlrepo stores (ISO or DD-MM-YYYY / DD/MM/YYYY); written DD-MM-YYYY.
    pub issue_date: Option<&'a str>,
    pub valid_from: Option<&'a str>,
    pub expiry: Option<&'a str>,
    /// A (active), E (expired), R (revoked), S (suspended).
    pub status: &'a str,
    pub holder: Holder,
    /// Field values by name (search fields, further columns).
    pub fields: &'a [(String, String)],
}

/// ISO `YYYY-MM-DD` (how dlrepo stores dates) or `DD/MM/YYYY` as DigiLocker's
/// `DD-MM-YYYY`; anything else as it is.
pub fn dd_mm_yyyy(date: &str) -> String {
    let d = date.trim();
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
    {
        return format!("{}-{}-{}", &d[8..10], &d[5..7], &d[0..4]);
    }
    if b.len() == 10
        && digits(0..2)
        && b[2] == b'/'
        && digits(3..5)
        && b[5] == b'/'
        && digits(6..10)
    {
        return d.replace('/', "-");
    }
    d.to_string()
}

/// `<name a="..." b="...">` with attributes in canonical (byte) order, empty ones left
/// out.
fn open(out: &mut String, name: &str, attrs: &mut Vec<(&str, String)>) {
    attrs.retain(|(_, v)| !v.is_empty());
    attrs.sort_by(|a, b| a.0.cmp(b.0));
    out.push('<');
    out.push_str(name);
    for (k, v) in attrs.iter() {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        out.push_str(&c14n_attr(v));
        out.push('"');
    }
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// The certificate, unsigned, in canonical form (no XML declaration).
pub fn build(spec: &CertificateSpec, f: &CertificateFacts<'_>) -> String {
    let mut out = String::with_capacity(1024);
    let date = |d: Option<&str>| d.map(dd_mm_yyyy).unwrap_or_default();
    let value = |field: &str| {
        f.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(field))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut certificate = vec![
        ("language", spec.language.clone()),
        ("name", f.name.to_string()),
        ("type", spec.cert_type.clone()),
        ("number", f.number.to_string()),
        ("issuedAt", opt(&spec.issued_at)),
        ("issueDate", date(f.issue_date)),
        ("validFromDate", date(f.valid_from)),
        ("expiryDate", date(f.expiry)),
        ("status", f.status.to_string()),
    ];
    overlay(&mut certificate, &spec.attributes, &value);
    open(&mut out, "Certificate", &mut certificate);
    out.push_str("<IssuedBy>");
    let org = &spec.organization;
    open(
        &mut out,
        "Organization",
        &mut vec![
            ("name", org.name.clone()),
            ("code", org.code.clone()),
            ("type", org.org_type.clone()),
            ("tin", opt(&org.tin)),
        ],
    );
    close(&mut out, "Organization");
    out.push_str("</IssuedBy><IssuedTo>");
    let h = &f.holder;
    let mut person = vec![
        ("uid", opt(&h.uid)),
        ("name", opt(&h.name)),
        ("dob", h.dob.as_deref().map(dd_mm_yyyy).unwrap_or_default()),
        ("gender", opt(&h.gender)),
        ("phone", opt(&h.phone)),
    ];
    overlay(&mut person, &spec.person, &value);
    open(&mut out, "Person", &mut person);
    close(&mut out, "Person");
    out.push_str("</IssuedTo><CertificateData>");
    let mut data: Vec<(&str, String)> = spec
        .data
        .iter()
        .map(|(attr, field)| (attr.as_str(), value(field)))
        .collect();
    open(&mut out, &spec.data_element, &mut data);
    close(&mut out, &spec.data_element);
    out.push_str("</CertificateData>");
    close(&mut out, "Certificate");
    out
}

/// `Certificate/@status` from dlrepo's document status and validity.
pub fn status_code(revoked: bool, expiry: Option<&str>, today_iso: &str) -> &'static str {
    if revoked {
        return "R";
    }
    match expiry {
        Some(e) if e.len() == 10 && e.as_bytes()[4] == b'-' && e < today_iso => "E",
        _ => "A",
    }
}

/// Letters, digits, '_', '-', '.', starting with a letter: a usable XML name.
pub fn valid_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && name.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CertificateSpec {
        CertificateSpec {
            cert_type: "MARKS".into(),
            language: "99".into(),
            issued_at: None,
            organization: Organization {
                name: "Board & Co".into(),
                code: "in.gov.x".into(),
                org_type: "SG".into(),
                tin: None,
            },
            data_element: "Marks".into(),
            data: vec![("total".into(), "TotalMarks".into())],
            attributes: Vec::new(),
            person: Vec::new(),
        }
    }

    #[test]
    fn mapped_fields_reach_certificate_and_person_attributes() {
        let fields = vec![
            ("School".to_string(), "Govt. High School, Pune".to_string()),
            ("Father".to_string(), "Ramesh Rao".to_string()),
        ];
        let mut s = spec();
        s.issued_at = Some("Mumbai".into());
        s.attributes = vec![
            ("issuedAt".into(), "School".into()),
            ("empty".into(), "Nothing".into()),
        ];
        s.person = vec![("swd".into(), "Father".into())];
        let xml = build(
            &s,
            &CertificateFacts {
                name: "Mark Sheet",
                number: "ABC234",
                status: "A",
                holder: Holder {
                    name: Some("Asha Rao".into()),
                    ..Holder::default()
                },
                fields: &fields,
                ..CertificateFacts::default()
            },
        );
        assert!(
            xml.contains(r#"issuedAt="Govt. High School, Pune""#),
            "the field replaces the default: {xml}"
        );
        assert!(!xml.contains("Mumbai") && !xml.contains("empty="), "{xml}");
        assert!(
            xml.contains(r#"<Person name="Asha Rao" swd="Ramesh Rao">"#),
            "{xml}"
        );
    }

    #[test]
    fn canonical_order_and_escaping() {
        let fields = vec![("TotalMarks".to_string(), "412 <of 500>".to_string())];
        let xml = build(
            &spec(),
            &CertificateFacts {
                name: "Mark Sheet \"2024\"",
                number: "ABC234",
                issue_date: Some("2024-05-15"),
                status: "A",
                holder: Holder {
                    name: Some("Asha Rao".into()),
                    dob: Some("2008-01-02".into()),
                    ..Holder::default()
                },
                fields: &fields,
                ..CertificateFacts::default()
            },
        );
        assert!(xml.starts_with(r#"<Certificate issueDate="15-05-2024" language="99" name="Mark Sheet &quot;2024&quot;" number="ABC234" status="A" type="MARKS">"#), "{xml}");
        assert!(
            xml.contains(
                r#"<Organization code="in.gov.x" name="Board &amp; Co" type="SG"></Organization>"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<Person dob="02-01-2008" name="Asha Rao"></Person>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<Marks total="412 &lt;of 500>"></Marks>"#),
            "{xml}"
        );
        assert!(xml.ends_with("</CertificateData></Certificate>"));
    }

    #[test]
    fn dates_and_status() {
        assert_eq!(dd_mm_yyyy("2024-05-15"), "15-05-2024");
        assert_eq!(dd_mm_yyyy("15/05/2024"), "15-05-2024");
        assert_eq!(dd_mm_yyyy("15-05-2024"), "15-05-2024");
        assert_eq!(status_code(true, None, "2026-01-01"), "R");
        assert_eq!(status_code(false, Some("2025-12-31"), "2026-01-01"), "E");
        assert_eq!(status_code(false, Some("2026-12-31"), "2026-01-01"), "A");
    }
}
