//! The bot's pipeline for verified webhook events: dedupe, conversation state, analysis,
//! policy, replies into the outbox (all in one transaction per event, before the webhook
//! answers), then delivery of due outbox rows through the Graph API.

pub use crate::db::SpinDb;
use crate::{json, json_error, nlu, variable};
use meta::{Channel, EventKind, InboundEvent};
use policy::{ConversationState, Decision, Incoming, Lang, Signal, Status};
use spin_sdk::http::{Method, Request, Response};
use std::sync::OnceLock;
use store::{Database, DbError, Delivery, NewMessage, Outcome};

/// How long an outbox row is reserved for one delivery attempt.
const LEASE_MS: i64 = 30_000;

/// Meta's standard messaging window after the customer's last message.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a human agent may still answer on Messenger (`MESSAGE_TAG` `HUMAN_AGENT`).
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * WINDOW_MS;

/// How many due replies one request delivers at most.
const DELIVERIES_PER_REQUEST: i64 = 20;

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
/// replies in the outbox), then delivers what is due, so a slow or failing Graph API never
/// delays Meta's answer.
pub async fn serve_webhook(
    incoming: spin_sdk::http::IncomingRequest,
    out: spin_sdk::http::ResponseOutparam,
    channel: Channel,
    parse: fn(&[u8]) -> Result<Vec<InboundEvent>, meta::ParseError>,
) {
    use spin_sdk::http::conversions::TryFromIncomingRequest;
    let started = std::time::Instant::now();
    let (response, db) = match Request::try_from_incoming_request(incoming).await {
        Err(_) => (json_error(400, "cannot read the request"), None),
        Ok(request) => match crate::verified_body(&request) {
            Err(response) => (response, None),
            Ok(body) => match parse(body) {
                Err(e) => (json_error(400, &e.to_string()), None),
                Ok(events) => match open_db() {
                    Err(response) => (response, None),
                    Ok(db) => (store_events(&db, events), Some(db)),
                },
            },
        },
    };
    let status = *response.status();
    crate::send_response(out, response).await;
    let seconds = started.elapsed().as_secs_f64();
    // After the answer: metrics, then what is due in the outbox.
    let db = match db {
        Some(db) => Some(db),
        None if status != 500 => open_db().ok(),
        None => None,
    };
    if let Some(db) = db {
        record_request(&db, channel.as_str(), status, seconds);
        if status == 200 {
            deliver_due(&db).await;
        }
    }
}

/// What one request did, for the metrics (a fresh instance per request, so this starts
/// empty every time).
#[derive(Default)]
struct Observations {
    nlu_seconds: Vec<f64>,
    replies: Vec<String>,
    handoffs: Vec<String>,
}

static OBSERVATIONS: std::sync::Mutex<Observations> = std::sync::Mutex::new(Observations {
    nlu_seconds: Vec::new(),
    replies: Vec::new(),
    handoffs: Vec::new(),
});

fn observe(update: impl FnOnce(&mut Observations)) {
    if let Ok(mut observations) = OBSERVATIONS.lock() {
        update(&mut observations);
    }
}

/// Records a request's metrics (status and latency per channel, NLU latencies, replies by
/// intent, new handoffs by reason) in one small transaction after the answer. Metrics never
/// fail a request: errors are logged.
pub fn record_request(db: &SpinDb, channel: &str, status: u16, seconds: f64) {
    use store::metrics::{count, observe as histogram};
    let observations = OBSERVATIONS
        .lock()
        .map(|mut o| std::mem::take(&mut *o))
        .unwrap_or_default();
    let status = status.to_string();
    let result = db.execute("BEGIN IMMEDIATE", &[]).and_then(|_| {
        count(
            db,
            "chatbot_requests_total",
            &[("channel", channel), ("status", &status)],
            1.0,
        )?;
        histogram(
            db,
            "chatbot_request_seconds",
            &[("channel", channel)],
            seconds,
        )?;
        for s in &observations.nlu_seconds {
            histogram(db, "chatbot_nlu_seconds", &[], *s)?;
        }
        for intent in &observations.replies {
            count(
                db,
                "chatbot_replies_total",
                &[("channel", channel), ("intent", intent)],
                1.0,
            )?;
        }
        for reason in &observations.handoffs {
            count(
                db,
                "chatbot_handoffs_total",
                &[("channel", channel), ("reason", reason)],
                1.0,
            )?;
        }
        db.execute("COMMIT", &[])
    });
    if let Err(e) = result {
        let _ = db.execute("ROLLBACK", &[]);
        eprintln!("metrics not recorded: {e}");
    }
}

