//! The bot's pipeline for verified webhook events: the NLU first (no lock held), then for
//! each event dedupe, conversation state, policy, transcript, handoff and outbox rows, all
//! events of a POST and the request's metrics in one write transaction before the webhook
//! answers; after the answer, the new replies are sent ([`crate::delivery`]).

pub use crate::db::SpinDb;
use crate::delivery::{self, LEASE_MS};
use crate::{json, json_error, nlu, variable};
use meta::{Channel, EventKind, InboundEvent};
use policy::{ConversationState, Decision, Incoming, Lang, Signal, Status};
use spin_sdk::http::Response;
use std::sync::OnceLock;
use store::metrics::Batch;
use store::{DbError, Delivery, NewMessage};

pub use crate::delivery::{HUMAN_AGENT_WINDOW_MS, WINDOW_MS, deliver_due};

/// The FAQ filled from the shop config (checked and converted to JSON by build.rs), and the
/// team's hours, loaded once per instance; `None` means a broken build, and is logged.
pub fn shop() -> Option<&'static replies::Shop> {
    static SHOP: OnceLock<Option<replies::Shop>> = OnceLock::new();
    SHOP.get_or_init(|| {
        replies::Shop::from_built(
            include_str!(concat!(env!("OUT_DIR"), "/faq.json")),
            include_str!("../../../config/shop.toml"),
        )
        .map_err(|e| eprintln!("shop content invalid: {e}"))
        .ok()
    })
    .as_ref()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Serves a Meta webhook POST: answers first (200 once every event is stored with its
/// replies in the outbox), then sends those replies and whatever else is due, so a slow or
/// failing Graph API never delays Meta's answer.
pub async fn serve_webhook(
    incoming: spin_sdk::http::IncomingRequest,
    out: spin_sdk::http::ResponseOutparam,
    channel: Channel,
    parse: fn(&[u8]) -> Result<Vec<InboundEvent>, meta::ParseError>,
) {
    let started = std::time::Instant::now();
    let (response, stored) = match crate::read_request(incoming).await {
        Err(response) => (response, None),
        Ok(request) => match crate::verified_body(&request) {
            Err(response) => (response, None),
            Ok(body) => match parse(body) {
                Err(e) => (json_error(400, &e.to_string()), None),
                Ok(events) => match open_db() {
                    Err(response) => (response, None),
                    Ok(db) => match store_events(&db, channel, &events, started) {
                        Ok((response, leased)) => (response, Some((db, leased))),
                        Err(response) => (response, None),
                    },
                },
            },
        },
    };
    let status = *response.status();
    crate::send_response(out, response).await;
    match stored {
        Some((db, leased)) => {
            delivery::deliver_with_due(&db, leased).await;
        }
        None => record_rejected(channel.as_str(), status, started.elapsed().as_secs_f64()),
    }
}

/// Counts a request that stored nothing (refused, or the handshake) in the metrics, after
/// the answer; a 500 is not counted (the database is the likely cause). Metrics never fail
/// a request: errors are logged.
pub fn record_rejected(channel: &str, status: u16, seconds: f64) {
    if status == 500 {
        return;
    }
    let mut metrics = Batch::default();
    count_request(&mut metrics, channel, status, seconds);
    let result = crate::db::open_default().and_then(|db| {
        store::migrate(&db)?;
        store::transaction(&db, || metrics.write(&db))
    });
    if let Err(e) = result {
        eprintln!("metrics not recorded: {e}");
    }
}

/// Adds one request to the request metrics.
pub fn count_request(metrics: &mut Batch, channel: &str, status: u16, seconds: f64) {
    let status = status.to_string();
    metrics.count(
        "chatbot_requests_total",
        &[("channel", channel), ("status", &status)],
        1.0,
    );
    metrics.observe("chatbot_request_seconds", &[("channel", channel)], seconds);
}

/// The `default` database with the schema in place.
///
/// # Errors
///
/// A 500 response when it cannot be opened.
pub fn open_db() -> Result<SpinDb, Response> {
    crate::db::open_default()
        .and_then(|db| store::migrate(&db).map(|()| db))
        .map_err(|e| {
            eprintln!("database unavailable: {e}");
            json_error(500, "database unavailable")
        })
}

/// [`shop`], or the 500 to answer when the build embedded broken content.
///
/// # Errors
///
/// The 500 response.
pub fn shop_or_500() -> Result<&'static replies::Shop, Response> {
    shop().ok_or_else(|| {
        json_error(
            500,
            "server misconfigured: the FAQ or shop config is invalid",
        )
    })
}

