//! The department table's statements: SQL in pieces around its values, each value
//! bound by the column's type, prepared once per connection.

use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text, Untyped};

use super::super::{DbConn, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BindAs {
    Text,
    Int,
    /// Neither text nor integer (dates, numerics): compare `CAST(col AS TEXT)`.
    CastText,
}

#[derive(Clone)]
pub(super) enum BindValue {
    Text(String),
    Int(i64),
    /// A place that must match nothing (`col = NULL`), of the column's type.
    NoText,
    NoInt,
}

const NO_TEXT: Option<&str> = None;
const NO_INT: Option<i64> = None;

pub(super) fn load<T>(
    conn: &mut DbConn,
    sql: &Statement,
    binds: &[BindValue],
) -> Result<Vec<T>, StoreError>
where
    T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
{
    if binds.len() + 1 != sql.pieces.len() {
        return Err(StoreError::Unavailable(format!(
            "{} values for a statement of {} parameters",
            binds.len(),
            sql.pieces.len() - 1
        )));
    }
    let q = DeptQuery {
        pieces: &sql.pieces,
        binds,
    };
    let rows = match conn {
        DbConn::Sqlite(c) => q.load::<T>(c),
        DbConn::Postgres(c) => q.load::<T>(c),
    }?;
    Ok(rows)
}

/// Where a statement's SQL takes a value; the backend's own placeholder (`?`, `$n`)
/// goes there when the statement is sent. (Identifiers are plain and quoted, and no
/// literal holds this character.)
pub(super) const PARAM: &str = "\u{0}";

/// A statement over the department's table: its SQL in pieces, a value between each two.
#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub(super) pieces: Vec<String>,
}

impl Statement {
    pub(super) fn of(sql: String) -> Self {
        Self {
            pieces: sql.split(PARAM).map(str::to_string).collect(),
        }
    }
}

/// A [`Statement`] with its values, prepared once per connection and kept in diesel's
/// statement cache under its SQL text. (`sql_query` is never cached: every pull of a
/// department row prepared its statement again, 13% of the server's time.)
struct DeptQuery<'a> {
    pieces: &'a [String],
    binds: &'a [BindValue],
}

impl QueryId for DeptQuery<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for DeptQuery<'_> {
    type SqlType = Untyped;
}

impl<DB> QueryFragment<DB> for DeptQuery<'_>
where
    DB: diesel::backend::Backend + HasSqlType<Text> + HasSqlType<BigInt>,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // `load` checked that there is a value between each two pieces.
        if let Some((first, rest)) = self.pieces.split_first() {
            out.push_sql(first);
            for (bind, piece) in self.binds.iter().zip(rest) {
                match bind {
                    BindValue::Text(v) => out.push_bind_param::<Text, str>(v)?,
                    BindValue::Int(v) => out.push_bind_param::<BigInt, i64>(v)?,
                    BindValue::NoText => {
                        out.push_bind_param::<Nullable<Text>, Option<&str>>(&NO_TEXT)?
                    }
                    BindValue::NoInt => {
                        out.push_bind_param::<Nullable<BigInt>, Option<i64>>(&NO_INT)?
                    }
                }
                out.push_sql(piece);
            }
        }
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for DeptQuery<'_> {}
