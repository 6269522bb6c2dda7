//! The bot's state in SQLite, written once for every place that runs it: the components run
//! these statements through Spin's SQLite interface, the tests through rusqlite, by
//! implementing [`Database`].
//!
//! Every write that races is safe by construction: a message id is claimed with a unique
//! constraint (`INSERT ... ON CONFLICT DO NOTHING RETURNING`), so two deliveries of the same
//! event at the same moment cannot both be answered; conversations are upserted; an
//! outbox row is claimed for sending with a conditional update.
//!
//! ```
//! # fn demo(db: &impl store::Database) -> Result<(), store::DbError> {
//! store::migrate(db)?;
//! if store::claim_message(db, store::Channel::Messenger, "m.1", 1_700_000_000_000)? {
//!     // first time we see m.1: handle it
//! }
//! assert!(!store::claim_message(db, store::Channel::Messenger, "m.1", 1_700_000_000_001)?); // a redelivery
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::fmt;
pub use vocab::{Channel, HandoffReason, Lang, Status};

pub mod comments;
pub mod customers;
pub mod desk;
pub mod learning;
pub mod metrics;
pub mod privacy;
pub mod saved_replies;
#[cfg(feature = "rusqlite")]
pub mod sqlite;
mod transaction;
pub mod turn;

pub use transaction::{BUSY_DEADLINE, Retrying, transaction, transaction_or_rollback};

/// A SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// INTEGER.
    Integer(i64),
    /// REAL.
    Real(f64),
    /// TEXT.
    Text(String),
}

impl Value {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }
    fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Real(r) => Some(*r),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Integer(i)
    }
}

impl From<Option<&str>> for Value {
    fn from(s: Option<&str>) -> Self {
        s.map_or(Value::Null, Value::from)
    }
}

impl From<Channel> for Value {
    fn from(channel: Channel) -> Self {
        Value::from(channel.as_str())
    }
}

impl From<Option<Lang>> for Value {
    fn from(lang: Option<Lang>) -> Self {
        Value::from(lang.map(Lang::as_str))
    }
}

/// One result row, read column by column: a missing value, a value of the wrong type or a
/// name outside the vocabulary is an error naming the column (a row this code does not
/// understand), never a default.
pub(crate) struct Row<'a> {
    values: &'a [Value],
    what: &'static str,
}

impl<'a> Row<'a> {
    /// A row of `what` (a table or query, for messages).
    pub(crate) fn new(values: &'a [Value], what: &'static str) -> Self {
        Self { values, what }
    }

    fn bad(&self, column: usize, expected: &str) -> DbError {
        DbError::new(format!(
            "{} column {column}: expected {expected}, found {:?}",
            self.what,
            self.values.get(column)
        ))
    }

    /// An integer.
    pub(crate) fn int(&self, column: usize) -> Result<i64, DbError> {
        self.values
            .get(column)
            .and_then(Value::as_i64)
            .ok_or_else(|| self.bad(column, "an integer"))
    }

    /// An integer or NULL.
    pub(crate) fn opt_int(&self, column: usize) -> Result<Option<i64>, DbError> {
        match self.values.get(column) {
            Some(Value::Null) => Ok(None),
            _ => self.int(column).map(Some),
        }
    }

    /// A number or NULL.
    pub(crate) fn opt_real(&self, column: usize) -> Result<Option<f64>, DbError> {
        match self.values.get(column) {
            Some(Value::Null) => Ok(None),
            value => value
                .and_then(Value::as_f64)
                .map(Some)
                .ok_or_else(|| self.bad(column, "a number")),
        }
    }

    /// A text.
    pub(crate) fn text(&self, column: usize) -> Result<String, DbError> {
        self.values
            .get(column)
            .and_then(Value::as_text)
            .map(str::to_string)
            .ok_or_else(|| self.bad(column, "a text"))
    }

    /// A text or NULL.
    pub(crate) fn opt_text(&self, column: usize) -> Result<Option<String>, DbError> {
        match self.values.get(column) {
            Some(Value::Null) => Ok(None),
            _ => self.text(column).map(Some),
        }
    }

    /// A name of a vocabulary type.
    pub(crate) fn parse<T>(&self, column: usize) -> Result<T, DbError>
    where
        T: std::str::FromStr<Err = vocab::UnknownName>,
    {
        self.text(column)?
            .parse()
            .map_err(|e| DbError::new(format!("{} column {column}: {e}", self.what)))
    }

    /// A name of a vocabulary type, or NULL.
    pub(crate) fn opt_parse<T>(&self, column: usize) -> Result<Option<T>, DbError>
    where
        T: std::str::FromStr<Err = vocab::UnknownName>,
    {
        match self.values.get(column) {
            Some(Value::Null) => Ok(None),
            _ => self.parse(column).map(Some),
        }
    }
}

/// What kind of database error happened, which says what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Another connection holds the lock (`SQLITE_BUSY`, "database is locked"): try again
    /// shortly ([`transaction`] and [`Retrying`] do).
    Busy,
    /// Anything else: the operation failed.
    Other,
}

