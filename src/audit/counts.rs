//! Running counts of the audit trail per day, so that the usage report and the console's
//! dashboard read a few rows a day and doc type instead of every pull: today's dashboard
//! took 4.85 s at 3M pulls that day.
//!
//! Only rows of sealed segments ([`super::segments`]) are counted: a segment is made
//! while no insert is open, so no row below its last id can still appear. The counted
//! rows end at `audit_counted.last_id`, moved on in the same transaction as the counts;
//! a report adds the rows after it, read one by one ([`super::report`]).

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::latency::bucket_sql;
use super::segments::sealed_up_to;
use crate::store::schema::{audit_counted, audit_counts, audit_latencies, audit_pulls};
use crate::store::{write_transaction, DbConn, StoreError};

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
        let day = match conn {
            DbConn::Sqlite(_) => "substr(at, 1, 10)",
            DbConn::Postgres(_) => "to_char(at, 'YYYY-MM-DD')",
        };
        // The two numbers are ours, not input.
        let rows = format!("FROM audit_pulls WHERE id > {from} AND id <= {to}");
        diesel::sql_query(format!(
            "INSERT INTO audit_counts (day, doctype, endpoint, status, reason, n) \
             SELECT {day}, COALESCE(doctype, '-'), endpoint, status, COALESCE(reason, ''), \
             COUNT(*) {rows} GROUP BY 1, 2, 3, 4, 5 \
             ON CONFLICT (day, doctype, endpoint, status, reason) \
             DO UPDATE SET n = audit_counts.n + excluded.n"
        ))
        .execute(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO audit_latencies (day, doctype, bucket, n) \
             SELECT {day}, COALESCE(doctype, '-'), {}, COUNT(*) {rows} GROUP BY 1, 2, 3 \
             ON CONFLICT (day, doctype, bucket) DO UPDATE SET n = audit_latencies.n + excluded.n",
            bucket_sql("latency_us")
        ))
        .execute(conn)?;
        diesel::update(audit_counted::table)
            .set(audit_counted::last_id.eq(to))
            .execute(conn)?;
        Ok(to - from)
    })
}

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
fn day_text(day: NaiveDate) -> String {
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

#[derive(QueryableByName)]
struct Bucketed {
    #[diesel(sql_type = BigInt)]
    b: i64,
}

/// [`bucket_sql`] as the database computes it, for a test against the report's own.
#[doc(hidden)]
pub fn bucket_in_database(conn: &mut DbConn, us: i64) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT CAST({} AS BIGINT) AS b",
        bucket_sql(&us.to_string())
    );
    Ok(diesel::sql_query(sql).get_result::<Bucketed>(conn)?.b)
}

/// The report's own bucket, for the same test.
#[doc(hidden)]
pub fn bucket_in_report(us: i64) -> i64 {
    super::latency::bucket(us.max(0) as u64) as i64
}
