//! The Spin interfaces spin-sdk 5.2 imports for variables, SQLite and key-value
//! (`fermyon:spin/*@2.0.0`), backed by SQLite files under the state directory the way
//! `spin up` keeps them: `.spin/sqlite_db.db` for the `default` database and
//! `.spin/sqlite_key_value.db` for the `default` key-value store.

use crate::state::InstanceState;
use anyhow::Context as _;
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::path::{Path, PathBuf};
use wasmtime::component::{HasSelf, Linker, Resource};

wasmtime::component::bindgen!({
    path: "wit",
    world: "fermyon:spin/local-host",
    with: {
        "fermyon:spin/sqlite.connection": SqliteConnection,
        "fermyon:spin/key-value.store": KeyValueStore,
    },
});

use fermyon::spin::{key_value, sqlite, variables};

/// How components' SQLite connections behave (`host up --sqlite-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteMode {
    /// Pooled connections to a write-ahead-log file: prepared statements are kept across
    /// requests, and a writer waits for another in 50 µs steps. Faster than `spin up`.
    Pooled,
    /// Exactly as `spin up` (its `sqlite-inproc` crate): a new connection for every open,
    /// the file in whatever journal mode it has (the rollback journal unless the app asks
    /// for the write-ahead log), rusqlite's default busy handler (sleeping up to 5 s), and
    /// nothing kept between requests.
    Plain,
}

/// An open SQLite connection handed to a component. Pooled: taken from the state
/// directory's pool and returned to it when the component drops it (or its instance ends),
/// so statements stay prepared across requests; a transaction the component left open is
/// rolled back first. Plain: closed when dropped.
pub struct SqliteConnection {
    conn: Option<rusqlite::Connection>,
    pool: Option<ConnectionPool>,
}

impl SqliteConnection {
    fn conn(&self) -> Option<&rusqlite::Connection> {
        self.conn.as_ref()
    }
}

impl Drop for SqliteConnection {
    fn drop(&mut self) {
        let Some(pool) = &self.pool else { return };
        if let Some(conn) = self.conn.take() {
            if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
                return; // not reusable: closed here
            }
            if let Ok(mut idle) = pool.0.lock()
                && idle.len() < MAX_IDLE_CONNECTIONS
            {
                idle.push(conn);
            }
        }
    }
}

/// Idle connections to the `default` database.
#[derive(Clone, Default)]
struct ConnectionPool(std::sync::Arc<std::sync::Mutex<Vec<rusqlite::Connection>>>);

impl std::fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionPool")
    }
}

/// How many idle connections are kept open.
const MAX_IDLE_CONNECTIONS: usize = 64;

/// An open key-value store handed to a component.
pub struct KeyValueStore {
    conn: rusqlite::Connection,
    label: String,
}

/// Where the host keeps component state, and how connections to it behave.
#[derive(Debug, Clone)]
pub struct StateDir(PathBuf, ConnectionPool, SqliteMode);

/// How long a writer waits for another writer (another request or another host process
/// on the same files) before reporting the database as busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl StateDir {
    /// Uses (and creates) `dir`. Pooled, it prepares the database files so that concurrent
    /// requests and processes can share them (write-ahead log); plain, it leaves the
    /// `default` database as `spin up` does (created on first use, in its own journal mode).
    ///
    /// # Errors
    ///
    /// The directory or a database file cannot be created.
    pub fn open(dir: &Path, mode: SqliteMode) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create state directory {}", dir.display()))?;
        let state = Self(dir.to_path_buf(), ConnectionPool::default(), mode);
        let mut files = vec![state.key_value_path()];
        if mode == SqliteMode::Pooled {
            files.push(state.sqlite_path());
        }
        for path in files {
            let conn =
                open_file(&path).with_context(|| format!("cannot open {}", path.display()))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        let kv = open_file(&state.key_value_path())?;
        kv.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                PRIMARY KEY (store, key))",
        )?;
        Ok(state)
    }

    fn sqlite_path(&self) -> PathBuf {
        self.0.join("sqlite_db.db")
    }

    fn key_value_path(&self) -> PathBuf {
        self.0.join("sqlite_key_value.db")
    }
}

