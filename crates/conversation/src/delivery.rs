//! From outbox rows to requests, and from the platform's answers to recorded outcomes.
//! The HTTP call itself is the caller's (a component's outbound request); everything around
//! it is here: which rows a request sends, whether the messaging window still allows a row,
//! where it goes, what an answer means, and how the outcome is stored.

use crate::message::NOTIFY_ROUTE;
use store::metrics::Batch;
use store::{Database, DbError, Delivery, Outcome};
use vocab::Channel;
use vocab::window::Window;

/// How long an outbox row is reserved for one delivery attempt.
pub const LEASE_MS: i64 = 60_000;

/// A row whose reservation ends sooner than this is renewed before it is sent, so that no
/// other sender takes it while the attempt is under way.
pub const LEASE_MARGIN_MS: i64 = 30_000;

/// How many due rows (earlier failures) one request sends at most.
pub const DUE_PER_REQUEST: i64 = 20;

/// Where a row goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A customer, through a platform's Graph API.
    Platform(Channel),
    /// The operator's `handoff_notify_url`.
    Notify,
}

impl Route {
    /// The route of a row.
    ///
    /// # Errors
    ///
    /// A route name this code does not know.
    pub fn of(delivery: &Delivery) -> Result<Self, DbError> {
        if delivery.channel == NOTIFY_ROUTE {
            return Ok(Route::Notify);
        }
        delivery
            .channel
            .parse()
            .map(Route::Platform)
            .map_err(|e| DbError::new(format!("outbox row {}: {e}", delivery.id)))
    }
}

/// The Graph API's base URL and version (Spin variables).
#[derive(Debug, Clone)]
pub struct Graph {
    /// E.g. `https://graph.facebook.com`.
    pub base: String,
    /// E.g. `v25.0`.
    pub version: String,
}

/// What to do with a row now.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// POST `body` to `url`, with the bearer token of `token`'s platform, or none.
    Send {
        /// Where.
        url: String,
        /// Whose token to send (`None` for a notification).
        token: Option<Channel>,
        /// The JSON body.
        body: String,
        /// What is called, for error messages.
        what: &'static str,
    },
    /// Nothing to send: the outcome is already known.
    Known(Outcome),
}

/// What to do with `delivery` at `now_ms`: its request, or the reason it cannot go (the
/// messaging window closed, which sending would only confirm).
pub fn prepare(delivery: &Delivery, graph: &Graph, now_ms: i64) -> Attempt {
    let channel = match Route::of(delivery) {
        Ok(Route::Notify) => {
            return Attempt::Send {
                url: delivery.target.clone(),
                token: None,
                body: delivery.body.clone(),
                what: "handoff_notify_url",
            };
        }
        Ok(Route::Platform(channel)) => channel,
        Err(e) => return Attempt::Known(Outcome::Failed(e.message().to_string())),
    };
    let (human_agent_tag, template) =
        match serde_json::from_str::<serde_json::Value>(&delivery.body) {
            Ok(body) => (body["tag"] == "HUMAN_AGENT", body["type"] == "template"),
            Err(e) => {
                return Attempt::Known(Outcome::Failed(format!(
                    "the stored body is not JSON: {e}"
                )));
            }
        };
    // An approved WhatsApp template may go out at any time; everything else needs the window.
    let window = Window::at(channel, delivery.last_customer_ms, now_ms);
    if let Some(reason) = window.refusal(human_agent_tag)
        && !(channel == Channel::WhatsApp && template)
    {
        return Attempt::Known(Outcome::Failed(reason.into()));
    }
    let url = match channel {
        Channel::Messenger | Channel::Instagram => meta::messenger_url(&graph.base, &graph.version),
        // A private reply goes to `me/messages`; a public one under the comment.
        Channel::FacebookComments | Channel::InstagramComments => {
            match delivery
                .target
                .strip_prefix(crate::message::PUBLIC_REPLY_TARGET)
            {
                Some(comment_id) => meta::comment_reply_url(
                    &graph.base,
                    &graph.version,
                    channel == Channel::InstagramComments,
                    comment_id,
                ),
                None => meta::messenger_url(&graph.base, &graph.version),
            }
        }
        Channel::WhatsApp => meta::whatsapp_url(&graph.base, &graph.version, &delivery.target),
        Channel::WebChat => {
            return Attempt::Known(Outcome::Failed(
                "no Graph API route for the web chat".into(),
            ));
        }
    };
    Attempt::Send {
        url,
        token: Some(channel),
        body: delivery.body.clone(),
        what: "Graph API",
    }
}

