//! The store on a real SQLite database (rusqlite), including races between connections.

use std::path::PathBuf;
use store::sqlite::Sqlite;
use store::{Channel, Database, HandoffReason, Lang, NewMessage, Outcome, Status, Value};

fn db_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("store-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("db.sqlite")
}

fn open(path: &std::path::Path) -> Sqlite {
    Sqlite::open(path).unwrap()
}

#[test]
fn a_message_id_is_claimed_once_even_when_deliveries_race() {
    let path = db_path("claim");
    store::migrate(&open(&path)).unwrap();
    let winners: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                scope.spawn(move || {
                    let db = open(&path);
                    (0..50)
                        .filter(|i| {
                            store::claim_message(&db, Channel::WhatsApp, &format!("wamid.{i}"), 1)
                                .unwrap()
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(
        winners, 50,
        "each of the 50 ids is claimed exactly once across 8 racing connections"
    );
    let db = open(&path);
    assert!(!store::claim_message(&db, Channel::WhatsApp, "wamid.3", 2).unwrap());
    assert!(
        store::claim_message(&db, Channel::Messenger, "wamid.3", 2).unwrap(),
        "ids are per channel"
    );
}

#[test]
fn conversations_upsert_and_keep_state() {
    let db = open(&db_path("conversation"));
    store::migrate(&db).unwrap();
    store::migrate(&db).unwrap(); // idempotent
    let first =
        store::touch_conversation(&db, Channel::WhatsApp, "3630", "PNID", Some("Anna"), 1_000)
            .unwrap();
    assert_eq!(
        (
            first.status.as_str(),
            first.customer_name.as_deref(),
            first.language.map(Lang::as_str)
        ),
        ("bot", Some("Anna"), None)
    );
    let mut changed = first.clone();
    changed.language = Some(Lang::Hu);
    changed.status = Status::Queued;
    changed.misses = 1;
    store::save_state(&db, &changed).unwrap();
    let again =
        store::touch_conversation(&db, Channel::WhatsApp, "3630", "PNID", None, 500).unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        (
            again.language.map(Lang::as_str),
            again.status.as_str(),
            again.misses
        ),
        (Some("hu"), "queued", 1)
    );
    assert_eq!(
        again.customer_name.as_deref(),
        Some("Anna"),
        "a missing name keeps the known one"
    );
    assert_eq!(
        again.last_customer_ms, 1_000,
        "an older event does not move the window back"
    );
    let other =
        store::touch_conversation(&db, Channel::Messenger, "3630", "PAGE", None, 1).unwrap();
    assert_ne!(other.id, first.id);

    let message = NewMessage {
        direction: "in",
        author: "customer",
        text: "szia",
        intent: Some("greeting"),
        confidence: Some(0.9),
        anger: Some(0.0),
        language: Some(Lang::Hu),
    };
    assert!(store::add_message(&db, first.id, &message, 1_000).unwrap() > 0);
}

#[test]
fn the_outbox_retries_with_back_off_and_keeps_failures() {
    let db = open(&db_path("outbox"));
    store::migrate(&db).unwrap();
    let conversation =
        store::touch_conversation(&db, Channel::Messenger, "U1", "PAGE", None, 0).unwrap();
    let a = store::enqueue(&db, conversation.id, "messenger", "me", "{\"a\":1}", 0).unwrap();
    let b = store::enqueue(&db, conversation.id, "messenger", "me", "{\"b\":1}", 0).unwrap();

    let claimed = store::claim_due(&db, 0, 30_000, 10).unwrap();
    assert_eq!(claimed.iter().map(|d| d.id).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(claimed[0].conversation_id, conversation.id);
    assert_eq!(claimed[0].last_customer_ms, 0, "the conversation's");
    assert!(
        store::any_due(&db, 0).is_ok_and(|due| !due),
        "nothing due while leased"
    );
    assert!(
        store::claim_due(&db, 1, 30_000, 10).unwrap().is_empty(),
        "leased rows are not claimed twice"
    );

    store::record_outcome(
        &db,
        &claimed[0],
        &Outcome::Retry("HTTP 503".into()),
        10,
        2_000,
    )
    .unwrap();
    store::record_outcome(
        &db,
        &claimed[1],
        &Outcome::Failed("HTTP 400: (#100) invalid recipient".into()),
        10,
        2_000,
    )
    .unwrap();
    assert!(
        store::claim_due(&db, 11, 30_000, 10).unwrap().is_empty(),
        "not due before the back-off"
    );
    // A sender that keeps retrying its own rows knows when to wake up; a failed or sent row
    // is not waited for.
    assert_eq!(
        store::next_attempt_ms(&db, &[a, b]).unwrap(),
        Some(10 + store::backoff_ms(1, 2_000))
    );
    assert_eq!(store::next_attempt_ms(&db, &[b]).unwrap(), None);
    assert_eq!(store::next_attempt_ms(&db, &[]).unwrap(), None);
    let retry = store::claim_due(&db, 10 + store::backoff_ms(1, 2_000), 30_000, 10).unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].id, retry[0].attempts), (a, 1));
    store::record_outcome(&db, &retry[0], &Outcome::Sent, 5_000, 2_000).unwrap();
    assert_eq!(
        store::outbox_counts(&db).unwrap(),
        vec![("failed".to_string(), 1), ("sent".to_string(), 1)]
    );
    let problems = store::outbox_problems(&db, 10).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(store::requeue_failed(&db, Some(&[]), 6_000).unwrap(), 0);
    assert_eq!(
        store::requeue_failed(&db, Some(&[a]), 6_000).unwrap(),
        0,
        "a sent row is not queued again"
    );
    assert_eq!(problems[0].state, "failed");
    assert_eq!(
        problems[0].last_error.as_deref(),
        Some("HTTP 400: (#100) invalid recipient")
    );

    // Rows queued leased by their sender are not taken by others until the lease ends, and
    // one statement records a run's sent rows.
    let rows = [("{\"d\":1}", "me"), ("{\"e\":1}", "me")].map(|(body, target)| store::NewOutbox {
        channel: "messenger".into(),
        target: target.into(),
        body: body.into(),
    });
    let leased = store::enqueue_all(&db, conversation.id, &rows, 50_000, 80_000, 42).unwrap();
    assert_eq!(leased.len(), 2);
    assert!(leased[0].id < leased[1].id);
    assert_eq!(
        (leased[1].body.as_str(), leased[1].last_customer_ms),
        ("{\"e\":1}", 42)
    );
    assert!(
        store::claim_due(&db, 60_000, 30_000, 10)
            .unwrap()
            .is_empty()
    );
    let outcomes: Vec<(store::Delivery, Outcome)> =
        leased.into_iter().map(|d| (d, Outcome::Sent)).collect();
    store::record_outcomes(&db, &outcomes, 60_000, 2_000).unwrap();
    assert_eq!(
        store::outbox_counts(&db).unwrap(),
        vec![("failed".to_string(), 1), ("sent".to_string(), 3)]
    );

    // The failed row, queued again by an operator, is due at once with fresh attempts.
    assert_eq!(store::requeue_failed(&db, None, 70_000).unwrap(), 1);
    let again = store::claim_due(&db, 70_000, 30_000, 10).unwrap();
    assert_eq!((again.len(), again[0].id, again[0].attempts), (1, b, 0));
    // A row that keeps failing for now is given up after MAX_ATTEMPTS (the dead letter).
    let mut row = again[0].clone();
    for attempt in 1..=store::MAX_ATTEMPTS {
        store::record_outcome(&db, &row, &Outcome::Retry("HTTP 503".into()), 0, 1).unwrap();
        let due = store::claim_due(&db, i64::MAX / 2, 30_000, 10).unwrap();
        if attempt < store::MAX_ATTEMPTS {
            assert_eq!(due.len(), 1, "attempt {attempt}");
            row = due[0].clone();
        } else {
            assert!(due.is_empty(), "given up after {attempt} attempts");
        }
    }
    let problems = store::outbox_problems(&db, 10).unwrap();
    assert_eq!(problems[0].state, "failed");
    assert_eq!(
        problems[0].last_error.as_deref(),
        Some("gave up after 20 attempts: HTTP 503")
    );

    // A lease that expires (the instance died mid-attempt) makes the row due again.
    let c = store::enqueue(&db, conversation.id, "messenger", "me", "{}", 100_000).unwrap();
    assert_eq!(store::claim_due(&db, 100_000, 30_000, 10).unwrap()[0].id, c);
    assert_eq!(store::claim_due(&db, 130_001, 30_000, 10).unwrap()[0].id, c);
}

#[test]
fn back_off_doubles_to_a_cap() {
    let cases = [
        (1, 2_000),
        (2, 4_000),
        (3, 8_000),
        (9, 512_000),
        (10, 600_000),
        (40, 600_000),
        (0, 2_000),
    ];
    for (attempts, want) in cases {
        assert_eq!(store::backoff_ms(attempts, 2_000), want, "{attempts}");
    }
    // An operator's base (e.g. 200 ms) doubles the same way; nonsense is clamped.
    assert_eq!(store::backoff_ms(3, 200), 800);
    assert_eq!(store::backoff_ms(1, -5), 1);
    assert_eq!(store::backoff_ms(1, i64::MAX), 600_000);
}

#[test]
fn handoffs_are_queued_once_with_priority_and_a_wait_estimate() {
    let db = open(&db_path("handoffs"));
    store::migrate(&db).unwrap();
    assert_eq!(
        store::estimated_wait_minutes(&db).unwrap(),
        5,
        "empty queue, default handling time"
    );
    let a = store::touch_conversation(&db, Channel::Messenger, "A", "PAGE", None, 0).unwrap();
    let b = store::touch_conversation(&db, Channel::WhatsApp, "B", "PNID", None, 0).unwrap();
    let first = store::enqueue_handoff(
        &db,
        &store::NewHandoff {
            conversation_id: a.id,
            channel: Channel::Messenger,
            reason: HandoffReason::Anger,
            anger: 0.9,
            language: Some(Lang::En),
        },
        10,
    )
    .unwrap();
    let again = store::enqueue_handoff(
        &db,
        &store::NewHandoff {
            conversation_id: a.id,
            channel: Channel::Messenger,
            reason: HandoffReason::Complaint,
            anger: 0.0,
            language: Some(Lang::En),
        },
        20,
    )
    .unwrap();
    assert_eq!(first, again, "one open handoff per conversation");
    store::enqueue_handoff(
        &db,
        &store::NewHandoff {
            conversation_id: b.id,
            channel: Channel::WhatsApp,
            reason: HandoffReason::OutOfScope,
            anger: 0.0,
            language: Some(Lang::Hu),
        },
        30,
    )
    .unwrap();
    assert_eq!(
        store::estimated_wait_minutes(&db).unwrap(),
        15,
        "two waiting ahead, 5 minutes each"
    );
    // Resolved handoffs teach the handling time: 2 minutes each.
    db.execute(
        "UPDATE handoffs SET claimed_ms = created_ms, resolved_ms = created_ms + 120000",
        &[],
    )
    .unwrap();
    assert_eq!(store::estimated_wait_minutes(&db).unwrap(), 2);
    let cases = [
        (HandoffReason::Anger, 0.9, 5),
        (HandoffReason::Complaint, 0.0, 2),
        (HandoffReason::ExplicitRequest, 0.3, 3),
        (HandoffReason::OutOfScope, 0.0, 1),
        (HandoffReason::LowConfidence, 2.0, 3),
    ];
    for (reason, anger, want) in cases {
        assert_eq!(reason.priority(anger), want, "{reason}");
    }
}

#[test]
fn migrations_apply_once_and_upgrade_a_version_1_database() {
    let path = db_path("migrate");
    let db = open(&path);
    // A database from before the desk (only the version-1 tables, no version table).
    db.execute(
        "CREATE TABLE conversations (id INTEGER PRIMARY KEY, channel TEXT NOT NULL, customer_id TEXT NOT NULL, business_id TEXT NOT NULL DEFAULT '', customer_name TEXT, language TEXT, status TEXT NOT NULL DEFAULT 'bot', misses INTEGER NOT NULL DEFAULT 0, out_of_scope_streak INTEGER NOT NULL DEFAULT 0, last_customer_ms INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, UNIQUE (channel, customer_id))",
        &[],
    )
    .unwrap();
    store::touch_conversation(&db, Channel::Messenger, "old", "P", None, 1).unwrap_err();
    store::migrate(&db).unwrap();
    let c = store::touch_conversation(&db, Channel::Messenger, "old", "P", None, 1).unwrap();
    assert!(!c.awaiting_rating);
    // Racing migrations from several connections apply each version once.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let path = path.clone();
            scope.spawn(move || store::migrate(&open(&path)).unwrap());
        }
    });
    let versions = db
        .execute("SELECT version FROM schema_version ORDER BY version", &[])
        .unwrap();
    assert_eq!(versions.len() as i64, store::SCHEMA_VERSION);
}

