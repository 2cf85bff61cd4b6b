//! Building a department table's statements from its `source`, checked against the
//! live schema at start-up.

use std::sync::Mutex;

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::super::record_query::PREPARED_SIZES;
use super::super::{Backend, DbConn, Pool, StoreError};
use super::statement::{BindAs, Statement, PARAM};
use super::DeptTable;
use crate::doctype::{DocType, Source};

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
}

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

/// Why a department table is not ready to serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unprepared {
    /// Its database does not answer: worth waiting for, its doc type alone answering
    /// 503 meanwhile.
    #[error("{0}")]
    Unavailable(String),
    /// The source does not match the table, or cannot be opened: an operator's fix.
    #[error("{0}")]
    Broken(String),
}

impl Unprepared {
    /// The same, its text naming the doc type whose table it is.
    pub(super) fn of_doctype(self, code: &str) -> Unprepared {
        match self {
            Unprepared::Unavailable(e) => {
                Unprepared::Unavailable(format!("doc type {code}: source: {e}"))
            }
            Unprepared::Broken(e) => Unprepared::Broken(format!("doc type {code}: source: {e}")),
        }
    }
}

impl DeptTable {
    /// Checks the source against the live schema and builds its queries. The error
    /// names the missing table or columns.
    pub(super) fn prepare(
        doctype: &DocType,
        source: &Source,
        pool: Pool,
    ) -> Result<DeptTable, Unprepared> {
        let mut conn = pool.get().map_err(|e| {
            Unprepared::Unavailable(format!("cannot connect to the department database: {e}"))
        })?;
        let backend = super::super::backend_of_conn(&conn);
        if backend == Backend::Sqlite && source.schema.is_some() {
            return Err(Unprepared::Broken(
                "schema.table names are for PostgreSQL; give the SQLite table alone".into(),
            ));
        }
        let cols =
            live_columns(&mut conn, source.schema.as_deref(), &source.table).map_err(|e| {
                let why = format!("cannot read the columns of {}: {e}", source.table);
                match e {
                    StoreError::Unavailable(_) => Unprepared::Unavailable(why),
                    _ => Unprepared::Broken(why),
                }
            })?;
        if cols.is_empty() {
            return Err(Unprepared::Broken(format!(
                "table or view '{}' does not exist or shows no columns to this database user",
                source.table
            )));
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
            return Err(Unprepared::Broken(format!(
                "{table_name} has no column(s) {}; it has: {}",
                missing.join(", "),
                cols.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
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
            // One ask alone is `by_udfs` / `by_key` itself.
            Backend::Postgres => PREPARED_SIZES
                .iter()
                .filter(|&&n| n > 1)
                .map(|&n| (n, among(cs, n)))
                .collect(),
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
            retry_takes: pool.connection_timeout(),
            pool,
            down_until: Mutex::new(None),
            first_page,
            next_page,
        })
    }
}
