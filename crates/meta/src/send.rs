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

/// Where a public reply to a comment goes: `{base}/{version}/{comment_id}/comments` on a
/// Facebook Page, `.../{comment_id}/replies` on Instagram.
pub fn comment_reply_url(base: &str, version: &str, instagram: bool, comment_id: &str) -> String {
    format!(
        "{}/{}/{comment_id}/{}",
        base.trim_end_matches('/'),
        version.trim_matches('/'),
        if instagram { "replies" } else { "comments" }
    )
}

/// A private reply to a public comment (Messenger Platform private replies: one message to
/// the commenter, sent to `me/messages` with the comment as recipient).
pub fn private_reply(comment_id: &str, text: &str) -> Value {
    json!({
        "recipient": { "comment_id": comment_id },
        "message": { "text": truncate(text, 2000) },
    })
}

/// A public reply under a comment.
pub fn public_reply(text: &str) -> Value {
    json!({ "message": truncate(text, 8000) })
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

/// A WhatsApp template message (the only kind WhatsApp delivers more than 24 hours after the
/// customer's last message): the approved template `name` in `language`, `body_text` (if
/// any) as body variable `{{1}}`, and `quick_reply_payloads` for its quick-reply buttons in
/// order. WhatsApp refuses variables with line breaks, tabs or more than four spaces in a
/// row, so those are folded into single spaces.
pub fn whatsapp_template(
    to: &str,
    name: &str,
    language: &str,
    body_text: Option<&str>,
    quick_reply_payloads: &[String],
) -> Value {
    let mut components = Vec::new();
    if let Some(text) = body_text {
        let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
        components.push(json!({
            "type": "body",
            "parameters": [{ "type": "text", "text": truncate(&folded, 1024) }],
        }));
    }
    for (index, payload) in quick_reply_payloads.iter().enumerate() {
        components.push(json!({
            "type": "button", "sub_type": "quick_reply", "index": index.to_string(),
            "parameters": [{ "type": "payload", "payload": payload }],
        }));
    }
    json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
        "type": "template",
        "template": { "name": name, "language": { "code": language }, "components": components },
    })
}

/// Marks an incoming WhatsApp message as read.
pub fn whatsapp_mark_read(message_id: &str) -> Value {
    json!({ "messaging_product": "whatsapp", "status": "read", "message_id": message_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_replies_go_to_the_comment() {
        let private = private_reply("C1", "Shipping is €9.90.");
        assert_eq!(private["recipient"]["comment_id"], "C1");
        assert_eq!(private["message"]["text"], "Shipping is €9.90.");
        assert_eq!(
            public_reply("Sent you a message.")["message"],
            "Sent you a message."
        );
        assert_eq!(
            comment_reply_url("https://g.example/", "v25.0", false, "C1"),
            "https://g.example/v25.0/C1/comments"
        );
        assert_eq!(
            comment_reply_url("https://g.example", "v25.0", true, "C1"),
            "https://g.example/v25.0/C1/replies"
        );
    }

    #[test]
    fn a_template_carries_the_text_as_its_variable_and_the_button_payloads() {
        let body = whatsapp_template(
            "3630",
            "agent_follow_up",
            "hu",
            Some("Szia!\n\nMegnéztem:\tjó      lesz."),
            &["CSAT:1".to_string(), "CSAT:2".to_string()],
        );
        assert_eq!(body["type"], "template");
        assert_eq!(body["to"], "3630");
        let t = &body["template"];
        assert_eq!(t["name"], "agent_follow_up");
        assert_eq!(t["language"]["code"], "hu");
        assert_eq!(
            t["components"][0]["parameters"][0]["text"],
            "Szia! Megnéztem: jó lesz."
        );
        assert_eq!(t["components"][1]["sub_type"], "quick_reply");
        assert_eq!(t["components"][2]["index"], "1");
        assert_eq!(t["components"][2]["parameters"][0]["payload"], "CSAT:2");
        let bare = whatsapp_template("3630", "csat", "en", None, &[]);
        assert_eq!(bare["template"]["components"], json!([]));
    }

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