fn open_file(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_handler(Some(wait_for_lock))?;
    // SQLite's default (FULL: every commit reaches the disk) unless the operator trades
    // durability on power loss for speed (NORMAL: with the write-ahead log, a commit survives
    // a crash of the host but not of the machine). Benchmarks report both.
    if let Ok(mode) = std::env::var(SYNCHRONOUS_ENV) {
        conn.pragma_update(None, "synchronous", mode)?;
    }
    Ok(conn)
}

/// The environment variable that sets SQLite's `synchronous` pragma (`FULL` by default).
pub const SYNCHRONOUS_ENV: &str = "HOST_SQLITE_SYNCHRONOUS";

/// SQLite's busy handler: while another connection (another request, or another host process
/// on the same files) holds the write lock, wait in short steps (a write transaction here
/// lasts well under a millisecond, while SQLite's own `busy_timeout` sleeps in steps of up
/// to 100 ms), giving up after [`BUSY_TIMEOUT`].
fn wait_for_lock(attempt: i32) -> bool {
    const FAST_ATTEMPTS: i32 = 200;
    let (step, waited) = if attempt < FAST_ATTEMPTS {
        (
            std::time::Duration::from_micros(50),
            std::time::Duration::from_micros(50) * attempt as u32,
        )
    } else {
        (
            std::time::Duration::from_millis(1),
            std::time::Duration::from_micros(50) * FAST_ATTEMPTS as u32
                + std::time::Duration::from_millis(1) * (attempt - FAST_ATTEMPTS) as u32,
        )
    };
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(step);
    true
}

/// Adds the Spin interfaces to a linker.
///
/// # Errors
///
/// Only if the linker already defines them.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    LocalHost::add_to_linker::<_, HasSelf<InstanceState>>(linker, |s| s)?;
    Ok(())
}

impl variables::Host for InstanceState {
    fn get(&mut self, name: String) -> Result<String, variables::Error> {
        if crate::manifest::check_variable_name(&name).is_err() {
            return Err(variables::Error::InvalidName(name));
        }
        self.component
            .variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(format!(
                "no variable named `{name}` in [component.{}.variables]",
                self.component.id
            )))
    }
}

impl sqlite::Host for InstanceState {}

impl sqlite::HostConnection for InstanceState {
    fn open(&mut self, database: String) -> Result<Resource<SqliteConnection>, sqlite::Error> {
        if !self.component.sqlite_databases.contains(&database) {
            return Err(sqlite::Error::AccessDenied);
        }
        if database != "default" {
            // Other labels need a runtime-config file, which this host does not read.
            return Err(sqlite::Error::NoSuchDatabase);
        }
        let state = &self.component.state;
        let io = |e: rusqlite::Error| sqlite::Error::Io(e.to_string());
        let connection = match state.2 {
            SqliteMode::Pooled => {
                let pooled = state.1.0.lock().ok().and_then(|mut idle| idle.pop());
                let conn = match pooled {
                    Some(conn) => conn,
                    None => open_file(&state.sqlite_path()).map_err(io)?,
                };
                SqliteConnection {
                    conn: Some(conn),
                    pool: Some(state.1.clone()),
                }
            }
            // As Spin's sqlite-inproc: rusqlite's own defaults, nothing else.
            SqliteMode::Plain => SqliteConnection {
                conn: Some(rusqlite::Connection::open(state.sqlite_path()).map_err(io)?),
                pool: None,
            },
        };
        self.table
            .push(connection)
            .map_err(|e| sqlite::Error::Io(e.to_string()))
    }

