//! The operator's routes (admin token): crisis mode, GDPR export and erasure, the audit
//! log, Prometheus metrics, the outbox, and the scheduled maintenance.

use crate::auth::Caller;
use crate::{Answer, bad_request, database_error, refused, views};
use component_shell::bot::{self, SpinDb};
use component_shell::{delivery, json, json_error, variable};
use conversation::desk;
use spin_sdk::http::Response;
use vocab::Channel;

/// How many problem rows the outbox view lists.
const OUTBOX_PROBLEMS_SHOWN: i64 = 50;

pub fn crisis(db: &SpinDb) -> Answer {
    let (mode, message) = desk::crisis(db).map_err(refused)?;
    // Stored as given: a per-language object, or one text.
    let message = match message {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    };
    Ok(json(
        200,
        &serde_json::json!({ "mode": mode.as_str(), "message": message }),
    ))
}

pub fn set_crisis(db: &SpinDb, caller: &Caller, body: &[u8]) -> Answer {
    let (mode, message) = conversation::requests::crisis(body).map_err(bad_request)?;
    desk::set_crisis(db, &caller.actor, mode, message.as_deref(), bot::now_ms())
        .map_err(refused)?;
    crisis(db)
}

/// A channel from the path (400 naming it when it is none of ours).
fn channel(segment: &str) -> Result<Channel, Response> {
    segment
        .parse()
        .map_err(|e: vocab::UnknownName| json_error(400, &e.to_string()))
}

/// Everything held about a customer: this identity's data (as before), the customer panel's
/// notes, tags and links (`customer`), and the data of every linked identity (`linked`).
pub fn export(db: &SpinDb, caller: &Caller, channel_name: &str, customer: &str) -> Answer {
    let channel = channel(channel_name)?;
    let identity = store::customers::Identity {
        channel,
        customer_id: customer.to_string(),
    };
    let (profile, data) = conversation::customers::export(db, &identity)
        .map_err(refused)?
        .ok_or_else(|| json_error(404, "unknown customer on this channel"))?;
    let subject = subject(channel, customer)?;
    store::privacy::audit(
        db,
        &caller.actor.key,
        "export",
        Some(&subject),
        bot::now_ms(),
    )
    .map_err(|e| database_error(&e))?;
    let unreadable = |e: serde_json::Error| {
        eprintln!("desk: an outbox body is not JSON: {e}");
        json_error(500, "stored data is unreadable")
    };
    let mut exports = data.iter().map(views::export);
    let mut body = exports
        .next()
        .ok_or_else(|| json_error(404, "unknown customer on this channel"))?
        .map_err(unreadable)?;
    body["customer"] = views::customer(&profile);
    body["linked"] = exports
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?
        .into();
    Ok(json(200, &body))
}

/// How the audit log names a customer: a hash keyed with `id_hash_key`.
pub fn subject(channel: Channel, customer: &str) -> Result<String, Response> {
    let key = bot::settings()?.conversation.id_hash_key;
    Ok(agents::subject_hash(
        key.as_bytes(),
        channel.as_str(),
        customer,
    ))
}

fn erase_and_answer(db: &SpinDb, caller: &Caller, channel: Channel, customer: &str) -> Answer {
    let subject = subject(channel, customer)?;
    let erased = desk::erase(
        db,
        &caller.actor,
        channel,
        customer,
        &subject,
        bot::now_ms(),
    )
    .map_err(refused)?;
    Ok(json(200, &serde_json::json!({ "erased_messages": erased })))
}

pub fn erase(db: &SpinDb, caller: &Caller, channel_name: &str, customer: &str) -> Answer {
    erase_and_answer(db, caller, channel(channel_name)?, customer)
}

pub fn erasure_requests(db: &SpinDb) -> Answer {
    let open = store::privacy::open_erasure_requests(db).map_err(|e| database_error(&e))?;
    Ok(json(
        200,
        &serde_json::json!({
            "items": open.iter().map(|r| serde_json::json!({
                "id": r.id, "conversation_id": r.conversation_id.to_string(),
                "channel": r.channel, "customer_id": r.customer_id, "created_ms": r.created_ms,
            })).collect::<Vec<_>>(),
        }),
    ))
}

pub fn confirm_erasure(db: &SpinDb, caller: &Caller, id: &str) -> Answer {
    let unknown = || json_error(404, &format!("no open erasure request {id}"));
    let id: i64 = id.parse().map_err(|_| unknown())?;
    let request = store::privacy::open_erasure_request(db, id)
        .map_err(|e| database_error(&e))?
        .ok_or_else(unknown)?;
    erase_and_answer(db, caller, request.channel, &request.customer_id)
}

pub fn audit(db: &SpinDb) -> Answer {
    let events = store::privacy::audit_events(db, 200).map_err(|e| database_error(&e))?;
    Ok(json(
        200,
        &serde_json::json!({
            "items": events.iter().map(|e| serde_json::json!({
                "actor": e.actor, "action": e.action, "subject": e.subject, "created_ms": e.created_ms,
            })).collect::<Vec<_>>(),
        }),
    ))
}

