//! Finding audit rows again by search or by URI, without an index every pull writes to.
//!
//! `dlrepo audit find` (one search's pulls) and the console's document page (one URI's)
//! look rows up by a key. An ordinary index on such a key takes one random page write
//! per pull: the largest part of what the audit trail cost a pull (BENCHMARKS.md). So
//! the keys are indexed in segments instead: once enough new rows have gathered, the
//! audit writer copies their keys at once, sorted, under the next segment number
//! (`audit_lookups`, keyed by segment first), and that index only grows at its right
//! edge. A lookup probes each segment's part of the index, and reads the rows after the
//! last segment (`audit_segments.last_id`), at most about one segment's worth, directly.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::store::schema::{audit_lookups, audit_pulls, audit_segments};
use crate::store::{write_transaction, DbConn, StoreError};

/// The PostgreSQL advisory lock between the audit writers' inserts (shared) and a
/// segment's making or pruning (exclusive): "dlrepoau" as bytes.
const SEGMENT_LOCK_ID: i64 = 0x646c_7265_706f_6175;

/// Taken by every transaction that inserts audit rows, before its first id (PostgreSQL):
/// a segment is made only while no such transaction is open, so no row below the newest
/// id can still appear after it. A lock of its own, not one on the table: a SHARE lock
/// on `audit_pulls` also waited for (and queued every insert behind) VACUUM, ANALYZE
/// and other servers' prunes.
pub fn inserting(conn: &mut DbConn) -> Result<(), StoreError> {
    advisory_lock(conn, "pg_advisory_xact_lock_shared")
}

/// One maker or pruner of segments at a time, and no insert open meanwhile (PostgreSQL;
/// on SQLite the write transaction alone gives both).
fn exclusive(conn: &mut DbConn) -> Result<(), StoreError> {
    advisory_lock(conn, "pg_advisory_xact_lock")
}

/// `function` (a PostgreSQL advisory lock function) on [`SEGMENT_LOCK_ID`]; nothing on
/// SQLite.
fn advisory_lock(conn: &mut DbConn, function: &str) -> Result<(), StoreError> {
    if let DbConn::Postgres(c) = conn {
        diesel::sql_query(format!("SELECT {function}($1)"))
            .bind::<diesel::sql_types::BigInt, _>(SEGMENT_LOCK_ID)
            .execute(c)?;
    }
    Ok(())
}

/// New rows indexed together (`audit.segment_rows`): at ~150 bytes a row, a lookup reads
/// at most ~10 MB of rows that are not in a segment yet.
pub const SEGMENT_ROWS: u32 = 65_536;

/// What a lookup asks for.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    /// One search of one doc type (its audit digest, `audit::search_digest`).
    Search {
        doctype: &'a str,
        search: &'a str,
    },
    Uri(&'a str),
}

impl Key<'_> {
    /// As `audit_lookups.lookup` holds it; the SQL in [`seal`] writes the same forms (a doc
    /// type has no space, so the two parts cannot run into each other).
    fn text(&self) -> String {
        match self {
            Key::Search { doctype, search } => format!("s {doctype} {search}"),
            Key::Uri(uri) => format!("u {uri}"),
        }
    }
}

