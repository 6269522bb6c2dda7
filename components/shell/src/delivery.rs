//! Sending outbox rows: the HTTP calls (the rest, which rows, whether the window allows
//! them, what an answer means and how it is recorded, is [`conversation::delivery`]).

use crate::bot::{Settings, SpinDb, now_ms};
use crate::variable;
use conversation::delivery::{self, Attempt, Graph};
use spin_sdk::http::{Method, Request, Response};
use store::{Delivery, Outcome};
use vocab::Channel;

/// What one delivery run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRun {
    /// Accepted by the platform.
    pub sent: usize,
    /// Failed for now; due again after the back-off.
    pub retrying: usize,
    /// Failed for good; kept for operators.
    pub failed: usize,
}

/// Delivers due outbox rows (earlier failures whose back-off has passed, and rows nobody
/// leased); finding nothing due is a read, so a request with nothing to deliver takes no
/// write lock.
pub async fn deliver_due(db: &SpinDb, settings: &Settings) -> DeliveryRun {
    match store::any_due(db, now_ms()) {
        Ok(due) => deliver(db, settings, Vec::new(), due).await,
        Err(e) => {
            eprintln!("bot: cannot read the outbox: {e}");
            DeliveryRun::default()
        }
    }
}

/// Sends the rows this request leased (and, when `due`, the due rows it claims), oldest
/// first, and records the outcomes. Failures are recorded on the row, never dropped: 5xx,
/// 429 and transport errors retry with back-off; other 4xx are kept as failed for
/// operators.
pub async fn deliver(
    db: &SpinDb,
    settings: &Settings,
    leased: Vec<Delivery>,
    due: bool,
) -> DeliveryRun {
    let mut run = DeliveryRun::default();
    let rows = match delivery::rows_to_send(db, leased, due, now_ms()) {
        Ok(rows) => rows,
        Err(e) => {
            // The rows stay leased until their lease ends; then any sender takes them.
            eprintln!("bot: cannot claim due outbox rows: {e}");
            return run;
        }
    };
    if rows.is_empty() {
        return run;
    }
    let graph = match (variable("graph_api_base"), variable("graph_api_version")) {
        (Ok(base), Ok(version)) => Graph { base, version },
        // Logged by `variable`; the leases expire and another request tries again.
        _ => return run,
    };
    let mut outcomes = Vec::with_capacity(rows.len());
    for mut row in rows {
        match delivery::keep_reserved(db, &mut row, now_ms()) {
            Ok(true) => {}
            // Another sender has it now.
            Ok(false) => continue,
            Err(e) => {
                eprintln!("bot: cannot renew the lease of outbox row {}: {e}", row.id);
                continue;
            }
        }
        let outcome = attempt(&row, &graph).await;
        // The error itself (it may quote the platform's answer) is kept on the row for
        // operators (GET /api/desk/outbox), not logged.
        match &outcome {
            Outcome::Sent => run.sent += 1,
            Outcome::Retry(_) => {
                run.retrying += 1;
                eprintln!(
                    "bot: outbox row {} on {} failed, will be retried",
                    row.id, row.channel
                );
            }
            Outcome::Failed(_) => {
                run.failed += 1;
                eprintln!(
                    "bot: outbox row {} on {} failed for good (see /api/desk/outbox)",
                    row.id, row.channel
                );
            }
        }
        outcomes.push((row, outcome));
    }
    // If recording fails, the leases run out and the rows are sent again: a reply may then
    // go out twice, which is why this write is kept this small.
    if let Err(e) = delivery::record(db, &outcomes, now_ms(), settings.retry_backoff_ms) {
        eprintln!("bot: cannot record delivery outcomes: {e}");
    }
    run
}

/// One attempt at a row.
async fn attempt(row: &Delivery, graph: &Graph) -> Outcome {
    let (url, token, body, what) = match delivery::prepare(row, graph, now_ms()) {
        Attempt::Known(outcome) => return outcome,
        Attempt::Send {
            url,
            token,
            body,
            what,
        } => (url, token, body, what),
    };
    let mut request = Request::builder();
    request
        .method(Method::Post)
        .uri(url)
        .header("content-type", "application/json");
    if let Some(channel) = token {
        let name = match channel {
            Channel::Messenger => "messenger_page_token",
            Channel::WhatsApp => "whatsapp_token",
            Channel::WebChat => return Outcome::Failed("no token for the web chat".into()),
        };
        match variable(name) {
            Ok(token) if !token.is_empty() => {
                request.header("authorization", format!("Bearer {token}"));
            }
            // Kept pending: the reply goes out once the operator sets the token.
            _ => return Outcome::Retry(format!("{name} is not set")),
        }
    }
    let answer = spin_sdk::http::send::<_, Response>(request.body(body).build()).await;
    match answer {
        Ok(response) => delivery::classify(Ok((*response.status(), response.body())), what),
        Err(e) => delivery::classify(Err(e.to_string()), what),
    }
}
