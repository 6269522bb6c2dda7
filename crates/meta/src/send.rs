//! Graph API send requests out: the JSON bodies, with the platform limits applied (Messenger:
//! at most 13 quick replies of 20 characters; WhatsApp: at most 3 reply buttons of 20
//! characters, or a list of at most 10 rows of 24 characters).

use serde_json::{Value, json};

pub use vocab::Button;

/// How a Messenger message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessengerMessaging {
    /// A reply inside the 24-hour window.
    Response,
    /// A human agent's reply up to 7 days after the customer's last message.
    HumanAgent,
}

/// `{base}/{version}/me/messages`.
pub fn messenger_url(base: &str, version: &str) -> String {
    format!(
        "{}/{}/me/messages",
        base.trim_end_matches('/'),
        version.trim_matches('/')
    )
}

/// `{base}/{version}/{phone_number_id}/messages`.
pub fn whatsapp_url(base: &str, version: &str, phone_number_id: &str) -> String {
    format!(
        "{}/{}/{phone_number_id}/messages",
        base.trim_end_matches('/'),
        version.trim_matches('/')
    )
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A Messenger text message with optional quick replies (the first 13 are kept).
pub fn messenger_text(
    recipient: &str,
    text: &str,
    quick_replies: &[Button],
    messaging: MessengerMessaging,
) -> Value {
    let mut message = json!({ "text": truncate(text, 2000) });
    if !quick_replies.is_empty() {
        message["quick_replies"] = quick_replies
            .iter()
            .take(13)
            .map(|b| json!({ "content_type": "text", "title": truncate(&b.title, 20), "payload": b.payload }))
            .collect();
    }
    let mut body = json!({ "recipient": { "id": recipient }, "message": message });
    match messaging {
        MessengerMessaging::Response => body["messaging_type"] = json!("RESPONSE"),
        MessengerMessaging::HumanAgent => {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!("HUMAN_AGENT");
        }
    }
    body
}

/// A Messenger sender action (`typing_on`, `mark_seen`), sent as its own call.
pub fn messenger_sender_action(recipient: &str, action: &str) -> Value {
    json!({ "recipient": { "id": recipient }, "sender_action": action })
}

/// A WhatsApp message: plain text without buttons, reply buttons for up to 3 choices, a list
/// for up to 10 (more are dropped).
pub fn whatsapp_text(to: &str, text: &str, buttons: &[Button], list_label: &str) -> Value {
    let base = json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": to });
    let mut body = base;
    if buttons.is_empty() {
        body["type"] = json!("text");
        body["text"] = json!({ "body": truncate(text, 4096), "preview_url": false });
    } else if buttons.len() <= 3 {
        body["type"] = json!("interactive");
        body["interactive"] = json!({
            "type": "button",
            "body": { "text": truncate(text, 1024) },
            "action": { "buttons": buttons.iter().map(|b| json!({
                "type": "reply", "reply": { "id": b.payload, "title": truncate(&b.title, 20) }
            })).collect::<Vec<_>>() },
        });
    } else {
        body["type"] = json!("interactive");
        body["interactive"] = json!({
            "type": "list",
            "body": { "text": truncate(text, 1024) },
            "action": {
                "button": truncate(list_label, 20),
                "sections": [{ "title": truncate(list_label, 24), "rows": buttons.iter().take(10).map(|b| json!({
                    "id": b.payload, "title": truncate(&b.title, 24)
                })).collect::<Vec<_>>() }],
            },
        });
    }
    body
}

/// Marks an incoming WhatsApp message as read.
pub fn whatsapp_mark_read(message_id: &str) -> Value {
    json!({ "messaging_product": "whatsapp", "status": "read", "message_id": message_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buttons(n: usize) -> Vec<Button> {
        (0..n)
            .map(|i| Button {
                payload: format!("P{i}"),
                title: format!("Choice number {i} with a long title"),
            })
            .collect()
    }

    #[test]
    fn messenger_bodies() {
        let plain = messenger_text("U1", "hi", &[], MessengerMessaging::Response);
        assert_eq!(
            plain,
            json!({"recipient":{"id":"U1"},"messaging_type":"RESPONSE","message":{"text":"hi"}})
        );
        let many = messenger_text("U1", "pick", &buttons(20), MessengerMessaging::Response);
        let replies = many["message"]["quick_replies"].as_array().unwrap();
        assert_eq!(replies.len(), 13);
        assert!(
            replies
                .iter()
                .all(|r| r["title"].as_str().unwrap().chars().count() <= 20)
        );
        let agent = messenger_text("U1", "hello from Anna", &[], MessengerMessaging::HumanAgent);
        assert_eq!(
            (agent["messaging_type"].as_str(), agent["tag"].as_str()),
            (Some("MESSAGE_TAG"), Some("HUMAN_AGENT"))
        );
        assert_eq!(
            messenger_sender_action("U1", "typing_on")["sender_action"],
            "typing_on"
        );
        assert_eq!(
            messenger_url("https://graph.facebook.com/", "v25.0"),
            "https://graph.facebook.com/v25.0/me/messages"
        );
    }

    #[test]
    fn whatsapp_bodies_follow_the_limits() {
        let cases = [
            (0, "text", None),
            (1, "interactive", Some("button")),
            (3, "interactive", Some("button")),
            (4, "interactive", Some("list")),
            (12, "interactive", Some("list")),
        ];
        for (n, kind, interactive) in cases {
            let body = whatsapp_text("3630", "How can I help?", &buttons(n), "Options");
            assert_eq!(body["type"], kind, "{n}");
            assert_eq!(body["interactive"]["type"].as_str(), interactive, "{n}");
            assert_eq!(body["messaging_product"], "whatsapp");
        }
        let three = whatsapp_text("3630", "x", &buttons(3), "Options");
        let titles: Vec<usize> = three["interactive"]["action"]["buttons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["reply"]["title"].as_str().unwrap().chars().count())
            .collect();
        assert!(titles.iter().all(|t| *t <= 20), "{titles:?}");
        let list = whatsapp_text("3630", "x", &buttons(12), "Options");
        assert_eq!(
            list["interactive"]["action"]["sections"][0]["rows"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
        assert_eq!(
            whatsapp_mark_read("wamid.1"),
            json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.1"})
        );
        assert_eq!(
            whatsapp_url("http://127.0.0.1:9", "v25.0", "PNID"),
            "http://127.0.0.1:9/v25.0/PNID/messages"
        );
    }
}
