//! A customer's message and everything it causes, written with **one statement**.
//!
//! Under Spin every SQLite statement is a call out of the component and back (about 0.15 ms,
//! against 0.02 ms in-process), and every write transaction holds the database's single
//! write lock from `BEGIN` to `COMMIT`. So the hot path does one read and one write:
//!
//! 1. [`context`] reads what the decision needs in one `SELECT`: the schema version, the
//!    crisis switch, whether the message was already handled, the conversation (with its
//!    `version`) and whether it has an open handoff;
//! 2. the caller decides (the policy is pure) and [`write_turn`] stores the outcome with one
//!    `INSERT` into the view `turns`, whose trigger does the rest atomically: the dedupe
//!    claim, the conversation's new state (refused if its `version` moved since step 1), the
//!    transcript, the outbox rows (leased to the caller), a handoff, an erasure request, a
//!    rating and the metrics. A lock is held for that one statement only.
//!
//! Every change to a conversation's state or its handoffs bumps `conversations.version`
//! (triggers), so a decision made from a stale read is never stored: the caller reads again
//! and decides again ([`TurnWritten::Changed`]).

use crate::metrics::Batch;
use crate::{
    Conversation, Database, DbError, Delivery, NewMessage, NewOutbox, Value, conversation_from,
};

/// Version 6 of the schema: conversation versions, turn keys on outbox rows, and the views
/// whose triggers write a turn, delivery outcomes and metrics in one statement each.
pub(crate) const TURN_SCHEMA: &[&str] = &[
    "ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE outbox ADD COLUMN turn TEXT",
    "ALTER TABLE outbox ADD COLUMN seq INTEGER",
    "CREATE INDEX IF NOT EXISTS outbox_by_turn ON outbox (turn) WHERE turn IS NOT NULL",
    "CREATE TRIGGER IF NOT EXISTS conversations_version
        AFTER UPDATE OF status, language, misses, out_of_scope_streak, awaiting_rating ON conversations
        BEGIN UPDATE conversations SET version = version + 1 WHERE id = NEW.id; END",
    "CREATE TRIGGER IF NOT EXISTS handoffs_insert_version AFTER INSERT ON handoffs
        BEGIN UPDATE conversations SET version = version + 1 WHERE id = NEW.conversation_id; END",
    "CREATE TRIGGER IF NOT EXISTS handoffs_update_version AFTER UPDATE ON handoffs
        BEGIN UPDATE conversations SET version = version + 1 WHERE id = NEW.conversation_id; END",
    // Metric updates as JSON: counters [[name, labels, delta]], buckets [[name, labels,
    // bucket, count, sum]].
    "CREATE VIEW IF NOT EXISTS metric_updates AS SELECT NULL AS counters, NULL AS buckets WHERE 0",
    "CREATE TRIGGER IF NOT EXISTS metric_updates_write INSTEAD OF INSERT ON metric_updates BEGIN
        INSERT INTO metric_counters (name, labels, value)
            SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
            FROM json_each(COALESCE(NEW.counters, '[]')) WHERE true
            ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value;
        INSERT INTO metric_histograms (name, labels, bucket, count, sum)
            SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                   json_extract(value, '$[3]'), json_extract(value, '$[4]')
            FROM json_each(COALESCE(NEW.buckets, '[]')) WHERE true
            ON CONFLICT (name, labels, bucket) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum;
    END",
    "CREATE VIEW IF NOT EXISTS turns AS SELECT
        NULL AS channel, NULL AS message_id, NULL AS customer_id, NULL AS business_id,
        NULL AS customer_name, NULL AS customer_ms, NULL AS now_ms, NULL AS expected_version,
        NULL AS language, NULL AS status, NULL AS misses, NULL AS out_of_scope_streak,
        NULL AS awaiting_rating, NULL AS messages, NULL AS outbox, NULL AS lease_until_ms,
        NULL AS handoff_reason, NULL AS handoff_priority, NULL AS handoff_language,
        NULL AS erasure, NULL AS rating, NULL AS counters, NULL AS buckets
        WHERE 0",
    "CREATE TRIGGER IF NOT EXISTS turns_write INSTEAD OF INSERT ON turns BEGIN
        INSERT INTO processed_messages (channel, message_id, received_ms)
            SELECT NEW.channel, NEW.message_id, NEW.now_ms WHERE NEW.message_id IS NOT NULL;
        SELECT RAISE(ABORT, 'conversation changed since it was read')
            WHERE (SELECT version FROM conversations
                   WHERE channel = NEW.channel AND customer_id = NEW.customer_id) IS NOT NEW.expected_version;
        INSERT INTO conversations (channel, customer_id, business_id, customer_name, last_customer_ms,
                                   created_ms, language, status, misses, out_of_scope_streak, awaiting_rating)
            VALUES (NEW.channel, NEW.customer_id, NEW.business_id, NEW.customer_name, NEW.customer_ms,
                    NEW.customer_ms, NEW.language, NEW.status, NEW.misses, NEW.out_of_scope_streak,
                    NEW.awaiting_rating)
            ON CONFLICT (channel, customer_id) DO UPDATE SET
                business_id = excluded.business_id,
                customer_name = COALESCE(excluded.customer_name, conversations.customer_name),
                last_customer_ms = MAX(conversations.last_customer_ms, excluded.last_customer_ms),
                language = excluded.language, status = excluded.status, misses = excluded.misses,
                out_of_scope_streak = excluded.out_of_scope_streak,
                awaiting_rating = excluded.awaiting_rating;
        INSERT INTO messages (conversation_id, direction, author, text, intent, confidence, anger, language, created_ms)
            SELECT c.id, json_extract(m.value, '$.direction'), json_extract(m.value, '$.author'),
                   json_extract(m.value, '$.text'), json_extract(m.value, '$.intent'),
                   json_extract(m.value, '$.confidence'), json_extract(m.value, '$.anger'),
                   json_extract(m.value, '$.language'), NEW.now_ms
            FROM conversations c, json_each(NEW.messages) m
            WHERE c.channel = NEW.channel AND c.customer_id = NEW.customer_id ORDER BY m.key;
        INSERT INTO handoffs (conversation_id, channel, reason, priority, language, created_ms)
            SELECT c.id, c.channel, NEW.handoff_reason, NEW.handoff_priority, NEW.handoff_language, NEW.now_ms
            FROM conversations c
            WHERE NEW.handoff_reason IS NOT NULL AND c.channel = NEW.channel AND c.customer_id = NEW.customer_id
            ON CONFLICT DO NOTHING;
        INSERT INTO erasure_requests (conversation_id, channel, customer_id, created_ms)
            SELECT c.id, c.channel, c.customer_id, NEW.now_ms FROM conversations c
            WHERE NEW.erasure AND c.channel = NEW.channel AND c.customer_id = NEW.customer_id
            ON CONFLICT DO NOTHING;
        UPDATE handoffs SET csat = NEW.rating WHERE NEW.rating IS NOT NULL AND id = (
            SELECT h.id FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
            WHERE c.channel = NEW.channel AND c.customer_id = NEW.customer_id AND h.resolved_ms IS NOT NULL
            ORDER BY h.resolved_ms DESC, h.id DESC LIMIT 1);
        INSERT INTO outbox (conversation_id, channel, target, body, next_attempt_ms, created_ms,
                            lease_until_ms, turn, seq)
            SELECT c.id, json_extract(o.value, '$.channel'), json_extract(o.value, '$.target'),
                   CASE WHEN json_extract(o.value, '$.notification')
                        THEN json_set(json_extract(o.value, '$.body'),
                                      '$.conversation_id', CAST(c.id AS TEXT), '$.desk_path', '/desk/#' || c.id)
                        ELSE json_extract(o.value, '$.body') END,
                   NEW.now_ms, NEW.now_ms, NEW.lease_until_ms, NEW.channel || ':' || NEW.message_id, o.key
            FROM conversations c, json_each(NEW.outbox) o
            WHERE c.channel = NEW.channel AND c.customer_id = NEW.customer_id ORDER BY o.key;
        INSERT INTO metric_updates (counters, buckets) VALUES (NEW.counters, NEW.buckets);
    END",
    // Outcomes of a delivery run as JSON: [{id, state, next_attempt_ms?, error?}].
    "CREATE VIEW IF NOT EXISTS delivery_outcomes AS SELECT
        NULL AS outcomes, NULL AS now_ms, NULL AS counters WHERE 0",
    "CREATE TRIGGER IF NOT EXISTS delivery_outcomes_write INSTEAD OF INSERT ON delivery_outcomes BEGIN
        UPDATE outbox SET
            state = json_extract(o.value, '$.state'),
            attempts = outbox.attempts + 1,
            next_attempt_ms = COALESCE(json_extract(o.value, '$.next_attempt_ms'), outbox.next_attempt_ms),
            sent_ms = CASE WHEN json_extract(o.value, '$.state') = 'sent' THEN NEW.now_ms ELSE outbox.sent_ms END,
            lease_until_ms = 0,
            last_error = json_extract(o.value, '$.error')
        FROM json_each(NEW.outcomes) o WHERE outbox.id = json_extract(o.value, '$.id');
        INSERT INTO metric_updates (counters, buckets) VALUES (NEW.counters, NULL);
    END",
];

