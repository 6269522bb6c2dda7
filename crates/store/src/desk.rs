//! The agents' side of the state: agents and their hashed tokens, the queue of open
//! handoffs, claims (atomic: two agents claiming at once, one wins), transfers, resolution
//! with the customer's rating, transcripts and the raw facts behind the KPIs.
//!
//! An agent is named in `handoffs.agent` and in a message's author (`agent:<key>`) by a key:
//! its id, or `admin` for the operator's admin token.

use crate::{Channel, Database, DbError, HandoffReason, Lang, Row, Value};

/// An agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Row id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// A disabled agent's token is refused.
    pub disabled: bool,
    /// When it was created.
    pub created_ms: i64,
}

const AGENT_COLUMNS: &str = "id, name, disabled, created_ms";

fn agent_from(row: &[Value]) -> Result<Agent, DbError> {
    let row = Row::new(row, "agent");
    Ok(Agent {
        id: row.int(0)?,
        name: row.text(1)?,
        disabled: row.int(2)? != 0,
        created_ms: row.int(3)?,
    })
}

fn first_agent(rows: &[Vec<Value>]) -> Result<Option<Agent>, DbError> {
    rows.first().map(|r| agent_from(r)).transpose()
}

/// Creates an agent whose token hashes to `token_hash`.
///
/// # Errors
///
/// A database error.
pub fn create_agent(
    db: &impl Database,
    name: &str,
    token_hash: &str,
    now_ms: i64,
) -> Result<Agent, DbError> {
    let rows = db.execute(
        &format!(
            "INSERT INTO agents (name, token_hash, created_ms) VALUES (?, ?, ?) RETURNING {AGENT_COLUMNS}"
        ),
        &[name.into(), token_hash.into(), now_ms.into()],
    )?;
    first_agent(&rows)?.ok_or_else(|| DbError::new("insert returned no agent"))
}

/// Every agent, oldest first.
///
/// # Errors
///
/// A database error.
pub fn agents(db: &impl Database) -> Result<Vec<Agent>, DbError> {
    db.execute(
        &format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id"),
        &[],
    )?
    .iter()
    .map(|r| agent_from(r))
    .collect()
}

/// An agent by id.
///
/// # Errors
///
/// A database error.
pub fn agent_by_id(db: &impl Database, id: i64) -> Result<Option<Agent>, DbError> {
    first_agent(&db.execute(
        &format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?"),
        &[id.into()],
    )?)
}

/// The agent a token hash belongs to (disabled ones included; the caller refuses them).
///
/// # Errors
///
/// A database error.
pub fn agent_by_token_hash(db: &impl Database, token_hash: &str) -> Result<Option<Agent>, DbError> {
    first_agent(&db.execute(
        &format!("SELECT {AGENT_COLUMNS} FROM agents WHERE token_hash = ?"),
        &[token_hash.into()],
    )?)
}

/// Disables or re-enables an agent; `None` for an unknown id.
///
/// # Errors
///
/// A database error.
pub fn set_agent_disabled(
    db: &impl Database,
    id: i64,
    disabled: bool,
) -> Result<Option<Agent>, DbError> {
    first_agent(&db.execute(
        &format!("UPDATE agents SET disabled = ? WHERE id = ? RETURNING {AGENT_COLUMNS}"),
        &[i64::from(disabled).into(), id.into()],
    )?)
}

/// Puts the open handoffs agent `key` holds back into the queue (their conversations wait
/// for a person again). Returns how many.
///
/// # Errors
///
/// A database error.
pub fn release_claims(db: &impl Database, key: &str) -> Result<usize, DbError> {
    db.execute(
        "UPDATE conversations SET status = 'queued' WHERE id IN (
            SELECT conversation_id FROM handoffs WHERE agent = ? AND resolved_ms IS NULL)",
        &[key.into()],
    )?;
    Ok(db
        .execute(
            "UPDATE handoffs SET agent = NULL WHERE agent = ? AND resolved_ms IS NULL RETURNING id",
            &[key.into()],
        )?
        .len())
}

