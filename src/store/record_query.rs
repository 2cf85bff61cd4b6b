//! The two lookups every pull makes (a document by its search fields, by its DocId),
//! written as queries whose SQL never changes and whose only parameters are the values
//! looked up. Built with diesel's DSL they were prepared again on every request:
//! `eq_any` over the live statuses makes a query diesel will not cache, and on SQLite
//! a bound LIMIT, or a bound status compared with a partial index's `WHERE`, marks the
//! statement to be re-planned each time it is bound (`sqlite3Reprepare`). Preparing was
//! 44% of a SQLite server's instructions under a pull load (callgrind, BENCHMARKS.md).
//!
//! No LIMIT is needed: (doctype, doc_id) is unique, and so is (doctype, udf_key) among
//! live documents (`documents_live_key`); a database whose migration refused its
//! duplicates returns them all, and the caller tells "more than one".

use std::collections::HashMap;

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

/// Status sets written into the SQL exactly as a partial index's `WHERE` is: SQLite uses
/// a partial index only when the query's terms imply its condition, which bound
/// statuses never do, and no other index serves lookups by search fields.
/// Live documents (issued or pending): `documents_live_key`.
pub(super) const LIVE_SQL: &str = "documents.status IN ('issued', 'pending')";
/// Department rows dlrepo has handed a DocId (linked or revoked): `documents_known_key`.
pub(super) const KNOWN_SQL: &str = "documents.status IN ('linked', 'revoked')";

/// One of those status sets as a filter of a DSL query.
pub(super) fn status_in(
    set: &'static str,
) -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(set)
}

/// The columns of a [`super::documents::DocRecord`] but its bytes, in its order.
macro_rules! facts_columns {
    () => {
        "SELECT documents.doc_id, documents.status, documents.udf_key, \
         documents.doc_name, documents.holder_name, documents.holder_dob, \
         documents.holder_gender, documents.holder_phone, documents.aadhaar, \
         documents.issued_on, documents.valid_from, documents.valid_to, documents.data, \
         documents.xml_sha256, "
    };
}

/// A [`super::documents::DocRecord`], bytes included.
const SELECT: &str = concat!(
    facts_columns!(),
    "blobs.content FROM documents \
     LEFT OUTER JOIN blobs ON blobs.sha256 = documents.blob_sha256 \
     WHERE documents.doctype = "
);

/// A [`super::documents::DocRecord`] without its bytes (`content` is NULL), and the
/// fingerprint of the row it was imported from: what an import compares a row with.
const SELECT_FACTS: &str = concat!(
    facts_columns!(),
    "NULL, documents.fingerprint FROM documents WHERE documents.doctype = "
);

type NText = Nullable<Text>;

/// The SQL types of [`SELECT`]'s columns.
pub type RecordSql = (
    Text,
    Text,
    NText,
    NText,
    NText,
    NText,
    NText,
    NText,
    NText,
    NText,
    NText,
    NText,
    NText,
    NText,
    Nullable<Binary>,
);

/// A document of `doctype` by its DocId (`BY_DOC_ID`), or its live document by the
/// joined search-field values (issued or pending; revoked ones do not count).
#[derive(Debug, Clone, Copy)]
pub struct RecordBy<'a, const BY_DOC_ID: bool> {
    pub doctype: &'a str,
    pub value: &'a str,
}

/// The statement cache's key: one prepared statement per lookup and connection.
pub struct RecordByKey<const BY_DOC_ID: bool>;

impl<const B: bool> QueryId for RecordBy<'_, B> {
    type QueryId = RecordByKey<B>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const B: bool> Query for RecordBy<'_, B> {
    type SqlType = RecordSql;
}

impl<DB, const B: bool> QueryFragment<DB> for RecordBy<'_, B>
where
    DB: Backend + diesel::sql_types::HasSqlType<Text>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !B {
            return live_by_key(&mut out, SELECT, self.doctype, self.value);
        }
        out.push_sql(SELECT);
        out.push_bind_param::<Text, str>(self.doctype)?;
        out.push_sql(" AND documents.doc_id = ");
        out.push_bind_param::<Text, str>(self.value)?;
        Ok(())
    }
}

