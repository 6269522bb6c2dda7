//! What an erasure leaves behind, table by table: a customer is seeded into every table of the
//! schema through the real message path and desk operations on each channel, erased, and then
//! every value of every table is searched for anything that names them. The test lists all
//! tables, so a new one fails it until it is classified here (and its personal data handled).

use conversation::desk::{self, Actor};
use conversation::message::{Handled, Inbound, handle};
use conversation::{Settings, limits, webchat};
use meta::EventKind;
use policy::{Analysis, Signal};
use store::metrics::Batch;
use store::sqlite::Sqlite;
use store::{Database, Value};
use vocab::{Channel, Lang};

/// Tuesday 2026-12-01 10:00 in Budapest: agents are in.
const NOW: i64 = 1_796_115_600_000;
const KEY: &str = "test-id-hash-key";

/// Every table of the schema, with what it holds of a customer after an erasure.
const TABLES: &[(&str, &str)] = &[
    (
        "conversations",
        "the row stays for the KPIs, its customer id anonymized",
    ),
    ("messages", "deleted"),
    ("intent_labels", "deleted with the messages"),
    ("outbox", "deleted (bodies name the recipient)"),
    ("handoffs", "stay for the KPIs; the agent's note is deleted"),
    (
        "processed_messages",
        "keyed hashes of message ids only, purged after dedupe_days",
    ),
    ("erasure_requests", "the customer id anonymized"),
    ("web_sessions", "deleted"),
    (
        "rate_limits",
        "a web chat session's counter deleted; addresses purged by the minute",
    ),
    ("audit_events", "a keyed hash of the customer"),
    ("metric_counters", "no customer data"),
    ("metric_histograms", "no customer data"),
    ("agents", "no customer data"),
    (
        "saved_replies",
        "the operator's canned texts, no customer data",
    ),
    ("customer_profiles", "deleted (the agents' notes and tags)"),
    (
        "comments",
        "deleted (the customer's public comments answered)",
    ),
    (
        "customer_identities",
        "deleted (the links between a customer's ids)",
    ),
    ("settings", "no customer data"),
    ("schema_version", "no customer data"),
];

fn shop() -> replies::Shop {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    replies::Shop::load(&read("models/faq/shop.toml"), &read("config/shop.toml")).unwrap()
}

fn database(name: &str) -> Sqlite {
    let dir = std::env::temp_dir().join(format!(
        "conversation-privacy-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Sqlite::open(&dir.join("db.sqlite")).unwrap()
}

fn settings() -> Settings {
    Settings {
        handoff_notify_url: Some("https://team.example/hook".into()),
        id_hash_key: KEY.into(),
        ..Settings::default()
    }
}

fn said(intent: &str, signals: &[Signal]) -> Analysis {
    Analysis {
        language: Lang::En,
        language_confidence: 0.95,
        intents: vec![(intent.into(), 0.95)],
        out_of_scope: false,
        anger: 0.0,
        signals: signals.to_vec(),
        rating: None,
    }
}

/// One customer on one channel.
struct Customer {
    channel: Channel,
    id: String,
    name: Option<&'static str>,
    /// Its platform message ids (none on the web chat).
    message_prefix: Option<&'static str>,
}

impl Customer {
    fn says(&self, db: &Sqlite, n: usize, text: &str, analysis: &Analysis, now: i64) -> Handled {
        let message_id = self.message_prefix.map(|p| format!("{p}.{n}"));
        let kind = EventKind::Text(text.into());
        let inbound = Inbound {
            channel: self.channel,
            message_id: message_id.as_deref(),
            customer_id: &self.id,
            business_id: "BUSINESS",
            customer_name: self.name,
            customer_ms: now,
            kind: &kind,
            claimed_conversation: None,
            comment: None,
        };
        handle(
            db,
            &shop(),
            &settings(),
            &inbound,
            Some(analysis),
            &Batch::default(),
            now,
        )
        .unwrap()
        .handled
    }

    fn conversation_id(&self, db: &Sqlite) -> i64 {
        store::turn::context(db, self.channel, &self.id, None, NOW)
            .unwrap()
            .conversation
            .unwrap()
            .0
            .id
    }
}

/// Every value of every table, as text, with the table's name.
fn everything(db: &Sqlite) -> Vec<(String, String)> {
    let tables: Vec<String> = db
        .execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            &[],
        )
        .unwrap()
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(Value::Text(name)) => Some(name),
            _ => None,
        })
        .collect();
    let mut known: Vec<&str> = TABLES.iter().map(|(name, _)| *name).collect();
    known.sort_unstable();
    assert_eq!(
        tables, known,
        "the schema's tables changed: classify the new ones in TABLES and erase what names a customer"
    );
    let mut values = Vec::new();
    for table in &tables {
        for row in db.execute(&format!("SELECT * FROM {table}"), &[]).unwrap() {
            for value in row {
                let text = match value {
                    Value::Text(text) => text,
                    Value::Integer(n) => n.to_string(),
                    Value::Real(x) => x.to_string(),
                    Value::Null => continue,
                };
                values.push((table.clone(), text));
            }
        }
    }
    values
}

