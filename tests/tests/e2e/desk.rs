//! The agents' desk end to end: auth, the queue, the claim race, replies through the fake
//! Graph API, transfer, resolve with the customer's rating, and KPIs on a scripted scenario.
//! (Skipped under `APP_URL`, like the bot tests: replies go to the suite's fake Graph API.)

use e2e::{App, FakeGraph, Reply, now_ms};
use serde_json::{Value, json};

fn messenger(psid: &str, mid: &str, message: Value) -> String {
    e2e::messenger_message(psid, mid, message, now_ms())
}

fn say(app: &App, psid: &str, mid: &str, text: &str) {
    let reply = app.post_signed(
        "/webhooks/messenger",
        &messenger(psid, mid, json!({ "text": text })),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn press(app: &App, psid: &str, mid: &str, payload: &str, title: &str) {
    let body = messenger(
        psid,
        mid,
        json!({ "text": title, "quick_reply": { "payload": payload } }),
    );
    assert_eq!(app.post_signed("/webhooks/messenger", &body).status, 200);
}

fn new_agent(app: &App, name: &str) -> (String, String) {
    let created = app.post_auth(
        "/api/desk/agents",
        &app.admin_token,
        &json!({ "name": name }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let body = created.json();
    (
        body["id"].to_string(),
        body["token"].as_str().unwrap_or_default().to_string(),
    )
}

/// The conversation id of the queued handoff of `psid`.
fn queued(app: &App, token: &str, psid: &str) -> String {
    let queue = app.get_auth("/api/desk/queue", token).json();
    queue["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["customer_id"] == psid)
        .and_then(|i| i["conversation_id"].as_str())
        .unwrap_or_else(|| panic!("{psid} not queued: {queue}"))
        .to_string()
}

fn post(app: &App, token: &str, path: &str, body: Value) -> Reply {
    app.post_auth(path, token, &body)
}

/// Guessing tokens is limited per client address: after the allowed failures every attempt
/// from it, right or wrong, gets 429 until the minute ends.
fn failed_desk_logins_are_limited_per_address() {
    let app = App::start_with_graph_and(
        &FakeGraph::start(),
        vec![("SPIN_VARIABLE_DESK_LOGIN_FAILURES_PER_MINUTE", "2".into())],
    );
    e2e::early_in_a_minute();
    assert_eq!(app.get_auth("/api/desk/me", &app.admin_token).status, 200);
    for guess in ["desk_guess1", "desk_guess2"] {
        assert_eq!(app.get_auth("/api/desk/me", guess).status, 401);
    }
    for token in ["desk_guess3", app.admin_token.as_str()] {
        let limited = app.get_auth("/api/desk/me", token);
        assert_eq!(limited.status, 429, "{}", limited.body);
        let retry_after = limited.retry_after_s();
        assert!((1..=60).contains(&retry_after), "{:?}", limited.retry_after);
    }
}

fn auth_agents_and_errors() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    for reply in [
        e2e::get(&app.url("/api/desk/queue")),
        app.get_auth("/api/desk/queue", "wrong"),
    ] {
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert!(reply.json()["error"].is_string(), "{}", reply.body);
    }
    let (id, token) = new_agent(&app, "Anna");
    assert!(token.starts_with("desk_"), "{token}");
    let me = app.get_auth("/api/desk/me", &token).json();
    assert_eq!(
        (me["name"].as_str(), me["admin"].as_bool()),
        (Some("Anna"), Some(false))
    );
    assert_eq!(app.get_auth("/api/desk/queue", &token).status, 200);
    // Only the admin manages agents; the list never shows tokens.
    assert_eq!(
        post(&app, &token, "/api/desk/agents", json!({ "name": "Eve" })).status,
        403
    );
    let agents = app.get_auth("/api/desk/agents", &token);
    assert!(
        agents.body.contains("Anna") && !agents.body.contains(&token),
        "{}",
        agents.body
    );
    assert_eq!(
        post(
            &app,
            &app.admin_token,
            "/api/desk/agents",
            json!({ "name": "" })
        )
        .status,
        400
    );
    assert_eq!(
        post(
            &app,
            &app.admin_token,
            "/api/desk/agents",
            json!({ "nom": "x" })
        )
        .status,
        400
    );
    let disabled = post(
        &app,
        &app.admin_token,
        &format!("/api/desk/agents/{id}/disable"),
        json!({}),
    );
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let refused = app.get_auth("/api/desk/queue", &token);
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("disabled"), "{}", refused.body);
    assert_eq!(
        post(
            &app,
            &app.admin_token,
            "/api/desk/agents/999/disable",
            json!({})
        )
        .status,
        404
    );
    // Unknown ids are 404, bad JSON 400, every error a JSON message.
    for (status, reply) in [
        (
            404,
            app.get_auth("/api/desk/conversations/424242", &app.admin_token),
        ),
        (
            404,
            app.get_auth("/api/desk/conversations/abc", &app.admin_token),
        ),
        (
            404,
            post(
                &app,
                &app.admin_token,
                "/api/desk/conversations/424242/claim",
                json!({}),
            ),
        ),
        (404, app.get_auth("/api/desk/nothing", &app.admin_token)),
        (
            400,
            app.get_auth("/api/desk/stats?from=yesterday", &app.admin_token),
        ),
    ] {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert!(reply.json()["error"].is_string(), "{}", reply.body);
    }
    say(&app, "PSID-D0", "m.d0", "I want to talk to a human");
    let id = queued(&app, &app.admin_token, "PSID-D0");
    let bad = e2e::post(
        &app.url(&format!("/api/desk/conversations/{id}/messages")),
        &[("authorization", &format!("Bearer {}", app.admin_token))],
        b"{not json",
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.json()["error"].is_string());
}

fn two_agents_claim_at_once_and_exactly_one_wins() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let (_, anna) = new_agent(&app, "Anna");
    let (_, bela) = new_agent(&app, "Béla");
    for round in 0..5 {
        let psid = format!("PSID-R{round}");
        say(
            &app,
            &psid,
            &format!("m.r{round}"),
            "you useless idiots, WHERE IS MY ORDER",
        );
        let id = queued(&app, &anna, &psid);
        let path = format!("/api/desk/conversations/{id}/claim");
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = [&anna, &bela]
                .into_iter()
                .map(|token| {
                    let (app, path) = (&app, &path);
                    scope.spawn(move || post(app, token, path, json!({})).status)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 409], "round {round}: {statuses:?}");
    }
}

fn an_agent_replies_through_the_channel_transfers_and_resolves_and_the_rating_is_recorded() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let (_, anna) = new_agent(&app, "Anna");
    let (bela_id, bela) = new_agent(&app, "Béla");
    say(&app, "PSID-H1", "m.h1", "Chcę rozmawiać z konsultantem");
    graph.wait_for(1); // the acknowledgement
    let queue = app
        .get_auth("/api/desk/queue?language=pl&channel=messenger", &anna)
        .json();
    let item = &queue["items"][0];
    assert_eq!(item["customer_id"], "PSID-H1", "{queue}");
    assert_eq!(item["reason"], "explicit_request");
    assert_eq!(item["last_message"], "Chcę rozmawiać z konsultantem");
    for key in [
        "channel",
        "customer_name",
        "language",
        "priority",
        "waiting_since",
        "intent",
        "anger",
    ] {
        assert!(item.get(key).is_some(), "{key} missing: {item}");
    }
    let filtered = app.get_auth("/api/desk/queue?language=hu", &anna).json();
    assert_eq!(filtered["items"], json!([]), "{filtered}");
    let id = item["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let conv = |path: &str| format!("/api/desk/conversations/{id}{path}");

    assert_eq!(post(&app, &anna, &conv("/claim"), json!({})).status, 200);
    let sent = post(
        &app,
        &anna,
        &conv("/messages"),
        json!({ "text": "Cześć, tu Anna. W czym mogę pomóc?" }),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    let requests = graph.wait_for(2);
    let agent_message = &requests[1];
    assert_eq!(agent_message.body["recipient"]["id"], "PSID-H1");
    assert_eq!(
        agent_message.body["message"]["text"],
        "Cześć, tu Anna. W czym mogę pomóc?"
    );
    assert_eq!(
        agent_message.body["messaging_type"], "RESPONSE",
        "inside the 24 h window"
    );
    // Someone else's conversation: 409.
    let other = post(&app, &bela, &conv("/messages"), json!({ "text": "hi" }));
    assert_eq!(other.status, 409, "{}", other.body);
    assert!(other.json()["error"].is_string());
    // While a human has it, the customer's messages are stored, the bot stays silent.
    say(&app, "PSID-H1", "m.h2", "Ile kosztuje wysyłka?");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(graph.requests().len(), 2, "{:?}", graph.requests());

    // Transfer to Béla: now Anna is refused and Béla may reply.
    let moved = post(
        &app,
        &anna,
        &conv("/transfer"),
        json!({ "agent_id": bela_id.parse::<i64>().unwrap_or(0) }),
    );
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(
        post(&app, &anna, &conv("/messages"), json!({ "text": "x" })).status,
        409
    );
    assert_eq!(
        post(
            &app,
            &bela,
            &conv("/messages"),
            json!({ "text": "Béla here" })
        )
        .status,
        201
    );
    assert_eq!(
        post(
            &app,
            &bela,
            &conv("/transfer"),
            json!({ "agent_id": 99999 })
        )
        .status,
        404
    );
    assert_eq!(post(&app, &bela, &conv("/transfer"), json!({})).status, 400);
    // Only the holder passes it on: Anna no longer may.
    let (cili_id, cili) = new_agent(&app, "Cili");
    let taken = post(&app, &anna, &conv("/transfer"), json!({ "queue": true }));
    assert_eq!(taken.status, 409, "{}", taken.body);
    // Reads are scoped to the queue and one's own: Anna passed it on, Cili never had it.
    for token in [&anna, &cili] {
        let not_theirs = app.get_auth(&conv(""), token);
        assert_eq!(not_theirs.status, 403, "{}", not_theirs.body);
    }

    let transcript = app.get_auth(&conv(""), &bela).json();
    let messages = transcript["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let authors: Vec<String> = messages
        .iter()
        .map(|m| {
            m["agent_name"].as_str().map_or_else(
                || m["author"].as_str().unwrap_or_default().to_string(),
                str::to_string,
            )
        })
        .collect();
    assert_eq!(
        authors,
        ["customer", "bot", "Anna", "customer", "Béla"],
        "{transcript}"
    );
    assert_eq!(messages[0]["language"], "pl");
    assert!(
        messages[0]["anger"].is_number() && messages[0]["intent"].is_string(),
        "{}",
        messages[0]
    );
    assert_eq!(transcript["handoffs"][0]["reason"], "explicit_request");

    // Resolve: the bot asks for a rating in Polish; the customer taps 4.
    let resolved = post(
        &app,
        &bela,
        &conv("/resolve"),
        json!({ "note": "answered shipping" }),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    let requests = graph.wait_for(4);
    let prompt = &requests[3];
    let quick = prompt.body["message"]["quick_replies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(quick.len(), 5, "{prompt:?}");
    assert_eq!(quick[3]["payload"], "CSAT:4");
    assert!(
        prompt.body["message"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("1"),
        "{prompt:?}"
    );
    press(&app, "PSID-H1", "m.h3", "CSAT:4", "4");
    let thanks = &graph.wait_for(5)[4];
    assert!(
        thanks.body["message"]["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Dzięk"),
        "{thanks:?}"
    );
    let stats = app.get_auth("/api/desk/stats", &app.admin_token).json();
    assert_eq!(stats["overall"]["csat"]["count"], 1, "{stats}");
    assert_eq!(stats["overall"]["csat"]["average"], 4.0, "{stats}");
    // The bot is back: an FAQ question gets an answer again.
    say(&app, "PSID-H1", "m.h4", "Ile kosztuje wysyłka?");
    let answer = &graph.wait_for(6)[5];
    assert!(
        answer.body["message"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("9,90"),
        "{answer:?}"
    );
    assert_eq!(
        post(&app, &bela, &conv("/resolve"), json!({})).status,
        409,
        "nothing open"
    );
    // A queued conversation is not transferred by an agent who has not claimed it.
    say(&app, "PSID-H2", "m.h5", "Chcę rozmawiać z konsultantem");
    let queue = app.get_auth("/api/desk/queue", &cili).json();
    let second = queue["items"][0]["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let conv2 = |path: &str| format!("/api/desk/conversations/{second}{path}");
    assert_eq!(
        app.get_auth(&conv2(""), &cili).status,
        200,
        "it waits in the queue"
    );
    let unclaimed = post(&app, &cili, &conv2("/transfer"), json!({ "queue": true }));
    assert_eq!(unclaimed.status, 409, "{}", unclaimed.body);
    // A disabled agent's conversations go back to the queue at once.
    assert_eq!(post(&app, &cili, &conv2("/claim"), json!({})).status, 200);
    let disabled = post(
        &app,
        &app.admin_token,
        &format!("/api/desk/agents/{cili_id}/disable"),
        json!({}),
    );
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let queue = app.get_auth("/api/desk/queue", &bela).json();
    assert_eq!(
        queue["items"][0]["conversation_id"],
        second.as_str(),
        "{queue}"
    );
    assert_eq!(queue["items"][0]["agent"], Value::Null, "{queue}");
    assert_eq!(
        app.get_auth(&conv2(""), &bela).status,
        200,
        "back in the queue"
    );
}

fn stats_on_a_scripted_scenario() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let from = now_ms() - 1_000;
    // Three FAQ conversations the bot contains, one angry customer handed off and resolved
    // with a 5, one explicit request still waiting.
    say(&app, "PSID-S1", "m.s1", "How much does shipping cost?");
    say(&app, "PSID-S2", "m.s2", "Mennyi a szállítási díj?");
    say(&app, "PSID-S3", "m.s3", "Ile kosztuje wysyłka?");
    say(
        &app,
        "PSID-S4",
        "m.s4",
        "you useless idiots, WHERE IS MY ORDER",
    );
    say(&app, "PSID-S5", "m.s5", "I want to talk to a human");
    let id = queued(&app, &app.admin_token, "PSID-S4");
    let (_, anna) = new_agent(&app, "Anna");
    assert_eq!(
        post(
            &app,
            &anna,
            &format!("/api/desk/conversations/{id}/claim"),
            json!({})
        )
        .status,
        200
    );
    assert_eq!(
        post(
            &app,
            &anna,
            &format!("/api/desk/conversations/{id}/messages"),
            json!({ "text": "Sorry! Checking." })
        )
        .status,
        201
    );
    assert_eq!(
        post(
            &app,
            &anna,
            &format!("/api/desk/conversations/{id}/resolve"),
            json!({})
        )
        .status,
        200
    );
    press(&app, "PSID-S4", "m.s6", "CSAT:5", "5");
    let stats = app
        .get_auth(
            &format!("/api/desk/stats?from={from}&to={}", now_ms() + 1_000),
            &app.admin_token,
        )
        .json();
    let all = &stats["overall"];
    assert_eq!(all["conversations"], 5, "{stats}");
    assert_eq!(all["handed_off"], 2);
    assert_eq!(all["containment_rate"], 0.6);
    assert_eq!(all["handoffs_by_reason"]["anger"]["count"], 1);
    assert_eq!(all["handoffs_by_reason"]["explicit_request"]["rate"], 0.2);
    assert_eq!(all["first_response_ms"]["bot"]["count"], 5);
    assert_eq!(all["first_response_ms"]["human"]["count"], 1);
    assert_eq!(all["time_to_claim_ms"]["count"], 1);
    assert_eq!(all["resolution_ms"]["count"], 1);
    assert_eq!(all["csat"], json!({ "count": 1, "average": 5.0 }));
    assert_eq!(stats["by_channel"]["messenger"]["conversations"], 5);
    assert_eq!(stats["by_language"]["hu"]["containment_rate"], 1.0);
    // A period before any of it is empty.
    let before = app
        .get_auth(
            "/api/desk/stats?from=2020-01-01&to=2020-02-01",
            &app.admin_token,
        )
        .json();
    assert_eq!(before["overall"]["conversations"], 0, "{before}");
}

fn a_new_handoff_is_posted_to_the_notify_url_and_retried() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph_and(
        &graph,
        vec![(
            "SPIN_VARIABLE_HANDOFF_NOTIFY_URL",
            format!("{}/notify/handoffs", graph.base_url),
        )],
    );
    // The notification is queued before the acknowledgement; its first attempt fails.
    graph.fail_next(&[503]);
    say(
        &app,
        "PSID-N1",
        "m.n1",
        "you useless idiots, WHERE IS MY ORDER",
    );
    graph.wait_for(2);
    for _ in 0..50 {
        let _ = post(
            &app,
            &app.admin_token,
            "/api/desk/outbox/deliver",
            json!({}),
        );
        if graph
            .requests()
            .iter()
            .filter(|r| r.path == "/notify/handoffs")
            .count()
            >= 2
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let notifications: Vec<_> = graph
        .requests()
        .into_iter()
        .filter(|r| r.path == "/notify/handoffs")
        .collect();
    assert_eq!(
        notifications.len(),
        2,
        "one failure, one retry: {notifications:?}"
    );
    let body = &notifications[1].body;
    assert_eq!(body["event"], "handoff");
    assert_eq!(body["reason"], "anger");
    assert_eq!(body["channel"], "messenger");
    assert!(body["conversation_id"].is_string(), "{body}");
    assert!(
        notifications[1].authorization.is_none(),
        "no Graph token leaks to it"
    );
    // Later messages in the same handoff do not notify again.
    say(&app, "PSID-N1", "m.n2", "hello??");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = post(
        &app,
        &app.admin_token,
        "/api/desk/outbox/deliver",
        json!({}),
    );
    assert_eq!(
        graph
            .requests()
            .iter()
            .filter(|r| r.path == "/notify/handoffs")
            .count(),
        2
    );
}

fn after_24_hours_an_agents_messenger_reply_carries_the_human_agent_tag() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    // The customer asked for a person two days ago (delivered only now): the bot's own
    // acknowledgement may not go out any more, but an agent may answer for 7 days.
    let two_days_ago = now_ms() - 2 * 24 * 3_600_000;
    let body = json!({
        "object": "page",
        "entry": [{ "id": "PAGE", "time": two_days_ago, "messaging": [{
            "sender": { "id": "PSID-T1" }, "recipient": { "id": "PAGE" }, "timestamp": two_days_ago,
            "message": { "mid": "m.t1", "text": "I want to talk to a human" }
        }]}]
    })
    .to_string();
    assert_eq!(app.post_signed("/webhooks/messenger", &body).status, 200);
    let id = queued(&app, &app.admin_token, "PSID-T1");
    let sent = post(
        &app,
        &app.admin_token,
        &format!("/api/desk/conversations/{id}/messages"),
        json!({ "text": "Sorry for the wait, how can I help?" }),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.json()["window"], "human_agent");
    let requests = graph.wait_for(1);
    assert_eq!(requests.len(), 1, "only the agent's reply: {requests:?}");
    assert_eq!(requests[0].body["messaging_type"], "MESSAGE_TAG");
    assert_eq!(requests[0].body["tag"], "HUMAN_AGENT");
    // The bot's acknowledgement is recorded as failed, with the reason, for operators.
    let outbox = app.get_auth("/api/desk/outbox", &app.admin_token).json();
    assert_eq!(outbox["counts"]["failed"], 1, "{outbox}");
    assert!(
        outbox["problems"][0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("24-hour"),
        "{outbox}"
    );
}

/// A WhatsApp message sent `ago_ms` ago from `from`, as a text or a template's button press.
fn whatsapp_at(id: &str, from: &str, ago_ms: u64, message: Value) -> String {
    let mut message = message;
    message["from"] = json!(from);
    message["id"] = json!(id);
    message["timestamp"] = json!(((now_ms() - ago_ms) / 1000).to_string());
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "3612345678", "phone_number_id": "PNID" },
            "contacts": [{ "profile": { "name": "Kata" }, "wa_id": from }],
            "messages": [message]
        }}]}]
    })
    .to_string()
}