/// What the bot says in a conversation, for its transcript.
fn bot_message<'a>(text: &'a str, lang: Lang) -> NewMessage<'a> {
    NewMessage {
        direction: "out",
        author: "bot",
        text,
        intent: None,
        confidence: None,
        anger: None,
        language: Some(replies::language_code(lang)),
    }
}

/// Records something the bot said in a conversation's transcript.
///
/// # Errors
///
/// A database error.
pub fn add_bot_message(
    db: &SpinDb,
    conversation_id: i64,
    text: &str,
    lang: Lang,
    now: i64,
) -> Result<i64, DbError> {
    store::add_message(db, conversation_id, &bot_message(text, lang), now)
}

/// Stores the events of one verified webhook POST with their replies and the request's
/// metrics, in one transaction, before the answer; returns the answer and the new outbox
/// rows (leased to this request, which sends them next). A storage failure answers 500 so
/// Meta redelivers: nothing is lost, and the dedupe claims roll back with the rest.
fn store_events(
    db: &SpinDb,
    channel: Channel,
    events: &[InboundEvent],
    started: std::time::Instant,
) -> Result<(Response, Vec<Delivery>), Response> {
    let shop = shop_or_500()?;
    let storage_failed = |e: DbError| {
        eprintln!("bot: could not store a {} event: {e}", channel.as_str());
        json_error(500, "could not store the event; it will be redelivered")
    };
    let crisis = crisis_setting(db).map_err(storage_failed)?;
    // The NLU runs before the write lock, so concurrent requests wait only for the writes.
    let mut nlu_metrics = Batch::default();
    let analyses: Vec<Option<policy::Analysis>> = events
        .iter()
        .map(|event| analyze_event(&event.kind, &mut nlu_metrics))
        .collect();
    let now = now_ms();
    let (handled, leased) = store::transaction(db, || {
        // Started afresh on every attempt: a retried transaction must not count twice.
        let mut metrics = nlu_metrics.clone();
        let mut handled = 0;
        let mut leased = Vec::new();
        for (event, analysis) in events.iter().zip(&analyses) {
            if let Some(deliveries) = process(
                db,
                shop,
                event,
                analysis.clone(),
                &crisis,
                now,
                &mut metrics,
            )? {
                handled += 1;
                leased.extend(deliveries);
            }
        }
        count_request(
            &mut metrics,
            channel.as_str(),
            200,
            started.elapsed().as_secs_f64(),
        );
        metrics.write(db)?;
        Ok((handled, leased))
    })
    .map_err(storage_failed)?;
    let response = json(
        200,
        &serde_json::json!({ "received": events.len(), "handled": handled }),
    );
    Ok((response, leased))
}

/// The stored code of a language.
pub fn language_code(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::Hu => "hu",
        Lang::Pl => "pl",
        Lang::Other => "other",
    }
}

fn parse_lang(code: Option<&str>) -> Option<Lang> {
    match code? {
        "en" => Some(Lang::En),
        "hu" => Some(Lang::Hu),
        "pl" => Some(Lang::Pl),
        _ => Some(Lang::Other),
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Bot => "bot",
        Status::Queued => "queued",
        Status::Human => "human",
        Status::Closed => "closed",
    }
}

