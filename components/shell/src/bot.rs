//! The webhook shell: read, verify and parse a Meta webhook; run the NLU (the `chatbot:nlu`
//! import); hand each event to [`conversation::message::handle`], which decides and stores
//! it with its replies; answer; then send the replies ([`crate::delivery`]).

pub use crate::db::SpinDb;
use crate::{json, json_error, nlu, variable};
use conversation::message::{Handled, Inbound};
use meta::{Channel, EventKind, InboundEvent};
use policy::Signal;
use spin_sdk::http::Response;
use std::sync::OnceLock;
use store::metrics::Batch;
use store::{DbError, Delivery};
use vocab::Lang;

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

/// Milliseconds since the epoch: the one clock of the components, passed to the core.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The operator's settings for conversations and deliveries, from Spin variables.
///
/// # Errors
///
/// A 500 naming a variable that is missing or does not parse.
pub fn settings() -> Result<Settings, Response> {
    let url = variable("handoff_notify_url")?;
    let backoff = variable("retry_backoff_ms")?;
    let retry_backoff_ms = backoff.trim().parse::<i64>().map_err(|_| {
        eprintln!("variable retry_backoff_ms is not a number of milliseconds");
        json_error(
            500,
            "server misconfigured: retry_backoff_ms must be a number of milliseconds",
        )
    })?;
    let id_hash_key = variable("id_hash_key")?;
    if id_hash_key.is_empty() {
        // Hashes keyed with "" could be recomputed from a guessed phone number.
        eprintln!("variable id_hash_key is empty; set it to a long random secret");
        return Err(json_error(
            500,
            "server misconfigured: id_hash_key is empty",
        ));
    }
    Ok(Settings {
        conversation: conversation::Settings {
            handoff_notify_url: Some(url.trim().to_string()).filter(|u| !u.is_empty()),
            id_hash_key,
            ..conversation::Settings::default()
        },
        retry_backoff_ms,
    })
}

/// Everything a request needs from the operator's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// For deciding and storing messages.
    pub conversation: conversation::Settings,
    /// The first retry's delay (`retry_backoff_ms`).
    pub retry_backoff_ms: i64,
}