/// What a decision about one customer message needs, read in one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The schema version of the database (`None` before the first migration).
    pub schema_version: Option<i64>,
    /// The crisis switch as stored (`settings.crisis_mode`).
    pub crisis_mode: Option<String>,
    /// The crisis holding message as stored.
    pub crisis_message: Option<String>,
    /// The message id was already handled (a redelivery).
    pub processed: bool,
    /// The customer's conversation, if there is one, with its version.
    pub conversation: Option<(Conversation, i64)>,
    /// The conversation has a handoff that is not resolved.
    pub open_handoff: bool,
}

/// Reads the [`Context`] of a message `message_id` from `customer_id` on `channel`.
///
/// # Errors
///
/// A database error; on a database whose schema is older than this code, the error of the
/// missing table or column (run [`crate::migrate`], then read again; see [`context_migrated`]).
pub fn context(
    db: &impl Database,
    channel: &str,
    customer_id: &str,
    message_id: Option<&str>,
) -> Result<Context, DbError> {
    let rows = db.execute(
        &format!(
            "SELECT (SELECT MAX(version) FROM schema_version),
                    (SELECT value FROM settings WHERE key = 'crisis_mode'),
                    (SELECT value FROM settings WHERE key = 'crisis_message'),
                    EXISTS (SELECT 1 FROM processed_messages WHERE channel = ?1 AND message_id = ?2),
                    EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id AND h.resolved_ms IS NULL),
                    c.version, {}
             FROM (SELECT 1) LEFT JOIN conversations c ON c.channel = ?1 AND c.customer_id = ?3",
            crate::CONVERSATION_COLUMNS
                .split(", ")
                .map(|column| format!("c.{column}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        &[channel.into(), message_id.into(), customer_id.into()],
    )?;
    let row = rows
        .first()
        .ok_or_else(|| DbError::new("the context query returned no row"))?;
    let text = |i: usize| row.get(i).and_then(Value::as_text).map(str::to_string);
    let flag = |i: usize| row.get(i).and_then(Value::as_i64).is_some_and(|v| v != 0);
    let conversation = match row.get(5).and_then(Value::as_i64) {
        Some(version) => Some((conversation_from(&row[6..])?, version)),
        None => None,
    };
    Ok(Context {
        schema_version: row.first().and_then(Value::as_i64),
        crisis_mode: text(1),
        crisis_message: text(2),
        processed: flag(3),
        conversation,
        open_handoff: flag(4),
    })
}

/// As [`context`], bringing the schema up to date first when the database is older than
/// this code (the first request after a deployment, or on a new database).
///
/// # Errors
///
/// A database error.
pub fn context_migrated(
    db: &impl Database,
    channel: &str,
    customer_id: &str,
    message_id: Option<&str>,
) -> Result<Context, DbError> {
    match context(db, channel, customer_id, message_id) {
        Ok(found) if found.schema_version == Some(crate::SCHEMA_VERSION) => Ok(found),
        Ok(_) => {
            crate::migrate(db)?;
            context(db, channel, customer_id, message_id)
        }
        Err(e)
            if e.message().contains("no such table") || e.message().contains("no such column") =>
        {
            crate::migrate(db)?;
            context(db, channel, customer_id, message_id)
        }
        Err(e) => Err(e),
    }
}

/// A handoff to open with a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnHandoff<'a> {
    /// Why.
    pub reason: &'a str,
    /// The customer's anger, 0..1 (raises the priority).
    pub anger: f64,
    /// The conversation's language code.
    pub language: Option<&'a str>,
}

/// An outbox row of a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnOutbox {
    /// The request.
    pub row: NewOutbox,
    /// A handoff notification: its body's `conversation_id` and `desk_path` are filled in
    /// when it is stored (a new conversation has no id before).
    pub notification: bool,
}

