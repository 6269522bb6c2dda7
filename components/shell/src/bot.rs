//! The bot's pipeline for verified webhook events. Per event: the NLU first (no database),
//! one read of what the decision needs ([`store::turn::context`]), the policy, and one
//! short write transaction that stores the outcome ([`store::turn::write_turn`]: dedupe
//! claim, conversation state, transcript, outbox rows leased to this request, handoff,
//! metrics), all before the webhook answers; after the answer, the new replies are sent
//! ([`crate::delivery`]).

pub use crate::db::SpinDb;
use crate::delivery::LEASE_MS;
use crate::{json, json_error, nlu, variable};
use meta::{Channel, EventKind, InboundEvent};
use policy::{ConversationState, Decision, Incoming, Lang, Signal, Status};
use spin_sdk::http::Response;
use std::sync::OnceLock;
use store::metrics::Batch;
use store::turn::{Context, TurnHandoff, TurnOutbox, TurnWritten};
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
                Ok(events) => match crate::db::open_default() {
                    Err(e) => (database_unavailable(&e), None),
                    Ok(db) => {
                        let (response, stored) = store_events(&db, channel, &events, started);
                        (response, Some((db, stored)))
                    }
                },
            },
        },
    };
    let status = *response.status();
    crate::send_response(out, response).await;
    match stored {
        // Also after a 500: what was stored before the failure is sent.
        Some((db, stored)) => {
            crate::delivery::deliver_with_due(&db, stored.outbox, stored.due).await;
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
        .map_err(|e| database_unavailable(&e))
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

/// What a webhook request stored, for delivery after the answer.
#[derive(Default)]
struct StoredEvents {
    /// The new outbox rows, leased to this request.
    outbox: Vec<Delivery>,
    /// Other rows are due too (earlier failures whose back-off has passed).
    due: bool,
}

/// Stores the events of one verified webhook POST, each with its replies, before the answer;
/// returns the answer and what to deliver after it. A storage failure answers 500 so Meta
/// redelivers: what was stored is recognized as a redelivery, nothing is answered twice,
/// and the rest is stored then.
fn store_events(
    db: &SpinDb,
    channel: Channel,
    events: &[InboundEvent],
    started: std::time::Instant,
) -> (Response, StoredEvents) {
    let shop = match shop_or_500() {
        Ok(shop) => shop,
        Err(response) => return (response, StoredEvents::default()),
    };
    // The NLU runs before any database work.
    let analyzed: Vec<(Option<policy::Analysis>, Batch)> = events
        .iter()
        .map(|event| {
            let mut metrics = Batch::default();
            (analyze_event(&event.kind, &mut metrics), metrics)
        })
        .collect();
    let mut request_metrics = Batch::default();
    count_request(
        &mut request_metrics,
        channel.as_str(),
        200,
        started.elapsed().as_secs_f64(),
    );
    // The request's own metrics ride on the first stored turn.
    let mut unwritten = Some(request_metrics);
    let mut stored = StoredEvents::default();
    let mut handled = 0;
    for (event, (analysis, event_metrics)) in events.iter().zip(analyzed) {
        let mut metrics = event_metrics;
        if let Some(request) = &unwritten {
            metrics.merge(request);
        }
        match handle_event(db, shop, event, analysis, &metrics) {
            Ok((outbox, due)) => {
                stored.due |= due;
                if let Some(outbox) = outbox {
                    handled += 1;
                    stored.outbox.extend(outbox);
                    unwritten = None;
                }
            }
            Err(e) => {
                eprintln!("bot: could not store a {} event: {e}", channel.as_str());
                let response = json_error(500, "could not store the event; it will be redelivered");
                return (response, stored);
            }
        }
    }
    if let Some(metrics) = unwritten
        && let Err(e) = store::transaction(db, || metrics.write(db))
    {
        eprintln!("metrics not recorded: {e}");
    }
    let response = json(
        200,
        &serde_json::json!({ "received": events.len(), "handled": handled }),
    );
    (response, stored)
}

/// How often a turn is decided again when its conversation changed meanwhile (another
/// message of the same customer, or an agent) before the request gives up with a 500.
const TURN_ATTEMPTS: usize = 8;

/// Decides and stores one event: read, decide, write; decided again if the conversation
/// changed in between. Returns the new outbox rows (`None` for a redelivery) and whether
/// other rows are due.
fn handle_event(
    db: &SpinDb,
    shop: &replies::Shop,
    event: &InboundEvent,
    analysis: Option<policy::Analysis>,
    metrics: &Batch,
) -> Result<(Option<Vec<Delivery>>, bool), DbError> {
    let channel = event.channel.as_str();
    let now = now_ms();
    let customer_ms = event.timestamp_ms.min(now);
    for _ in 0..TURN_ATTEMPTS {
        let context = store::turn::context_migrated(
            db,
            channel,
            &event.customer_id,
            Some(&event.message_id),
            now,
        )?;
        if context.processed {
            return Ok((None, context.due));
        }
        let (current, version) = current_conversation(&context, event, customer_ms);
        let mut turn_metrics = metrics.clone();
        let plan = plan(
            db,
            shop,
            &current,
            context.open_handoff,
            &event.kind,
            analysis.clone(),
            &crisis_of(&context),
            now,
            &mut turn_metrics,
        )?;
        let mut outbox = Vec::new();
        if event.channel == Channel::WhatsApp {
            // Blue ticks: the customer sees we read it (delivered like replies).
            outbox.push(TurnOutbox {
                row: store::NewOutbox {
                    channel: channel.to_string(),
                    target: event.business_id.clone(),
                    body: meta::whatsapp_mark_read(&event.message_id).to_string(),
                },
                notification: false,
            });
        }
        // The team hears of a new handoff before the customer's acknowledgement goes out.
        outbox.extend(plan.notification.clone().map(|row| TurnOutbox {
            row,
            notification: true,
        }));
        let lang = replies::language_code(plan.decision.state.reply_language());
        outbox.extend(
            reply_rows(
                shop,
                &current,
                &plan.replies,
                lang,
                meta::MessengerMessaging::Response,
            )
            .into_iter()
            .map(|row| TurnOutbox {
                row,
                notification: false,
            }),
        );
        let written = store::turn::write_turn(
            db,
            &store::turn::Turn {
                channel,
                message_id: Some(&event.message_id),
                customer_id: &event.customer_id,
                business_id: &event.business_id,
                customer_name: event.customer_name.as_deref(),
                customer_ms,
                now_ms: now,
                expected_version: version,
                state: &plan.state,
                messages: &plan.messages(),
                outbox: &outbox,
                lease_until_ms: now + LEASE_MS,
                handoff: plan.handoff(),
                erasure: plan.erasure,
                rating: plan.rating,
                metrics: &turn_metrics,
            },
        )?;
        match written {
            TurnWritten::Stored(stored) => return Ok((Some(stored.outbox), context.due)),
            TurnWritten::Redelivery => return Ok((None, context.due)),
            TurnWritten::Changed => continue,
        }
    }
    Err(DbError::new(
        "the conversation kept changing while this message was decided",
    ))
}

/// The conversation as read (with its version), or the one this event starts.
fn current_conversation(
    context: &Context,
    event: &InboundEvent,
    customer_ms: i64,
) -> (store::Conversation, Option<i64>) {
    match &context.conversation {
        Some((conversation, version)) => {
            let mut conversation = conversation.clone();
            conversation.business_id.clone_from(&event.business_id);
            if event.customer_name.is_some() {
                conversation.customer_name.clone_from(&event.customer_name);
            }
            conversation.last_customer_ms = conversation.last_customer_ms.max(customer_ms);
            (conversation, Some(*version))
        }
        None => (
            store::Conversation {
                id: 0,
                channel: event.channel.as_str().to_string(),
                customer_id: event.customer_id.clone(),
                business_id: event.business_id.clone(),
                customer_name: event.customer_name.clone(),
                language: None,
                status: "bot".into(),
                misses: 0,
                out_of_scope_streak: 0,
                last_customer_ms: customer_ms,
                awaiting_rating: false,
            },
            None,
        ),
    }
}

/// A 500 for a database that cannot be opened.
fn database_unavailable(e: &DbError) -> Response {
    eprintln!("database unavailable: {e}");
    json_error(500, "database unavailable")
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

/// The crisis switch as read with a message's context.
pub fn crisis_of(context: &Context) -> CrisisSetting {
    let mode = match context.crisis_mode.as_deref() {
        Some("handoff") => policy::Crisis::HandoffAll,
        Some("holding") => policy::Crisis::Holding,
        _ => return CrisisSetting::default(),
    };
    let holding = if mode == policy::Crisis::Holding {
        context.crisis_message.clone()
    } else {
        None
    };
    CrisisSetting { mode, holding }
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

/// What the bot does with one customer message, decided from the conversation as read.
/// Deciding writes nothing; [`store::turn::write_turn`] stores it.
pub struct Plan {
    /// The policy's decision.
    pub decision: Decision,
    /// The analysis of a text message.
    pub analysis: Option<policy::Analysis>,
    /// The customer's message as the transcript shows it.
    pub incoming_text: String,
    /// What the bot says.
    pub replies: Vec<replies::Reply>,
    /// The conversation with its new state.
    pub state: store::Conversation,
    /// A new handoff's reason, if one starts.
    handoff_reason: Option<policy::HandoffReason>,
    /// A handoff notification to queue, if a new handoff starts.
    pub notification: Option<store::NewOutbox>,
    /// The customer asked for their data to be erased.
    pub erasure: bool,
    /// The customer's 1–5 rating of the help they had.
    pub rating: Option<u8>,
}

impl Plan {
    /// The customer's message and the bot's replies, for the transcript, in order.
    pub fn messages(&self) -> Vec<NewMessage<'_>> {
        let lang = self.decision.state.reply_language();
        let top = self
            .analysis
            .as_ref()
            .and_then(|a| a.intents.first())
            .map(|(intent, confidence)| (intent.as_str(), f64::from(*confidence)));
        let incoming = NewMessage {
            direction: "in",
            author: "customer",
            text: &self.incoming_text,
            intent: top.map(|(intent, _)| intent),
            confidence: top.map(|(_, confidence)| confidence),
            anger: self.analysis.as_ref().map(|a| f64::from(a.anger)),
            language: self.analysis.as_ref().map(|a| language_code(a.language)),
        };
        std::iter::once(incoming)
            .chain(
                self.replies
                    .iter()
                    .map(|reply| bot_message(&reply.text, lang)),
            )
            .collect()
    }

    /// The handoff to open, if one starts.
    pub fn handoff(&self) -> Option<TurnHandoff<'_>> {
        self.handoff_reason.map(|reason| TurnHandoff {
            reason: reason.as_str(),
            anger: self.analysis.as_ref().map_or(0.0, |a| f64::from(a.anger)),
            language: Some(replies::language_code(self.decision.state.reply_language())),
        })
    }
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

/// Decides one customer message in `conversation` as read (`open_handoff`: it has a
/// handoff that is not resolved): the policy's decision, the replies in the conversation's
/// language, the conversation's new state, a handoff and its notification, an erasure
/// request or a rating; metrics go to `metrics`. The database is only read, for the
/// estimated wait of a new handoff.
///
/// # Errors
///
/// A database error reading the estimated wait.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    db: &SpinDb,
    shop: &replies::Shop,
    conversation: &store::Conversation,
    open_handoff: bool,
    kind: &EventKind,
    analysis: Option<policy::Analysis>,
    crisis: &CrisisSetting,
    now: i64,
    metrics: &mut Batch,
) -> Result<Plan, DbError> {
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
    let channel = conversation.channel.as_str();
    if let Some(label) = reply_label(&decision.action) {
        metrics.count(
            "chatbot_replies_total",
            &[("channel", channel), ("intent", label)],
            1.0,
        );
    }
    let mut wait_minutes = 0;
    let mut handoff_reason = None;
    let mut notification = None;
    if let policy::Action::Handoff { reason } = &decision.action {
        wait_minutes = store::estimated_wait_minutes(db)?;
        if !open_handoff {
            handoff_reason = Some(*reason);
            notification =
                handoff_notification(conversation, reason.as_str(), &incoming_text, lang, now);
            metrics.count(
                "chatbot_handoffs_total",
                &[("channel", channel), ("reason", reason.as_str())],
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
    let mut state = conversation.clone();
    state.status = status_name(decision.state.status).to_string();
    state.language = decision
        .state
        .language
        .map(|l| language_code(l).to_string());
    state.misses = i64::from(decision.state.misses);
    state.out_of_scope_streak = i64::from(decision.state.out_of_scope_streak);
    state.awaiting_rating = decision.state.awaiting_rating;
    let erasure = decision.action == policy::Action::ErasureRequested;
    let rating = match &decision.action {
        policy::Action::Rating { score } => Some(*score),
        _ => None,
    };
    Ok(Plan {
        decision,
        analysis,
        incoming_text,
        replies,
        state,
        handoff_reason,
        notification,
        erasure,
        rating,
    })
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
