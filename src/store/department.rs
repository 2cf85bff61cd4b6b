//! Lookups in a department's own table or view, for doc types with a `source`.
//!
//! dlrepo only ever runs SELECT here. Identifiers come from the config, are checked for
//! shape there and against the live schema here (and used with the catalogue's own
//! spelling, quoted); values are always bound parameters. Columns are bound by their
//! type: integer columns get an integer (so the department's index is used), text
//! columns text, anything else is compared as text.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, HasSqlType, Nullable, Text, Untyped};

use super::record_query::MOST_AMONG;
use super::DatabaseConfig;
use super::{Backend, DbConn, Pool, StoreError};
use crate::doctype::{DocType, Source};

/// One row of a department table, as dlrepo needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeptRow {
    /// The key columns' values as text, joined by U+001F: what the DocId is tied to.
    pub row_key: String,
    pub holder_name: Option<String>,
    pub doc_name: Option<String>,
    pub issued_on: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub aadhaar: Option<String>,
    pub dob: Option<String>,
    pub gender: Option<String>,
    pub phone: Option<String>,
    pub content: Option<Vec<u8>>,
    /// The configured extra fields, (label, value), for a rendered certificate.
    pub fields: Vec<(String, String)>,
    /// `source.revoked_column` says the department cancelled it.
    pub revoked: bool,
    /// `source.version_column`, as text.
    pub version: Option<String>,
}

#[derive(QueryableByName)]
struct RawRow {
    #[diesel(sql_type = Text)]
    row_key: String,
    #[diesel(sql_type = Nullable<Text>)]
    holder_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    doc_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    issued_on: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    valid_from: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    valid_to: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    aadhaar: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    dob: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    gender: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    phone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    fields_text: Option<String>,
    #[diesel(sql_type = Nullable<Binary>)]
    content: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    revoked: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    version: Option<String>,
}

