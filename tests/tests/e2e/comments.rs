//! Public comments under Facebook and Instagram posts (the Page `feed` and Instagram
//! `comments` webhooks): FAQ comments answered privately (and publicly where the shop config
//! says), angry ones to the desk with their link, never answered in public; what is not a
//! customer's new comment ignored. (Skipped under `APP_URL`: replies go to the fake Graph
//! API.)

use e2e::{App, FakeGraph, GraphRequest, now_ms};
use serde_json::{Value, json};

/// A Page webhook with one feed change.
fn feed(value: Value) -> String {
    json!({
        "object": "page",
        "entry": [{ "id": "PAGE", "time": now_ms(), "changes": [{ "field": "feed", "value": value }] }]
    })
    .to_string()
}

/// A new comment by `from` under post `post`.
fn comment(comment_id: &str, post: &str, from: &str, text: &str) -> Value {
    json!({
        "from": { "id": from, "name": "Ada Kovács" },
        "post": { "id": post, "permalink_url": format!("https://facebook.example/{post}") },
        "message": text, "post_id": post, "comment_id": comment_id,
        "created_time": now_ms() / 1000, "item": "comment", "parent_id": post, "verb": "add",
    })
}

/// An Instagram webhook with one comment.
fn instagram_comment(comment_id: &str, media: &str, from: &str, text: &str) -> String {
    json!({
        "object": "instagram",
        "entry": [{ "id": "IGACCT", "time": now_ms() / 1000, "changes": [{ "field": "comments", "value": {
            "from": { "id": from, "username": "ada.k" }, "media": { "id": media }, "id": comment_id, "text": text,
        }}]}]
    })
    .to_string()
}

/// The private replies (Messenger Platform `recipient.comment_id`) among `requests`.
fn private_replies(requests: &[GraphRequest]) -> Vec<&GraphRequest> {
    requests
        .iter()
        .filter(|r| r.body["recipient"]["comment_id"].is_string())
        .collect()
}

/// The public replies (a comment under a comment) among `requests`.
fn public_replies(requests: &[GraphRequest]) -> Vec<&GraphRequest> {
    requests
        .iter()
        .filter(|r| r.path.ends_with("/comments") || r.path.ends_with("/replies"))
        .collect()
}

fn settle(graph: &FakeGraph, n: usize) -> Vec<GraphRequest> {
    graph.wait_for(n);
    std::thread::sleep(std::time::Duration::from_millis(500));
    graph.requests()
}