/// The `default` database with the schema in place.
///
/// # Errors
///
/// A 500 response when it cannot be opened.
pub fn open_db() -> Result<SpinDb, Response> {
    SpinDb::open()
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
    store::add_message(
        db,
        conversation_id,
        &NewMessage {
            direction: "out",
            author: "bot",
            text,
            intent: None,
            confidence: None,
            anger: None,
            language: Some(replies::language_code(lang)),
        },
        now,
    )
}

/// Stores the events of one verified webhook POST, each with its replies, before the answer;
/// a storage failure answers 500 so Meta redelivers (nothing is lost, and the dedupe claim
/// rolls back with the rest).
fn store_events(db: &SpinDb, events: Vec<InboundEvent>) -> Response {
    let shop = match shop_or_500() {
        Ok(shop) => shop,
        Err(response) => return response,
    };
    let mut handled = 0;
    for event in &events {
        match process(db, shop, event) {
            Ok(new) => handled += usize::from(new),
            Err(e) => {
                let _ = db.execute("ROLLBACK", &[]);
                eprintln!(
                    "bot: could not store a {} event: {e}",
                    event.channel.as_str()
                );
                return json_error(500, "could not store the event; it will be redelivered");
            }
        }
    }
    json(
        200,
        &serde_json::json!({ "received": events.len(), "handled": handled }),
    )
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

/// The crisis switch (`normal`, `handoff`, `holding`) and the holding message as stored.
fn crisis_mode(db: &SpinDb) -> Result<(policy::Crisis, Option<String>), DbError> {
    let crisis = match store::privacy::setting(db, CRISIS_MODE_KEY)?.as_deref() {
        Some("handoff") => policy::Crisis::HandoffAll,
        Some("holding") => policy::Crisis::Holding,
        _ => return Ok((policy::Crisis::Normal, None)),
    };
    let message = if crisis == policy::Crisis::Holding {
        store::privacy::setting(db, CRISIS_MESSAGE_KEY)?
    } else {
        None
    };
    Ok((crisis, message))
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

/// Queues a POST to `handoff_notify_url` (when set) announcing a new handoff, delivered and
/// retried through the outbox like replies, so a team chat or helpdesk can pick it up.
fn notify_handoff(
    db: &SpinDb,
    conversation: &store::Conversation,
    reason: &str,
    last_message: &str,
    lang: Lang,
    now: i64,
) -> Result<(), DbError> {
    let url = match variable("handoff_notify_url") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => return Ok(()),
    };
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
    store::enqueue(
        db,
        conversation.id,
        NOTIFY_CHANNEL,
        &url,
        &body.to_string(),
        now,
    )?;
    Ok(())
}

/// The NLU's analysis of a text message, for the policy.
pub fn analyze_text(text: &str) -> policy::Analysis {
    let started = std::time::Instant::now();
    let raw = nlu::analyze(text);
    let seconds = started.elapsed().as_secs_f64();
    observe(|o| o.nlu_seconds.push(seconds));
    let mut analysis = to_policy(&raw);
    analysis.rating = policy::parse_rating(text);
    analysis
}

/// The analysis of an event if it is a text (done before taking the database's write lock,
/// so concurrent requests wait only for the writes).
pub fn analyze_event(kind: &EventKind) -> Option<policy::Analysis> {
    match kind {
        EventKind::Text(text) => Some(analyze_text(text)),
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
}

/// Decides and records one customer message in `conversation` (inside the caller's
/// transaction): the incoming message, a handoff if decided, the bot's replies in the
/// transcript, and the conversation's new state. Sending the replies is the caller's job.
pub fn converse(
    db: &SpinDb,
    shop: &replies::Shop,
    conversation: &mut store::Conversation,
    kind: &EventKind,
    analysis: Option<policy::Analysis>,
    now: i64,
) -> Result<Turn, DbError> {
    let state = ConversationState {
        status: parse_status(&conversation.status),
        language: parse_lang(conversation.language.as_deref()),
        misses: conversation.misses.clamp(0, 255) as u8,
        out_of_scope_streak: conversation.out_of_scope_streak.clamp(0, 255) as u8,
        awaiting_rating: conversation.awaiting_rating,
    };
    let (crisis, holding) = crisis_mode(db)?;
    let (decision, incoming_text, analysis): (Decision, String, Option<policy::Analysis>) =
        match kind {
            EventKind::Text(text) => {
                let analysis = analysis.unwrap_or_else(|| analyze_text(text));
                (
                    policy::decide_in(&state, &Incoming::Text(&analysis), crisis),
                    text.clone(),
                    Some(analysis),
                )
            }
            EventKind::Payload { payload, title } => (
                policy::decide_in(&state, &Incoming::Payload(payload), crisis),
                title.clone().unwrap_or_else(|| format!("[{payload}]")),
                None,
            ),
            EventKind::NonText(kind) => (
                policy::decide_in(&state, &Incoming::NonText, crisis),
                format!("[{kind}]"),
                None,
            ),
        };
    let top = analysis.as_ref().and_then(|a| a.intents.first().cloned());
    store::add_message(
        db,
        conversation.id,
        &NewMessage {
            direction: "in",
            author: "customer",
            text: &incoming_text,
            intent: top.as_ref().map(|(i, _)| i.as_str()),
            confidence: top.as_ref().map(|(_, c)| f64::from(*c)),
            anger: analysis.as_ref().map(|a| f64::from(a.anger)),
            language: analysis.as_ref().map(|a| language_code(a.language)),
        },
        now,
    )?;

    let lang = decision.state.reply_language();
    if let policy::Action::Rating { score } = &decision.action {
        store::desk::record_rating(db, conversation.id, *score)?;
    }
    let label = match &decision.action {
        policy::Action::Silent => None,
        policy::Action::Answer { intent } | policy::Action::SmallTalk { intent } => {
            Some(intent.clone())
        }
        policy::Action::Clarify { .. } => Some("clarify".into()),
        policy::Action::Capabilities => Some("capabilities".into()),
        policy::Action::TextOnly => Some("text_only".into()),
        policy::Action::Handoff { .. } => Some("handoff".into()),
        policy::Action::Rating { .. } => Some("rating".into()),
        policy::Action::ErasureRequested => Some("erasure".into()),
    };
    if let Some(label) = label {
        observe(|o| o.replies.push(label));
    }
    if decision.action == policy::Action::ErasureRequested {
        store::privacy::request_erasure(db, conversation, now)?;
    }
    let mut wait_minutes = 0;
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
            notify_handoff(db, conversation, reason.as_str(), &incoming_text, lang, now)?;
            observe(|o| o.handoffs.push(reason.as_str().to_string()));
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
    if crisis == policy::Crisis::Holding
        && decision.action
            == (policy::Action::Handoff {
                reason: policy::HandoffReason::Crisis,
            })
        && let Some(text) = holding_message(holding.as_deref(), replies::language_code(lang))
    {
        replies = vec![replies::Reply {
            text,
            buttons: Vec::new(),
        }];
    }
    for reply in &replies {
        add_bot_message(db, conversation.id, &reply.text, lang, now)?;
    }
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
    })
}

