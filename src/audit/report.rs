//! The usage report the onboarding SOP asks partners for: per doc type and month, pulls
//! found / not found / refused by reason, Pull Doc, distinct URIs served, latency; and
//! per month the pushes sent and acknowledged. Read from the audit trail page by page.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::counts;
use super::latency::Latencies;
use super::segments::{self, Key};
use crate::store::schema::{audit_pulls, audit_pushes};
use crate::store::{DbConn, StoreError};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct PullLine {
    pub month: String,
    pub doctype: String,
    /// Pull URI answers, of any status.
    pub pulls: u64,
    pub found: u64,
    pub pending: u64,
    pub not_found: u64,
    /// Status 0 for any other reason than "no such document", by reason.
    pub refused: BTreeMap<String, u64>,
    /// Pull Doc answers, and how many served a document.
    pub pull_doc: u64,
    pub pull_doc_served: u64,
    pub distinct_uris: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushLine {
    pub month: String,
    pub attempts: u64,
    pub acknowledged: u64,
    pub rows_acknowledged: u64,
    pub failed: u64,
}

#[derive(Debug, Default)]
pub struct Report {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub pulls: Vec<PullLine>,
    pub pushes: Vec<PushLine>,
}

#[derive(Default)]
struct Acc {
    line: PullLine,
    latencies: Latencies,
}

#[derive(QueryableByName)]
struct Distinct {
    #[diesel(sql_type = diesel::sql_types::Text)]
    month: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    doctype: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The distinct URIs served per (month, doc type) of the range, counted by the
/// database: kept in the report's memory, a month of a busy issuer's URIs had taken
/// gigabytes (4.6M pulls of 404,000 documents: 588 MiB).
fn distinct_uris(
    conn: &mut DbConn,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<HashMap<(String, String), u64>, StoreError> {
    // The month as the rows' `at.format("%Y-%m")`: SQLite keeps `at` as text.
    let month = match conn {
        DbConn::Sqlite(_) => "substr(at, 1, 7)",
        DbConn::Postgres(_) => "to_char(at, 'YYYY-MM')",
    };
    let rows: Vec<Distinct> = diesel::sql_query(format!(
        "SELECT {month} AS month, COALESCE(doctype, '-') AS doctype, \
         COUNT(DISTINCT uri) AS n FROM audit_pulls \
         WHERE at >= $1 AND at < $2 AND status = 1 AND uri IS NOT NULL GROUP BY 1, 2"
    ))
    .bind::<diesel::sql_types::Timestamp, _>(start)
    .bind::<diesel::sql_types::Timestamp, _>(end)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|d| ((d.month, d.doctype), u64::try_from(d.n).unwrap_or(0)))
        .collect())
}

/// The report for the days `from` to `to`, both included.
pub fn build(conn: &mut DbConn, from: NaiveDate, to: NaiveDate) -> Result<Report, StoreError> {
    build_with(conn, from, to, true)
}

/// The report without its distinct URIs (left 0), which take the database a second
/// pass over the range: for the console's dashboard, which does not show them.
pub fn counts(conn: &mut DbConn, from: NaiveDate, to: NaiveDate) -> Result<Report, StoreError> {
    build_with(conn, from, to, false)
}

fn build_with(
    conn: &mut DbConn,
    from: NaiveDate,
    to: NaiveDate,
    count_distinct: bool,
) -> Result<Report, StoreError> {
    // One snapshot for the counts and the rows after them: the audit writer may count
    // more rows meanwhile, and they must be taken from one side only.
    crate::store::read_snapshot(conn, |conn| {
        build_in_snapshot(conn, from, to, count_distinct)
    })
}

/// The report's group of a month and doc type.
fn group<'a>(
    groups: &'a mut BTreeMap<(String, String), Acc>,
    month: &str,
    doctype: &str,
) -> &'a mut Acc {
    let acc = groups
        .entry((month.to_string(), doctype.to_string()))
        .or_default();
    if acc.line.month.is_empty() {
        acc.line.month = month.to_string();
        acc.line.doctype = doctype.to_string();
    }
    acc
}

/// `n` answers of one kind into their line.
fn tally(line: &mut PullLine, endpoint: &str, status: i32, reason: Option<&str>, n: u64) {
    let served = status == 1;
    if endpoint == "pulldoc" {
        line.pull_doc += n;
        line.pull_doc_served += if served { n } else { 0 };
    } else {
        line.pulls += n;
        match status {
            1 => line.found += n,
            9 => line.pending += n,
            _ => {}
        }
    }
    if status == 0 {
        match reason {
            Some("not_found") => line.not_found += n,
            other => {
                *line
                    .refused
                    .entry(other.unwrap_or("unknown").to_string())
                    .or_default() += n
            }
        }
    }
}