/// An open handoff with what the queue shows about its conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenHandoff {
    /// The conversation.
    pub conversation_id: i64,
    /// Its channel.
    pub channel: Channel,
    /// The customer on that channel.
    pub customer_id: String,
    /// Profile name, when known.
    pub customer_name: Option<String>,
    /// The conversation's language.
    pub language: Option<Lang>,
    /// Why it was handed off.
    pub reason: HandoffReason,
    /// Base priority (see [`HandoffReason::priority`]).
    pub priority: i64,
    /// When it was handed off.
    pub created_ms: i64,
    /// The agent key holding it, if claimed.
    pub agent: Option<String>,
    /// The customer's last message.
    pub last_message: Option<String>,
    /// Its intent.
    pub intent: Option<String>,
    /// The highest anger in the conversation.
    pub anger: Option<f64>,
}

/// Every open (unresolved) handoff, optionally only in one language and/or channel.
///
/// # Errors
///
/// A database error.
pub fn open_handoffs(
    db: &impl Database,
    language: Option<Lang>,
    channel: Option<Channel>,
) -> Result<Vec<OpenHandoff>, DbError> {
    let (language, channel) = (language.map(Lang::as_str), channel.map(Channel::as_str));
    let rows = db.execute(
        "SELECT h.conversation_id, c.channel, c.customer_id, c.customer_name, COALESCE(c.language, h.language),
                h.reason, h.priority, h.created_ms, h.agent,
                (SELECT text FROM messages m WHERE m.conversation_id = c.id AND m.author = 'customer' ORDER BY m.id DESC LIMIT 1),
                (SELECT intent FROM messages m WHERE m.conversation_id = c.id AND m.author = 'customer' AND m.intent IS NOT NULL ORDER BY m.id DESC LIMIT 1),
                (SELECT MAX(anger) FROM messages m WHERE m.conversation_id = c.id AND m.author = 'customer')
         FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
         WHERE h.resolved_ms IS NULL
           AND (? IS NULL OR COALESCE(c.language, h.language) = ?)
           AND (? IS NULL OR c.channel = ?)
         ORDER BY h.created_ms",
        &[language.into(), language.into(), channel.into(), channel.into()],
    )?;
    rows.iter()
        .map(|r| {
            let row = Row::new(r, "open handoff");
            Ok(OpenHandoff {
                conversation_id: row.int(0)?,
                channel: row.parse(1)?,
                customer_id: row.text(2)?,
                customer_name: row.opt_text(3)?,
                language: row.opt_parse(4)?,
                reason: row.parse(5)?,
                priority: row.int(6)?,
                created_ms: row.int(7)?,
                agent: row.opt_text(8)?,
                last_message: row.opt_text(9)?,
                intent: row.opt_text(10)?,
                anger: row.opt_real(11)?,
            })
        })
        .collect()
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This agent has it now.
    Claimed,
    /// This agent had it already.
    AlreadyYours,
    /// Another agent (this key) has it.
    TakenBy(String),
}

/// Who holds a conversation's open handoff: `None` if there is no open handoff,
/// `Some(None)` if it waits in the queue.
///
/// # Errors
///
/// A database error.
pub fn holder(db: &impl Database, conversation_id: i64) -> Result<Option<Option<String>>, DbError> {
    let rows = db.execute(
        "SELECT agent FROM handoffs WHERE conversation_id = ? AND resolved_ms IS NULL",
        &[conversation_id.into()],
    )?;
    rows.first()
        .map(|r| Row::new(r, "handoff holder").opt_text(0))
        .transpose()
}

