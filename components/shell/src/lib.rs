//! Spin glue shared by the component shells.
//!
//! The logic lives in Spin-free crates under `crates/`; this crate only adapts it to
//! spin-sdk: JSON error bodies, reading variables, the webhook route (handshake + signature)
//! and the `chatbot:nlu` import that channel components are composed with.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use spin_sdk::http::{IncomingRequest, Method, Request, Response};
use webhook::{SIGNATURE_HEADER, SignatureChecker, verify_subscription};

pub mod bot;
pub mod db;
pub mod delivery;

/// Bindings for the `chatbot:nlu/analyzer` import, satisfied by the `nlu` component
/// through `[component.<name>.dependencies]`. The generated ABI glue is `unsafe`; our own
/// code is not (the workspace denies `unsafe_code`).
#[allow(unsafe_code)]
pub mod nlu {
    wit_bindgen::generate!({
        world: "channel",
        path: "../../wit",
    });
    pub use chatbot::nlu::analyzer::*;
}

/// The headers every page and its assets carry: a strict Content-Security-Policy (scripts,
/// styles and requests only from the app itself, no inline script or style, no framing),
/// no MIME sniffing, no referrer.
pub const PAGE_SECURITY_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// A static page or asset (`content_type`) with [`PAGE_SECURITY_HEADERS`].
pub fn page(content_type: &str, body: &'static str) -> Response {
    let mut response = Response::builder();
    response
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "no-cache");
    for (name, value) in PAGE_SECURITY_HEADERS {
        response.header(name, value);
    }
    response.body(body).build()
}

/// Sends `response` through the outparam and finishes its body, so the client has its answer
/// while the component goes on (for example delivering replies).
pub async fn send_response(out: spin_sdk::http::ResponseOutparam, response: Response) {
    use spin_sdk::http::{Fields, OutgoingResponse};
    let headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(*response.status());
    let body = response.into_body();
    if let Err(e) = out.set_with_body(outgoing, body).await {
        eprintln!("could not write the response body: {e:?}");
    }
}

/// The largest request body any component accepts: Meta's webhook deliveries and the desk's
/// and web chat's JSON are far smaller. Enforced by the components themselves, since a
/// runtime need not impose one (`spin up` does not).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads an incoming request, its body capped at [`MAX_BODY_BYTES`]: a declared
/// `content-length` over the cap is refused before reading anything, and a body that grows
/// over it (chunked, or lying about its length) is refused as soon as it does, so a large
/// body is never buffered whole.
///
/// # Errors
///
/// The response to send instead: 413 for a body over the cap, 400 for one that cannot be
/// read.
pub async fn read_request(incoming: IncomingRequest) -> Result<Request, Response> {
    use futures::StreamExt;
    let too_large = || {
        json_error(
            413,
            &format!("request body larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    let headers = incoming.headers();
    let declared = headers
        .get("content-length")
        .first()
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut request = Request::builder();
    request
        .method(incoming.method())
        .uri(incoming.uri())
        .headers(headers);
    let mut body = Vec::new();
    let mut chunks = incoming.into_body_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            json_error(
                400,
                &format!("cannot read the request body: {}", e.to_debug_string()),
            )
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(request.body(body).build())
}

/// A JSON response: `{"error": message}` with the given status.
pub fn json_error(status: u16, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// A JSON response with the given status and body.
pub fn json(status: u16, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// Reads a Spin variable, turning a missing one into a 500 with a clear message (the
/// manifest declares every variable, so this only happens on a broken deployment).
pub fn variable(name: &str) -> Result<String, Response> {
    spin_sdk::variables::get(name).map_err(|e| {
        eprintln!("variable {name} unavailable: {e}");
        json_error(
            500,
            &format!("server misconfigured: variable {name} unavailable"),
        )
    })
}

/// A per-minute limit from a Spin variable: a whole number of requests, at least 1.
///
/// # Errors
///
/// 500 naming the variable when it is unavailable or not such a number.
pub fn per_minute(name: &str) -> Result<i64, Response> {
    variable(name)?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            eprintln!("variable {name} is not a whole number of requests per minute (at least 1)");
            json_error(
                500,
                &format!("server misconfigured: {name} must be a whole number, at least 1"),
            )
        })
}

/// The client's address for abuse limits: the runtime's peer address, or the first
/// `X-Forwarded-For` entry when `trust_forwarded_for` is `true` (behind a proxy that sets it).
///
/// # Errors
///
/// 500 when the variable is unavailable.
pub fn client_address(req: &Request) -> Result<String, Response> {
    let trust = variable("trust_forwarded_for")?.trim() == "true";
    let header = |name: &str| req.header(name).and_then(|v| v.as_str());
    Ok(conversation::limits::client_address(
        header("spin-client-addr"),
        header("x-forwarded-for"),
        trust,
    ))
}

/// Answers 429 with `Retry-After` when `verdict` is over a limit; a database error is a 500.
///
/// # Errors
///
/// The 429 or 500 to send instead.
pub fn within_limits(
    verdict: Result<conversation::limits::Verdict, store::DbError>,
) -> Result<(), Response> {
    match verdict {
        Ok(conversation::limits::Verdict::Allowed) => Ok(()),
        Ok(conversation::limits::Verdict::Limited { retry_after_s }) => Err(Response::builder()
            .status(429)
            .header("content-type", "application/json")
            .header("retry-after", retry_after_s.to_string())
            .body(
                serde_json::json!({
                    "error": format!("too many requests: try again in {retry_after_s} s")
                })
                .to_string(),
            )
            .build()),
        Err(e) => {
            eprintln!("limits: cannot count a request: {e}");
            Err(json_error(
                500,
                "could not check the request rate, please retry",
            ))
        }
    }
}

/// The Meta webhook gate: answers the GET handshake and refuses anything unsigned, returning
/// `Ok(body)` only for a POST whose signature matches.
///
/// # Errors
///
/// The response to send instead (the handshake's answer, 403, 405, or 500).
pub fn verified_body(req: &Request) -> Result<&[u8], Response> {
    match req.method() {
        Method::Get => {
            let token = variable("meta_verify_token")?;
            Err(match verify_subscription(req.query(), &token) {
                Ok(challenge) => Response::builder()
                    .status(200)
                    .header("content-type", "text/plain")
                    .body(challenge)
                    .build(),
                Err(e) => json_error(403, &e.to_string()),
            })
        }
        Method::Post => {
            let secret = variable("meta_app_secret")?;
            if secret.is_empty() {
                // An HMAC keyed with "" is no check at all: refuse to serve instead.
                eprintln!("webhook: meta_app_secret is empty; set it to the Meta app secret");
                return Err(json_error(
                    500,
                    "server misconfigured: meta_app_secret is empty",
                ));
            }
            let header = req.header(SIGNATURE_HEADER).and_then(|v| v.as_str());
            match SignatureChecker::new(secret.as_bytes()).verify(header, req.body()) {
                Ok(()) => Ok(req.body()),
                Err(e) => Err(json_error(403, &e.to_string())),
            }
        }
        _ => Err(json_error(
            405,
            "method not allowed: use GET for verification or POST for events",
        )),
    }
}