/// Everything one customer message causes, for [`write_turn`].
#[derive(Debug, Clone, PartialEq)]
pub struct Turn<'a> {
    /// `messenger`, `whatsapp` or `webchat`.
    pub channel: &'a str,
    /// The platform's message id (the dedupe key); `None` where there is none (web chat).
    pub message_id: Option<&'a str>,
    /// The customer on that channel.
    pub customer_id: &'a str,
    /// Page id or WhatsApp phone number id.
    pub business_id: &'a str,
    /// Profile name, when known.
    pub customer_name: Option<&'a str>,
    /// When the customer wrote (the 24-hour window starts there).
    pub customer_ms: i64,
    /// Now.
    pub now_ms: i64,
    /// The conversation's version the decision was made from; `None` for a new one.
    pub expected_version: Option<i64>,
    /// The conversation's new state (`language`, `status`, `misses`, `out_of_scope_streak`,
    /// `awaiting_rating` are taken from it).
    pub state: &'a Conversation,
    /// The customer's message and the bot's replies, in order.
    pub messages: &'a [NewMessage<'a>],
    /// Requests to send, in order (leased to the caller until `lease_until_ms`).
    pub outbox: &'a [TurnOutbox],
    /// When the caller's lease on the outbox rows ends.
    pub lease_until_ms: i64,
    /// A handoff to open (nothing happens if one is open).
    pub handoff: Option<TurnHandoff<'a>>,
    /// Open an erasure request (nothing happens if one is open).
    pub erasure: bool,
    /// A 1–5 rating of the last resolved handoff.
    pub rating: Option<u8>,
    /// Metric updates.
    pub metrics: &'a Batch,
}