fn found_in<'a>(values: &'a [(String, String)], needle: &str) -> Vec<&'a str> {
    values
        .iter()
        .filter(|(_, text)| text.contains(needle))
        .map(|(table, _)| table.as_str())
        .collect()
}

/// Seeds `customer` everywhere a conversation reaches: FAQ answers, a handoff the agent
/// answers and resolves with a note, a rating, and an erasure asked for in the chat.
fn converse(db: &Sqlite, customer: &Customer, agent: &Actor, start: i64) {
    let shop = shop();
    customer.says(
        db,
        1,
        "how much is shipping to Budapest",
        &said("shipping_cost", &[]),
        start,
    );
    customer.says(
        db,
        2,
        "I want a person",
        &said("other", &[Signal::ExplicitRequest]),
        start + 1_000,
    );
    let id = customer.conversation_id(db);
    desk::claim(db, id, agent, start + 2_000).unwrap();
    desk::reply(
        db,
        &shop,
        id,
        agent,
        "Hello, your parcel leaves today",
        start + 3_000,
    )
    .unwrap();
    desk::resolve(
        db,
        &shop,
        id,
        agent,
        Some("called back on the private number"),
        start + 4_000,
    )
    .unwrap();
    let rating = Analysis {
        rating: Some(5),
        ..said("thanks", &[])
    };
    customer.says(db, 3, "5", &rating, start + 5_000);
    customer.says(
        db,
        4,
        "delete my data",
        &said("other", &[Signal::ErasureRequest]),
        start + 6_000,
    );
}