fn build_in_snapshot(
    conn: &mut DbConn,
    from: NaiveDate,
    to: NaiveDate,
    count_distinct: bool,
) -> Result<Report, StoreError> {
    let start = from.and_hms_opt(0, 0, 0).unwrap_or_default();
    let end = to
        .succ_opt()
        .unwrap_or(to)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let (first_day, last_day) = (counts::day_text(from), counts::day_text(to));
    let mut groups: BTreeMap<(String, String), Acc> = BTreeMap::new();
    // The rows counted already, a few a day and doc type.
    let counted = counts::counted_up_to(conn)?;
    let (days, latencies) = counts::of_days(conn, from, to)?;
    for c in days {
        let acc = group(&mut groups, counts::month_of(&c.day), &c.doctype);
        let reason = Some(c.reason.as_str()).filter(|r| !r.is_empty());
        tally(
            &mut acc.line,
            &c.endpoint,
            c.status,
            reason,
            c.n.max(0) as u64,
        );
    }
    for l in latencies {
        let acc = group(&mut groups, counts::month_of(&l.day), &l.doctype);
        acc.latencies
            .add_counted(l.bucket.max(0) as usize, l.n.max(0) as u64);
    }
    // The rows after them (about a segment's worth, whatever their days), page by page
    // in id order through the primary key; their days are picked here. Through the
    // index on `at` (as SQLite plans a range on it), today's report read every row of
    // the day.
    let mut after = counted;
    loop {
        let page = counts::rows_after(conn, after, None)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in page
            .into_iter()
            .filter(|r| r.day >= first_day && r.day <= last_day)
        {
            let acc = group(
                &mut groups,
                counts::month_of(&r.day),
                r.doctype.as_deref().unwrap_or("-"),
            );
            acc.latencies.add(r.latency_us);
            tally(&mut acc.line, &r.endpoint, r.status, r.reason.as_deref(), 1);
        }
    }
    let mut distinct = if count_distinct {
        distinct_uris(conn, start, end)?
    } else {
        HashMap::new()
    };
    let pulls = groups
        .into_iter()
        .map(|(key, mut a)| {
            a.line.p50_ms = a.latencies.percentile_ms(0.50);
            a.line.p99_ms = a.latencies.percentile_ms(0.99);
            a.line.distinct_uris = distinct.remove(&key).unwrap_or(0);
            a.line
        })
        .collect();
    let rows: Vec<(NaiveDateTime, i64, String)> = audit_pushes::table
        .filter(audit_pushes::at.ge(start))
        .filter(audit_pushes::at.lt(end))
        .order(audit_pushes::id)
        .select((audit_pushes::at, audit_pushes::rows, audit_pushes::outcome))
        .load(conn)?;
    let mut pushes: BTreeMap<String, PushLine> = BTreeMap::new();
    for (at, n, outcome) in rows {
        let month = at.format("%Y-%m").to_string();
        let line = pushes.entry(month.clone()).or_default();
        line.month = month;
        line.attempts += 1;
        match outcome.as_str() {
            "pushed" => {
                line.acknowledged += 1;
                line.rows_acknowledged += n.max(0) as u64;
            }
            "failed" => line.failed += 1,
            _ => {}
        }
    }
    Ok(Report {
        from: Some(from),
        to: Some(to),
        pulls,
        pushes: pushes.into_values().collect(),
    })
}

fn refused_text(r: &BTreeMap<String, u64>) -> String {
    r.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

const HEADER: [&str; 12] = [
    "month",
    "doc type",
    "Pull URI",
    "found",
    "pending",
    "not found",
    "refused",
    "Pull Doc",
    "Pull Doc served",
    "distinct URIs",
    "p50 ms",
    "p99 ms",
];

fn cells(l: &PullLine) -> Vec<String> {
    vec![
        l.month.clone(),
        l.doctype.clone(),
        l.pulls.to_string(),
        l.found.to_string(),
        l.pending.to_string(),
        l.not_found.to_string(),
        refused_text(&l.refused),
        l.pull_doc.to_string(),
        l.pull_doc_served.to_string(),
        l.distinct_uris.to_string(),
        format!("{:.2}", l.p50_ms),
        format!("{:.2}", l.p99_ms),
    ]
}

const PUSH_HEADER: [&str; 5] = [
    "month",
    "push attempts",
    "acknowledged",
    "rows acknowledged",
    "failed",
];

fn push_cells(l: &PushLine) -> Vec<String> {
    vec![
        l.month.clone(),
        l.attempts.to_string(),
        l.acknowledged.to_string(),
        l.rows_acknowledged.to_string(),
        l.failed.to_string(),
    ]
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect()) + "\n";
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    out
}

impl Report {
    fn period(&self) -> String {
        match (self.from, self.to) {
            (Some(f), Some(t)) => format!("{f} to {t}"),
            _ => String::new(),
        }
    }