/// What [`write_turn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnWritten {
    /// Stored.
    Stored,
    /// The message id was handled before (a redelivery, perhaps a concurrent one): nothing
    /// was written.
    Redelivery,
    /// The conversation changed since it was read: nothing was written; read and decide
    /// again.
    Changed,
}

/// The turn key of a message's outbox rows (`outbox.turn`).
pub fn turn_key(channel: &str, message_id: &str) -> String {
    format!("{channel}:{message_id}")
}

/// Stores a turn with one statement (see the module documentation).
///
/// # Errors
///
/// A database error other than the two expected refusals (redelivery, changed).
pub fn write_turn(db: &impl Database, turn: &Turn<'_>) -> Result<TurnWritten, DbError> {
    let messages: Vec<serde_json::Value> = turn
        .messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "direction": m.direction, "author": m.author, "text": m.text, "intent": m.intent,
                "confidence": m.confidence, "anger": m.anger, "language": m.language,
            })
        })
        .collect();
    let outbox: Vec<serde_json::Value> = turn
        .outbox
        .iter()
        .map(|o| {
            serde_json::json!({
                "channel": o.row.channel, "target": o.row.target, "body": o.row.body,
                "notification": o.notification,
            })
        })
        .collect();
    let (counters, buckets) = turn.metrics.to_json();
    let state = turn.state;
    let handoff = turn.handoff.as_ref();
    let result = db.execute(
        "INSERT INTO turns (channel, message_id, customer_id, business_id, customer_name, customer_ms,
                            now_ms, expected_version, language, status, misses, out_of_scope_streak,
                            awaiting_rating, messages, outbox, lease_until_ms, handoff_reason,
                            handoff_priority, handoff_language, erasure, rating, counters, buckets)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            turn.channel.into(),
            turn.message_id.into(),
            turn.customer_id.into(),
            turn.business_id.into(),
            turn.customer_name.into(),
            turn.customer_ms.into(),
            turn.now_ms.into(),
            turn.expected_version.map_or(Value::Null, Value::Integer),
            state.language.as_deref().into(),
            state.status.as_str().into(),
            state.misses.into(),
            state.out_of_scope_streak.into(),
            i64::from(state.awaiting_rating).into(),
            serde_json::Value::from(messages).to_string().as_str().into(),
            serde_json::Value::from(outbox).to_string().as_str().into(),
            turn.lease_until_ms.into(),
            handoff.map(|h| h.reason).into(),
            handoff.map_or(Value::Null, |h| {
                Value::Integer(crate::handoff_priority(h.reason, h.anger))
            }),
            handoff.and_then(|h| h.language).into(),
            i64::from(turn.erasure).into(),
            turn.rating.map_or(Value::Null, |r| Value::Integer(i64::from(r))),
            counters.as_str().into(),
            buckets.as_str().into(),
        ],
    );
    match result {
        Ok(_) => Ok(TurnWritten::Stored),
        Err(e)
            if e.message()
                .contains("UNIQUE constraint failed: processed_messages") =>
        {
            Ok(TurnWritten::Redelivery)
        }
        Err(e)
            if e.message()
                .contains("conversation changed since it was read") =>
        {
            Ok(TurnWritten::Changed)
        }
        Err(e) => Err(e),
    }
}

