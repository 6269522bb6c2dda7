//! Support for the end-to-end tests: the app under test, started from a command template
//! (the local host by default, `spin up` or any other runtime through `APP_CMD`) or reached
//! at `APP_URL`; a fake Graph API; a small HTTP client; and the suite's test registry.
//!
//! ```text
//! cargo test --release -p e2e                      # the local host (default template)
//! APP_CMD='../shared/tools/spin/spin up --from {MANIFEST} --listen {LISTEN}' \
//!     cargo test --release -p e2e                  # real Spin
//! APP_URL=https://staging.example cargo test --release -p e2e   # a running deployment
//! ```
//!
//! See [`Launcher`] for the placeholders and what the suite passes to every app it starts.
//! Tests never assume which runtime they talk to.

mod app;
mod graph;
mod host;
mod suite;

pub use app::{App, AppProcess, ChatVisitor, Launcher};
pub use graph::{FakeGraph, GraphRequest};
pub use host::{HostOptions, HostProcess, host_binary};
pub use suite::{Needs, Test, run_suite};

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The compiled-component cache the tests share, so each host start does not recompile the
/// (large) nlu component.
pub fn shared_cache_dir() -> PathBuf {
    workspace_root()
        .join("target")
        .join("test-state")
        .join("cache")
}

/// A fresh directory under the target dir for one test's state.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = workspace_root()
        .join("target")
        .join("test-state")
        .join(format!("{name}-{}", unique()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub(crate) fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A response: status and body text.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body as text.
    pub body: String,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

impl Reply {
    /// The `Retry-After` header in seconds (0 when absent or not a number).
    pub fn retry_after_s(&self) -> i64 {
        self.retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

pub(crate) fn finish(result: Result<ureq::Response, ureq::Error>) -> Reply {
    try_finish(result).unwrap_or_else(|e| panic!("request failed: {e}"))
}

fn try_finish(result: Result<ureq::Response, ureq::Error>) -> Result<Reply, String> {
    match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => {
            let status = response.status();
            let retry_after = response.header("retry-after").map(str::to_string);
            let body = response.into_string().unwrap_or_default();
            Ok(Reply {
                status,
                body,
                retry_after,
            })
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `GET url`.
pub fn get(url: &str) -> Reply {
    finish(agent().get(url).call())
}

/// `POST url` with a body and headers.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    try_post(url, headers, body).unwrap_or_else(|e| panic!("request failed: {e}"))
}

/// As [`post`], with a failed connection (a server that died or is not there) as an error.
///
/// # Errors
///
/// The transport error.
pub fn try_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply, String> {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    try_finish(request.send_bytes(body))
}

/// Waits, if needed, until the clock minute has at least 20 s left: tests of per-minute
/// limits then run inside one counting window.
pub fn early_in_a_minute() {
    let into_minute = now_ms() % 60_000;
    if into_minute > 40_000 {
        std::thread::sleep(Duration::from_millis(60_000 - into_minute + 100));
    }
}

/// Now, in milliseconds since the epoch (events must be recent, or the 24-hour window
/// forbids replies).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A Messenger webhook body with one message event (`message` gets the `mid`).
pub fn messenger_message(
    psid: &str,
    mid: &str,
    message: serde_json::Value,
    timestamp: u64,
) -> String {
    let mut message = message;
    message["mid"] = serde_json::json!(mid);
    serde_json::json!({
        "object": "page",
        "entry": [{ "id": "PAGE", "time": timestamp, "messaging": [{
            "sender": { "id": psid }, "recipient": { "id": "PAGE" }, "timestamp": timestamp,
            "message": message
        }]}]
    })
    .to_string()
}

/// The shop's FAQ and config as the components embed them (`models/faq/shop.toml`,
/// `config/shop.toml`), for the texts tests expect.
pub fn shop() -> replies::Shop {
    let root = workspace_root();
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_default();
    replies::Shop::load(&read("models/faq/shop.toml"), &read("config/shop.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A Messenger webhook body with one text message sent now.
pub fn messenger_text(psid: &str, mid: &str, text: &str) -> String {
    messenger_message(psid, mid, serde_json::json!({ "text": text }), now_ms())
}

/// A WhatsApp webhook body with one text message from `from` (profile name `name`) sent now,
/// to the phone number id `PNID`.
pub fn whatsapp_text(id: &str, from: &str, name: &str, text: &str) -> String {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "3612345678", "phone_number_id": "PNID" },
            "contacts": [{ "profile": { "name": name }, "wa_id": from }],
            "messages": [{ "from": from, "id": id, "timestamp": (now_ms() / 1000).to_string(), "type": "text", "text": { "body": text } }]
        }}]}]
    })
    .to_string()
}