/// Stores one event and its replies atomically. Returns false for a redelivery.
fn process(db: &SpinDb, shop: &replies::Shop, event: &InboundEvent) -> Result<bool, DbError> {
    let analysis = analyze_event(&event.kind);
    let now = now_ms();
    let channel = event.channel.as_str();
    db.execute("BEGIN IMMEDIATE", &[])?;
    if !store::claim_message(db, channel, &event.message_id, now)? {
        db.execute("COMMIT", &[])?;
        return Ok(false);
    }
    let mut conversation = store::touch_conversation(
        db,
        channel,
        &event.customer_id,
        &event.business_id,
        event.customer_name.as_deref(),
        event.timestamp_ms.min(now),
    )?;
    if event.channel == Channel::WhatsApp {
        // Blue ticks: the customer sees we read it (delivered through the outbox like replies).
        let read = meta::whatsapp_mark_read(&event.message_id);
        store::enqueue(
            db,
            conversation.id,
            channel,
            &event.business_id,
            &read.to_string(),
            now,
        )?;
    }
    let turn = converse(db, shop, &mut conversation, &event.kind, analysis, now)?;
    let lang = replies::language_code(turn.decision.state.reply_language());
    enqueue_replies(
        db,
        shop,
        &conversation,
        &turn.replies,
        lang,
        meta::MessengerMessaging::Response,
        now,
    )?;
    db.execute("COMMIT", &[])?;
    Ok(true)
}