/// The help texts of the counted metrics.
const HELP: [(&str, &str); 6] = [
    (
        "chatbot_requests_total",
        "Webhook and web chat requests by channel and status",
    ),
    (
        "chatbot_request_seconds",
        "Webhook and web chat request latency (until the message is stored)",
    ),
    ("chatbot_nlu_seconds", "NLU analysis latency per message"),
    (
        "chatbot_replies_total",
        "Bot replies by channel and intent (or action)",
    ),
    (
        "chatbot_handoffs_total",
        "New handoffs by channel and reason",
    ),
    (
        "chatbot_deliveries_total",
        "Delivery attempts by channel and outcome (retry = will be retried)",
    ),
];

/// Prometheus metrics: what the components counted, plus the outbox and queue right now.
pub fn metrics(db: &SpinDb) -> Answer {
    use store::metrics::{Gauge, gauge_labels};
    let outbox = store::outbox_counts(db).map_err(|e| database_error(&e))?;
    let open = store::desk::open_handoffs(db, None, None).map_err(|e| database_error(&e))?;
    let outbox_rows = ["pending", "sent", "failed"].map(|state| {
        let n = outbox
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        (gauge_labels(&[("state", state)]), n as f64)
    });
    let handoffs = [("waiting", false), ("claimed", true)].map(|(label, claimed)| {
        let n = open.iter().filter(|h| h.agent.is_some() == claimed).count();
        (gauge_labels(&[("state", label)]), n as f64)
    });
    let gauges = [
        Gauge {
            name: "chatbot_outbox_rows".into(),
            help: "Outbox rows by state (pending = not yet delivered)".into(),
            values: outbox_rows.to_vec(),
        },
        Gauge {
            name: "chatbot_open_handoffs".into(),
            help: "Handoffs not yet resolved, by whether an agent holds them".into(),
            values: handoffs.to_vec(),
        },
    ];
    let help = HELP.into_iter().collect();
    let text = store::metrics::render(db, &help, &gauges).map_err(|e| database_error(&e))?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(text)
        .build())
}

/// The scheduled work: deliver what is due, then purge messages older than `retention_days`.
pub async fn maintenance(db: &SpinDb) -> Answer {
    let settings = bot::settings()?;
    let days = |name: &str| -> Result<i64, Response> {
        variable(name)?.trim().parse().map_err(|_| {
            eprintln!("variable {name} is not a whole number of days");
            json_error(
                500,
                &format!("server misconfigured: {name} must be a whole number of days"),
            )
        })
    };
    let (retention_days, dedupe_days) = (days("retention_days")?, days("dedupe_days")?);
    let run = delivery::deliver_due(db, &settings).await;
    let purged = match desk::purge(db, retention_days, dedupe_days, bot::now_ms()) {
        Ok(purged) => purged,
        Err(desk::Error::Refused(why)) => {
            eprintln!("maintenance: {why}");
            return Err(json_error(500, &format!("server misconfigured: {why}")));
        }
        Err(e) => return Err(refused(e)),
    };
    Ok(json(
        200,
        &serde_json::json!({
            "delivered": { "sent": run.sent, "retrying": run.retrying, "failed": run.failed },
            "purged_messages": purged.messages,
            "purged_message_ids": purged.message_ids,
            "retention_days": retention_days,
            "dedupe_days": dedupe_days,
        }),
    ))
}

fn outbox_body(db: &SpinDb) -> Result<serde_json::Value, Response> {
    let counts = store::outbox_counts(db).map_err(|e| database_error(&e))?;
    let problems =
        store::outbox_problems(db, OUTBOX_PROBLEMS_SHOWN).map_err(|e| database_error(&e))?;
    Ok(views::outbox(&counts, &problems))
}

pub fn outbox(db: &SpinDb) -> Answer {
    Ok(json(200, &outbox_body(db)?))
}

/// Sends what is due now (a schedule calls this) and shows the outbox after.
pub async fn deliver(db: &SpinDb) -> Answer {
    let settings = bot::settings()?;
    let run = delivery::deliver_due(db, &settings).await;
    let mut body = outbox_body(db)?;
    body["delivered"] = serde_json::json!({
        "sent": run.sent, "retrying": run.retrying, "failed": run.failed,
    });
    Ok(json(200, &body))
}

/// Queues failed replies again (all, or `{"ids": [...]}`), after the operator fixed what made
/// them fail (an expired token, a wrong recipient); they go out with the next delivery run.
pub fn requeue(db: &SpinDb, body: &[u8]) -> Answer {
    let ids = conversation::requests::requeue(body).map_err(bad_request)?;
    let requeued =
        store::requeue_failed(db, ids.as_deref(), bot::now_ms()).map_err(|e| database_error(&e))?;
    let mut body = outbox_body(db)?;
    body["requeued"] = requeued.into();
    Ok(json(200, &body))
}