fn parse_status(name: &str) -> Status {
    match name {
        "queued" => Status::Queued,
        "human" => Status::Human,
        "closed" => Status::Closed,
        _ => Status::Bot,
    }
}

fn to_policy(a: &nlu::Analysis) -> policy::Analysis {
    policy::Analysis {
        language: match a.language {
            nlu::Language::En => Lang::En,
            nlu::Language::Hu => Lang::Hu,
            nlu::Language::Pl => Lang::Pl,
            nlu::Language::Other => Lang::Other,
        },
        language_confidence: a.language_confidence,
        intents: a
            .intents
            .iter()
            .map(|i| (i.label.clone(), i.confidence))
            .collect(),
        out_of_scope: a.out_of_scope,
        anger: a.anger,
        signals: a
            .needs_human
            .iter()
            .map(|s| match s {
                nlu::HandoffSignal::ExplicitRequest => Signal::ExplicitRequest,
                nlu::HandoffSignal::Anger => Signal::Anger,
                nlu::HandoffSignal::Complaint => Signal::Complaint,
                nlu::HandoffSignal::OutOfScope => Signal::OutOfScope,
            })
            .chain(
                a.keyword_hits
                    .iter()
                    .any(|h| h.rule == ERASURE_RULE)
                    .then_some(Signal::ErasureRequest),
            )
            .collect(),
        rating: None,
    }
}

/// The `settings` keys of the operator's crisis switch.
pub const CRISIS_MODE_KEY: &str = "crisis_mode";
/// The holding message sent in `holding` crisis mode.
pub const CRISIS_MESSAGE_KEY: &str = "crisis_message";

/// The operator's crisis switch as stored: the mode, and the holding message of `holding`.
#[derive(Debug, Clone, Default)]
pub struct CrisisSetting {
    /// `normal`, `handoff` or `holding`.
    pub mode: policy::Crisis,
    /// The stored holding message (see [`holding_message`]).
    pub holding: Option<String>,
}

/// Reads the crisis switch (outside the write transaction: it changes rarely, and a message
/// that arrives while the operator flips it may see either side).
///
/// # Errors
///
/// A database error.
pub fn crisis_setting(db: &SpinDb) -> Result<CrisisSetting, DbError> {
    let mode = match store::privacy::setting(db, CRISIS_MODE_KEY)?.as_deref() {
        Some("handoff") => policy::Crisis::HandoffAll,
        Some("holding") => policy::Crisis::Holding,
        _ => return Ok(CrisisSetting::default()),
    };
    let holding = if mode == policy::Crisis::Holding {
        store::privacy::setting(db, CRISIS_MESSAGE_KEY)?
    } else {
        None
    };
    Ok(CrisisSetting { mode, holding })
}

/// The holding message in `lang`: stored as `{"en": ..., "hu": ..., "pl": ...}` (English as
/// the fallback) or as one text for all.
pub fn holding_message(stored: Option<&str>, lang: &str) -> Option<String> {
    let stored = stored?;
    match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(map)) => map
            .get(lang)
            .or_else(|| map.get("en"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        _ => Some(stored.to_string()).filter(|s| !s.trim().is_empty()),
    }
}

/// The keyword rule (models/rules) that recognizes a request to delete one's data.
pub const ERASURE_RULE: &str = "data_erasure";

/// The outbox channel of handoff notifications (`handoff_notify_url`).
pub const NOTIFY_CHANNEL: &str = "notify";

