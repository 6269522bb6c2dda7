//! The agents' routes: agents, the queue, a conversation's transcript, claim, reply,
//! transfer, resolve, and the KPIs.

use crate::auth::Caller;
use crate::{Answer, bad_request, database_error, parsed_param, query_param, refused, views};
use component_shell::bot::{self, SpinDb};
use component_shell::delivery;
use component_shell::{json, json_error};
use conversation::customers;
use conversation::desk;
use conversation::requests;
use spin_sdk::http::Response;
use vocab::window::Window;

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

/// The customer panel of a conversation.
pub fn customer_panel(db: &SpinDb, id: &str, caller: &Caller) -> Answer {
    let id = conversation_id(id)?;
    let panel = customers::panel(db, id, &caller.actor).map_err(refused)?;
    Ok(json(200, &views::panel(&panel)))
}

/// Sets the customer's notes and tags.
pub fn annotate_customer(db: &SpinDb, id: &str, caller: &Caller, body: &[u8]) -> Answer {
    let id = conversation_id(id)?;
    let (notes, tags) = requests::customer_notes(body).map_err(bad_request)?;
    let panel = customers::annotate(db, id, &caller.actor, &notes, &tags, bot::now_ms())
        .map_err(refused)?;
    Ok(json(200, &views::panel(&panel)))
}

/// Links another identity (a customer known on some channel) to the conversation's customer.
pub fn link_customer(db: &SpinDb, id: &str, caller: &Caller, body: &[u8]) -> Answer {
    let id = conversation_id(id)?;
    let other = requests::identity(body).map_err(bad_request)?;
    let subject = crate::operations::subject(other.channel, &other.customer_id)?;
    let panel =
        customers::link(db, id, &caller.actor, &other, &subject, bot::now_ms()).map_err(refused)?;
    Ok(json(200, &views::panel(&panel)))
}

/// Takes an identity out of the conversation's customer.
pub fn unlink_customer(
    db: &SpinDb,
    id: &str,
    caller: &Caller,
    channel: &str,
    customer: &str,
) -> Answer {
    let id = conversation_id(id)?;
    let channel = channel
        .parse::<vocab::Channel>()
        .map_err(|e| json_error(404, &e.to_string()))?;
    let other = store::customers::Identity {
        channel,
        customer_id: customer.to_string(),
    };
    let subject = crate::operations::subject(other.channel, &other.customer_id)?;
    let panel = customers::unlink(db, id, &caller.actor, &other, &subject, bot::now_ms())
        .map_err(refused)?;
    Ok(json(200, &views::panel(&panel)))
}

/// The saved replies, each with its text filled from the shop's facts (`rendered`).
pub fn saved_replies(db: &SpinDb) -> Answer {
    let shop = bot::shop_or_500()?;
    let replies = desk::saved_replies(db, shop).map_err(refused)?;
    Ok(json(
        200,
        &serde_json::json!({ "items": replies.iter().map(views::saved_reply).collect::<Vec<_>>() }),
    ))
}

/// Creates (`id` `None`, 201) or changes (200) a saved reply.
pub fn save_reply(db: &SpinDb, id: Option<&str>, body: &[u8]) -> Answer {
    let id = id.map(saved_reply_id).transpose()?;
    let reply = requests::saved_reply(body).map_err(bad_request)?;
    let shop = bot::shop_or_500()?;
    let saved = desk::save_reply(db, shop, id, &reply, bot::now_ms()).map_err(refused)?;
    let status = if id.is_some() { 200 } else { 201 };
    Ok(json(status, &views::saved_reply(&saved)))
}

pub fn delete_reply(db: &SpinDb, id: &str) -> Answer {
    desk::delete_reply(db, saved_reply_id(id)?).map_err(refused)?;
    Ok(json(200, &serde_json::json!({ "deleted": id })))
}