/// A database error, with the driver's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    kind: ErrorKind,
    message: String,
}

impl DbError {
    /// An error with the driver's message; its kind is read from the message (SQLite's
    /// "database is locked" and its relatives are [`ErrorKind::Busy`]), since Spin's SQLite
    /// interface reports errors as text.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        let lower = message.to_ascii_lowercase();
        let busy = [
            "database is locked",
            "database table is locked",
            "database is busy",
            "sqlite_busy",
            "sqlite_locked",
        ]
        .iter()
        .any(|needle| lower.contains(needle));
        Self {
            kind: if busy {
                ErrorKind::Busy
            } else {
                ErrorKind::Other
            },
            message,
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The driver's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database error: {}", self.message)
    }
}

impl std::error::Error for DbError {}

/// A SQLite connection: runs one statement with positional `?` parameters and returns the
/// rows (empty for statements without results).
pub trait Database {
    /// Runs `sql`.
    ///
    /// # Errors
    ///
    /// Whatever the driver reports.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, DbError>;

    /// Waits before trying a busy database again ([`transaction`], [`Retrying`]). Tests
    /// override it to run without waiting.
    fn pause(&self, duration: std::time::Duration) {
        std::thread::sleep(duration);
    }
}

/// Version 1 of the schema: the bot.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS processed_messages (
        channel TEXT NOT NULL, message_id TEXT NOT NULL, received_ms INTEGER NOT NULL,
        PRIMARY KEY (channel, message_id))",
    "CREATE TABLE IF NOT EXISTS conversations (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL, customer_id TEXT NOT NULL, business_id TEXT NOT NULL DEFAULT '',
        customer_name TEXT, language TEXT, status TEXT NOT NULL DEFAULT 'bot',
        misses INTEGER NOT NULL DEFAULT 0, out_of_scope_streak INTEGER NOT NULL DEFAULT 0,
        last_customer_ms INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,
        UNIQUE (channel, customer_id))",
    "CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL REFERENCES conversations(id),
        direction TEXT NOT NULL, author TEXT NOT NULL, text TEXT NOT NULL,
        intent TEXT, confidence REAL, anger REAL, language TEXT, created_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, created_ms)",
    "CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL REFERENCES conversations(id),
        channel TEXT NOT NULL, body TEXT NOT NULL, target TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL, lease_until_ms INTEGER NOT NULL DEFAULT 0,
        last_error TEXT, created_ms INTEGER NOT NULL, sent_ms INTEGER)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_ms)",
    "CREATE TABLE IF NOT EXISTS handoffs (
        id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL REFERENCES conversations(id),
        channel TEXT NOT NULL, reason TEXT NOT NULL, priority INTEGER NOT NULL, language TEXT,
        created_ms INTEGER NOT NULL, claimed_ms INTEGER, resolved_ms INTEGER, agent TEXT)",
    "CREATE INDEX IF NOT EXISTS handoffs_open ON handoffs (resolved_ms, priority, created_ms)",
];

/// The id an `INSERT ... RETURNING id` gave back.
fn returned_id(rows: &[Vec<Value>]) -> Result<i64, DbError> {
    rows.first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64)
        .ok_or_else(|| DbError::new("insert returned no id"))
}

/// Version 2: the agents' desk (agents, claims, notes, ratings).
const DESK_SCHEMA: &[&str] = &[
    "ALTER TABLE conversations ADD COLUMN awaiting_rating INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE handoffs ADD COLUMN note TEXT",
    "ALTER TABLE handoffs ADD COLUMN csat INTEGER",
    "ALTER TABLE handoffs ADD COLUMN first_reply_ms INTEGER",
    "CREATE TABLE IF NOT EXISTS agents (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
        disabled INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS conversations_by_created ON conversations (created_ms)",
    "CREATE UNIQUE INDEX IF NOT EXISTS handoffs_one_open ON handoffs (conversation_id) WHERE resolved_ms IS NULL",
];

/// Version 3: operations (settings such as crisis mode, audit events, erasure requests, and
/// the KPI times kept on the conversation when its messages are purged or erased).
const OPERATIONS_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS settings (
        key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_events (
        id INTEGER PRIMARY KEY, actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT,
        created_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS erasure_requests (
        id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL, channel TEXT NOT NULL,
        customer_id TEXT NOT NULL, created_ms INTEGER NOT NULL, done_ms INTEGER, done_by TEXT)",
    "CREATE UNIQUE INDEX IF NOT EXISTS erasure_requests_one_open ON erasure_requests (conversation_id) WHERE done_ms IS NULL",
    "ALTER TABLE conversations ADD COLUMN first_customer_ms INTEGER",
    "ALTER TABLE conversations ADD COLUMN first_bot_ms INTEGER",
    "CREATE INDEX IF NOT EXISTS messages_by_time ON messages (created_ms)",
];

/// Version 4: metrics (counters and latency histograms, see [`metrics`]).
const METRICS_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS metric_counters (
        name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (name, labels))",
    "CREATE TABLE IF NOT EXISTS metric_histograms (
        name TEXT NOT NULL, labels TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,
        sum REAL NOT NULL, PRIMARY KEY (name, labels, bucket))",
];

