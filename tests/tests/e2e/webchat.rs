//! The web chat: `POST /api/chat` with the same policy and state as the Meta channels.

use e2e::{App, get, post};

fn chat(app: &App, body: serde_json::Value) -> e2e::Reply {
    app.chat(&body)
}

fn answers_in_the_customers_language_and_keeps_the_conversation() {
    let app = App::start();
    let first = chat(
        &app,
        serde_json::json!({ "customer_id": "web-1", "text": "How much does shipping cost?" }),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    let reply = first.json();
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

    let next = chat(&app, serde_json::json!({ "conversation_id": conversation, "customer_id": "web-1", "text": "Mikor vagytok nyitva?" })).json();
    assert_eq!(next["conversation_id"], conversation.as_str());
    assert_eq!(
        next["language"], "hu",
        "a clear switch to Hungarian: {next}"
    );
    assert_eq!(next["intent"], "opening_hours");

    let human = chat(&app, serde_json::json!({ "conversation_id": conversation, "customer_id": "web-1", "text": "emberrel szeretnék beszélni" })).json();
    assert_eq!(human["handoff"], true, "{human}");
    let silent = chat(&app, serde_json::json!({ "conversation_id": conversation, "customer_id": "web-1", "text": "hello?" })).json();
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
        (serde_json::json!({ "customer_id": "x" }).to_string(), 400),
        (
            serde_json::json!({ "customer_id": "x", "text": "   " }).to_string(),
            400,
        ),
        (
            serde_json::json!({ "customer_id": "", "text": "hi" }).to_string(),
            400,
        ),
        (
            serde_json::json!({ "customer_id": "x", "text": "hi", "conversation_id": "999999" })
                .to_string(),
            404,
        ),
        (
            serde_json::json!({ "customer_id": "x", "text": "a".repeat(5000) }).to_string(),
            413,
        ),
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
    // Someone else's conversation is not found either.
    let mine = chat(
        &app,
        serde_json::json!({ "customer_id": "owner", "text": "hi" }),
    )
    .json();
    let stolen = chat(
        &app,
        serde_json::json!({ "customer_id": "intruder", "text": "hi", "conversation_id": mine["conversation_id"] }),
    );
    assert_eq!(stolen.status, 404);
}

fn serves_a_page_to_try_the_bot() {
    let app = App::start();
    let page = get(&app.url("/chat"));
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<form") && page.body.contains("/api/chat"),
        "{:.200}",
        page.body
    );
}

fn a_web_chat_customer_gets_the_agents_reply_and_rates_the_help() {
    let app = App::start();
    let first = chat(
        &app,
        serde_json::json!({ "customer_id": "web-h1", "text": "I want to talk to a person" }),
    )
    .json();
    assert_eq!(first["handoff"], true, "{first}");
    let id = first["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let after = first["last_message_id"].as_i64().unwrap_or_default();
    assert!(after > 0, "{first}");
    let since = |after: i64| {
        e2e::get(&app.url(&format!(
            "/api/chat?conversation_id={id}&customer_id=web-h1&after={after}"
        )))
        .json()
    };
    assert_eq!(since(after)["messages"], serde_json::json!([]));
    // Another customer cannot read it.
    let other = e2e::get(&app.url(&format!("/api/chat?conversation_id={id}&customer_id=web-x")));
    assert_eq!(other.status, 404);

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
    let rated = chat(
        &app,
        serde_json::json!({ "conversation_id": id, "customer_id": "web-h1", "text": "5" }),
    )
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
    let first = chat(
        &app,
        serde_json::json!({ "customer_id": "web-p1", "text": "How long does delivery take?" }),
    )
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
    let picked = chat(
        &app,
        serde_json::json!({
            "conversation_id": first["conversation_id"],
            "customer_id": "web-p1",
            "text": shipping["title"],
            "payload": shipping["payload"],
        }),
    )
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
    any_app: [
        answers_in_the_customers_language_and_keeps_the_conversation,
        bad_requests_get_clear_errors,
        serves_a_page_to_try_the_bot,
        a_web_chat_customer_gets_the_agents_reply_and_rates_the_help,
        an_option_is_sent_back_by_its_payload,
    ],
}
