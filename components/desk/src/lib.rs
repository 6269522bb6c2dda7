//! The agents' desk: the JSON API under `/api/desk/` and the inbox page under `/desk/`.
//! The logic lives in Spin-free crates (`store::desk` for the state, `agents` for tokens, queue
//! order and KPIs); this shell authenticates, routes, and hands replies to the outbox.

use component_shell::bot::{self, SpinDb};
use component_shell::{json, json_error, variable};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use store::desk::Claim;

/// How many problem rows the outbox view lists.
const OUTBOX_PROBLEMS_SHOWN: i64 = 50;

/// The longest agent message (Messenger's text limit).
const MAX_MESSAGE_CHARS: usize = 2000;

/// The longest agent name.
const MAX_NAME_CHARS: usize = 80;

/// Who is calling.
struct Actor {
    /// `admin` or the agent's id: the key stored on claims and messages.
    key: String,
    name: String,
    admin: bool,
}

#[http_component]
async fn handle(incoming: spin_sdk::http::IncomingRequest) -> Response {
    match component_shell::read_request(incoming).await {
        Ok(req) => serve(req).await,
        Err(response) => response,
    }
}

async fn serve(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    if !path.starts_with("/api/desk") && path != "/metrics" {
        return inbox_page(&path);
    }
    let db = match bot::open_db() {
        Ok(db) => db,
        Err(response) => return response,
    };
    let actor = match authenticate(&req, &db) {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    if path == "/metrics" {
        return admin_only(&actor)
            .and_then(|()| metrics(&db))
            .unwrap_or_else(|response| response);
    }
    let segments: Vec<&str> = path
        .trim_start_matches("/api/desk")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let result = match (req.method(), segments.as_slice()) {
        (Method::Get, ["me"]) => Ok(json(
            200,
            &serde_json::json!({ "key": actor.key, "name": actor.name, "admin": actor.admin }),
        )),
        // Every agent may see who to transfer to; tokens are never shown.
        (Method::Get, ["agents"]) => list_agents(&db),
        (Method::Post, ["agents"]) => {
            admin_only(&actor).and_then(|()| create_agent(&db, req.body()))
        }
        (Method::Post, ["agents", id, action @ ("disable" | "enable")]) => {
            admin_only(&actor).and_then(|()| set_disabled(&db, id, *action == "disable"))
        }
        (Method::Get, ["queue"]) => queue(&db, req.query()),
        (Method::Get, ["conversations", id]) => {
            conversation_id(id).and_then(|id| conversation(&db, id, req.query()))
        }
        (Method::Post, ["conversations", id, "claim"]) => {
            conversation_id(id).and_then(|id| claim(&db, id, &actor))
        }
        (Method::Post, ["conversations", id, "messages"]) => match conversation_id(id) {
            Ok(id) => send_message(&db, id, &actor, req.body()).await,
            Err(response) => Err(response),
        },
        (Method::Post, ["conversations", id, "transfer"]) => {
            conversation_id(id).and_then(|id| transfer(&db, id, &actor, req.body()))
        }
        (Method::Post, ["conversations", id, "resolve"]) => match conversation_id(id) {
            Ok(id) => resolve(&db, id, &actor, req.body()).await,
            Err(response) => Err(response),
        },
        (Method::Get, ["stats"]) => stats(&db, req.query()),
        (Method::Get, ["crisis"]) => crisis(&db),
        (Method::Put | Method::Post, ["crisis"]) => {
            admin_only(&actor).and_then(|()| set_crisis(&db, &actor, req.body()))
        }
        (Method::Get, ["customers", channel, customer, "export"]) => admin_only(&actor)
            .and_then(|()| export_customer(&db, &actor, channel, &decode(customer))),
        (Method::Delete, ["customers", channel, customer]) => admin_only(&actor)
            .and_then(|()| erase_customer(&db, &actor, channel, &decode(customer))),
        (Method::Get, ["erasure-requests"]) => {
            admin_only(&actor).and_then(|()| erasure_requests(&db))
        }
        (Method::Post, ["erasure-requests", id, "confirm"]) => {
            admin_only(&actor).and_then(|()| confirm_erasure(&db, &actor, id))
        }
        (Method::Get, ["audit"]) => admin_only(&actor).and_then(|()| audit(&db)),
        (Method::Post, ["maintenance"]) => match admin_only(&actor) {
            Ok(()) => maintenance(&db).await,
            Err(response) => Err(response),
        },
        (Method::Get, ["outbox"]) => admin_only(&actor).map(|()| json(200, &outbox_body(&db))),
        (Method::Post, ["outbox", "deliver"]) => match admin_only(&actor) {
            Ok(()) => {
                let run = bot::deliver_due(&db).await;
                let mut body = outbox_body(&db);
                body["delivered"] = serde_json::json!({
                    "sent": run.sent, "retrying": run.retrying, "failed": run.failed,
                });
                Ok(json(200, &body))
            }
            Err(response) => Err(response),
        },
        _ => Err(json_error(
            404,
            &format!("no desk route {} {path}", req.method()),
        )),
    };
    result.unwrap_or_else(|response| response)
}

type Answer = Result<Response, Response>;

/// A path segment with `%XX` escapes decoded (customer ids may contain `+` or spaces).
fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| segment.to_string(), |(_, v)| v.into_owned())
}