    fn execute(
        &mut self,
        conn: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> Result<sqlite::QueryResult, sqlite::Error> {
        let conn = self
            .table
            .get(&conn)
            .map_err(|_| sqlite::Error::InvalidConnection)?;
        let conn = conn.conn().ok_or(sqlite::Error::InvalidConnection)?;
        let run =
            || execute(conn, &statement, &parameters).map_err(|e| sqlite::Error::Io(e.to_string()));
        match self.component.state.2 {
            SqliteMode::Pooled => run(),
            // Spin runs statements off its async workers (a busy handler may sleep there).
            SqliteMode::Plain => tokio::task::block_in_place(run),
        }
    }

    fn drop(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

struct Param<'a>(&'a sqlite::Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            sqlite::Value::Integer(i) => ValueRef::Integer(*i),
            sqlite::Value::Real(r) => ValueRef::Real(*r),
            sqlite::Value::Text(t) => ValueRef::Text(t.as_bytes()),
            sqlite::Value::Blob(b) => ValueRef::Blob(b),
            sqlite::Value::Null => ValueRef::Null,
        }))
    }
}

fn execute(
    conn: &rusqlite::Connection,
    statement: &str,
    parameters: &[sqlite::Value],
) -> rusqlite::Result<sqlite::QueryResult> {
    let mut stmt = conn.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let params: Vec<Param<'_>> = parameters.iter().map(Param).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => sqlite::Value::Null,
                    ValueRef::Integer(i) => sqlite::Value::Integer(i),
                    ValueRef::Real(r) => sqlite::Value::Real(r),
                    ValueRef::Text(t) => {
                        sqlite::Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    ValueRef::Blob(b) => sqlite::Value::Blob(b.to_vec()),
                })
            })
            .collect::<rusqlite::Result<_>>()?;
        out.push(sqlite::RowResult { values });
    }
    Ok(sqlite::QueryResult { columns, rows: out })
}

impl key_value::Host for InstanceState {}

impl key_value::HostStore for InstanceState {
    fn open(&mut self, label: String) -> Result<Resource<KeyValueStore>, key_value::Error> {
        if !self.component.key_value_stores.contains(&label) {
            return Err(key_value::Error::AccessDenied);
        }
        if label != "default" {
            return Err(key_value::Error::NoSuchStore);
        }
        let conn = open_file(&self.component.state.key_value_path())
            .map_err(|e| key_value::Error::Other(e.to_string()))?;
        self.table
            .push(KeyValueStore { conn, label })
            .map_err(|e| key_value::Error::Other(e.to_string()))
    }

    fn get(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, key_value::Error> {
        let store = self.kv(&store)?;
        let mut stmt = store
            .conn
            .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")
            .map_err(kv_err)?;
        let mut rows = stmt.query((&store.label, &key)).map_err(kv_err)?;
        match rows.next().map_err(kv_err)? {
            Some(row) => Ok(Some(row.get(0).map_err(kv_err)?)),
            None => Ok(None),
        }
    }

    fn set(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value::Error> {
        let store = self.kv(&store)?;
        store
            .conn
            .execute(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                (&store.label, &key, &value),
            )
            .map_err(kv_err)?;
        Ok(())
    }

    fn delete(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
    ) -> Result<(), key_value::Error> {
        let store = self.kv(&store)?;
        store
            .conn
            .execute(
                "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
                (&store.label, &key),
            )
            .map_err(kv_err)?;
        Ok(())
    }

    fn exists(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
    ) -> Result<bool, key_value::Error> {
        Ok(self.get(store, key)?.is_some())
    }

    fn get_keys(
        &mut self,
        store: Resource<KeyValueStore>,
    ) -> Result<Vec<String>, key_value::Error> {
        let store = self.kv(&store)?;
        let mut stmt = store
            .conn
            .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")
            .map_err(kv_err)?;
        let keys = stmt
            .query_map([&store.label], |row| row.get(0))
            .map_err(kv_err)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(kv_err)?;
        Ok(keys)
    }

    fn drop(&mut self, store: Resource<KeyValueStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl InstanceState {
    fn kv(&self, store: &Resource<KeyValueStore>) -> Result<&KeyValueStore, key_value::Error> {
        self.table
            .get(store)
            .map_err(|e| key_value::Error::Other(e.to_string()))
    }
}

fn kv_err(e: rusqlite::Error) -> key_value::Error {
    key_value::Error::Other(e.to_string())
}