fn after_24_hours_whatsapp_replies_and_the_rating_question_go_out_as_approved_templates() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let admin = app.admin_token.clone();
    // A Hungarian customer asked for a person two days ago (delivered only now).
    let asked = whatsapp_at(
        "wamid.t1",
        "36309990001",
        2 * 24 * 3_600_000,
        json!({ "type": "text", "text": { "body": "Emberrel szeretnék beszélni" } }),
    );
    assert_eq!(app.post_signed("/webhooks/whatsapp", &asked).status, 200);
    let id = queued(&app, &admin, "36309990001");
    let conv = |path: &str| format!("/api/desk/conversations/{id}{path}");
    // The desk says before anyone writes that the window is closed and what will be sent.
    let view = app.get_auth(&conv(""), &admin).json();
    assert_eq!(view["window"], "closed", "{view}");
    assert_eq!(
        view["reply_as"],
        json!({ "kind": "template", "template": "agent_follow_up", "language": "hu" }),
        "{view}"
    );
    let sent = post(
        &app,
        &admin,
        &conv("/messages"),
        json!({ "text": "Szia Kata!\nMegnéztem, holnap érkezik." }),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.json()["sent_as"]["kind"], "template", "{}", sent.body);
    let templates = |graph: &FakeGraph| -> Vec<Value> {
        graph
            .requests()
            .into_iter()
            .filter(|r| r.body["type"] == "template")
            .map(|r| r.body)
            .collect()
    };
    graph.wait_for(1);
    let reply = templates(&graph)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no template sent: {:?}", graph.requests()));
    assert_eq!(reply["to"], "36309990001");
    assert_eq!(reply["template"]["name"], "agent_follow_up");
    assert_eq!(reply["template"]["language"]["code"], "hu");
    assert_eq!(
        reply["template"]["components"][0]["parameters"][0]["text"],
        "Szia Kata! Megnéztem, holnap érkezik."
    );
    // Resolving asks for the rating with the csat template, ratings on its buttons.
    let resolved = post(&app, &admin, &conv("/resolve"), json!({}));
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(
        resolved.json()["rating_sent_as"]["template"],
        "csat_follow_up",
        "{}",
        resolved.body
    );
    let started = std::time::Instant::now();
    while templates(&graph).len() < 2 && started.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let csat = templates(&graph)
        .into_iter()
        .nth(1)
        .unwrap_or_else(|| panic!("no rating template: {:?}", graph.requests()));
    assert_eq!(csat["template"]["name"], "csat_follow_up");
    assert_eq!(
        csat["template"]["components"][4]["parameters"][0]["payload"],
        "CSAT:5"
    );
    // The customer taps "5" on the template: the rating is recorded.
    let tapped = whatsapp_at(
        "wamid.t2",
        "36309990001",
        0,
        json!({ "type": "button", "button": { "payload": "CSAT:5", "text": "5" } }),
    );
    assert_eq!(app.post_signed("/webhooks/whatsapp", &tapped).status, 200);
    let stats = app.get_auth("/api/desk/stats", &admin).json();
    assert_eq!(stats["overall"]["csat"]["count"], 1, "{stats}");
    assert_eq!(stats["overall"]["csat"]["average"], 5.0, "{stats}");
    // English and Polish customers get the template in their language.
    for (i, (lang, text)) in [
        ("en", "I want to talk to a human"),
        ("pl", "Chcę rozmawiać z konsultantem"),
    ]
    .into_iter()
    .enumerate()
    {
        let number = format!("3630999001{i}");
        let asked = whatsapp_at(
            &format!("wamid.t{lang}"),
            &number,
            2 * 24 * 3_600_000,
            json!({ "type": "text", "text": { "body": text } }),
        );
        assert_eq!(app.post_signed("/webhooks/whatsapp", &asked).status, 200);
        let id = queued(&app, &admin, &number);
        let path = format!("/api/desk/conversations/{id}");
        let view = app.get_auth(&path, &admin).json();
        assert_eq!(view["reply_as"]["language"], lang, "{view}");
        let sent = post(
            &app,
            &admin,
            &format!("{path}/messages"),
            json!({ "text": "Hello!" }),
        );
        assert_eq!(sent.status, 201, "{}", sent.body);
        let started = std::time::Instant::now();
        let sent_to = |graph: &FakeGraph| {
            templates(graph)
                .into_iter()
                .find(|t| t["to"] == number.as_str())
        };
        while sent_to(&graph).is_none() && started.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let template = sent_to(&graph).unwrap_or_else(|| panic!("no template to {number}"));
        assert_eq!(template["template"]["language"]["code"], lang, "{template}");
    }
}

