//! The agents' routes: agents, the queue, a conversation's transcript, claim, reply,
//! transfer, resolve, and the KPIs.

use crate::auth::Caller;
use crate::{Answer, bad_request, database_error, parsed_param, query_param, refused, views};
use component_shell::bot::{self, SpinDb};
use component_shell::delivery;
use component_shell::{json, json_error};
use conversation::desk;
use conversation::requests;
use spin_sdk::http::Response;

/// A conversation id from the path (404 when it is not one).
fn conversation_id(segment: &str) -> Result<i64, Response> {
    segment
        .parse::<i64>()
        .map_err(|_| json_error(404, &format!("unknown conversation {segment}")))
}

pub fn list_agents(db: &SpinDb) -> Answer {
    let agents = store::desk::agents(db).map_err(|e| database_error(&e))?;
    Ok(json(
        200,
        &serde_json::json!({ "agents": agents.iter().map(views::agent).collect::<Vec<_>>() }),
    ))
}

pub fn create_agent(db: &SpinDb, body: &[u8]) -> Answer {
    let name = requests::agent_name(body).map_err(bad_request)?;
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| {
        eprintln!("desk: no randomness: {e}");
        json_error(500, "cannot create a token")
    })?;
    let token = agents::new_token(&random);
    let agent = store::desk::create_agent(db, &name, &agents::token_hash(&token), bot::now_ms())
        .map_err(|e| database_error(&e))?;
    let mut body = views::agent(&agent);
    // Shown this once; only its hash is stored.
    body["token"] = serde_json::json!(token);
    Ok(json(201, &body))
}

pub fn set_disabled(db: &SpinDb, id: &str, disabled: bool) -> Answer {
    let unknown = || json_error(404, &format!("unknown agent {id}"));
    let id: i64 = id.parse().map_err(|_| unknown())?;
    let agent = desk::set_agent_disabled(db, id, disabled)
        .map_err(refused)?
        .ok_or_else(unknown)?;
    Ok(json(200, &views::agent(&agent)))
}