fn crisis(db: &SpinDb) -> Answer {
    let mode = store::privacy::setting(db, bot::CRISIS_MODE_KEY)
        .map_err(|e| db_error(&e))?
        .unwrap_or_else(|| "normal".into());
    let message = store::privacy::setting(db, bot::CRISIS_MESSAGE_KEY).map_err(|e| db_error(&e))?;
    let message: serde_json::Value = message
        .map(|m| serde_json::from_str(&m).unwrap_or(serde_json::Value::String(m)))
        .unwrap_or(serde_json::Value::Null);
    Ok(json(
        200,
        &serde_json::json!({ "mode": mode, "message": message }),
    ))
}

fn set_crisis(db: &SpinDb, actor: &Actor, body: &[u8]) -> Answer {
    #[derive(serde::Deserialize)]
    struct Crisis {
        mode: String,
        message: Option<serde_json::Value>,
    }
    let request: Crisis = parse_body(
        body,
        r#"{"mode": "normal" | "handoff" | "holding", "message"?: "..." or {"en", "hu", "pl"}}"#,
    )?;
    if !["normal", "handoff", "holding"].contains(&request.mode.as_str()) {
        return Err(json_error(400, "mode must be normal, handoff or holding"));
    }
    let message = match &request.message {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(serde_json::Value::Object(map))
            if map
                .get("en")
                .and_then(|v| v.as_str())
                .is_some_and(|t| !t.trim().is_empty()) =>
        {
            Some(serde_json::Value::Object(map.clone()).to_string())
        }
        None => None,
        _ => {
            return Err(json_error(
                400,
                r#"message must be a text or {"en": ..., "hu": ..., "pl": ...} with at least "en""#,
            ));
        }
    };
    if request.mode == "holding" && message.is_none() {
        return Err(json_error(400, "holding mode needs a message"));
    }
    let now = bot::now_ms();
    in_transaction(db, || {
        store::privacy::set_setting(db, bot::CRISIS_MODE_KEY, &request.mode, now)?;
        if let Some(message) = &message {
            store::privacy::set_setting(db, bot::CRISIS_MESSAGE_KEY, message, now)?;
        }
        store::privacy::audit(
            db,
            &actor.key,
            &format!("crisis:{}", request.mode),
            None,
            now,
        )?;
        Ok(Ok(()))
    })?;
    crisis(db)
}

fn export_customer(db: &SpinDb, actor: &Actor, channel: &str, customer: &str) -> Answer {
    let data = store::privacy::export_customer(db, channel, customer)
        .map_err(|e| db_error(&e))?
        .ok_or_else(|| json_error(404, "unknown customer on this channel"))?;
    store::privacy::audit(
        db,
        &actor.key,
        "export",
        Some(&agents::subject_hash(channel, customer)),
        bot::now_ms(),
    )
    .map_err(|e| db_error(&e))?;
    let c = &data.conversation;
    Ok(json(
        200,
        &serde_json::json!({
            "channel": c.channel,
            "customer_id": c.customer_id,
            "customer_name": c.customer_name,
            "language": c.language,
            "status": c.status,
            "conversation_id": c.id.to_string(),
            "last_customer_ms": c.last_customer_ms,
            "messages": data.messages.iter().map(|m| serde_json::json!({
                "direction": m.direction, "author": m.author, "agent_name": m.agent_name,
                "text": m.text, "intent": m.intent, "confidence": m.confidence,
                "anger": m.anger, "language": m.language, "created_ms": m.created_ms,
            })).collect::<Vec<_>>(),
            "handoffs": data.handoffs.iter().map(|h| serde_json::json!({
                "reason": h.reason, "created_ms": h.created_ms, "claimed_ms": h.claimed_ms,
                "resolved_ms": h.resolved_ms, "note": h.note, "csat": h.csat,
            })).collect::<Vec<_>>(),
            "sent_to_platform": data.outbox.iter().map(|(body, state, at)| serde_json::json!({
                "body": serde_json::from_str::<serde_json::Value>(body).unwrap_or(serde_json::Value::Null),
                "state": state, "created_ms": at,
            })).collect::<Vec<_>>(),
        }),
    ))
}

