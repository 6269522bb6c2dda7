//! The agents' desk: the JSON API under `/api/desk/` and the inbox page under `/desk/`.
//! The logic lives in Spin-free crates (`conversation::desk` for the operations,
//! `store::desk` for the state, `agents` for tokens, queue order and KPIs); this shell
//! authenticates ([`auth`]), routes (here), calls them ([`conversations`], [`operations`])
//! and answers JSON ([`views`]).
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod conversations;
mod operations;
mod views;

use auth::{Caller, admin_only, authenticate};
use component_shell::bot::{self, SpinDb};
use component_shell::{json, json_error};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// A handler's answer: the response, or the error response to send instead.
type Answer = Result<Response, Response>;

/// The Spin entry point. The SDK's export macro expands to `unsafe` ABI glue; our own code
/// is not (the workspace denies `unsafe_code`).
#[allow(unsafe_code)]
mod entry {
    use super::*;

    #[http_component]
    async fn handle(incoming: spin_sdk::http::IncomingRequest) -> Response {
        match component_shell::read_request(incoming).await {
            Ok(req) => serve(req).await,
            Err(response) => response,
        }
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
    let caller = match authenticate(&req, &db) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if path == "/metrics" {
        return admin_only(&caller)
            .and_then(|()| operations::metrics(&db))
            .unwrap_or_else(|response| response);
    }
    let segments: Vec<&str> = path
        .trim_start_matches("/api/desk")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    route(&req, &db, &caller, &segments)
        .await
        .unwrap_or_else(|response| response)
}

/// The API's routes.
async fn route(req: &Request, db: &SpinDb, caller: &Caller, segments: &[&str]) -> Answer {
    use conversations as c;
    use operations as o;
    let (body, query) = (req.body(), req.query());
    let admin = || admin_only(caller);
    match (req.method(), segments) {
        (Method::Get, ["me"]) => Ok(json(
            200,
            &serde_json::json!({ "key": caller.actor.key, "name": caller.name, "admin": caller.actor.admin }),
        )),
        // Every agent may see who to transfer to; tokens are never shown.
        (Method::Get, ["agents"]) => c::list_agents(db),
        (Method::Post, ["agents"]) => admin().and_then(|()| c::create_agent(db, body)),
        (Method::Post, ["agents", id, action @ ("disable" | "enable")]) => {
            admin().and_then(|()| c::set_disabled(db, id, *action == "disable"))
        }
        (Method::Get, ["queue"]) => c::queue(db, query),
        (Method::Get, ["conversations", id]) => c::conversation(db, id, query, caller),
        (Method::Post, ["conversations", id, "claim"]) => c::claim(db, id, caller),
        (Method::Post, ["conversations", id, "messages"]) => c::reply(db, id, caller, body).await,
        (Method::Post, ["conversations", id, "transfer"]) => c::transfer(db, id, caller, body),
        (Method::Post, ["conversations", id, "resolve"]) => c::resolve(db, id, caller, body).await,
        (Method::Get, ["stats"]) => c::stats(db, query),
        (Method::Get, ["conversations", id, "customer"]) => c::customer_panel(db, id, caller),
        (Method::Put, ["conversations", id, "customer"]) => {
            c::annotate_customer(db, id, caller, body)
        }
        (Method::Post, ["conversations", id, "customer", "links"]) => {
            c::link_customer(db, id, caller, body)
        }
        (Method::Delete, ["conversations", id, "customer", "links", channel, customer]) => {
            c::unlink_customer(db, id, caller, channel, &decode(customer))
        }
        (Method::Get, ["saved-replies"]) => c::saved_replies(db),
        (Method::Post, ["saved-replies"]) => {
            admin().and_then(|()| c::save_reply(db, None, req.body()))
        }
        (Method::Put, ["saved-replies", id]) => {
            admin().and_then(|()| c::save_reply(db, Some(id), req.body()))
        }
        (Method::Delete, ["saved-replies", id]) => admin().and_then(|()| c::delete_reply(db, id)),
        (Method::Get, ["learning"]) => c::uncertain(db, caller, query),
        (Method::Post, ["learning", id]) => c::label(db, id, caller, body),
        (Method::Get, ["crisis"]) => o::crisis(db),
        (Method::Put | Method::Post, ["crisis"]) => {
            admin().and_then(|()| o::set_crisis(db, caller, body))
        }
        (Method::Get, ["customers", channel, customer, "export"]) => {
            admin().and_then(|()| o::export(db, caller, channel, &decode(customer)))
        }
        (Method::Delete, ["customers", channel, customer]) => {
            admin().and_then(|()| o::erase(db, caller, channel, &decode(customer)))
        }
        (Method::Get, ["erasure-requests"]) => admin().and_then(|()| o::erasure_requests(db)),
        (Method::Post, ["erasure-requests", id, "confirm"]) => {
            admin().and_then(|()| o::confirm_erasure(db, caller, id))
        }
        (Method::Get, ["audit"]) => admin().and_then(|()| o::audit(db)),
        (Method::Post, ["maintenance"]) => {
            admin()?;
            o::maintenance(db).await
        }
        (Method::Get, ["outbox"]) => admin().and_then(|()| o::outbox(db)),
        (Method::Post, ["outbox", "deliver"]) => {
            admin()?;
            o::deliver(db).await
        }
        (Method::Post, ["outbox", "requeue"]) => admin().and_then(|()| o::requeue(db, req.body())),
        _ => Err(json_error(
            404,
            &format!("no desk route {} {}", req.method(), req.path()),
        )),
    }
}

fn inbox_page(path: &str) -> Response {
    match path {
        "/desk" | "/desk/index.html" => {
            component_shell::page("text/html; charset=utf-8", include_str!("inbox.html"))
        }
        "/desk/inbox.js" => {
            component_shell::page("text/javascript; charset=utf-8", include_str!("inbox.js"))
        }
        "/desk/inbox.css" => {
            component_shell::page("text/css; charset=utf-8", include_str!("inbox.css"))
        }
        _ => json_error(404, "not found: the inbox is at /desk/"),
    }
}

/// A path segment with `%XX` escapes decoded (customer ids may contain `+` or spaces).
fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| segment.to_string(), |(_, v)| v.into_owned())
}