/// What an answer means: 2xx sent; 5xx, 429 or no answer (time-out, unreachable) worth a
/// retry later; any other status failed for good, kept with the platform's words.
pub fn classify(answer: Result<(u16, &[u8]), String>, what: &str) -> Outcome {
    match answer {
        Ok((status, _)) if (200..300).contains(&status) => Outcome::Sent,
        Ok((status, _)) if status == 429 || status >= 500 => {
            Outcome::Retry(format!("{what} answered {status}"))
        }
        Ok((status, body)) => {
            let detail: String = String::from_utf8_lossy(body).chars().take(300).collect();
            Outcome::Failed(format!("{what} answered {status}: {detail}"))
        }
        Err(e) => Outcome::Retry(format!("{what} unreachable: {e}")),
    }
}

/// The rows a request sends: those it stored (leased to it) and, when `due`, the due ones
/// it claims, oldest first (a customer receives replies in the order they were written), each
/// once (a row of this request may also have been claimed as due if its lease ran out).
///
/// # Errors
///
/// A database error claiming the due rows (this request's own rows are still returned by
/// nobody: they stay leased and any sender takes them after the lease).
pub fn rows_to_send(
    db: &impl Database,
    leased: Vec<Delivery>,
    due: bool,
    now_ms: i64,
) -> Result<Vec<Delivery>, DbError> {
    let mut rows = if due {
        store::claim_due(db, now_ms, LEASE_MS, DUE_PER_REQUEST)?
    } else {
        Vec::new()
    };
    rows.extend(leased);
    rows.sort_by_key(|d| d.id);
    rows.dedup_by_key(|d| d.id);
    Ok(rows)
}

/// Makes sure a row stays reserved for the attempt about to be made: a reservation ending
/// within [`LEASE_MARGIN_MS`] is renewed. `false`: another sender has the row now.
///
/// # Errors
///
/// A database error.
pub fn keep_reserved(
    db: &impl Database,
    delivery: &mut Delivery,
    now_ms: i64,
) -> Result<bool, DbError> {
    if delivery.lease_until_ms - now_ms >= LEASE_MARGIN_MS {
        return Ok(true);
    }
    store::renew_lease(db, delivery, now_ms + LEASE_MS)
}

/// The metric label of an outcome.
pub fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Sent => "sent",
        Outcome::Retry(_) => "retry",
        Outcome::Failed(_) => "failed",
    }
}

/// How often [`record`] tries to write a run's outcomes: the rows were sent, and if no
/// attempt is recorded their leases run out and they are sent again.
pub const RECORD_ATTEMPTS: u32 = 3;