pub fn queue(db: &SpinDb, query: &str) -> Answer {
    let language = parsed_param(query, "language")?;
    let channel = parsed_param(query, "channel")?;
    let mut open =
        store::desk::open_handoffs(db, language, channel).map_err(|e| database_error(&e))?;
    let now = bot::now_ms();
    agents::order_queue(&mut open, now);
    let item = |h: &store::desk::OpenHandoff| {
        views::queue_item(h, agents::effective_priority(h.priority, h.created_ms, now))
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

pub fn conversation(db: &SpinDb, id: &str, query: &str, caller: &Caller) -> Answer {
    let id = conversation_id(id)?;
    let c = desk::readable(db, id, &caller.actor).map_err(refused)?;
    let after = parsed_param::<i64>(query, "after")?.unwrap_or(0);
    let messages = store::desk::transcript(db, id, after).map_err(|e| database_error(&e))?;
    let handoffs = store::desk::handoffs_of(db, id).map_err(|e| database_error(&e))?;
    Ok(json(200, &views::conversation(&c, &handoffs, &messages)))
}

pub fn claim(db: &SpinDb, id: &str, caller: &Caller) -> Answer {
    let id = conversation_id(id)?;
    desk::claim(db, id, &caller.actor, bot::now_ms()).map_err(refused)?;
    Ok(json(
        200,
        &serde_json::json!({ "conversation_id": id.to_string(), "agent": caller.actor.key, "status": "human" }),
    ))
}

/// An agent's message to the customer: stored, queued, and sent right away.
pub async fn reply(db: &SpinDb, id: &str, caller: &Caller, body: &[u8]) -> Answer {
    let id = conversation_id(id)?;
    let text = requests::agent_message(body).map_err(bad_request)?;
    let (shop, settings) = (bot::shop_or_500()?, bot::settings()?);
    let sent = desk::reply(db, shop, id, &caller.actor, &text, bot::now_ms()).map_err(refused)?;
    let run = delivery::deliver_due(db, &settings).await;
    Ok(json(
        201,
        &serde_json::json!({
            "message_id": sent.message_id,
            "channel": sent.channel,
            "window": sent.window.as_str(),
            "delivered": { "sent": run.sent, "retrying": run.retrying, "failed": run.failed },
        }),
    ))
}

pub fn transfer(db: &SpinDb, id: &str, caller: &Caller, body: &[u8]) -> Answer {
    let id = conversation_id(id)?;
    let to = requests::transfer(body).map_err(bad_request)?;
    let holder = desk::transfer(db, id, &caller.actor, to, bot::now_ms()).map_err(refused)?;
    Ok(json(
        200,
        &serde_json::json!({
            "conversation_id": id.to_string(),
            "agent": holder,
            "status": if holder.is_some() { "human" } else { "queued" },
        }),
    ))
}

/// Resolves the conversation; the customer is asked for a rating right away.
pub async fn resolve(db: &SpinDb, id: &str, caller: &Caller, body: &[u8]) -> Answer {
    let id = conversation_id(id)?;
    let note = requests::resolve_note(body).map_err(bad_request)?;
    let (shop, settings) = (bot::shop_or_500()?, bot::settings()?);
    desk::resolve(db, shop, id, &caller.actor, note.as_deref(), bot::now_ms()).map_err(refused)?;
    delivery::deliver_due(db, &settings).await;
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

pub fn stats(db: &SpinDb, query: &str) -> Answer {
    let now = bot::now_ms();
    let from = match query_param(query, "from") {
        Some(v) => parse_bound("from", &v)?,
        None => now - 30 * 24 * 3_600_000,
    };
    let to = match query_param(query, "to") {
        Some(v) => parse_bound("to", &v)?,
        None => now + 1,
    };
    if from >= to {
        return Err(json_error(400, "from must be before to"));
    }
    let (conversations, handoffs) =
        store::desk::kpi_facts(db, from, to).map_err(|e| database_error(&e))?;
    let mut body = agents::kpis(&conversations, &handoffs);
    body["from_ms"] = serde_json::json!(from);
    body["to_ms"] = serde_json::json!(to);
    Ok(json(200, &body))
}

/// The intents the shipped model knows (`out_of_scope` included): what an agent may label a
/// message with.
fn known_intents() -> Result<&'static [String], Response> {
    static KNOWN: std::sync::OnceLock<Result<Vec<String>, String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            serde_json::from_str(include_str!("../../../models/shop/labels.json"))
                .map_err(|e| e.to_string())
        })
        .as_deref()
        .map_err(|e| {
            eprintln!("desk: models/shop/labels.json does not parse: {e}");
            json_error(500, "the model's intents are unreadable")
        })
}

/// The learning loop's list: customer texts the model was unsure about, newest first, with
/// the intents they may be labeled with.
pub fn uncertain(db: &SpinDb, caller: &Caller, query: &str) -> Answer {
    let limit = parsed_param::<i64>(query, "limit")?.unwrap_or(100);
    let items = desk::uncertain(db, &caller.actor, limit).map_err(refused)?;
    Ok(json(
        200,
        &serde_json::json!({
            "items": items.iter().map(views::uncertain).collect::<Vec<_>>(),
            "intents": known_intents()?,
        }),
    ))
}

/// An agent's label for a customer message: the intent it really had.
pub fn label(db: &SpinDb, id: &str, caller: &Caller, body: &[u8]) -> Answer {
    let message_id = id
        .parse::<i64>()
        .map_err(|_| json_error(404, &format!("unknown customer message {id}")))?;
    let intent = requests::intent_label(body).map_err(bad_request)?;
    desk::label(
        db,
        &caller.actor,
        message_id,
        &intent,
        known_intents()?,
        bot::now_ms(),
    )
    .map_err(refused)?;
    Ok(json(
        200,
        &serde_json::json!({ "message_id": message_id.to_string(), "intent": intent }),
    ))
}