/// Claims a conversation for `agent`: atomic (a conditional update; of two agents claiming
/// at once exactly one wins). A conversation the bot still handles is taken over with a new
/// handoff (reason `agent`). The conversation's status becomes `human`.
///
/// # Errors
///
/// A database error.
pub fn claim(
    db: &impl Database,
    conversation_id: i64,
    agent: &str,
    now_ms: i64,
) -> Result<Claim, DbError> {
    for _ in 0..2 {
        let won = db.execute(
            "UPDATE handoffs SET agent = ?, claimed_ms = COALESCE(claimed_ms, ?)
             WHERE conversation_id = ? AND resolved_ms IS NULL AND agent IS NULL RETURNING id",
            &[agent.into(), now_ms.into(), conversation_id.into()],
        )?;
        if !won.is_empty() {
            set_status(db, conversation_id, "human")?;
            return Ok(Claim::Claimed);
        }
        match holder(db, conversation_id)? {
            Some(Some(holder)) if holder == agent => return Ok(Claim::AlreadyYours),
            Some(Some(holder)) => return Ok(Claim::TakenBy(holder)),
            Some(None) => continue,
            None => {
                // Taken over from the bot: at most one open handoff (unique index), so a
                // racing claim either inserts it or falls back to the update above.
                let inserted = db.execute(
                    "INSERT INTO handoffs (conversation_id, channel, reason, priority, language, created_ms, claimed_ms, agent)
                     SELECT id, channel, 'agent', 1, language, ?, ?, ? FROM conversations WHERE id = ?
                     ON CONFLICT DO NOTHING RETURNING id",
                    &[now_ms.into(), now_ms.into(), agent.into(), conversation_id.into()],
                )?;
                if !inserted.is_empty() {
                    set_status(db, conversation_id, "human")?;
                    return Ok(Claim::Claimed);
                }
            }
        }
    }
    match holder(db, conversation_id)? {
        Some(Some(holder)) if holder == agent => Ok(Claim::AlreadyYours),
        Some(Some(holder)) => Ok(Claim::TakenBy(holder)),
        _ => Err(DbError::new("claim did not settle")),
    }
}

fn set_status(db: &impl Database, conversation_id: i64, status: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE conversations SET status = ? WHERE id = ?",
        &[status.into(), conversation_id.into()],
    )?;
    Ok(())
}

/// Gives a conversation's open handoff to another agent (`Some(key)`) or back to the queue
/// (`None`). The first claim's time is kept (the time-to-claim KPI measures the customer's
/// first wait). Returns false when there is no open handoff.
///
/// # Errors
///
/// A database error.
pub fn transfer(
    db: &impl Database,
    conversation_id: i64,
    to: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbError> {
    let rows = db.execute(
        "UPDATE handoffs SET agent = ?, claimed_ms = CASE WHEN ? IS NULL THEN claimed_ms ELSE COALESCE(claimed_ms, ?) END
         WHERE conversation_id = ? AND resolved_ms IS NULL RETURNING id",
        &[to.into(), to.into(), now_ms.into(), conversation_id.into()],
    )?;
    if rows.is_empty() {
        return Ok(false);
    }
    set_status(
        db,
        conversation_id,
        if to.is_some() { "human" } else { "queued" },
    )?;
    Ok(true)
}

/// Notes the first human reply of the open handoff (for the first-response KPI).
///
/// # Errors
///
/// A database error.
pub fn note_agent_reply(
    db: &impl Database,
    conversation_id: i64,
    now_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE handoffs SET first_reply_ms = ? WHERE conversation_id = ? AND resolved_ms IS NULL AND first_reply_ms IS NULL",
        &[now_ms.into(), conversation_id.into()],
    )?;
    Ok(())
}

/// Resolves the open handoff: the bot takes the conversation back and waits for the
/// customer's rating. Returns false when there is no open handoff.
///
/// # Errors
///
/// A database error.
pub fn resolve(
    db: &impl Database,
    conversation_id: i64,
    note: Option<&str>,
    ask_rating: bool,
    now_ms: i64,
) -> Result<bool, DbError> {
    let rows = db.execute(
        "UPDATE handoffs SET resolved_ms = ?, note = ? WHERE conversation_id = ? AND resolved_ms IS NULL RETURNING id",
        &[now_ms.into(), note.into(), conversation_id.into()],
    )?;
    if rows.is_empty() {
        return Ok(false);
    }
    // Only a customer who was asked has their next bare "1".."5" taken as a rating.
    db.execute(
        "UPDATE conversations SET status = 'bot', misses = 0, out_of_scope_streak = 0, awaiting_rating = ? WHERE id = ?",
        &[i64::from(ask_rating).into(), conversation_id.into()],
    )?;
    Ok(true)
}

