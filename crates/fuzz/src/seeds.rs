//! Valid inputs the mutations start from, so that most cases reach deep into a parser
//! instead of failing at its first byte.

/// Messenger webhook bodies: a feed comment, a text, a quick reply, a postback, an attachment, an echo of the
/// page's own message, a delivery receipt, two events in one entry.
pub const MESSENGER: &[&str] = &[
    r#"{"object":"page","entry":[{"id":"PAGE","time":1700000000000,"changes":[{"field":"feed","value":{"from":{"id":"U1","name":"Ada"},"post":{"permalink_url":"https://fb.example/p/1","id":"PAGE_1"},"message":"How much is shipping?","post_id":"PAGE_1","comment_id":"PAGE_1_C1","created_time":1700000001,"item":"comment","parent_id":"PAGE_1","verb":"add"}}]}]}"#,
    r#"{"object":"page","entry":[{"id":"PAGE","time":1700000000000,"messaging":[{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1700000000000,"message":{"mid":"m.1","text":"Where is my order?"}}]}]}"#,
    r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":2,"message":{"mid":"m.2","text":"Shipping","quick_reply":{"payload":"FAQ:shipping_cost"}}}]}]}"#,
    r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":3,"postback":{"mid":"m.3","title":"Talk to a person","payload":"HUMAN"}}]}]}"#,
    r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":4,"message":{"mid":"m.4","attachments":[{"type":"image","payload":{"url":"https://x.example/a.jpg"}}]}}]}]}"#,
    r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[{"sender":{"id":"PAGE"},"recipient":{"id":"PSID"},"timestamp":5,"message":{"mid":"m.5","is_echo":true,"text":"hi"}}]}]}"#,
    r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":6,"delivery":{"mids":["m.1"],"watermark":6}}]}]}"#,
    r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[{"sender":{"id":"A"},"recipient":{"id":"PAGE"},"timestamp":8,"message":{"mid":"m.8","text":"Dzień dobry"}},{"sender":{"id":"B"},"recipient":{"id":"PAGE"},"timestamp":7,"message":{"mid":"m.7","text":"Jó napot"}}]}]}"#,
];

/// Instagram webhook bodies: a comment, a text, a quick reply, an unsent message, a story
/// mention, an echo, a reaction, two events in one entry.
pub const INSTAGRAM: &[&str] = &[
    r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1700000002,"changes":[{"field":"comments","value":{"from":{"id":"IGSID9","username":"ada.l"},"media":{"id":"MEDIA1","media_product_type":"FEED"},"id":"IGC1","text":"Ile kosztuje wysyłka?"}}]}]}"#,
    r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1700000000000,"messaging":[{"sender":{"id":"IGSID"},"recipient":{"id":"IGACCT"},"timestamp":1700000000000,"message":{"mid":"ig.1","text":"Where is my order?"}}]}]}"#,
    r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1,"messaging":[{"sender":{"id":"IGSID"},"recipient":{"id":"IGACCT"},"timestamp":2,"message":{"mid":"ig.2","text":"Shipping","quick_reply":{"payload":"FAQ:shipping_cost"}}}]}]}"#,
    r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1,"messaging":[{"sender":{"id":"IGSID"},"recipient":{"id":"IGACCT"},"timestamp":3,"message":{"mid":"ig.3","is_deleted":true}}]}]}"#,
    r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1,"messaging":[{"sender":{"id":"IGSID"},"recipient":{"id":"IGACCT"},"timestamp":4,"message":{"mid":"ig.4","attachments":[{"type":"story_mention","payload":{"url":"https://x"}}]}}]}]}"#,
    r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1,"messaging":[{"sender":{"id":"IGACCT"},"recipient":{"id":"IGSID"},"timestamp":5,"message":{"mid":"ig.5","is_echo":true,"text":"hi"}}]}]}"#,
    r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1,"messaging":[{"sender":{"id":"IGSID"},"recipient":{"id":"IGACCT"},"timestamp":6,"reaction":{"mid":"ig.1","action":"react","reaction":"love","emoji":"x"}}]}]}"#,
    r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1,"messaging":[{"sender":{"id":"A"},"recipient":{"id":"IGACCT"},"timestamp":8,"message":{"mid":"ig.8","text":"Dzień dobry"}},{"sender":{"id":"B"},"recipient":{"id":"IGACCT"},"timestamp":7,"message":{"mid":"ig.7","text":"Szia"}}]}]}"#,
];