fn saved_reply_id(segment: &str) -> Result<i64, Response> {
    segment
        .parse::<i64>()
        .map_err(|_| json_error(404, &format!("unknown saved reply {segment}")))
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
    let item = |h: &store::desk::OpenHandoff| -> Result<serde_json::Value, Response> {
        let mut item =
            views::queue_item(h, agents::effective_priority(h.priority, h.created_ms, now));
        // A public comment: a link to its post, to read it in context.
        if h.channel.is_comments() {
            let comment =
                store::comments::latest(db, h.conversation_id).map_err(|e| database_error(&e))?;
            item["permalink"] = serde_json::json!(comment.and_then(|c| c.permalink));
        }
        Ok(item)
    };
    let (claimed, waiting): (Vec<_>, Vec<_>) = open.iter().partition(|h| h.agent.is_some());
    Ok(json(
        200,
        &serde_json::json!({
            "items": waiting.into_iter().map(item).collect::<Result<Vec<_>, _>>()?,
            "claimed": claimed.into_iter().map(item).collect::<Result<Vec<_>, _>>()?,
        }),
    ))
}

pub fn conversation(db: &SpinDb, id: &str, query: &str, caller: &Caller) -> Answer {
    let id = conversation_id(id)?;
    let c = desk::readable(db, id, &caller.actor).map_err(refused)?;
    let after = parsed_param::<i64>(query, "after")?.unwrap_or(0);
    let messages = store::desk::transcript(db, id, after).map_err(|e| database_error(&e))?;
    let handoffs = store::desk::handoffs_of(db, id).map_err(|e| database_error(&e))?;
    let mut body = views::conversation(&c, &handoffs, &messages);
    // What an agent's reply would be sent as now (the messaging window, WhatsApp templates).
    let now = bot::now_ms();
    let how = desk::outgoing(db, bot::shop_or_500()?, &c, desk::Purpose::AgentReply, now)
        .map_err(refused)?;
    body["window"] = Window::at(c.channel, c.last_customer_ms, now)
        .as_str()
        .into();
    body["reply_as"] = views::outgoing(&how);
    // A comment conversation: the comment an agent's reply answers, with its post's link.
    if c.channel.is_comments()
        && let Some(comment) = store::comments::latest(db, c.id).map_err(|e| database_error(&e))?
    {
        body["comment"] = serde_json::json!({
            "comment_id": comment.comment_id, "post_id": comment.post_id,
            "permalink": comment.permalink, "created_ms": comment.created_ms,
            "private_reply_ms": comment.private_reply_ms,
        });
    }
    Ok(json(200, &body))
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
            "sent_as": views::outgoing(&sent.sent_as),
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

/// Resolves the conversation; the customer is asked for a rating right away when the
/// channel allows it (`rating_sent_as` says how, or why not).
pub async fn resolve(db: &SpinDb, id: &str, caller: &Caller, body: &[u8]) -> Answer {
    let id = conversation_id(id)?;
    let note = requests::resolve_note(body).map_err(bad_request)?;
    let (shop, settings) = (bot::shop_or_500()?, bot::settings()?);
    let rating = desk::resolve(db, shop, id, &caller.actor, note.as_deref(), bot::now_ms())
        .map_err(refused)?;
    delivery::deliver_due(db, &settings).await;
    Ok(json(
        200,
        &serde_json::json!({
            "conversation_id": id.to_string(),
            "status": "bot",
            "rating_requested": !matches!(rating, desk::Outgoing::Nothing(_)),
            "rating_sent_as": views::outgoing(&rating),
        }),
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
    // Public comments: how many came, how many the bot or an agent answered privately, how
    // many got the public reply (time to first response is by_channel's).
    let comments = store::comments::counts(db, from, to).map_err(|e| database_error(&e))?;
    body["comments"] = serde_json::json!({
        "total": comments.total,
        "answered_privately": comments.private,
        "share_answered_privately": (comments.total > 0).then(|| comments.private as f64 / comments.total as f64),
        "answered_publicly": comments.public,
    });
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
