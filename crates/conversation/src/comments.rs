//! Public comments under the page's and the Instagram account's posts: each new comment of
//! a customer is one message of a conversation on the comment channel
//! ([`vocab::Channel::FacebookComments`], [`vocab::Channel::InstagramComments`]), decided like
//! any message, then answered by the comment rules of the shop config (see
//! [`crate::message`]): privately with the FAQ answer, publicly with a short note at most once
//! per post and customer a day, never publicly when angry (the desk gets it, with a high
//! priority).

use crate::Settings;
use crate::message::{self, CommentContext, Inbound};
use meta::{CommentEvent, EventKind};
use store::Database;
use store::DbError;
use store::metrics::Batch;

/// At most one public reply per post and customer in this long.
pub const PUBLIC_REPLY_EVERY_MS: i64 = 24 * 60 * 60 * 1000;

/// What became of a comment.
#[derive(Debug)]
pub enum CommentOutcome {
    /// Not for the bot: a reply in a thread the bot started by replying publicly.
    Ignored,
    /// Handled as a message of the comment channel.
    Handled(message::Outcome),
}

/// Handles one new comment (see the module documentation); `analysis` is the NLU's of its
/// text.
///
/// # Errors
///
/// A database error (nothing stored: answer 500 so that it is delivered again), or a
/// comment on a channel without comments.
pub fn handle(
    db: &impl Database,
    shop: &replies::Shop,
    settings: &Settings,
    comment: &CommentEvent,
    analysis: Option<&policy::Analysis>,
    metrics: &Batch,
    now_ms: i64,
) -> Result<CommentOutcome, DbError> {
    let channel = comment
        .channel
        .comments_of()
        .ok_or_else(|| DbError::new(format!("no comments on {}", comment.channel)))?;
    // The comment rules read before the message's turn, which migrates a new database.
    store::migrate(db)?;
    if let Some(parent) = &comment.parent_id
        && store::comments::bot_thread(db, parent)?
    {
        return Ok(CommentOutcome::Ignored);
    }
    let public_reply_allowed = !store::comments::public_reply_since(
        db,
        channel,
        &comment.from_id,
        &comment.post_id,
        now_ms - PUBLIC_REPLY_EVERY_MS,
    )?;
    let context = CommentContext {
        post_id: comment.post_id.clone(),
        permalink: comment.permalink.clone(),
        public_reply_allowed,
    };
    let kind = EventKind::Text(comment.text.clone());
    // Without a time, the comment is as new as its delivery.
    let written_ms = if comment.timestamp_ms > 0 {
        comment.timestamp_ms.min(now_ms)
    } else {
        now_ms
    };
    let inbound = Inbound {
        channel,
        message_id: Some(&comment.comment_id),
        customer_id: &comment.from_id,
        business_id: &comment.business_id,
        customer_name: comment.from_name.as_deref(),
        customer_ms: written_ms,
        kind: &kind,
        claimed_conversation: None,
        comment: Some(&context),
    };
    message::handle(db, shop, settings, &inbound, analysis, metrics, now_ms)
        .map(CommentOutcome::Handled)
}
