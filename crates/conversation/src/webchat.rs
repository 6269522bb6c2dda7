//! The web chat visitor's identity, issued by the server: the first message of a visitor
//! starts a session with a random token (256 bits from the host's random source) that the
//! page keeps and presents with every later call. Only the token's SHA-256 is stored, with the
//! customer id it stands for; a customer id alone opens nothing, and a token the server did
//! not issue is refused.

use sha2::{Digest, Sha256};
use store::{Database, DbError};

/// How a session token starts (so it is recognizable in a leaked log or config).
pub const TOKEN_PREFIX: &str = "chat_";

/// A new session: the token for the visitor (shown once) and their customer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Sent back with every later call (`Authorization: Bearer <token>`).
    pub token: String,
    /// The conversation's customer id (`web-` and 24 hex digits, derived from the token's
    /// hash in a separate domain, so it reveals nothing about the token).
    pub customer_id: String,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Starts a session from 32 random bytes.
///
/// # Errors
///
/// A database error.
pub fn start_session(
    db: &impl Database,
    random: &[u8; 32],
    now_ms: i64,
) -> Result<Session, DbError> {
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(random));
    let customer = sha256_hex(&format!("customer:{token}"));
    let session = Session {
        customer_id: format!("web-{}", &customer[..24]),
        token,
    };
    store::create_web_session(
        db,
        &sha256_hex(&session.token),
        &session.customer_id,
        now_ms,
    )?;
    Ok(session)
}

/// The customer id of the session `token` opens, or `None` for a token the server did not
/// issue (or whose customer was erased).
///
/// # Errors
///
/// A database error.
pub fn customer_of(db: &impl Database, token: &str) -> Result<Option<String>, DbError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    store::web_session_customer(db, &sha256_hex(token))
}