/// A row found for one of several asks: which one (from 0), and the row.
#[derive(QueryableByName)]
struct RawAsk {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    ask: i32,
    #[diesel(embed)]
    row: RawRow,
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindAs {
    Text,
    Int,
    /// Neither text nor integer (dates, numerics): compare `CAST(col AS TEXT)`.
    CastText,
}

#[derive(Clone)]
enum BindValue {
    Text(String),
    Int(i64),
    /// A place that must match nothing (`col = NULL`), of the column's type.
    NoText,
    NoInt,
}

const NO_TEXT: Option<&str> = None;
const NO_INT: Option<i64> = None;

const SEP: char = '\u{1f}';

/// How a department's cancelled flag reads as true: booleans (`true`, `t`), numbers
/// other than 0, `yes`/`y`.
fn is_true(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    matches!(v.as_str(), "true" | "t" | "yes" | "y") || v.parse::<i64>().is_ok_and(|n| n != 0)
}

/// A department table ready to query: SQL built once at start-up.
pub struct DeptTable {
    pub doctype: String,
    /// `schema.table` as found in the catalogue, for messages.
    pub table: String,
    pub pool: Pool,
    by_udfs: Statement,
    /// PostgreSQL: [`Self::by_udfs`] for 2, 4, 8, 16 and 32 asks at once (none on
    /// SQLite, where a lookup is in-process and one at a time costs nothing more).
    by_udfs_among: Vec<(usize, Statement)>,
    udf_binds: Vec<BindAs>,
    by_key: Statement,
    /// [`Self::by_key`] of several rows at once, as `by_udfs_among`.
    by_key_among: Vec<(usize, Statement)>,
    key_binds: Vec<BindAs>,
    field_labels: Vec<String>,
    /// The first page of a scan in key order, and the pages after a key.
    first_page: Statement,
    next_page: Statement,
}

fn load<T>(conn: &mut DbConn, sql: &Statement, binds: &[BindValue]) -> Result<Vec<T>, StoreError>
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
const PARAM: &str = "\u{0}";

/// A statement over the department's table: its SQL in pieces, a value between each two.
#[derive(Debug, Clone)]
struct Statement {
    pieces: Vec<String>,
}

impl Statement {
    fn of(sql: String) -> Self {
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

fn live_columns(
    conn: &mut DbConn,
    schema: Option<&str>,
    table: &str,
) -> Result<Vec<Column>, StoreError> {
    Ok(match conn {
        DbConn::Postgres(c) => diesel::sql_query(
            "SELECT CAST(table_name AS TEXT) AS table_name, CAST(column_name AS TEXT) AS name, \
             CAST(data_type AS TEXT) AS data_type FROM information_schema.columns \
             WHERE table_schema = COALESCE($1, current_schema()) AND lower(table_name) = lower($2) \
             ORDER BY table_name <> $2, ordinal_position",
        )
        .bind::<Nullable<Text>, _>(schema)
        .bind::<Text, _>(table)
        .load(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT ? AS table_name, name, type AS data_type FROM pragma_table_info(?)",
        )
        .bind::<Text, _>(table)
        .bind::<Text, _>(table)
        .load(c)?,
    })
}

fn bind_kind(backend: Backend, data_type: &str) -> BindAs {
    let t = data_type.to_ascii_lowercase();
    match backend {
        Backend::Postgres => match t.as_str() {
            "smallint" | "integer" | "bigint" => BindAs::Int,
            "text" | "character varying" | "character" | "name" => BindAs::Text,
            _ => BindAs::CastText,
        },
        Backend::Sqlite if t.contains("int") => BindAs::Int,
        Backend::Sqlite => BindAs::Text,
    }
}

impl DeptTable {
    /// Checks the source against the live schema and builds its queries. The error
    /// names the missing table or columns.
    pub fn prepare(doctype: &DocType, source: &Source, pool: Pool) -> Result<DeptTable, String> {
        let mut conn = pool
            .get()
            .map_err(|e| format!("cannot connect to the department database: {e}"))?;
        let backend = super::backend_of_conn(&conn);
        if backend == Backend::Sqlite && source.schema.is_some() {
            return Err(
                "schema.table names are for PostgreSQL; give the SQLite table alone".into(),
            );
        }
        let cols = live_columns(&mut conn, source.schema.as_deref(), &source.table)
            .map_err(|e| format!("cannot read the columns of {}: {e}", source.table))?;
        if cols.is_empty() {
            return Err(format!(
                "table or view '{}' does not exist or shows no columns to this database user",
                source.table
            ));
        }
        let table_name = cols[0].table_name.clone();
        let cols: Vec<&Column> = cols.iter().filter(|c| c.table_name == table_name).collect();
        let mut missing = Vec::new();
        let mut resolve = |want: &str| -> Option<(String, BindAs)> {
            match cols.iter().find(|c| c.name.eq_ignore_ascii_case(want)) {
                Some(c) => Some((c.name.clone(), bind_kind(backend, &c.data_type))),
                None => {
                    missing.push(want.to_string());
                    None
                }
            }
        };
        let udfs: Vec<_> = source.udf_columns.iter().map(|c| resolve(c)).collect();
        let keys: Vec<_> = source.key_columns.iter().map(|c| resolve(c)).collect();
        let mut opt = |c: &Option<String>| c.as_ref().map(|c| resolve(c));
        let holder = opt(&source.holder_name);
        let doc_name = opt(&source.doc_name);
        let issued_on = opt(&source.issued_on);
        let valid_from = opt(&source.valid_from);
        let valid_to = opt(&source.valid_to);
        let aadhaar = opt(&source.aadhaar);
        let dob = opt(&source.dob);
        let gender = opt(&source.gender);
        let phone = opt(&source.phone);
        let document = opt(&source.document_column);
        let revoked = opt(&source.revoked_column);
        let version = opt(&source.version_column);
        let fields: Vec<_> = source.fields.iter().map(|(_, c)| resolve(c)).collect();
        if !missing.is_empty() {
            return Err(format!(
                "{table_name} has no column(s) {}; it has: {}",
                missing.join(", "),
                cols.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let q = |name: &str| format!("\"{name}\"");
        let as_text = |c: &Option<Option<(String, BindAs)>>| match c {
            Some(Some((n, _))) => format!("CAST({} AS TEXT)", q(n)),
            _ => "CAST(NULL AS TEXT)".into(),
        };
        let sep = match backend {
            Backend::Postgres => "chr(31)",
            Backend::Sqlite => "char(31)",
        };
        let join_text = |cs: &[Option<(String, BindAs)>]| {
            cs.iter()
                .flatten()
                .map(|(n, _)| format!("COALESCE(CAST({} AS TEXT), '')", q(n)))
                .collect::<Vec<_>>()
                .join(&format!(" || {sep} || "))
        };
        let fields_expr = if fields.is_empty() {
            "CAST(NULL AS TEXT)".to_string()
        } else {
            join_text(&fields)
        };
        let content = match &document {
            Some(Some((n, _))) => q(n),
            _ => match backend {
                Backend::Postgres => "CAST(NULL AS BYTEA)".into(),
                Backend::Sqlite => "CAST(NULL AS BLOB)".into(),
            },
        };
        let from = match &source.schema {
            Some(s) => format!("{}.{}", q(s), q(&table_name)),
            None => q(&table_name),
        };
        let select = format!(
            "SELECT {} AS row_key, {} AS holder_name, {} AS doc_name, {} AS issued_on, \
             {} AS valid_from, {} AS valid_to, {} AS aadhaar, {} AS dob, {} AS gender, \
             {} AS phone, {fields_expr} AS fields_text, {content} AS content, \
             {} AS revoked, {} AS version FROM {from}",
            join_text(&keys),
            as_text(&holder),
            as_text(&doc_name),
            as_text(&issued_on),
            as_text(&valid_from),
            as_text(&valid_to),
            as_text(&aadhaar),
            as_text(&dob),
            as_text(&gender),
            as_text(&phone),
            as_text(&revoked),
            as_text(&version),
        );
        let condition = |cs: &[Option<(String, BindAs)>]| {
            cs.iter()
                .flatten()
                .map(|(n, kind)| match kind {
                    BindAs::CastText => format!("CAST({} AS TEXT) = {PARAM}", q(n)),
                    _ => format!("{} = {PARAM}", q(n)),
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let kinds =
            |cs: &[Option<(String, BindAs)>]| cs.iter().flatten().map(|(_, k)| *k).collect();
        // Keyset pages in key order: the comparison and the order use the same
        // expressions, so no row is skipped or read twice between pages.
        let key_exprs: Vec<String> = keys
            .iter()
            .flatten()
            .map(|(n, kind)| match kind {
                BindAs::CastText => format!("CAST({} AS TEXT)", q(n)),
                _ => q(n),
            })
            .collect();
        let placeholders = vec![PARAM; key_exprs.len()];
        let order = key_exprs.join(", ");
        let first_page = Statement::of(format!("{select} ORDER BY {order} LIMIT {PARAM}"));
        let next_page = Statement::of(format!(
            "{select} WHERE ({order}) > ({}) ORDER BY {order} LIMIT {PARAM}",
            placeholders.join(", ")
        ));
        // Several asks in one statement: each ask's values a row of VALUES, and for
        // each the same lookup as `by_udfs` (LIMIT 2 per ask) through a LATERAL join.
        // Several asks in one statement: each ask's values a row of VALUES, and for
        // each the same lookup as alone (LIMIT 2 per ask) through a LATERAL join.
        let among = |cs: &[Option<(String, BindAs)>], n: usize| {
            let cols: Vec<_> = cs.iter().flatten().collect();
            let places = vec![PARAM; cols.len()].join(", ");
            let values = (0..n)
                .map(|i| format!("({i}, {places})"))
                .collect::<Vec<_>>()
                .join(", ");
            let names = (0..cols.len())
                .map(|i| format!("v{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let matches = cols
                .iter()
                .enumerate()
                .map(|(i, (n, kind))| match kind {
                    BindAs::CastText => format!("CAST({} AS TEXT) = dlrepo_ask.v{i}", q(n)),
                    _ => format!("{} = dlrepo_ask.v{i}", q(n)),
                })
                .collect::<Vec<_>>()
                .join(" AND ");
            Statement::of(format!(
                "SELECT dlrepo_ask.n AS ask, dlrepo_row.* FROM (VALUES {values}) \
                 AS dlrepo_ask(n, {names}) CROSS JOIN LATERAL ({select} WHERE {matches} \
                 LIMIT 2) AS dlrepo_row"
            ))
        };
        let sizes = |cs: &[Option<(String, BindAs)>]| match backend {
            Backend::Postgres => [2, 4, 8, 16, 32].map(|n| (n, among(cs, n))).to_vec(),
            Backend::Sqlite => Vec::new(),
        };
        Ok(DeptTable {
            doctype: doctype.code.clone(),
            table: match &source.schema {
                Some(s) => format!("{s}.{table_name}"),
                None => table_name.clone(),
            },
            by_udfs: Statement::of(format!("{select} WHERE {} LIMIT 2", condition(&udfs))),
            by_udfs_among: sizes(&udfs),
            udf_binds: kinds(&udfs),
            by_key: Statement::of(format!("{select} WHERE {} LIMIT 2", condition(&keys))),
            by_key_among: sizes(&keys),
            key_binds: kinds(&keys),
            field_labels: source.fields.iter().map(|(l, _)| l.clone()).collect(),
            pool,
            first_page,
            next_page,
        })
    }

    fn binds(kinds: &[BindAs], values: &[&str]) -> Option<Vec<BindValue>> {
        kinds
            .iter()
            .zip(values)
            .map(|(k, v)| match k {
                // A value that is not a number cannot match an integer column.
                BindAs::Int => v.trim().parse().ok().map(BindValue::Int),
                _ => Some(BindValue::Text(v.to_string())),
            })
            .collect()
    }

    fn rows(
        &self,
        sql: &Statement,
        binds: Option<Vec<BindValue>>,
    ) -> Result<Vec<DeptRow>, StoreError> {
        let Some(binds) = binds else {
            return Ok(Vec::new());
        };
        let mut conn = self.pool.get()?;
        Ok(load::<RawRow>(&mut conn, sql, &binds)?
            .into_iter()
            .map(|r| self.row_of(r))
            .collect())
    }

    fn row_of(&self, r: RawRow) -> DeptRow {
        DeptRow {
            row_key: r.row_key,
            holder_name: r.holder_name,
            doc_name: r.doc_name,
            issued_on: r.issued_on,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            aadhaar: r.aadhaar,
            dob: r.dob,
            gender: r.gender,
            phone: r.phone,
            content: r.content,
            fields: match r.fields_text {
                Some(t) => self
                    .field_labels
                    .iter()
                    .cloned()
                    .zip(t.split(SEP).map(str::to_string))
                    .collect(),
                None => Vec::new(),
            },
            revoked: r.revoked.as_deref().is_some_and(is_true),
            version: r.version,
        }
    }

    /// Up to `limit` rows in key order, after the row with key `after` (from the
    /// start when None): a scan of the whole table in constant memory.
    pub fn page(&self, after: Option<&str>, limit: i64) -> Result<Vec<DeptRow>, StoreError> {
        match after {
            None => self.rows(&self.first_page, Some(vec![BindValue::Int(limit)])),
            Some(key) => {
                let v: Vec<&str> = key.split(SEP).collect();
                if v.len() != self.key_binds.len() {
                    return Ok(Vec::new());
                }
                let binds = Self::binds(&self.key_binds, &v).map(|mut b| {
                    b.push(BindValue::Int(limit));
                    b
                });
                self.rows(&self.next_page, binds)
            }
        }
    }

    /// Rows whose UDF columns equal the values (given in UDF order); at most two.
    pub fn find_by_udfs(&self, values: &[String]) -> Result<Vec<DeptRow>, StoreError> {
        let v: Vec<&str> = values.iter().map(String::as_str).collect();
        self.rows(&self.by_udfs, Self::binds(&self.udf_binds, &v))
    }

    /// Whether [`Self::find_by_udfs_among`] reads several asks in one statement (on
    /// PostgreSQL).
    pub fn reads_together(&self) -> bool {
        !self.by_udfs_among.is_empty()
    }

    /// [`Self::find_by_udfs`] of several asks, answered in their order: on PostgreSQL
    /// one statement per 32 asks (a batch of pulls, one round trip), on SQLite each in
    /// turn.
    pub fn find_by_udfs_among(&self, asks: &[&[String]]) -> Result<Vec<Vec<DeptRow>>, StoreError> {
        if self.by_udfs_among.is_empty() || asks.len() < 2 {
            return asks.iter().map(|ask| self.find_by_udfs(ask)).collect();
        }
        let values: Vec<Vec<&str>> = asks
            .iter()
            .map(|ask| ask.iter().map(String::as_str).collect())
            .collect();
        self.among(&self.by_udfs_among, &self.udf_binds, &values)
    }

    /// [`Self::find_by_key`] of several row keys, answered in their order, as
    /// [`Self::find_by_udfs_among`].
    pub fn find_by_keys_among(&self, keys: &[&str]) -> Result<Vec<Option<DeptRow>>, StoreError> {
        if self.by_key_among.is_empty() || keys.len() < 2 {
            return keys.iter().map(|key| self.find_by_key(key)).collect();
        }
        // A key of the wrong number of parts finds nothing (no bind matches it).
        let values: Vec<Vec<&str>> = keys
            .iter()
            .map(|key| key.split(SEP).collect::<Vec<_>>())
            .map(|v| match v.len() == self.key_binds.len() {
                true => v,
                false => Vec::new(),
            })
            .collect();
        let found = self.among(&self.by_key_among, &self.key_binds, &values)?;
        Ok(found
            .into_iter()
            .map(|rows| rows.into_iter().next())
            .collect())
    }

    /// The rows of each ask (its values in the statements' column order) by the
    /// statements of `sizes`: one per 32 asks.
    fn among(
        &self,
        sizes: &[(usize, Statement)],
        kinds: &[BindAs],
        asks: &[Vec<&str>],
    ) -> Result<Vec<Vec<DeptRow>>, StoreError> {
        let mut found: Vec<Vec<DeptRow>> = asks.iter().map(|_| Vec::new()).collect();
        // Asks whose values cannot match (text for an integer column, a key of the
        // wrong shape) find nothing.
        let bound: Vec<(usize, Vec<BindValue>)> = asks
            .iter()
            .enumerate()
            .filter(|(_, v)| v.len() == kinds.len())
            .filter_map(|(i, v)| Self::binds(kinds, v).map(|b| (i, b)))
            .collect();
        if bound.is_empty() {
            return Ok(found);
        }
        let mut conn = self.pool.get()?;
        for chunk in bound.chunks(MOST_AMONG) {
            let Some((size, sql)) = sizes.iter().find(|(n, _)| *n >= chunk.len()) else {
                continue;
            };
            // The places past the asks are NULL, which matches no row: a repeated
            // ask would be probed again and its row, PDF included, sent again.
            let nothing: Vec<BindValue> = kinds
                .iter()
                .map(|k| match k {
                    BindAs::Int => BindValue::NoInt,
                    _ => BindValue::NoText,
                })
                .collect();
            let binds: Vec<BindValue> = (0..*size)
                .flat_map(|i| chunk.get(i).map_or(&nothing, |(_, b)| b).iter().cloned())
                .collect();
            for raw in load::<RawAsk>(&mut conn, sql, &binds)? {
                let place = usize::try_from(raw.ask).unwrap_or(usize::MAX);
                if let Some((i, _)) = chunk.get(place) {
                    found[*i].push(self.row_of(raw.row));
                }
            }
        }
        Ok(found)
    }

    /// The row a linked DocId stands for.
    pub fn find_by_key(&self, row_key: &str) -> Result<Option<DeptRow>, StoreError> {
        let v: Vec<&str> = row_key.split(SEP).collect();
        if v.len() != self.key_binds.len() {
            return Ok(None);
        }
        Ok(self
            .rows(&self.by_key, Self::binds(&self.key_binds, &v))?
            .into_iter()
            .next())
    }
}

/// The department tables of every doc type with a `source`, checked against the live
/// schema. Each problem names its doc type.
pub fn prepare_all(
    doctypes: &[DocType],
    own: &DatabaseConfig,
    own_pool: &Pool,
) -> Result<HashMap<String, DeptTable>, Vec<String>> {
    let mut tables = HashMap::new();
    let mut problems = Vec::new();
    for d in doctypes {
        let Some(source) = &d.source else { continue };
        let pool = match &source.database_url {
            Some(url) => match super::pool(&DatabaseConfig {
                url: url.clone(),
                pool_size: source.pool_size,
                connect_timeout_secs: own.connect_timeout_secs,
                replica_url: None,
                sqlite_mmap_mb: own.sqlite_mmap_mb,
            }) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(format!("doc type {}: source.database_url: {e}", d.code));
                    continue;
                }
            },
            None => own_pool.clone(),
        };
        match DeptTable::prepare(d, source, pool) {
            Ok(t) => {
                tables.insert(d.code.clone(), t);
            }
            Err(e) => problems.push(format!("doc type {}: source: {e}", d.code)),
        }
    }
    if problems.is_empty() {
        Ok(tables)
    } else {
        Err(problems)
    }
}