/// Puts replies to a conversation's customer in the outbox, as Graph API bodies for its
/// channel (Messenger quick replies; WhatsApp buttons or a list). Web chat conversations
/// have no outbox: their customers read the transcript.
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
    let Some(channel) = Channel::parse(&conversation.channel) else {
        return Ok(());
    };
    for reply in replies {
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
                meta::messenger_text(&conversation.customer_id, &reply.text, &buttons, messaging),
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
            Channel::WebChat => return Ok(()),
        };
        store::enqueue(
            db,
            conversation.id,
            channel.as_str(),
            &target,
            &body.to_string(),
            now,
        )?;
    }
    Ok(())
}

/// What one delivery run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRun {
    /// Accepted by the Graph API.
    pub sent: usize,
    /// Failed for now; due again after the back-off.
    pub retrying: usize,
    /// Failed for good; kept for operators.
    pub failed: usize,
}

/// Delivers due outbox rows (new replies and earlier failures whose back-off has passed).
/// Failures are recorded on the row, never dropped: 5xx, 429 and transport errors retry with
/// back-off (`retry_backoff_ms`, doubling); other 4xx are kept as failed for operators.
pub async fn deliver_due(db: &SpinDb) -> DeliveryRun {
    let mut run = DeliveryRun::default();
    let due = match store::claim_due(db, now_ms(), LEASE_MS, DELIVERIES_PER_REQUEST) {
        Ok(due) => due,
        Err(e) => {
            eprintln!("bot: cannot read the outbox: {e}");
            return run;
        }
    };
    if due.is_empty() {
        return run;
    }
    let (base, version) = match (variable("graph_api_base"), variable("graph_api_version")) {
        (Ok(base), Ok(version)) => (base, version),
        // The leases expire and another request tries again.
        _ => return run,
    };
    let backoff_base_ms = variable("retry_backoff_ms")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(store::DEFAULT_BACKOFF_MS);
    let mut outcomes = Vec::with_capacity(due.len());
    for delivery in due {
        let last = store::last_customer_ms(db, delivery.conversation_id).unwrap_or(0);
        let human_agent_tag = serde_json::from_str::<serde_json::Value>(&delivery.body)
            .is_ok_and(|body| body["tag"] == "HUMAN_AGENT");
        let notification = delivery.channel == NOTIFY_CHANNEL;
        let outcome = if notification {
            notify(&delivery).await
        } else if human_agent_tag && now_ms() - last > HUMAN_AGENT_WINDOW_MS {
            Outcome::Failed(
                "more than 7 days since the customer's last message: Messenger allows no HUMAN_AGENT reply any more".into(),
            )
        } else if !human_agent_tag && now_ms() - last > WINDOW_MS {
            // Sending would fail anyway; say why instead of spending a Graph API call.
            Outcome::Failed(
                "outside the 24-hour window since the customer's last message: Messenger needs MESSAGE_TAG HUMAN_AGENT (a human agent, up to 7 days), WhatsApp an approved template".into(),
            )
        } else {
            send(&delivery, &base, &version).await
        };
        match &outcome {
            Outcome::Sent => run.sent += 1,
            // The error itself (it may quote the platform's answer) is kept on the row for
            // operators (GET /api/desk/outbox), not logged.
            Outcome::Retry(_) => {
                run.retrying += 1;
                eprintln!(
                    "bot: outbox row {} on {} failed, will be retried",
                    delivery.id, delivery.channel
                );
            }
            Outcome::Failed(_) => {
                run.failed += 1;
                eprintln!(
                    "bot: outbox row {} on {} failed for good (see /api/desk/outbox)",
                    delivery.id, delivery.channel
                );
            }
        }
        outcomes.push((delivery, outcome));
    }
    // One transaction for all outcomes (one commit instead of one per reply). If it fails,
    // the leases expire and the rows are retried: a reply may then go out twice, which is
    // why this write is kept this small.
    let now = now_ms();
    let recorded = db.execute("BEGIN IMMEDIATE", &[]).and_then(|_| {
        for (delivery, outcome) in &outcomes {
            store::record_outcome(db, delivery, outcome, now, backoff_base_ms)?;
            let result = match outcome {
                Outcome::Sent => "sent",
                Outcome::Retry(_) => "retry",
                Outcome::Failed(_) => "failed",
            };
            store::metrics::count(
                db,
                "chatbot_deliveries_total",
                &[("channel", &delivery.channel), ("outcome", result)],
                1.0,
            )?;
        }
        db.execute("COMMIT", &[])
    });
    if let Err(e) = recorded {
        let _ = db.execute("ROLLBACK", &[]);
        eprintln!("bot: cannot record delivery outcomes: {e}");
    }
    run
}

