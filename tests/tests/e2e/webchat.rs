//! The web chat: `POST /api/chat` with the same policy and state as the Meta channels, for
//! a visitor known by the session the server issues.

use e2e::{App, get, post};
use serde_json::json;

fn answers_in_the_customers_language_and_keeps_the_conversation() {
    let app = App::start();
    let mut visitor = app.visitor();
    let first = visitor.say(&json!({ "text": "How much does shipping cost?" }));
    assert_eq!(first.status, 200, "{}", first.body);
    let reply = first.json();
    let session = reply["session"].as_str().unwrap_or_default();
    assert!(
        session.starts_with("chat_") && session.len() >= 5 + 32,
        "a random session token (at least 128 bits): {reply}"
    );
    assert!(
        reply["customer_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("web-")),
        "{reply}"
    );
    assert_eq!(reply["language"], "en");
    assert_eq!(reply["intent"], "shipping_cost");
    assert_eq!(reply["handoff"], false);
    let text = reply["replies"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("9.90"), "{text}");
    let options = reply["replies"][0]["options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        options.iter().any(|o| o["payload"] == "HUMAN"),
        "{options:?}"
    );
    let conversation = reply["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!conversation.is_empty());

    let next = visitor
        .say(&json!({ "conversation_id": conversation, "text": "Mikor vagytok nyitva?" }))
        .json();
    assert_eq!(next["conversation_id"], conversation.as_str());
    assert_eq!(next.get("session"), None, "issued once: {next}");
    assert_eq!(
        next["language"], "hu",
        "a clear switch to Hungarian: {next}"
    );
    assert_eq!(next["intent"], "opening_hours");

    let human = visitor
        .say(&json!({ "conversation_id": conversation, "text": "emberrel szeretnék beszélni" }))
        .json();
    assert_eq!(human["handoff"], true, "{human}");
    let silent = visitor
        .say(&json!({ "conversation_id": conversation, "text": "hello?" }))
        .json();
    assert_eq!(
        silent["replies"].as_array().map(Vec::len),
        Some(0),
        "queued for a human: the bot is silent: {silent}"
    );
}

fn bad_requests_get_clear_errors() {
    let app = App::start();
    let cases = [
        ("{not json".to_string(), 400),
        (json!({}).to_string(), 400),
        (json!({ "text": "   " }).to_string(), 400),
        // The visitor's identity is the server's session, never a customer id they send.
        (json!({ "customer_id": "x", "text": "hi" }).to_string(), 400),
        (
            json!({ "text": "hi", "conversation_id": "999999" }).to_string(),
            404,
        ),
        (
            json!({ "text": "hi", "conversation_id": "abc" }).to_string(),
            400,
        ),
        (
            json!({ "text": "hi", "payload": "x".repeat(101) }).to_string(),
            400,
        ),
        (json!({ "text": "a".repeat(5000) }).to_string(), 413),
    ];
    for (body, status) in cases {
        let reply = post(
            &app.url("/api/chat"),
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(reply.status, status, "{body:.60}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{}", reply.body);
    }
}

/// Whoever knows or guesses a visitor's conversation id, customer id or a token reads and
/// writes nothing of theirs, and their erasure request erases only their own data.
fn another_visitors_conversation_cannot_be_read_written_or_erased() {
    let app = App::start();
    let mut owner = app.visitor();
    let mine = owner
        .say(&json!({ "text": "How much does shipping cost?" }))
        .json();
    let id = mine["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let after = mine["last_message_id"].as_i64().unwrap_or_default();
    let owner_customer = owner.customer_id.clone().unwrap_or_default();
    let transcript_len = |app: &App| {
        app.get_auth(&format!("/api/desk/conversations/{id}"), &app.admin_token)
            .json()["messages"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = transcript_len(&app);

    // Another visitor, with their own valid session, naming the owner's conversation.
    let mut intruder = app.visitor();
    assert_eq!(intruder.say(&json!({ "text": "hi" })).status, 200);
    let stolen = intruder.say(&json!({ "text": "hi", "conversation_id": id }));
    assert_eq!(stolen.status, 404, "{}", stolen.body);
    assert_eq!(intruder.since(&id, 0).status, 404);
    // A made-up token, or the owner's customer id presented as one, is refused.
    for guess in [format!("chat_{}", "0".repeat(64)), owner_customer.clone()] {
        let reply = app.chat_as(
            Some(&guess),
            &json!({ "text": "hi", "conversation_id": id }),
        );
        assert_eq!(reply.status, 401, "{}", reply.body);
        let read = app.get_auth(&format!("/api/chat?conversation_id={id}&after=0"), &guess);
        assert_eq!(read.status, 401, "{}", read.body);
    }
    // No session at all reads nothing.
    assert_eq!(
        get(&app.url(&format!("/api/chat?conversation_id={id}"))).status,
        401
    );
    assert_eq!(transcript_len(&app), before, "nothing was written");
    assert_eq!(
        owner.since(&id, after).status,
        200,
        "the owner still reads it"
    );

    // The intruder asks for erasure in their chat: only their data is queued for erasure.
    let erase = intruder
        .say(&json!({ "text": "Please delete my data" }))
        .json();
    assert_eq!(erase["handoff"], false, "{erase}");
    let requests = app
        .get_auth("/api/desk/erasure-requests", &app.admin_token)
        .json();
    let customers: Vec<&str> = requests["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["customer_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        customers,
        [intruder.customer_id.as_deref().unwrap_or_default()],
        "{requests}"
    );
    assert!(!customers.contains(&owner_customer.as_str()));
}

fn serves_a_page_to_try_the_bot() {
    let app = App::start();
    let page = get(&app.url("/chat"));
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<form") && page.body.contains(r#"<script src="/chat/chat.js">"#),
        "{:.300}",
        page.body
    );
    // Its script and style come from the app, under a policy that allows nothing inline.
    let script = get(&app.url("/chat/chat.js"));
    assert_eq!(script.status, 200);
    assert!(script.body.contains("/api/chat"), "{:.200}", script.body);
    assert_eq!(get(&app.url("/chat/chat.css")).status, 200);
    assert_eq!(get(&app.url("/chat/nothing.js")).status, 404);
}

/// Abuse limits, counted in the database: per visitor session, then per client address; a
/// 429 says when to come back and stores nothing.
fn too_many_messages_get_429_with_retry_after() {
    let app = App::start_with_graph_and(
        &e2e::FakeGraph::start(),
        vec![
            ("SPIN_VARIABLE_CHAT_MESSAGES_PER_MINUTE", "3".into()),
            ("SPIN_VARIABLE_CHAT_ADDRESS_REQUESTS_PER_MINUTE", "6".into()),
        ],
    );
    // The limits count per clock minute: start early in one, so the test stays inside it.
    e2e::early_in_a_minute();
    let mut chatty = app.visitor();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(chatty.say(&json!({ "text": "hello" })).status);
    }
    let limited = chatty.say(&json!({ "text": "hello" }));
    assert_eq!(statuses[..3], [200, 200, 200], "{statuses:?}");
    assert_eq!(
        (statuses[3], limited.status),
        (429, 429),
        "{}",
        limited.body
    );
    let retry_after = limited.retry_after_s();
    assert!((1..=60).contains(&retry_after), "{:?}", limited.retry_after);
    assert!(limited.json()["error"].is_string());
    // Another visitor from the same address still gets in, until the address's limit: the
    // address has sent 5, the 6th is allowed, the 7th not.
    let mut other = app.visitor();
    assert_eq!(other.say(&json!({ "text": "hello" })).status, 200);
    let blocked = other.say(&json!({ "text": "hello" }));
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    // Nothing was stored for the refused messages: the chatty visitor's three only.
    let customer = chatty.customer_id.clone().unwrap_or_default();
    let export = app
        .get_auth(
            &format!("/api/desk/customers/webchat/{customer}/export"),
            &app.admin_token,
        )
        .json();
    let from_customer = export["messages"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["direction"] == "in").count());
    assert_eq!(from_customer, 3, "{export}");
}

fn a_web_chat_customer_gets_the_agents_reply_and_rates_the_help() {
    let app = App::start();
    let mut visitor = app.visitor();
    let first = visitor
        .say(&json!({ "text": "I want to talk to a person" }))
        .json();
    assert_eq!(first["handoff"], true, "{first}");
    let id = first["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let after = first["last_message_id"].as_i64().unwrap_or_default();
    assert!(after > 0, "{first}");
    let since = |after: i64| visitor.since(&id, after).json();
    assert_eq!(since(after)["messages"], serde_json::json!([]));
    let bad_after = app.get_auth(
        &format!("/api/chat?conversation_id={id}&after=abc"),
        visitor.session.as_deref().unwrap_or_default(),
    );
    assert_eq!(bad_after.status, 400, "{}", bad_after.body);

    let agent = app
        .post_auth(
            "/api/desk/agents",
            &app.admin_token,
            &serde_json::json!({ "name": "Kata" }),
        )
        .json();
    let token = agent["token"].as_str().unwrap_or_default();
    let path = |action: &str| format!("/api/desk/conversations/{id}/{action}");
    assert_eq!(
        app.post_auth(&path("claim"), token, &serde_json::json!({}))
            .status,
        200
    );
    let sent = app.post_auth(
        &path("messages"),
        token,
        &serde_json::json!({ "text": "Hi, Kata here!" }),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    let news = since(after);
    assert_eq!(news["messages"][0]["text"], "Hi, Kata here!", "{news}");
    assert_eq!(news["messages"][0]["author"], "agent");
    assert_eq!(news["messages"][0]["agent_name"], "Kata");
    let after = news["last_message_id"].as_i64().unwrap_or_default();

    assert_eq!(
        app.post_auth(&path("resolve"), token, &serde_json::json!({}))
            .status,
        200
    );
    let question = since(after);
    assert!(
        question["messages"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("1"),
        "the rating question: {question}"
    );
    assert_eq!(question["status"], "bot");
    let rated = visitor
        .say(&json!({ "conversation_id": id, "text": "5" }))
        .json();
    assert_eq!(rated["handoff"], false, "{rated}");
    let thanks = rated["replies"][0]["text"].as_str().unwrap_or_default();
    assert!(thanks.to_lowercase().contains("thank"), "{rated}");
    let transcript = app
        .get_auth(&format!("/api/desk/conversations/{id}"), token)
        .json();
    assert_eq!(transcript["handoffs"][0]["csat"], 5, "{transcript}");
}

fn an_option_is_sent_back_by_its_payload() {
    let app = App::start();
    let mut visitor = app.visitor();
    let first = visitor
        .say(&json!({ "text": "How long does delivery take?" }))
        .json();
    let options = first["replies"][0]["options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shipping = options
        .iter()
        .find(|o| o["payload"] == "FAQ:shipping_cost")
        .unwrap_or_else(|| panic!("shipping cost offered: {first}"));
    // The title alone would be classified; the payload names the intent exactly.
    let picked = visitor
        .say(&json!({
            "conversation_id": first["conversation_id"],
            "text": shipping["title"],
            "payload": shipping["payload"],
        }))
        .json();
    let text = picked["replies"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("1 490 Ft"),
        "the shipping-cost answer: {picked}"
    );
    assert_eq!(
        picked["intent"],
        serde_json::Value::Null,
        "no text analysis for a payload"
    );
}

e2e::tests! {
    own_app: [
        too_many_messages_get_429_with_retry_after,
    ],
    any_app: [
        answers_in_the_customers_language_and_keeps_the_conversation,
        bad_requests_get_clear_errors,
        another_visitors_conversation_cannot_be_read_written_or_erased,
        serves_a_page_to_try_the_bot,
        a_web_chat_customer_gets_the_agents_reply_and_rates_the_help,
        an_option_is_sent_back_by_its_payload,
    ],
}