/// The id of the last row in a segment; 0 before the first.
pub(super) fn sealed_up_to(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(audit_segments::table
        .select(diesel::dsl::max(audit_segments::last_id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

fn newest_row(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(audit_pulls::table
        .select(diesel::dsl::max(audit_pulls::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// How many rows (ids) there are after the last segment.
pub fn unsealed(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(newest_row(conn)? - sealed_up_to(conn)?)
}

/// Indexes the keys of the rows after the last segment as a new segment, when there are
/// at least `min_rows` of them. Returns the number of rows the segment covers (0: none
/// made).
pub fn seal(conn: &mut DbConn, min_rows: i64) -> Result<i64, StoreError> {
    // Most calls find too few rows: asked without taking any lock.
    if unsealed(conn)? < min_rows.max(1) {
        return Ok(0);
    }
    write_transaction(conn, |conn| -> Result<i64, StoreError> {
        exclusive(conn)?;
        let from = sealed_up_to(conn)?;
        let to = newest_row(conn)?;
        if to - from < min_rows.max(1) {
            return Ok(0);
        }
        let seg = audit_segments::table
            .select(diesel::dsl::max(audit_segments::seg))
            .first::<Option<i32>>(conn)?
            .unwrap_or(0)
            + 1;
        // Sorted, so that the index takes the keys in its own order at its right edge:
        // on PostgreSQL under the column's collation ("C"), not the database's. The
        // three numbers are ours, not input.
        let collate = match conn {
            DbConn::Postgres(_) => " COLLATE \"C\"",
            DbConn::Sqlite(_) => "",
        };
        let sql = format!(
            "INSERT INTO audit_lookups (seg, lookup, id) \
             SELECT {seg}, ('s ' || doctype || ' ' || search){collate}, id FROM audit_pulls \
                 WHERE id > {from} AND id <= {to} AND doctype IS NOT NULL AND search IS NOT NULL \
             UNION ALL \
             SELECT {seg}, ('u ' || uri){collate}, id FROM audit_pulls \
                 WHERE id > {from} AND id <= {to} AND uri IS NOT NULL \
             ORDER BY 2, 3"
        );
        conn.batch_execute(&sql)?;
        diesel::insert_into(audit_segments::table)
            .values((audit_segments::seg.eq(seg), audit_segments::last_id.eq(to)))
            .execute(conn)?;
        Ok(to - from)
    })
}

/// The ids of the rows with this key, newest first, at most `limit`.
pub fn find(conn: &mut DbConn, key: Key, limit: i64) -> Result<Vec<i64>, StoreError> {
    let sealed = sealed_up_to(conn)?;
    let tail = audit_pulls::table
        .filter(audit_pulls::id.gt(sealed))
        .select(audit_pulls::id)
        .order(audit_pulls::id.desc())
        .limit(limit)
        .into_boxed();
    let tail = match key {
        Key::Search { doctype, search } => tail
            .filter(audit_pulls::doctype.eq(doctype))
            .filter(audit_pulls::search.eq(search)),
        Key::Uri(uri) => tail.filter(audit_pulls::uri.eq(uri)),
    };
    let mut ids: Vec<i64> = tail.load(conn)?;
    let more = limit - ids.len() as i64;
    if more > 0 {
        // Probed once per segment (the segment leads the key). A row pruned since its
        // segment was made has left an entry that finds no row: see `prune`.
        let older: Vec<i64> = audit_lookups::table
            .filter(audit_lookups::seg.eq_any(audit_segments::table.select(audit_segments::seg)))
            .filter(audit_lookups::lookup.eq(key.text()))
            .filter(audit_lookups::id.le(sealed))
            .select(audit_lookups::id)
            .order(audit_lookups::id.desc())
            .limit(more)
            .load(conn)?;
        ids.extend(older);
    }
    Ok(ids)
}

/// After the oldest rows were deleted (in the same transaction, so that the two cannot
/// part): drops the segments none of whose rows is left (their index entries with
/// them). When no row is left at all, every segment goes: SQLite numbers the next row 1
/// again, and a segment's `last_id` must never claim it. Returns whether any row is left.
pub fn prune(conn: &mut DbConn) -> Result<bool, StoreError> {
    write_transaction(conn, |conn| -> Result<bool, StoreError> {
        exclusive(conn)?;
        let oldest: Option<i64> = audit_pulls::table
            .select(diesel::dsl::min(audit_pulls::id))
            .first(conn)?;
        // The newest segment stays while rows are left: its last_id is where the rows
        // not yet in a segment begin.
        let newest: Option<i32> = audit_segments::table
            .select(diesel::dsl::max(audit_segments::seg))
            .first(conn)?;
        let keep = if oldest.is_some() {
            newest.unwrap_or(0)
        } else {
            0
        };
        let gone = || {
            audit_segments::table
                .filter(audit_segments::last_id.lt(oldest.unwrap_or(i64::MAX)))
                .filter(audit_segments::seg.ne(keep))
        };
        diesel::delete(
            audit_lookups::table
                .filter(audit_lookups::seg.eq_any(gone().select(audit_segments::seg))),
        )
        .execute(conn)?;
        diesel::delete(gone()).execute(conn)?;
        Ok(oldest.is_some())
    })
}