    pub fn to_text(&self) -> String {
        let rows: Vec<Vec<String>> = self.pulls.iter().map(cells).collect();
        let pushes: Vec<Vec<String>> = self.pushes.iter().map(push_cells).collect();
        format!(
            "Usage report, {}\n\n{}\n{}",
            self.period(),
            table(&HEADER, &rows),
            table(&PUSH_HEADER, &pushes)
        )
    }

    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(HEADER);
        for l in &self.pulls {
            let _ = w.write_record(cells(l));
        }
        let _ = w.write_record(PUSH_HEADER);
        for l in &self.pushes {
            let _ = w.write_record(push_cells(l));
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    pub fn to_html(&self) -> String {
        use crate::wire::xml::escape;
        let table = |header: &[&str], rows: Vec<Vec<String>>| {
            let mut t = String::from("<table>\n<tr>");
            for h in header {
                t.push_str(&format!("<th>{}</th>", escape(h)));
            }
            t.push_str("</tr>\n");
            for r in rows {
                t.push_str("<tr>");
                for c in r {
                    t.push_str(&format!("<td>{}</td>", escape(&c)));
                }
                t.push_str("</tr>\n");
            }
            t.push_str("</table>\n");
            t
        };
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>dlrepo usage report</title>\
<style>table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .5em}}</style></head><body>\n\
<h1>Usage report, {}</h1>\n<h2>Pulls</h2>\n{}<h2>Pushes</h2>\n{}</body></html>\n",
            escape(&self.period()),
            table(&HEADER, self.pulls.iter().map(cells).collect()),
            table(&PUSH_HEADER, self.pushes.iter().map(push_cells).collect())
        )
    }
}

/// One audited answer, as `dlrepo audit find` lists it.
#[derive(Debug, Queryable)]
pub struct Found {
    pub at: NaiveDateTime,
    pub endpoint: String,
    pub status: i32,
    pub uri: Option<String>,
    pub reason: Option<String>,
}

/// The pull rows of one search (its audit digest), newest first: "did roll number X
/// pull its mark sheet?".
pub fn find(
    conn: &mut DbConn,
    doctype: &str,
    search: &str,
    limit: i64,
) -> Result<Vec<Found>, StoreError> {
    found(conn, Key::Search { doctype, search }, limit)
}

/// The rows a lookup names, newest first.
fn found(conn: &mut DbConn, key: Key, limit: i64) -> Result<Vec<Found>, StoreError> {
    let ids = segments::find(conn, key, limit)?;
    let mut rows = Vec::with_capacity(ids.len());
    // A bound parameter each: in chunks well under SQLite's limit.
    for chunk in ids.chunks(500) {
        rows.extend(
            audit_pulls::table
                .filter(audit_pulls::id.eq_any(chunk))
                .order(audit_pulls::id.desc())
                .select((
                    audit_pulls::at,
                    audit_pulls::endpoint,
                    audit_pulls::status,
                    audit_pulls::uri,
                    audit_pulls::reason,
                ))
                .load::<Found>(conn)?,
        );
    }
    Ok(rows)
}

/// The most recent push attempt: (time, file, outcome).
pub fn last_push(conn: &mut DbConn) -> Result<Option<(NaiveDateTime, String, String)>, StoreError> {
    Ok(audit_pushes::table
        .order(audit_pushes::id.desc())
        .select((
            audit_pushes::at,
            audit_pushes::file_name,
            audit_pushes::outcome,
        ))
        .first(conn)
        .optional()?)
}

/// The latest audited answers about one URI.
pub fn pulls_of(conn: &mut DbConn, uri: &str, limit: i64) -> Result<Vec<Found>, StoreError> {
    found(conn, Key::Uri(uri), limit)
}

/// What the pull log is filtered by.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    pub status: Option<i32>,
    pub endpoint: Option<String>,
    pub doctype: Option<String>,
}

#[derive(Debug, Queryable)]
pub struct LogRow {
    pub at: NaiveDateTime,
    pub caller: Option<String>,
    pub endpoint: String,
    pub api: String,
    pub doctype: Option<String>,
    pub uri: Option<String>,
    pub status: i32,
    pub reason: Option<String>,
    pub latency_us: i64,
}

/// The latest audited answers, newest first.
pub fn log(conn: &mut DbConn, f: &LogFilter, limit: i64) -> Result<Vec<LogRow>, StoreError> {
    let mut q = audit_pulls::table.into_boxed();
    if let Some(s) = f.status {
        q = q.filter(audit_pulls::status.eq(s));
        // The index of answers other than Status 1 (migration 17) is partial: with its
        // condition repeated, as a literal (SQLite matches the text, not a bound
        // value), both databases see that it applies.
        if s != 1 {
            q = q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("status <> 1"));
        }
    }
    if let Some(e) = &f.endpoint {
        q = q.filter(audit_pulls::endpoint.eq(e.clone()));
    }
    if let Some(d) = &f.doctype {
        q = q.filter(audit_pulls::doctype.eq(d.clone()));
    }
    Ok(q.order(audit_pulls::id.desc())
        .limit(limit)
        .select((
            audit_pulls::at,
            audit_pulls::caller,
            audit_pulls::endpoint,
            audit_pulls::api,
            audit_pulls::doctype,
            audit_pulls::uri,
            audit_pulls::status,
            audit_pulls::reason,
            audit_pulls::latency_us,
        ))
        .load(conn)?)
}
