//! A customer's message and everything it causes: one read, then one short write
//! transaction of simple statements.
//!
//! Under Spin every request opens a new SQLite connection (so the schema is parsed and every
//! statement compiled afresh) and every statement is a call out of the component and back
//! (about 0.15 ms, against 0.02 ms in-process). So the hot path reads once and writes once:
//!
//! 1. [`context`] reads what the decision needs in one `SELECT`: the schema version, the
//!    crisis switch, whether the message was already handled, whether replies wait in the
//!    outbox, the conversation with its `version`, and whether it has an open handoff;
//! 2. the caller decides (the policy is pure), and [`write_turn`] stores the outcome in one
//!    transaction: the dedupe claim, the conversation's new state (refused if its `version`
//!    moved since step 1), the transcript, a handoff, an erasure request, a rating, the outbox
//!    rows (leased to the caller) and the metrics.
//!
//! Every change to a conversation's state or its handoffs bumps `conversations.version`
//! (small triggers), so a decision made from a stale read is never stored: the caller reads
//! again and decides again ([`TurnWritten::Changed`]). The schema is kept small on purpose:
//! Spin parses all of it on every request's first statement.

use crate::metrics::Batch;
use crate::{
    Channel, Conversation, Database, DbError, Delivery, HandoffReason, Lang, NewMessage, NewOutbox,
    Value, conversation_from,
};

/// Version 6 of the schema: conversation versions, bumped by every change of a
/// conversation's state or its handoffs.
pub(crate) const TURN_SCHEMA: &[&str] = &[
    "ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    "CREATE TRIGGER IF NOT EXISTS conversations_version
        AFTER UPDATE OF status, language, misses, out_of_scope_streak, awaiting_rating ON conversations
        BEGIN UPDATE conversations SET version = version + 1 WHERE id = NEW.id; END",
    "CREATE TRIGGER IF NOT EXISTS handoffs_insert_version AFTER INSERT ON handoffs
        BEGIN UPDATE conversations SET version = version + 1 WHERE id = NEW.conversation_id; END",
    "CREATE TRIGGER IF NOT EXISTS handoffs_update_version AFTER UPDATE ON handoffs
        BEGIN UPDATE conversations SET version = version + 1 WHERE id = NEW.conversation_id; END",
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
    /// Some outbox row is due now (an earlier failure whose back-off has passed).
    pub due: bool,
    /// The customer's conversation, if there is one, with its version.
    pub conversation: Option<(Conversation, i64)>,
    /// The conversation has a handoff that is not resolved.
    pub open_handoff: bool,
}

/// A platform message id as the dedupe table knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageId<'a> {
    /// What is stored: the keyed hash of the id (WhatsApp's ids embed the customer's phone
    /// number).
    pub key: &'a str,
    /// The id itself, only looked up: databases written before ids were hashed hold them in
    /// clear until the dedupe window purges them, and a redelivery of one of those must
    /// still be recognized.
    pub clear: &'a str,
}

impl<'a> MessageId<'a> {
    /// An id stored as it is (`key` = `clear`).
    pub fn plain(id: &'a str) -> Self {
        Self { key: id, clear: id }
    }
}

