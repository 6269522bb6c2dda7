//! Running the bot under privacy law: settings (crisis mode), audit events (who did what,
//! when, never content), a customer's data export and erasure (KPI facts kept, anonymized),
//! erasure requests made in the chat, and the retention purge.

use crate::desk::{HandoffRecord, TranscriptMessage, handoffs_of, transcript};
use crate::{Channel, Conversation, Database, DbError, Row, Value, conversation_from};

/// A setting's value (`None` when never set).
///
/// # Errors
///
/// A database error.
pub fn setting(db: &impl Database, key: &str) -> Result<Option<String>, DbError> {
    let rows = db.execute("SELECT value FROM settings WHERE key = ?", &[key.into()])?;
    rows.first()
        .map(|r| Row::new(r, "setting").text(0))
        .transpose()
}

/// Sets a setting.
///
/// # Errors
///
/// A database error.
pub fn set_setting(db: &impl Database, key: &str, value: &str, now_ms: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO settings (key, value, updated_ms) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
        &[key.into(), value.into(), now_ms.into()],
    )?;
    Ok(())
}

/// Records who did what to whom (a hashed subject), when. Never content.
///
/// # Errors
///
/// A database error.
pub fn audit(
    db: &impl Database,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    now_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO audit_events (actor, action, subject, created_ms) VALUES (?, ?, ?, ?)",
        &[actor.into(), action.into(), subject.into(), now_ms.into()],
    )?;
    Ok(())
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Who (`admin` or an agent key).
    pub actor: String,
    /// What (`export`, `erase`, `crisis`, ...).
    pub action: String,
    /// Whom: a hash, never a raw customer id.
    pub subject: Option<String>,
    /// When.
    pub created_ms: i64,
}

/// The latest `limit` audit events, newest first.
///
/// # Errors
///
/// A database error.
pub fn audit_events(db: &impl Database, limit: i64) -> Result<Vec<AuditEvent>, DbError> {
    db.execute(
        "SELECT actor, action, subject, created_ms FROM audit_events ORDER BY id DESC LIMIT ?",
        &[limit.into()],
    )?
    .iter()
    .map(|r| {
        let row = Row::new(r, "audit event");
        Ok(AuditEvent {
            actor: row.text(0)?,
            action: row.text(1)?,
            subject: row.opt_text(2)?,
            created_ms: row.int(3)?,
        })
    })
    .collect()
}

/// Everything held about one customer on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerData {
    /// The conversation record.
    pub conversation: Conversation,
    /// Every message both ways.
    pub messages: Vec<TranscriptMessage>,
    /// Handoffs with notes and ratings.
    pub handoffs: Vec<HandoffRecord>,
    /// Outgoing requests (their JSON bodies hold the replies) and their delivery state.
    pub outbox: Vec<(String, String, i64)>,
}

/// The conversation of a customer on a channel, if any.
///
/// # Errors
///
/// A database error, or a row that does not decode.
pub fn conversation_of(
    db: &impl Database,
    channel: Channel,
    customer_id: &str,
) -> Result<Option<Conversation>, DbError> {
    db.execute(
        &format!(
            "SELECT {} FROM conversations WHERE channel = ? AND customer_id = ?",
            crate::CONVERSATION_COLUMNS
        ),
        &[channel.into(), customer_id.into()],
    )?
    .first()
    .map(|r| conversation_from(r))
    .transpose()
}

/// What is held about a customer; `None` for an unknown one.
///
/// # Errors
///
/// A database error.
pub fn export_customer(
    db: &impl Database,
    channel: Channel,
    customer_id: &str,
) -> Result<Option<CustomerData>, DbError> {
    let Some(conversation) = conversation_of(db, channel, customer_id)? else {
        return Ok(None);
    };
    let messages = transcript(db, conversation.id, 0)?;
    let handoffs = handoffs_of(db, conversation.id)?;
    let outbox = db
        .execute(
            "SELECT body, state, created_ms FROM outbox WHERE conversation_id = ? ORDER BY id",
            &[conversation.id.into()],
        )?
        .iter()
        .map(|r| {
            let row = Row::new(r, "outbox row");
            Ok((row.text(0)?, row.text(1)?, row.int(2)?))
        })
        .collect::<Result<_, DbError>>()?;
    Ok(Some(CustomerData {
        conversation,
        messages,
        handoffs,
        outbox,
    }))
}

