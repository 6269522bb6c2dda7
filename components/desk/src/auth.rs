//! Who is calling: `Authorization: Bearer <token>` is the operator's `desk_admin_token`
//! (compared in constant time) or an enabled agent's own token (only its SHA-256 is stored).

use component_shell::bot::SpinDb;
use component_shell::{json_error, variable};
use conversation::desk::Actor;
use spin_sdk::http::{Request, Response};

/// The caller: who they are to the conversation core, and their name.
pub struct Caller {
    /// The core's actor (its key is stored on claims and messages).
    pub actor: Actor,
    /// The agent's name (`admin` for the operator).
    pub name: String,
}

/// Authenticates the request; failed attempts are limited per client address
/// (`desk_login_failures_per_minute`): over the limit every attempt from it gets 429 until
/// the minute ends.
///
/// # Errors
///
/// 401 for a missing, wrong or disabled agent's token; 429 over the limit; 500 for a
/// database error.
pub fn authenticate(req: &Request, db: &SpinDb) -> Result<Caller, Response> {
    let per_minute = component_shell::per_minute("desk_login_failures_per_minute")?;
    let key = format!("login:{}", component_shell::client_address(req)?);
    let now = component_shell::bot::now_ms();
    component_shell::within_limits(conversation::limits::reached(db, &key, per_minute, now))?;
    let verdict = check_token(req, db);
    if verdict
        .as_ref()
        .is_err_and(|response| *response.status() == 401)
    {
        component_shell::within_limits(conversation::limits::count(db, &[(&key, i64::MAX)], now))?;
    }
    verdict
}

fn check_token(req: &Request, db: &SpinDb) -> Result<Caller, Response> {
    let given = req
        .header("authorization")
        .and_then(|v| v.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| json_error(401, "missing token: send Authorization: Bearer <token>"))?;
    let admin = variable("desk_admin_token")?;
    if !admin.is_empty() && webhook::constant_time_eq(given.as_bytes(), admin.as_bytes()) {
        return Ok(Caller {
            actor: Actor {
                key: "admin".into(),
                admin: true,
            },
            name: "admin".into(),
        });
    }
    match store::desk::agent_by_token_hash(db, &agents::token_hash(given)) {
        Ok(Some(agent)) if agent.disabled => Err(json_error(401, "this agent is disabled")),
        Ok(Some(agent)) => Ok(Caller {
            actor: Actor {
                key: agent.id.to_string(),
                admin: false,
            },
            name: agent.name,
        }),
        Ok(None) => Err(json_error(401, "invalid token")),
        Err(e) => Err(crate::database_error(&e)),
    }
}

/// Only the operator may do this.
///
/// # Errors
///
/// 403 for an agent.
pub fn admin_only(caller: &Caller) -> Result<(), Response> {
    if caller.actor.admin {
        Ok(())
    } else {
        Err(json_error(403, "only the admin token can do this"))
    }
}