/// A POST to `handoff_notify_url` (when set) announcing a new handoff, to be delivered and
/// retried through the outbox like replies, so a team chat or helpdesk can pick it up.
fn handoff_notification(
    conversation: &store::Conversation,
    reason: &str,
    last_message: &str,
    lang: Lang,
    now: i64,
) -> Option<store::NewOutbox> {
    let url = variable("handoff_notify_url").ok()?;
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    let body = serde_json::json!({
        "event": "handoff",
        "conversation_id": conversation.id.to_string(),
        "channel": conversation.channel,
        "customer_name": conversation.customer_name,
        "language": replies::language_code(lang),
        "reason": reason,
        "last_message": last_message,
        "desk_path": format!("/desk/#{}", conversation.id),
        "created_ms": now,
    });
    Some(store::NewOutbox {
        channel: NOTIFY_CHANNEL.to_string(),
        target: url.to_string(),
        body: body.to_string(),
    })
}

/// The NLU's analysis of a text message, for the policy; its latency goes to `metrics`.
pub fn analyze_text(text: &str, metrics: &mut Batch) -> policy::Analysis {
    let started = std::time::Instant::now();
    let raw = nlu::analyze(text);
    metrics.observe("chatbot_nlu_seconds", &[], started.elapsed().as_secs_f64());
    let mut analysis = to_policy(&raw);
    analysis.rating = policy::parse_rating(text);
    analysis
}

/// The analysis of an event if it is a text (done before taking the database's write lock,
/// so concurrent requests wait only for the writes).
pub fn analyze_event(kind: &EventKind, metrics: &mut Batch) -> Option<policy::Analysis> {
    match kind {
        EventKind::Text(text) => Some(analyze_text(text, metrics)),
        _ => None,
    }
}

/// One turn of a conversation: what the customer sent, what the bot decided and says.
pub struct Turn {
    /// The policy's decision.
    pub decision: Decision,
    /// The analysis of a text message.
    pub analysis: Option<policy::Analysis>,
    /// What the bot says.
    pub replies: Vec<replies::Reply>,
    /// The transcript ids of the customer's message and the bot's replies, in order.
    pub message_ids: Vec<i64>,
    /// A handoff notification to queue, if a new handoff started.
    pub notification: Option<store::NewOutbox>,
}

/// The label of a decision in `chatbot_replies_total`.
fn reply_label(action: &policy::Action) -> Option<&str> {
    Some(match action {
        policy::Action::Silent => return None,
        policy::Action::Answer { intent } | policy::Action::SmallTalk { intent } => intent,
        policy::Action::Clarify { .. } => "clarify",
        policy::Action::Capabilities => "capabilities",
        policy::Action::TextOnly => "text_only",
        policy::Action::Handoff { .. } => "handoff",
        policy::Action::Rating { .. } => "rating",
        policy::Action::ErasureRequested => "erasure",
    })
}

