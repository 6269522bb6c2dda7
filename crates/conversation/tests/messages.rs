//! Every branch of what happens to a customer message, on a real SQLite database with the
//! shop's content, at fixed instants (no test depends on the wall clock or the time zone).
//! One table: a conversation's earlier messages (and what agents or the operator did), then
//! the message under test and what must come of it.

use conversation::message::{Handled, Inbound, handle};
use conversation::{Settings, delivery};
use meta::EventKind;
use policy::{Action, Analysis, Signal};
use store::metrics::Batch;
use store::sqlite::Sqlite;
use vocab::{Channel, HandoffReason, Lang, Status};

/// Tuesday 2026-12-01 10:00 in Budapest: agents are in.
const OPEN: i64 = 1_796_115_600_000;
/// Sunday 2026-12-06 04:00 in Budapest: agents are out.
const CLOSED: i64 = 1_796_526_000_000;

fn shop() -> replies::Shop {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    replies::Shop::load(&read("models/faq/shop.toml"), &read("config/shop.toml")).unwrap()
}

fn database(name: &str) -> Sqlite {
    let dir = std::env::temp_dir().join(format!("conversation-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Sqlite::open(&dir.join("db.sqlite")).unwrap()
}

/// A text's analysis: language, top intent and confidence, then what else the NLU said.
fn said(lang: Lang, intent: &str, confidence: f32) -> Analysis {
    Analysis {
        language: lang,
        language_confidence: 0.95,
        intents: vec![(intent.into(), confidence), ("order_status".into(), 0.1)],
        out_of_scope: false,
        anger: 0.0,
        signals: Vec::new(),
        rating: None,
    }
}

fn with(mut analysis: Analysis, signal: Signal) -> Analysis {
    analysis.signals.push(signal);
    if signal == Signal::Anger {
        analysis.anger = 0.9;
    }
    analysis
}

fn out_of_scope(lang: Lang) -> Analysis {
    Analysis {
        out_of_scope: true,
        ..said(lang, "shipping_cost", 0.2)
    }
}

fn rating(score: u8) -> Analysis {
    Analysis {
        rating: Some(score),
        ..said(Lang::En, "thanks", 0.3)
    }
}

/// Something that happens in a conversation before the message under test.
#[derive(Clone)]
enum Before {
    /// The customer wrote (a text with its analysis).
    Said(Analysis),
    /// An agent claimed the conversation.
    Claimed,
    /// An agent resolved it (the bot asks for a rating).
    Resolved,
    /// The operator set crisis mode (`handoff` or `holding` with a message).
    Crisis(&'static str, Option<&'static str>),
}

/// What the message under test is.
#[derive(Clone)]
enum Message {
    Text(&'static str, Analysis),
    Payload(&'static str),
    Media,
}

/// What must come of it.
struct Expect {
    action: fn(&Action) -> bool,
    handoff: Option<HandoffReason>,
    status: Status,
    /// A text every reply must contain one of, or none for no reply.
    reply: Option<&'static str>,
    /// Extra checks on the database after the message.
    check: fn(&Sqlite, i64),
}

fn nothing(_: &Sqlite, _: i64) {}

struct Case {
    name: &'static str,
    before: Vec<Before>,
    message: Message,
    now: i64,
    expect: Expect,
}

fn inbound<'a>(message_id: &'a str, kind: &'a EventKind, now: i64) -> Inbound<'a> {
    Inbound {
        channel: Channel::Messenger,
        message_id: Some(message_id),
        customer_id: "PSID-1",
        business_id: "PAGE",
        customer_name: Some("Ada"),
        customer_ms: now,
        kind,
        claimed_conversation: None,
        comment: None,
    }
}

/// Sends one message through `handle` and returns what it decided and stored.
fn send(
    db: &Sqlite,
    shop: &replies::Shop,
    message_id: &str,
    kind: &EventKind,
    analysis: Option<&Analysis>,
    now: i64,
) -> Handled {
    let settings = Settings {
        handoff_notify_url: Some("https://team.example/hook".into()),
        ..Settings::default()
    };
    handle(
        db,
        shop,
        &settings,
        &inbound(message_id, kind, now),
        analysis,
        &Batch::default(),
        now,
    )
    .unwrap()
    .handled
}

fn conversation_id(db: &Sqlite) -> i64 {
    store::turn::context(db, Channel::Messenger, "PSID-1", None, 0)
        .unwrap()
        .conversation
        .unwrap()
        .0
        .id
}

fn run(case: &Case, shop: &replies::Shop) {
    let db = database(case.name);
    for (i, before) in case.before.iter().enumerate() {
        let now = case.now - 60_000 + i as i64;
        match before {
            Before::Said(analysis) => {
                let kind = EventKind::Text("earlier".into());
                send(
                    &db,
                    shop,
                    &format!("m.before.{i}"),
                    &kind,
                    Some(analysis),
                    now,
                );
            }
            Before::Claimed => {
                store::desk::claim(&db, conversation_id(&db), "1", now).unwrap();
            }
            Before::Resolved => {
                store::desk::resolve(&db, conversation_id(&db), None, true, now).unwrap();
            }
            Before::Crisis(mode, message) => {
                store::turn::context_migrated(&db, Channel::Messenger, "-", None, now).unwrap();
                store::privacy::set_setting(&db, conversation::CRISIS_MODE_KEY, mode, now).unwrap();
                if let Some(message) = message {
                    store::privacy::set_setting(
                        &db,
                        conversation::CRISIS_MESSAGE_KEY,
                        message,
                        now,
                    )
                    .unwrap();
                }
            }
        }
    }
    let (kind, analysis) = match &case.message {
        Message::Text(text, analysis) => (EventKind::Text((*text).into()), Some(analysis)),
        Message::Payload(payload) => (
            EventKind::Payload {
                payload: (*payload).into(),
                title: Some("pressed".into()),
            },
            None,
        ),
        Message::Media => (EventKind::NonText("image".into()), None),
    };
    let name = case.name;
    let Handled::Stored(plan, stored) = send(&db, shop, "m.test", &kind, analysis, case.now) else {
        panic!("{name}: not stored");
    };
    let expect = &case.expect;
    assert!(
        (expect.action)(&plan.decision.action),
        "{name}: {:?}",
        plan.decision.action
    );
    assert_eq!(plan.state.status, expect.status, "{name}: status");
    assert_eq!(plan.handoff_reason, expect.handoff, "{name}: handoff");
    let texts: Vec<&str> = plan.replies.iter().map(|r| r.text.as_str()).collect();
    match expect.reply {
        None => assert!(texts.is_empty(), "{name}: no reply, got {texts:?}"),
        Some(needle) => assert!(
            !texts.is_empty() && texts.iter().any(|t| t.contains(needle)),
            "{name}: a reply with {needle:?}, got {texts:?}"
        ),
    }
    // What was stored matches what was decided: the replies are in the outbox (after a new
    // handoff's notification), leased to the caller, and the state is the plan's.
    let platform_rows: Vec<&store::Delivery> = stored
        .outbox
        .iter()
        .filter(|d| d.channel == "messenger")
        .collect();
    assert_eq!(platform_rows.len(), plan.replies.len(), "{name}: outbox");
    let notifications = stored
        .outbox
        .iter()
        .filter(|d| delivery::Route::of(d) == Ok(delivery::Route::Notify))
        .count();
    assert_eq!(
        notifications,
        usize::from(expect.handoff.is_some()),
        "{name}: notification"
    );
    assert!(stored.outbox.iter().all(|d| d.lease_until_ms > case.now));
    let after = store::conversation_by_id(&db, stored.conversation_id)
        .unwrap()
        .unwrap();
    assert_eq!(after.status, expect.status, "{name}: stored status");
    (expect.check)(&db, stored.conversation_id);
    // Delivered again, the same message changes nothing.
    let again = send(&db, shop, "m.test", &kind, analysis, case.now + 1);
    assert!(matches!(again, Handled::Redelivery), "{name}: redelivery");
}

#[test]
fn every_branch_of_a_customer_message() {
    let shop = shop();
    let faq = |intent: &str, lang: &str| shop.faq.answer(intent, lang).unwrap().to_string();
    // Texts the replies must contain, leaked for the table's `&'static str`s.
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let shipping_en = leak(faq("shipping_cost", "en"));
    let shipping_hu = leak(faq("shipping_cost", "hu"));
    let back = leak(
        shop.hours
            .back_phrase(CLOSED, "en")
            .expect("agents are out on Sunday night"),
    );
    let cases = vec![
        Case {
            name: "an FAQ question is answered",
            before: vec![],
            message: Message::Text(
                "How much is shipping?",
                said(Lang::En, "shipping_cost", 0.9),
            ),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Answer {
                        intent: "shipping_cost".into(),
                    }
                },
                handoff: None,
                status: Status::Bot,
                reply: Some(shipping_en),
                check: nothing,
            },
        },
        Case {
            name: "an unclear message gets one clarifying question",
            before: vec![],
            message: Message::Text("hmm", said(Lang::En, "shipping_cost", 0.3)),
            now: OPEN,
            expect: Expect {
                action: |a| matches!(a, Action::Clarify { options } if options.len() >= 2),
                handoff: None,
                status: Status::Bot,
                reply: Some(""),
                check: nothing,
            },
        },
        Case {
            name: "a second unclear message goes to a person",
            before: vec![Before::Said(said(Lang::En, "shipping_cost", 0.3))],
            message: Message::Text("hmm?", said(Lang::En, "return_item", 0.3)),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Handoff {
                        reason: HandoffReason::LowConfidence,
                    }
                },
                handoff: Some(HandoffReason::LowConfidence),
                status: Status::Queued,
                reply: Some(""),
                check: |db, id| {
                    assert_eq!(store::desk::handoffs_of(db, id).unwrap().len(), 1);
                },
            },
        },
        Case {
            name: "out of scope: first what the bot can do",
            before: vec![],
            message: Message::Text("weather?", out_of_scope(Lang::En)),
            now: OPEN,
            expect: Expect {
                action: |a| *a == Action::Capabilities,
                handoff: None,
                status: Status::Bot,
                reply: Some(""),
                check: nothing,
            },
        },
        Case {
            name: "out of scope twice: a person",
            before: vec![Before::Said(out_of_scope(Lang::En))],
            message: Message::Text("weather??", out_of_scope(Lang::En)),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Handoff {
                        reason: HandoffReason::OutOfScope,
                    }
                },
                handoff: Some(HandoffReason::OutOfScope),
                status: Status::Queued,
                reply: Some(""),
                check: nothing,
            },
        },
        Case {
            name: "anger goes to a person at once, with priority",
            before: vec![],
            message: Message::Text(
                "WHERE IS MY ORDER",
                with(said(Lang::En, "order_status", 0.9), Signal::Anger),
            ),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Handoff {
                        reason: HandoffReason::Anger,
                    }
                },
                handoff: Some(HandoffReason::Anger),
                status: Status::Queued,
                reply: Some(""),
                check: |db, id| {
                    let handoffs = store::desk::handoffs_of(db, id).unwrap();
                    assert_eq!(handoffs[0].priority, HandoffReason::Anger.priority(0.9));
                },
            },
        },
        Case {
            name: "asking for a person",
            before: vec![],
            message: Message::Text(
                "a human please",
                with(said(Lang::En, "human", 0.9), Signal::ExplicitRequest),
            ),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Handoff {
                        reason: HandoffReason::ExplicitRequest,
                    }
                },
                handoff: Some(HandoffReason::ExplicitRequest),
                status: Status::Queued,
                reply: Some(""),
                check: nothing,
            },
        },
        Case {
            name: "the talk-to-a-person button",
            before: vec![],
            message: Message::Payload(policy::HUMAN_PAYLOAD),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Handoff {
                        reason: HandoffReason::ExplicitRequest,
                    }
                },
                handoff: Some(HandoffReason::ExplicitRequest),
                status: Status::Queued,
                reply: Some(""),
                check: nothing,
            },
        },
        Case {
            name: "outside business hours the acknowledgement says when agents are back",
            before: vec![],
            message: Message::Text(
                "a human please",
                with(said(Lang::En, "human", 0.9), Signal::ExplicitRequest),
            ),
            now: CLOSED,
            expect: Expect {
                action: |a| {
                    *a == Action::Handoff {
                        reason: HandoffReason::ExplicitRequest,
                    }
                },
                handoff: Some(HandoffReason::ExplicitRequest),
                status: Status::Queued,
                reply: Some(back),
                check: nothing,
            },
        },
        Case {
            name: "crisis mode hands everything to people",
            before: vec![Before::Crisis("handoff", None)],
            message: Message::Text(
                "How much is shipping?",
                said(Lang::En, "shipping_cost", 0.9),
            ),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Handoff {
                        reason: HandoffReason::Crisis,
                    }
                },
                handoff: Some(HandoffReason::Crisis),
                status: Status::Queued,
                reply: Some(""),
                check: nothing,
            },
        },
        Case {
            name: "crisis holding mode sends the operator's message in the customer's language",
            before: vec![Before::Crisis(
                "holding",
                Some(r#"{"en": "We are overwhelmed, bear with us.", "hu": "Türelmet kérünk."}"#),
            )],
            message: Message::Text("Mennyi a szállítás?", said(Lang::Hu, "shipping_cost", 0.9)),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Handoff {
                        reason: HandoffReason::Crisis,
                    }
                },
                handoff: Some(HandoffReason::Crisis),
                status: Status::Queued,
                reply: Some("Türelmet kérünk."),
                check: nothing,
            },
        },
        Case {
            name: "while a person holds the conversation the bot is silent",
            before: vec![
                Before::Said(with(said(Lang::En, "human", 0.9), Signal::ExplicitRequest)),
                Before::Claimed,
            ],
            message: Message::Text("hello?", said(Lang::En, "shipping_cost", 0.9)),
            now: OPEN,
            expect: Expect {
                action: |a| *a == Action::Silent,
                handoff: None,
                status: Status::Human,
                reply: None,
                check: |db, id| {
                    let transcript = store::desk::transcript(db, id, 0).unwrap();
                    assert_eq!(
                        transcript.last().unwrap().text,
                        "hello?",
                        "kept for the agent"
                    );
                },
            },
        },
        Case {
            name: "a picture gets: I can only read text",
            before: vec![],
            message: Message::Media,
            now: OPEN,
            expect: Expect {
                action: |a| *a == Action::TextOnly,
                handoff: None,
                status: Status::Bot,
                reply: Some(""),
                check: nothing,
            },
        },
        Case {
            name: "a clear switch of language is followed",
            before: vec![Before::Said(said(Lang::En, "greeting", 0.9))],
            message: Message::Text("Mennyi a szállítás?", said(Lang::Hu, "shipping_cost", 0.95)),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Answer {
                        intent: "shipping_cost".into(),
                    }
                },
                handoff: None,
                status: Status::Bot,
                reply: Some(shipping_hu),
                check: |db, id| {
                    let after = store::conversation_by_id(db, id).unwrap().unwrap();
                    assert_eq!(after.language, Some(Lang::Hu));
                },
            },
        },
        Case {
            name: "after an agent resolved it, a bare 4 is a rating",
            before: vec![
                Before::Said(with(said(Lang::En, "human", 0.9), Signal::ExplicitRequest)),
                Before::Claimed,
                Before::Resolved,
            ],
            message: Message::Text("4", rating(4)),
            now: OPEN,
            expect: Expect {
                action: |a| *a == Action::Rating { score: 4 },
                handoff: None,
                status: Status::Bot,
                reply: Some(""),
                check: |db, id| {
                    let handoffs = store::desk::handoffs_of(db, id).unwrap();
                    assert_eq!(handoffs[0].csat, Some(4));
                },
            },
        },
        Case {
            name: "asking for one's data to be deleted is acknowledged and queued",
            before: vec![],
            message: Message::Text(
                "delete my data",
                with(said(Lang::En, "greeting", 0.4), Signal::ErasureRequest),
            ),
            now: OPEN,
            expect: Expect {
                action: |a| *a == Action::ErasureRequested,
                handoff: None,
                status: Status::Bot,
                reply: Some(""),
                check: |db, id| {
                    let open = store::privacy::open_erasure_requests(db).unwrap();
                    assert_eq!(open.len(), 1);
                    assert_eq!(open[0].conversation_id, id);
                },
            },
        },
        Case {
            name: "an FAQ button is answered like the question",
            before: vec![],
            message: Message::Payload("FAQ:return_item"),
            now: OPEN,
            expect: Expect {
                action: |a| {
                    *a == Action::Answer {
                        intent: "return_item".into(),
                    }
                },
                handoff: None,
                status: Status::Bot,
                reply: Some(""),
                check: nothing,
            },
        },
    ];
    for case in &cases {
        run(case, &shop);
    }
}

