//! Sending outbox rows: the HTTP calls (the rest, which rows, whether the window allows
//! them, what an answer means and how it is recorded, is [`conversation::delivery`]).

use crate::bot::{Settings, SpinDb, now_ms};
use crate::variable;
use conversation::delivery::{self, Attempt, Graph};
use spin_sdk::http::{Method, Request, Response};
use store::{Delivery, Outcome};
use vocab::Channel;

/// How long an invocation that has answered keeps retrying the sends that failed for now
/// (the Graph API answered 5xx or 429, or could not be reached), with the rows' back-off:
/// with the default `retry_backoff_ms` (2 s, doubling) that is three more attempts. What is
/// still due after it is sent by the next request or the schedule (README, "Replies and
/// retries").
pub const HEAL_WINDOW_MS: i64 = 20_000;

/// What one delivery run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryRun {
    /// Accepted by the platform.
    pub sent: usize,
    /// Failed for now; due again after the back-off.
    pub retrying: usize,
    /// Failed for good; kept for operators.
    pub failed: usize,
    /// The rows the Graph API refused for now or did not answer (not those waiting for a
    /// token): worth another attempt soon.
    pub unreachable: Vec<i64>,
}

impl DeliveryRun {
    fn add(&mut self, other: &DeliveryRun) {
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.failed += other.failed;
    }
}

/// [`deliver`], then, in the same invocation (after the answer), the rows that failed for
/// now again when their back-off has passed, for up to [`HEAL_WINDOW_MS`]: a short Graph
/// API outage heals without any other request.
pub async fn deliver_and_heal(
    db: &SpinDb,
    settings: &Settings,
    leased: Vec<Delivery>,
    due: bool,
) -> DeliveryRun {
    let until = now_ms() + HEAL_WINDOW_MS;
    let mut total = deliver(db, settings, leased, due).await;
    let mut waiting = std::mem::take(&mut total.unreachable);
    while !waiting.is_empty() {
        let next = match store::next_attempt_ms(db, &waiting) {
            Ok(Some(next)) if next <= until => next,
            Ok(_) => break,
            Err(e) => {
                eprintln!("bot: cannot read when to retry: {e}");
                break;
            }
        };
        let wait = u64::try_from(next - now_ms()).unwrap_or(0);
        std::thread::sleep(std::time::Duration::from_millis(wait));
        let run = deliver(db, settings, Vec::new(), true).await;
        total.add(&run);
        waiting = run.unreachable;
    }
    total
}

/// [`deliver_due`], healing as [`deliver_and_heal`] does.
pub async fn deliver_due_and_heal(db: &SpinDb, settings: &Settings) -> DeliveryRun {
    match store::any_due(db, now_ms()) {
        Ok(due) => deliver_and_heal(db, settings, Vec::new(), due).await,
        Err(e) => {
            eprintln!("bot: cannot read the outbox: {e}");
            DeliveryRun::default()
        }
    }
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
        let (outcome, reached) = attempt(&row, &graph).await;
        // The error itself (it may quote the platform's answer) is kept on the row for
        // operators (GET /api/desk/outbox), not logged.
        match &outcome {
            Outcome::Sent => run.sent += 1,
            Outcome::Retry(_) => {
                run.retrying += 1;
                if reached {
                    run.unreachable.push(row.id);
                }
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

/// One attempt at a row: its outcome, and whether a request was made (`false`: the outcome
/// was known without one, such as a missing token).
async fn attempt(row: &Delivery, graph: &Graph) -> (Outcome, bool) {
    let (url, token, body, what) = match delivery::prepare(row, graph, now_ms()) {
        Attempt::Known(outcome) => return (outcome, false),
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
            Channel::Messenger | Channel::FacebookComments => "messenger_page_token",
            Channel::WhatsApp => "whatsapp_token",
            Channel::Instagram | Channel::InstagramComments => "instagram_page_token",
            Channel::WebChat => {
                return (Outcome::Failed("no token for the web chat".into()), false);
            }
        };
        match variable(name) {
            Ok(token) if !token.is_empty() => {
                request.header("authorization", format!("Bearer {token}"));
            }
            // Kept pending: the reply goes out once the operator sets the token.
            _ => return (Outcome::Retry(format!("{name} is not set")), false),
        }
    }
    let answer = spin_sdk::http::send::<_, Response>(request.body(body).build()).await;
    let outcome = match answer {
        Ok(response) => delivery::classify(Ok((*response.status(), response.body())), what),
        Err(e) => delivery::classify(Err(e.to_string()), what),
    };
    (outcome, true)
}