/// Decides and records one customer message in `conversation` (inside the caller's
/// transaction): the incoming message, a handoff if decided, the bot's replies in the
/// transcript, and the conversation's new state; metrics go to `metrics`. Sending the
/// replies (and the notification) is the caller's job.
#[allow(clippy::too_many_arguments)]
pub fn converse(
    db: &SpinDb,
    shop: &replies::Shop,
    conversation: &mut store::Conversation,
    kind: &EventKind,
    analysis: Option<policy::Analysis>,
    crisis: &CrisisSetting,
    now: i64,
    metrics: &mut Batch,
) -> Result<Turn, DbError> {
    let state = ConversationState {
        status: parse_status(&conversation.status),
        language: parse_lang(conversation.language.as_deref()),
        misses: conversation.misses.clamp(0, 255) as u8,
        out_of_scope_streak: conversation.out_of_scope_streak.clamp(0, 255) as u8,
        awaiting_rating: conversation.awaiting_rating,
    };
    let (decision, incoming_text, analysis): (Decision, String, Option<policy::Analysis>) =
        match kind {
            EventKind::Text(text) => {
                let analysis = analysis.unwrap_or_else(|| analyze_text(text, metrics));
                (
                    policy::decide_in(&state, &Incoming::Text(&analysis), crisis.mode),
                    text.clone(),
                    Some(analysis),
                )
            }
            EventKind::Payload { payload, title } => (
                policy::decide_in(&state, &Incoming::Payload(payload), crisis.mode),
                title.clone().unwrap_or_else(|| format!("[{payload}]")),
                None,
            ),
            EventKind::NonText(kind) => (
                policy::decide_in(&state, &Incoming::NonText, crisis.mode),
                format!("[{kind}]"),
                None,
            ),
        };
    let lang = decision.state.reply_language();
    let channel = conversation.channel.clone();
    if let Some(label) = reply_label(&decision.action) {
        metrics.count(
            "chatbot_replies_total",
            &[("channel", &channel), ("intent", label)],
            1.0,
        );
    }
    if let policy::Action::Rating { score } = &decision.action {
        store::desk::record_rating(db, conversation.id, *score)?;
    }
    if decision.action == policy::Action::ErasureRequested {
        store::privacy::request_erasure(db, conversation, now)?;
    }
    let mut wait_minutes = 0;
    let mut notification = None;
    if let policy::Action::Handoff { reason } = &decision.action {
        wait_minutes = store::estimated_wait_minutes(db)?;
        let started = store::start_handoff(
            db,
            &store::NewHandoff {
                conversation_id: conversation.id,
                channel: &conversation.channel,
                reason: reason.as_str(),
                anger: analysis.as_ref().map_or(0.0, |a| f64::from(a.anger)),
                language: Some(replies::language_code(lang)),
            },
            now,
        )?;
        if started.is_some() {
            notification =
                handoff_notification(conversation, reason.as_str(), &incoming_text, lang, now);
            metrics.count(
                "chatbot_handoffs_total",
                &[("channel", &channel), ("reason", reason.as_str())],
                1.0,
            );
        }
    }
    // Outside business hours the acknowledgement says when agents are back instead of a wait.
    let back = match &decision.action {
        policy::Action::Handoff { .. } => shop.hours.back_phrase(now, replies::language_code(lang)),
        _ => None,
    };
    let mut replies = replies::render(
        &shop.faq,
        &decision.action,
        lang,
        wait_minutes,
        back.as_deref(),
    );
    // Crisis "holding": the operator's message instead of the usual acknowledgement.
    if crisis.mode == policy::Crisis::Holding
        && decision.action
            == (policy::Action::Handoff {
                reason: policy::HandoffReason::Crisis,
            })
        && let Some(text) = holding_message(crisis.holding.as_deref(), replies::language_code(lang))
    {
        replies = vec![replies::Reply {
            text,
            buttons: Vec::new(),
        }];
    }
    // The customer's message and the bot's replies, in one statement.
    let top = analysis.as_ref().and_then(|a| a.intents.first().cloned());
    let incoming = NewMessage {
        direction: "in",
        author: "customer",
        text: &incoming_text,
        intent: top.as_ref().map(|(i, _)| i.as_str()),
        confidence: top.as_ref().map(|(_, c)| f64::from(*c)),
        anger: analysis.as_ref().map(|a| f64::from(a.anger)),
        language: analysis.as_ref().map(|a| language_code(a.language)),
    };
    let transcript: Vec<NewMessage<'_>> = std::iter::once(incoming)
        .chain(replies.iter().map(|reply| bot_message(&reply.text, lang)))
        .collect();
    let message_ids = store::add_messages(db, conversation.id, &transcript, now)?;
    conversation.status = status_name(decision.state.status).to_string();
    conversation.language = decision
        .state
        .language
        .map(|l| language_code(l).to_string());
    conversation.misses = i64::from(decision.state.misses);
    conversation.out_of_scope_streak = i64::from(decision.state.out_of_scope_streak);
    conversation.awaiting_rating = decision.state.awaiting_rating;
    store::save_state(db, conversation)?;
    Ok(Turn {
        decision,
        analysis,
        replies,
        message_ids,
        notification,
    })
}

