//! Abuse limits that hold across instances: requests are counted in the database per key
//! (a web chat session, a client address, failed desk logins from an address) and
//! one-minute window; over the limit, the caller is told to come back when the window ends
//! (HTTP 429 with `Retry-After`).

use store::{Database, DbError};

/// The length of a counting window.
pub const WINDOW_MS: i64 = 60_000;

/// Whether a request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within every limit.
    Allowed,
    /// Over a limit: retry after this many seconds (the end of the window, at least 1).
    Limited {
        /// Seconds until the window ends.
        retry_after_s: i64,
    },
}

fn window_start(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(WINDOW_MS)
}

fn limited(now_ms: i64) -> Verdict {
    let left_ms = window_start(now_ms) + WINDOW_MS - now_ms;
    Verdict::Limited {
        retry_after_s: (left_ms + 999) / 1000,
    }
}

/// Counts one request against each `(key, per_minute)` limit, in one statement: limited if
/// any count is over its limit.
///
/// # Errors
///
/// A database error.
pub fn count(db: &impl Database, limits: &[(&str, i64)], now_ms: i64) -> Result<Verdict, DbError> {
    let keys: Vec<&str> = limits.iter().map(|(key, _)| *key).collect();
    let counts = store::count_requests(db, &keys, window_start(now_ms))?;
    let over = counts
        .iter()
        .zip(limits)
        .any(|(count, (_, per_minute))| count > per_minute);
    Ok(if over {
        limited(now_ms)
    } else {
        Verdict::Allowed
    })
}

/// Whether `key` has already reached `per_minute` in this window, without counting (for
/// failed logins: checked before the attempt, counted only when it fails).
///
/// # Errors
///
/// A database error.
pub fn reached(
    db: &impl Database,
    key: &str,
    per_minute: i64,
    now_ms: i64,
) -> Result<Verdict, DbError> {
    let count = store::requests_counted(db, key, window_start(now_ms))?;
    Ok(if count >= per_minute {
        limited(now_ms)
    } else {
        Verdict::Allowed
    })
}

/// The client's address: the first `X-Forwarded-For` entry when the deployment says its
/// proxy sets it (`trust_forwarded_for`), else the runtime's peer address (`spin-client-addr`,
/// without the port).
pub fn client_address(
    client_addr: Option<&str>,
    forwarded_for: Option<&str>,
    trust_forwarded_for: bool,
) -> String {
    if trust_forwarded_for
        && let Some(first) = forwarded_for
            .and_then(|f| f.split(',').next())
            .map(str::trim)
            .filter(|f| !f.is_empty())
    {
        return first.to_string();
    }
    let addr = client_addr.unwrap_or("unknown");
    match addr.parse::<std::net::SocketAddr>() {
        Ok(socket) => socket.ip().to_string(),
        Err(_) => addr.to_string(),
    }
}
