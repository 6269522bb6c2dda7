//! Web chat: `POST /api/chat` answers with the same policy and state as the Meta channels,
//! synchronously; `GET /chat` serves a small page to try the bot by hand.

use component_shell::bot;
use component_shell::{json, json_error};
use serde::Deserialize;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use store::Database;

/// The longest message accepted, in characters.
const MAX_TEXT_CHARS: usize = 4000;

#[derive(Deserialize)]
struct ChatRequest {
    conversation_id: Option<String>,
    customer_id: String,
    text: String,
    /// The payload of an option the customer picked (`text` is then its title).
    payload: Option<String>,
}

#[http_component]
async fn handle(incoming: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    use spin_sdk::http::conversions::TryFromIncomingRequest;

    let req = match Request::try_from_incoming_request(incoming).await {
        Ok(req) => req,
        Err(_) => {
            let response = json_error(400, "cannot read the request");
            return component_shell::send_response(out, response).await;
        }
    };
    let started = std::time::Instant::now();
    let response = route(&req);
    let status = *response.status();
    let chat = *req.method() == Method::Post;
    component_shell::send_response(out, response).await;
    // After answering: metrics, then deliver what is due (a new handoff's notification,
    // earlier retries).
    if chat && let Ok(db) = bot::open_db() {
        bot::record_request(&db, "webchat", status, started.elapsed().as_secs_f64());
        if status == 200 {
            bot::deliver_due(&db).await;
        }
    }
}

fn route(req: &Request) -> Response {
    match (req.method(), req.path()) {
        (Method::Get, "/chat") => Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .body(include_str!("chat.html"))
            .build(),
        (Method::Post, "/api/chat") => chat(req.body()),
        (Method::Get, "/api/chat") => since(req.query()),
        _ => json_error(
            405,
            "use POST /api/chat, GET /api/chat?conversation_id=&customer_id=&after= (or GET /chat for the page)",
        ),
    }
}

/// What the bot and agents said in a web chat conversation after message id `after`: how
/// the page receives an agent's replies and the rating question after a handoff.
fn since(query: &str) -> Response {
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    let (Some(id), Some(customer_id)) = (params.get("conversation_id"), params.get("customer_id"))
    else {
        return json_error(400, "conversation_id and customer_id are required");
    };
    let after = params
        .get("after")
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or(0);
    let db = match bot::open_db() {
        Ok(db) => db,
        Err(response) => return response,
    };
    let conversation = id
        .parse::<i64>()
        .ok()
        .map(|id| store::conversation_by_id(&db, id));
    match conversation {
        Some(Ok(Some(c))) if c.channel == "webchat" && &c.customer_id == customer_id => {
            match store::desk::transcript(&db, c.id, after) {
                Ok(messages) => json(
                    200,
                    &serde_json::json!({
                        "status": c.status,
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
        Some(Err(e)) => {
            eprintln!("webchat: cannot read the conversation: {e}");
            json_error(500, "could not read the conversation, please retry")
        }
        _ => json_error(404, "unknown conversation_id for this customer_id"),
    }
}

fn chat(body: &[u8]) -> Response {
    let request: ChatRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                400,
                &format!(
                    "invalid request: {e}; expected {{\"customer_id\", \"text\", \"conversation_id\"?, \"payload\"?}}"
                ),
            );
        }
    };
    let customer_id = request.customer_id.trim();
    if customer_id.is_empty() || customer_id.len() > 200 {
        return json_error(400, "customer_id must be 1 to 200 characters");
    }
    if request.text.trim().is_empty() {
        return json_error(400, "text is empty");
    }
    if request.text.chars().count() > MAX_TEXT_CHARS {
        return json_error(
            413,
            &format!("text longer than {MAX_TEXT_CHARS} characters"),
        );
    }
    let shop = match bot::shop_or_500() {
        Ok(shop) => shop,
        Err(response) => return response,
    };
    let db = match bot::open_db() {
        Ok(db) => db,
        Err(response) => return response,
    };
    let kind = match &request.payload {
        Some(payload) => meta::EventKind::Payload {
            payload: payload.clone(),
            title: Some(request.text.clone()),
        },
        None => meta::EventKind::Text(request.text.clone()),
    };
    let analysis = bot::analyze_event(&kind);
    let now = bot::now_ms();
    let result = (|| -> Result<Result<serde_json::Value, Response>, store::DbError> {
        db.execute("BEGIN IMMEDIATE", &[])?;
        let mut conversation = match &request.conversation_id {
            Some(id) => {
                let found = id
                    .parse::<i64>()
                    .ok()
                    .map(|id| store::conversation_by_id(&db, id))
                    .transpose()?
                    .flatten();
                match found {
                    Some(c) if c.channel == "webchat" && c.customer_id == customer_id => c,
                    _ => {
                        db.execute("ROLLBACK", &[])?;
                        return Ok(Err(json_error(
                            404,
                            "unknown conversation_id for this customer_id",
                        )));
                    }
                }
            }
            None => store::touch_conversation(&db, "webchat", customer_id, "web", None, now)?,
        };
        let turn = bot::converse(&db, shop, &mut conversation, &kind, analysis, now)?;
        db.execute("COMMIT", &[])?;
        let top = turn
            .analysis
            .as_ref()
            .and_then(|a| a.intents.first().cloned());
        let last_message_id = store::desk::last_message_id(&db, conversation.id)?;
        Ok(Ok(serde_json::json!({
            "conversation_id": conversation.id.to_string(),
            "last_message_id": last_message_id,
            "replies": turn.replies.iter().map(|r| {
                let mut reply = serde_json::json!({ "text": r.text });
                if !r.buttons.is_empty() {
                    reply["options"] = r.buttons.iter().map(|b| serde_json::json!({ "payload": b.payload, "title": b.title })).collect();
                }
                reply
            }).collect::<Vec<_>>(),
            "language": conversation.language,
            "intent": top.as_ref().map(|(i, _)| i.clone()),
            "confidence": top.as_ref().map(|(_, c)| *c),
            "handoff": matches!(turn.decision.action, policy::Action::Handoff { .. }),
        })))
    })();
    match result {
        Ok(Ok(body)) => json(200, &body),
        Ok(Err(response)) => response,
        Err(e) => {
            let _ = db.execute("ROLLBACK", &[]);
            eprintln!("webchat: could not store the message: {e}");
            json_error(500, "could not store the message, please retry")
        }
    }
}