/// Erases a customer and closes their open erasure requests, in one transaction, audited.
fn erase(db: &SpinDb, actor: &Actor, channel: &str, customer: &str) -> Result<i64, Response> {
    let now = bot::now_ms();
    in_transaction(db, || {
        // Before the erasure, which anonymizes the customer id the requests are found by.
        store::privacy::close_erasure_requests_of(db, channel, customer, &actor.key, now)?;
        let Some(erased) = store::privacy::erase_customer(db, channel, customer)? else {
            return Ok(Err(json_error(404, "unknown customer on this channel")));
        };
        store::privacy::audit(
            db,
            &actor.key,
            "erase",
            Some(&agents::subject_hash(channel, customer)),
            now,
        )?;
        Ok(Ok(erased))
    })
}

fn erase_customer(db: &SpinDb, actor: &Actor, channel: &str, customer: &str) -> Answer {
    let erased = erase(db, actor, channel, customer)?;
    Ok(json(200, &serde_json::json!({ "erased_messages": erased })))
}

fn erasure_requests(db: &SpinDb) -> Answer {
    let open = store::privacy::open_erasure_requests(db).map_err(|e| db_error(&e))?;
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

fn confirm_erasure(db: &SpinDb, actor: &Actor, id: &str) -> Answer {
    let unknown = || json_error(404, &format!("no open erasure request {id}"));
    let id: i64 = id.parse().map_err(|_| unknown())?;
    let request = store::privacy::open_erasure_request(db, id)
        .map_err(|e| db_error(&e))?
        .ok_or_else(unknown)?;
    let erased = erase(db, actor, &request.channel, &request.customer_id)?;
    Ok(json(200, &serde_json::json!({ "erased_messages": erased })))
}

fn audit(db: &SpinDb) -> Answer {
    let events = store::privacy::audit_events(db, 200).map_err(|e| db_error(&e))?;
    Ok(json(
        200,
        &serde_json::json!({
            "items": events.iter().map(|e| serde_json::json!({
                "actor": e.actor, "action": e.action, "subject": e.subject, "created_ms": e.created_ms,
            })).collect::<Vec<_>>(),
        }),
    ))
}

/// Prometheus metrics: what the components counted, plus the outbox and queue right now.
fn metrics(db: &SpinDb) -> Answer {
    use store::metrics::{Gauge, gauge_labels};
    let outbox = store::outbox_counts(db).map_err(|e| db_error(&e))?;
    let waiting = store::desk::open_handoffs(db, None, None).map_err(|e| db_error(&e))?;
    let gauges = [
        Gauge {
            name: "chatbot_outbox_rows".into(),
            help: "Outbox rows by state (pending = not yet delivered)".into(),
            values: ["pending", "sent", "failed"]
                .into_iter()
                .map(|state| {
                    let n = outbox
                        .iter()
                        .find(|(s, _)| s == state)
                        .map_or(0, |(_, n)| *n);
                    (gauge_labels(&[("state", state)]), n as f64)
                })
                .collect(),
        },
        Gauge {
            name: "chatbot_open_handoffs".into(),
            help: "Handoffs not yet resolved, by whether an agent holds them".into(),
            values: [("waiting", false), ("claimed", true)]
                .into_iter()
                .map(|(label, claimed)| {
                    let n = waiting
                        .iter()
                        .filter(|h| h.agent.is_some() == claimed)
                        .count();
                    (gauge_labels(&[("state", label)]), n as f64)
                })
                .collect(),
        },
    ];
    let help: std::collections::BTreeMap<&str, &str> = [
        (
            "chatbot_requests_total",
            "Webhook and web chat requests by channel and status",
        ),
        (
            "chatbot_request_seconds",
            "Webhook and web chat request latency (to the answer)",
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
    ]
    .into_iter()
    .collect();
    let text = store::metrics::render(db, &help, &gauges).map_err(|e| db_error(&e))?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(text)
        .build())
}

/// The scheduled work: deliver what is due, then purge messages older than `retention_days`.
async fn maintenance(db: &SpinDb) -> Answer {
    let run = bot::deliver_due(db).await;
    let days: i64 = variable("retention_days")?
        .trim()
        .parse()
        .ok()
        .filter(|d| *d >= 0)
        .ok_or_else(|| json_error(500, "retention_days must be a whole number of days"))?;
    let cutoff = bot::now_ms() - days * 24 * 3_600_000;
    let purged = in_transaction(db, || Ok(Ok(store::privacy::purge_before(db, cutoff)?)))?;
    Ok(json(
        200,
        &serde_json::json!({
            "delivered": { "sent": run.sent, "retrying": run.retrying, "failed": run.failed },
            "purged_messages": purged,
            "retention_days": days,
        }),
    ))
}

fn inbox_page(path: &str) -> Response {
    match path {
        "/desk" | "/desk/index.html" => Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-cache")
            .body(include_str!("inbox.html"))
            .build(),
        _ => json_error(404, "not found: the inbox is at /desk/"),
    }
}

/// `Authorization: Bearer <token>`: the operator's `desk_admin_token`, or an enabled agent's.
fn authenticate(req: &Request, db: &SpinDb) -> Result<Actor, Response> {
    let given = req
        .header("authorization")
        .and_then(|v| v.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| json_error(401, "missing token: send Authorization: Bearer <token>"))?;
    let admin = variable("desk_admin_token")?;
    if !admin.is_empty() && webhook::constant_time_eq(given.as_bytes(), admin.as_bytes()) {
        return Ok(Actor {
            key: "admin".into(),
            name: "admin".into(),
            admin: true,
        });
    }
    match store::desk::agent_by_token_hash(db, &agents::token_hash(given)) {
        Ok(Some(agent)) if agent.disabled => Err(json_error(401, "this agent is disabled")),
        Ok(Some(agent)) => Ok(Actor {
            key: agent.id.to_string(),
            name: agent.name,
            admin: false,
        }),
        Ok(None) => Err(json_error(401, "invalid token")),
        Err(e) => Err(db_error(&e)),
    }
}

fn admin_only(actor: &Actor) -> Result<(), Response> {
    if actor.admin {
        Ok(())
    } else {
        Err(json_error(403, "only the admin token can do this"))
    }
}

fn db_error(e: &store::DbError) -> Response {
    eprintln!("desk: database error: {e}");
    json_error(500, "database error, please retry")
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, Response> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| json_error(400, &format!("invalid JSON body: {e}; expected {expected}")))
}

