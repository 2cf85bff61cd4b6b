//! The push CSV: Aadhaar, Uri, doc_type, doc_name, doc_id, issued_on, valid_from,
//! valid_to, time_stamp, Action — in that order, dates DD/MM/YYYY, time_stamp
//! `DD/MM/YYYY HH:MI:SS AM` (IST), blank when not applicable, RFC 4180 quoting, UTF-8.

use chrono::{FixedOffset, NaiveDateTime, TimeZone, Utc};

use super::outbox::OutboxRow;

pub const HEADER: [&str; 10] = [
    "Aadhaar",
    "Uri",
    "doc_type",
    "doc_name",
    "doc_id",
    "issued_on",
    "valid_from",
    "valid_to",
    "time_stamp",
    "Action",
];

/// `2024-05-15` (as stored) to `15/05/2024`; anything else passes through unchanged.
pub fn dmy(iso: &str) -> String {
    let p: Vec<&str> = iso.split('-').collect();
    match p[..] {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => format!("{d}/{m}/{y}"),
        _ => iso.to_string(),
    }
}

/// A UTC timestamp as `DD/MM/YYYY HH:MI:SS AM` in IST.
pub fn time_stamp(utc: NaiveDateTime) -> String {
    let ist = FixedOffset::east_opt(19_800).expect("IST is a valid offset");
    Utc.from_utc_datetime(&utc)
        .with_timezone(&ist)
        .format("%d/%m/%Y %I:%M:%S %p")
        .to_string()
}

/// The 10 values of one outbox row, formatted as the spec says (CSV columns, and the
/// elements of a single PushUriRequest alike).
pub fn columns(r: &OutboxRow) -> [String; 10] {
    [
        r.aadhaar.clone(),
        r.uri.clone(),
        r.doc_type.clone(),
        r.doc_name.clone(),
        r.doc_id.clone(),
        r.issued_on.as_deref().map(dmy).unwrap_or_default(),
        r.valid_from.as_deref().map(dmy).unwrap_or_default(),
        r.valid_to.as_deref().map(dmy).unwrap_or_default(),
        time_stamp(r.time_stamp),
        r.action.clone(),
    ]
}

/// The CSV bytes of a file: a header row, then one row per outbox row.
pub fn write(rows: &[OutboxRow]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(rows.len() * 160));
    // Writing to a Vec cannot fail.
    let _ = w.write_record(HEADER);
    for r in rows {
        let _ = w.write_record(columns(r));
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_spec() {
        assert_eq!(dmy("2024-05-15"), "15/05/2024");
        let t = chrono::NaiveDate::from_ymd_opt(2024, 5, 15)
            .and_then(|d| d.and_hms_opt(8, 0, 5))
            .expect("time");
        assert_eq!(time_stamp(t), "15/05/2024 01:30:05 PM");
        let row = OutboxRow {
            id: 1,
            file_id: None,
            aadhaar: "234123412346".into(),
            uri: "in.gov.x-MARKS-ABC".into(),
            doc_type: "MARKS".into(),
            doc_name: "Mark Sheet, \"Class X\"".into(),
            doc_id: "ABC".into(),
            issued_on: Some("2024-05-15".into()),
            valid_from: None,
            valid_to: None,
            action: "A".into(),
            time_stamp: t,
        };
        let csv = String::from_utf8(write(&[row])).expect("utf8");
        assert_eq!(
            csv,
            "Aadhaar,Uri,doc_type,doc_name,doc_id,issued_on,valid_from,valid_to,time_stamp,Action\r\n\
             234123412346,in.gov.x-MARKS-ABC,MARKS,\"Mark Sheet, \"\"Class X\"\"\",ABC,15/05/2024,,,15/05/2024 01:30:05 PM,A\r\n"
        );
    }
}