/// A customer's conversation id and the id of its last message.
///
/// # Errors
///
/// A database error, or no such conversation.
pub fn last_message(
    db: &impl Database,
    channel: &str,
    customer_id: &str,
) -> Result<(i64, i64), DbError> {
    let rows = db.execute(
        "SELECT c.id, (SELECT MAX(id) FROM messages WHERE conversation_id = c.id)
         FROM conversations c WHERE c.channel = ? AND c.customer_id = ?",
        &[channel.into(), customer_id.into()],
    )?;
    let row = rows
        .first()
        .ok_or_else(|| DbError::new("no such conversation"))?;
    match (
        row.first().and_then(Value::as_i64),
        row.get(1).and_then(Value::as_i64),
    ) {
        (Some(id), Some(last)) => Ok((id, last)),
        _ => Err(DbError::new("unexpected conversation row")),
    }
}

/// The outbox rows of turns (by [`turn_key`]), in order, and whether any other row is due
/// now: what a request delivers after it answered, found with one read.
///
/// # Errors
///
/// A database error, or a row that does not decode.
pub fn turn_rows_and_due(
    db: &impl Database,
    turns: &[String],
    now_ms: i64,
) -> Result<(Vec<Delivery>, bool), DbError> {
    let keys = if turns.is_empty() {
        "NULL".to_string()
    } else {
        vec!["?"; turns.len()].join(", ")
    };
    let mut params: Vec<Value> = vec![now_ms.into(), now_ms.into()];
    params.extend(turns.iter().map(|t| Value::from(t.as_str())));
    let rows = db.execute(
        &format!(
            "SELECT 0, EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt_ms <= ?
                               AND lease_until_ms <= ?), NULL, NULL, NULL, NULL, NULL, NULL
             UNION ALL
             SELECT 1, id, conversation_id, channel, target, body, attempts,
                    (SELECT last_customer_ms FROM conversations WHERE conversations.id = outbox.conversation_id)
             FROM outbox WHERE turn IN ({keys}) AND state = 'pending'
             ORDER BY 1, 2"
        ),
        &params,
    )?;
    let mut mine = Vec::new();
    let mut due = false;
    for r in &rows {
        let bad = || DbError::new("unexpected outbox row");
        let int = |i: usize| r.get(i).and_then(Value::as_i64).ok_or_else(bad);
        let text = |i: usize| {
            r.get(i)
                .and_then(Value::as_text)
                .map(str::to_string)
                .ok_or_else(bad)
        };
        if int(0)? == 0 {
            due = int(1)? != 0;
            continue;
        }
        mine.push(Delivery {
            id: int(1)?,
            conversation_id: int(2)?,
            channel: text(3)?,
            target: text(4)?,
            body: text(5)?,
            attempts: int(6)?,
            last_customer_ms: int(7)?,
        });
    }
    Ok((mine, due))
}

/// One delivery attempt's outcome, for [`write_outcomes`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRow<'a> {
    /// The outbox row.
    pub id: i64,
    /// Its new state: `sent`, `pending` (retry) or `failed`.
    pub state: &'a str,
    /// For a retry: when it is due again.
    pub next_attempt_ms: Option<i64>,
    /// The error, for a retry or a failure.
    pub error: Option<&'a str>,
}

/// Records a delivery run's outcomes and its metrics with one statement.
///
/// # Errors
///
/// A database error.
pub fn write_outcomes(
    db: &impl Database,
    outcomes: &[OutcomeRow<'_>],
    now_ms: i64,
    metrics: &Batch,
) -> Result<(), DbError> {
    let json: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            serde_json::json!({
                "id": o.id, "state": o.state, "next_attempt_ms": o.next_attempt_ms, "error": o.error,
            })
        })
        .collect();
    let (counters, _) = metrics.to_json();
    db.execute(
        "INSERT INTO delivery_outcomes (outcomes, now_ms, counters) VALUES (?, ?, ?)",
        &[
            serde_json::Value::from(json).to_string().as_str().into(),
            now_ms.into(),
            counters.as_str().into(),
        ],
    )?;
    Ok(())
}