impl<Conn, const B: bool> RunQueryDsl<Conn> for RecordBy<'_, B> {}

/// `select` (ending in `documents.doctype = `) narrowed to the live document of
/// `doctype` with the joined search-field values `key`: the one lookup by search fields,
/// whether it reads the bytes (Pull URI) or not (an import's comparison).
fn live_by_key<'b, DB>(
    out: &mut AstPass<'_, 'b, DB>,
    select: &'static str,
    doctype: &'b str,
    key: &'b str,
) -> QueryResult<()>
where
    DB: Backend + diesel::sql_types::HasSqlType<Text>,
    str: ToSql<Text, DB>,
{
    out.push_sql(select);
    out.push_bind_param::<Text, str>(doctype)?;
    out.push_sql(" AND documents.udf_key = ");
    out.push_bind_param::<Text, str>(key)?;
    out.push_sql(" AND ");
    out.push_sql(LIVE_SQL);
    Ok(())
}

/// The live document of `doctype` with the joined search-field values `key`, without
/// its bytes, and its fingerprint: one indexed lookup per row an import finds already
/// issued (every row of a re-run), which must neither read a PDF nor be re-planned.
#[derive(Debug, Clone, Copy)]
pub struct LiveFactsBy<'a> {
    pub doctype: &'a str,
    pub key: &'a str,
}

impl QueryId for LiveFactsBy<'_> {
    type QueryId = LiveFactsBy<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for LiveFactsBy<'_> {
    type SqlType = (RecordSql, NText);
}

impl<DB> QueryFragment<DB> for LiveFactsBy<'_>
where
    DB: Backend + diesel::sql_types::HasSqlType<Text>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        live_by_key(&mut out, SELECT_FACTS, self.doctype, self.key)
    }
}

impl<Conn> RunQueryDsl<Conn> for LiveFactsBy<'_> {}

/// The live documents of `doctype` among the joined search-field values `keys`, without
/// their bytes, with their fingerprints: a re-run's batch in one query (PostgreSQL,
/// where a lookup a row is a round trip a row).
#[derive(Debug, Clone, Copy)]
pub struct LiveFactsAmong<'a> {
    pub doctype: &'a str,
    pub keys: &'a [&'a str],
}

impl QueryId for LiveFactsAmong<'_> {
    type QueryId = LiveFactsAmong<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for LiveFactsAmong<'_> {
    type SqlType = (RecordSql, NText);
}

impl QueryFragment<diesel::pg::Pg> for LiveFactsAmong<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql(SELECT_FACTS);
        out.push_bind_param::<Text, str>(self.doctype)?;
        out.push_sql(" AND documents.udf_key = ANY(");
        out.push_bind_param::<diesel::sql_types::Array<Text>, [&str]>(self.keys)?;
        out.push_sql(") AND ");
        out.push_sql(LIVE_SQL);
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for LiveFactsAmong<'_> {}

/// Runs `$body` with `$n` a constant: the prepared size (1, 2, 4, 8, 16 or 32) that
/// takes `$len` values (at most 32), for the `…Among` statements below.
macro_rules! with_prepared_size {
    ($len:expr, $n:ident => $body:expr) => {
        match $len {
            0..=1 => {
                const $n: usize = 1;
                $body
            }
            2 => {
                const $n: usize = 2;
                $body
            }
            3..=4 => {
                const $n: usize = 4;
                $body
            }
            5..=8 => {
                const $n: usize = 8;
                $body
            }
            9..=16 => {
                const $n: usize = 16;
                $body
            }
            _ => {
                const $n: usize = 32;
                $body
            }
        }
    };
}
pub(crate) use with_prepared_size;

/// `values` (at most `N`) in `N` places, NULL past them.
pub fn filled<'a, const N: usize>(values: &[&'a str]) -> [Option<&'a str>; N] {
    let mut places = [None; N];
    for (place, value) in places.iter_mut().zip(values) {
        *place = Some(*value);
    }
    places
}

/// The sizes `…Among` statements are prepared in, as [`with_prepared_size`] picks them
/// (the department table's statements are built for the same sizes).
pub const PREPARED_SIZES: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// The most values one `…Among` statement takes.
pub const MOST_AMONG: usize = PREPARED_SIZES[PREPARED_SIZES.len() - 1];