fn faq_comments_get_a_private_answer_and_one_public_reply_per_post_and_day() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let shop = e2e::shop();
    let questions = [
        ("en", "How much does shipping cost?"),
        ("hu", "Mennyi a szállítási díj?"),
        ("pl", "Ile kosztuje wysyłka?"),
    ];
    for (i, (_, question)) in questions.iter().enumerate() {
        let body = feed(comment(
            &format!("POST1_C{i}"),
            "POST1",
            &format!("FBUSER{i}"),
            question,
        ));
        // Redelivered as Meta may: handled once.
        for _ in 0..2 {
            let reply = app.post_signed("/webhooks/messenger", &body);
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    }
    let requests = settle(&graph, 6);
    assert_eq!(
        requests.len(),
        6,
        "a private and a public reply each: {requests:?}"
    );
    for (i, (lang, _)) in questions.iter().enumerate() {
        let comment_id = format!("POST1_C{i}");
        let private = private_replies(&requests)
            .into_iter()
            .find(|r| r.body["recipient"]["comment_id"] == comment_id.as_str())
            .unwrap_or_else(|| panic!("no private reply in {lang}: {requests:?}"));
        assert!(private.path.ends_with("/me/messages"), "{private:?}");
        assert_eq!(private.authorization.as_deref(), Some("Bearer page-token"));
        assert_eq!(
            private.body["message"]["text"],
            shop.faq.answer("shipping_cost", lang).unwrap_or_default(),
            "{lang}"
        );
        let public = public_replies(&requests)
            .into_iter()
            .find(|r| r.path.contains(&comment_id))
            .unwrap_or_else(|| panic!("no public reply in {lang}: {requests:?}"));
        assert!(
            public.path.ends_with(&format!("/{comment_id}/comments")),
            "{public:?}"
        );
        let want = shop
            .comments
            .public_text
            .get(*lang)
            .cloned()
            .unwrap_or_default();
        assert!(!want.is_empty());
        assert_eq!(public.body["message"], want.as_str(), "{lang}");
    }
    // The same customer asks again under the same post: answered privately, no second
    // public reply that day.
    let again = feed(comment(
        "POST1_C9",
        "POST1",
        "FBUSER0",
        "Do you ship to Norway?",
    ));
    assert_eq!(app.post_signed("/webhooks/messenger", &again).status, 200);
    let requests = settle(&graph, 7);
    let to_again: Vec<&GraphRequest> = requests
        .iter()
        .filter(|r| r.body.to_string().contains("POST1_C9") || r.path.contains("POST1_C9"))
        .collect();
    assert_eq!(to_again.len(), 1, "only the private reply: {to_again:?}");
    assert_eq!(private_replies(&requests).len(), 4);

    // Instagram: the same, with Instagram's token and its /replies edge.
    let body = instagram_comment("IGC1", "MEDIA1", "IGSID1", "Mennyi a szállítási díj?");
    assert_eq!(app.post_signed("/webhooks/instagram", &body).status, 200);
    let requests = settle(&graph, 9);
    let on_instagram: Vec<&GraphRequest> = requests
        .iter()
        .filter(|r| r.authorization.as_deref() == Some("Bearer ig-token"))
        .collect();
    assert_eq!(on_instagram.len(), 2, "{requests:?}");
    assert!(
        on_instagram
            .iter()
            .any(|r| r.body["recipient"]["comment_id"] == "IGC1"
                && r.body["message"]["text"]
                    == shop.faq.answer("shipping_cost", "hu").unwrap_or_default())
    );
    assert!(
        on_instagram
            .iter()
            .any(|r| r.path.ends_with("/IGC1/replies")),
        "{on_instagram:?}"
    );
    // The KPIs count the comment channels.
    let stats = app.get_auth("/api/desk/stats", &app.admin_token).json();
    assert_eq!(stats["comments"]["total"], 5, "{stats}");
    assert_eq!(stats["comments"]["answered_privately"], 5, "{stats}");
    assert_eq!(stats["comments"]["answered_publicly"], 4, "{stats}");
    assert_eq!(
        stats["by_channel"]["facebook_comments"]["conversations"], 3,
        "{stats}"
    );
}

