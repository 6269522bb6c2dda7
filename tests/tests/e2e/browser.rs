//! The agents' inbox in a real browser: headless Chromium (Debian's package, installed by
//! `scripts/setup`) driven by playwright-core (`tests/browser/`) logs in, sees a queued
//! conversation, claims it, replies and resolves; the reply and the rating question must
//! reach the customer through the fake Graph API. Saves a screenshot (to `INBOX_SCREENSHOT`,
//! default `target/test-state/inbox.png`; docs/inbox.png is one such run).
//!
//! Without Chromium or the npm packages the test fails on CI (`CI` set) and is skipped
//! (reported as ignored, with the reason) elsewhere.

use e2e::{App, FakeGraph, workspace_root};
use serde_json::json;
use std::process::Command;

fn an_agent_works_a_conversation_in_the_inbox_in_chromium() {
    let root = workspace_root();
    // Skipped (reported as ignored) without them, except on CI: see `e2e::Needs`.
    if let Some(missing) = e2e::browser_missing() {
        panic!("{missing}");
    }
    let chromium = e2e::chromium();
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    // A small scene: two answered questions and three customers waiting for a person.
    for (i, (name, text)) in [
        ("Lena Fischer", "How much does shipping cost?"),
        ("Piotr Nowak", "Ile kosztuje wysyłka?"),
        (
            "Eszter Nagy",
            "Már két hete várok, ez felháborító, azonnal hívjatok vissza!!!",
        ),
        (
            "John Miller",
            "I'd like to talk to a human about my order 10234",
        ),
        ("Zofia Kowalska", "Chcę rozmawiać z konsultantem"),
        // Two texts the bot cannot place: a handoff, and texts to teach the bot.
        ("Mia Unclear", "blorp zindle quax"),
        ("Mia Unclear", "quax flib zindle blorp"),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = app.post_signed(
            "/webhooks/whatsapp",
            &e2e::whatsapp_text(
                &format!("wamid.b{i}"),
                &format!("3670000000{}", i.min(5)),
                name,
                text,
            ),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let created = app.post_auth(
        "/api/desk/agents",
        &app.admin_token,
        &json!({ "name": "Anna" }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // John also wrote on Messenger: the agent links that identity in the customer panel.
    let on_messenger = app.post_signed(
        "/webhooks/messenger",
        &e2e::messenger_text("PSID-JOHN", "m.john.1", "How much does shipping cost?"),
    );
    assert_eq!(on_messenger.status, 200, "{}", on_messenger.body);
    // A saved reply the agent inserts with "/" (its {email} filled from config/shop.toml).
    let saved = app.post_auth(
        "/api/desk/saved-replies",
        &app.admin_token,
        &json!({ "shortcut": "contact", "language": "en", "text": "You can also write to us at {email}." }),
    );
    assert_eq!(saved.status, 201, "{}", saved.body);

    let screenshot = std::env::var("INBOX_SCREENSHOT").map_or_else(
        |_| root.join("target/test-state/inbox.png"),
        std::path::PathBuf::from,
    );
    if let Some(dir) = screenshot.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let output = Command::new("node")
        .arg(root.join("tests/browser/inbox.mjs"))
        .arg(&app.base_url)
        .arg(&token)
        .arg("John Miller")
        .arg(&screenshot)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the browser run failed:\n{log}");
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );

    // What the agent did in the browser reached John on WhatsApp: the reply, the saved
    // reply, then the rating question with its options.
    let to_john = |graph: &FakeGraph| {
        graph
            .requests()
            .into_iter()
            .filter(|r| r.body["to"] == "36700000003")
            .collect::<Vec<_>>()
    };
    for _ in 0..50 {
        if to_john(&graph).len() >= 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sent = to_john(&graph);
    let texts: Vec<String> = sent
        .iter()
        .map(|r| {
            r.body["text"]["body"]
                .as_str()
                .or_else(|| r.body["interactive"]["body"]["text"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Your parcel left our warehouse")),
        "the agent's reply: {texts:?}\n{log}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t == "You can also write to us at help@otthon.example."),
        "the saved reply, inserted with /: {texts:?}\n{log}"
    );
    assert!(
        sent.iter()
            .any(|r| r.body["interactive"]["type"] == "list"
                && r.body.to_string().contains("CSAT:5")),
        "the rating question with 1-5: {sent:?}"
    );
    // The panel's notes, tags and link are the customer's data: in the GDPR export.
    let export = app
        .get_auth(
            "/api/desk/customers/whatsapp/36700000003/export",
            &app.admin_token,
        )
        .json();
    assert_eq!(
        export["customer"]["notes"], "Prefers email. Order 10234 was late.",
        "{export}"
    );
    assert_eq!(export["customer"]["tags"], json!(["late-delivery", "vip"]));
    assert_eq!(export["linked"][0]["channel"], "messenger", "{export}");
    // The label the agent saved is a training line now: off the list for the operator too.
    let learning = app.get_auth("/api/desk/learning", &app.admin_token).json();
    let listed = learning["items"].to_string();
    assert!(
        !listed.contains("blorp zindle quax") && listed.contains("quax flib zindle blorp"),
        "the labeled text left the list, the other stays: {learning}"
    );
}

e2e::tests! {
    own_app_and_browser: [
        an_agent_works_a_conversation_in_the_inbox_in_chromium,
    ],
}
