//! The store's [`store::Database`] over Spin's SQLite interface (the `default` database).

use spin_sdk::sqlite::{Connection, Value as SpinValue};
use store::{Database, DbError, Retrying, Value};

/// The app's database: a connection whose busy statements and transactions are retried by
/// the store (see [`store::Retrying`]).
pub type SpinDb = Retrying<SpinConnection>;

/// Opens the `default` database, set up to report a held lock at once so that the store
/// waits for it in short steps ([`store::Retrying::open`]).
///
/// # Errors
///
/// The component is not allowed the database, or it cannot be opened.
pub fn open_default() -> Result<SpinDb, DbError> {
    Retrying::open(SpinConnection::open()?)
}

/// A connection to the `default` database through Spin's SQLite interface.
pub struct SpinConnection(Connection);

impl SpinConnection {
    /// Opens the `default` database.
    ///
    /// # Errors
    ///
    /// The component is not allowed the database, or it cannot be opened.
    pub fn open() -> Result<Self, DbError> {
        Connection::open_default()
            .map(Self)
            .map_err(|e| DbError::new(format!("{e:?}")))
    }
}

impl Database for SpinConnection {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, DbError> {
        let params: Vec<SpinValue> = params
            .iter()
            .map(|v| match v {
                Value::Null => SpinValue::Null,
                Value::Integer(i) => SpinValue::Integer(*i),
                Value::Real(r) => SpinValue::Real(*r),
                Value::Text(t) => SpinValue::Text(t.clone()),
            })
            .collect();
        let result = self
            .0
            .execute(sql, &params)
            .map_err(|e| DbError::new(format!("{e:?}")))?;
        Ok(result
            .rows
            .into_iter()
            .map(|row| {
                row.values
                    .into_iter()
                    .map(|v| match v {
                        SpinValue::Integer(i) => Value::Integer(i),
                        SpinValue::Real(r) => Value::Real(r),
                        SpinValue::Text(t) => Value::Text(t),
                        SpinValue::Blob(_) | SpinValue::Null => Value::Null,
                    })
                    .collect()
            })
            .collect())
    }
}