#[test]
fn a_text_without_its_analysis_is_an_error_not_a_guess() {
    let db = database("no-analysis");
    let shop = shop();
    let kind = EventKind::Text("hello".into());
    let result = handle(
        &db,
        &shop,
        &Settings::default(),
        &inbound("m.1", &kind, OPEN),
        None,
        &Batch::default(),
        OPEN,
    );
    assert!(result.is_err());
    let context = store::turn::context(
        &db,
        Channel::Messenger,
        "PSID-1",
        Some(store::turn::MessageId::plain("m.1")),
        OPEN,
    )
    .unwrap();
    assert!(!context.processed, "nothing was stored");
}

#[test]
fn a_web_chat_message_for_someone_elses_conversation_writes_nothing() {
    let db = database("webchat");
    let shop = shop();
    let kind = EventKind::Text("hi".into());
    let analysis = said(Lang::En, "greeting", 0.9);
    let mut mine = inbound("unused", &kind, OPEN);
    mine.channel = Channel::WebChat;
    mine.message_id = None;
    let outcome = handle(
        &db,
        &shop,
        &Settings::default(),
        &mine,
        Some(&analysis),
        &Batch::default(),
        OPEN,
    )
    .unwrap();
    let Handled::Stored(_, stored) = outcome.handled else {
        panic!("stored");
    };
    let mut intruder = mine;
    intruder.customer_id = "someone-else";
    intruder.claimed_conversation = Some(stored.conversation_id);
    let outcome = handle(
        &db,
        &shop,
        &Settings::default(),
        &intruder,
        Some(&analysis),
        &Batch::default(),
        OPEN,
    )
    .unwrap();
    assert!(matches!(outcome.handled, Handled::UnknownConversation));
    let transcript = store::desk::transcript(&db, stored.conversation_id, 0).unwrap();
    assert_eq!(
        transcript.len(),
        2,
        "only the owner's message and its reply"
    );
}
