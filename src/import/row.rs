//! One CSV row: every check before anything is written, and where its bytes come from.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{NaiveDate, NaiveDateTime};

use super::columns::Columns;
use crate::aadhaar;
use crate::docs::keys::SigningKey;
use crate::doctype::DocType;
use crate::issuing::{self, Blob, Facts};
use crate::store::documents::{self, status, NewDocument};
use crate::uri;
use crate::vault::Vault;

/// Where the row's bytes come from.
pub(super) enum Content {
    /// A file's bytes; shared by every row naming the file, signed and named once.
    File(Arc<FileBytes>),
    /// Rendered once the DocId is known (`facts.doc_id` is filled in then).
    Render(Box<Facts>),
    /// Rendered and signed ahead on the reader's threads, under `facts.doc_id`; made
    /// again should the row end up under another DocId (a clash found on writing).
    Rendered(Box<Facts>, Blob),
    /// No document yet: recorded as pending (the doc type awaits documents).
    Pending,
}

impl Content {
    /// The SHA-256 of the file the row names, as read; "" for a certificate rendered
    /// from the row (or none yet).
    fn source_sha(&self) -> &str {
        match self {
            Content::File(f) => &f.source_sha,
            _ => "",
        }
    }
}

/// A row that passed every check and only waits to be written.
pub(super) struct ValidRow {
    pub line: u64,
    pub doc: NewDocument,
    /// No `doc_id` column: the writer mints one.
    pub minted: bool,
    /// The Aadhaar number itself, sealed into the vault by the writer; the document
    /// holds only its reference.
    pub aadhaar: Option<String>,
    pub content: Content,
}

impl ValidRow {
    /// The row's fingerprint, as a row giving `doc_id` would have it ("": minting it),
    /// to compare with a document's whatever DocId its first row gave.
    pub fn fingerprint_as(&self, doc_id: &str) -> String {
        fingerprint(&self.doc, doc_id, self.content.source_sha())
    }

    /// The bytes to store under the row's DocId as it stands, when they are made
    /// already: its file, or what was rendered ahead under this DocId.
    pub fn ready_bytes(&self) -> Option<&Blob> {
        match &self.content {
            Content::File(file) => file.sealed(),
            Content::Rendered(facts, blob) if facts.doc_id == self.doc.doc_id => Some(blob),
            _ => None,
        }
    }
}

/// A file rows name: its bytes as read until they are signed and named, once, on the
/// reader's threads (`ahead::BytesAhead`) or else by the writer. Signing on the reader's
/// one thread had held an import of rows with a PDF each to the speed of one core's
/// RSA signatures.
pub(super) struct FileBytes {
    /// The path as the CSV gave it, for messages.
    shown: String,
    /// The SHA-256 of the file as read (its signature differs per run), for the
    /// rows' fingerprints.
    source_sha: String,
    raw: Mutex<Option<Vec<u8>>>,
    sealed: OnceLock<Result<Blob, String>>,
}