/// WhatsApp Cloud API webhook bodies: a text with the contact's name, a button reply, a list
/// reply, an image, a status update.
pub const WHATSAPP: &[&str] = &[
    r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"3612345678","phone_number_id":"PNID"},"contacts":[{"profile":{"name":"Ada"},"wa_id":"36301234567"}],"messages":[{"from":"36301234567","id":"wamid.A1","timestamp":"1700000000","type":"text","text":{"body":"Hol a csomagom?"}}]}}]}]}"#,
    r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"PNID"},"messages":[{"from":"36301234567","id":"wamid.A2","timestamp":"1700000001","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"CSAT:5","title":"5"}}}]}}]}]}"#,
    r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"PNID"},"messages":[{"from":"48500100200","id":"wamid.A3","timestamp":"1700000002","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"FAQ:returns","title":"Zwroty","description":"x"}}}]}}]}]}"#,
    r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"PNID"},"messages":[{"from":"36301234567","id":"wamid.A4","timestamp":"1700000003","type":"image","image":{"id":"MEDIA","mime_type":"image/jpeg"}}]}}]}]}"#,
    r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"PNID"},"statuses":[{"id":"wamid.OUT","status":"delivered","timestamp":"1700000004","recipient_id":"36301234567"}]}}]}]}"#,
];

/// Web chat message bodies.
pub const WEBCHAT: &[&str] = &[
    r#"{"text":"Where is my order?"}"#,
    r#"{"text":"Shipping","payload":"FAQ:shipping_cost","conversation_id":"12"}"#,
    r#"{"text":"5","payload":"CSAT:5"}"#,
];

/// Desk request bodies (agents, replies, transfers, resolutions, crisis mode, re-queues).
pub const DESK: &[&str] = &[
    r#"{"name":"Anna"}"#,
    r#"{"text":"Your parcel leaves today."}"#,
    r#"{"agent_id":3}"#,
    r#"{"agent_id":"3"}"#,
    r#"{"queue":true}"#,
    r#"{"note":"refunded"}"#,
    r#"{"mode":"holding","message":{"en":"Back soon","hu":"Hamarosan","pl":"Wkrótce"}}"#,
    r#"{"mode":"handoff","message":"We are busy"}"#,
    r#"{"ids":[1,2,3]}"#,
    r#"{"intent":"refund_status"}"#,
    "",
];

/// Meta's subscription handshake queries.
pub const HANDSHAKE: &[&str] = &[
    "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1158201444",
    "hub.challenge=a%20b&hub.mode=subscribe&hub.verify_token=tok",
];

/// The shipped FAQ.
pub const FAQ: &str = include_str!("../../../models/faq/shop.toml");

/// The shipped shop configuration (business hours, facts).
pub const SHOP: &str = include_str!("../../../config/shop.toml");

/// The shipped keyword rules.
pub const RULES: &[&str] = &[
    include_str!("../../../models/rules/en.toml"),
    include_str!("../../../models/rules/hu.toml"),
    include_str!("../../../models/rules/pl.toml"),
];

/// Customer texts for the normalizer.
pub const TEXTS: &[&str] = &[
    "Hol van a RENDELÉSEM #HU-10234?!",
    "Chcę rozmawiać z człowiekiem",
    "ﬁne Ｗｉｄｅ ǅ İstanbul ß ÅÅ 👍🏽 e\u{301}\u{301}\u{301}",
    "WHERE IS MY ORDER???",
];