/// POSTs a handoff notification to its URL.
async fn notify(delivery: &Delivery) -> Outcome {
    let request = Request::builder()
        .method(Method::Post)
        .uri(delivery.target.as_str())
        .header("content-type", "application/json")
        .body(delivery.body.clone())
        .build();
    classify(
        spin_sdk::http::send::<_, Response>(request).await,
        "handoff_notify_url",
    )
}

/// Sorts a response into sent, retry (5xx, 429, transport) or failed (other 4xx, or 3xx).
fn classify(result: Result<Response, spin_sdk::http::SendError>, what: &str) -> Outcome {
    match result {
        Ok(response) => {
            let status = *response.status();
            if (200..300).contains(&status) {
                Outcome::Sent
            } else if status == 429 || status >= 500 {
                Outcome::Retry(format!("{what} answered {status}"))
            } else {
                let detail: String = String::from_utf8_lossy(response.body())
                    .chars()
                    .take(300)
                    .collect();
                Outcome::Failed(format!("{what} answered {status}: {detail}"))
            }
        }
        Err(e) => Outcome::Retry(format!("{what} unreachable: {e}")),
    }
}

async fn send(delivery: &Delivery, base: &str, version: &str) -> Outcome {
    let (url, token_variable) = match Channel::parse(&delivery.channel) {
        Some(Channel::Messenger) => (meta::messenger_url(base, version), "messenger_page_token"),
        Some(Channel::WhatsApp) => (
            meta::whatsapp_url(base, version, &delivery.target),
            "whatsapp_token",
        ),
        _ => {
            return Outcome::Failed(format!(
                "no Graph API route for channel {}",
                delivery.channel
            ));
        }
    };
    let token = match variable(token_variable) {
        Ok(token) if !token.is_empty() => token,
        // Kept pending: the reply goes out once the operator sets the token.
        _ => return Outcome::Retry(format!("{token_variable} is not set")),
    };
    let request = Request::builder()
        .method(Method::Post)
        .uri(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(delivery.body.clone())
        .build();
    classify(
        spin_sdk::http::send::<_, Response>(request).await,
        "Graph API",
    )
}