/// A 500 for a database error (logged, never shown).
fn database_error(e: &store::DbError) -> Response {
    eprintln!("desk: database error: {e}");
    json_error(500, "database error, please retry")
}

/// The answer to a failed operation of the conversation core.
fn refused(e: conversation::desk::Error) -> Response {
    use conversation::desk::{Error, Refusal};
    match e {
        Error::Database(e) => database_error(&e),
        Error::Refused(refusal) => {
            let message = refusal.to_string();
            match refusal {
                Refusal::NotFound(_) => json_error(404, &message),
                Refusal::HeldBy(holder) => json(
                    409,
                    &serde_json::json!({ "error": message, "agent": holder }),
                ),
                Refusal::NotHandedOff
                | Refusal::ClaimFirst
                | Refusal::WindowClosed(_)
                | Refusal::Duplicate(_) => json_error(409, &message),
                Refusal::Invalid(_) => json_error(400, &message),
                Refusal::NotYours => json_error(403, &message),
            }
        }
    }
}

/// A request body refused by its parser ([`conversation::requests`]).
fn bad_request(e: conversation::requests::BadRequest) -> Response {
    json_error(e.status, &e.message)
}

/// A query parameter (empty counts as absent).
fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// A query parameter parsed, 400 naming it when it does not parse.
fn parsed_param<T: std::str::FromStr>(query: &str, name: &str) -> Result<Option<T>, Response>
where
    T::Err: std::fmt::Display,
{
    query_param(query, name)
        .map(|value| {
            value
                .parse()
                .map_err(|e| json_error(400, &format!("{name}: {e}")))
        })
        .transpose()
}