impl FileBytes {
    /// Signed (with `signer`) and named, the first time; then what that gave.
    pub fn seal(&self, signer: Option<&SigningKey>) -> Result<&Blob, &str> {
        self.sealed
            .get_or_init(|| {
                let raw = self.raw.lock().ok().and_then(|mut raw| raw.take());
                let bytes = raw.ok_or_else(|| format!("pdf '{}': not read", self.shown))?;
                issuing::seal(bytes, signer).map_err(|e| format!("pdf '{}': {e}", self.shown))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The signed bytes, when sealed already and without error.
    pub fn sealed(&self) -> Option<&Blob> {
        self.sealed.get().and_then(|r| r.as_ref().ok())
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.get().is_some()
    }
}

/// DD/MM/YYYY to ISO YYYY-MM-DD (by hand: chrono's format strings cost more than the
/// database insert at a million rows).
pub(super) fn parse_date(s: &str, column: &str) -> Result<String, String> {
    let bad = || format!("{column} '{s}' is not a date DD/MM/YYYY");
    let mut parts = s.split('/');
    let mut num = |len: usize| -> Result<u32, String> {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse().map_err(|_| bad())
    };
    let (d, m, y) = (num(2)?, num(2)?, num(4)?);
    if parts.next().is_some() || NaiveDate::from_ymd_opt(y as i32, m, d).is_none() {
        return Err(bad());
    }
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

/// Bytes of files the reader keeps read and signed for rows still to come
/// ([`Inputs::load`]): past this, it forgets them all and starts again. Files many rows
/// share (a few templates) are back within a few rows; files every row has its own of
/// are never asked again, and kept, they had held every file of the import in memory
/// (20,000 PDFs of 31 KiB: 1.2 GiB).
pub(super) const KEPT_FILE_BYTES: usize = 64 << 20;

/// What rows need besides the CSV: each distinct PDF read, signed and named once while
/// rows keep naming it (within [`KEPT_FILE_BYTES`]); the vault that turns Aadhaar
/// numbers into references.
pub(super) struct Inputs<'k> {
    pub vault: Option<&'k Vault>,
    pub base: PathBuf,
    by_path: HashMap<String, Arc<FileBytes>>,
    kept_bytes: usize,
    /// [`KEPT_FILE_BYTES`]; smaller in tests.
    keep_at_most: usize,
    /// Bytes read from files since [`Inputs::take_read_bytes`], for the reader to cut a
    /// batch by its files' size as well as by its rows.
    read_bytes: usize,
}

impl<'k> Inputs<'k> {
    pub fn new(base: PathBuf, vault: Option<&'k Vault>) -> Self {
        Self {
            vault,
            base,
            by_path: HashMap::new(),
            kept_bytes: 0,
            keep_at_most: KEPT_FILE_BYTES,
            read_bytes: 0,
        }
    }

    /// Bytes read from files since the last call.
    pub fn take_read_bytes(&mut self) -> usize {
        std::mem::take(&mut self.read_bytes)
    }

    fn load(&mut self, rel: &str) -> Result<Arc<FileBytes>, String> {
        if let Some(hit) = self.by_path.get(rel) {
            return Ok(hit.clone());
        }
        let path = self.base.join(rel);
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("pdf '{}' cannot be read: {e}", path.display()))?;
        // Refused here, with its line, rather than when it is signed.
        issuing::check_pdf(&bytes).map_err(|e| format!("pdf '{}': {e}", path.display()))?;
        self.read_bytes += bytes.len();
        let len = bytes.len();
        let file = Arc::new(FileBytes {
            shown: path.display().to_string(),
            source_sha: documents::blob_id(&bytes),
            raw: Mutex::new(Some(bytes)),
            sealed: OnceLock::new(),
        });
        if self.kept_bytes + len > self.keep_at_most {
            self.by_path.clear();
            self.kept_bytes = 0;
        }
        self.kept_bytes += len;
        self.by_path.insert(rel.to_string(), file.clone());
        Ok(file)
    }
}

pub(super) fn validate_row(
    rec: &csv::StringRecord,
    cols: &Columns,
    doctype: &DocType,
    pdfs: &mut Inputs<'_>,
    now: NaiveDateTime,
) -> Result<ValidRow, String> {
    let mut values = Vec::with_capacity(cols.udfs.len());
    for (u, &i) in doctype.udfs.iter().zip(&cols.udfs) {
        values.push(
            u.check(rec.get(i).unwrap_or(""))
                .map_err(|e| format!("{} {}", e.name, e.reason))?,
        );
    }
    let text = |i: usize| rec.get(i).unwrap_or("").trim();
    let doc_name = text(cols.doc_name);
    if doc_name.is_empty() {
        return Err("doc_name is empty".into());
    }
    let issued_on_text = text(cols.issued_on);
    if issued_on_text.is_empty() {
        return Err("issued_on is empty".into());
    }
    let issued_on = parse_date(issued_on_text, "issued_on")?;
    let valid_from = cols
        .get(rec, "valid_from")
        .map(|v| parse_date(v, "valid_from"))
        .transpose()?;
    let valid_to = cols
        .get(rec, "valid_to")
        .map(|v| parse_date(v, "valid_to"))
        .transpose()?;
    if let (Some(f), Some(t)) = (&valid_from, &valid_to) {
        if f > t {
            return Err("valid_from is after valid_to".into());
        }
    }
    if matches!(&valid_to, Some(t) if *t < issued_on) {
        return Err("valid_to is before issued_on".into());
    }
    let aadhaar_number = cols
        .get(rec, "aadhaar")
        .map(|a| aadhaar::normalize(a).map_err(|e| e.to_string()))
        .transpose()?;
    // Checked at the header: a file with Aadhaar numbers is only read with a vault.
    let aadhaar = match (&aadhaar_number, pdfs.vault) {
        (Some(a), Some(v)) => Some(v.reference(a)),
        (Some(_), None) => return Err("an Aadhaar number needs the vault ([vault])".into()),
        (None, _) => None,
    };
    let doc_id = cols.get(rec, "doc_id");
    if let Some(id) = doc_id {
        uri::validate_doc_id(id).map_err(|e| e.to_string())?;
    }
    let holder_name = cols.get(rec, "holder_name").map(str::to_string);
    let dob = cols
        .get(rec, "dob")
        .map(|v| parse_date(v, "dob"))
        .transpose()?;
    let gender = cols.get(rec, "gender").map(str::to_string);
    if gender.as_ref().is_some_and(|g| g.chars().count() > 16) {
        return Err("gender is longer than 16 characters".into());
    }
    let phone = cols.get(rec, "phone").map(str::to_string);
    if phone.as_ref().is_some_and(|p| {
        p.len() > 20
            || !p
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
    }) {
        return Err("phone is not a phone number (digits, '+', '-', spaces; at most 20)".into());
    }
    let extra: Vec<(String, String)> = cols
        .extra
        .iter()
        .map(|(name, i)| (name.clone(), text(*i).to_string()))
        .collect();
    let data = if extra.is_empty() {
        None
    } else {
        let map: serde_json::Map<String, serde_json::Value> = extra
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        Some(serde_json::Value::Object(map).to_string())
    };
    let content = match cols.get(rec, "pdf") {
        Some(rel) => Content::File(pdfs.load(rel)?),
        None if doctype.await_documents => Content::Pending,
        None => {
            let mut fields: Vec<(String, String)> = doctype
                .udfs
                .iter()
                .zip(&values)
                .map(|(u, v)| (u.name.clone(), v.to_string()))
                .collect();
            fields.extend(extra);
            Content::Render(Box::new(Facts {
                doc_id: String::new(),
                doc_name: Some(doc_name.to_string()),
                holder_name: holder_name.clone(),
                dob: cols.get(rec, "dob").map(str::to_string),
                gender: gender.clone(),
                phone: phone.clone(),
                aadhaar: aadhaar.clone(),
                issued_on: Some(issued_on_text.to_string()),
                valid_from: cols.get(rec, "valid_from").map(str::to_string),
                valid_to: cols.get(rec, "valid_to").map(str::to_string),
                fields,
            }))
        }
    };
    let udf_key = documents::udf_key(&values);
    let mut doc = NewDocument {
        doctype: doctype.code.clone(),
        doc_id: doc_id.unwrap_or("").to_string(),
        status: if matches!(content, Content::Pending) {
            status::PENDING.to_string()
        } else {
            status::ISSUED.to_string()
        },
        udf_key: Some(udf_key),
        doc_name: Some(doc_name.to_string()),
        holder_name,
        aadhaar,
        issued_on: Some(issued_on),
        valid_from,
        valid_to,
        blob_sha256: None,
        created_at: now,
        updated_at: now,
        holder_dob: dob,
        holder_gender: gender,
        holder_phone: phone,
        data,
        xml_sha256: None,
        fingerprint: None,
        signed_with: None,
        made_from: match &content {
            Content::File(_) => Some(documents::made::FILE.to_string()),
            Content::Render(_) | Content::Rendered(..) => Some(documents::made::RENDER.to_string()),
            Content::Pending => None,
        },
    };
    doc.fingerprint = Some(fingerprint(&doc, &doc.doc_id, content.source_sha()));
    Ok(ValidRow {
        line: 0,
        doc,
        minted: doc_id.is_none(),
        aadhaar: aadhaar_number,
        content,
    })
}

/// What a row says, to tell a re-run from a conflict: SHA-256 of its fields, the DocId
/// it gives ("" when minted) and its file's SHA-256 ("" when rendered), joined by
/// U+001E. Stored with the document: the form must not change.
fn fingerprint(doc: &NewDocument, doc_id: &str, source_sha: &str) -> String {
    fn o(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or_default()
    }
    let parts = [
        o(&doc.udf_key),
        o(&doc.doc_name),
        o(&doc.holder_name),
        o(&doc.aadhaar),
        o(&doc.issued_on),
        o(&doc.valid_from),
        o(&doc.valid_to),
        o(&doc.holder_dob),
        o(&doc.holder_gender),
        o(&doc.holder_phone),
        o(&doc.data),
        doc_id,
        source_sha,
    ];
    documents::blob_id(parts.join("\u{1e}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawConfig;

    /// Fingerprints are stored, so their form must not move: the fields in this order,
    /// then the DocId and the file's hash, joined by U+001E; a minted row's, asked as
    /// if it gave a DocId, is the fingerprint that row would have had.
    #[test]
    fn a_fingerprint_is_the_row_and_its_file_in_a_fixed_order() {
        let now = chrono::Utc::now().naive_utc();
        let mut doc = NewDocument::bare("MARKS", status::ISSUED, Some("1\u{1f}2024"), now);
        doc.doc_name = Some("Mark Sheet".into());
        doc.aadhaar = Some("vault:ab:1234".into());
        doc.issued_on = Some("2024-05-15".into());
        doc.holder_phone = Some("98".into());
        // SHA-256 of the parts joined by U+001E, computed outside this code (Python's
        // hashlib): "1\x1f2024", "Mark Sheet", "", "vault:ab:1234", "2024-05-15",
        // "", "", "", "", "98", "", then the DocId ("" or "OWN1") and "00ff".
        assert_eq!(
            fingerprint(&doc, "", "00ff"),
            "fa248a21c6fa978c1de63b370134966625edb294510f38cdb4a6a06bffeb7cb2"
        );
        let file = FileBytes {
            shown: "d.pdf".into(),
            source_sha: "00ff".into(),
            raw: Mutex::new(None),
            sealed: OnceLock::new(),
        };
        let row = ValidRow {
            line: 2,
            doc,
            minted: true,
            aadhaar: None,
            content: Content::File(Arc::new(file)),
        };
        assert_eq!(
            row.fingerprint_as("OWN1"),
            "e7e5efbcf0ff1b63c53cfca024b99beb5e0a4fcc6f7ccf6152399f4ff3ce3a40"
        );
    }
    use crate::config::{Config, EnvOverrides};
    use proptest::prelude::*;

    const CONFIG: &str = r#"
[issuer]
id = "in.gov.test"
[digilocker]
org_id = "ORG"
api_key = "a-long-enough-api-key-0123456789"
[[doctypes]]
code = "MARKS"
name = "Mark Sheet"
udfs = [ { name = "RollNo", pattern = "[0-9]{6,8}" }, { name = "Year", pattern = "20[0-9]{2}" } ]
"#;

    fn config() -> Config {
        let raw: RawConfig = toml::from_str(CONFIG).expect("toml");
        Config::from_raw(raw, std::path::Path::new("."), &EnvOverrides::default()).expect("config")
    }

    fn check(fields: &[String]) -> Result<ValidRow, String> {
        let config = config();
        let d = &config.doctypes[0];
        let header = csv::StringRecord::from(vec![
            "RollNo",
            "Year",
            "doc_name",
            "issued_on",
            "valid_to",
            "holder_name",
            "phone",
        ]);
        let cols = Columns::from_header(&header, d).expect("header");
        let mut inputs = Inputs::new(PathBuf::from("."), None);
        let rec = csv::StringRecord::from(fields.to_vec());
        validate_row(&rec, &cols, d, &mut inputs, chrono::Utc::now().naive_utc())
    }

    proptest! {
        /// Whatever a CSV cell holds, a row is either valid or refused with a reason.
        #[test]
        fn any_row_is_checked_without_panicking(fields in proptest::collection::vec(any::<String>(), 0..9)) {
            if let Err(reason) = check(&fields) {
                prop_assert!(!reason.is_empty());
            }
        }

        /// A valid row keeps what it said: search fields, name and dates.
        #[test]
        fn valid_rows_round_trip(
            roll in "[0-9]{6,8}",
            year in 2000u32..2100,
            name in "[A-Za-z][A-Za-z ,.'-]{0,30}[A-Za-z]",
            (d, m, y) in (1u32..=28, 1u32..=12, 1990i32..2099),
            phone in "[0-9+ -]{0,20}",
        ) {
            let fields = vec![
                format!(" {roll} "),
                year.to_string(),
                name.clone(),
                format!("{d:02}/{m:02}/{y}"),
                String::new(),
                name.clone(),
                phone,
            ];
            let row = check(&fields).map_err(TestCaseError::fail)?;
            prop_assert_eq!(row.doc.udf_key, Some(documents::udf_key(&[roll, year.to_string()])));
            prop_assert_eq!(row.doc.doc_name.as_deref(), Some(name.as_str()));
            prop_assert_eq!(row.doc.issued_on, Some(format!("{y:04}-{m:02}-{d:02}")));
        }
    }

    /// A file many rows name is read once; files past the bound are forgotten, so
    /// memory holds at most the bound of them, and every byte read is counted for the
    /// reader's batch cut.
    #[test]
    fn files_are_kept_for_the_rows_to_come_within_a_bound() {
        let dir = tempfile::tempdir().expect("dir");
        for (name, len) in [("a.pdf", 600), ("b.pdf", 600)] {
            let mut bytes = b"%PDF-1.4\n".to_vec();
            bytes.resize(len, b'%');
            std::fs::write(dir.path().join(name), bytes).expect("pdf");
        }
        let mut inputs = Inputs::new(dir.path().to_path_buf(), None);
        inputs.keep_at_most = 1_000;
        let a = inputs.load("a.pdf").expect("a").source_sha.clone();
        assert_eq!(inputs.load("a.pdf").expect("a again").source_sha, a);
        assert_eq!(inputs.take_read_bytes(), 600, "read once");
        inputs.load("b.pdf").expect("b");
        assert_eq!(inputs.by_path.len(), 1, "a forgotten to keep b");
        assert!(inputs.kept_bytes <= 1_000);
        assert_eq!(inputs.load("a.pdf").expect("a read again").source_sha, a);
        assert_eq!(inputs.take_read_bytes(), 1_200);
        assert_eq!(inputs.take_read_bytes(), 0);
    }
}