/// `values` (at most `N`, at least one) in `N` places, the last repeated to fill them:
/// an index scan of an `IN` list reads a repeated value once.
pub fn padded<'a, const N: usize>(values: &[&'a str]) -> [&'a str; N] {
    let last = values.last().copied().unwrap_or_default();
    let mut places = [last; N];
    for (place, value) in places.iter_mut().zip(values) {
        *place = value;
    }
    places
}

/// What was found for each value asked, in their order, for the `…Among` reads: a value
/// asked twice gets a copy, and its last ask what was found itself (a PDF is not
/// copied for every pull).
pub fn each_asked<T: Clone>(asked: &[&str], mut found: HashMap<String, T>) -> Vec<Option<T>> {
    let mut left: HashMap<&str, usize> = HashMap::new();
    for value in asked {
        *left.entry(value).or_default() += 1;
    }
    asked
        .iter()
        .map(|value| {
            let last = left.get_mut(value).is_some_and(|n| {
                *n -= 1;
                *n == 0
            });
            match last {
                true => found.remove(*value),
                false => found.get(*value).cloned(),
            }
        })
        .collect()
}

/// The documents of `doctype` among `N` values, bytes included: by DocId (`BY_DOC_ID`,
/// whatever their status), else the live ones by joined search-field values. The pull
/// lookups of several requests in one query (PostgreSQL, where each query costs a round
/// trip and a wake-up of the server process). The values are `N` parameters, not one
/// array: PostgreSQL costs an array parameter as ten values, more than a small batch's,
/// so it planned such a query afresh on every run (8% of the machine's time under a
/// pull load); `N` values it plans once per connection and `N`.
#[derive(Debug, Clone, Copy)]
pub struct RecordsAmong<'a, const N: usize, const BY_DOC_ID: bool> {
    pub doctype: &'a str,
    pub values: &'a [&'a str; N],
}

/// The statement cache's key: one prepared statement per lookup, `N` and connection.
pub struct RecordsAmongKey<const N: usize, const BY_DOC_ID: bool>;

impl<const N: usize, const B: bool> QueryId for RecordsAmong<'_, N, B> {
    type QueryId = RecordsAmongKey<N, B>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const N: usize, const B: bool> Query for RecordsAmong<'_, N, B> {
    type SqlType = RecordSql;
}

impl<const N: usize, const B: bool> QueryFragment<diesel::pg::Pg> for RecordsAmong<'_, N, B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql(SELECT);
        out.push_bind_param::<Text, str>(self.doctype)?;
        out.push_sql(if B {
            " AND documents.doc_id IN ("
        } else {
            " AND documents.udf_key IN ("
        });
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<Text, str>(value)?;
        }
        out.push_sql(")");
        if !B {
            out.push_sql(" AND ");
            out.push_sql(LIVE_SQL);
        }
        Ok(())
    }
}

impl<Conn, const N: usize, const B: bool> RunQueryDsl<Conn> for RecordsAmong<'_, N, B> {}

/// What dlrepo knows of a department row by its key columns (`udf_key`): the document
/// tied to it, linked or revoked ([`super::linked::LinkedDoc`]'s columns). The lookup
/// every pull of a department row makes; with its statuses written into the SQL (for
/// SQLite's partial index) diesel's DSL would not cache it.
#[derive(Debug, Clone, Copy)]
pub struct KnownBy<'a> {
    pub doctype: &'a str,
    pub key: &'a str,
}

impl QueryId for KnownBy<'_> {
    type QueryId = KnownBy<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for KnownBy<'_> {
    type SqlType = (Text, Text, NText, NText);
}

impl<DB> QueryFragment<DB> for KnownBy<'_>
where
    DB: Backend + diesel::sql_types::HasSqlType<Text>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "SELECT documents.doc_id, documents.status, documents.fingerprint, \
             documents.aadhaar FROM documents WHERE documents.doctype = ",
        );
        out.push_bind_param::<Text, str>(self.doctype)?;
        out.push_sql(" AND documents.udf_key = ");
        out.push_bind_param::<Text, str>(self.key)?;
        out.push_sql(" AND ");
        out.push_sql(KNOWN_SQL);
        // The first linked first: a link made in a race it lost is taken back at once
        // (`link_new`), and until then must not be the one read.
        out.push_sql(" ORDER BY documents.id");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for KnownBy<'_> {}