/// How long after a resolution its rating is accepted: 7 days.
pub const RATING_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// Records the customer's 1-5 rating on the conversation's last resolved handoff, if that
/// has no rating yet and was resolved at most [`RATING_WINDOW_MS`] before `now_ms`: the
/// first rating counts, a later button press or an old rating button changes nothing.
/// Returns whether it was recorded.
///
/// # Errors
///
/// A database error.
pub fn record_rating(
    db: &impl Database,
    conversation_id: i64,
    score: u8,
    now_ms: i64,
) -> Result<bool, DbError> {
    let rows = db.execute(
        "UPDATE handoffs SET csat = ? WHERE id = (
            SELECT id FROM handoffs WHERE conversation_id = ? AND resolved_ms IS NOT NULL
            ORDER BY resolved_ms DESC, id DESC LIMIT 1)
         AND csat IS NULL AND resolved_ms >= ? RETURNING id",
        &[
            i64::from(score).into(),
            conversation_id.into(),
            (now_ms - RATING_WINDOW_MS).into(),
        ],
    )?;
    Ok(!rows.is_empty())
}

/// One message of a transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptMessage {
    /// Row id.
    pub id: i64,
    /// `in` or `out`.
    pub direction: String,
    /// `customer`, `bot` or `agent:<key>`.
    pub author: String,
    /// The agent's name, for agents' messages.
    pub agent_name: Option<String>,
    /// The text.
    pub text: String,
    /// Detected intent (customer messages).
    pub intent: Option<String>,
    /// Its confidence.
    pub confidence: Option<f64>,
    /// Anger score.
    pub anger: Option<f64>,
    /// Its language.
    pub language: Option<Lang>,
    /// When.
    pub created_ms: i64,
}

/// A conversation's messages in order, from message id `after` on (0 for all).
///
/// # Errors
///
/// A database error.
pub fn transcript(
    db: &impl Database,
    conversation_id: i64,
    after: i64,
) -> Result<Vec<TranscriptMessage>, DbError> {
    let rows = db.execute(
        "SELECT m.id, m.direction, m.author,
                CASE WHEN m.author = 'agent:admin' THEN 'admin' ELSE a.name END,
                m.text, m.intent, m.confidence, m.anger, m.language, m.created_ms
         FROM messages m LEFT JOIN agents a ON m.author = 'agent:' || a.id
         WHERE m.conversation_id = ? AND m.id > ? ORDER BY m.id",
        &[conversation_id.into(), after.into()],
    )?;
    rows.iter()
        .map(|r| {
            let row = Row::new(r, "message");
            Ok(TranscriptMessage {
                id: row.int(0)?,
                direction: row.text(1)?,
                author: row.text(2)?,
                agent_name: row.opt_text(3)?,
                text: row.text(4)?,
                intent: row.opt_text(5)?,
                confidence: row.opt_real(6)?,
                anger: row.opt_real(7)?,
                language: row.opt_parse(8)?,
                created_ms: row.int(9)?,
            })
        })
        .collect()
}

/// The id of a conversation's latest message (0 when it has none).
///
/// # Errors
///
/// A database error.
pub fn last_message_id(db: &impl Database, conversation_id: i64) -> Result<i64, DbError> {
    let rows = db.execute(
        "SELECT COALESCE(MAX(id), 0) FROM messages WHERE conversation_id = ?",
        &[conversation_id.into()],
    )?;
    rows.first()
        .map(|r| Row::new(r, "last message id").int(0))
        .unwrap_or_else(|| Err(DbError::new("no row for the last message id")))
}

/// A handoff's whole record (for transcripts and KPIs).
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffRecord {
    /// Row id.
    pub id: i64,
    /// The conversation.
    pub conversation_id: i64,
    /// Channel.
    pub channel: Channel,
    /// Its language.
    pub language: Option<Lang>,
    /// Why.
    pub reason: HandoffReason,
    /// Base priority.
    pub priority: i64,
    /// Handed off at.
    pub created_ms: i64,
    /// Claimed at.
    pub claimed_ms: Option<i64>,
    /// The agent key holding (or that last held) it.
    pub agent: Option<String>,
    /// First human reply at.
    pub first_reply_ms: Option<i64>,
    /// Resolved at.
    pub resolved_ms: Option<i64>,
    /// The agent's note at resolution.
    pub note: Option<String>,
    /// The customer's rating, 1-5.
    pub csat: Option<i64>,
}

