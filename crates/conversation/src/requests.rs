//! The JSON bodies the web chat and the desk accept, parsed and checked without Spin (the
//! components answer [`BadRequest`] as it is). Unknown fields are refused (a misspelt
//! `"notes"` is an error, not a silently empty note). Every parser takes the raw body: invalid UTF-8,
//! NUL bytes, deep nesting or huge arrays are a [`BadRequest`], never a panic (fuzzed in
//! `fuzz/`).

use crate::desk::{CrisisMode, TransferTo};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The longest web chat message accepted, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;

/// The longest option payload accepted (ours are `FAQ:<intent>`, `CSAT:<n>`, `HUMAN`).
pub const MAX_PAYLOAD_BYTES: usize = 100;

/// The longest agent message (Messenger's text limit).
pub const MAX_AGENT_MESSAGE_CHARS: usize = 2000;

/// The longest agent name.
pub const MAX_NAME_CHARS: usize = 80;

/// A body refused: the HTTP status (400, or 413 for a text over its limit) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// 400 or 413.
    pub status: u16,
    /// What was wrong and what was expected.
    pub message: String,
}

impl BadRequest {
    fn new(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }

    fn too_long(what: &str, max: usize) -> Self {
        Self {
            status: 413,
            message: format!("{what} longer than {max} characters"),
        }
    }
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for BadRequest {}

/// A JSON body as `T`; an empty (or all-blank) body reads as `{}` when `empty_is_object`.
fn json<T: DeserializeOwned>(
    body: &[u8],
    expected: &str,
    empty_is_object: bool,
) -> Result<T, BadRequest> {
    let body = if empty_is_object && body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    // All of it UTF-8: serde_json checks only the strings it keeps.
    let text = std::str::from_utf8(body).map_err(|e| {
        BadRequest::new(format!(
            "invalid JSON body: not UTF-8 ({e}); expected {expected}"
        ))
    })?;
    serde_json::from_str(text)
        .map_err(|e| BadRequest::new(format!("invalid JSON body: {e}; expected {expected}")))
}

/// A trimmed text of 1 to `max` characters.
fn text_of(text: &str, what: &str, max: usize) -> Result<String, BadRequest> {
    let text = text.trim();
    if text.is_empty() {
        return Err(BadRequest::new(format!("{what} is empty")));
    }
    if text.chars().count() > max {
        return Err(BadRequest::too_long(what, max));
    }
    Ok(text.to_string())
}

/// A web chat message: the conversation it claims to continue, and what was sent (a text,
/// or the payload of an option the customer picked, with its title).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// The conversation the page shows, if any (it must be the session's).
    pub conversation_id: Option<i64>,
    /// What the customer sent.
    pub kind: meta::EventKind,
}

/// Parses `POST /api/chat`: `{"text", "conversation_id"?, "payload"?}`.
///
/// # Errors
///
/// [`BadRequest`]: not that JSON object, an empty text, a text over [`MAX_CHAT_CHARS`]
/// (413), a payload that is empty or over [`MAX_PAYLOAD_BYTES`], a conversation id that is
/// not a number.
pub fn chat_message(body: &[u8]) -> Result<ChatMessage, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        conversation_id: Option<String>,
        text: String,
        payload: Option<String>,
    }
    let request: Request = json(body, r#"{"text", "conversation_id"?, "payload"?}"#, false)?;
    if request.text.trim().is_empty() {
        return Err(BadRequest::new("text is empty"));
    }
    if request.text.chars().count() > MAX_CHAT_CHARS {
        return Err(BadRequest::too_long("text", MAX_CHAT_CHARS));
    }
    let conversation_id = match request.conversation_id.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Err(BadRequest::new("conversation_id must be a number")),
    };
    let kind = match request.payload {
        Some(payload) if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES => {
            return Err(BadRequest::new(format!(
                "payload must be 1 to {MAX_PAYLOAD_BYTES} bytes"
            )));
        }
        Some(payload) => meta::EventKind::Payload {
            payload,
            title: Some(request.text),
        },
        None => meta::EventKind::Text(request.text),
    };
    Ok(ChatMessage {
        conversation_id,
        kind,
    })
}

/// Parses `POST /api/desk/agents`: `{"name"}`; returns the trimmed name.
///
/// # Errors
///
/// [`BadRequest`]: not that object, or a name that is empty or over [`MAX_NAME_CHARS`].
pub fn agent_name(body: &[u8]) -> Result<String, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewAgent {
        name: String,
    }
    let request: NewAgent = json(body, r#"{"name": "..."}"#, true)?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(BadRequest::new(format!(
            "name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_string())
}