/// Version 5: the database file uses SQLite's write-ahead log. Nothing to create: the
/// switch happens in [`migrate`] before any migration runs (it cannot happen inside a
/// transaction); this version makes databases created before it switch too.
const WAL_SCHEMA: &[&str] = &[];

/// Version 7: web chat sessions (the server-issued identity of a web chat visitor, by the
/// SHA-256 of its token).
/// Also an index to purge processed message ids by age.
const WEB_SESSION_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS web_sessions (
        token_hash TEXT PRIMARY KEY, customer_id TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS processed_by_time ON processed_messages (received_ms)",
];

/// Version 8: request counters per key and one-minute window, for abuse limits that hold
/// across instances.
const RATE_LIMIT_SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS rate_limits (
        key TEXT PRIMARY KEY, window_ms INTEGER NOT NULL, count INTEGER NOT NULL)"];

/// The migrations in order; version `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&[&str]] = &[
    SCHEMA,
    DESK_SCHEMA,
    OPERATIONS_SCHEMA,
    METRICS_SCHEMA,
    WAL_SCHEMA,
    turn::TURN_SCHEMA,
    WEB_SESSION_SCHEMA,
    RATE_LIMIT_SCHEMA,
    learning::LEARNING_SCHEMA,
    saved_replies::SAVED_REPLIES_SCHEMA,
    customers::CUSTOMERS_SCHEMA,
    comments::COMMENTS_SCHEMA,
];