/// Keeps the KPI times of conversations on the conversation row (before their messages go).
fn keep_kpi_times(db: &impl Database, where_clause: &str, params: &[Value]) -> Result<(), DbError> {
    db.execute(
        &format!(
            "UPDATE conversations SET
                first_customer_ms = COALESCE(first_customer_ms, (SELECT MIN(created_ms) FROM messages m WHERE m.conversation_id = conversations.id AND m.author = 'customer')),
                first_bot_ms = COALESCE(first_bot_ms, (SELECT MIN(created_ms) FROM messages m WHERE m.conversation_id = conversations.id AND m.author = 'bot'))
             WHERE {where_clause}"
        ),
        params,
    )?;
    Ok(())
}

/// Erases a customer: their messages (with the intent labels agents gave them), outgoing
/// message bodies, handoff notes, name and ids.
/// The conversation row stays for the KPIs, anonymized (`customer_id` becomes `erased:<row
/// id>`), as do its handoffs (reason, times, rating). Returns the number of messages erased,
/// or `None` for an unknown customer. Run it inside a transaction.
///
/// # Errors
///
/// A database error.
pub fn erase_customer(
    db: &impl Database,
    channel: Channel,
    customer_id: &str,
) -> Result<Option<i64>, DbError> {
    let Some(conversation) = conversation_of(db, channel, customer_id)? else {
        return Ok(None);
    };
    let id = conversation.id;
    keep_kpi_times(db, "id = ?", &[id.into()])?;
    crate::learning::forget_labels_of(db, "conversation_id = ?", &[id.into()])?;
    let erased = db
        .execute(
            "DELETE FROM messages WHERE conversation_id = ? RETURNING id",
            &[id.into()],
        )?
        .len() as i64;
    db.execute("DELETE FROM outbox WHERE conversation_id = ?", &[id.into()])?;
    db.execute(
        "DELETE FROM comments WHERE conversation_id = ?",
        &[id.into()],
    )?;
    // A web chat visitor's session goes too (their token opens nothing any more), with its
    // abuse-limit counter.
    if channel == Channel::WebChat {
        db.execute(
            "DELETE FROM web_sessions WHERE customer_id = ?",
            &[customer_id.into()],
        )?;
        db.execute(
            "DELETE FROM rate_limits WHERE key = ?",
            &[Value::Text(format!("chat:{customer_id}"))],
        )?;
    }
    db.execute(
        "UPDATE handoffs SET note = NULL WHERE conversation_id = ?",
        &[id.into()],
    )?;
    db.execute(
        "UPDATE erasure_requests SET customer_id = ? WHERE conversation_id = ?",
        &[Value::Text(format!("erased:{id}")), id.into()],
    )?;
    db.execute(
        "UPDATE conversations SET customer_id = ?, customer_name = NULL, business_id = '' WHERE id = ?",
        &[Value::Text(format!("erased:{id}")), id.into()],
    )?;
    Ok(Some(erased))
}

/// Deletes messages (and delivered or failed outbox bodies) older than `cutoff_ms`, keeping
/// the KPI times. Returns how many messages went.
///
/// # Errors
///
/// A database error.
pub fn purge_before(db: &impl Database, cutoff_ms: i64) -> Result<i64, DbError> {
    keep_kpi_times(
        db,
        "id IN (SELECT DISTINCT conversation_id FROM messages WHERE created_ms < ?)",
        &[cutoff_ms.into()],
    )?;
    crate::learning::forget_labels_of(db, "created_ms < ?", &[cutoff_ms.into()])?;
    let purged = db
        .execute(
            "DELETE FROM messages WHERE created_ms < ? RETURNING id",
            &[cutoff_ms.into()],
        )?
        .len() as i64;
    db.execute(
        "DELETE FROM outbox WHERE created_ms < ? AND state != 'pending'",
        &[cutoff_ms.into()],
    )?;
    db.execute(
        "DELETE FROM comments WHERE created_ms < ?",
        &[cutoff_ms.into()],
    )?;
    Ok(purged)
}

/// Deletes the processed message ids received before `cutoff_ms` (a webhook redelivered
/// after that would be answered again: keep them longer than the platforms redeliver).
/// Returns how many went.
///
/// # Errors
///
/// A database error.
pub fn purge_processed_before(db: &impl Database, cutoff_ms: i64) -> Result<i64, DbError> {
    Ok(db
        .execute(
            "DELETE FROM processed_messages WHERE received_ms < ? RETURNING 1",
            &[cutoff_ms.into()],
        )?
        .len() as i64)
}

