//! Running counts of the audit trail per day, so that the usage report and the console's
//! dashboard read a few rows a day and doc type instead of every pull: today's dashboard
//! took 4.85 s at 3M pulls that day.
//!
//! Only rows of sealed segments ([`super::segments`]) are counted: a segment is made
//! while no insert is open, so no row below its last id can still appear. The counted
//! rows end at `audit_counted.last_id`, moved on in the same transaction as the counts;
//! a report adds the rows after it, read one by one ([`super::report`]).

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::upsert::excluded;

use super::latency::bucket;
use super::segments::sealed_up_to;
use crate::store::schema::{audit_counted, audit_counts, audit_latencies, audit_pulls};
use crate::store::{on_backend, write_transaction, DbConn, StoreError};

/// The most rows one call counts (the rows already audited before an upgrade are
/// counted a segment's worth after another, not in one long transaction).
pub const CHUNK_ROWS: i64 = super::segments::SEGMENT_ROWS as i64;

/// The id of the last row counted; rows after it are not in the counts.
pub fn counted_up_to(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(audit_counted::table
        .select(audit_counted::last_id)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// Counts the sealed rows not counted yet, at most `max_rows` of them. Returns how many
/// ids it moved the counted end on by (0: nothing to count).
pub fn count_sealed(conn: &mut DbConn, max_rows: i64) -> Result<i64, StoreError> {
    // Most calls find nothing new: asked without a write transaction.
    if sealed_up_to(conn)? <= counted_up_to(conn)? {
        return Ok(0);
    }
    write_transaction(conn, |conn| -> Result<i64, StoreError> {
        // One counter at a time among the servers of one PostgreSQL (SQLite's write
        // transaction already is): each waits for the other's end, then reads it.
        lock(conn)?;
        let from = counted_up_to(conn)?;
        let sealed = sealed_up_to(conn)?;
        if sealed <= from {
            return Ok(0);
        }
        // `max_rows` rows on, not ids: after years of pruning PostgreSQL's ids begin far
        // above 0, and the rows after an upgrade would be stepped through empty ranges.
        let to = audit_pulls::table
            .filter(audit_pulls::id.gt(from))
            .filter(audit_pulls::id.le(sealed))
            .order(audit_pulls::id)
            .select(audit_pulls::id)
            .offset(max_rows.max(1) - 1)
            .first::<i64>(conn)
            .optional()?
            .unwrap_or(sealed);
        for ((day, doctype), counted) in tally_rows(conn, from, to)? {
            for ((endpoint, status, reason), n) in counted.kinds {
                on_backend!(conn, c => diesel::insert_into(audit_counts::table)
                    .values((
                        audit_counts::day.eq(&day),
                        audit_counts::doctype.eq(&doctype),
                        audit_counts::endpoint.eq(&endpoint),
                        audit_counts::status.eq(status),
                        audit_counts::reason.eq(&reason),
                        audit_counts::n.eq(n),
                    ))
                    .on_conflict((
                        audit_counts::day,
                        audit_counts::doctype,
                        audit_counts::endpoint,
                        audit_counts::status,
                        audit_counts::reason,
                    ))
                    .do_update()
                    .set(audit_counts::n.eq(audit_counts::n + excluded(audit_counts::n)))
                    .execute(c))?;
            }
            for (bucket, n) in counted.buckets {
                on_backend!(conn, c => diesel::insert_into(audit_latencies::table)
                    .values((
                        audit_latencies::day.eq(&day),
                        audit_latencies::doctype.eq(&doctype),
                        audit_latencies::bucket.eq(bucket),
                        audit_latencies::n.eq(n),
                    ))
                    .on_conflict((
                        audit_latencies::day,
                        audit_latencies::doctype,
                        audit_latencies::bucket,
                    ))
                    .do_update()
                    .set(audit_latencies::n.eq(audit_latencies::n + excluded(audit_latencies::n)))
                    .execute(c))?;
            }
        }
        diesel::update(audit_counted::table)
            .set(audit_counted::last_id.eq(to))
            .execute(conn)?;
        Ok(to - from)
    })
}

/// One audit row as the counts and the report's rows after them read it: its day as
/// 'YYYY-MM-DD' text.
#[derive(Queryable)]
pub(super) struct DayRow {
    pub id: i64,
    pub day: String,
    pub endpoint: String,
    pub doctype: Option<String>,
    pub status: i32,
    pub reason: Option<String>,
    pub latency_us: i64,
}

/// The next page of audit rows after id `after` (up to `up_to` when given), in id order
/// through the primary key. The day is made text by the database: diesel's parsing of
/// each row's timestamp had cost more than the rest of a count.
pub(super) fn rows_after(
    conn: &mut DbConn,
    after: i64,
    up_to: Option<i64>,
) -> Result<Vec<DayRow>, StoreError> {
    let day = match conn {
        DbConn::Sqlite(_) => "substr(at, 1, 10)",
        DbConn::Postgres(_) => "to_char(at, 'YYYY-MM-DD')",
    };
    let mut q = audit_pulls::table
        .filter(audit_pulls::id.gt(after))
        .order(audit_pulls::id)
        .limit(PAGE_ROWS)
        .select((
            audit_pulls::id,
            diesel::dsl::sql::<Text>(day),
            audit_pulls::endpoint,
            audit_pulls::doctype,
            audit_pulls::status,
            audit_pulls::reason,
            audit_pulls::latency_us,
        ))
        .into_boxed();
    if let Some(to) = up_to {
        q = q.filter(audit_pulls::id.le(to));
    }
    Ok(q.load(conn)?)
}

/// One day and doc type's rows, counted by kind (endpoint, status, reason) and by
/// latency bucket.
#[derive(Default)]
struct DayCounts {
    kinds: HashMap<(String, i32, String), i64>,
    buckets: HashMap<i32, i64>,
}

/// The rows `from` < id <= `to` counted per day and doc type, read page by page and
/// tallied here: as SQL, the bucket was a CASE of 57 arms per row and each of the two
/// GROUP BYs a sort, the largest part of what the audit writer spent besides its
/// inserts (BENCHMARKS.md, 2026-12-08).
fn tally_rows(
    conn: &mut DbConn,
    from: i64,
    to: i64,
) -> Result<HashMap<(String, String), DayCounts>, StoreError> {
    let mut days: HashMap<(String, String), DayCounts> = HashMap::new();
    let mut after = from;
    while after < to {
        let page = rows_after(conn, after, Some(to))?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in page {
            let doctype = r.doctype.unwrap_or_else(|| "-".into());
            let day = days.entry((r.day, doctype)).or_default();
            *day.buckets
                .entry(bucket(r.latency_us.max(0) as u64) as i32)
                .or_default() += 1;
            *day.kinds
                .entry((r.endpoint, r.status, r.reason.unwrap_or_default()))
                .or_default() += 1;
        }
    }
    Ok(days)
}

/// Audit rows read at once, bounding a count's or a report's memory.
const PAGE_ROWS: i64 = 10_000;

/// Waits for any other counter or pruner of the counts to end, within a write
/// transaction (PostgreSQL: the `audit_counted` row locked; SQLite's write transaction
/// is alone already).
pub(super) fn lock(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Postgres(c) = conn {
        audit_counted::table
            .select(audit_counted::last_id)
            .for_update()
            .load::<i64>(c)?;
    }
    Ok(())
}

/// One day's count of one kind of answer.
#[derive(Queryable)]
pub(super) struct Count {
    pub day: String,
    pub doctype: String,
    pub endpoint: String,
    pub status: i32,
    /// "" where the rows had none.
    pub reason: String,
    pub n: i64,
}

#[derive(Queryable)]
pub(super) struct LatencyCount {
    pub day: String,
    pub doctype: String,
    pub bucket: i32,
    pub n: i64,
}

/// A day as `audit_counts.day` holds it: 'YYYY-MM-DD', as the counting SQL writes it.
pub(super) fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The month of a day as `day` holds it ('YYYY-MM').
pub(super) fn month_of(day: &str) -> &str {
    day.get(..7).unwrap_or(day)
}

/// The counts of the days `from` to `to`, both included.
pub(super) fn of_days(
    conn: &mut DbConn,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<Count>, Vec<LatencyCount>), StoreError> {
    let (from, to) = (day_text(from), day_text(to));
    let counts = audit_counts::table
        .filter(audit_counts::day.ge(&from))
        .filter(audit_counts::day.le(&to))
        .select((
            audit_counts::day,
            audit_counts::doctype,
            audit_counts::endpoint,
            audit_counts::status,
            audit_counts::reason,
            audit_counts::n,
        ))
        .load(conn)?;
    let latencies = audit_latencies::table
        .filter(audit_latencies::day.ge(from))
        .filter(audit_latencies::day.le(to))
        .select((
            audit_latencies::day,
            audit_latencies::doctype,
            audit_latencies::bucket,
            audit_latencies::n,
        ))
        .load(conn)?;
    Ok((counts, latencies))
}

/// With the oldest audit rows deleted (in the same transaction): the counts of the days
/// before `day` go with them, and when no row is left at all the counted end goes back
/// to 0, as SQLite numbers the next row 1 again.
pub(super) fn prune(conn: &mut DbConn, day: NaiveDate, none_left: bool) -> Result<(), StoreError> {
    let day = day_text(day);
    diesel::delete(audit_counts::table.filter(audit_counts::day.lt(&day))).execute(conn)?;
    diesel::delete(audit_latencies::table.filter(audit_latencies::day.lt(&day))).execute(conn)?;
    if none_left {
        diesel::update(audit_counted::table)
            .set(audit_counted::last_id.eq(0))
            .execute(conn)?;
    }
    Ok(())
}
