//! Web chat: `POST /api/chat` answers with the same policy and state as the Meta channels,
//! synchronously; `GET /chat` serves a small page to try the bot by hand. A visitor is known
//! by the session the server issues on their first message ([`session`]).
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod session;

use component_shell::bot::{self, SpinDb};
use component_shell::{json, json_error};
use spin_sdk::http::{Method, Response};
use spin_sdk::http_component;

/// The Spin entry point. The SDK's export macro expands to `unsafe` ABI glue; our own code
/// is not (the workspace denies `unsafe_code`).
#[allow(unsafe_code)]
mod entry {
    use super::*;

    #[http_component]
    async fn handle(
        incoming: spin_sdk::http::IncomingRequest,
        out: spin_sdk::http::ResponseOutparam,
    ) {
        let started = std::time::Instant::now();
        let req = match component_shell::read_request(incoming).await {
            Ok(req) => req,
            Err(response) => return component_shell::send_response(out, response).await,
        };
        let token = session::bearer(&req);
        let (response, stored) = match (req.method(), req.path()) {
            (method @ (Method::Post | Method::Get), "/api/chat") => {
                match component_shell::client_address(&req) {
                    Err(response) => (response, None),
                    Ok(address) if *method == Method::Post => {
                        chat(token.as_deref(), &address, req.body(), started)
                    }
                    Ok(address) => (since(token.as_deref(), &address, req.query()), None),
                }
            }
            (method, path) => (route(method, path), None),
        };
        component_shell::send_response(out, response).await;
        // After answering: a new handoff's notification, then anything else due (earlier
        // retries). A refused message wrote nothing and sends nothing.
        if let Some((db, settings)) = stored {
            component_shell::delivery::deliver_due_and_heal(&db, &settings).await;
        }
    }
}

fn route(method: &Method, path: &str) -> Response {
    match (method, path) {
        (Method::Get, "/chat") => {
            component_shell::page("text/html; charset=utf-8", include_str!("chat.html"))
        }
        (Method::Get, "/chat/chat.js") => {
            component_shell::page("text/javascript; charset=utf-8", include_str!("chat.js"))
        }
        (Method::Get, "/chat/chat.css") => {
            component_shell::page("text/css; charset=utf-8", include_str!("chat.css"))
        }
        (Method::Get, _) => json_error(404, "not found: the chat page is at /chat"),
        _ => json_error(
            405,
            "use POST /api/chat, GET /api/chat?conversation_id=&after= (with the session), or GET /chat for the page",
        ),
    }
}

/// What the bot and agents said in a web chat conversation after message id `after`: how
/// the page receives an agent's replies and the rating question after a handoff.
fn since(token: Option<&str>, address: &str, query: &str) -> Response {
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    let Some(token) = token else {
        return json_error(
            401,
            "send the chat session: Authorization: Bearer <session>",
        );
    };
    let Some(id) = params.get("conversation_id") else {
        return json_error(400, "conversation_id is required");
    };
    // Bad numbers are the caller's mistake: 400, never a silent 0.
    let after = match params.get("after").map(|a| a.parse::<i64>()) {
        None => 0,
        Some(Ok(after)) => after,
        Some(Err(_)) => return json_error(400, "after must be a message id (a number)"),
    };
    let Ok(id) = id.parse::<i64>() else {
        return json_error(400, "conversation_id must be a number");
    };
    let db = match bot::open_db() {
        Ok(db) => db,
        Err(response) => return response,
    };
    if let Err(response) = session::limit_address(&db, address) {
        return response;
    }
    let customer_id = match session::known(&db, token) {
        Ok(customer_id) => customer_id,
        Err(response) => return response,
    };
    match store::conversation_by_id(&db, id) {
        Ok(Some(c)) if c.channel == vocab::Channel::WebChat && c.customer_id == customer_id => {
            match store::desk::transcript(&db, c.id, after) {
                Ok(messages) => json(
                    200,
                    &serde_json::json!({
                        "status": c.status.as_str(),
                        "messages": messages.iter().filter(|m| m.direction == "out").map(|m| serde_json::json!({
                            "id": m.id,
                            "author": if m.author.starts_with("agent:") { "agent" } else { "bot" },
                            "agent_name": m.agent_name,
                            "text": m.text,
                            "created_ms": m.created_ms,
                        })).collect::<Vec<_>>(),
                        "last_message_id": messages.last().map_or(after, |m| m.id),
                    }),
                ),
                Err(e) => {
                    eprintln!("webchat: cannot read the transcript: {e}");
                    json_error(500, "could not read the conversation, please retry")
                }
            }
        }
        Err(e) => {
            eprintln!("webchat: cannot read the conversation: {e}");
            json_error(500, "could not read the conversation, please retry")
        }
        _ => json_error(404, "unknown conversation_id for this session"),
    }
}

