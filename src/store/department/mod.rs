//! Lookups in a department's own table or view, for doc types with a `source`.
//!
//! dlrepo only ever runs SELECT here. Identifiers come from the config, are checked for
//! shape there and against the live schema here (and used with the catalogue's own
//! spelling, quoted); values are always bound parameters. Columns are bound by their
//! type: integer columns get an integer (so the department's index is used), text
//! columns text, anything else is compared as text.

mod prepare;
mod statement;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Binary, Nullable, Text};

use super::record_query::MOST_AMONG;
use super::DatabaseConfig;
use super::{Pool, PooledConn, StoreError};
use crate::doctype::DocType;
pub use prepare::Unprepared;
use statement::{load, BindAs, BindValue, Statement};

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
    pool: Pool,
    /// Set when its database last gave no connection at all: until then reads answer
    /// "unavailable" at once, rather than each waiting `connect_timeout_secs` for a
    /// database that is not there (then one read tries again, the rest still answer
    /// at once).
    down_until: Mutex<Option<Instant>>,
    /// How long one read may take to find its database back: its pool's timeout.
    retry_takes: Duration,
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

/// After its database gave no connection, how long a department table answers
/// "unavailable" at once before one read tries again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl DeptTable {
    /// A connection to the department's database. One that gave none a moment ago
    /// answers "unavailable" at once: a pull waiting `connect_timeout_secs` for it,
    /// and then again after a read together failed, took 4 to 6 s for its 503.
    pub fn conn(&self) -> Result<PooledConn, StoreError> {
        let lock = || self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut down = lock();
            if let Some(until) = *down {
                let now = Instant::now();
                if now < until {
                    return Err(StoreError::Unavailable(format!(
                        "the department database of doc type {} did not answer a moment ago",
                        self.doctype
                    )));
                }
                // This read tries; the others answer at once meanwhile.
                *down = Some(now + self.retry_takes + RETRY_AFTER);
            }
        }
        match self.pool.get() {
            Ok(conn) => {
                *lock() = None;
                Ok(conn)
            }
            Err(e) => {
                // No connection at all, not all of them busy: its database is not there.
                // Busy ones (under load, or hung on a network that drops packets) wait
                // their turn as ever.
                *lock() = match self.pool.state().connections {
                    0 => Some(Instant::now() + RETRY_AFTER),
                    _ => None,
                };
                Err(e.into())
            }
        }
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
        let mut conn = self.conn()?;
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
        // The places past the asks are NULL, which matches no row: a repeated ask
        // would be probed again and its row, PDF included, sent again.
        let nothing: Vec<BindValue> = kinds
            .iter()
            .map(|k| match k {
                BindAs::Int => BindValue::NoInt,
                _ => BindValue::NoText,
            })
            .collect();
        let mut conn = self.conn()?;
        for chunk in bound.chunks(MOST_AMONG) {
            let Some((size, sql)) = sizes.iter().find(|(n, _)| *n >= chunk.len()) else {
                continue;
            };
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

/// Where the doc type's department table is read: its own database
/// (`source.database_url`, a pool of its own, which connects only when used) or
/// dlrepo's (`own_pool`).
pub fn pool_of(doctype: &DocType, own: &DatabaseConfig, own_pool: &Pool) -> Result<Pool, String> {
    match doctype
        .source
        .as_ref()
        .and_then(|s| s.database_url.as_ref().map(|u| (s, u)))
    {
        Some((source, url)) => super::pool(&DatabaseConfig {
            url: url.clone(),
            pool_size: source.pool_size,
            connect_timeout_secs: own.connect_timeout_secs,
            replica_url: None,
            sqlite_mmap_mb: own.sqlite_mmap_mb,
        })
        .map_err(|e| format!("doc type {}: source.database_url: {e}", doctype.code)),
        None => Ok(own_pool.clone()),
    }
}

impl DeptTable {
    /// The doc type's department table on `pool` ([`pool_of`]), checked against the
    /// live schema. The error names the doc type.
    pub fn open(doctype: &DocType, pool: Pool) -> Result<DeptTable, Unprepared> {
        let table = match &doctype.source {
            Some(source) => DeptTable::prepare(doctype, source, pool),
            None => Err(Unprepared::Broken("no source table".into())),
        };
        table.map_err(|e| e.of_doctype(&doctype.code))
    }
}

/// The department tables of every doc type with a `source`, checked against the live
/// schema, for a command that needs them all. Each problem names its doc type.
pub fn prepare_all(
    doctypes: &[DocType],
    own: &DatabaseConfig,
    own_pool: &Pool,
) -> Result<HashMap<String, DeptTable>, Vec<String>> {
    let mut tables = HashMap::new();
    let mut problems = Vec::new();
    for d in doctypes.iter().filter(|d| d.source.is_some()) {
        let pool = match pool_of(d, own, own_pool) {
            Ok(p) => p,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        match DeptTable::open(d, pool) {
            Ok(t) => {
                tables.insert(d.code.clone(), t);
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(tables)
    } else {
        Err(problems)
    }
}