/// Records a run's outcomes and their metrics in one transaction (retried while the
/// database is busy, and up to [`RECORD_ATTEMPTS`] times after any other error: each
/// outcome is written only while the row is still leased to this attempt, so a repeat
/// changes nothing); a retry is due after the back-off from `backoff_base_ms`.
///
/// # Errors
///
/// The last database error: the leases then run out and the rows are sent again.
pub fn record(
    db: &impl Database,
    outcomes: &[(Delivery, Outcome)],
    now_ms: i64,
    backoff_base_ms: i64,
) -> Result<(), DbError> {
    let mut metrics = Batch::default();
    for (delivery, outcome) in outcomes {
        metrics.count(
            "chatbot_deliveries_total",
            &[
                ("channel", &delivery.channel),
                ("outcome", outcome_label(outcome)),
            ],
            1.0,
        );
    }
    let mut attempt = 1;
    loop {
        let written = store::transaction(db, || {
            store::record_outcomes(db, outcomes, now_ms, backoff_base_ms)?;
            metrics.write(db)
        });
        match written {
            Err(_) if attempt < RECORD_ATTEMPTS => {
                attempt += 1;
                db.pause(std::time::Duration::from_millis(10));
            }
            written => return written,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(channel: &str, body: &str, last_customer_ms: i64) -> Delivery {
        Delivery {
            id: 1,
            conversation_id: 1,
            channel: channel.into(),
            target: "PNID".into(),
            body: body.into(),
            attempts: 0,
            last_customer_ms,
            lease_until_ms: 0,
        }
    }

    #[test]
    fn rows_become_requests_or_known_outcomes() {
        const DAY: i64 = 24 * 60 * 60 * 1000;
        let now = 100 * DAY;
        let graph = Graph {
            base: "https://graph.example".into(),
            version: "v25.0".into(),
        };
        let sent_to = |attempt: &Attempt| match attempt {
            Attempt::Send { url, .. } => Some(url.clone()),
            Attempt::Known(_) => None,
        };
        let cases = [
            (
                "messenger",
                "{}",
                now - 1,
                Some("https://graph.example/v25.0/me/messages"),
            ),
            (
                "whatsapp",
                "{}",
                now - 1,
                Some("https://graph.example/v25.0/PNID/messages"),
            ),
            ("notify", "{}", 0, Some("PNID")),
            ("messenger", "{}", now - 2 * DAY, None),
            (
                "messenger",
                r#"{"tag":"HUMAN_AGENT"}"#,
                now - 2 * DAY,
                Some("https://graph.example/v25.0/me/messages"),
            ),
            ("messenger", r#"{"tag":"HUMAN_AGENT"}"#, now - 8 * DAY, None),
            ("whatsapp", "{}", now - 2 * DAY, None),
            (
                "whatsapp",
                r#"{"type":"template"}"#,
                now - 30 * DAY,
                Some("https://graph.example/v25.0/PNID/messages"),
            ),
            (
                "instagram",
                r#"{"tag":"HUMAN_AGENT"}"#,
                now - 2 * DAY,
                Some("https://graph.example/v25.0/me/messages"),
            ),
            ("instagram", "{}", now - 2 * DAY, None),
            (
                "facebook_comments",
                "{}",
                now - 2 * DAY,
                Some("https://graph.example/v25.0/me/messages"),
            ),
            ("instagram_comments", "{}", now - 8 * DAY, None),
            ("messenger", r#"{"type":"template"}"#, now - 2 * DAY, None),
            ("webchat", "{}", now, None),
            ("telegram", "{}", now, None),
            ("messenger", "not json", now, None),
        ];
        for (channel, body, last, url) in cases {
            let attempt = prepare(&delivery(channel, body, last), &graph, now);
            assert_eq!(sent_to(&attempt).as_deref(), url, "{channel} {body} {last}");
        }
        // A public reply goes under the comment.
        for (channel, url) in [
            (
                "facebook_comments",
                "https://graph.example/v25.0/C7/comments",
            ),
            (
                "instagram_comments",
                "https://graph.example/v25.0/C7/replies",
            ),
        ] {
            let mut public = delivery(channel, "{}", now - 1);
            public.target = "public:C7".into();
            assert_eq!(
                sent_to(&prepare(&public, &graph, now)).as_deref(),
                Some(url)
            );
        }
    }

    #[test]
    fn answers_become_outcomes() {
        let cases = [
            (Ok((200, &b""[..])), "sent"),
            (Ok((204, &b""[..])), "sent"),
            (Ok((429, &b""[..])), "retry"),
            (Ok((503, &b""[..])), "retry"),
            (Ok((400, &b"(#100) invalid"[..])), "failed"),
            (Ok((401, &b"expired"[..])), "failed"),
            (Ok((302, &b""[..])), "failed"),
            (Err("connection refused".to_string()), "retry"),
        ];
        for (answer, label) in cases {
            let outcome = classify(answer.clone(), "Graph API");
            assert_eq!(outcome_label(&outcome), label, "{answer:?}");
        }
        assert_eq!(
            classify(Ok((400, b"(#100) invalid")), "Graph API"),
            Outcome::Failed("Graph API answered 400: (#100) invalid".into())
        );
    }
}
