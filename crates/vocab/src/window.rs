//! How long after the customer's last message a business may still write to them: Meta's
//! standard 24-hour window, and on Messenger and Instagram up to 7 days for a person's reply
//! tagged `HUMAN_AGENT`. The web chat has no such limit.

use crate::Channel;

/// The standard messaging window after the customer's last message.
pub const STANDARD_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a human agent may still answer on Messenger or Instagram (`MESSAGE_TAG`
/// `HUMAN_AGENT`).
pub const HUMAN_AGENT_MS: i64 = 7 * STANDARD_MS;

/// What may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Any reply.
    Standard,
    /// Only a person's reply, tagged `HUMAN_AGENT` (Messenger and Instagram, 24 hours to 7
    /// days).
    HumanAgent,
    /// Nothing (WhatsApp would need an approved template).
    Closed,
}

impl Window {
    /// The window on `channel` at `now_ms` for a customer who last wrote at
    /// `last_customer_ms`.
    pub fn at(channel: Channel, last_customer_ms: i64, now_ms: i64) -> Self {
        let since = now_ms.saturating_sub(last_customer_ms);
        match channel {
            Channel::WebChat => Window::Standard,
            // A comment may be answered privately (and publicly) for 7 days.
            Channel::FacebookComments | Channel::InstagramComments if since <= HUMAN_AGENT_MS => {
                Window::Standard
            }
            _ if since <= STANDARD_MS => Window::Standard,
            Channel::Messenger | Channel::Instagram if since <= HUMAN_AGENT_MS => {
                Window::HumanAgent
            }
            _ => Window::Closed,
        }
    }

    /// The name used in the desk's API.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Standard => "standard",
            Window::HumanAgent => "human_agent",
            Window::Closed => "closed",
        }
    }

    /// Why a message cannot go out now, if it cannot: a bot reply needs the standard
    /// window, a person's reply tagged `HUMAN_AGENT` needs at least that window.
    pub fn refusal(self, human_agent_tag: bool) -> Option<&'static str> {
        match (self, human_agent_tag) {
            (Window::Standard, _) | (Window::HumanAgent, true) => None,
            (Window::HumanAgent, false) | (Window::Closed, false) => Some(
                "outside the 24-hour window since the customer's last message: Messenger and Instagram need MESSAGE_TAG HUMAN_AGENT (a human agent, up to 7 days), WhatsApp an approved template",
            ),
            (Window::Closed, true) => Some(
                "more than 7 days since the customer's last message: Messenger and Instagram allow no HUMAN_AGENT reply any more",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_by_channel_and_age() {
        const HOUR: i64 = 60 * 60 * 1000;
        let cases = [
            (Channel::Messenger, 23 * HOUR, Window::Standard),
            (Channel::Messenger, 24 * HOUR, Window::Standard),
            (Channel::Messenger, 25 * HOUR, Window::HumanAgent),
            (Channel::Messenger, 7 * 24 * HOUR, Window::HumanAgent),
            (Channel::Messenger, 7 * 24 * HOUR + 1, Window::Closed),
            (Channel::WhatsApp, 24 * HOUR, Window::Standard),
            (Channel::WhatsApp, 25 * HOUR, Window::Closed),
            (Channel::WebChat, 30 * 24 * HOUR, Window::Standard),
            (Channel::Instagram, 24 * HOUR, Window::Standard),
            (Channel::Instagram, 25 * HOUR, Window::HumanAgent),
            (Channel::Instagram, 7 * 24 * HOUR + 1, Window::Closed),
            (Channel::FacebookComments, 6 * 24 * HOUR, Window::Standard),
            (
                Channel::InstagramComments,
                7 * 24 * HOUR + 1,
                Window::Closed,
            ),
        ];
        let now = 1_800_000_000_000;
        for (channel, age, window) in cases {
            assert_eq!(
                Window::at(channel, now - age, now),
                window,
                "{channel} {age}"
            );
        }
    }

    #[test]
    fn what_may_go_out_in_each_window() {
        let cases = [
            (Window::Standard, false, true),
            (Window::Standard, true, true),
            (Window::HumanAgent, true, true),
            (Window::HumanAgent, false, false),
            (Window::Closed, true, false),
            (Window::Closed, false, false),
        ];
        for (window, tag, allowed) in cases {
            assert_eq!(window.refusal(tag).is_none(), allowed, "{window:?} {tag}");
        }
    }
}