/// Parses an agent's reply, `{"text"}`; returns the trimmed text.
///
/// # Errors
///
/// [`BadRequest`]: not that object, an empty text, or one over
/// [`MAX_AGENT_MESSAGE_CHARS`] (413).
pub fn agent_message(body: &[u8]) -> Result<String, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Message {
        text: String,
    }
    let request: Message = json(body, r#"{"text": "..."}"#, true)?;
    text_of(&request.text, "text", MAX_AGENT_MESSAGE_CHARS)
}

/// Parses a transfer, `{"agent_id": <id>}` (a number or a numeric string) or
/// `{"queue": true}`.
///
/// # Errors
///
/// [`BadRequest`]: not exactly one of the two, or an agent id that is not a number.
pub fn transfer(body: &[u8]) -> Result<TransferTo, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Transfer {
        agent_id: Option<serde_json::Value>,
        #[serde(default)]
        queue: bool,
    }
    let request: Transfer = json(body, r#"{"agent_id": <id>} or {"queue": true}"#, true)?;
    match (&request.agent_id, request.queue) {
        (None, true) => Ok(TransferTo::Queue),
        (Some(agent), false) => agent
            .as_i64()
            .or_else(|| agent.as_str().and_then(|s| s.parse().ok()))
            .map(TransferTo::Agent)
            .ok_or_else(|| BadRequest::new("agent_id must be an agent's id")),
        _ => Err(BadRequest::new(
            r#"give exactly one of {"agent_id": <id>} or {"queue": true}"#,
        )),
    }
}

/// Parses a resolution, `{"note"?}`; returns the note.
///
/// # Errors
///
/// [`BadRequest`]: not that object.
pub fn resolve_note(body: &[u8]) -> Result<Option<String>, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Resolve {
        note: Option<String>,
    }
    let request: Resolve = json(body, r#"{"note"?: "..."}"#, true)?;
    Ok(request.note)
}

/// Parses the crisis switch, `{"mode", "message"?}`: the mode, and the holding message as
/// stored (a text, or a per-language object with at least `en`, kept as JSON).
///
/// # Errors
///
/// [`BadRequest`]: not that object, an unknown mode, or a message of another shape.
pub fn crisis(body: &[u8]) -> Result<(CrisisMode, Option<String>), BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Crisis {
        mode: String,
        message: Option<serde_json::Value>,
    }
    let request: Crisis = json(
        body,
        r#"{"mode": "normal" | "handoff" | "holding", "message"?: "..." or {"en", "hu", "pl"}}"#,
        true,
    )?;
    let mode = CrisisMode::parse(&request.mode).map_err(|e| BadRequest::new(e.to_string()))?;
    let message = match request.message {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => Some(text),
        Some(serde_json::Value::Object(map))
            if map
                .get("en")
                .and_then(|v| v.as_str())
                .is_some_and(|t| !t.trim().is_empty()) =>
        {
            Some(serde_json::Value::Object(map).to_string())
        }
        None => None,
        _ => {
            return Err(BadRequest::new(
                r#"message must be a text or {"en": ..., "hu": ..., "pl": ...} with at least "en""#,
            ));
        }
    };
    Ok((mode, message))
}

/// Parses an agent's label for a customer message, `{"intent"}`; returns the intent.
///
/// # Errors
///
/// [`BadRequest`]: not that object, or an empty intent.
pub fn intent_label(body: &[u8]) -> Result<String, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Label {
        intent: String,
    }
    let request: Label = json(body, r#"{"intent": "<intent or out_of_scope>"}"#, true)?;
    text_of(&request.intent, "intent", 64)
}

/// A saved reply as the operator sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedReplyBody {
    /// What agents type after `/`: 1 to 32 of `a-z`, `0-9`, `_`, `-`.
    pub shortcut: String,
    /// `en`, `hu` or `pl`.
    pub language: vocab::Lang,
    /// The text (placeholders such as `{email}` allowed), 1 to 2000 characters.
    pub text: String,
}

