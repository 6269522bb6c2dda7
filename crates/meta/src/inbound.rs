//! Webhook events in.

use serde::Deserialize;
use std::fmt;

pub use vocab::Channel;

/// What the customer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A text message.
    Text(String),
    /// A button press: a Messenger postback or quick reply, a WhatsApp button or list reply.
    Payload {
        /// The payload (id) we attached to the button.
        payload: String,
        /// The button's title as the customer saw it.
        title: Option<String>,
    },
    /// Something that is not text (image, sticker, audio, video, location, file, ...).
    NonText(String),
}

/// One customer event worth handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    /// The channel it came from.
    pub channel: Channel,
    /// Meta's id of the message (Messenger `mid`, WhatsApp `id`): the dedupe key.
    pub message_id: String,
    /// The customer (PSID or WhatsApp number).
    pub customer_id: String,
    /// The customer's profile name, when the platform sends it (WhatsApp `contacts`).
    pub customer_name: Option<String>,
    /// The business side: the page id, or the WhatsApp `phone_number_id` to send from.
    pub business_id: String,
    /// When the customer sent it, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// What was sent.
    pub kind: EventKind,
}

/// A webhook body that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    message: String,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

#[derive(Deserialize)]
struct Envelope<E> {
    object: String,
    #[serde(default = "Vec::new")]
    entry: Vec<E>,
}

#[derive(Deserialize)]
struct MessengerEntry {
    #[serde(default)]
    id: String,
    #[serde(default)]
    time: i64,
    #[serde(default)]
    messaging: Vec<MessengerEvent>,
    /// Page `feed` and Instagram `comments` changes.
    #[serde(default)]
    changes: Vec<crate::comments::Change>,
}

/// What one Messenger Platform webhook POST carries: direct messages and public comments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Webhook {
    /// Direct messages, in the order they were sent.
    pub messages: Vec<InboundEvent>,
    /// New comments by customers, in the order they were written.
    pub comments: Vec<crate::CommentEvent>,
}

