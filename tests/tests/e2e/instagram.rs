//! Instagram direct messages (`/webhooks/instagram`, the Messenger Platform's
//! `object: "instagram"`): the same bot, handoff and desk as Messenger, sent with the
//! Instagram token. (Skipped under `APP_URL`: replies go to the suite's fake Graph API.)

use e2e::{App, FakeGraph, now_ms};
use serde_json::{Value, json};

/// An Instagram webhook body: one message from `igsid` to the professional account `IGACCT`.
fn instagram(igsid: &str, mid: &str, message: Value) -> String {
    let mut message = message;
    message["mid"] = json!(mid);
    let now = now_ms();
    json!({
        "object": "instagram",
        "entry": [{ "id": "IGACCT", "time": now, "messaging": [{
            "sender": { "id": igsid }, "recipient": { "id": "IGACCT" }, "timestamp": now,
            "message": message
        }]}]
    })
    .to_string()
}

fn say(app: &App, igsid: &str, mid: &str, text: &str) {
    let reply = app.post_signed(
        "/webhooks/instagram",
        &instagram(igsid, mid, json!({ "text": text })),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Every request went to the Messenger Platform's send route with the Instagram token.
fn assert_sent_as_instagram(requests: &[e2e::GraphRequest]) {
    for r in requests {
        assert!(r.path.ends_with("/me/messages"), "{r:?}");
        assert_eq!(r.authorization.as_deref(), Some("Bearer ig-token"), "{r:?}");
    }
}

fn an_instagram_question_in_each_language_is_answered_once() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let shop = e2e::shop();
    let questions = [
        ("en", "How much does shipping cost?"),
        ("hu", "Mennyi a szállítási díj?"),
        ("pl", "Ile kosztuje wysyłka?"),
    ];
    for (i, (_, question)) in questions.iter().enumerate() {
        let body = instagram(
            &format!("IGSID-L{i}"),
            &format!("ig.lang.{i}"),
            json!({ "text": question }),
        );
        // Delivered twice, as Meta may: answered once.
        for _ in 0..2 {
            let reply = app.post_signed("/webhooks/instagram", &body);
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    }
    let requests = graph.wait_for(3);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let requests = if graph.requests().len() > requests.len() {
        graph.requests()
    } else {
        requests
    };
    assert_eq!(requests.len(), 3, "one answer per customer: {requests:?}");
    assert_sent_as_instagram(&requests);
    for (i, (lang, _)) in questions.iter().enumerate() {
        let want = shop.faq.answer("shipping_cost", lang).unwrap_or_default();
        let answer = requests
            .iter()
            .find(|r| r.body["recipient"]["id"] == format!("IGSID-L{i}").as_str())
            .unwrap_or_else(|| panic!("no Instagram answer in {lang}: {requests:?}"));
        assert_eq!(answer.body["message"]["text"], want, "Instagram in {lang}");
        assert_eq!(answer.body["messaging_type"], "RESPONSE");
    }
    // Each is an Instagram customer for the desk's GDPR export.
    for i in 0..questions.len() {
        let export = app.get_auth(
            &format!("/api/desk/customers/instagram/IGSID-L{i}/export"),
            &app.admin_token,
        );
        assert_eq!(export.status, 200, "{}", export.body);
        assert_eq!(export.json()["channel"], "instagram", "{}", export.body);
    }
}

fn an_instagram_customer_clarifies_with_quick_replies_is_handed_off_and_an_agent_replies() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let shop = e2e::shop();
    // Unsure: the bot asks, offering quick replies (Instagram supports text quick replies).
    say(&app, "IGSID-Q", "ig.q1", "I have a question about my stuff");
    let clarify = graph.wait_for(1)[0].clone();
    assert_eq!(
        clarify.body["message"]["text"],
        shop.faq.system("clarify", "en").unwrap_or_default(),
        "{clarify:?}"
    );
    let options = clarify.body["message"]["quick_replies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let faq = options
        .iter()
        .find(|o| o["payload"].as_str().is_some_and(|p| p.starts_with("FAQ:")))
        .unwrap_or_else(|| panic!("an FAQ quick reply: {options:?}"))
        .clone();
    assert!(options.iter().all(|o| o["content_type"] == "text"));
    // Pressing one answers that question.
    let pressed = instagram(
        "IGSID-Q",
        "ig.q2",
        json!({ "text": faq["title"], "quick_reply": { "payload": faq["payload"] } }),
    );
    assert_eq!(app.post_signed("/webhooks/instagram", &pressed).status, 200);
    let answer = graph.wait_for(2)[1].clone();
    let intent = faq["payload"]
        .as_str()
        .and_then(|p| p.strip_prefix("FAQ:"))
        .unwrap_or_default();
    assert_eq!(
        answer.body["message"]["text"],
        shop.faq.answer(intent, "en").unwrap_or_default(),
        "{answer:?}"
    );

    // A Polish customer asks for a person: the desk's queue; an agent answers on Instagram.
    say(&app, "IGSID-A", "ig.a1", "Chcę rozmawiać z konsultantem");
    graph.wait_for(3); // the acknowledgement
    let queue = app
        .get_auth("/api/desk/queue?channel=instagram", &app.admin_token)
        .json();
    let item = queue["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["customer_id"] == "IGSID-A")
        .unwrap_or_else(|| panic!("IGSID-A not queued: {queue}"))
        .clone();
    assert_eq!(item["channel"], "instagram", "{item}");
    assert_eq!(item["language"], "pl", "{item}");
    let id = item["conversation_id"].as_str().unwrap_or_default();
    let conv = |path: &str| format!("/api/desk/conversations/{id}{path}");
    let created = app.post_auth(
        "/api/desk/agents",
        &app.admin_token,
        &json!({ "name": "Ola" }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let ola = created.json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let claimed = app.post_auth(&conv("/claim"), &ola, &json!({}));
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    let sent = app.post_auth(
        &conv("/messages"),
        &ola,
        &json!({ "text": "Dzień dobry, sprawdzam Pani paczkę." }),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    let requests = graph.wait_for(4);
    let reply = &requests[3];
    assert_eq!(reply.body["recipient"]["id"], "IGSID-A", "{reply:?}");
    assert_eq!(
        reply.body["message"]["text"],
        "Dzień dobry, sprawdzam Pani paczkę."
    );
    assert_sent_as_instagram(&requests);
    // While the agent has it, the bot stays silent.
    say(&app, "IGSID-A", "ig.a2", "Ile kosztuje wysyłka?");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(graph.requests().len(), 4, "{:?}", graph.requests());
    // The transcript holds both sides.
    let transcript = app.get_auth(&conv(""), &ola).json();
    let texts: Vec<&str> = transcript["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(
        texts.contains(&"Ile kosztuje wysyłka?")
            && texts.contains(&"Dzień dobry, sprawdzam Pani paczkę."),
        "{transcript}"
    );
}

e2e::tests! {
    own_app: [
        an_instagram_question_in_each_language_is_answered_once,
        an_instagram_customer_clarifies_with_quick_replies_is_handed_off_and_an_agent_replies,
    ],
}
