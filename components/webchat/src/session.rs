//! Who is chatting: the session the server issued on the visitor's first message
//! ([`conversation::webchat`]), presented as `Authorization: Bearer chat_…` on every later
//! call. A customer id alone opens nothing.

use component_shell::bot::SpinDb;
use component_shell::json_error;
use spin_sdk::http::{Request, Response};

/// The visitor of a call: their customer id, and the token when this call started the session
/// (sent back once).
pub struct Visitor {
    pub customer_id: String,
    pub new_token: Option<String>,
}

/// The request's bearer token, if it sends one.
pub fn bearer(req: &Request) -> Option<String> {
    req.header("authorization")
        .and_then(|v| v.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
}

/// The customer a token stands for: 401 for a token the server did not issue.
pub fn known(db: &SpinDb, token: &str) -> Result<String, Response> {
    match conversation::webchat::customer_of(db, token) {
        Ok(Some(customer_id)) => Ok(customer_id),
        Ok(None) => Err(json_error(
            401,
            "unknown chat session: start a new chat by sending a message without one",
        )),
        Err(e) => {
            eprintln!("webchat: cannot read a session: {e}");
            Err(json_error(500, "could not read the session, please retry"))
        }
    }
}

/// The visitor of a message: the session's, or a new session if the call presents none.
pub fn visitor(db: &SpinDb, token: Option<&str>, now_ms: i64) -> Result<Visitor, Response> {
    if let Some(token) = token {
        return Ok(Visitor {
            customer_id: known(db, token)?,
            new_token: None,
        });
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| {
        eprintln!("webchat: no randomness: {e}");
        json_error(500, "cannot start a chat session, please retry")
    })?;
    let session = conversation::webchat::start_session(db, &random, now_ms).map_err(|e| {
        eprintln!("webchat: cannot store a session: {e}");
        json_error(500, "cannot start a chat session, please retry")
    })?;
    Ok(Visitor {
        customer_id: session.customer_id,
        new_token: Some(session.token),
    })
}

/// Counts a request from `address` (`chat_address_requests_per_minute`): 429 over the limit.
pub fn limit_address(db: &SpinDb, address: &str) -> Result<(), Response> {
    let per_minute = component_shell::per_minute("chat_address_requests_per_minute")?;
    component_shell::within_limits(conversation::limits::count(
        db,
        &[(&format!("chat-addr:{address}"), per_minute)],
        component_shell::bot::now_ms(),
    ))
}

/// Counts a message of the visitor (`chat_messages_per_minute`): 429 over the limit.
pub fn limit_messages(db: &SpinDb, customer_id: &str) -> Result<(), Response> {
    let per_minute = component_shell::per_minute("chat_messages_per_minute")?;
    component_shell::within_limits(conversation::limits::count(
        db,
        &[(&format!("chat:{customer_id}"), per_minute)],
        component_shell::bot::now_ms(),
    ))
}