#[test]
fn an_erasure_leaves_nothing_that_names_the_customer_in_any_table() {
    let db = database("erase");
    store::migrate(&db).unwrap();
    let agent_row = store::desk::create_agent(&db, "Anna", "hash-anna", NOW).unwrap();
    let agent = Actor {
        key: agent_row.id.to_string(),
        admin: false,
    };
    let admin = Actor {
        key: "admin".into(),
        admin: true,
    };
    let web = webchat::start_session(&db, &[9; 32], NOW).unwrap();
    limits::count(&db, &[(&format!("chat:{}", web.customer_id), 20)], NOW).unwrap();
    let customers = [
        Customer {
            channel: Channel::Messenger,
            id: "PSID-4711".into(),
            name: Some("Ada Lovelace"),
            message_prefix: Some("m.ada"),
        },
        Customer {
            channel: Channel::WhatsApp,
            id: "36301234567".into(),
            name: Some("Ada Lovelace"),
            // WhatsApp's message ids embed the customer's number.
            message_prefix: Some("wamid.HBgLMzYzMDEyMzQ1Njc.36301234567"),
        },
        Customer {
            channel: Channel::WebChat,
            id: web.customer_id.clone(),
            name: None,
            message_prefix: None,
        },
    ];
    for (i, customer) in customers.iter().enumerate() {
        converse(&db, customer, &agent, NOW + i as i64 * 60_000);
    }
    // An agent labeled their texts for the learning loop.
    let texts = store::learning::uncertain(&db, store::learning::Reader::Operator, 1.1, 1_000);
    for text in texts.unwrap() {
        assert!(store::learning::label(&db, text.message_id, "shipping_cost", "1", NOW).unwrap());
    }
    assert_eq!(store::learning::training_lines(&db).unwrap().len(), 12);
    // The agent linked Ada's Messenger and WhatsApp identities and wrote notes and tags.
    let ada = customers[0].conversation_id(&db);
    let whatsapp_ada = store::customers::Identity {
        channel: Channel::WhatsApp,
        customer_id: "36301234567".into(),
    };
    conversation::customers::link(&db, ada, &admin, &whatsapp_ada, "whatsapp:subject", NOW)
        .unwrap();
    let panel = conversation::customers::annotate(
        &db,
        ada,
        &admin,
        "Ada Lovelace prefers the private number",
        &["ada-tag-7".to_string()],
        NOW,
    )
    .unwrap();
    assert_eq!(panel.conversations.len(), 2);

    // Before: the scan finds what it looks for (it is not blind), except message ids, which
    // are stored only as keyed hashes (a WhatsApp read receipt in the outbox names one until
    // it is sent).
    let before = everything(&db);
    let needles = [
        "PSID-4711",
        "36301234567",
        web.customer_id.as_str(),
        "Ada Lovelace",
        "private number",
        "shipping to Budapest",
    ];
    for needle in needles {
        assert!(!found_in(&before, needle).is_empty(), "{needle} was seeded");
    }
    for table in found_in(&before, "m.ada.")
        .into_iter()
        .chain(found_in(&before, "wamid."))
    {
        assert_eq!(table, "outbox", "a message id in clear outside the outbox");
    }
    assert_eq!(
        db.execute("SELECT COUNT(*) FROM processed_messages", &[])
            .unwrap()[0][0],
        Value::Integer(8)
    );

    // Erasing Ada on Messenger erases her linked WhatsApp identity too.
    for customer in customers.iter().filter(|c| c.channel != Channel::WhatsApp) {
        let subject = format!(
            "{}:{}",
            customer.channel.as_str(),
            &webhook::keyed_hash(
                KEY.as_bytes(),
                &format!("{}:{}", customer.channel.as_str(), customer.id)
            )[..32]
        );
        assert!(
            desk::erase(
                &db,
                &admin,
                customer.channel,
                &customer.id,
                &subject,
                NOW + 600_000
            )
            .unwrap()
                > 0
        );
    }
    assert!(matches!(
        desk::erase(
            &db,
            &admin,
            Channel::WhatsApp,
            "36301234567",
            "x",
            NOW + 600_000
        ),
        Err(desk::Error::Refused(desk::Refusal::NotFound(_)))
    ));

    let after = everything(&db);
    for needle in needles.into_iter().chain([
        "m.ada.",
        "wamid.",
        web.token.as_str(),
        "parcel leaves",
        "prefers the private",
        "ada-tag-7",
    ]) {
        assert_eq!(
            found_in(&after, needle),
            Vec::<&str>::new(),
            "{needle} survived the erasure"
        );
    }
    assert!(store::learning::training_lines(&db).unwrap().is_empty());
    // The web chat token opens nothing; the KPIs' rows stay, anonymized.
    assert_eq!(webchat::customer_of(&db, &web.token).unwrap(), None);
    assert_eq!(
        db.execute(
            "SELECT COUNT(*) FROM conversations WHERE customer_id LIKE 'erased:%'",
            &[]
        )
        .unwrap()[0][0],
        Value::Integer(3)
    );
    // The keyed hashes still stop a redelivery from being answered again.
    let whatsapp = &customers[1];
    assert!(matches!(
        whatsapp.says(
            &db,
            1,
            "how much is shipping to Budapest",
            &said("shipping_cost", &[]),
            NOW + 700_000
        ),
        Handled::Redelivery
    ));
}