const HANDOFF_COLUMNS: &str = "h.id, h.conversation_id, h.channel, h.language, h.reason, h.priority, h.created_ms, h.claimed_ms, h.agent, h.first_reply_ms, h.resolved_ms, h.note, h.csat";

fn handoff_from(r: &[Value]) -> Result<HandoffRecord, DbError> {
    let row = Row::new(r, "handoff");
    Ok(HandoffRecord {
        id: row.int(0)?,
        conversation_id: row.int(1)?,
        channel: row.parse(2)?,
        language: row.opt_parse(3)?,
        reason: row.parse(4)?,
        priority: row.int(5)?,
        created_ms: row.int(6)?,
        claimed_ms: row.opt_int(7)?,
        agent: row.opt_text(8)?,
        first_reply_ms: row.opt_int(9)?,
        resolved_ms: row.opt_int(10)?,
        note: row.opt_text(11)?,
        csat: row.opt_int(12)?,
    })
}

/// How many messages a conversation holds.
///
/// # Errors
///
/// A database error.
pub fn message_count(db: &impl Database, conversation_id: i64) -> Result<i64, DbError> {
    db.execute(
        "SELECT COUNT(*) FROM messages WHERE conversation_id = ?",
        &[conversation_id.into()],
    )?
    .first()
    .map_or(Ok(0), |values| Row::new(values, "message count").int(0))
}

/// A conversation's handoffs, oldest first.
///
/// # Errors
///
/// A database error.
pub fn handoffs_of(
    db: &impl Database,
    conversation_id: i64,
) -> Result<Vec<HandoffRecord>, DbError> {
    db.execute(
        &format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs h WHERE h.conversation_id = ? ORDER BY h.id"
        ),
        &[conversation_id.into()],
    )?
    .iter()
    .map(|r| handoff_from(r))
    .collect()
}

/// What the KPIs need about one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFacts {
    /// The conversation.
    pub id: i64,
    /// Channel.
    pub channel: Channel,
    /// Its language.
    pub language: Option<Lang>,
    /// Started at.
    pub created_ms: i64,
    /// The customer's first message.
    pub first_customer_ms: Option<i64>,
    /// The bot's first reply.
    pub first_bot_ms: Option<i64>,
}

/// The conversations started in `[from_ms, to_ms)` and all their handoffs.
///
/// # Errors
///
/// A database error.
pub fn kpi_facts(
    db: &impl Database,
    from_ms: i64,
    to_ms: i64,
) -> Result<(Vec<ConversationFacts>, Vec<HandoffRecord>), DbError> {
    let conversations = db
        .execute(
            "SELECT c.id, c.channel, c.language, c.created_ms,
                    COALESCE(c.first_customer_ms, (SELECT MIN(created_ms) FROM messages m WHERE m.conversation_id = c.id AND m.author = 'customer')),
                    COALESCE(c.first_bot_ms, (SELECT MIN(created_ms) FROM messages m WHERE m.conversation_id = c.id AND m.author = 'bot'))
             FROM conversations c WHERE c.created_ms >= ? AND c.created_ms < ? ORDER BY c.id",
            &[from_ms.into(), to_ms.into()],
        )?
        .iter()
        .map(|r| {
            let row = Row::new(r, "conversation facts");
            Ok(ConversationFacts {
                id: row.int(0)?,
                channel: row.parse(1)?,
                language: row.opt_parse(2)?,
                created_ms: row.int(3)?,
                first_customer_ms: row.opt_int(4)?,
                first_bot_ms: row.opt_int(5)?,
            })
        })
        .collect::<Result<_, DbError>>()?;
    let handoffs = db
        .execute(
            &format!(
                "SELECT {HANDOFF_COLUMNS} FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
                 WHERE c.created_ms >= ? AND c.created_ms < ? ORDER BY h.id"
            ),
            &[from_ms.into(), to_ms.into()],
        )?
        .iter()
        .map(|r| handoff_from(r))
        .collect::<Result<_, _>>()?;
    Ok((conversations, handoffs))
}