/// Deletes the web chat sessions issued before `cutoff_ms` that never got a conversation (a
/// first message refused after the session was issued, or a visitor who never wrote).
///
/// # Errors
///
/// A database error.
pub fn purge_unused_web_sessions_before(db: &impl Database, cutoff_ms: i64) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM web_sessions WHERE created_ms < ?1 AND customer_id NOT IN
            (SELECT customer_id FROM conversations WHERE channel = ?2)",
        &[cutoff_ms.into(), Channel::WebChat.into()],
    )?;
    Ok(())
}

/// Deletes the abuse-limit counters of windows that started before `cutoff_ms` (they hold
/// client addresses and are of no use once their minute is over).
///
/// # Errors
///
/// A database error.
pub fn purge_rate_limits_before(db: &impl Database, cutoff_ms: i64) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM rate_limits WHERE window_ms < ?",
        &[cutoff_ms.into()],
    )?;
    Ok(())
}

/// A customer's request, made in the chat, to delete their data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRequest {
    /// Row id.
    pub id: i64,
    /// The conversation.
    pub conversation_id: i64,
    /// Channel.
    pub channel: Channel,
    /// The customer on that channel.
    pub customer_id: String,
    /// When asked.
    pub created_ms: i64,
}

/// Queues an erasure request (once per conversation while open). Returns false when one is
/// already open.
///
/// # Errors
///
/// A database error.
pub fn request_erasure(
    db: &impl Database,
    conversation: &Conversation,
    now_ms: i64,
) -> Result<bool, DbError> {
    Ok(!db
        .execute(
            "INSERT INTO erasure_requests (conversation_id, channel, customer_id, created_ms)
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            &[
                conversation.id.into(),
                conversation.channel.as_str().into(),
                conversation.customer_id.as_str().into(),
                now_ms.into(),
            ],
        )?
        .is_empty())
}

const ERASURE_COLUMNS: &str = "id, conversation_id, channel, customer_id, created_ms";

fn erasure_request_from(r: &[Value]) -> Result<ErasureRequest, DbError> {
    let row = Row::new(r, "erasure request");
    Ok(ErasureRequest {
        id: row.int(0)?,
        conversation_id: row.int(1)?,
        channel: row.parse(2)?,
        customer_id: row.text(3)?,
        created_ms: row.int(4)?,
    })
}

/// Open erasure requests, oldest first.
///
/// # Errors
///
/// A database error.
pub fn open_erasure_requests(db: &impl Database) -> Result<Vec<ErasureRequest>, DbError> {
    db.execute(
        &format!(
            "SELECT {ERASURE_COLUMNS} FROM erasure_requests WHERE done_ms IS NULL ORDER BY id"
        ),
        &[],
    )?
    .iter()
    .map(|r| erasure_request_from(r))
    .collect()
}

/// One open erasure request; `None` for an unknown or closed one.
///
/// # Errors
///
/// A database error.
pub fn open_erasure_request(
    db: &impl Database,
    id: i64,
) -> Result<Option<ErasureRequest>, DbError> {
    db.execute(
        &format!("SELECT {ERASURE_COLUMNS} FROM erasure_requests WHERE id = ? AND done_ms IS NULL"),
        &[id.into()],
    )?
    .first()
    .map(|r| erasure_request_from(r))
    .transpose()
}

/// Marks an open erasure request done (after the erasure); `None` for an unknown or closed
/// one, else the request as it was.
///
/// # Errors
///
/// A database error.
pub fn close_erasure_request(
    db: &impl Database,
    id: i64,
    by: &str,
    now_ms: i64,
) -> Result<Option<ErasureRequest>, DbError> {
    db.execute(
        &format!(
            "UPDATE erasure_requests SET done_ms = ?, done_by = ? WHERE id = ? AND done_ms IS NULL
             RETURNING {ERASURE_COLUMNS}"
        ),
        &[now_ms.into(), by.into(), id.into()],
    )?
    .first()
    .map(|r| erasure_request_from(r))
    .transpose()
}

/// Marks every open erasure request of a customer done (run it before [`erase_customer`],
/// which anonymizes the customer id). Returns how many were open.
///
/// # Errors
///
/// A database error.
pub fn close_erasure_requests_of(
    db: &impl Database,
    channel: Channel,
    customer_id: &str,
    by: &str,
    now_ms: i64,
) -> Result<usize, DbError> {
    Ok(db
        .execute(
            "UPDATE erasure_requests SET done_ms = ?, done_by = ?
             WHERE channel = ? AND customer_id = ? AND done_ms IS NULL RETURNING id",
            &[now_ms.into(), by.into(), channel.into(), customer_id.into()],
        )?
        .len())
}
