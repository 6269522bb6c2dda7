//! The product's vocabulary, defined once and shared by every crate: where a conversation
//! happens ([`Channel`]), the languages the bot answers in ([`Lang`]), who holds a
//! conversation ([`Status`]), why it went to a person ([`HandoffReason`]), a choice offered
//! to the customer ([`Button`]), and how long a platform lets the business answer
//! ([`window`]).
//!
//! Each is stored and sent as a short name and parsed back once, at the edge (a database
//! row, a request), where an unknown name is an error rather than a default:
//!
//! ```
//! use vocab::{Channel, Lang, Status};
//! assert_eq!("whatsapp".parse::<Channel>()?, Channel::WhatsApp);
//! assert_eq!(Channel::WhatsApp.as_str(), "whatsapp");
//! assert_eq!("hu".parse::<Lang>()?.faq_code(), "hu");
//! assert!("telegram".parse::<Channel>().is_err());
//! assert_eq!("queued".parse::<Status>()?, Status::Queued);
//! # Ok::<(), vocab::UnknownName>(())
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::str::FromStr;

pub mod window;

/// A name that is none of a vocabulary's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    kind: &'static str,
    name: String,
}

impl UnknownName {
    /// What was expected (`channel`, `language`, ...).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The name given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`", self.kind, self.name)
    }
}

impl std::error::Error for UnknownName {}

/// Implements `as_str`, `ALL`, `Display` and `FromStr` for a vocabulary enum from one table.
macro_rules! names {
    ($type:ident, $kind:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $type {
            /// Every value, in declaration order.
            pub const ALL: &'static [$type] = &[$($type::$variant),+];

            /// The name stored in the database and used in APIs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = UnknownName;

            fn from_str(name: &str) -> Result<Self, UnknownName> {
                match name {
                    $($name => Ok($type::$variant),)+
                    _ => Err(UnknownName { kind: $kind, name: name.to_string() }),
                }
            }
        }
    };
}

/// Where a conversation happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Facebook Messenger (customer id: the page-scoped id, PSID).
    Messenger,
    /// WhatsApp Cloud API (customer id: the phone number, `wa_id`).
    WhatsApp,
    /// The JSON web chat.
    WebChat,
    /// Instagram direct messages through the Messenger Platform (customer id: the
    /// Instagram-scoped id, IGSID).
    Instagram,
    /// Public comments under a Facebook Page's posts (customer id: the commenter's id).
    FacebookComments,
    /// Public comments under an Instagram account's posts (customer id: the commenter's id).
    InstagramComments,
}

names!(Channel, "channel", [
    Messenger => "messenger",
    WhatsApp => "whatsapp",
    WebChat => "webchat",
    Instagram => "instagram",
    FacebookComments => "facebook_comments",
    InstagramComments => "instagram_comments",
]);

impl Channel {
    /// Public comments (answered by a private reply to the comment, or publicly under it).
    pub fn is_comments(self) -> bool {
        matches!(self, Channel::FacebookComments | Channel::InstagramComments)
    }

    /// The comment channel of a page's (Messenger's) or Instagram account's posts.
    pub fn comments_of(self) -> Option<Channel> {
        match self {
            Channel::Messenger => Some(Channel::FacebookComments),
            Channel::Instagram => Some(Channel::InstagramComments),
            _ => None,
        }
    }
}

/// The languages the bot knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// Hungarian.
    Hu,
    /// Polish.
    Pl,
    /// Anything else (answered in English).
    Other,
}

names!(Lang, "language", [En => "en", Hu => "hu", Pl => "pl", Other => "other"]);

impl Lang {
    /// The language the bot's texts are written in for this one: the language itself, or
    /// English for any other.
    pub fn faq_code(self) -> &'static str {
        match self {
            Lang::Other => Lang::En.as_str(),
            lang => lang.as_str(),
        }
    }
}

/// Who is handling a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The bot answers.
    Bot,
    /// Waiting in the human queue.
    Queued,
    /// An agent owns it.
    Human,
    /// Resolved; the next message reopens it with the bot.
    Closed,
}

names!(Status, "conversation status", [Bot => "bot", Queued => "queued", Human => "human", Closed => "closed"]);

/// Why a conversation goes to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandoffReason {
    /// The customer asked for a person.
    ExplicitRequest,
    /// The customer is angry.
    Anger,
    /// A complaint.
    Complaint,
    /// Two out-of-scope messages in a row.
    OutOfScope,
    /// Two messages in a row the bot was not sure about.
    LowConfidence,
    /// The operator switched on crisis mode: everything goes to people.
    Crisis,
    /// An agent wrote into a conversation the bot held.
    Agent,
}

names!(HandoffReason, "handoff reason", [
    ExplicitRequest => "explicit_request",
    Anger => "anger",
    Complaint => "complaint",
    OutOfScope => "out_of_scope",
    LowConfidence => "low_confidence",
    Crisis => "crisis",
    Agent => "agent",
]);

impl HandoffReason {
    /// The queue priority of a handoff for this reason, raised by the customer's anger
    /// (0..1): angrier and more urgent reasons first. The desk adds the waiting time.
    pub fn priority(self, anger: f64) -> i64 {
        let base = match self {
            HandoffReason::Anger => 3,
            HandoffReason::Complaint | HandoffReason::ExplicitRequest => 2,
            _ => 1,
        };
        base + (anger.clamp(0.0, 1.0) * 2.0).round() as i64
    }
}

/// A choice offered to the customer with a message: a Messenger quick reply, a WhatsApp
/// button or list row, a web chat option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// What comes back when pressed.
    pub payload: String,
    /// What the customer sees.
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_unknown_names_are_errors() {
        fn round_trip<T: Copy + PartialEq + fmt::Debug + FromStr<Err = UnknownName>>(
            all: &[T],
            name: impl Fn(T) -> &'static str,
            kind: &str,
        ) {
            for value in all {
                assert_eq!(name(*value).parse::<T>(), Ok(*value));
            }
            let err = "nope".parse::<T>().unwrap_err();
            assert_eq!((err.kind(), err.name()), (kind, "nope"));
            assert!(err.to_string().contains(kind));
        }
        round_trip(Channel::ALL, Channel::as_str, "channel");
        round_trip(Lang::ALL, Lang::as_str, "language");
        round_trip(Status::ALL, Status::as_str, "conversation status");
        round_trip(HandoffReason::ALL, HandoffReason::as_str, "handoff reason");
        assert_eq!("".parse::<Channel>().map_err(|e| e.kind()), Err("channel"));
    }

    #[test]
    fn texts_for_other_languages_are_english() {
        let cases = [
            (Lang::En, "en"),
            (Lang::Hu, "hu"),
            (Lang::Pl, "pl"),
            (Lang::Other, "en"),
        ];
        for (lang, faq) in cases {
            assert_eq!(lang.faq_code(), faq, "{lang}");
        }
    }

    #[test]
    fn priorities_put_anger_first() {
        let cases = [
            (HandoffReason::Anger, 1.0, 5),
            (HandoffReason::Anger, 0.0, 3),
            (HandoffReason::Complaint, 0.5, 3),
            (HandoffReason::ExplicitRequest, 0.0, 2),
            (HandoffReason::LowConfidence, 0.0, 1),
            (HandoffReason::Agent, 2.0, 3),
        ];
        for (reason, anger, priority) in cases {
            assert_eq!(reason.priority(anger), priority, "{reason} {anger}");
        }
    }
}