impl From<Vec<InboundEvent>> for Webhook {
    fn from(messages: Vec<InboundEvent>) -> Self {
        Self {
            messages,
            comments: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct MessengerEvent {
    sender: Option<Id>,
    recipient: Option<Id>,
    #[serde(default)]
    timestamp: i64,
    message: Option<MessengerMessage>,
    postback: Option<MessengerPostback>,
}

#[derive(Deserialize)]
struct MessengerMessage {
    mid: Option<String>,
    text: Option<String>,
    quick_reply: Option<Payload>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    is_echo: bool,
    /// Instagram: the customer unsent the message.
    #[serde(default)]
    is_deleted: bool,
}

#[derive(Deserialize)]
struct Payload {
    payload: String,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct MessengerPostback {
    mid: Option<String>,
    title: Option<String>,
    payload: Option<String>,
}

/// A webhook body's envelope. The whole body must be UTF-8 (JSON is; serde_json checks only
/// the strings it keeps, so invalid bytes in a field we ignore would pass unnoticed).
fn envelope<T: serde::de::DeserializeOwned>(body: &[u8], channel: &str) -> Result<T, ParseError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ParseError::new(format!("malformed {channel} payload: not UTF-8 ({e})")))?;
    serde_json::from_str(text)
        .map_err(|e| ParseError::new(format!("malformed {channel} payload: {e}")))
}

/// Parses a Messenger webhook body (`object: "page"`): its direct messages.
///
/// # Errors
///
/// Not JSON, not an object of the expected shape, or another `object` type.
pub fn parse_messenger(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    parse_messaging(body, "page", Channel::Messenger).map(|w| w.messages)
}

/// Parses an Instagram messaging webhook body (`object: "instagram"`, the Messenger
/// Platform's `messaging` events for an Instagram professional account): its direct
/// messages.
///
/// # Errors
///
/// Not JSON, not an object of the expected shape, or another `object` type.
pub fn parse_instagram(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    parse_messaging(body, "instagram", Channel::Instagram).map(|w| w.messages)
}

/// Parses a Facebook Page webhook body (`object: "page"`): direct messages and the page
/// feed's new comments.
///
/// # Errors
///
/// Not JSON, not an object of the expected shape (a malformed comment included), or
/// another `object` type.
pub fn parse_page_webhook(body: &[u8]) -> Result<Webhook, ParseError> {
    parse_messaging(body, "page", Channel::Messenger)
}

/// Parses an Instagram webhook body (`object: "instagram"`): direct messages and new
/// comments.
///
/// # Errors
///
/// Not JSON, not an object of the expected shape (a malformed comment included), or
/// another `object` type.
pub fn parse_instagram_webhook(body: &[u8]) -> Result<Webhook, ParseError> {
    parse_messaging(body, "instagram", Channel::Instagram)
}

/// The Messenger Platform's `entry[].messaging[]` events, shared by Messenger and Instagram,
/// and the entries' comment `changes`.
fn parse_messaging(body: &[u8], object: &str, channel: Channel) -> Result<Webhook, ParseError> {
    let name = if channel == Channel::Instagram {
        "Instagram"
    } else {
        "Messenger"
    };
    let envelope: Envelope<MessengerEntry> = envelope(body, name)?;
    if envelope.object != object {
        return Err(ParseError::new(format!(
            "expected object {object:?}, got {:?}",
            envelope.object
        )));
    }
    let mut events = Vec::new();
    let mut comments = Vec::new();
    for entry in envelope.entry {
        comments.extend(crate::comments::comments_of(
            channel,
            &entry.id,
            entry.time,
            entry.changes,
        )?);
        for event in entry.messaging {
            let (Some(sender), Some(recipient)) = (event.sender, event.recipient) else {
                continue;
            };
            // An empty id names nobody (found by fuzzing): such an event is not answerable.
            if sender.id.is_empty() {
                continue;
            }
            let (message_id, kind) = if let Some(message) = event.message {
                // Our own messages echoed back, and messages the customer unsent.
                if message.is_echo || message.is_deleted {
                    continue;
                }
                let Some(mid) = message.mid.filter(|mid| !mid.is_empty()) else {
                    continue;
                };
                let kind = if let Some(quick) = message.quick_reply {
                    EventKind::Payload {
                        payload: quick.payload,
                        title: message.text,
                    }
                } else if let Some(text) = message.text {
                    EventKind::Text(text)
                } else if let Some(first) = message.attachments.first() {
                    EventKind::NonText(if first.kind.is_empty() {
                        "attachment".into()
                    } else {
                        first.kind.clone()
                    })
                } else {
                    continue;
                };
                (mid, kind)
            } else if let Some(postback) = event.postback {
                let Some(payload) = postback.payload else {
                    continue;
                };
                // Postbacks from the persistent menu may lack a mid; derive a stable one.
                let mid = postback
                    .mid
                    .filter(|mid| !mid.is_empty())
                    .unwrap_or_else(|| {
                        format!("postback:{}:{}:{payload}", sender.id, event.timestamp)
                    });
                (
                    mid,
                    EventKind::Payload {
                        payload,
                        title: postback.title,
                    },
                )
            } else {
                // Deliveries, reads, reactions, referrals, ...: nothing to answer.
                continue;
            };
            let business_id = if recipient.id.is_empty() {
                entry.id.clone()
            } else {
                recipient.id
            };
            if business_id.is_empty() {
                continue;
            }
            events.push(InboundEvent {
                channel,
                message_id,
                customer_id: sender.id,
                customer_name: None,
                business_id,
                timestamp_ms: event.timestamp,
                kind,
            });
        }
    }
    events.sort_by_key(|e| e.timestamp_ms);
    comments.sort_by_key(|c| c.timestamp_ms);
    Ok(Webhook {
        messages: events,
        comments,
    })
}

#[derive(Deserialize)]
struct WhatsAppEntry {
    #[serde(default)]
    changes: Vec<WhatsAppChange>,
}

#[derive(Deserialize)]
struct WhatsAppChange {
    value: Option<WhatsAppValue>,
}

#[derive(Deserialize)]
struct WhatsAppValue {
    metadata: Option<WhatsAppMetadata>,
    #[serde(default)]
    contacts: Vec<WhatsAppContact>,
    #[serde(default)]
    messages: Vec<WhatsAppMessage>,
}

#[derive(Deserialize)]
struct WhatsAppMetadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct WhatsAppContact {
    wa_id: Option<String>,
    profile: Option<WhatsAppProfile>,
}

#[derive(Deserialize)]
struct WhatsAppProfile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct WhatsAppMessage {
    from: String,
    id: String,
    #[serde(default)]
    timestamp: String,
    #[serde(rename = "type", default)]
    kind: String,
    text: Option<WhatsAppText>,
    interactive: Option<WhatsAppInteractive>,
    button: Option<WhatsAppButton>,
}

#[derive(Deserialize)]
struct WhatsAppText {
    body: String,
}

#[derive(Deserialize)]
struct WhatsAppInteractive {
    button_reply: Option<WhatsAppReply>,
    list_reply: Option<WhatsAppReply>,
}

#[derive(Deserialize)]
struct WhatsAppReply {
    id: String,
    title: Option<String>,
}

#[derive(Deserialize)]
struct WhatsAppButton {
    payload: Option<String>,
    text: Option<String>,
}

/// Parses a WhatsApp Cloud API webhook body (`object: "whatsapp_business_account"`).
///
/// # Errors
///
/// Not JSON, not an object of the expected shape, or another `object` type.
pub fn parse_whatsapp(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    let envelope: Envelope<WhatsAppEntry> = envelope(body, "WhatsApp")?;
    if envelope.object != "whatsapp_business_account" {
        return Err(ParseError::new(format!(
            "expected object \"whatsapp_business_account\", got {:?}",
            envelope.object
        )));
    }
    let mut events = Vec::new();
    for change in envelope.entry.into_iter().flat_map(|e| e.changes) {
        // `statuses` (sent/delivered/read) carry nothing to answer and are not read.
        let Some(value) = change.value else { continue };
        let Some(metadata) = value.metadata.filter(|m| !m.phone_number_id.is_empty()) else {
            continue;
        };
        for message in value.messages {
            // An empty id names nobody (found by fuzzing): such a message is not answerable.
            if message.from.is_empty() || message.id.is_empty() {
                continue;
            }
            let name = value
                .contacts
                .iter()
                .find(|c| c.wa_id.as_deref() == Some(message.from.as_str()))
                .or(value.contacts.first())
                .and_then(|c| c.profile.as_ref())
                .and_then(|p| p.name.clone());
            let kind = match message.kind.as_str() {
                "text" => match message.text {
                    Some(text) => EventKind::Text(text.body),
                    None => continue,
                },
                "interactive" => match message
                    .interactive
                    .and_then(|i| i.button_reply.or(i.list_reply))
                {
                    Some(reply) => EventKind::Payload {
                        payload: reply.id,
                        title: reply.title,
                    },
                    None => continue,
                },
                "button" => match message.button {
                    Some(WhatsAppButton {
                        payload: Some(payload),
                        text,
                    }) => EventKind::Payload {
                        payload,
                        title: text,
                    },
                    _ => continue,
                },
                "reaction" | "system" | "unsupported" | "" => continue,
                other => EventKind::NonText(other.to_string()),
            };
            // WhatsApp timestamps are seconds, as a string; anything else is a malformed
            // body (a default would date the message 1970 and close its 24-hour window).
            let timestamp_ms = message
                .timestamp
                .parse::<i64>()
                .map_err(|_| {
                    ParseError::new(format!(
                        "malformed WhatsApp payload: timestamp {:?} is not a number of seconds",
                        message.timestamp
                    ))
                })?
                .saturating_mul(1000);
            events.push(InboundEvent {
                channel: Channel::WhatsApp,
                message_id: message.id,
                customer_id: message.from,
                customer_name: name,
                business_id: metadata.phone_number_id.clone(),
                timestamp_ms,
                kind,
            });
        }
    }
    events.sort_by_key(|e| e.timestamp_ms);
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messenger(events: &str) -> String {
        format!(r#"{{"object":"page","entry":[{{"id":"PAGE","time":1,"messaging":[{events}]}}]}}"#)
    }

    #[test]
    fn events_with_empty_ids_are_skipped_and_bodies_must_be_utf8() {
        let empty_sender = r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[{"sender":{"id":""},"recipient":{"id":"PAGE"},"timestamp":7,"message":{"mid":"m.7","text":"hi"}},{"sender":{"id":"A"},"recipient":{"id":"PAGE"},"timestamp":8,"message":{"mid":"","text":"hi"}},{"sender":{"id":"A"},"recipient":{"id":""},"timestamp":9,"message":{"mid":"m.9","text":"hi"}}]}]}"#;
        // An empty recipient falls back to the entry's page id; empty sender or mid: skipped.
        let kept: Vec<(String, String)> = parse_messenger(empty_sender.as_bytes())
            .unwrap()
            .into_iter()
            .map(|e| (e.message_id, e.business_id))
            .collect();
        assert_eq!(kept, vec![("m.9".to_string(), "PAGE".to_string())]);
        let empty_from = r#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"PN"},"messages":[{"from":"","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hi"}},{"from":"3630","id":"","timestamp":"1","type":"text","text":{"body":"hi"}}]}},{"field":"messages","value":{"metadata":{"phone_number_id":""},"messages":[{"from":"3630","id":"wamid.2","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}"#;
        assert_eq!(parse_whatsapp(empty_from.as_bytes()).unwrap(), vec![]);
        // A timestamp that is not a number is a malformed body, not 1970.
        let bad_time = empty_from
            .replace(r#""from":"","#, r#""from":"3630","#)
            .replace(r#""timestamp":"1""#, r#""timestamp":"soon""#);
        assert!(parse_whatsapp(bad_time.as_bytes()).is_err());
        // Invalid UTF-8 in a field the parser ignores is still a malformed body.
        let ignored = b"{\"object\":\"page\",\"entry\":[],\"x\":\"\xff\"}";
        assert!(parse_messenger(ignored).is_err());
    }

    #[test]
    fn messenger_table() {
        let ev = |body: &str, ts: i64| {
            format!(
                r#"{{"sender":{{"id":"U1"}},"recipient":{{"id":"PAGE"}},"timestamp":{ts},{body}}}"#
            )
        };
        let cases: Vec<(String, Vec<(&str, EventKind)>)> = vec![
            (
                messenger(&ev(r#""message":{"mid":"m1","text":"hi"}"#, 5)),
                vec![("m1", EventKind::Text("hi".into()))],
            ),
            (
                messenger(&ev(
                    r#""message":{"mid":"m2","text":"Yes","quick_reply":{"payload":"FAQ_SHIPPING"}}"#,
                    5,
                )),
                vec![(
                    "m2",
                    EventKind::Payload {
                        payload: "FAQ_SHIPPING".into(),
                        title: Some("Yes".into()),
                    },
                )],
            ),
            (
                messenger(&ev(
                    r#""postback":{"mid":"m3","title":"Talk to a person","payload":"HUMAN"}"#,
                    5,
                )),
                vec![(
                    "m3",
                    EventKind::Payload {
                        payload: "HUMAN".into(),
                        title: Some("Talk to a person".into()),
                    },
                )],
            ),
            (
                messenger(&ev(
                    r#""message":{"mid":"m4","attachments":[{"type":"image","payload":{"url":"x"}}]}"#,
                    5,
                )),
                vec![("m4", EventKind::NonText("image".into()))],
            ),
            (
                messenger(&ev(
                    r#""message":{"mid":"m5","text":"echo","is_echo":true}"#,
                    5,
                )),
                vec![],
            ),
            (
                messenger(&ev(r#""delivery":{"mids":["m1"],"watermark":1}"#, 5)),
                vec![],
            ),
            (messenger(&ev(r#""read":{"watermark":1}"#, 5)), vec![]),
            (
                messenger(&ev(
                    r#""reaction":{"mid":"m1","action":"react","emoji":"x"}"#,
                    5,
                )),
                vec![],
            ),
            (
                messenger(&format!(
                    "{},{}",
                    ev(r#""message":{"mid":"late","text":"second"}"#, 20),
                    ev(
                        r#""message":{"mid":"early","text":"first","unknown_field":1}"#,
                        10
                    )
                )),
                vec![
                    ("early", EventKind::Text("first".into())),
                    ("late", EventKind::Text("second".into())),
                ],
            ),
        ];
        for (body, want) in cases {
            let got = parse_messenger(body.as_bytes()).unwrap();
            let got: Vec<(&str, EventKind)> = got
                .iter()
                .map(|e| (e.message_id.as_str(), e.kind.clone()))
                .collect();
            assert_eq!(got, want, "{body}");
        }
        let one =
            parse_messenger(messenger(&ev(r#""message":{"mid":"m1","text":"hi"}"#, 7)).as_bytes())
                .unwrap();
        assert_eq!(
            (
                one[0].customer_id.as_str(),
                one[0].business_id.as_str(),
                one[0].timestamp_ms
            ),
            ("U1", "PAGE", 7)
        );
    }

    #[test]
    fn instagram_direct_messages_are_messenger_platform_events() {
        let body = r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1,"messaging":[
            {"sender":{"id":"IGSID1"},"recipient":{"id":"IGACCT"},"timestamp":30,"message":{"mid":"ig.3","text":"hol a csomagom?"}},
            {"sender":{"id":"IGSID1"},"recipient":{"id":"IGACCT"},"timestamp":10,"message":{"mid":"ig.1","text":"Yes","quick_reply":{"payload":"CSAT:5"}}},
            {"sender":{"id":"IGSID1"},"recipient":{"id":"IGACCT"},"timestamp":20,"message":{"mid":"ig.2","is_deleted":true}},
            {"sender":{"id":"IGACCT"},"recipient":{"id":"IGSID1"},"timestamp":25,"message":{"mid":"ig.4","text":"ours","is_echo":true}},
            {"sender":{"id":"IGSID1"},"recipient":{"id":"IGACCT"},"timestamp":26,"message":{"mid":"ig.5","attachments":[{"type":"story_mention","payload":{"url":"x"}}]}},
            {"sender":{"id":"IGSID1"},"recipient":{"id":"IGACCT"},"timestamp":27,"reaction":{"mid":"ig.3","action":"react","reaction":"love"}}
        ]}]}"#;
        let got: Vec<(Channel, String, String, EventKind)> = parse_instagram(body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|e| (e.channel, e.message_id, e.business_id, e.kind))
            .collect();
        let ig = |mid: &str, kind| (Channel::Instagram, mid.to_string(), "IGACCT".into(), kind);
        assert_eq!(
            got,
            vec![
                ig(
                    "ig.1",
                    EventKind::Payload {
                        payload: "CSAT:5".into(),
                        title: Some("Yes".into())
                    }
                ),
                ig("ig.5", EventKind::NonText("story_mention".into())),
                ig("ig.3", EventKind::Text("hol a csomagom?".into())),
            ]
        );
        // Each webhook takes only its own object.
        let page = r#"{"object":"page","entry":[]}"#;
        assert!(parse_instagram(page.as_bytes()).is_err());
        assert!(parse_messenger(r#"{"object":"instagram","entry":[]}"#.as_bytes()).is_err());
        assert!(parse_instagram(b"{\"object\":\"instagram\",\"entry\":7}").is_err());
    }

    #[test]
    fn whatsapp_table() {
        let wrap = |messages: &str, extra: &str| {
            format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"WABA","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"1","phone_number_id":"PNID"}},"contacts":[{{"profile":{{"name":"Anna"}},"wa_id":"3630"}}],"messages":[{messages}]{extra}}}}}]}}]}}"#
            )
        };
        let msg = |id: &str, ts: &str, body: &str| {
            format!(r#"{{"from":"3630","id":"{id}","timestamp":"{ts}",{body}}}"#)
        };
        let cases: Vec<(String, Vec<(&str, EventKind)>)> = vec![
            (
                wrap(
                    &msg("w1", "100", r#""type":"text","text":{"body":"szia"}"#),
                    "",
                ),
                vec![("w1", EventKind::Text("szia".into()))],
            ),
            (
                wrap(
                    &msg(
                        "w2",
                        "100",
                        r#""type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"FAQ_RETURNS","title":"Returns"}}"#,
                    ),
                    "",
                ),
                vec![(
                    "w2",
                    EventKind::Payload {
                        payload: "FAQ_RETURNS".into(),
                        title: Some("Returns".into()),
                    },
                )],
            ),
            (
                wrap(
                    &msg(
                        "w3",
                        "100",
                        r#""type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"FAQ_X","title":"X","description":"d"}}"#,
                    ),
                    "",
                ),
                vec![(
                    "w3",
                    EventKind::Payload {
                        payload: "FAQ_X".into(),
                        title: Some("X".into()),
                    },
                )],
            ),
            (
                wrap(
                    &msg("w4", "100", r#""type":"sticker","sticker":{"id":"s"}"#),
                    "",
                ),
                vec![("w4", EventKind::NonText("sticker".into()))],
            ),
            (
                wrap(
                    &msg(
                        "w5",
                        "100",
                        r#""type":"reaction","reaction":{"message_id":"w1","emoji":"x"}"#,
                    ),
                    "",
                ),
                vec![],
            ),
            (
                wrap(
                    "",
                    r#","statuses":[{"id":"w1","status":"read","timestamp":"1","recipient_id":"3630"}]"#,
                ),
                vec![],
            ),
            (
                wrap(
                    &format!(
                        "{},{}",
                        msg("b", "200", r#""type":"text","text":{"body":"2"}"#),
                        msg("a", "100", r#""type":"text","text":{"body":"1"}"#)
                    ),
                    "",
                ),
                vec![
                    ("a", EventKind::Text("1".into())),
                    ("b", EventKind::Text("2".into())),
                ],
            ),
        ];
        for (body, want) in cases {
            let got = parse_whatsapp(body.as_bytes()).unwrap();
            let got: Vec<(&str, EventKind)> = got
                .iter()
                .map(|e| (e.message_id.as_str(), e.kind.clone()))
                .collect();
            assert_eq!(got, want, "{body}");
        }
        let one = parse_whatsapp(
            wrap(
                &msg("w1", "100", r#""type":"text","text":{"body":"szia"}"#),
                "",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(one[0].customer_name.as_deref(), Some("Anna"));
        assert_eq!(
            (one[0].business_id.as_str(), one[0].timestamp_ms),
            ("PNID", 100_000)
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            "",
            "not json",
            "[]",
            r#"{"entry":[]}"#,
            r#"{"object":"instagram","entry":[]}"#,
            r#"{"object":"page","entry":"x"}"#,
        ] {
            assert!(parse_messenger(body.as_bytes()).is_err(), "{body}");
        }
        for body in ["{", r#"{"object":"page","entry":[]}"#] {
            assert!(parse_whatsapp(body.as_bytes()).is_err(), "{body}");
        }
    }
}
