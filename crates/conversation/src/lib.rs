//! The conversation core: what happens to a customer's message, and how its replies are
//! delivered, as plain Rust over the [`store`], with the clock passed in. The components are
//! shells around it: they turn HTTP and Spin into calls of this crate (and run the NLU and
//! the Graph API calls, which need the runtime).
//!
//! ```
//! # fn demo(db: &impl store::Database, shop: &replies::Shop, event: &meta::InboundEvent,
//! #         analysis: Option<&policy::Analysis>) -> Result<(), store::DbError> {
//! use conversation::{Settings, message};
//! let now_ms = 1_800_000_000_000;
//! let settings = Settings::default();
//! let outcome = message::handle(
//!     db, shop, &settings, &message::Inbound::from_event(event, now_ms), analysis,
//!     &store::metrics::Batch::default(), now_ms,
//! )?;
//! if let message::Handled::Stored(plan, stored) = outcome.handled {
//!     // answer 200, then send `stored.outbox` (see `delivery`)
//! #   let _ = (plan, stored);
//! }
//! # Ok(()) }
//! ```
//!
//! - [`message`]: one customer message: read what the decision needs, decide with the
//!   policy, store the outcome and its replies in one short transaction.
//! - [`delivery`]: outbox rows to requests (the messaging window, routes, tokens) and the
//!   platform's answers to outcomes recorded with back-off.
//! - [`desk`]: the agents' operations (claim, reply, transfer, resolve, saved replies) and
//!   the operator's (crisis mode, erasure, retention).
//! - [`comments`]: public comments under the page's and the Instagram account's posts.
//! - [`customers`]: the customer across channels (the desk's customer panel, linked
//!   identities, notes and tags).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod comments;
pub mod customers;
pub mod delivery;
pub mod desk;
pub mod limits;
pub mod message;
pub mod requests;
pub mod webchat;

use store::{Conversation, DbError, NewOutbox};
use vocab::{Channel, HandoffReason, Lang};

/// The `settings` keys of the operator's crisis switch.
pub const CRISIS_MODE_KEY: &str = "crisis_mode";
/// The holding message sent in `holding` crisis mode.
pub const CRISIS_MESSAGE_KEY: &str = "crisis_message";

/// The operator's settings that shape a conversation (from Spin variables, parsed at the
/// edge).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where new handoffs are announced (a JSON POST), if anywhere.
    pub handoff_notify_url: Option<String>,
    /// How long a request reserves the outbox rows it stored, to send them itself.
    pub lease_ms: i64,
    /// The key of the hashes that stand for personal identifiers in the database: processed
    /// message ids and audit subjects (the `id_hash_key` Spin variable).
    pub id_hash_key: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            handoff_notify_url: None,
            lease_ms: delivery::LEASE_MS,
            id_hash_key: String::new(),
        }
    }
}

impl Settings {
    /// What the dedupe table stores for a platform message id: its keyed hash.
    pub fn message_key(&self, channel: Channel, message_id: &str) -> String {
        webhook::keyed_hash(
            self.id_hash_key.as_bytes(),
            &format!("{}:{message_id}", channel.as_str()),
        )
    }

    /// A POST to `handoff_notify_url` (when set) announcing a new handoff, delivered and
    /// retried through the outbox like replies, so a team chat or helpdesk can pick it up.
    /// A new conversation's id is filled in when it is stored.
    pub fn handoff_notification(
        &self,
        conversation: &Conversation,
        reason: HandoffReason,
        last_message: &str,
        lang: Lang,
        now_ms: i64,
    ) -> Option<NewOutbox> {
        let url = self.handoff_notify_url.as_deref()?;
        let body = serde_json::json!({
            "event": "handoff",
            "conversation_id": conversation.id.to_string(),
            "channel": conversation.channel.as_str(),
            "customer_name": conversation.customer_name,
            "language": lang.faq_code(),
            "reason": reason.as_str(),
            "last_message": last_message,
            "desk_path": format!("/desk/#{}", conversation.id),
            "created_ms": now_ms,
        });
        Some(NewOutbox {
            channel: message::NOTIFY_ROUTE.to_string(),
            target: url.to_string(),
            body: body.to_string(),
        })
    }
}

/// The operator's crisis switch as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Crisis {
    /// `normal`, `handoff` or `holding`.
    pub mode: policy::Crisis,
    /// The stored holding message (see [`Crisis::holding_message`]).
    pub holding: Option<String>,
}

impl Crisis {
    /// The switch as read with a message's context.
    ///
    /// # Errors
    ///
    /// A stored mode this code does not know.
    pub fn from_context(context: &store::turn::Context) -> Result<Self, DbError> {
        let mode = match context.crisis_mode.as_deref() {
            None | Some("normal") => return Ok(Self::default()),
            Some("handoff") => policy::Crisis::HandoffAll,
            Some("holding") => policy::Crisis::Holding,
            Some(other) => {
                return Err(DbError::new(format!(
                    "settings.{CRISIS_MODE_KEY}: unknown crisis mode `{other}`"
                )));
            }
        };
        let holding = (mode == policy::Crisis::Holding)
            .then(|| context.crisis_message.clone())
            .flatten();
        Ok(Self { mode, holding })
    }

    /// The holding message in `lang`: stored as `{"en": ..., "hu": ..., "pl": ...}` (English
    /// as the fallback) or as one text for all languages.
    pub fn holding_message(&self, lang: Lang) -> Option<String> {
        let stored = self.holding.as_deref()?;
        match serde_json::from_str::<serde_json::Value>(stored) {
            Ok(serde_json::Value::Object(map)) => map
                .get(lang.faq_code())
                .or_else(|| map.get("en"))
                .and_then(|v| v.as_str())
                .map(str::to_string),
            _ => Some(stored.to_string()).filter(|s| !s.trim().is_empty()),
        }
    }
}