/// Parses a saved reply, `{"shortcut", "language", "text"}`.
///
/// # Errors
///
/// [`BadRequest`]: not that object, a shortcut of other characters, a language the bot does
/// not speak, an empty text, or a text over [`MAX_AGENT_MESSAGE_CHARS`] (413).
pub fn saved_reply(body: &[u8]) -> Result<SavedReplyBody, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Saved {
        shortcut: String,
        language: String,
        text: String,
    }
    let expected = r#"{"shortcut": "<a-z 0-9 _ ->", "language": "en|hu|pl", "text": "<reply>"}"#;
    let request: Saved = json(body, expected, false)?;
    let shortcut = request.shortcut.trim().trim_start_matches('/').to_string();
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if shortcut.is_empty() || shortcut.chars().count() > 32 || !shortcut.chars().all(valid) {
        return Err(BadRequest::new(format!(
            "shortcut {:?}: 1 to 32 of a-z, 0-9, _ and -",
            request.shortcut
        )));
    }
    let language = match request.language.parse::<vocab::Lang>() {
        Ok(lang) if lang != vocab::Lang::Other => lang,
        _ => {
            return Err(BadRequest::new(format!(
                "language {:?}: one of en, hu, pl",
                request.language
            )));
        }
    };
    let text = text_of(&request.text, "text", MAX_AGENT_MESSAGE_CHARS)?;
    Ok(SavedReplyBody {
        shortcut,
        language,
        text,
    })
}

/// The longest customer notes.
pub const MAX_NOTES_CHARS: usize = 4000;