fn an_angry_comment_goes_to_the_desk_with_its_link_and_is_never_answered_in_public() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    let angry = feed(comment(
        "POST2_C1",
        "POST2",
        "FBANGRY",
        "WHERE IS MY ORDER?!?! you useless idiots, two weeks and nothing!!!",
    ));
    assert_eq!(app.post_signed("/webhooks/messenger", &angry).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        graph.requests().is_empty(),
        "no reply at all: {:?}",
        graph.requests()
    );
    let queue = app.get_auth("/api/desk/queue", &app.admin_token).json();
    let item = queue["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["customer_id"] == "FBANGRY")
        .cloned()
        .unwrap_or_else(|| panic!("not queued: {queue}"));
    assert_eq!(item["channel"], "facebook_comments", "{item}");
    assert_eq!(
        item["permalink"], "https://facebook.example/POST2",
        "{item}"
    );
    assert!(
        item["priority"].as_i64().unwrap_or(0) >= 5,
        "high priority: {item}"
    );
    assert_eq!(
        item["last_message"],
        "WHERE IS MY ORDER?!?! you useless idiots, two weeks and nothing!!!"
    );
    // An agent answers: privately, to the comment.
    let id = item["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let view = app
        .get_auth(&format!("/api/desk/conversations/{id}"), &app.admin_token)
        .json();
    assert_eq!(view["reply_as"]["kind"], "private_reply", "{view}");
    assert_eq!(
        view["comment"]["permalink"],
        "https://facebook.example/POST2"
    );
    let sent = app.post_auth(
        &format!("/api/desk/conversations/{id}/messages"),
        &app.admin_token,
        &json!({ "text": "So sorry! I've checked: it arrives tomorrow." }),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    let requests = graph.wait_for(1);
    assert_eq!(requests[0].body["recipient"]["comment_id"], "POST2_C1");
    // Meta allows one private reply per comment: a second is refused with the reason.
    let second = app.post_auth(
        &format!("/api/desk/conversations/{id}/messages"),
        &app.admin_token,
        &json!({ "text": "Anything else?" }),
    );
    assert_eq!(second.status, 409, "{}", second.body);
    assert!(
        second.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("private reply")
    );
}

fn the_pages_own_comments_edits_deletions_and_replies_in_the_bots_threads_are_ignored() {
    let graph = FakeGraph::start();
    let app = App::start_with_graph(&graph);
    // The bot answers a question publicly, which starts a thread under it.
    let question = feed(comment(
        "POST3_C1",
        "POST3",
        "FBU3",
        "How much does shipping cost?",
    ));
    assert_eq!(
        app.post_signed("/webhooks/messenger", &question).status,
        200
    );
    let before = settle(&graph, 2).len();
    assert_eq!(before, 2, "{:?}", graph.requests());
    let mut own = comment("POST3_C2", "POST3", "PAGE", "Thanks for all the questions!");
    own["from"]["id"] = json!("PAGE");
    let mut edited = comment(
        "POST3_C1",
        "POST3",
        "FBU3",
        "How much is shipping to Spain?",
    );
    edited["verb"] = json!("edited");
    let mut removed = comment("POST3_C1", "POST3", "FBU3", "x");
    removed["verb"] = json!("remove");
    let mut in_thread = comment(
        "POST3_C3",
        "POST3",
        "FBU3",
        "Thanks! And how much to Spain?",
    );
    in_thread["parent_id"] = json!("POST3_C1");
    for value in [own, edited, removed, in_thread] {
        let reply = app.post_signed("/webhooks/messenger", &feed(value.clone()));
        assert_eq!(reply.status, 200, "{value}: {}", reply.body);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(graph.requests().len(), before, "{:?}", graph.requests());
    // Malformed comment events are 400 and store nothing.
    let malformed = feed(json!({ "item": "comment", "verb": "add", "comment_id": 7 }));
    let reply = app.post_signed("/webhooks/messenger", &malformed);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.json()["error"].is_string());
}

fn a_private_reply_meta_refuses_is_recorded_as_failed_with_metas_error() {
    let graph = FakeGraph::start();
    // The fake Graph API refuses with 400 {"error": {"message": "fake failure"}}.
    graph.fail_next(&[400]);
    let app = App::start_with_graph(&graph);
    let body = feed(comment(
        "POST4_C1",
        "POST4",
        "FBU4",
        "What are your opening hours?",
    ));
    assert_eq!(app.post_signed("/webhooks/messenger", &body).status, 200);
    graph.wait_for(1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let outbox = app.get_auth("/api/desk/outbox", &app.admin_token).json();
    assert_eq!(outbox["counts"]["failed"], 1, "{outbox}");
    assert!(
        outbox["problems"][0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("400: {\"error\":{\"message\":\"fake failure\"}}"),
        "{outbox}"
    );
}

e2e::tests! {
    own_app: [
        faq_comments_get_a_private_answer_and_one_public_reply_per_post_and_day,
        an_angry_comment_goes_to_the_desk_with_its_link_and_is_never_answered_in_public,
        the_pages_own_comments_edits_deletions_and_replies_in_the_bots_threads_are_ignored,
        a_private_reply_meta_refuses_is_recorded_as_failed_with_metas_error,
    ],
}
