//! The store over rusqlite, for native tests and tools (feature `rusqlite`): a connection
//! to a SQLite file set up as the app sets up its own (write-ahead log).

use crate::{Database, DbError, Value};
use rusqlite::types::ValueRef;
use std::path::Path;

/// A rusqlite connection as a [`Database`].
pub struct Sqlite(rusqlite::Connection);

impl Sqlite {
    /// Opens (creating) the database at `path`, in write-ahead-log mode, waiting up to 10 s
    /// for another connection's write lock.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let err = |e: rusqlite::Error| DbError::new(e.to_string());
        let conn = rusqlite::Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        Ok(Self(conn))
    }

    /// The rusqlite connection.
    pub fn connection(&self) -> &rusqlite::Connection {
        &self.0
    }
}

impl Database for Sqlite {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, DbError> {
        let err = |e: rusqlite::Error| DbError::new(e.to_string());
        let mut stmt = self.0.prepare_cached(sql).map_err(err)?;
        let params: Vec<rusqlite::types::Value> = params
            .iter()
            .map(|v| match v {
                Value::Null => rusqlite::types::Value::Null,
                Value::Integer(i) => rusqlite::types::Value::Integer(*i),
                Value::Real(r) => rusqlite::types::Value::Real(*r),
                Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
            })
            .collect();
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let values = (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i).map_err(err)? {
                        ValueRef::Integer(i) => Value::Integer(i),
                        ValueRef::Real(r) => Value::Real(r),
                        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Null => Value::Null,
                        ValueRef::Blob(_) => {
                            return Err(DbError::new("a blob, which the store never writes"));
                        }
                    })
                })
                .collect::<Result<_, DbError>>()?;
            out.push(values);
        }
        Ok(out)
    }
}