/// `DELETE url` with `Authorization: Bearer token`.
pub fn delete(url: &str, token: &str) -> Reply {
    finish(
        agent()
            .delete(url)
            .set("authorization", &format!("Bearer {token}"))
            .call(),
    )
}

/// A real Spin binary, if one is found: `SPIN_BIN`, `spin` on `PATH`, or the shared one at
/// `../shared/tools/spin/spin` beside the workspace (the order `scripts/test` uses).
pub fn spin_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SPIN_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("spin"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let shared = workspace_root().join("../shared/tools/spin/spin");
        shared.is_file().then_some(shared)
    })
}

/// The Chromium the browser test drives (`CHROMIUM`, default Debian's `/usr/bin/chromium`).
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Why the browser test cannot run here (Chromium or playwright-core missing), if so.
pub fn browser_missing() -> Option<String> {
    let chromium = chromium();
    let driver = workspace_root().join("tests/browser/node_modules/playwright-core");
    (!chromium.exists() || !driver.exists()).then(|| {
        format!(
            "!!! BROWSER TEST NOT RUN: Chromium ({}) or playwright-core ({}) is missing; run scripts/setup (it installs Debian's chromium and the npm packages)",
            chromium.display(),
            driver.display()
        )
    })
}

/// POSTs `body` to `url` over a raw connection, with a
/// `content-length` or, when `chunked`, with chunked transfer encoding and no length, and
/// returns the status the server answered. The response is read while the body is still being
/// written, since a server may answer (413) and close before it has read everything; the
/// write then fails, which is expected.
///
/// # Errors
///
/// No HTTP status came back.
pub fn post_streaming(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunked: bool,
) -> Result<u16, String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = std::net::TcpStream::connect(authority).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut reader = stream.try_clone().map_err(|e| e.to_string())?;
    let response = std::thread::spawn(move || {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
            if received.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        received
    });
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&if chunked {
        "transfer-encoding: chunked\r\n\r\n".to_string()
    } else {
        format!("content-length: {}\r\n\r\n", body.len())
    });
    let mut write = || -> std::io::Result<()> {
        stream.write_all(head.as_bytes())?;
        for chunk in body.chunks(64 * 1024) {
            if chunked {
                stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            }
            stream.write_all(chunk)?;
            if chunked {
                stream.write_all(b"\r\n")?;
            }
        }
        if chunked {
            stream.write_all(b"0\r\n\r\n")?;
        }
        Ok(())
    };
    // A failed write means the server stopped reading: its answer says why.
    let _ = write();
    let received = response.join().map_err(|_| "reader panicked")?;
    let text = String::from_utf8_lossy(&received);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no HTTP status in the answer: {text:?}"))
}

/// POSTs `count` signed Messenger FAQ questions from `count` new customers to the app at
/// `base_url`, all at once, and checks what a customer and Meta would see: every webhook
/// answered 200, and every customer answered exactly once (nothing lost, nothing twice) at
/// `graph` within 60 s. `tag` keeps customer ids apart between runs on one database.
///
/// # Panics
///
/// When any of that does not hold.
pub fn concurrent_webhooks_are_answered_exactly_once(
    base_url: &str,
    app_secret: &str,
    graph: &FakeGraph,
    count: usize,
    tag: &str,
) {
    let checker = webhook::SignatureChecker::new(app_secret.as_bytes());
    let url = format!("{base_url}/webhooks/messenger");
    let before = graph.requests().len();
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|i| {
                let (checker, url) = (&checker, &url);
                scope.spawn(move || {
                    let body = messenger_text(
                        &format!("PSID-{tag}-{i}"),
                        &format!("m.{tag}.{i}"),
                        "What is your return policy?",
                    );
                    let signature = checker.sign(body.as_bytes());
                    let reply = post(
                        url,
                        &[
                            ("content-type", "application/json"),
                            ("x-hub-signature-256", &signature),
                        ],
                        body.as_bytes(),
                    );
                    (reply.status, reply.body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((0, "the client thread panicked".into())))
            .collect()
    });
    let failed: Vec<&(u16, String)> = statuses.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {count} webhooks were not answered 200: {failed:?}",
        failed.len()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while graph.requests().len() < before + count && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Time for a duplicate to show up.
    std::thread::sleep(Duration::from_secs(2));
    let prefix = format!("PSID-{tag}-");
    let recipients: Vec<String> = graph
        .recipients()
        .into_iter()
        .filter(|r| r.starts_with(&prefix))
        .collect();
    let mut expected: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    expected.sort();
    let lost: Vec<&String> = expected
        .iter()
        .filter(|e| !recipients.contains(e))
        .collect();
    let mut twice = recipients.clone();
    twice.dedup();
    assert!(
        lost.is_empty() && twice.len() == recipients.len(),
        "every customer answered exactly once: {} lost {lost:?}, {} answered twice",
        lost.len(),
        recipients.len() - twice.len()
    );
}
