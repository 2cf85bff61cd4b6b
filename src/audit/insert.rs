//! The audit writer's INSERTs of pull rows, their SQL fixed so that each is prepared
//! once per connection and never built again.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

use super::{segments, PullRecord};
use crate::store::{DbConn, StoreError};

type NText = Nullable<Text>;

/// One transaction a batch, each statement's SQL fixed so that it is prepared once per
/// connection: diesel prepares a multi-row VALUES list afresh every time (on PostgreSQL
/// a parse and a plan of 1,200 parameters per 100 rows, in the server the pulls share).
pub(super) fn pulls(conn: &mut DbConn, rows: &[PullRecord]) -> Result<(), StoreError> {
    // In turn with the server's other writers (SQLite).
    crate::store::write_transaction(conn, |conn| -> Result<(), StoreError> {
        segments::inserting(conn)?;
        match conn {
            // No round trips in SQLite: one prepared row after another.
            DbConn::Sqlite(c) => {
                for row in rows {
                    SqlitePull(row).execute(c)?;
                }
            }
            // One round trip a batch: the rows as arrays, unnested by the server.
            DbConn::Postgres(c) => {
                for chunk in rows.chunks(super::BATCH) {
                    PgPulls::of(chunk).execute(c)?;
                }
            }
        }
        Ok(())
    })
}

/// `INSERT INTO audit_pulls SELECT * FROM unnest(<a column's values>, ...)`.
struct PgPulls<'a> {
    at: Vec<NaiveDateTime>,
    caller: Vec<Option<&'a str>>,
    endpoint: Vec<&'a str>,
    api: Vec<&'a str>,
    ver: Vec<Option<&'a str>>,
    doctype: Vec<Option<&'a str>>,
    uri: Vec<Option<&'a str>>,
    search: Vec<Option<&'a str>>,
    status: Vec<i32>,
    http: Vec<i32>,
    reason: Vec<Option<&'a str>>,
    latency_us: Vec<i64>,
}

impl<'a> PgPulls<'a> {
    fn of(rows: &'a [PullRecord]) -> PgPulls<'a> {
        let text = |f: fn(&'a PullRecord) -> &'a Option<String>| {
            rows.iter().map(|r| f(r).as_deref()).collect::<Vec<_>>()
        };
        PgPulls {
            at: rows.iter().map(|r| r.at).collect(),
            caller: text(|r| &r.caller),
            endpoint: rows.iter().map(|r| r.endpoint).collect(),
            api: rows.iter().map(|r| r.api).collect(),
            ver: text(|r| &r.ver),
            doctype: text(|r| &r.doctype),
            uri: text(|r| &r.uri),
            search: text(|r| &r.search),
            status: rows.iter().map(|r| r.status).collect(),
            http: rows.iter().map(|r| r.http).collect(),
            reason: rows.iter().map(|r| r.reason).collect(),
            latency_us: rows.iter().map(|r| r.latency_us).collect(),
        }
    }
}

impl QueryId for PgPulls<'_> {
    type QueryId = PgPulls<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for PgPulls<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO audit_pulls (at, caller, endpoint, api, ver, doctype, uri, search, \
             status, http, reason, latency_us) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Timestamp>, _>(&self.at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<NText>, _>(&self.caller)?;
        for column in [&self.endpoint, &self.api] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(column)?;
        }
        for column in [&self.ver, &self.doctype, &self.uri, &self.search] {
            out.push_sql(", ");
            out.push_bind_param::<Array<NText>, _>(column)?;
        }
        for column in [&self.status, &self.http] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Integer>, _>(column)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Array<NText>, _>(&self.reason)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.latency_us)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for PgPulls<'_> {}

/// One row: `INSERT INTO audit_pulls (...) VALUES (?, ...)`. diesel's own INSERT of a
/// record with optional fields built its SQL and looked it up by text for every row
/// (writing `DEFAULT` for each field left out), a third of the audit writer's time.
struct SqlitePull<'a>(&'a PullRecord);

impl QueryId for SqlitePull<'_> {
    type QueryId = SqlitePull<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Sqlite> for SqlitePull<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let r = self.0;
        out.push_sql(
            "INSERT INTO audit_pulls (at, caller, endpoint, api, ver, doctype, uri, search, \
             status, http, reason, latency_us) VALUES (",
        );
        out.push_bind_param::<Timestamp, NaiveDateTime>(&r.at)?;
        out.push_sql(", ");
        out.push_bind_param::<NText, _>(&r.caller)?;
        for column in [&r.endpoint, &r.api] {
            out.push_sql(", ");
            out.push_bind_param::<Text, &str>(column)?;
        }
        for column in [&r.ver, &r.doctype, &r.uri, &r.search] {
            out.push_sql(", ");
            out.push_bind_param::<NText, _>(column)?;
        }
        for column in [&r.status, &r.http] {
            out.push_sql(", ");
            out.push_bind_param::<Integer, i32>(column)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<NText, _>(&r.reason)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, i64>(&r.latency_us)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for SqlitePull<'_> {}
