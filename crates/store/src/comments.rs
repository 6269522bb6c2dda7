//! Public comments the bot handled: which post each was under, its link, and whether the bot
//! answered it privately or publicly. This is what the comment rules read: at most one public
//! reply per post and customer a day, no answer to replies in a thread the bot started, and
//! an agent's reply going privately to the customer's latest comment.

use crate::{Database, DbError, Row, Value};
use vocab::Channel;

/// Version 12 of the schema: the comments handled.
pub(crate) const COMMENTS_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS comments (
        comment_id TEXT PRIMARY KEY, conversation_id INTEGER NOT NULL, channel TEXT NOT NULL,
        post_id TEXT NOT NULL, permalink TEXT, created_ms INTEGER NOT NULL,
        private_reply_ms INTEGER, public_reply_ms INTEGER)",
    "CREATE INDEX IF NOT EXISTS comments_by_conversation ON comments (conversation_id, created_ms)",
];

/// A comment to record with the turn that handled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    /// The platform's comment id.
    pub comment_id: String,
    /// Where.
    pub channel: Channel,
    /// The post or media it is under.
    pub post_id: String,
    /// A link to the post, when known.
    pub permalink: Option<String>,
    /// The bot answered it privately.
    pub private_reply: bool,
    /// The bot answered it publicly too.
    pub public_reply: bool,
}

/// Records a comment handled in conversation `conversation_id` (part of the turn's
/// transaction).
///
/// # Errors
///
/// A database error.
pub fn record(
    db: &impl Database,
    conversation_id: i64,
    comment: &NewComment,
    now_ms: i64,
) -> Result<(), DbError> {
    let at = |yes: bool| {
        if yes {
            Value::from(now_ms)
        } else {
            Value::Null
        }
    };
    db.execute(
        "INSERT INTO comments (comment_id, conversation_id, channel, post_id, permalink,
            created_ms, private_reply_ms, public_reply_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (comment_id) DO NOTHING",
        &[
            comment.comment_id.as_str().into(),
            conversation_id.into(),
            comment.channel.into(),
            comment.post_id.as_str().into(),
            comment.permalink.as_deref().into(),
            now_ms.into(),
            at(comment.private_reply),
            at(comment.public_reply),
        ],
    )?;
    Ok(())
}

/// Whether the bot replied publicly under `comment_id` (a thread it started).
///
/// # Errors
///
/// A database error.
pub fn bot_thread(db: &impl Database, comment_id: &str) -> Result<bool, DbError> {
    Ok(!db
        .execute(
            "SELECT 1 FROM comments WHERE comment_id = ? AND public_reply_ms IS NOT NULL",
            &[comment_id.into()],
        )?
        .is_empty())
}

/// Whether the bot replied publicly to this customer under `post_id` since `since_ms`.
///
/// # Errors
///
/// A database error.
pub fn public_reply_since(
    db: &impl Database,
    channel: Channel,
    customer_id: &str,
    post_id: &str,
    since_ms: i64,
) -> Result<bool, DbError> {
    Ok(!db
        .execute(
            "SELECT 1 FROM comments m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.channel = ? AND c.customer_id = ? AND m.post_id = ?
               AND m.public_reply_ms >= ?",
            &[
                channel.into(),
                customer_id.into(),
                post_id.into(),
                since_ms.into(),
            ],
        )?
        .is_empty())
}

/// The latest comment of a conversation: its id, link, and whether it had a private reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestComment {
    /// The comment id.
    pub comment_id: String,
    /// The post it is under.
    pub post_id: String,
    /// A link to the post.
    pub permalink: Option<String>,
    /// When it was handled.
    pub created_ms: i64,
    /// When it got its private reply (Meta allows one per comment).
    pub private_reply_ms: Option<i64>,
}

/// The conversation's latest comment, if it is a comment conversation.
///
/// # Errors
///
/// A database error, or a row that does not decode.
pub fn latest(db: &impl Database, conversation_id: i64) -> Result<Option<LatestComment>, DbError> {
    db.execute(
        "SELECT comment_id, post_id, permalink, created_ms, private_reply_ms FROM comments
         WHERE conversation_id = ? ORDER BY created_ms DESC, rowid DESC LIMIT 1",
        &[conversation_id.into()],
    )?
    .first()
    .map(|values| {
        let row = Row::new(values, "comment");
        Ok(LatestComment {
            comment_id: row.text(0)?,
            post_id: row.text(1)?,
            permalink: row.opt_text(2)?,
            created_ms: row.int(3)?,
            private_reply_ms: row.opt_int(4)?,
        })
    })
    .transpose()
}

/// Marks a comment as answered privately (an agent's private reply); `false` when it had its
/// private reply already (Meta allows one per comment).
///
/// # Errors
///
/// A database error.
pub fn mark_private_reply(
    db: &impl Database,
    comment_id: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let rows = db.execute(
        "UPDATE comments SET private_reply_ms = ? WHERE comment_id = ? AND private_reply_ms IS NULL
         RETURNING 1",
        &[now_ms.into(), comment_id.into()],
    )?;
    Ok(!rows.is_empty())
}

/// Comments handled in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Comments handled.
    pub total: i64,
    /// Of which answered privately (by the bot or an agent).
    pub private: i64,
    /// Of which answered publicly by the bot.
    pub public: i64,
}

/// The comments handled from `from_ms` until before `to_ms`.
///
/// # Errors
///
/// A database error.
pub fn counts(db: &impl Database, from_ms: i64, to_ms: i64) -> Result<Counts, DbError> {
    let rows = db.execute(
        "SELECT COUNT(*), COUNT(private_reply_ms), COUNT(public_reply_ms) FROM comments
         WHERE created_ms >= ? AND created_ms < ?",
        &[from_ms.into(), to_ms.into()],
    )?;
    let Some(values) = rows.first() else {
        return Ok(Counts::default());
    };
    let row = Row::new(values, "comment counts");
    Ok(Counts {
        total: row.int(0)?,
        private: row.int(1)?,
        public: row.int(2)?,
    })
}