#[test]
fn message_ids_stored_in_clear_before_they_were_hashed_are_still_recognized() {
    let db = database("legacy");
    store::migrate(&db).unwrap();
    // A database written by an earlier version: the id itself in the table.
    assert!(store::claim_message(&db, Channel::WhatsApp, "wamid.legacy.1", NOW - 1_000).unwrap());
    let customer = Customer {
        channel: Channel::WhatsApp,
        id: "36309999999".into(),
        name: None,
        message_prefix: Some("wamid.legacy"),
    };
    let asks = |n: usize, now: i64| {
        customer.says(
            &db,
            n,
            "how much is shipping",
            &said("shipping_cost", &[]),
            now,
        )
    };
    assert!(matches!(asks(1, NOW), Handled::Redelivery));
    assert!(matches!(asks(2, NOW), Handled::Stored(..)));
    assert!(matches!(asks(2, NOW + 1), Handled::Redelivery));
}

#[test]
fn agents_label_what_the_model_was_unsure_about_and_an_erasure_takes_the_labels() {
    let db = database("learning");
    store::migrate(&db).unwrap();
    let admin = Actor {
        key: "admin".into(),
        admin: true,
    };
    let anna = Actor {
        key: store::desk::create_agent(&db, "Anna", "hash-anna", NOW)
            .unwrap()
            .id
            .to_string(),
        admin: false,
    };
    let unsure = Customer {
        channel: Channel::Messenger,
        id: "PSID-UNSURE".into(),
        name: None,
        message_prefix: Some("m.unsure"),
    };
    let sure = Customer {
        channel: Channel::Messenger,
        id: "PSID-SURE".into(),
        name: None,
        message_prefix: Some("m.sure"),
    };
    let guess = Analysis {
        intents: vec![("order_status".into(), 0.35)],
        ..said("order_status", &[])
    };
    unsure.says(&db, 1, "my thingy never came", &guess, NOW);
    sure.says(
        &db,
        1,
        "how much is shipping",
        &said("shipping_cost", &[]),
        NOW,
    );

    // Only the text the model was unsure about is offered; an agent sees it only once the
    // conversation reaches the queue.
    let listed = desk::uncertain(&db, &admin, 100).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let message = &listed[0];
    assert_eq!(
        (message.text.as_str(), message.predicted.as_str()),
        ("my thingy never came", "order_status")
    );
    assert!(desk::uncertain(&db, &anna, 100).unwrap().is_empty());
    let known: Vec<String> = ["order_status", "shipping_cost", "out_of_scope"]
        .map(String::from)
        .to_vec();
    assert!(matches!(
        desk::label(&db, &anna, message.message_id, "order_status", &known, NOW),
        Err(desk::Error::Refused(desk::Refusal::NotYours))
    ));
    unsure.says(
        &db,
        2,
        "a person please",
        &said("contact_human", &[Signal::ExplicitRequest]),
        NOW + 1,
    );
    assert_eq!(desk::uncertain(&db, &anna, 100).unwrap().len(), 1);

    // Unknown intents and messages are refused; a label takes the text off the list.
    assert!(matches!(
        desk::label(&db, &anna, message.message_id, "weather", &known, NOW),
        Err(desk::Error::Refused(desk::Refusal::Invalid(_)))
    ));
    assert!(matches!(
        desk::label(&db, &anna, 999_999, "order_status", &known, NOW),
        Err(desk::Error::Refused(desk::Refusal::NotFound(_)))
    ));
    desk::label(&db, &anna, message.message_id, "out_of_scope", &known, NOW).unwrap();
    desk::label(&db, &anna, message.message_id, "order_status", &known, NOW).unwrap();
    assert!(desk::uncertain(&db, &admin, 100).unwrap().is_empty());
    assert_eq!(
        store::learning::training_lines(&db).unwrap(),
        vec![store::learning::TrainingLine {
            text: "my thingy never came".into(),
            intent: "order_status".into(),
            language: Some(Lang::En),
        }]
    );

    // The customer is erased: the label goes with the text.
    desk::erase(
        &db,
        &admin,
        Channel::Messenger,
        "PSID-UNSURE",
        "subject",
        NOW + 2,
    )
    .unwrap();
    assert!(store::learning::training_lines(&db).unwrap().is_empty());
}