fn handed_off(db: &Sqlite, customer: &str, now: i64) -> i64 {
    let c = store::touch_conversation(db, Channel::Messenger, customer, "PAGE", Some("Eve"), now)
        .unwrap();
    store::enqueue_handoff(
        db,
        &store::NewHandoff {
            conversation_id: c.id,
            channel: Channel::Messenger,
            reason: HandoffReason::Anger,
            anger: 0.9,
            language: Some(Lang::En),
        },
        now,
    )
    .unwrap();
    c.id
}

#[test]
fn two_agents_claiming_at_once_one_wins() {
    use store::desk::Claim;
    let path = db_path("desk-claim");
    store::migrate(&open(&path)).unwrap();
    let ids: Vec<i64> = (0..20)
        .map(|i| handed_off(&open(&path), &format!("c{i}"), 1_000))
        .collect();
    let outcomes: Vec<(String, Claim)> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["1", "2"]
            .into_iter()
            .map(|agent| {
                let (path, ids) = (path.clone(), ids.clone());
                scope.spawn(move || {
                    let db = open(&path);
                    ids.iter()
                        .map(|id| {
                            db.execute("BEGIN IMMEDIATE", &[]).unwrap();
                            let outcome = store::desk::claim(&db, *id, agent, 2_000).unwrap();
                            db.execute("COMMIT", &[]).unwrap();
                            (agent.to_string(), outcome)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let won = outcomes
        .iter()
        .filter(|(_, o)| *o == Claim::Claimed)
        .count();
    assert_eq!(won, ids.len(), "each conversation claimed exactly once");
    for (agent, outcome) in &outcomes {
        if let Claim::TakenBy(holder) = outcome {
            assert_ne!(holder, agent);
        }
    }
    let db = open(&path);
    assert_eq!(
        store::desk::claim(&db, ids[0], "3", 3_000).unwrap(),
        Claim::TakenBy(store::desk::holder(&db, ids[0]).unwrap().flatten().unwrap())
    );
    let conversation = store::conversation_by_id(&db, ids[0]).unwrap().unwrap();
    assert_eq!(conversation.status, Status::Human);
}

#[test]
fn the_desk_lifecycle_transfer_resolve_rate_and_kpi_facts() {
    use store::desk::{self, Claim};
    let db = open(&db_path("desk-life"));
    store::migrate(&db).unwrap();
    let token_hash = "ab".repeat(32);
    let anna = desk::create_agent(&db, "Anna", &token_hash, 10).unwrap();
    assert_eq!(
        desk::agent_by_token_hash(&db, &token_hash).unwrap(),
        Some(anna.clone())
    );
    assert_eq!(desk::agent_by_token_hash(&db, "nope").unwrap(), None);
    let id = handed_off(&db, "cust", 1_000);
    store::add_message(
        &db,
        id,
        &NewMessage {
            direction: "in",
            author: "customer",
            text: "WHERE IS IT",
            intent: Some("order_status"),
            confidence: Some(0.9),
            anger: Some(0.8),
            language: Some(Lang::En),
        },
        1_000,
    )
    .unwrap();
    let queue = desk::open_handoffs(&db, None, None).unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].last_message.as_deref(), Some("WHERE IS IT"));
    assert_eq!(queue[0].intent.as_deref(), Some("order_status"));
    assert_eq!(
        desk::open_handoffs(&db, Some(Lang::Hu), None)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        desk::open_handoffs(&db, Some(Lang::En), Some(Channel::WhatsApp))
            .unwrap()
            .len(),
        0
    );

    let key = anna.id.to_string();
    assert_eq!(desk::claim(&db, id, &key, 5_000).unwrap(), Claim::Claimed);
    assert_eq!(
        desk::claim(&db, id, &key, 6_000).unwrap(),
        Claim::AlreadyYours
    );
    store::add_message(
        &db,
        id,
        &NewMessage {
            direction: "out",
            author: &format!("agent:{key}"),
            text: "Checking!",
            intent: None,
            confidence: None,
            anger: None,
            language: Some(Lang::En),
        },
        7_000,
    )
    .unwrap();
    desk::note_agent_reply(&db, id, 7_000).unwrap();
    desk::note_agent_reply(&db, id, 8_000).unwrap();
    let transcript = desk::transcript(&db, id, 0).unwrap();
    assert_eq!(transcript.len(), 2);
    assert_eq!(transcript[1].agent_name.as_deref(), Some("Anna"));
    assert_eq!(
        desk::transcript(&db, id, transcript[0].id).unwrap().len(),
        1
    );

    assert!(desk::transfer(&db, id, None, 9_000).unwrap());
    assert_eq!(desk::holder(&db, id).unwrap(), Some(None));
    assert_eq!(
        store::conversation_by_id(&db, id).unwrap().unwrap().status,
        Status::Queued
    );
    assert_eq!(desk::claim(&db, id, &key, 10_000).unwrap(), Claim::Claimed);
    assert!(desk::resolve(&db, id, Some("sent a new parcel"), true, 60_000).unwrap());
    assert!(
        !desk::resolve(&db, id, None, true, 61_000).unwrap(),
        "nothing open any more"
    );
    let conversation = store::conversation_by_id(&db, id).unwrap().unwrap();
    assert_eq!(
        (conversation.status.as_str(), conversation.awaiting_rating),
        ("bot", true)
    );
    assert!(
        !desk::record_rating(&db, id, 5, 60_000 + desk::RATING_WINDOW_MS + 1).unwrap(),
        "too late to rate"
    );
    assert!(desk::record_rating(&db, id, 4, 61_000).unwrap());
    assert!(
        !desk::record_rating(&db, id, 1, 62_000).unwrap(),
        "only the first rating counts"
    );
    let handoffs = desk::handoffs_of(&db, id).unwrap();
    assert_eq!(handoffs.len(), 1);
    let h = &handoffs[0];
    assert_eq!(
        (h.claimed_ms, h.first_reply_ms, h.resolved_ms, h.csat),
        (Some(5_000), Some(7_000), Some(60_000), Some(4))
    );
    assert_eq!(h.note.as_deref(), Some("sent a new parcel"));

    // A conversation still with the bot is taken over with a handoff of its own.
    let bot_only =
        store::touch_conversation(&db, Channel::WhatsApp, "w1", "PN", None, 2_000).unwrap();
    assert_eq!(
        desk::claim(&db, bot_only.id, "admin", 3_000).unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        desk::handoffs_of(&db, bot_only.id).unwrap()[0].reason,
        HandoffReason::Agent
    );

    let (conversations, handoffs) = desk::kpi_facts(&db, 0, 100_000).unwrap();
    assert_eq!(conversations.len(), 2);
    assert_eq!(handoffs.len(), 2);
    assert_eq!(desk::kpi_facts(&db, 5_000, 100_000).unwrap().0.len(), 0);
    assert_eq!(
        desk::set_agent_disabled(&db, anna.id, true)
            .unwrap()
            .map(|a| a.disabled),
        Some(true)
    );
    assert_eq!(desk::set_agent_disabled(&db, 999, true).unwrap(), None);
}

#[test]
fn export_erase_and_purge_keep_the_kpis_but_not_the_person() {
    use store::privacy;
    let db = open(&db_path("privacy"));
    store::migrate(&db).unwrap();
    let say = |id: i64, author: &str, text: &str, at: i64| {
        store::add_message(
            &db,
            id,
            &NewMessage {
                direction: if author == "customer" { "in" } else { "out" },
                author,
                text,
                intent: None,
                confidence: None,
                anger: None,
                language: Some(Lang::En),
            },
            at,
        )
        .unwrap();
    };
    let anna =
        store::touch_conversation(&db, Channel::WhatsApp, "3630111", "PN", Some("Anna"), 1_000)
            .unwrap();
    say(anna.id, "customer", "my address is Fő utca 1", 1_000);
    say(anna.id, "bot", "thanks", 1_040);
    store::enqueue(
        &db,
        anna.id,
        "whatsapp",
        "PN",
        r#"{"text":"thanks"}"#,
        1_040,
    )
    .unwrap();
    let bob =
        store::touch_conversation(&db, Channel::WhatsApp, "3630222", "PN", Some("Bob"), 1_000)
            .unwrap();
    say(bob.id, "customer", "hello", 1_000);
    say(bob.id, "bot", "hi", 1_100);

    let data = privacy::export_customer(&db, Channel::WhatsApp, "3630111")
        .unwrap()
        .unwrap();
    assert_eq!(data.conversation.customer_name.as_deref(), Some("Anna"));
    assert_eq!(data.messages.len(), 2);
    assert_eq!(data.outbox.len(), 1);
    assert!(
        privacy::export_customer(&db, Channel::WhatsApp, "nobody")
            .unwrap()
            .is_none()
    );

    assert!(privacy::request_erasure(&db, &anna, 2_000).unwrap());
    assert!(
        !privacy::request_erasure(&db, &anna, 2_001).unwrap(),
        "one open request"
    );
    assert_eq!(privacy::open_erasure_requests(&db).unwrap().len(), 1);

    assert_eq!(
        privacy::erase_customer(&db, Channel::WhatsApp, "3630111").unwrap(),
        Some(2)
    );
    assert!(
        privacy::export_customer(&db, Channel::WhatsApp, "3630111")
            .unwrap()
            .is_none()
    );
    let (conversations, _) = store::desk::kpi_facts(&db, 0, 10_000).unwrap();
    let kept = conversations.iter().find(|c| c.id == anna.id).unwrap();
    assert_eq!(
        (kept.first_customer_ms, kept.first_bot_ms),
        (Some(1_000), Some(1_040)),
        "KPI times stay"
    );
    let row = store::conversation_by_id(&db, anna.id).unwrap().unwrap();
    assert_eq!(row.customer_id, format!("erased:{}", anna.id));
    assert_eq!(row.customer_name, None);
    let leftovers = db
        .execute(
            "SELECT COUNT(*) FROM messages WHERE text LIKE '%Fő utca%'",
            &[],
        )
        .unwrap();
    assert_eq!(leftovers[0][0], Value::Integer(0));
    let request = privacy::open_erasure_requests(&db).unwrap()[0].clone();
    assert!(
        privacy::close_erasure_request(&db, request.id, "admin", 3_000)
            .unwrap()
            .is_some()
    );
    assert!(
        privacy::close_erasure_request(&db, request.id, "admin", 3_001)
            .unwrap()
            .is_none()
    );

    // Retention: messages before the cutoff go, KPI times stay.
    say(bob.id, "customer", "new", 50_000);
    assert_eq!(privacy::purge_before(&db, 10_000).unwrap(), 2);
    assert_eq!(store::desk::transcript(&db, bob.id, 0).unwrap().len(), 1);
    let (conversations, _) = store::desk::kpi_facts(&db, 0, 10_000).unwrap();
    let bob_kpi = conversations.iter().find(|c| c.id == bob.id).unwrap();
    assert_eq!(
        (bob_kpi.first_customer_ms, bob_kpi.first_bot_ms),
        (Some(1_000), Some(1_100))
    );

    privacy::set_setting(&db, "crisis_mode", "holding", 1).unwrap();
    privacy::set_setting(&db, "crisis_mode", "normal", 2).unwrap();
    assert_eq!(
        privacy::setting(&db, "crisis_mode").unwrap().as_deref(),
        Some("normal")
    );
    assert_eq!(privacy::setting(&db, "unset").unwrap(), None);
    privacy::audit(&db, "admin", "erase", Some("whatsapp:abc123"), 5).unwrap();
    let events = privacy::audit_events(&db, 10).unwrap();
    assert_eq!(events[0].action, "erase");
}

/// A turn as the webhook writes it: one read, one statement.
fn turn<'a>(
    message_id: &'a str,
    version: Option<i64>,
    state: &'a store::Conversation,
    messages: &'a [NewMessage<'a>],
    outbox: &'a [store::turn::TurnOutbox],
    handoff: Option<store::turn::TurnHandoff>,
    metrics: &'a store::metrics::Batch,
) -> store::turn::Turn<'a> {
    store::turn::Turn {
        channel: Channel::Messenger,
        message_id: Some(message_id),
        customer_id: "PSID-T",
        business_id: "PAGE",
        customer_name: Some("Tom"),
        customer_ms: 1_000,
        now_ms: 1_000,
        expected_version: version,
        state,
        messages,
        outbox,
        lease_until_ms: 31_000,
        handoff,
        erasure: false,
        rating: None,
        metrics,
        comment: None,
    }
}

#[test]
fn a_turn_is_one_read_and_one_write_that_refuses_redeliveries_and_stale_decisions() {
    use store::turn::{TurnOutbox, TurnWritten, context_migrated, write_turn};
    let db = open(&db_path("turn"));
    // A new database: the context read migrates it first.
    let m1 = Some(store::turn::MessageId::plain("m.1"));
    let context = context_migrated(&db, Channel::Messenger, "PSID-T", m1, 1_000).unwrap();
    assert_eq!(context.schema_version, Some(store::SCHEMA_VERSION));
    assert_eq!(
        (
            context.processed,
            context.due,
            context.conversation.is_none()
        ),
        (false, false, true)
    );

    let mut state = store::Conversation {
        id: 0,
        channel: Channel::Messenger,
        customer_id: "PSID-T".into(),
        business_id: "PAGE".into(),
        customer_name: Some("Tom".into()),
        language: Some(Lang::En),
        status: Status::Queued,
        misses: 0,
        out_of_scope_streak: 0,
        last_customer_ms: 1_000,
        awaiting_rating: false,
    };
    let messages = [
        NewMessage {
            direction: "in",
            author: "customer",
            text: "I want a human",
            intent: Some("human"),
            confidence: Some(0.9),
            anger: Some(0.1),
            language: Some(Lang::En),
        },
        NewMessage {
            direction: "out",
            author: "bot",
            text: "Someone will be with you",
            intent: None,
            confidence: None,
            anger: None,
            language: Some(Lang::En),
        },
    ];
    let row = |channel: &str, body: &str, notification| TurnOutbox {
        row: store::NewOutbox {
            channel: channel.into(),
            target: "me".into(),
            body: body.into(),
        },
        notification,
    };
    let outbox = [
        row(
            "notify",
            r#"{"event":"handoff","conversation_id":"0","desk_path":""}"#,
            true,
        ),
        row(
            "messenger",
            r#"{"message":{"text":"Someone will be with you"}}"#,
            false,
        ),
    ];
    let handoff = || {
        Some(store::turn::TurnHandoff {
            reason: HandoffReason::ExplicitRequest,
            anger: 0.1,
            language: Some(Lang::En),
        })
    };
    let mut metrics = store::metrics::Batch::default();
    metrics.count("chatbot_replies_total", &[("intent", "handoff")], 1.0);
    metrics.observe("chatbot_request_seconds", &[], 0.002);
    let first = turn("m.1", None, &state, &messages, &outbox, handoff(), &metrics);
    let stored = match write_turn(&db, &first).unwrap() {
        TurnWritten::Stored(stored) => stored,
        other => panic!("not stored: {other:?}"),
    };
    // The notification names the conversation the turn created; the rows are leased.
    assert_eq!(stored.outbox.len(), 2);
    let notification: serde_json::Value = serde_json::from_str(&stored.outbox[0].body).unwrap();
    assert_eq!(
        notification["conversation_id"],
        stored.conversation_id.to_string()
    );
    assert_eq!(
        notification["desk_path"],
        format!("/desk/#{}", stored.conversation_id)
    );
    assert_eq!(stored.outbox[1].last_customer_ms, 1_000);
    assert!(
        store::claim_due(&db, 2_000, 30_000, 10).unwrap().is_empty(),
        "leased to the writer"
    );

    // The same message again, even decided afresh, writes nothing.
    assert_eq!(write_turn(&db, &first), Ok(TurnWritten::Redelivery));
    let after = context_migrated(&db, Channel::Messenger, "PSID-T", m1, 1_000).unwrap();
    assert!(after.processed && after.open_handoff);
    let (conversation, version) = after.conversation.clone().unwrap();
    assert_eq!(conversation.id, stored.conversation_id);
    assert_eq!(
        (
            conversation.status.as_str(),
            conversation.customer_name.as_deref()
        ),
        ("queued", Some("Tom"))
    );

    // Two messages decided from the same read: the second is refused as stale.
    state.status = Status::Queued;
    let no_outbox: [TurnOutbox; 0] = [];
    let second = turn(
        "m.2",
        Some(version),
        &state,
        &messages[..1],
        &no_outbox,
        None,
        &metrics,
    );
    let third = turn(
        "m.3",
        Some(version),
        &state,
        &messages[..1],
        &no_outbox,
        None,
        &metrics,
    );
    assert!(matches!(
        write_turn(&db, &second),
        Ok(TurnWritten::Stored(_))
    ));
    assert_eq!(write_turn(&db, &third), Ok(TurnWritten::Changed));
    let context = context_migrated(
        &db,
        Channel::Messenger,
        "PSID-T",
        Some(store::turn::MessageId::plain("m.3")),
        1_000,
    )
    .unwrap();
    assert!(!context.processed, "a refused turn claims nothing");
    // An agent's claim changes the conversation too.
    let (_, before_claim) = context.conversation.unwrap();
    store::desk::claim(&db, conversation.id, "1", 2_000).unwrap();
    let claimed = context_migrated(&db, Channel::Messenger, "PSID-T", None, 2_000).unwrap();
    assert!(claimed.conversation.unwrap().1 > before_claim);

    // What the first turn stored: the transcript in order, one handoff, the metrics.
    let transcript = store::desk::transcript(&db, conversation.id, 0).unwrap();
    let texts: Vec<&str> = transcript.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts[..2], ["I want a human", "Someone will be with you"]);
    assert_eq!(
        stored.last_message_id, transcript[1].id,
        "the bot's reply is the last message"
    );
    assert_eq!(
        store::desk::handoffs_of(&db, conversation.id)
            .unwrap()
            .len(),
        1
    );
    let text = store::metrics::render(&db, &Default::default(), &[]).unwrap();
    for series in [
        "chatbot_replies_total{intent=\"handoff\"} 2",
        "chatbot_request_seconds_count 2",
    ] {
        assert!(text.contains(series), "{series} in {text}");
    }

    // Once the lease is over, an undelivered row is due for anyone, and the context says so.
    let later = context_migrated(&db, Channel::Messenger, "PSID-T", None, 40_000).unwrap();
    assert!(later.due);
}