/// The schema version this code needs.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version, `None` on a database never migrated.
fn schema_version(db: &impl Database) -> Result<Option<i64>, DbError> {
    match db.execute("SELECT MAX(version) FROM schema_version", &[]) {
        Ok(rows) => Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_i64)),
        Err(e) if e.message().contains("no such table") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`]: one read when it is current (the common case,
/// at the start of every request); otherwise the missing migrations in one transaction, so
/// two instances starting at once apply each exactly once.
///
/// Before migrating it switches the database file to SQLite's write-ahead log, which the
/// file keeps: readers then never wait for the writer, and a commit is one append. The app
/// does this itself because a runtime need not (`spin up` creates the file with the
/// rollback journal). A database that cannot switch (a remote libSQL database manages its
/// own journal) stays as it is.
///
/// # Errors
///
/// A database error.
pub fn migrate(db: &impl Database) -> Result<(), DbError> {
    // A newer version: code being replaced by a newer deployment; its schema is a superset.
    if schema_version(db)?.is_some_and(|version| version >= SCHEMA_VERSION) {
        return Ok(());
    }
    if let Err(e) = db.execute("PRAGMA journal_mode = WAL", &[])
        && e.kind() == ErrorKind::Busy
    {
        return Err(e);
    }
    transaction(db, || {
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL DEFAULT 0)",
            &[],
        )?;
        let current = schema_version(db)?.unwrap_or(0);
        for (index, statements) in MIGRATIONS.iter().enumerate() {
            let version = index as i64 + 1;
            if version <= current {
                continue;
            }
            for statement in *statements {
                db.execute(statement, &[])?;
            }
            db.execute(
                "INSERT INTO schema_version (version) VALUES (?)",
                &[version.into()],
            )?;
        }
        Ok(())
    })
}

/// Claims a platform message id: `true` the first time, `false` for every redelivery, also
/// when two deliveries race (the primary key decides).
///
/// # Errors
///
/// A database error.
pub fn claim_message(
    db: &impl Database,
    channel: Channel,
    message_id: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let rows = db.execute(
        "INSERT INTO processed_messages (channel, message_id, received_ms) VALUES (?, ?, ?)
         ON CONFLICT (channel, message_id) DO NOTHING RETURNING message_id",
        &[channel.into(), message_id.into(), now_ms.into()],
    )?;
    Ok(!rows.is_empty())
}

/// A conversation row.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Row id.
    pub id: i64,
    /// Where it happens.
    pub channel: Channel,
    /// The customer on that channel.
    pub customer_id: String,
    /// Page id or WhatsApp phone number id.
    pub business_id: String,
    /// Profile name, when known.
    pub customer_name: Option<String>,
    /// The reply language, once known.
    pub language: Option<Lang>,
    /// Who handles it.
    pub status: Status,
    /// Low-confidence messages in a row.
    pub misses: i64,
    /// Out-of-scope messages in a row.
    pub out_of_scope_streak: i64,
    /// When the customer last wrote (the 24-hour window starts here).
    pub last_customer_ms: i64,
    /// The customer was asked to rate the human help.
    pub awaiting_rating: bool,
}

pub(crate) const CONVERSATION_COLUMNS: &str = "id, channel, customer_id, business_id, customer_name, language, status, misses, out_of_scope_streak, last_customer_ms, awaiting_rating";

pub(crate) fn conversation_from(row: &[Value]) -> Result<Conversation, DbError> {
    let row = Row::new(row, "conversation");
    Ok(Conversation {
        id: row.int(0)?,
        channel: row.parse(1)?,
        customer_id: row.text(2)?,
        business_id: row.text(3)?,
        customer_name: row.opt_text(4)?,
        language: row.opt_parse(5)?,
        status: row.parse(6)?,
        misses: row.int(7)?,
        out_of_scope_streak: row.int(8)?,
        last_customer_ms: row.int(9)?,
        awaiting_rating: row.int(10)? != 0,
    })
}

/// The conversation of this customer on this channel, created on first contact; refreshes
/// the business id, the name (when given) and the customer's last-message time.
///
/// # Errors
///
/// A database error.
pub fn touch_conversation(
    db: &impl Database,
    channel: Channel,
    customer_id: &str,
    business_id: &str,
    customer_name: Option<&str>,
    now_ms: i64,
) -> Result<Conversation, DbError> {
    let rows = db.execute(
        &format!(
            "INSERT INTO conversations (channel, customer_id, business_id, customer_name, last_customer_ms, created_ms)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (channel, customer_id) DO UPDATE SET
                business_id = excluded.business_id,
                customer_name = COALESCE(excluded.customer_name, conversations.customer_name),
                last_customer_ms = MAX(conversations.last_customer_ms, excluded.last_customer_ms)
             RETURNING {CONVERSATION_COLUMNS}"
        ),
        &[channel.into(), customer_id.into(), business_id.into(), customer_name.into(), now_ms.into(), now_ms.into()],
    )?;
    rows.first().map_or_else(
        || Err(DbError::new("upsert returned no row")),
        |r| conversation_from(r),
    )
}

/// A conversation by id.
///
/// # Errors
///
/// A database error.
pub fn conversation_by_id(db: &impl Database, id: i64) -> Result<Option<Conversation>, DbError> {
    let rows = db.execute(
        &format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?"),
        &[id.into()],
    )?;
    rows.first().map(|r| conversation_from(r)).transpose()
}

/// Stores the conversation's policy state.
///
/// # Errors
///
/// A database error.
pub fn save_state(db: &impl Database, conversation: &Conversation) -> Result<(), DbError> {
    db.execute(
        "UPDATE conversations SET language = ?, status = ?, misses = ?, out_of_scope_streak = ?, awaiting_rating = ? WHERE id = ?",
        &[
            conversation.language.into(),
            conversation.status.as_str().into(),
            conversation.misses.into(),
            conversation.out_of_scope_streak.into(),
            i64::from(conversation.awaiting_rating).into(),
            conversation.id.into(),
        ],
    )?;
    Ok(())
}

/// One message of a transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage<'a> {
    /// `in` (from the customer) or `out`.
    pub direction: &'a str,
    /// `customer`, `bot`, or `agent:<id>`.
    pub author: &'a str,
    /// The text (or a placeholder like `[image]`).
    pub text: &'a str,
    /// Detected intent, for incoming messages.
    pub intent: Option<&'a str>,
    /// Its confidence.
    pub confidence: Option<f64>,
    /// Anger score.
    pub anger: Option<f64>,
    /// Its language.
    pub language: Option<Lang>,
}

/// Appends a message to a conversation's transcript.
///
/// # Errors
///
/// A database error.
pub fn add_message(
    db: &impl Database,
    conversation_id: i64,
    message: &NewMessage<'_>,
    now_ms: i64,
) -> Result<i64, DbError> {
    add_messages(db, conversation_id, std::slice::from_ref(message), now_ms)?
        .first()
        .copied()
        .ok_or_else(|| DbError::new("insert returned no id"))
}

/// `VALUES (?, ?), (?, ?), ...`: `rows` groups of `columns` placeholders.
pub(crate) fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// Appends messages to a conversation's transcript in one statement, in order; returns
/// their ids in the same order.
///
/// # Errors
///
/// A database error.
pub fn add_messages(
    db: &impl Database,
    conversation_id: i64,
    messages: &[NewMessage<'_>],
    now_ms: i64,
) -> Result<Vec<i64>, DbError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let real = |v: Option<f64>| v.map_or(Value::Null, Value::Real);
    let params: Vec<Value> = messages
        .iter()
        .flat_map(|message| {
            [
                conversation_id.into(),
                message.direction.into(),
                message.author.into(),
                message.text.into(),
                message.intent.into(),
                real(message.confidence),
                real(message.anger),
                message.language.into(),
                now_ms.into(),
            ]
        })
        .collect();
    let rows = db.execute(
        &format!(
            "INSERT INTO messages (conversation_id, direction, author, text, intent, confidence, anger, language, created_ms)
             VALUES {} RETURNING id",
            placeholders(messages.len(), 9)
        ),
        &params,
    )?;
    let mut ids = rows
        .iter()
        .map(|row| returned_id(std::slice::from_ref(row)))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    if ids.len() != messages.len() {
        return Err(DbError::new("insert returned too few ids"));
    }
    Ok(ids)
}

/// A request waiting in the outbox to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbox {
    /// `messenger`, `whatsapp`, or `notify` (a handoff notification).
    pub channel: String,
    /// Where it goes: `me` for Messenger, the WhatsApp phone number id, or a URL.
    pub target: String,
    /// The JSON body.
    pub body: String,
}

/// Queues a Graph API request for delivery. `target` says where it goes (for example the
/// WhatsApp phone number id, or `me` for Messenger); `body` is the JSON body.
///
/// # Errors
///
/// A database error.
pub fn enqueue(
    db: &impl Database,
    conversation_id: i64,
    channel: &str,
    target: &str,
    body: &str,
    now_ms: i64,
) -> Result<i64, DbError> {
    let row = NewOutbox {
        channel: channel.to_string(),
        target: target.to_string(),
        body: body.to_string(),
    };
    enqueue_all(db, conversation_id, &[row], now_ms, 0, 0)?
        .first()
        .map(|delivery| delivery.id)
        .ok_or_else(|| DbError::new("insert returned no id"))
}

/// Queues requests for one conversation in one statement. With `lease_until_ms` in the
/// future the rows are reserved for the caller, who sends them itself right after the
/// transaction (no other sender takes them until then; if the caller dies, they are sent
/// after the lease). Returns them as [`Delivery`]s, in order; `last_customer_ms` is the
/// conversation's, for the messaging-window check.
///
/// # Errors
///
/// A database error.
pub fn enqueue_all(
    db: &impl Database,
    conversation_id: i64,
    rows: &[NewOutbox],
    now_ms: i64,
    lease_until_ms: i64,
    last_customer_ms: i64,
) -> Result<Vec<Delivery>, DbError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<Value> = rows
        .iter()
        .flat_map(|row| {
            [
                conversation_id.into(),
                row.channel.as_str().into(),
                row.target.as_str().into(),
                row.body.as_str().into(),
                now_ms.into(),
                now_ms.into(),
                lease_until_ms.into(),
            ]
        })
        .collect();
    let returned = db.execute(
        &format!(
            "INSERT INTO outbox (conversation_id, channel, target, body, next_attempt_ms, created_ms, lease_until_ms)
             VALUES {} RETURNING id",
            placeholders(rows.len(), 7)
        ),
        &params,
    )?;
    let mut ids = returned
        .iter()
        .map(|row| returned_id(std::slice::from_ref(row)))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    if ids.len() != rows.len() {
        return Err(DbError::new("insert returned too few ids"));
    }
    Ok(ids
        .into_iter()
        .zip(rows)
        .map(|(id, row)| Delivery {
            id,
            conversation_id,
            channel: row.channel.clone(),
            target: row.target.clone(),
            body: row.body.clone(),
            attempts: 0,
            last_customer_ms,
            lease_until_ms,
        })
        .collect())
}

/// An outbox row claimed for one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Row id.
    pub id: i64,
    /// The conversation it belongs to.
    pub conversation_id: i64,
    /// Channel.
    pub channel: String,
    /// Target (phone number id or `me`).
    pub target: String,
    /// JSON body.
    pub body: String,
    /// Attempts before this one.
    pub attempts: i64,
    /// When the conversation's customer last wrote (the messaging window starts there).
    pub last_customer_ms: i64,
    /// Until when the row is reserved for this attempt ([`renew_lease`] extends it; an
    /// outcome is recorded only while the reservation is still this one).
    pub lease_until_ms: i64,
}

/// When the first of the outbox rows `ids` that are still pending is due again (`None`
/// when none is pending): how long a sender that keeps retrying its own rows sleeps.
///
/// # Errors
///
/// A database error.
pub fn next_attempt_ms(db: &impl Database, ids: &[i64]) -> Result<Option<i64>, DbError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let placeholders = vec!["?"; ids.len()].join(", ");
    let params: Vec<Value> = ids.iter().map(|id| Value::from(*id)).collect();
    let rows = db.execute(
        &format!(
            "SELECT MIN(next_attempt_ms) FROM outbox WHERE state = 'pending' AND id IN ({placeholders})"
        ),
        &params,
    )?;
    match rows.first() {
        Some(row) => Row::new(row, "next outbox attempt").opt_int(0),
        None => Err(DbError::new("no row from an aggregate query")),
    }
}

/// Stores a new web chat session: the hash of its token and the customer id it stands for.
///
/// # Errors
///
/// A database error (also for a hash or customer id already stored).
pub fn create_web_session(
    db: &impl Database,
    token_hash: &str,
    customer_id: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO web_sessions (token_hash, customer_id, created_ms) VALUES (?, ?, ?)",
        &[token_hash.into(), customer_id.into(), now_ms.into()],
    )?;
    Ok(())
}

/// The customer id of the web chat session whose token hashes to `token_hash`, if any.
///
/// # Errors
///
/// A database error.
pub fn web_session_customer(
    db: &impl Database,
    token_hash: &str,
) -> Result<Option<String>, DbError> {
    match db
        .execute(
            "SELECT customer_id FROM web_sessions WHERE token_hash = ?",
            &[token_hash.into()],
        )?
        .first()
    {
        Some(row) => Row::new(row, "web session").text(0).map(Some),
        None => Ok(None),
    }
}

/// Counts one request against each of `keys` in the window starting at `window_ms` (a
/// counter from an earlier window starts again at 1), in one statement; returns the counts,
/// in the order of `keys`.
///
/// # Errors
///
/// A database error.
pub fn count_requests(
    db: &impl Database,
    keys: &[&str],
    window_ms: i64,
) -> Result<Vec<i64>, DbError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<Value> = keys
        .iter()
        .flat_map(|key| [Value::from(*key), Value::from(window_ms)])
        .collect();
    let rows = db.execute(
        &format!(
            "INSERT INTO rate_limits (key, window_ms, count) VALUES {}
             ON CONFLICT (key) DO UPDATE SET
                 count = CASE WHEN window_ms = excluded.window_ms THEN count + 1 ELSE 1 END,
                 window_ms = excluded.window_ms
             RETURNING key, count",
            vec!["(?, ?, 1)"; keys.len()].join(", ")
        ),
        &params,
    )?;
    let mut counts = Vec::with_capacity(keys.len());
    for key in keys {
        let row = rows
            .iter()
            .find(|row| row.first().and_then(Value::as_text) == Some(*key))
            .ok_or_else(|| DbError::new(format!("no count returned for rate limit key {key}")))?;
        counts.push(Row::new(row, "rate limit").int(1)?);
    }
    Ok(counts)
}

/// The count of `key` in the window starting at `window_ms` (0 if none), without counting.
///
/// # Errors
///
/// A database error.
pub fn requests_counted(db: &impl Database, key: &str, window_ms: i64) -> Result<i64, DbError> {
    match db
        .execute(
            "SELECT count FROM rate_limits WHERE key = ? AND window_ms = ?",
            &[key.into(), window_ms.into()],
        )?
        .first()
    {
        Some(row) => Row::new(row, "rate limit").int(0),
        None => Ok(0),
    }
}

/// Whether any delivery is due now (a read, so that a request with nothing to deliver
/// takes no write lock).
///
/// # Errors
///
/// A database error.
pub fn any_due(db: &impl Database, now_ms: i64) -> Result<bool, DbError> {
    Ok(!db
        .execute(
            "SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt_ms <= ? AND lease_until_ms <= ? LIMIT 1",
            &[now_ms.into(), now_ms.into()],
        )?
        .is_empty())
}

/// Claims up to `limit` due deliveries for `lease_ms` (another instance will not take them
/// while the lease lasts; an attempt that dies without reporting is retried after it).
///
/// # Errors
///
/// A database error, also for a claimed row that does not decode (it stays leased and is
/// tried again after the lease).
pub fn claim_due(
    db: &impl Database,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Delivery>, DbError> {
    let rows = db.execute(
        "UPDATE outbox SET lease_until_ms = ?
         WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_ms <= ? AND lease_until_ms <= ?
                      ORDER BY id LIMIT ?)
         RETURNING id, channel, target, body, attempts, conversation_id,
                   (SELECT last_customer_ms FROM conversations WHERE conversations.id = outbox.conversation_id)",
        &[(now_ms + lease_ms).into(), now_ms.into(), now_ms.into(), limit.into()],
    )?;
    let mut out = rows
        .iter()
        .map(|r| {
            let bad = || DbError::new("unexpected outbox row");
            let text = |i: usize| {
                r.get(i)
                    .and_then(Value::as_text)
                    .map(str::to_string)
                    .ok_or_else(bad)
            };
            let int = |i: usize| r.get(i).and_then(Value::as_i64).ok_or_else(bad);
            Ok(Delivery {
                id: int(0)?,
                channel: text(1)?,
                target: text(2)?,
                body: text(3)?,
                attempts: int(4)?,
                conversation_id: int(5)?,
                last_customer_ms: int(6)?,
                lease_until_ms: now_ms + lease_ms,
            })
        })
        .collect::<Result<Vec<Delivery>, DbError>>()?;
    out.sort_by_key(|d| d.id);
    Ok(out)
}

/// Extends a claimed row's reservation to `until_ms`, if it is still this one (another sender
/// may have claimed the row after the reservation ran out); returns whether it was.
///
/// # Errors
///
/// A database error.
pub fn renew_lease(
    db: &impl Database,
    delivery: &mut Delivery,
    until_ms: i64,
) -> Result<bool, DbError> {
    let renewed = !db
        .execute(
            "UPDATE outbox SET lease_until_ms = ? WHERE id = ? AND lease_until_ms = ? AND state = 'pending' RETURNING id",
            &[until_ms.into(), delivery.id.into(), delivery.lease_until_ms.into()],
        )?
        .is_empty();
    if renewed {
        delivery.lease_until_ms = until_ms;
    }
    Ok(renewed)
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted by the Graph API.
    Sent,
    /// Worth retrying (5xx, 429, time-out, connection refused).
    Retry(String),
    /// Will never succeed (4xx other than 429): kept, visible to operators.
    Failed(String),
}

/// The first retry's delay unless the operator sets another (`retry_backoff_ms`).
pub const DEFAULT_BACKOFF_MS: i64 = 2_000;

/// The longest delay between two attempts.
pub const MAX_BACKOFF_MS: i64 = 600_000;

/// After this many attempts a row that keeps failing for now is given up (`failed`, the
/// dead-letter state operators see and can re-queue): with the default back-off about two
/// hours of trying.
pub const MAX_ATTEMPTS: i64 = 20;

/// The delay before retry number `attempts` (1-based): `base_ms` doubling per attempt, at
/// most [`MAX_BACKOFF_MS`].
pub fn backoff_ms(attempts: i64, base_ms: i64) -> i64 {
    let exponent = attempts.clamp(1, 20) - 1;
    (base_ms.clamp(1, MAX_BACKOFF_MS) << exponent).min(MAX_BACKOFF_MS)
}

/// Records the outcome of an attempt on a claimed delivery, if the row is still reserved for
/// it; a retry is due after [`backoff_ms`] from `backoff_base_ms`.
///
/// # Errors
///
/// A database error.
pub fn record_outcome(
    db: &impl Database,
    delivery: &Delivery,
    outcome: &Outcome,
    now_ms: i64,
    backoff_base_ms: i64,
) -> Result<(), DbError> {
    let attempts = delivery.attempts + 1;
    match outcome {
        Outcome::Sent => db.execute(
            "UPDATE outbox SET state = 'sent', attempts = ?, sent_ms = ?, lease_until_ms = 0, last_error = NULL WHERE id = ? AND lease_until_ms = ?",
            &[attempts.into(), now_ms.into(), delivery.id.into(), delivery.lease_until_ms.into()],
        ),
        Outcome::Retry(error) if attempts >= MAX_ATTEMPTS => db.execute(
            "UPDATE outbox SET state = 'failed', attempts = ?, lease_until_ms = 0, last_error = ? WHERE id = ? AND lease_until_ms = ?",
            &[attempts.into(), Value::Text(format!("gave up after {attempts} attempts: {error}")), delivery.id.into(), delivery.lease_until_ms.into()],
        ),
        Outcome::Retry(error) => db.execute(
            "UPDATE outbox SET attempts = ?, next_attempt_ms = ?, lease_until_ms = 0, last_error = ? WHERE id = ? AND lease_until_ms = ?",
            &[attempts.into(), (now_ms + backoff_ms(attempts, backoff_base_ms)).into(), error.as_str().into(), delivery.id.into(), delivery.lease_until_ms.into()],
        ),
        Outcome::Failed(error) => db.execute(
            "UPDATE outbox SET state = 'failed', attempts = ?, lease_until_ms = 0, last_error = ? WHERE id = ? AND lease_until_ms = ?",
            &[attempts.into(), error.as_str().into(), delivery.id.into(), delivery.lease_until_ms.into()],
        ),
    }?;
    Ok(())
}

/// Records the outcomes of a delivery run: the sent rows with one statement, the others
/// one by one (see [`record_outcome`]).
///
/// # Errors
///
/// A database error.
pub fn record_outcomes(
    db: &impl Database,
    outcomes: &[(Delivery, Outcome)],
    now_ms: i64,
    backoff_base_ms: i64,
) -> Result<(), DbError> {
    let sent: Vec<&Delivery> = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome == Outcome::Sent)
        .map(|(delivery, _)| delivery)
        .collect();
    if !sent.is_empty() {
        let mut params = vec![Value::from(now_ms)];
        params.extend(
            sent.iter()
                .flat_map(|d| [Value::from(d.id), Value::from(d.lease_until_ms)]),
        );
        db.execute(
            &format!(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_ms = ?, lease_until_ms = 0, last_error = NULL
                 WHERE (id, lease_until_ms) IN (VALUES {})",
                placeholders(sent.len(), 2)
            ),
            &params,
        )?;
    }
    for (delivery, outcome) in outcomes {
        if *outcome != Outcome::Sent {
            record_outcome(db, delivery, outcome, now_ms, backoff_base_ms)?;
        }
    }
    Ok(())
}

/// Queues failed outbox rows again (all of them, or those of `ids`), due at `now_ms` with
/// their attempts reset: after an operator fixed what made them fail (an expired token, a
/// wrong recipient). Returns how many were queued; the messaging window is checked again
/// when each is sent.
///
/// # Errors
///
/// A database error.
pub fn requeue_failed(
    db: &impl Database,
    ids: Option<&[i64]>,
    now_ms: i64,
) -> Result<usize, DbError> {
    let mut params = vec![Value::from(now_ms)];
    let only = match ids {
        None => String::new(),
        Some(ids) => {
            params.extend(ids.iter().map(|id| Value::from(*id)));
            format!(" AND id IN ({})", vec!["?"; ids.len()].join(", "))
        }
    };
    if ids.is_some_and(<[i64]>::is_empty) {
        return Ok(0);
    }
    let rows = db.execute(
        &format!(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?, lease_until_ms = 0
             WHERE state = 'failed'{only} RETURNING id"
        ),
        &params,
    )?;
    Ok(rows.len())
}

/// Counts outbox rows by state (`pending`, `sent`, `failed`), for operators.
///
/// # Errors
///
/// A database error.
pub fn outbox_counts(db: &impl Database) -> Result<Vec<(String, i64)>, DbError> {
    let rows = db.execute(
        "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            let row = Row::new(r, "outbox count");
            Ok((row.text(0)?, row.int(1)?))
        })
        .collect()
}

/// An outbox row that needs an operator's eye: failed for good, or pending after failed
/// attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxProblem {
    /// Row id.
    pub id: i64,
    /// The conversation it belongs to.
    pub conversation_id: i64,
    /// Channel.
    pub channel: String,
    /// `failed` or `pending`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last error.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending rows).
    pub next_attempt_ms: i64,
    /// When it was queued.
    pub created_ms: i64,
}

/// The newest `limit` outbox rows that failed for good or are waiting for a retry.
///
/// # Errors
///
/// A database error.
pub fn outbox_problems(db: &impl Database, limit: i64) -> Result<Vec<OutboxProblem>, DbError> {
    let rows = db.execute(
        "SELECT id, conversation_id, channel, state, attempts, last_error, next_attempt_ms, created_ms
         FROM outbox WHERE state = 'failed' OR (state = 'pending' AND attempts > 0)
         ORDER BY id DESC LIMIT ?",
        &[limit.into()],
    )?;
    rows.iter()
        .map(|r| {
            let row = Row::new(r, "outbox problem");
            Ok(OutboxProblem {
                id: row.int(0)?,
                conversation_id: row.int(1)?,
                channel: row.text(2)?,
                state: row.text(3)?,
                attempts: row.int(4)?,
                last_error: row.opt_text(5)?,
                next_attempt_ms: row.int(6)?,
                created_ms: row.int(7)?,
            })
        })
        .collect()
}

/// A conversation waiting for (or with) a human.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHandoff {
    /// The conversation.
    pub conversation_id: i64,
    /// Its channel.
    pub channel: Channel,
    /// Why.
    pub reason: HandoffReason,
    /// The customer's anger, 0..1.
    pub anger: f64,
    /// The conversation's language.
    pub language: Option<Lang>,
}

/// Puts a conversation in the human queue unless it already has an open handoff (the unique
/// index `handoffs_one_open` decides, so racing requests cannot open two). Returns the new
/// handoff's id, or `None` when one was already open.
///
/// # Errors
///
/// A database error.
pub fn start_handoff(
    db: &impl Database,
    handoff: &NewHandoff,
    now_ms: i64,
) -> Result<Option<i64>, DbError> {
    let rows = db.execute(
        "INSERT INTO handoffs (conversation_id, channel, reason, priority, language, created_ms)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        &[
            handoff.conversation_id.into(),
            handoff.channel.into(),
            handoff.reason.as_str().into(),
            // A public comment is urgent: others read it too.
            (handoff.reason.priority(handoff.anger)
                + if handoff.channel.is_comments() { 2 } else { 0 })
            .into(),
            handoff.language.into(),
            now_ms.into(),
        ],
    )?;
    Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_i64))
}

/// Puts a conversation in the human queue (once: a conversation with an open handoff keeps
/// it). Returns the handoff's id, new or open.
///
/// # Errors
///
/// A database error.
pub fn enqueue_handoff(
    db: &impl Database,
    handoff: &NewHandoff,
    now_ms: i64,
) -> Result<i64, DbError> {
    if let Some(id) = start_handoff(db, handoff, now_ms)? {
        return Ok(id);
    }
    let open = db.execute(
        "SELECT id FROM handoffs WHERE conversation_id = ? AND resolved_ms IS NULL",
        &[handoff.conversation_id.into()],
    )?;
    returned_id(&open)
}

/// The handling time assumed until enough handoffs have been resolved to measure it.
pub const DEFAULT_HANDLING_MINUTES: f64 = 5.0;

/// The estimated wait for a new handoff, in minutes: the unclaimed handoffs ahead times the
/// average handling time of the last 20 resolved ones (or [`DEFAULT_HANDLING_MINUTES`]),
/// at least 1.
///
/// # Errors
///
/// A database error.
pub fn estimated_wait_minutes(db: &impl Database) -> Result<u32, DbError> {
    // One statement: the waiting count on every row, with one recent handling time each.
    let rows = db.execute(
        "SELECT (SELECT COUNT(*) FROM handoffs WHERE agent IS NULL AND resolved_ms IS NULL), d
         FROM (SELECT NULL AS d UNION ALL
               SELECT * FROM (SELECT resolved_ms - created_ms FROM handoffs WHERE resolved_ms IS NOT NULL
                              ORDER BY resolved_ms DESC LIMIT 20))",
        &[],
    )?;
    let mut waiting = 0;
    let mut durations = Vec::new();
    for r in &rows {
        let row = Row::new(r, "estimated wait");
        waiting = row.int(0)?;
        durations.extend(row.opt_int(1)?);
    }
    let average = if durations.is_empty() {
        DEFAULT_HANDLING_MINUTES
    } else {
        durations.iter().sum::<i64>() as f64 / durations.len() as f64 / 60_000.0
    };
    Ok(((waiting as f64 + 1.0) * average)
        .ceil()
        .clamp(1.0, 24.0 * 60.0) as u32)
}