fn conversation_id(segment: &str) -> Result<i64, Response> {
    segment
        .parse::<i64>()
        .map_err(|_| json_error(404, &format!("unknown conversation {segment}")))
}

fn load_conversation(db: &SpinDb, id: i64) -> Result<store::Conversation, Response> {
    store::conversation_by_id(db, id)
        .map_err(|e| db_error(&e))?
        .ok_or_else(|| json_error(404, &format!("unknown conversation {id}")))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url_params(query).find(|(k, _)| k == name).map(|(_, v)| v)
}

fn url_params(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

fn agent_json(agent: &store::desk::Agent) -> serde_json::Value {
    serde_json::json!({
        "id": agent.id, "name": agent.name, "disabled": agent.disabled, "created_ms": agent.created_ms,
    })
}

fn list_agents(db: &SpinDb) -> Answer {
    let agents = store::desk::agents(db).map_err(|e| db_error(&e))?;
    Ok(json(
        200,
        &serde_json::json!({ "agents": agents.iter().map(agent_json).collect::<Vec<_>>() }),
    ))
}

fn create_agent(db: &SpinDb, body: &[u8]) -> Answer {
    #[derive(serde::Deserialize)]
    struct NewAgent {
        name: String,
    }
    let request: NewAgent = parse_body(body, r#"{"name": "..."}"#)?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(json_error(
            400,
            &format!("name must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| {
        eprintln!("desk: no randomness: {e}");
        json_error(500, "cannot create a token")
    })?;
    let token = agents::new_token(&random);
    let agent = store::desk::create_agent(db, name, &agents::token_hash(&token), bot::now_ms())
        .map_err(|e| db_error(&e))?;
    let mut body = agent_json(&agent);
    // Shown this once; only its hash is stored.
    body["token"] = serde_json::json!(token);
    Ok(json(201, &body))
}

fn set_disabled(db: &SpinDb, id: &str, disabled: bool) -> Answer {
    let unknown = || json_error(404, &format!("unknown agent {id}"));
    let id: i64 = id.parse().map_err(|_| unknown())?;
    let agent = store::desk::set_agent_disabled(db, id, disabled)
        .map_err(|e| db_error(&e))?
        .ok_or_else(unknown)?;
    Ok(json(200, &agent_json(&agent)))
}

fn queue(db: &SpinDb, query: &str) -> Answer {
    let language = query_param(query, "language").filter(|v| !v.is_empty());
    let channel = query_param(query, "channel").filter(|v| !v.is_empty());
    let mut open = store::desk::open_handoffs(db, language.as_deref(), channel.as_deref())
        .map_err(|e| db_error(&e))?;
    let now = bot::now_ms();
    agents::order_queue(&mut open, now);
    let item = |h: &store::desk::OpenHandoff| {
        serde_json::json!({
            "conversation_id": h.conversation_id.to_string(),
            "channel": h.channel,
            "customer_id": h.customer_id,
            "customer_name": h.customer_name,
            "language": h.language,
            "reason": h.reason,
            "priority": agents::effective_priority(h.priority, h.created_ms, now),
            "waiting_since": h.created_ms,
            "last_message": h.last_message,
            "intent": h.intent,
            "anger": h.anger,
            "agent": h.agent,
        })
    };
    let (claimed, waiting): (Vec<_>, Vec<_>) = open.iter().partition(|h| h.agent.is_some());
    Ok(json(
        200,
        &serde_json::json!({
            "items": waiting.into_iter().map(item).collect::<Vec<_>>(),
            "claimed": claimed.into_iter().map(item).collect::<Vec<_>>(),
        }),
    ))
}

fn conversation(db: &SpinDb, id: i64, query: &str) -> Answer {
    let c = load_conversation(db, id)?;
    let after = query_param(query, "after")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let messages = store::desk::transcript(db, id, after).map_err(|e| db_error(&e))?;
    let handoffs = store::desk::handoffs_of(db, id).map_err(|e| db_error(&e))?;
    Ok(json(
        200,
        &serde_json::json!({
            "conversation_id": c.id.to_string(),
            "channel": c.channel,
            "customer_id": c.customer_id,
            "customer_name": c.customer_name,
            "language": c.language,
            "status": c.status,
            "last_customer_ms": c.last_customer_ms,
            "handoffs": handoffs.iter().map(|h| serde_json::json!({
                "reason": h.reason, "priority": h.priority, "created_ms": h.created_ms,
                "claimed_ms": h.claimed_ms, "agent": h.agent, "first_reply_ms": h.first_reply_ms,
                "resolved_ms": h.resolved_ms, "note": h.note, "csat": h.csat,
            })).collect::<Vec<_>>(),
            "messages": messages.iter().map(|m| serde_json::json!({
                "id": m.id, "direction": m.direction, "author": m.author,
                "agent_name": m.agent_name, "text": m.text, "intent": m.intent,
                "confidence": m.confidence, "anger": m.anger, "language": m.language,
                "created_ms": m.created_ms,
            })).collect::<Vec<_>>(),
        }),
    ))
}

fn conflict(holder: &str) -> Response {
    json(
        409,
        &serde_json::json!({
            "error": format!("the conversation is claimed by another agent ({holder})"),
            "agent": holder,
        }),
    )
}

/// Runs `work` in one write transaction (retried while the database is busy); a database
/// error rolls back and answers 500, and so does a refusal, with its own answer.
fn in_transaction<T>(
    db: &SpinDb,
    work: impl FnMut() -> Result<Result<T, Response>, store::DbError>,
) -> Result<T, Response> {
    store::transaction_or_rollback(db, work).map_err(|e| db_error(&e))?
}

fn claim(db: &SpinDb, id: i64, actor: &Actor) -> Answer {
    load_conversation(db, id)?;
    let outcome = in_transaction(db, || {
        Ok(Ok(store::desk::claim(db, id, &actor.key, bot::now_ms())?))
    })?;
    match outcome {
        Claim::Claimed | Claim::AlreadyYours => Ok(json(
            200,
            &serde_json::json!({ "conversation_id": id.to_string(), "agent": actor.key, "status": "human" }),
        )),
        Claim::TakenBy(holder) => Err(conflict(&holder)),
    }
}

/// The conversation must be held by `actor` (agents) — an unclaimed one is claimed on the
/// way; the admin may act on any.
fn ensure_holder(
    db: &SpinDb,
    id: i64,
    actor: &Actor,
    now: i64,
) -> Result<Result<(), Response>, store::DbError> {
    Ok(match store::desk::claim(db, id, &actor.key, now)? {
        Claim::Claimed | Claim::AlreadyYours => Ok(()),
        Claim::TakenBy(_) if actor.admin => Ok(()),
        Claim::TakenBy(holder) => Err(conflict(&holder)),
    })
}

async fn send_message(db: &SpinDb, id: i64, actor: &Actor, body: &[u8]) -> Answer {
    #[derive(serde::Deserialize)]
    struct Message {
        text: String,
    }
    let request: Message = parse_body(body, r#"{"text": "..."}"#)?;
    let text = request.text.trim();
    if text.is_empty() {
        return Err(json_error(400, "text is empty"));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(json_error(
            413,
            &format!("text longer than {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    let conversation = load_conversation(db, id)?;
    let shop = bot::shop_or_500()?;
    let now = bot::now_ms();
    let since_customer = now - conversation.last_customer_ms;
    // Inside 24 h a normal reply; up to 7 days Messenger's HUMAN_AGENT tag; later it cannot
    // be delivered, which the outbox records as a failure for operators.
    let (messaging, window) = if since_customer <= bot::WINDOW_MS {
        (meta::MessengerMessaging::Response, "standard")
    } else if since_customer <= bot::HUMAN_AGENT_WINDOW_MS && conversation.channel == "messenger" {
        (meta::MessengerMessaging::HumanAgent, "human_agent")
    } else {
        (meta::MessengerMessaging::HumanAgent, "closed")
    };
    let author = format!("agent:{}", actor.key);
    let message_id = in_transaction(db, || {
        if let Err(response) = ensure_holder(db, id, actor, now)? {
            return Ok(Err(response));
        }
        let message_id = store::add_message(
            db,
            id,
            &store::NewMessage {
                direction: "out",
                author: &author,
                text,
                intent: None,
                confidence: None,
                anger: None,
                language: conversation.language.as_deref(),
            },
            now,
        )?;
        store::desk::note_agent_reply(db, id, now)?;
        let reply = replies::Reply {
            text: text.to_string(),
            buttons: Vec::new(),
        };
        bot::enqueue_replies(
            db,
            shop,
            &conversation,
            &[reply],
            conversation.language.as_deref().unwrap_or("en"),
            messaging,
            now,
        )?;
        Ok(Ok(message_id))
    })?;
    let run = bot::deliver_due(db).await;
    Ok(json(
        201,
        &serde_json::json!({
            "message_id": message_id,
            "channel": conversation.channel,
            "window": window,
            "delivered": { "sent": run.sent, "retrying": run.retrying, "failed": run.failed },
        }),
    ))
}

fn transfer(db: &SpinDb, id: i64, actor: &Actor, body: &[u8]) -> Answer {
    #[derive(serde::Deserialize)]
    struct Transfer {
        agent_id: Option<serde_json::Value>,
        #[serde(default)]
        queue: bool,
    }
    let request: Transfer = parse_body(body, r#"{"agent_id": <id>} or {"queue": true}"#)?;
    load_conversation(db, id)?;
    let to = match (&request.agent_id, request.queue) {
        (None, true) => None,
        (Some(agent), false) => {
            let agent_id = agent
                .as_i64()
                .or_else(|| agent.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| json_error(400, "agent_id must be an agent's id"))?;
            let agent = store::desk::agent_by_id(db, agent_id)
                .map_err(|e| db_error(&e))?
                .ok_or_else(|| json_error(404, &format!("unknown agent {agent_id}")))?;
            if agent.disabled {
                return Err(json_error(400, &format!("agent {agent_id} is disabled")));
            }
            Some(agent.id.to_string())
        }
        _ => {
            return Err(json_error(
                400,
                r#"give exactly one of {"agent_id": <id>} or {"queue": true}"#,
            ));
        }
    };
    let now = bot::now_ms();
    in_transaction(db, || {
        match store::desk::holder(db, id)? {
            None => return Ok(Err(json_error(409, "the conversation is not handed off"))),
            Some(Some(holder)) if holder != actor.key && !actor.admin => {
                return Ok(Err(conflict(&holder)));
            }
            _ => {}
        }
        store::desk::transfer(db, id, to.as_deref(), now)?;
        Ok(Ok(()))
    })?;
    Ok(json(
        200,
        &serde_json::json!({
            "conversation_id": id.to_string(),
            "agent": to,
            "status": if to.is_some() { "human" } else { "queued" },
        }),
    ))
}

async fn resolve(db: &SpinDb, id: i64, actor: &Actor, body: &[u8]) -> Answer {
    #[derive(serde::Deserialize)]
    struct Resolve {
        note: Option<String>,
    }
    let request: Resolve = parse_body(body, r#"{"note"?: "..."}"#)?;
    let conversation = load_conversation(db, id)?;
    let shop = bot::shop_or_500()?;
    let now = bot::now_ms();
    let lang = match conversation.language.as_deref() {
        Some("hu") => policy::Lang::Hu,
        Some("pl") => policy::Lang::Pl,
        _ => policy::Lang::En,
    };
    let prompt = replies::rating_prompt(&shop.faq, lang);
    in_transaction(db, || {
        match store::desk::holder(db, id)? {
            None => return Ok(Err(json_error(409, "the conversation is not handed off"))),
            Some(Some(holder)) if holder != actor.key && !actor.admin => {
                return Ok(Err(conflict(&holder)));
            }
            Some(None) if !actor.admin => {
                return Ok(Err(json_error(
                    409,
                    "claim the conversation before resolving it",
                )));
            }
            _ => {}
        }
        store::desk::resolve(db, id, request.note.as_deref(), now)?;
        bot::add_bot_message(db, id, &prompt.text, lang, now)?;
        bot::enqueue_replies(
            db,
            shop,
            &conversation,
            std::slice::from_ref(&prompt),
            replies::language_code(lang),
            meta::MessengerMessaging::Response,
            now,
        )?;
        Ok(Ok(()))
    })?;
    bot::deliver_due(db).await;
    Ok(json(
        200,
        &serde_json::json!({ "conversation_id": id.to_string(), "status": "bot", "rating_requested": true }),
    ))
}

/// A `from`/`to` bound: milliseconds since the epoch, or a UTC date `YYYY-MM-DD`.
fn parse_bound(name: &str, value: &str) -> Result<i64, Response> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            json_error(
                400,
                &format!("{name}: expected milliseconds since the epoch or YYYY-MM-DD"),
            )
        })
}

fn stats(db: &SpinDb, query: &str) -> Answer {
    let now = bot::now_ms();
    let from = match query_param(query, "from").filter(|v| !v.is_empty()) {
        Some(v) => parse_bound("from", &v)?,
        None => now - 30 * 24 * 3_600_000,
    };
    let to = match query_param(query, "to").filter(|v| !v.is_empty()) {
        Some(v) => parse_bound("to", &v)?,
        None => now + 1,
    };
    if from >= to {
        return Err(json_error(400, "from must be before to"));
    }
    let (conversations, handoffs) =
        store::desk::kpi_facts(db, from, to).map_err(|e| db_error(&e))?;
    let mut body = agents::kpis(&conversations, &handoffs);
    body["from_ms"] = serde_json::json!(from);
    body["to_ms"] = serde_json::json!(to);
    Ok(json(200, &body))
}

/// Outbox counts by state and the rows that failed or wait for a retry, for operators.
fn outbox_body(db: &SpinDb) -> serde_json::Value {
    let counts = store::outbox_counts(db).unwrap_or_default();
    let problems = store::outbox_problems(db, OUTBOX_PROBLEMS_SHOWN).unwrap_or_default();
    serde_json::json!({
        "counts": counts
            .into_iter()
            .map(|(state, n)| (state, serde_json::json!(n)))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "problems": problems.iter().map(|p| serde_json::json!({
            "id": p.id,
            "conversation_id": p.conversation_id.to_string(),
            "channel": p.channel,
            "state": p.state,
            "attempts": p.attempts,
            "last_error": p.last_error,
            "next_attempt_ms": p.next_attempt_ms,
            "created_ms": p.created_ms,
        })).collect::<Vec<_>>(),
    })
}