/// Parses a customer's notes and tags, `{"notes": "...", "tags": ["vip", ...]}` (both
/// optional; what is missing is emptied).
///
/// # Errors
///
/// [`BadRequest`]: not that object, notes over [`MAX_NOTES_CHARS`] (413), more than 20 tags,
/// or a tag that is empty, longer than 32 characters or holds a control character or comma.
pub fn customer_notes(body: &[u8]) -> Result<(String, Vec<String>), BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Notes {
        #[serde(default)]
        notes: String,
        #[serde(default)]
        tags: Vec<String>,
    }
    let request: Notes = json(
        body,
        r#"{"notes": "<text>", "tags": ["<tag>", ...]}"#,
        false,
    )?;
    let notes = request.notes.trim().to_string();
    if notes.chars().count() > MAX_NOTES_CHARS {
        return Err(BadRequest::too_long("notes", MAX_NOTES_CHARS));
    }
    if request.tags.len() > 20 {
        return Err(BadRequest::new("at most 20 tags"));
    }
    let tags = request
        .tags
        .iter()
        .map(|tag| {
            let tag = tag.trim();
            let bad = |c: char| c.is_control() || c == ',';
            if tag.is_empty() || tag.chars().count() > 32 || tag.chars().any(bad) {
                Err(BadRequest::new(format!(
                    "tag {tag:?}: 1 to 32 characters, no commas"
                )))
            } else {
                Ok(tag.to_lowercase())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((notes, tags))
}

/// Parses a customer identity to link, `{"channel": "whatsapp", "customer_id": "3630..."}`.
///
/// # Errors
///
/// [`BadRequest`]: not that object, an unknown channel, or an empty or overlong id.
pub fn identity(body: &[u8]) -> Result<store::customers::Identity, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Identity {
        channel: String,
        customer_id: String,
    }
    let request: Identity = json(
        body,
        r#"{"channel": "messenger|instagram|whatsapp|webchat", "customer_id": "<id>"}"#,
        false,
    )?;
    let channel = request
        .channel
        .parse::<vocab::Channel>()
        .map_err(|e| BadRequest::new(e.to_string()))?;
    let customer_id = text_of(&request.customer_id, "customer_id", 200)?;
    Ok(store::customers::Identity {
        channel,
        customer_id,
    })
}

/// Parses a re-queue of failed replies, `{}` (all) or `{"ids": [...]}`.
///
/// # Errors
///
/// [`BadRequest`]: not that object.
pub fn requeue(body: &[u8]) -> Result<Option<Vec<i64>>, BadRequest> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Requeue {
        ids: Option<Vec<i64>>,
    }
    let request: Requeue = json(body, r#"{} or {"ids": [<outbox row id>, ...]}"#, true)?;
    Ok(request.ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_notes_and_identities_parse_or_say_why() {
        let (notes, tags) =
            customer_notes(br#"{"notes": " Prefers email. ", "tags": ["VIP", "wholesale "]}"#)
                .unwrap();
        assert_eq!(notes, "Prefers email.");
        assert_eq!(tags, ["vip", "wholesale"]);
        assert_eq!(customer_notes(b"{}").unwrap(), (String::new(), vec![]));
        for bad in [
            r#"{"tags": [""]}"#,
            r#"{"tags": ["a,b"]}"#,
            r#"{"tags": "vip"}"#,
            r#"{"note": "x"}"#,
            "",
        ] {
            assert_eq!(
                customer_notes(bad.as_bytes()).unwrap_err().status,
                400,
                "{bad}"
            );
        }
        let long = format!(r#"{{"notes": "{}"}}"#, "a".repeat(4001));
        assert_eq!(customer_notes(long.as_bytes()).unwrap_err().status, 413);
        let who = identity(br#"{"channel": "whatsapp", "customer_id": "3630"}"#).unwrap();
        assert_eq!(
            (who.channel, who.customer_id.as_str()),
            (vocab::Channel::WhatsApp, "3630")
        );
        for bad in [
            r#"{"channel": "telegram", "customer_id": "1"}"#,
            r#"{"channel": "whatsapp", "customer_id": " "}"#,
            r#"{"channel": "whatsapp"}"#,
        ] {
            assert_eq!(identity(bad.as_bytes()).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn saved_replies_parse_or_say_why() {
        let body = r#"{"shortcut": "/ship-eu", "language": "hu", "text": " Írj a {email} címre "}"#;
        let ok = saved_reply(body.as_bytes()).unwrap();
        assert_eq!(ok.shortcut, "ship-eu");
        assert_eq!(ok.language, vocab::Lang::Hu);
        assert_eq!(ok.text, "Írj a {email} címre");
        for bad in [
            r#"{"shortcut": "Ship", "language": "en", "text": "x"}"#,
            r#"{"shortcut": "", "language": "en", "text": "x"}"#,
            r#"{"shortcut": "a b", "language": "en", "text": "x"}"#,
            r#"{"shortcut": "ship", "language": "de", "text": "x"}"#,
            r#"{"shortcut": "ship", "language": "other", "text": "x"}"#,
            r#"{"shortcut": "ship", "language": "en", "text": "  "}"#,
            r#"{"shortcut": "ship", "language": "en"}"#,
            r#"{"shortcut": "ship", "language": "en", "text": "x", "extra": 1}"#,
            "",
        ] {
            let refused = saved_reply(bad.as_bytes()).unwrap_err();
            assert_eq!(refused.status, 400, "{bad}");
        }
        let long = format!(
            r#"{{"shortcut": "x", "language": "en", "text": "{}"}}"#,
            "a".repeat(2001)
        );
        assert_eq!(saved_reply(long.as_bytes()).unwrap_err().status, 413);
    }

    #[test]
    fn bodies_parse_or_say_why() {
        assert_eq!(
            chat_message(br#"{"text":"hi","conversation_id":"7"}"#).unwrap(),
            ChatMessage {
                conversation_id: Some(7),
                kind: meta::EventKind::Text("hi".into()),
            }
        );
        let picked = chat_message(br#"{"text":"Shipping","payload":"FAQ:shipping"}"#).unwrap();
        assert!(
            matches!(picked.kind, meta::EventKind::Payload { ref payload, .. } if payload == "FAQ:shipping")
        );
        for (body, status) in [
            (&b"{\"text\":\"  \"}"[..], 400),
            (b"{\"text\":\"a\",\"conversation_id\":\"x\"}", 400),
            (b"{\"text\":\"a\",\"payload\":\"\"}", 400),
            (b"{\"text\":\"a\",\"extra\":1}", 400),
            (b"", 400),
            (b"\xff\xfe", 400),
        ] {
            assert_eq!(chat_message(body).unwrap_err().status, status, "{body:?}");
        }
        let long = format!(r#"{{"text":"{}"}}"#, "a".repeat(MAX_CHAT_CHARS + 1));
        assert_eq!(chat_message(long.as_bytes()).unwrap_err().status, 413);
        assert_eq!(agent_name(br#"{"name":" Anna "}"#).unwrap(), "Anna");
        assert_eq!(agent_message(b"").unwrap_err().status, 400);
        assert_eq!(
            transfer(br#"{"agent_id":"3"}"#).unwrap(),
            TransferTo::Agent(3)
        );
        assert_eq!(transfer(br#"{"queue":true}"#).unwrap(), TransferTo::Queue);
        assert!(transfer(br#"{"queue":true,"agent_id":3}"#).is_err());
        assert_eq!(resolve_note(b" ").unwrap(), None);
        assert_eq!(
            crisis(br#"{"mode":"holding","message":{"en":"Back soon"}}"#).unwrap(),
            (CrisisMode::Holding, Some(r#"{"en":"Back soon"}"#.into()))
        );
        assert!(crisis(br#"{"mode":"holding","message":{"hu":"x"}}"#).is_err());
        assert_eq!(requeue(br#"{"ids":[1,2]}"#).unwrap(), Some(vec![1, 2]));
        assert!(requeue(br#"{"id":[1]}"#).is_err());
        assert!(resolve_note(br#"{"notes":"typo"}"#).is_err());
        assert_eq!(
            intent_label(br#"{"intent":" refund_status "}"#).unwrap(),
            "refund_status"
        );
        assert!(intent_label(br#"{"intent":""}"#).is_err());
    }
}
