//! Meta platform payloads, without Spin types: webhook POST bodies from Messenger, Instagram
//! direct messages and the WhatsApp Cloud API parsed into [`InboundEvent`]s, and the JSON bodies of Graph API send
//! requests.
//!
//! ```
//! let body = br#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[
//!   {"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1700000000000,
//!    "message":{"mid":"m.1","text":"hello"}}]}]}"#;
//! let events = meta::parse_messenger(body)?;
//! assert_eq!(events[0].message_id, "m.1");
//! assert_eq!(events[0].kind, meta::EventKind::Text("hello".into()));
//! # Ok::<(), meta::ParseError>(())
//! ```
//!
//! Several entries and events per POST are normal. Echoes of the page's own messages,
//! delivery and read receipts, reactions and WhatsApp statuses carry nothing to answer and
//! are dropped. Unknown fields are ignored. Events come back ordered by timestamp.
#![deny(missing_docs)]

mod comments;
mod inbound;
mod send;

pub use comments::CommentEvent;
pub use inbound::{
    Channel, EventKind, InboundEvent, ParseError, Webhook, parse_instagram,
    parse_instagram_webhook, parse_messenger, parse_page_webhook, parse_whatsapp,
};
pub use send::{
    Button, MessengerMessaging, comment_reply_url, messenger_sender_action, messenger_text,
    messenger_url, private_reply, public_reply, whatsapp_mark_read, whatsapp_template,
    whatsapp_text, whatsapp_url,
};
