//! Running it for real: crisis mode, GDPR export and erasure (by an operator, or asked for in
//! the chat), the retention purge, logs without personal data, and two instances on one
//! database. (Skipped under `APP_URL`: they use the suite's fake Graph API or the app's log.)

use e2e::{App, FakeGraph, Reply};
use serde_json::{Value, json};

fn messenger(psid: &str, mid: &str, text: &str) -> String {
    e2e::messenger_text(psid, mid, text)
}

fn say(app: &App, psid: &str, mid: &str, text: &str) {
    let reply = app.post_signed("/webhooks/messenger", &messenger(psid, mid, text));
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn text_to(graph: &FakeGraph, psid: &str, nth: usize) -> String {
    for _ in 0..100 {
        let texts: Vec<String> = graph
            .requests()
            .iter()
            .filter(|r| r.body["recipient"]["id"] == psid)
            .map(|r| {
                r.body["message"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        if let Some(text) = texts.get(nth) {
            return text.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no message {nth} to {psid}: {:?}", graph.requests());
}

fn admin(app: &App, path: &str, body: Value) -> Reply {
    app.post_auth(path, &app.admin_token, &body)
}

/// A new web chat visitor's first message: the answer (with the customer id the server
/// gave them).
fn webchat(app: &App, text: &str) -> Value {
    app.chat(&json!({ "text": text })).json()
}

fn crisis_mode_hands_everything_off_or_holds_then_switches_back() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let agent = admin(&app, "/api/desk/agents", json!({ "name": "Anna" })).json();
    let token = agent["token"].as_str().unwrap_or_default();
    assert_eq!(
        app.post_auth("/api/desk/crisis", token, &json!({ "mode": "handoff" }))
            .status,
        403
    );
    assert_eq!(
        admin(&app, "/api/desk/crisis", json!({ "mode": "panic" })).status,
        400
    );
    assert_eq!(
        admin(&app, "/api/desk/crisis", json!({ "mode": "holding" })).status,
        400,
        "holding needs a message"
    );

    let on = admin(&app, "/api/desk/crisis", json!({ "mode": "handoff" }));
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(
        app.get_auth("/api/desk/crisis", token).json()["mode"],
        "handoff",
        "agents see it"
    );
    say(&app, "PSID-K1", "m.k1", "How much does shipping cost?");
    let ack = text_to(&graph, "PSID-K1", 0);
    assert!(!ack.contains("1 490"), "no FAQ answer in a crisis: {ack}");
    let queue = app.get_auth("/api/desk/queue", token).json();
    assert_eq!(queue["items"][0]["reason"], "crisis", "{queue}");

    let holding = json!({ "en": "We have a delivery outage today; a colleague will contact you.", "hu": "Ma szállítási fennakadás van; egy kollégánk keresni fog." });
    assert_eq!(
        admin(
            &app,
            "/api/desk/crisis",
            json!({ "mode": "holding", "message": holding })
        )
        .status,
        200
    );
    say(&app, "PSID-K2", "m.k2", "Mennyi a szállítási díj?");
    assert_eq!(
        text_to(&graph, "PSID-K2", 0),
        "Ma szállítási fennakadás van; egy kollégánk keresni fog."
    );
    say(&app, "PSID-K3", "m.k3", "Ile kosztuje wysyłka?");
    assert_eq!(
        text_to(&graph, "PSID-K3", 0),
        "We have a delivery outage today; a colleague will contact you.",
        "English when the language has no text"
    );

    assert_eq!(
        admin(&app, "/api/desk/crisis", json!({ "mode": "normal" })).status,
        200
    );
    say(&app, "PSID-K4", "m.k4", "How much does shipping cost?");
    assert!(
        text_to(&graph, "PSID-K4", 0).contains("1 490"),
        "answers are back"
    );
    let audit = app.get_auth("/api/desk/audit", &app.admin_token).json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"crisis:holding") && actions.contains(&"crisis:normal"),
        "{audit}"
    );
}

fn an_operator_exports_and_erases_a_customer_and_the_kpis_stay() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    say(
        &app,
        "PSID-G1",
        "m.g1",
        "My address is Fő utca 12, please ship there",
    );
    say(&app, "PSID-G1", "m.g2", "How much does shipping cost?");
    text_to(&graph, "PSID-G1", 1);
    let export = app.get_auth(
        "/api/desk/customers/messenger/PSID-G1/export",
        &app.admin_token,
    );
    assert_eq!(export.status, 200, "{}", export.body);
    assert!(export.body.contains("Fő utca 12"), "{}", export.body);
    let export = export.json();
    assert_eq!(
        export["messages"].as_array().map(Vec::len),
        Some(4),
        "{export}"
    );
    assert!(
        !export["sent_to_platform"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(
        app.get_auth(
            "/api/desk/customers/messenger/nobody/export",
            &app.admin_token
        )
        .status,
        404
    );
    let agent = admin(&app, "/api/desk/agents", json!({ "name": "Anna" })).json();
    let token = agent["token"].as_str().unwrap_or_default();
    assert_eq!(
        app.get_auth("/api/desk/customers/messenger/PSID-G1/export", token)
            .status,
        403
    );

    let erase = e2e::delete(
        &app.url("/api/desk/customers/messenger/PSID-G1"),
        &app.admin_token,
    );
    assert_eq!(erase.status, 200, "{}", erase.body);
    assert_eq!(erase.json()["erased_messages"], 4);
    assert_eq!(
        app.get_auth(
            "/api/desk/customers/messenger/PSID-G1/export",
            &app.admin_token
        )
        .status,
        404
    );
    let stats = app.get_auth("/api/desk/stats", &app.admin_token).json();
    assert_eq!(
        stats["overall"]["conversations"], 1,
        "KPI facts stay: {stats}"
    );
    assert_eq!(
        stats["overall"]["first_response_ms"]["bot"]["count"], 1,
        "{stats}"
    );
    let audit = app.get_auth("/api/desk/audit", &app.admin_token);
    assert!(
        audit.body.contains("\"export\"") && audit.body.contains("\"erase\""),
        "{}",
        audit.body
    );
    assert!(
        !audit.body.contains("PSID-G1"),
        "audit events hash the customer: {}",
        audit.body
    );
}

fn a_customer_asks_in_the_chat_to_delete_their_data_and_an_operator_confirms() {
    let app = App::start_with_graph(&FakeGraph::start());
    let mut customers = Vec::new();
    for (text, ack_start) in [
        ("Please delete my data", "We've received"),
        ("Kérem, töröljétek az adataimat!", "Megkaptuk"),
        ("Usuńcie moje dane, proszę", "Otrzymaliśmy"),
    ] {
        let reply = webchat(&app, text);
        let said = reply["replies"][0]["text"].as_str().unwrap_or_default();
        assert!(said.starts_with(ack_start), "{text}: {reply}");
        assert_eq!(reply["handoff"], false);
        customers.push((
            reply["customer_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            reply["session"].as_str().unwrap_or_default().to_string(),
        ));
    }
    let (web_e1, session_e1) = (customers[0].0.as_str(), customers[0].1.as_str());
    let requests = app
        .get_auth("/api/desk/erasure-requests", &app.admin_token)
        .json();
    let items = requests["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{requests}");
    let first = &items[0];
    assert_eq!(first["customer_id"], web_e1);
    let confirmed = admin(
        &app,
        &format!("/api/desk/erasure-requests/{}/confirm", first["id"]),
        json!({}),
    );
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(
        confirmed.json()["erased_messages"]
            .as_i64()
            .unwrap_or_default()
            >= 2
    );
    assert_eq!(
        app.get_auth(
            &format!("/api/desk/customers/webchat/{web_e1}/export"),
            &app.admin_token
        )
        .status,
        404
    );
    // The erased visitor's session opens nothing any more; the others' still do.
    let ended = app.chat_as(Some(session_e1), &json!({ "text": "hello" }));
    assert_eq!(ended.status, 401, "{}", ended.body);
    let other = app.chat_as(Some(&customers[1].1), &json!({ "text": "hello" }));
    assert_eq!(other.status, 200, "{}", other.body);
    let left = app
        .get_auth("/api/desk/erasure-requests", &app.admin_token)
        .json();
    assert_eq!(left["items"].as_array().map(Vec::len), Some(2), "{left}");
    assert_eq!(
        admin(
            &app,
            &format!("/api/desk/erasure-requests/{}/confirm", first["id"]),
            json!({})
        )
        .status,
        404
    );
}

fn the_retention_purge_removes_old_messages() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph_and(&graph, vec![("SPIN_VARIABLE_RETENTION_DAYS", "0".into())]);
    say(&app, "PSID-P1", "m.p1", "How much does shipping cost?");
    text_to(&graph, "PSID-P1", 0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = admin(&app, "/api/desk/maintenance", json!({}));
    assert_eq!(run.status, 200, "{}", run.body);
    assert_eq!(run.json()["purged_messages"], 2, "{}", run.body);
    // Message ids are kept for the redelivery window (14 days by default).
    assert_eq!(run.json()["purged_message_ids"], 0, "{}", run.body);
    assert_eq!(run.json()["dedupe_days"], 14, "{}", run.body);
    let export = app
        .get_auth(
            "/api/desk/customers/messenger/PSID-P1/export",
            &app.admin_token,
        )
        .json();
    assert_eq!(export["messages"], json!([]), "{export}");
    let stats = app.get_auth("/api/desk/stats", &app.admin_token).json();
    assert_eq!(
        stats["overall"]["first_response_ms"]["bot"]["count"], 1,
        "{stats}"
    );
}

/// A dedupe window shorter than the platforms' redelivery window would answer a late
/// redelivery twice: the scheduled run refuses it, loudly.
fn a_dedupe_window_shorter_than_meta_redelivers_is_refused() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph_and(&graph, vec![("SPIN_VARIABLE_DEDUPE_DAYS", "3".into())]);
    let run = admin(&app, "/api/desk/maintenance", json!({}));
    assert_eq!(run.status, 500, "{}", run.body);
    assert!(
        run.body.contains("dedupe_days must be at least 7"),
        "{}",
        run.body
    );
}

fn logs_hold_no_message_text_tokens_or_customer_ids() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let secret_texts = [
        "my card number is 4111 1111 1111 1111",
        "WHERE IS MY ORDER you useless idiots",
    ];
    say(&app, "PSID-SECRET-77", "m.l1", secret_texts[0]);
    graph.fail_next(&[400]);
    say(&app, "PSID-SECRET-77", "m.l2", secret_texts[1]);
    let agent = admin(&app, "/api/desk/agents", json!({ "name": "Anna" })).json();
    let token = agent["token"].as_str().unwrap_or_default().to_string();
    let queue = app.get_auth("/api/desk/queue", &token).json();
    let id = queue["items"][0]["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reply = app.post_auth(
        &format!("/api/desk/conversations/{id}/messages"),
        &token,
        &json!({ "text": "agent reply with secret 998877" }),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let chat = webchat(&app, "my phone is +36 30 999 8877");
    assert!(chat["conversation_id"].is_string());
    let web_customer = chat["customer_id"].as_str().unwrap_or_default().to_string();
    let session = chat["session"].as_str().unwrap_or_default().to_string();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let log = app.log();
    // The components' own output is in it (the refused delivery is logged, without its
    // error text), whatever the runtime.
    assert!(
        log.contains("failed for good"),
        "the components' log is captured: {log}"
    );
    for needle in secret_texts.iter().copied().chain([
        "998877",
        "999 8877",
        "PSID-SECRET-77",
        web_customer.as_str(),
        session.as_str(),
        "page-token",
        "wa-token",
        "e2e-admin-token",
        "e2e-app-secret",
        token.as_str(),
    ]) {
        assert!(!log.contains(needle), "the log contains {needle:?}:\n{log}");
    }
}

fn two_instances_on_one_database_answer_every_message_exactly_once() {
    let graph = FakeGraph::start();
    let first = App::start_with_graph(&graph);
    let second = first.another_instance();
    // 40 customers; every event is delivered twice, to both instances at once.
    std::thread::scope(|scope| {
        for i in 0..40 {
            let body = messenger(
                &format!("PSID-M{i}"),
                &format!("m.multi.{i}"),
                "What is your return policy?",
            );
            for app in [&first, &second] {
                let body = body.clone();
                scope.spawn(move || {
                    let reply = app.post_signed("/webhooks/messenger", &body);
                    assert_eq!(reply.status, 200, "{}", reply.body);
                });
            }
        }
    });
    graph.wait_for(40);
    // Give a duplicate answer time to show up.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let recipients = graph.recipients();
    let mut expected: Vec<String> = (0..40).map(|i| format!("PSID-M{i}")).collect();
    expected.sort();
    assert_eq!(
        recipients, expected,
        "each message answered exactly once across both instances"
    );
    let stats = first.get_auth("/api/desk/stats", &first.admin_token).json();
    assert_eq!(stats["overall"]["conversations"], 40, "{stats}");
}

/// The value of one Prometheus series in `text`, if present.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name_and_labels)?
            .strip_prefix(' ')?
            .parse()
            .ok()
    })
}

fn metrics_in_prometheus_format_for_the_admin() {
    let graph = FakeGraph::start();
    // A back-off longer than an invocation keeps retrying: the failed row stays pending.
    let app = App::start_with_graph_and(
        &graph,
        vec![("SPIN_VARIABLE_RETRY_BACKOFF_MS", "60000".into())],
    );
    say(&app, "PSID-X1", "m.x1", "How much does shipping cost?");
    text_to(&graph, "PSID-X1", 0);
    graph.fail_next(&[503]);
    say(
        &app,
        "PSID-X2",
        "m.x2",
        "you useless idiots, WHERE IS MY ORDER",
    );
    graph.wait_for(2);
    let refused = e2e::post(
        &app.url("/webhooks/messenger"),
        &[("x-hub-signature-256", "sha256=00")],
        b"{}",
    );
    assert_eq!(refused.status, 403);
    assert_eq!(e2e::get(&app.url("/metrics")).status, 401);
    let agent = admin(&app, "/api/desk/agents", json!({ "name": "Anna" })).json();
    assert_eq!(
        app.get_auth("/metrics", agent["token"].as_str().unwrap_or_default())
            .status,
        403
    );
    // The retry's outcome is recorded after its delivery, which follows the answer.
    let mut text = String::new();
    for _ in 0..50 {
        let reply = app.get_auth("/metrics", &app.admin_token);
        assert_eq!(reply.status, 200, "{}", reply.body);
        text = reply.body;
        if series(
            &text,
            r#"chatbot_deliveries_total{channel="messenger",outcome="retry"}"#,
        )
        .is_some()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A refused request writes nothing, so no caller can make the app write.
    assert!(!text.contains(r#"status="403""#), "{text}");
    for (name, want) in [
        (
            r#"chatbot_requests_total{channel="messenger",status="200"}"#,
            2.0,
        ),
        (
            r#"chatbot_replies_total{channel="messenger",intent="shipping_cost"}"#,
            1.0,
        ),
        (
            r#"chatbot_replies_total{channel="messenger",intent="handoff"}"#,
            1.0,
        ),
        (
            r#"chatbot_handoffs_total{channel="messenger",reason="anger"}"#,
            1.0,
        ),
        (
            r#"chatbot_deliveries_total{channel="messenger",outcome="retry"}"#,
            1.0,
        ),
        (r#"chatbot_nlu_seconds_count"#, 2.0),
        (r#"chatbot_request_seconds_count{channel="messenger"}"#, 2.0),
        (
            r#"chatbot_request_seconds_bucket{channel="messenger",le="+Inf"}"#,
            2.0,
        ),
        (r#"chatbot_open_handoffs{state="waiting"}"#, 1.0),
    ] {
        assert_eq!(series(&text, name), Some(want), "{name} in:\n{text}");
    }
    assert!(
        series(&text, r#"chatbot_outbox_rows{state="pending"}"#).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        text.contains("# TYPE chatbot_request_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE chatbot_requests_total counter"),
        "{text}"
    );
}

e2e::tests! {
    own_app: [
        crisis_mode_hands_everything_off_or_holds_then_switches_back,
        an_operator_exports_and_erases_a_customer_and_the_kpis_stay,
        a_customer_asks_in_the_chat_to_delete_their_data_and_an_operator_confirms,
        the_retention_purge_removes_old_messages,
        logs_hold_no_message_text_tokens_or_customer_ids,
        a_dedupe_window_shorter_than_meta_redelivers_is_refused,
        two_instances_on_one_database_answer_every_message_exactly_once,
        metrics_in_prometheus_format_for_the_admin,
    ],
}