fn saved_replies_are_kept_by_the_operator_and_filled_for_agents() {
    let app = App::start();
    let admin = app.admin_token.clone();
    let (_, agent) = new_agent(&app, "Anna");
    let body = |shortcut: &str, language: &str, text: &str| json!({ "shortcut": shortcut, "language": language, "text": text });
    // Only the operator keeps them.
    let refused = post(
        &app,
        &agent,
        "/api/desk/saved-replies",
        body("contact", "en", "x"),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let mut ids = Vec::new();
    for (lang, text) in [
        ("en", "Write to {shop_name} at {email}."),
        ("hu", "Írj nekünk a {email} címre."),
        ("pl", "Napisz do nas: {email}."),
    ] {
        let created = post(
            &app,
            &admin,
            "/api/desk/saved-replies",
            body("contact", lang, text),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        ids.push(
            created.json()["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    // Every agent lists them, filled from config/shop.toml.
    let listed = app.get_auth("/api/desk/saved-replies", &agent).json();
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{listed}");
    let english = items
        .iter()
        .find(|i| i["language"] == "en")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(
        english["rendered"],
        "Write to Otthon & Co. at help@otthon.example."
    );
    assert_eq!(english["text"], "Write to {shop_name} at {email}.");
    let hungarian = items.iter().find(|i| i["language"] == "hu").cloned();
    assert_eq!(
        hungarian.map(|h| h["rendered"].clone()),
        Some(json!("Írj nekünk a help@otthon.example címre."))
    );
    // Bad input says why; nothing is stored.
    for (what, status, bad) in [
        ("duplicate", 409, body("contact", "en", "again")),
        (
            "unknown fact",
            400,
            body("coupon", "en", "Use {coupon_code}!"),
        ),
        (
            "run-time placeholder",
            400,
            body("wait", "en", "About {wait}."),
        ),
        ("language", 400, body("contact", "de", "Hallo")),
        ("shortcut", 400, body("Contact Us", "en", "x")),
    ] {
        let reply = post(&app, &admin, "/api/desk/saved-replies", bad);
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{what}: {}", reply.body);
    }
    // Changed, deleted; unknown ids are 404.
    let changed = app.put_auth(
        &format!("/api/desk/saved-replies/{}", ids[0]),
        &admin,
        &body("contact", "en", "Mail us: {email}"),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json()["rendered"], "Mail us: help@otthon.example");
    let missing = app.put_auth(
        "/api/desk/saved-replies/999999",
        &admin,
        &body("x", "en", "y"),
    );
    assert_eq!(missing.status, 404, "{}", missing.body);
    let url = app.url(&format!("/api/desk/saved-replies/{}", ids[2]));
    assert_eq!(e2e::delete(&url, &agent).status, 403);
    assert_eq!(e2e::delete(&url, &admin).status, 200);
    assert_eq!(e2e::delete(&url, &admin).status, 404);
    let listed = app.get_auth("/api/desk/saved-replies", &agent).json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

fn the_customer_panel_links_a_customer_across_channels_and_erasure_covers_every_link() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let admin = app.admin_token.clone();
    let (_, agent) = new_agent(&app, "Anna");
    // Kata asks for a person on WhatsApp; the same Kata asked the bot on Messenger.
    let on_whatsapp = e2e::whatsapp_text(
        "wamid.k1",
        "36305550001",
        "Kata",
        "Emberrel szeretnék beszélni",
    );
    assert_eq!(
        app.post_signed("/webhooks/whatsapp", &on_whatsapp).status,
        200
    );
    say(&app, "PSID-KATA", "m.k1", "Mennyi a szállítási díj?");
    let id = queued(&app, &agent, "36305550001");
    let panel_path = format!("/api/desk/conversations/{id}/customer");
    let panel = app.get_auth(&panel_path, &agent).json();
    assert_eq!(panel["language"], "hu", "{panel}");
    assert_eq!(
        panel["conversations"].as_array().map(Vec::len),
        Some(1),
        "{panel}"
    );
    assert_eq!(
        panel["conversations"][0]["outcome"], "with_agent",
        "{panel}"
    );
    // Linking: unknown ids 404, the conversation's own identity 400, a bad channel 400.
    let links = format!("{panel_path}/links");
    for (body, status) in [
        (
            json!({ "channel": "messenger", "customer_id": "PSID-NOBODY" }),
            404,
        ),
        (
            json!({ "channel": "whatsapp", "customer_id": "36305550001" }),
            400,
        ),
        (json!({ "channel": "telegram", "customer_id": "1" }), 400),
    ] {
        let reply = post(&app, &agent, &links, body.clone());
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(reply.json()["error"].is_string());
    }
    let kata = json!({ "channel": "messenger", "customer_id": "PSID-KATA" });
    let linked = post(&app, &agent, &links, kata.clone());
    assert_eq!(linked.status, 200, "{}", linked.body);
    let panel = linked.json();
    let outcomes: Vec<&str> = panel["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["with_agent", "bot"],
        "this conversation first: {panel}"
    );
    assert_eq!(panel["identities"].as_array().map(Vec::len), Some(2));
    // Notes and tags.
    let noted = app.put_auth(
        &panel_path,
        &agent,
        &json!({ "notes": "Kata prefers Messenger.", "tags": ["VIP"] }),
    );
    assert_eq!(noted.status, 200, "{}", noted.body);
    assert_eq!(noted.json()["tags"], json!(["vip"]));
    let bad = app.put_auth(&panel_path, &agent, &json!({ "tags": "vip" }));
    assert_eq!(bad.status, 400, "{}", bad.body);
    // Unlink, and again: 404; then linked back.
    let unlink = app.url(&format!("{links}/messenger/PSID-KATA"));
    let alone = e2e::delete(&unlink, &agent);
    assert_eq!(alone.status, 200, "{}", alone.body);
    assert_eq!(
        alone.json()["conversations"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(e2e::delete(&unlink, &agent).status, 404);
    assert_eq!(post(&app, &agent, &links, kata).status, 200);
    // The GDPR export holds the notes, tags and the linked identity's data.
    let export = app
        .get_auth("/api/desk/customers/whatsapp/36305550001/export", &admin)
        .json();
    assert_eq!(
        export["customer"]["notes"], "Kata prefers Messenger.",
        "{export}"
    );
    assert_eq!(export["linked"][0]["customer_id"], "PSID-KATA", "{export}");
    // Erasing Kata erases her on both channels.
    let erased = e2e::delete(&app.url("/api/desk/customers/whatsapp/36305550001"), &admin);
    assert_eq!(erased.status, 200, "{}", erased.body);
    let gone = app.get_auth("/api/desk/customers/messenger/PSID-KATA/export", &admin);
    assert_eq!(gone.status, 404, "{}", gone.body);
}

/// The trainer binary `cargo test --release` built next to the suite.
fn trainer_binary() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| e2e::workspace_root().join("target"), Into::into);
    let binary = target.join("release/trainer");
    assert!(
        binary.is_file(),
        "{} missing: build it with `cargo build --release -p trainer` (scripts/test does)",
        binary.display()
    );
    binary
}

/// `trainer export` of the app's database; the exported lines.
fn export(app: &App, out: &std::path::Path) -> Vec<Value> {
    let run = std::process::Command::new(trainer_binary())
        .args(["export", "--db"])
        .arg(app.database_file())
        .arg("--out")
        .arg(out)
        .output()
        .expect("the trainer runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
        .collect()
}

/// The learning loop: what the bot was unsure about is listed for agents with the intent it
/// guessed; an agent's label takes it off the list, `trainer export` writes it as a training
/// line without the customer's id, and an erasure takes it out of the next export.
fn agents_label_what_the_bot_was_unsure_about_and_the_trainer_exports_it() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let (_, anna) = new_agent(&app, "Anna");
    say(&app, "PSID-LEARN", "m.learn.1", "blorp zindle quax");
    say(
        &app,
        "PSID-LEARN",
        "m.learn.2",
        "How much does shipping cost?",
    );

    let listed = app.get_auth("/api/desk/learning", &app.admin_token);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = listed.json();
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    let unsure = items
        .iter()
        .find(|i| i["text"] == "blorp zindle quax")
        .unwrap_or_else(|| panic!("the unclear text is listed: {listed}"));
    assert!(unsure["predicted"].is_string(), "{unsure}");
    assert!(
        items
            .iter()
            .all(|i| i["confidence"].as_f64().is_some_and(|c| c < 0.8)),
        "only texts the model was unsure about: {listed}"
    );
    assert!(
        listed["intents"]
            .as_array()
            .is_some_and(|i| i.contains(&json!("out_of_scope")))
    );
    // Anna sees only conversations in the queue or hers: this one is neither.
    let hers = app.get_auth("/api/desk/learning", &anna).json();
    assert_eq!(hers["items"], json!([]), "{hers}");
    assert_eq!(e2e::get(&app.url("/api/desk/learning")).status, 401);

    let id = unsure["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = format!("/api/desk/learning/{id}");
    for (body, status) in [
        (json!({ "intent": "weather" }), 400),
        (json!({ "intnet": "out_of_scope" }), 400),
    ] {
        let refused = post(&app, &app.admin_token, &path, body);
        assert_eq!(refused.status, status, "{}", refused.body);
    }
    assert_eq!(
        post(
            &app,
            &app.admin_token,
            "/api/desk/learning/999999",
            json!({ "intent": "thanks" })
        )
        .status,
        404
    );
    assert_eq!(
        post(&app, &anna, &path, json!({ "intent": "thanks" })).status,
        403
    );
    let labeled = post(
        &app,
        &app.admin_token,
        &path,
        json!({ "intent": "out_of_scope" }),
    );
    assert_eq!(labeled.status, 200, "{}", labeled.body);
    let after = app.get_auth("/api/desk/learning", &app.admin_token).json();
    assert!(
        !after["items"].to_string().contains("blorp"),
        "labeled texts leave the list: {after}"
    );

    let dir = e2e::temp_dir("learning");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let out = dir.join("labeled.jsonl");
    let lines = export(&app, &out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (&lines[0]["text"], &lines[0]["intent"]),
        (&json!("blorp zindle quax"), &json!("out_of_scope"))
    );
    assert!(["en", "hu", "pl"].contains(&lines[0]["lang"].as_str().unwrap_or_default()));
    assert!(
        !std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("PSID")
    );
    let erased = e2e::delete(
        &app.url("/api/desk/customers/messenger/PSID-LEARN"),
        &app.admin_token,
    );
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(
        export(&app, &out),
        Vec::<Value>::new(),
        "erased texts are not exported"
    );
}

e2e::tests! {
    own_app: [
        auth_agents_and_errors,
        failed_desk_logins_are_limited_per_address,
        two_agents_claim_at_once_and_exactly_one_wins,
        an_agent_replies_through_the_channel_transfers_and_resolves_and_the_rating_is_recorded,
        stats_on_a_scripted_scenario,
        a_new_handoff_is_posted_to_the_notify_url_and_retried,
        after_24_hours_an_agents_messenger_reply_carries_the_human_agent_tag,
        after_24_hours_whatsapp_replies_and_the_rating_question_go_out_as_approved_templates,
        saved_replies_are_kept_by_the_operator_and_filled_for_agents,
        the_customer_panel_links_a_customer_across_channels_and_erasure_covers_every_link,
        agents_label_what_the_bot_was_unsure_about_and_the_trainer_exports_it,
    ],
}