/// What dlrepo knows of `N` department rows at once, with the value each was asked by
/// first: by DocId (`BY_DOC_ID`, whatever its status, told in Rust as
/// `linked_row_key` does), else the known rows by row key ([`KnownBy`]); with `KEPT`,
/// the signed bytes kept for a linked one too (`linked_blob`: a signing server serves
/// them). The pulls of several department rows read their links in one query
/// (PostgreSQL), as [`RecordsAmong`] reads imported documents.
#[derive(Debug, Clone, Copy)]
pub struct KnownAmong<'a, const N: usize, const BY_DOC_ID: bool, const KEPT: bool> {
    pub doctype: &'a str,
    /// The values asked, then NULLs to fill the `N` places: unlike an `IN` list, a
    /// repeated value would be probed again.
    pub values: &'a [Option<&'a str>; N],
}

pub struct KnownAmongKey<const N: usize, const BY_DOC_ID: bool, const KEPT: bool>;

impl<const N: usize, const B: bool, const K: bool> QueryId for KnownAmong<'_, N, B, K> {
    type QueryId = KnownAmongKey<N, B, K>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const N: usize, const B: bool, const K: bool> Query for KnownAmong<'_, N, B, K> {
    type SqlType = (
        Text,
        NText,
        Text,
        Text,
        NText,
        NText,
        Nullable<Binary>,
        BigInt,
    );
}

impl<const N: usize, const B: bool, const K: bool> QueryFragment<diesel::pg::Pg>
    for KnownAmong<'_, N, B, K>
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        // Each value its own lookup, not `udf_key IN (…)`: on a table not yet analysed
        // PostgreSQL took the IN list as a filter over every known row of the doc type
        // (12,000 rows, 11 ms a batch) rather than a condition on the index's second
        // column, and a plain LATERAL join likewise. `LIMIT 2` (one row is known per
        // key, two for the moment a link that lost a race is taken back, `link_new`; a
        // DocId is unique) keeps each a nested index probe; the caller keeps the
        // first by id. (`ORDER BY id LIMIT 1` could walk the primary key instead.)
        out.push_sql(
            "SELECT asked.v, d.udf_key, d.doc_id, d.status, d.fingerprint, d.aadhaar, \
             d.content, d.id FROM (VALUES ",
        );
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_sql("(");
            out.push_bind_param::<Nullable<Text>, Option<&str>>(value)?;
            out.push_sql(")");
        }
        out.push_sql(
            ") AS asked(v) CROSS JOIN LATERAL (SELECT documents.udf_key, documents.doc_id, \
             documents.status, documents.fingerprint, documents.aadhaar, ",
        );
        out.push_sql(if K {
            "blobs.content, documents.id FROM documents LEFT JOIN blobs ON \
             blobs.sha256 = documents.blob_sha256 AND documents.status = 'linked'"
        } else {
            "CAST(NULL AS BYTEA) AS content, documents.id FROM documents"
        });
        out.push_sql(" WHERE documents.doctype = ");
        out.push_bind_param::<Text, str>(self.doctype)?;
        if B {
            out.push_sql(" AND documents.doc_id = asked.v");
        } else {
            out.push_sql(" AND documents.udf_key = asked.v AND ");
            out.push_sql(KNOWN_SQL);
        }
        out.push_sql(" LIMIT 2) AS d");
        Ok(())
    }
}

impl<Conn, const N: usize, const B: bool, const K: bool> RunQueryDsl<Conn>
    for KnownAmong<'_, N, B, K>
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_macro_picks_the_smallest_prepared_size_that_holds_the_values() {
        for len in 1..=MOST_AMONG {
            let picked = with_prepared_size!(len, N => N);
            let smallest = PREPARED_SIZES.iter().find(|&&n| n >= len).copied();
            assert_eq!(Some(picked), smallest, "{len} values");
        }
    }
}
