//! Replay memory: which (orgId, txn) were already answered, until their ts window ends.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Text, Timestamp};

use super::schema::seen_requests;
use super::{DbConn, StoreError};

/// Records a request; false when the same (org_id, txn) was recorded before and has not
/// expired: a replay. The primary key decides, so two servers cannot both accept it.
pub fn first_time(
    conn: &mut DbConn,
    org_id: &str,
    txn: &str,
    expires_at: NaiveDateTime,
) -> Result<bool, StoreError> {
    // The memory of a request is not worth an fsync (synchronous=FULL is for documents
    // and the outbox): in WAL mode NORMAL still keeps the database consistent, and at
    // worst a power cut forgets the last few requests, whose windows are short.
    if let DbConn::Sqlite(c) = conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute("PRAGMA synchronous = NORMAL")?;
    }
    let result = record(conn, org_id, txn, expires_at);
    if let DbConn::Sqlite(c) = conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute("PRAGMA synchronous = FULL")?;
    }
    result
}

fn record(
    conn: &mut DbConn,
    org_id: &str,
    txn: &str,
    expires_at: NaiveDateTime,
) -> Result<bool, StoreError> {
    let row = (
        seen_requests::org_id.eq(org_id),
        seen_requests::txn.eq(txn),
        seen_requests::expires_at.eq(expires_at),
    );
    let inserted = match conn {
        DbConn::Sqlite(c) => diesel::insert_into(seen_requests::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Postgres(c) => RecordUnsynced {
            org_id,
            txn,
            expires_at,
        }
        .execute(c)?,
    };
    if inserted == 1 {
        return Ok(true);
    }
    // A row whose window has ended but that is not pruned yet does not count.
    let revived = diesel::update(
        seen_requests::table
            .filter(seen_requests::org_id.eq(org_id))
            .filter(seen_requests::txn.eq(txn))
            .filter(seen_requests::expires_at.lt(chrono::Utc::now().naive_utc())),
    )
    .set(seen_requests::expires_at.eq(expires_at))
    .execute(conn)?;
    Ok(revived == 1)
}

/// PostgreSQL's INSERT of one request, committed without waiting for its WAL to reach
/// the disk: `set_config(..., true)` holds for the statement's own transaction only, so
/// the connection's later writes (documents, outbox) still commit durably. This is
/// SQLite's `synchronous = NORMAL` above: the row is visible to every server at once,
/// and a crash forgets at most the last few requests. Waiting for the flush held a
/// PostgreSQL pull at 62% of the rate (BENCHMARKS.md, 2026-12-07, second session).
/// Fixed SQL with a static query id: prepared once per connection.
struct RecordUnsynced<'a> {
    org_id: &'a str,
    txn: &'a str,
    expires_at: NaiveDateTime,
}

impl QueryId for RecordUnsynced<'_> {
    type QueryId = RecordUnsynced<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for RecordUnsynced<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("INSERT INTO seen_requests (org_id, txn, expires_at) SELECT ");
        out.push_bind_param::<Text, str>(self.org_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, str>(self.txn)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.expires_at)?;
        out.push_sql(
            " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unsynced \
             ON CONFLICT DO NOTHING",
        );
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for RecordUnsynced<'_> {}

/// Forgets one request: it was not answered after all (the database or a document
/// failed), so DigiLocker's retry with the same txn must get through.
pub fn forget(conn: &mut DbConn, org_id: &str, txn: &str) -> Result<(), StoreError> {
    diesel::delete(
        seen_requests::table
            .filter(seen_requests::org_id.eq(org_id))
            .filter(seen_requests::txn.eq(txn)),
    )
    .execute(conn)?;
    Ok(())
}

/// Forgets requests whose window has ended; returns how many.
pub fn prune(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(seen_requests::table.filter(seen_requests::expires_at.lt(now)))
            .execute(conn)?,
    )
}
