//! Sending outbox rows through the Graph API (or to `handoff_notify_url`), and recording
//! what happened to each: sent, retry later with back-off, or failed for good.

use crate::bot::{NOTIFY_CHANNEL, SpinDb, now_ms};
use crate::variable;
use meta::Channel;
use spin_sdk::http::{Method, Request, Response};
use store::metrics::Batch;
use store::{Delivery, Outcome};

/// How long an outbox row is reserved for one delivery attempt.
pub const LEASE_MS: i64 = 60_000;

/// A row whose reservation ends sooner than this is renewed before it is sent, so that no
/// other sender can take it while the request is under way.
const LEASE_MARGIN_MS: i64 = 30_000;

/// Meta's standard messaging window after the customer's last message.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a human agent may still answer on Messenger (`MESSAGE_TAG` `HUMAN_AGENT`).
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * WINDOW_MS;

/// How many due replies one request delivers at most.
const DELIVERIES_PER_REQUEST: i64 = 20;

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

/// Delivers due outbox rows (new replies and earlier failures whose back-off has passed);
/// finding nothing due is a read, so a request with nothing to deliver takes no write lock.
pub async fn deliver_due(db: &SpinDb) -> DeliveryRun {
    match store::any_due(db, now_ms()) {
        Ok(due) => deliver_with_due(db, Vec::new(), due).await,
        Err(e) => {
            eprintln!("bot: cannot read the outbox: {e}");
            DeliveryRun::default()
        }
    }
}

/// Delivers the rows this request leased when it stored them, together with whatever else
/// is due when `due` (earlier failures whose back-off has passed), oldest first, so that a
/// customer receives replies in the order they were written.
pub async fn deliver_with_due(db: &SpinDb, leased: Vec<Delivery>, due: bool) -> DeliveryRun {
    let mut deliveries = if due {
        match store::claim_due(db, now_ms(), LEASE_MS, DELIVERIES_PER_REQUEST) {
            Ok(claimed) => claimed,
            Err(e) => {
                // The rows stay (claimed ones until their lease ends) and are tried later.
                eprintln!("bot: cannot read the outbox: {e}");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    deliveries.extend(leased);
    deliveries.sort_by_key(|d| d.id);
    // A row of this request can also have been claimed as due (if its lease ran out).
    deliveries.dedup_by_key(|d| d.id);
    deliver(db, deliveries).await
}

/// Sends claimed (leased) rows and records the outcomes. Failures are recorded on the row,
/// never dropped: 5xx, 429 and transport errors retry with back-off (`retry_backoff_ms`,
/// doubling); other 4xx are kept as failed for operators.
pub async fn deliver(db: &SpinDb, deliveries: Vec<Delivery>) -> DeliveryRun {
    let mut run = DeliveryRun::default();
    if deliveries.is_empty() {
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
    let mut outcomes = Vec::with_capacity(deliveries.len());
    let mut metrics = Batch::default();
    for mut delivery in deliveries {
        // The reservation must outlast the attempt; a row another sender took is left to it.
        if delivery.lease_until_ms - now_ms() < LEASE_MARGIN_MS {
            match store::renew_lease(db, &mut delivery, now_ms() + LEASE_MS) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    eprintln!("bot: cannot renew an outbox lease: {e}");
                    continue;
                }
            }
        }
        let outcome = attempt(&delivery, &base, &version).await;
        let label = match &outcome {
            Outcome::Sent => {
                run.sent += 1;
                "sent"
            }
            // The error itself (it may quote the platform's answer) is kept on the row for
            // operators (GET /api/desk/outbox), not logged.
            Outcome::Retry(_) => {
                run.retrying += 1;
                eprintln!(
                    "bot: outbox row {} on {} failed, will be retried",
                    delivery.id, delivery.channel
                );
                "retry"
            }
            Outcome::Failed(_) => {
                run.failed += 1;
                eprintln!(
                    "bot: outbox row {} on {} failed for good (see /api/desk/outbox)",
                    delivery.id, delivery.channel
                );
                "failed"
            }
        };
        metrics.count(
            "chatbot_deliveries_total",
            &[("channel", &delivery.channel), ("outcome", label)],
            1.0,
        );
        outcomes.push((delivery, outcome));
    }
    // One transaction for all outcomes and their metrics, retried while the database is
    // busy. If it still fails, the leases expire and the rows are sent again: a reply may
    // then go out twice, which is why this write is kept this small.
    let now = now_ms();
    let recorded = store::transaction(db, || {
        store::record_outcomes(db, &outcomes, now, backoff_base_ms)?;
        metrics.write(db)
    });
    if let Err(e) = recorded {
        eprintln!("bot: cannot record delivery outcomes: {e}");
    }
    run
}

/// One attempt at a row: refused without a call when the messaging window has closed.
async fn attempt(delivery: &Delivery, base: &str, version: &str) -> Outcome {
    if delivery.channel == NOTIFY_CHANNEL {
        return notify(delivery).await;
    }
    let human_agent_tag = serde_json::from_str::<serde_json::Value>(&delivery.body)
        .is_ok_and(|body| body["tag"] == "HUMAN_AGENT");
    let since_customer = now_ms() - delivery.last_customer_ms;
    if human_agent_tag && since_customer > HUMAN_AGENT_WINDOW_MS {
        Outcome::Failed(
            "more than 7 days since the customer's last message: Messenger allows no HUMAN_AGENT reply any more".into(),
        )
    } else if !human_agent_tag && since_customer > WINDOW_MS {
        // Sending would fail anyway; say why instead of spending a Graph API call.
        Outcome::Failed(
            "outside the 24-hour window since the customer's last message: Messenger needs MESSAGE_TAG HUMAN_AGENT (a human agent, up to 7 days), WhatsApp an approved template".into(),
        )
    } else {
        send(delivery, base, version).await
    }
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