/// Serves a Meta webhook POST: answers first (200 once every event is stored with its
/// replies in the outbox), then sends those replies and whatever else is due, so a slow or
/// failing Graph API never delays Meta's answer.
pub async fn serve_webhook(
    incoming: spin_sdk::http::IncomingRequest,
    out: spin_sdk::http::ResponseOutparam,
    channel: Channel,
    parse: fn(&[u8]) -> Result<meta::Webhook, meta::ParseError>,
) {
    let started = std::time::Instant::now();
    let (response, stored) = match crate::read_request(incoming).await {
        Err(response) => (response, None),
        Ok(request) => match crate::verified_body(&request) {
            Err(response) => (response, None),
            Ok(body) => match parse(body) {
                Err(e) => (json_error(400, &e.to_string()), None),
                Ok(webhook) => match (crate::db::open_default(), settings()) {
                    (Err(e), _) => (database_unavailable(&e), None),
                    (_, Err(response)) => (response, None),
                    (Ok(db), Ok(settings)) => {
                        let (response, stored) =
                            store_events(&db, &settings, channel, &webhook, started);
                        (response, Some((db, settings, stored)))
                    }
                },
            },
        },
    };
    let status = *response.status();
    crate::send_response(out, response).await;
    // A refused request (403, 400, 413) wrote nothing and sends nothing; one log line (no
    // content) is all it costs.
    if (400..500).contains(&status) {
        eprintln!("webhook {}: refused with {status}", channel.as_str());
    }
    // Also after a 500: what was stored before the failure is sent.
    if let Some((db, settings, stored)) = stored {
        if status != 200 {
            eprintln!("bot: answered {status} after storing part of a delivery");
        }
        crate::delivery::deliver_and_heal(&db, &settings, stored.outbox, stored.due).await;
    }
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
    settings: &Settings,
    channel: Channel,
    webhook: &meta::Webhook,
    started: std::time::Instant,
) -> (Response, StoredEvents) {
    let shop = match shop_or_500() {
        Ok(shop) => shop,
        Err(response) => return (response, StoredEvents::default()),
    };
    // The NLU runs before any database work: the messages, then the comments' texts.
    let comment_texts: Vec<EventKind> = webhook
        .comments
        .iter()
        .map(|c| EventKind::Text(c.text.clone()))
        .collect();
    let analyzed: Result<Vec<(Option<policy::Analysis>, Batch)>, String> = webhook
        .messages
        .iter()
        .map(|event| &event.kind)
        .chain(&comment_texts)
        .map(|kind| {
            let mut metrics = Batch::default();
            analyze_event(kind, &mut metrics).map(|analysis| (analysis, metrics))
        })
        .collect();
    let analyzed = match analyzed {
        Ok(analyzed) => analyzed,
        Err(e) => {
            eprintln!("bot: cannot analyze a {} event: {e}", channel.as_str());
            let response = json_error(500, "cannot analyze the event; it will be redelivered");
            return (response, StoredEvents::default());
        }
    };
    let mut request_metrics = Batch::default();
    count_request(
        &mut request_metrics,
        channel.as_str(),
        200,
        started.elapsed().as_secs_f64(),
    );
    // The request's own metrics ride on the first stored message.
    let mut unwritten = Some(request_metrics);
    let mut stored = StoredEvents::default();
    let mut handled = 0;
    let items = webhook
        .messages
        .iter()
        .map(Item::Message)
        .chain(webhook.comments.iter().map(Item::Comment));
    for (item, (analysis, mut metrics)) in items.zip(analyzed) {
        if let Some(request) = &unwritten {
            metrics.merge(request);
        }
        let now = now_ms();
        let outcome = match item {
            Item::Message(event) => conversation::message::handle(
                db,
                shop,
                &settings.conversation,
                &Inbound::from_event(event, now),
                analysis.as_ref(),
                &metrics,
                now,
            )
            .map(Some),
            Item::Comment(comment) => conversation::comments::handle(
                db,
                shop,
                &settings.conversation,
                comment,
                analysis.as_ref(),
                &metrics,
                now,
            )
            .map(|outcome| match outcome {
                conversation::comments::CommentOutcome::Handled(outcome) => Some(outcome),
                conversation::comments::CommentOutcome::Ignored => None,
            }),
        };
        match outcome {
            Ok(Some(outcome)) => {
                stored.due |= outcome.due;
                if let Handled::Stored(_, written) = outcome.handled {
                    handled += 1;
                    stored.outbox.extend(written.outbox);
                    unwritten = None;
                }
            }
            Ok(None) => {}
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
    let received = webhook.messages.len() + webhook.comments.len();
    let response = json(
        200,
        &serde_json::json!({ "received": received, "handled": handled }),
    );
    (response, stored)
}

/// One thing a webhook POST carries.
enum Item<'a> {
    /// A direct message.
    Message(&'a InboundEvent),
    /// A public comment.
    Comment(&'a meta::CommentEvent),
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

/// A 500 for a database that cannot be opened.
fn database_unavailable(e: &DbError) -> Response {
    eprintln!("database unavailable: {e}");
    json_error(500, "database unavailable")
}

/// The keyword rule (models/rules) that recognizes a request to delete one's data.
pub const ERASURE_RULE: &str = "data_erasure";

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

/// The NLU's analysis of a text message, for the policy; its latency goes to `metrics`.
///
/// # Errors
///
/// The NLU component's error (its model cannot be loaded): answer 500.
pub fn analyze_text(text: &str, metrics: &mut Batch) -> Result<policy::Analysis, String> {
    let started = std::time::Instant::now();
    let raw = nlu::analyze(text)?;
    metrics.observe("chatbot_nlu_seconds", &[], started.elapsed().as_secs_f64());
    let mut analysis = to_policy(&raw);
    analysis.rating = policy::parse_rating(text);
    Ok(analysis)
}

/// The analysis of an event if it is a text (done before any database work, so concurrent
/// requests wait only for the writes).
///
/// # Errors
///
/// The NLU component's error: answer 500.
pub fn analyze_event(
    kind: &EventKind,
    metrics: &mut Batch,
) -> Result<Option<policy::Analysis>, String> {
    match kind {
        EventKind::Text(text) => analyze_text(text, metrics).map(Some),
        _ => Ok(None),
    }
}
