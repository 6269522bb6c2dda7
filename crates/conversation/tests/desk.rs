//! Who may do what at the desk, on a real SQLite database at fixed instants: reads scoped to
//! the queue and one's own conversations, transfers only by the holder (or the operator), and
//! a disabled agent's conversations back in the queue.

use conversation::desk::{self, Actor, Error, Refusal, TransferTo};
use store::sqlite::Sqlite;
use vocab::{Channel, HandoffReason, Lang, Status};

const NOW: i64 = 1_796_115_600_000;

fn database(name: &str) -> Sqlite {
    let dir = std::env::temp_dir().join(format!("conversation-desk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = Sqlite::open(&dir.join("db.sqlite")).unwrap();
    store::migrate(&db).unwrap();
    db
}

fn agent(db: &Sqlite, name: &str) -> (i64, Actor) {
    let agent = store::desk::create_agent(db, name, &format!("hash-{name}"), NOW).unwrap();
    let actor = Actor {
        key: agent.id.to_string(),
        admin: false,
    };
    (agent.id, actor)
}

/// A conversation waiting in the queue.
fn queued(db: &Sqlite, customer: &str) -> i64 {
    let conversation =
        store::touch_conversation(db, Channel::Messenger, customer, "PAGE", None, NOW).unwrap();
    store::start_handoff(
        db,
        &store::NewHandoff {
            conversation_id: conversation.id,
            channel: Channel::Messenger,
            reason: HandoffReason::ExplicitRequest,
            anger: 0.0,
            language: Some(Lang::En),
        },
        NOW,
    )
    .unwrap();
    store::desk::transfer(db, conversation.id, None, NOW).unwrap();
    conversation.id
}

fn refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> Refusal {
    match result {
        Err(Error::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn reads_and_transfers_are_scoped_and_a_disabled_agents_claims_go_back_to_the_queue() {
    let db = database("scope");
    let admin = Actor {
        key: "admin".into(),
        admin: true,
    };
    let (_, anna) = agent(&db, "Anna");
    let (bela_id, bela) = agent(&db, "Bela");
    let id = queued(&db, "PSID-1");
    let bot_only =
        store::touch_conversation(&db, Channel::WhatsApp, "W-1", "PN", None, NOW).unwrap();

    // Waiting in the queue: every agent may read it; a bot's conversation only the operator.
    assert!(desk::readable(&db, id, &anna).is_ok());
    assert!(desk::readable(&db, id, &bela).is_ok());
    assert_eq!(
        refusal(desk::readable(&db, bot_only.id, &anna)),
        Refusal::NotYours
    );
    assert!(desk::readable(&db, bot_only.id, &admin).is_ok());
    assert_eq!(
        refusal(desk::readable(&db, 999, &admin)),
        Refusal::NotFound("conversation 999".into())
    );

    // Nobody holds it: an agent claims before passing it on; the operator may move it.
    assert_eq!(
        refusal(desk::transfer(&db, id, &anna, TransferTo::Queue, NOW)),
        Refusal::ClaimFirst
    );
    desk::claim(&db, id, &anna, NOW + 1).unwrap();
    assert_eq!(refusal(desk::readable(&db, id, &bela)), Refusal::NotYours);
    assert_eq!(
        refusal(desk::transfer(&db, id, &bela, TransferTo::Queue, NOW + 2)),
        Refusal::HeldBy(anna.key.clone())
    );
    desk::transfer(&db, id, &anna, TransferTo::Agent(bela_id), NOW + 3).unwrap();
    assert_eq!(refusal(desk::readable(&db, id, &anna)), Refusal::NotYours);
    assert!(desk::readable(&db, id, &bela).is_ok());
    desk::transfer(&db, id, &admin, TransferTo::Agent(bela_id), NOW + 4).unwrap();

    // Bela is disabled: the conversation waits in the queue again, readable by all agents.
    let disabled = desk::set_agent_disabled(&db, bela_id, true)
        .unwrap()
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(store::desk::holder(&db, id).unwrap(), Some(None));
    assert_eq!(
        store::conversation_by_id(&db, id).unwrap().unwrap().status,
        Status::Queued
    );
    assert!(desk::readable(&db, id, &anna).is_ok());
    assert_eq!(desk::set_agent_disabled(&db, 999, true).unwrap(), None);
}

#[test]
fn a_web_chat_session_is_issued_by_the_server_and_only_its_token_opens_it() {
    use conversation::webchat;
    let db = database("sessions");
    let first = webchat::start_session(&db, &[7; 32], NOW).unwrap();
    let second = webchat::start_session(&db, &[8; 32], NOW).unwrap();
    assert!(first.token.starts_with("chat_") && first.token.len() == 5 + 64);
    assert!(first.customer_id.starts_with("web-") && first.customer_id.len() == 4 + 24);
    assert_ne!(first.customer_id, second.customer_id);
    assert!(
        !first.token.contains(&first.customer_id[4..]),
        "the id reveals nothing"
    );
    assert_eq!(
        webchat::customer_of(&db, &first.token).unwrap().as_deref(),
        Some(first.customer_id.as_str())
    );
    // A guessed or made-up token, or a customer id presented as one, opens nothing.
    for guess in [
        format!("chat_{}", "0".repeat(64)),
        first.customer_id.clone(),
        String::new(),
    ] {
        assert_eq!(webchat::customer_of(&db, &guess).unwrap(), None, "{guess}");
    }
    // Erasing the customer ends the session.
    let _ = store::touch_conversation(&db, Channel::WebChat, &second.customer_id, "web", None, NOW)
        .unwrap();
    store::privacy::erase_customer(&db, Channel::WebChat, &second.customer_id).unwrap();
    assert_eq!(webchat::customer_of(&db, &second.token).unwrap(), None);
}

#[test]
fn the_purge_keeps_message_ids_for_the_redelivery_window_and_refuses_a_shorter_one() {
    let db = database("purge");
    const DAY: i64 = 24 * 3_600_000;
    assert!(store::claim_message(&db, Channel::WhatsApp, "wamid.old", NOW - 15 * DAY).unwrap());
    assert!(store::claim_message(&db, Channel::WhatsApp, "wamid.new", NOW - 13 * DAY).unwrap());
    assert_eq!(
        refusal(desk::purge(&db, 90, 6, NOW)),
        Refusal::Invalid(
            "dedupe_days must be at least 7: platforms redeliver webhooks for up to 7 days".into()
        )
    );
    let old_minute = NOW - 5 * 60_000;
    let old_window = old_minute - old_minute % conversation::limits::WINDOW_MS;
    conversation::limits::count(&db, &[("chat-addr:192.0.2.1", 10)], old_minute).unwrap();
    assert_eq!(
        store::requests_counted(&db, "chat-addr:192.0.2.1", old_window).unwrap(),
        1
    );
    // Web chat sessions: one used, one never used for a day, one just issued.
    let used = conversation::webchat::start_session(&db, &[1; 32], NOW - 2 * DAY).unwrap();
    store::touch_conversation(
        &db,
        Channel::WebChat,
        &used.customer_id,
        "web",
        None,
        NOW - DAY,
    )
    .unwrap();
    let unused = conversation::webchat::start_session(&db, &[2; 32], NOW - 2 * DAY).unwrap();
    let fresh = conversation::webchat::start_session(&db, &[3; 32], NOW - 60_000).unwrap();
    let purged = desk::purge(&db, 90, 14, NOW).unwrap();
    assert_eq!((purged.messages, purged.message_ids), (0, 1));
    let opens = |token: &str| {
        conversation::webchat::customer_of(&db, token)
            .unwrap()
            .is_some()
    };
    assert_eq!(
        (
            opens(&used.token),
            opens(&unused.token),
            opens(&fresh.token)
        ),
        (true, false, true),
        "an unused session goes after a day"
    );
    // A past minute's counters (client addresses) go with it.
    assert_eq!(
        store::requests_counted(&db, "chat-addr:192.0.2.1", old_window).unwrap(),
        0
    );
    // The id inside the window still recognizes a redelivery; the purged one is new again.
    assert!(!store::claim_message(&db, Channel::WhatsApp, "wamid.new", NOW).unwrap());
    assert!(store::claim_message(&db, Channel::WhatsApp, "wamid.old", NOW).unwrap());
}

#[test]
fn limits_count_per_key_and_minute_across_callers() {
    use conversation::limits::{self, Verdict};
    let db = database("limits");
    let start = NOW - NOW % limits::WINDOW_MS;
    for i in 0..3 {
        assert_eq!(
            limits::count(&db, &[("chat:a", 3), ("addr:1", 100)], start + i).unwrap(),
            Verdict::Allowed
        );
    }
    assert_eq!(
        limits::count(&db, &[("chat:a", 3), ("addr:1", 100)], start + 20_000).unwrap(),
        Verdict::Limited { retry_after_s: 40 }
    );
    // Another session from the same address is not limited by the first one's count.
    assert_eq!(
        limits::count(&db, &[("chat:b", 3), ("addr:1", 100)], start + 20_000).unwrap(),
        Verdict::Allowed
    );
    // The next minute starts again.
    assert_eq!(
        limits::count(&db, &[("chat:a", 3)], start + limits::WINDOW_MS).unwrap(),
        Verdict::Allowed
    );
    // Failed logins: checked without counting, counted when they fail.
    assert_eq!(
        limits::reached(&db, "login:1", 2, start).unwrap(),
        Verdict::Allowed
    );
    limits::count(&db, &[("login:1", i64::MAX)], start).unwrap();
    limits::count(&db, &[("login:1", i64::MAX)], start + 1).unwrap();
    assert_eq!(
        limits::reached(&db, "login:1", 2, start + 59_500).unwrap(),
        Verdict::Limited { retry_after_s: 1 }
    );
    assert_eq!(
        limits::client_address(Some("10.0.0.7:51234"), Some("203.0.113.9, 10.0.0.1"), false),
        "10.0.0.7"
    );
    assert_eq!(
        limits::client_address(Some("10.0.0.7:51234"), Some("203.0.113.9, 10.0.0.1"), true),
        "203.0.113.9"
    );
    assert_eq!(limits::client_address(Some("[::1]:80"), None, true), "::1");
}

/// A conversation on `channel` whose customer last wrote at `last_ms`, handed to `agent`.
fn held(db: &Sqlite, channel: Channel, customer: &str, last_ms: i64, agent: &Actor) -> i64 {
    let mut conversation =
        store::touch_conversation(db, channel, customer, "BIZ", None, last_ms).unwrap();
    conversation.language = Some(Lang::Hu);
    store::save_state(db, &conversation).unwrap();
    store::start_handoff(
        db,
        &store::NewHandoff {
            conversation_id: conversation.id,
            channel,
            reason: HandoffReason::ExplicitRequest,
            anger: 0.0,
            language: Some(Lang::Hu),
        },
        last_ms,
    )
    .unwrap();
    desk::claim(db, conversation.id, agent, last_ms).unwrap();
    conversation.id
}

/// The outbox bodies queued for a customer, oldest first.
fn queued_bodies(db: &Sqlite, channel: Channel, customer: &str) -> Vec<serde_json::Value> {
    let data = store::privacy::export_customer(db, channel, customer)
        .unwrap()
        .unwrap();
    data.outbox
        .iter()
        .map(|(body, _, _)| serde_json::from_str(body).unwrap())
        .collect()
}

#[test]
fn after_the_window_whatsapp_sends_approved_templates_and_nothing_fails_silently() {
    use desk::Outgoing;
    const DAY: i64 = 24 * 3_600_000;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let shop =
        replies::Shop::load(&read("models/faq/shop.toml"), &read("config/shop.toml")).unwrap();
    let reply_template = shop.templates.agent_reply.clone().unwrap();
    let csat_template = shop.templates.csat.clone().unwrap();
    let mut bare =
        replies::Shop::load(&read("models/faq/shop.toml"), &read("config/shop.toml")).unwrap();
    bare.templates = replies::WhatsAppTemplates::default();
    let db = database("templates");
    let (_, anna) = agent(&db, "Anna");

    // WhatsApp, two days after the customer's last message: the agent_reply template, with
    // the text as its variable, in the customer's language.
    let id = held(&db, Channel::WhatsApp, "36301", NOW - 2 * DAY, &anna);
    let conv = store::conversation_by_id(&db, id).unwrap().unwrap();
    let want = Outgoing::Template {
        name: reply_template.name.clone(),
        language: reply_template.language(Lang::Hu).to_string(),
    };
    assert_eq!(
        desk::outgoing(&db, &shop, &conv, desk::Purpose::AgentReply, NOW).unwrap(),
        want
    );
    let sent = desk::reply(&db, &shop, id, &anna, "Megjött a csomag.", NOW).unwrap();
    assert_eq!(sent.sent_as, want);
    let bodies = queued_bodies(&db, Channel::WhatsApp, "36301");
    let last = bodies.last().unwrap();
    assert_eq!(last["type"], "template", "{last}");
    assert_eq!(last["to"], "36301");
    assert_eq!(last["template"]["name"], reply_template.name.as_str());
    assert_eq!(
        last["template"]["components"][0]["parameters"][0]["text"],
        "Megjött a csomag."
    );
    // Without a configured template the reply is refused, and nothing is stored or queued.
    let before = queued_bodies(&db, Channel::WhatsApp, "36301").len();
    let refused = refusal(desk::reply(&db, &bare, id, &anna, "Hello?", NOW));
    assert!(
        matches!(&refused, Refusal::WindowClosed(why) if why.contains("agent_reply")),
        "{refused:?}"
    );
    assert_eq!(queued_bodies(&db, Channel::WhatsApp, "36301").len(), before);
    // Resolving asks for the rating with the csat template, the ratings on its buttons.
    let asked = desk::resolve(&db, &shop, id, &anna, None, NOW).unwrap();
    assert_eq!(
        asked,
        Outgoing::Template {
            name: csat_template.name.clone(),
            language: csat_template.language(Lang::Hu).to_string(),
        }
    );
    let bodies = queued_bodies(&db, Channel::WhatsApp, "36301");
    let csat = bodies.last().unwrap();
    assert_eq!(csat["template"]["name"], csat_template.name.as_str());
    let payloads: Vec<&str> = csat["template"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["parameters"][0]["payload"].as_str())
        .collect();
    assert_eq!(payloads, ["CSAT:1", "CSAT:2", "CSAT:3", "CSAT:4", "CSAT:5"]);
    // Without a csat template the rating is not asked (and the desk is told why).
    let other = held(&db, Channel::WhatsApp, "36302", NOW - 2 * DAY, &anna);
    let not_asked = desk::resolve(&db, &bare, other, &anna, None, NOW).unwrap();
    assert!(
        matches!(&not_asked, Outgoing::Nothing(why) if why.contains("csat")),
        "{not_asked:?}"
    );
    assert_eq!(queued_bodies(&db, Channel::WhatsApp, "36302").len(), 0);
    // Only a customer who was asked has a bare "5" taken as a rating.
    let asked_state = store::conversation_by_id(&db, id).unwrap().unwrap();
    let unasked_state = store::conversation_by_id(&db, other).unwrap().unwrap();
    assert!(asked_state.awaiting_rating && !unasked_state.awaiting_rating);

    // Messenger and Instagram: the HUMAN_AGENT tag up to 7 days, then refused.
    for (channel, customer) in [
        (Channel::Messenger, "PSID-1"),
        (Channel::Instagram, "IGSID-1"),
    ] {
        let id = held(&db, channel, customer, NOW - 2 * DAY, &anna);
        let sent = desk::reply(&db, &shop, id, &anna, "Hi", NOW).unwrap();
        assert_eq!(sent.sent_as, Outgoing::HumanAgentTag, "{channel}");
        let last = queued_bodies(&db, channel, customer).pop().unwrap();
        assert_eq!(last["tag"], "HUMAN_AGENT", "{channel}");
        // The rating question is no person's reply: not asked after 24 hours.
        let not_asked = desk::resolve(&db, &shop, id, &anna, None, NOW).unwrap();
        assert_eq!(not_asked.kind(), "nothing", "{channel}");
        let stale = held(
            &db,
            channel,
            &format!("{customer}-old"),
            NOW - 8 * DAY,
            &anna,
        );
        let refused = refusal(desk::reply(&db, &shop, stale, &anna, "Hi", NOW));
        assert!(
            matches!(refused, Refusal::WindowClosed(_)),
            "{channel}: {refused:?}"
        );
    }
}