/// Reads the [`Context`] of a message `message_id` from `customer_id` on `channel`.
///
/// # Errors
///
/// A database error; on a database whose schema is older than this code, the error of the
/// missing table or column (run [`crate::migrate`], then read again; see [`context_migrated`]).
pub fn context(
    db: &impl Database,
    channel: Channel,
    customer_id: &str,
    message_id: Option<MessageId<'_>>,
    now_ms: i64,
) -> Result<Context, DbError> {
    let rows = db.execute(
        &format!(
            "SELECT (SELECT MAX(version) FROM schema_version),
                    (SELECT value FROM settings WHERE key = 'crisis_mode'),
                    (SELECT value FROM settings WHERE key = 'crisis_message'),
                    EXISTS (SELECT 1 FROM processed_messages WHERE channel = ?1 AND message_id IN (?2, ?5)),
                    EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id AND h.resolved_ms IS NULL),
                    EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt_ms <= ?4
                            AND lease_until_ms <= ?4),
                    c.version, {}
             FROM (SELECT 1) LEFT JOIN conversations c ON c.channel = ?1 AND c.customer_id = ?3",
            crate::CONVERSATION_COLUMNS
                .split(", ")
                .map(|column| format!("c.{column}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        &[
            channel.into(),
            message_id.map(|m| m.key).into(),
            customer_id.into(),
            now_ms.into(),
            message_id.map(|m| m.clear).into(),
        ],
    )?;
    let row = rows
        .first()
        .ok_or_else(|| DbError::new("the context query returned no row"))?;
    let text = |i: usize| row.get(i).and_then(Value::as_text).map(str::to_string);
    let flag = |i: usize| row.get(i).and_then(Value::as_i64).is_some_and(|v| v != 0);
    let conversation = match row.get(6).and_then(Value::as_i64) {
        Some(version) => Some((conversation_from(&row[7..])?, version)),
        None => None,
    };
    Ok(Context {
        schema_version: row.first().and_then(Value::as_i64),
        crisis_mode: text(1),
        crisis_message: text(2),
        processed: flag(3),
        due: flag(5),
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
    channel: Channel,
    customer_id: &str,
    message_id: Option<MessageId<'_>>,
    now_ms: i64,
) -> Result<Context, DbError> {
    match context(db, channel, customer_id, message_id, now_ms) {
        Ok(found)
            if found
                .schema_version
                .is_some_and(|version| version >= crate::SCHEMA_VERSION) =>
        {
            Ok(found)
        }
        Ok(_) => {
            crate::migrate(db)?;
            context(db, channel, customer_id, message_id, now_ms)
        }
        Err(e)
            if e.message().contains("no such table") || e.message().contains("no such column") =>
        {
            crate::migrate(db)?;
            context(db, channel, customer_id, message_id, now_ms)
        }
        Err(e) => Err(e),
    }
}

/// A handoff to open with a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnHandoff {
    /// Why.
    pub reason: HandoffReason,
    /// The customer's anger, 0..1 (raises the priority).
    pub anger: f64,
    /// The conversation's language.
    pub language: Option<Lang>,
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
    /// Where the message came.
    pub channel: Channel,
    /// The keyed hash of the platform's message id (the dedupe key, [`MessageId::key`]);
    /// `None` where there is none (web chat).
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
    pub handoff: Option<TurnHandoff>,
    /// Open an erasure request (nothing happens if one is open).
    pub erasure: bool,
    /// A 1–5 rating of the last resolved handoff.
    pub rating: Option<u8>,
    /// Metric updates.
    pub metrics: &'a Batch,
    /// The public comment this turn handled (comment channels).
    pub comment: Option<&'a crate::comments::NewComment>,
}

/// What [`write_turn`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnWritten {
    /// Stored.
    Stored(Stored),
    /// The message id was handled before (a redelivery, perhaps a concurrent one): nothing
    /// was written.
    Redelivery,
    /// The conversation changed since it was read: nothing was written; read and decide
    /// again.
    Changed,
}

/// What a stored turn wrote that its caller needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The conversation (new or existing).
    pub conversation_id: i64,
    /// The id of the last message written (the bot's last reply, or the customer's message).
    pub last_message_id: i64,
    /// The outbox rows, leased to the caller until `lease_until_ms`, in order.
    pub outbox: Vec<Delivery>,
}

/// Stores a turn in one transaction (see the module documentation), retried as a whole
/// while the database is busy.
///
/// # Errors
///
/// A database error.
pub fn write_turn(db: &impl Database, turn: &Turn<'_>) -> Result<TurnWritten, DbError> {
    crate::transaction_or_rollback(db, || write_turn_in(db, turn)).map(|written| match written {
        Ok(stored) => TurnWritten::Stored(stored),
        Err(refused) => refused,
    })
}

