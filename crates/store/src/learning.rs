//! The learning loop's data: the customer texts the model was unsure about (the bot
//! clarified, handed off or answered with a low confidence), and the intents agents gave
//! them, which `trainer export` writes as training lines.
//!
//! A label belongs to its message: erasing the customer or purging the message by retention
//! deletes the label with it, so an export never holds a text that is no longer kept.

use crate::{Database, DbError, Row, Value};
use vocab::{Channel, Lang};

/// Version 9 of the schema: intent labels given by agents, one per customer message.
pub(crate) const LEARNING_SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS intent_labels (
        message_id INTEGER PRIMARY KEY, intent TEXT NOT NULL, labeled_by TEXT NOT NULL,
        created_ms INTEGER NOT NULL)"];

/// A customer text the model was unsure about.
#[derive(Debug, Clone, PartialEq)]
pub struct Uncertain {
    /// The message's id in the transcript.
    pub message_id: i64,
    /// Its conversation.
    pub conversation_id: i64,
    /// Where it came.
    pub channel: Channel,
    /// The language the NLU detected.
    pub language: Option<Lang>,
    /// What the customer wrote.
    pub text: String,
    /// The model's top intent.
    pub predicted: String,
    /// Its confidence.
    pub confidence: f64,
    /// When the customer wrote it.
    pub created_ms: i64,
}

/// Who asks for the list: the operator sees every conversation, an agent only those that
/// wait unclaimed in the queue or were handed to them (as `desk::readable` allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader<'a> {
    /// The operator (admin token).
    Operator,
    /// An agent, by key.
    Agent(&'a str),
}

/// The newest customer texts whose top intent had a confidence below `below`, not labeled
/// yet, that `reader` may read; at most `limit`.
///
/// # Errors
///
/// A database error, or a row that does not decode.
pub fn uncertain(
    db: &impl Database,
    reader: Reader<'_>,
    below: f64,
    limit: i64,
) -> Result<Vec<Uncertain>, DbError> {
    let agent = match reader {
        Reader::Operator => Value::Null,
        Reader::Agent(key) => key.into(),
    };
    db.execute(
        "SELECT m.id, m.conversation_id, c.channel, m.language, m.text, m.intent, m.confidence,
                m.created_ms
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.direction = 'in' AND m.author = 'customer' AND m.intent IS NOT NULL
           AND m.confidence < ?1
           AND NOT EXISTS (SELECT 1 FROM intent_labels l WHERE l.message_id = m.id)
           AND (?3 IS NULL OR EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id
                AND (h.agent = ?3 OR (h.resolved_ms IS NULL AND h.agent IS NULL))))
         ORDER BY m.created_ms DESC, m.id DESC LIMIT ?2",
        &[Value::Real(below), limit.into(), agent],
    )?
    .iter()
    .map(|values| {
        let row = Row::new(values, "uncertain message");
        Ok(Uncertain {
            message_id: row.int(0)?,
            conversation_id: row.int(1)?,
            channel: row.parse(2)?,
            language: row.opt_parse(3)?,
            text: row.text(4)?,
            predicted: row.text(5)?,
            confidence: row
                .opt_real(6)?
                .ok_or_else(|| DbError::new("uncertain message: no confidence"))?,
            created_ms: row.int(7)?,
        })
    })
    .collect()
}

/// The conversation of a customer message, `None` for an unknown id or a message that is
/// not a customer's.
///
/// # Errors
///
/// A database error.
pub fn customer_message_conversation(
    db: &impl Database,
    message_id: i64,
) -> Result<Option<i64>, DbError> {
    db.execute(
        "SELECT conversation_id FROM messages WHERE id = ? AND direction = 'in' AND author = 'customer'",
        &[message_id.into()],
    )?
    .first()
    .map(|values| Row::new(values, "message").int(0))
    .transpose()
}

/// Labels a customer message with `intent` (a later label replaces an earlier one);
/// `false` when there is no such customer message.
///
/// # Errors
///
/// A database error.
pub fn label(
    db: &impl Database,
    message_id: i64,
    intent: &str,
    labeled_by: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let rows = db.execute(
        "INSERT INTO intent_labels (message_id, intent, labeled_by, created_ms)
         SELECT id, ?2, ?3, ?4 FROM messages WHERE id = ?1 AND direction = 'in' AND author = 'customer'
         ON CONFLICT (message_id) DO UPDATE SET intent = excluded.intent,
            labeled_by = excluded.labeled_by, created_ms = excluded.created_ms
         RETURNING message_id",
        &[
            message_id.into(),
            intent.into(),
            labeled_by.into(),
            now_ms.into(),
        ],
    )?;
    Ok(!rows.is_empty())
}

/// A labeled text, as the trainer reads it: no customer identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingLine {
    /// What the customer wrote.
    pub text: String,
    /// The intent an agent gave it.
    pub intent: String,
    /// The language the NLU detected.
    pub language: Option<Lang>,
}

/// Every label with its text, oldest first. Erased customers' messages are gone, and their
/// labels with them.
///
/// # Errors
///
/// A database error, or a row that does not decode.
pub fn training_lines(db: &impl Database) -> Result<Vec<TrainingLine>, DbError> {
    db.execute(
        "SELECT m.text, l.intent, m.language FROM intent_labels l
         JOIN messages m ON m.id = l.message_id ORDER BY l.message_id",
        &[],
    )?
    .iter()
    .map(|values| {
        let row = Row::new(values, "intent label");
        Ok(TrainingLine {
            text: row.text(0)?,
            intent: row.text(1)?,
            language: row.opt_parse(2)?,
        })
    })
    .collect()
}

/// Deletes the labels of the messages `where_clause` selects (run before deleting them).
pub(crate) fn forget_labels_of(
    db: &impl Database,
    where_clause: &str,
    params: &[Value],
) -> Result<(), DbError> {
    db.execute(
        &format!(
            "DELETE FROM intent_labels WHERE message_id IN (SELECT id FROM messages WHERE {where_clause})"
        ),
        params,
    )?;
    Ok(())
}