/// A chat message answered: the response, and the database and settings when the message
/// was stored (to deliver what is due after the answer, such as a handoff's notification).
type Answered = (Response, Option<(SpinDb, bot::Settings)>);

fn chat(token: Option<&str>, address: &str, body: &[u8], started: std::time::Instant) -> Answered {
    let request = match conversation::requests::chat_message(body) {
        Ok(request) => request,
        Err(e) => return (json_error(e.status, &e.message), None),
    };
    let ready = bot::shop_or_500().and_then(|shop| Ok((shop, bot::settings()?, bot::open_db()?)));
    let (shop, settings, db) = match ready {
        Ok(ready) => ready,
        Err(response) => return (response, None),
    };
    // Abuse limits, per client address (before a session is started) and per visitor.
    if let Err(response) = session::limit_address(&db, address) {
        return (response, None);
    }
    let visitor = match session::visitor(&db, token, bot::now_ms()) {
        Ok(visitor) => visitor,
        Err(response) => return (response, None),
    };
    if let Err(response) = session::limit_messages(&db, &visitor.customer_id) {
        return (response, None);
    }
    match converse(
        &db,
        shop,
        &settings,
        &request,
        &visitor.customer_id,
        started,
    ) {
        Ok(Ok(mut body)) => {
            body["customer_id"] = visitor.customer_id.into();
            if let Some(token) = visitor.new_token {
                // Shown this once; the page keeps it and sends it with every later call.
                body["session"] = token.into();
            }
            (json(200, &body), Some((db, settings)))
        }
        Ok(Err(response)) => (response, None),
        Err(e) => {
            eprintln!("webchat: could not store the message: {e}");
            (
                json_error(500, "could not store the message, please retry"),
                None,
            )
        }
    }
}

/// One web chat message, decided and stored by the conversation core; the answer reports
/// what the write returned, so it is never lost after the message was stored. A handoff's
/// notification is queued for any sender (delivered after the answer).
fn converse(
    db: &SpinDb,
    shop: &'static replies::Shop,
    settings: &bot::Settings,
    request: &conversation::requests::ChatMessage,
    customer_id: &str,
    started: std::time::Instant,
) -> Result<Result<serde_json::Value, Response>, store::DbError> {
    let kind = &request.kind;
    let mut metrics = store::metrics::Batch::default();
    let analysis = match bot::analyze_event(kind, &mut metrics) {
        Ok(analysis) => analysis,
        Err(e) => return Err(store::DbError::new(format!("the NLU failed: {e}"))),
    };
    bot::count_request(
        &mut metrics,
        "webchat",
        200,
        started.elapsed().as_secs_f64(),
    );
    let now = bot::now_ms();
    let inbound = conversation::message::Inbound {
        channel: vocab::Channel::WebChat,
        message_id: None,
        customer_id,
        business_id: "web",
        customer_name: None,
        customer_ms: now,
        kind,
        claimed_conversation: request.conversation_id,
        comment: None,
    };
    let outcome = conversation::message::handle(
        db,
        shop,
        &settings.conversation,
        &inbound,
        analysis.as_ref(),
        &metrics,
        now,
    )?;
    let (plan, stored) = match outcome.handled {
        conversation::message::Handled::Stored(plan, stored) => (plan, stored),
        conversation::message::Handled::UnknownConversation => {
            return Ok(Err(json_error(
                404,
                "unknown conversation_id for this session",
            )));
        }
        conversation::message::Handled::Redelivery => {
            return Err(store::DbError::new(
                "a web chat message has no id to be delivered twice by",
            ));
        }
    };
    Ok(Ok(answer_json(&plan, &stored)))
}

/// The web chat's answer: the bot's replies with their options, and what it understood.
fn answer_json(
    plan: &conversation::message::Plan,
    stored: &store::turn::Stored,
) -> serde_json::Value {
    let top = plan
        .analysis
        .as_ref()
        .and_then(|a| a.intents.first().cloned());
    serde_json::json!({
        "conversation_id": stored.conversation_id.to_string(),
        "last_message_id": stored.last_message_id,
        "replies": plan.replies.iter().map(|r| {
            let mut reply = serde_json::json!({ "text": r.text });
            if !r.buttons.is_empty() {
                reply["options"] = r.buttons.iter().map(|b| serde_json::json!({ "payload": b.payload, "title": b.title })).collect();
            }
            reply
        }).collect::<Vec<_>>(),
        "language": plan.state.language.map(vocab::Lang::as_str),
        "intent": top.as_ref().map(|(i, _)| i.clone()),
        "confidence": top.as_ref().map(|(_, c)| *c),
        "handoff": matches!(plan.decision.action, policy::Action::Handoff { .. }),
    })
}