/// The statements of [`write_turn`], inside its transaction; `Err` rolls it back.
fn write_turn_in(
    db: &impl Database,
    turn: &Turn<'_>,
) -> Result<Result<Stored, TurnWritten>, DbError> {
    if let Some(message_id) = turn.message_id
        && !crate::claim_message(db, turn.channel, message_id, turn.now_ms)?
    {
        return Ok(Err(TurnWritten::Redelivery));
    }
    let state = turn.state;
    // No row: the conversation changed (or was created) since it was read.
    let Some(conversation_id) = write_conversation(db, turn)? else {
        return Ok(Err(TurnWritten::Changed));
    };
    let messages = crate::add_messages(db, conversation_id, turn.messages, turn.now_ms)?;
    record_events(db, turn, conversation_id)?;
    let rows: Vec<NewOutbox> = turn
        .outbox
        .iter()
        .map(|o| {
            let mut row = o.row.clone();
            if o.notification {
                row.body = with_conversation_id(&row.body, conversation_id)?;
            }
            Ok(row)
        })
        .collect::<Result<_, DbError>>()?;
    let outbox = crate::enqueue_all(
        db,
        conversation_id,
        &rows,
        turn.now_ms,
        turn.lease_until_ms,
        state.last_customer_ms,
    )?;
    turn.metrics.write(db)?;
    let last_message_id = messages
        .last()
        .copied()
        .ok_or_else(|| DbError::new("a turn without messages"))?;
    Ok(Ok(Stored {
        conversation_id,
        last_message_id,
        outbox,
    }))
}

/// Updates the conversation if it is still at the version read, or creates it if it still
/// does not exist: its id, or `None` if someone else changed it in between.
fn write_conversation(db: &impl Database, turn: &Turn<'_>) -> Result<Option<i64>, DbError> {
    let state = turn.state;
    let written = match turn.expected_version {
        Some(version) => db.execute(
            "UPDATE conversations SET business_id = ?, customer_name = COALESCE(?, customer_name),
                 last_customer_ms = MAX(last_customer_ms, ?), language = ?, status = ?, misses = ?,
                 out_of_scope_streak = ?, awaiting_rating = ?
             WHERE channel = ? AND customer_id = ? AND version = ? RETURNING id",
            &[
                turn.business_id.into(),
                turn.customer_name.into(),
                turn.customer_ms.into(),
                state.language.into(),
                state.status.as_str().into(),
                state.misses.into(),
                state.out_of_scope_streak.into(),
                i64::from(state.awaiting_rating).into(),
                turn.channel.into(),
                turn.customer_id.into(),
                version.into(),
            ],
        )?,
        None => db.execute(
            "INSERT INTO conversations (channel, customer_id, business_id, customer_name,
                 last_customer_ms, created_ms, language, status, misses, out_of_scope_streak, awaiting_rating)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (channel, customer_id) DO NOTHING RETURNING id",
            &[
                turn.channel.into(),
                turn.customer_id.into(),
                turn.business_id.into(),
                turn.customer_name.into(),
                turn.customer_ms.into(),
                turn.customer_ms.into(),
                state.language.into(),
                state.status.as_str().into(),
                state.misses.into(),
                state.out_of_scope_streak.into(),
                i64::from(state.awaiting_rating).into(),
            ],
        )?,
    };
    Ok(written
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64))
}

/// The turn's handoff, erasure request and rating.
fn record_events(db: &impl Database, turn: &Turn<'_>, conversation_id: i64) -> Result<(), DbError> {
    let state = turn.state;
    if let Some(handoff) = &turn.handoff {
        crate::start_handoff(
            db,
            &crate::NewHandoff {
                conversation_id,
                channel: turn.channel,
                reason: handoff.reason,
                anger: handoff.anger,
                language: handoff.language,
            },
            turn.now_ms,
        )?;
    }
    if turn.erasure {
        let mut conversation = state.clone();
        conversation.id = conversation_id;
        crate::privacy::request_erasure(db, &conversation, turn.now_ms)?;
    }
    if let Some(score) = turn.rating {
        crate::desk::record_rating(db, conversation_id, score, turn.now_ms)?;
    }
    if let Some(comment) = turn.comment {
        crate::comments::record(db, conversation_id, comment, turn.now_ms)?;
    }
    Ok(())
}

/// A handoff notification's body with the conversation's id and desk link filled in (a
/// new conversation has no id before it is stored).
fn with_conversation_id(body: &str, conversation_id: i64) -> Result<String, DbError> {
    let mut json: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| DbError::new(format!("a notification body is not JSON: {e}")))?;
    json["conversation_id"] = conversation_id.to_string().into();
    json["desk_path"] = format!("/desk/#{conversation_id}").into();
    Ok(json.to_string())
}