/// Stores one event, its replies and their outbox rows (leased to this request). Returns
/// `None` for a redelivery.
fn process(
    db: &SpinDb,
    shop: &replies::Shop,
    event: &InboundEvent,
    analysis: Option<policy::Analysis>,
    crisis: &CrisisSetting,
    now: i64,
    metrics: &mut Batch,
) -> Result<Option<Vec<Delivery>>, DbError> {
    let channel = event.channel.as_str();
    if !store::claim_message(db, channel, &event.message_id, now)? {
        return Ok(None);
    }
    let mut conversation = store::touch_conversation(
        db,
        channel,
        &event.customer_id,
        &event.business_id,
        event.customer_name.as_deref(),
        event.timestamp_ms.min(now),
    )?;
    let mut outgoing = Vec::new();
    if event.channel == Channel::WhatsApp {
        // Blue ticks: the customer sees we read it (delivered through the outbox like replies).
        outgoing.push(store::NewOutbox {
            channel: channel.to_string(),
            target: event.business_id.clone(),
            body: meta::whatsapp_mark_read(&event.message_id).to_string(),
        });
    }
    let turn = converse(
        db,
        shop,
        &mut conversation,
        &event.kind,
        analysis,
        crisis,
        now,
        metrics,
    )?;
    let lang = replies::language_code(turn.decision.state.reply_language());
    // The team hears of a new handoff before the customer's acknowledgement goes out.
    outgoing.extend(turn.notification);
    outgoing.extend(reply_rows(
        shop,
        &conversation,
        &turn.replies,
        lang,
        meta::MessengerMessaging::Response,
    ));
    store::enqueue_all(
        db,
        conversation.id,
        &outgoing,
        now,
        now + LEASE_MS,
        conversation.last_customer_ms,
    )
    .map(Some)
}

/// Replies to a conversation's customer as outbox rows: Graph API bodies for its channel
/// (Messenger quick replies; WhatsApp buttons or a list). Web chat conversations have
/// none: their customers read the transcript.
pub fn reply_rows(
    shop: &replies::Shop,
    conversation: &store::Conversation,
    replies: &[replies::Reply],
    lang: &str,
    messaging: meta::MessengerMessaging,
) -> Vec<store::NewOutbox> {
    let Some(channel) = Channel::parse(&conversation.channel) else {
        return Vec::new();
    };
    replies
        .iter()
        .filter_map(|reply| {
            let buttons: Vec<meta::Button> = reply
                .buttons
                .iter()
                .map(|b| meta::Button {
                    payload: b.payload.clone(),
                    title: b.title.clone(),
                })
                .collect();
            let (target, body) = match channel {
                Channel::Messenger => (
                    "me".to_string(),
                    meta::messenger_text(
                        &conversation.customer_id,
                        &reply.text,
                        &buttons,
                        messaging,
                    ),
                ),
                Channel::WhatsApp => (
                    conversation.business_id.clone(),
                    meta::whatsapp_text(
                        &conversation.customer_id,
                        &reply.text,
                        &buttons,
                        shop.faq.system("more_options", lang).unwrap_or("Options"),
                    ),
                ),
                Channel::WebChat => return None,
            };
            Some(store::NewOutbox {
                channel: channel.as_str().to_string(),
                target,
                body: body.to_string(),
            })
        })
        .collect()
}

/// Puts replies to a conversation's customer in the outbox (see [`reply_rows`]), for any
/// sender to deliver.
///
/// # Errors
///
/// A database error.
pub fn enqueue_replies(
    db: &SpinDb,
    shop: &replies::Shop,
    conversation: &store::Conversation,
    replies: &[replies::Reply],
    lang: &str,
    messaging: meta::MessengerMessaging,
    now: i64,
) -> Result<(), DbError> {
    let rows = reply_rows(shop, conversation, replies, lang, messaging);
    store::enqueue_all(
        db,
        conversation.id,
        &rows,
        now,
        0,
        conversation.last_customer_ms,
    )?;
    Ok(())
}
