//! A local stand-in for Meta's Graph API that records what the app sends.

use std::time::Duration;

/// One request the fake Graph API received.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    /// `POST`, ...
    pub method: String,
    /// Path and query, e.g. `/v25.0/me/messages`.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: serde_json::Value,
    /// When it arrived.
    pub received: std::time::Instant,
    /// The status it was answered with.
    pub status: u16,
}

/// A local stand-in for the Graph API: records every request and answers with the status set
/// by [`FakeGraph::set_down`], else the statuses queued by [`FakeGraph::fail_next`], else 200
/// `{"message_id": ...}`.
pub struct FakeGraph {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<GraphRequest>>>,
    failures: std::sync::Arc<std::sync::Mutex<Vec<u16>>>,
    down: std::sync::Arc<std::sync::Mutex<Option<u16>>>,
    delay: std::sync::Arc<std::sync::Mutex<Duration>>,
    responded: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeGraph {
    /// Starts the fake on a free port; it lives as long as the test process.
    pub fn start() -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("fake Graph API binds");
        let base_url = format!("http://{}", server.server_addr());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let failures = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u16>::new()));
        let delay = std::sync::Arc::new(std::sync::Mutex::new(Duration::ZERO));
        let responded = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let down = std::sync::Arc::new(std::sync::Mutex::new(None::<u16>));
        let (seen, queued, slow, answered, outage) = (
            requests.clone(),
            failures.clone(),
            delay.clone(),
            responded.clone(),
            down.clone(),
        );
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let received = std::time::Instant::now();
                let pause = *slow.lock().unwrap_or_else(|e| e.into_inner());
                std::thread::sleep(pause);
                let mut body = String::new();
                let _ = std::io::Read::read_to_string(request.as_reader(), &mut body);
                let authorization = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("authorization"))
                    .map(|h| h.value.to_string());
                let status = {
                    let mut queued = queued.lock().unwrap_or_else(|e| e.into_inner());
                    match *outage.lock().unwrap_or_else(|e| e.into_inner()) {
                        Some(status) => status,
                        None if queued.is_empty() => 200,
                        None => queued.remove(0),
                    }
                };
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(GraphRequest {
                        method: request.method().to_string(),
                        path: request.url().to_string(),
                        authorization,
                        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                        received,
                        status,
                    });
                let reply = if status == 200 {
                    r#"{"message_id":"mid.fake"}"#
                } else {
                    r#"{"error":{"message":"fake failure"}}"#
                };
                let _ = request
                    .respond(tiny_http::Response::from_string(reply).with_status_code(status));
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Self {
            base_url,
            requests,
            failures,
            down,
            delay,
            responded,
        }
    }

    /// Answers every request with `status` (an outage) until set back to `None`.
    pub fn set_down(&self, status: Option<u16>) {
        *self.down.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// The Messenger recipients of the requests answered 200 (what reached customers),
    /// sorted.
    pub fn delivered_recipients(&self) -> Vec<String> {
        let mut recipients: Vec<String> = self
            .requests()
            .iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.body["recipient"]["id"].as_str().map(str::to_string))
            .collect();
        recipients.sort();
        recipients
    }

    /// How many requests have been answered so far.
    pub fn responded(&self) -> usize {
        self.responded.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes every later answer wait this long (a Graph API that hangs).
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// Answers the next requests with these statuses.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(statuses);
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<GraphRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The Messenger recipients of everything received so far, sorted.
    pub fn recipients(&self) -> Vec<String> {
        let mut recipients: Vec<String> = self
            .requests()
            .iter()
            .map(|r| {
                r.body["recipient"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        recipients.sort();
        recipients
    }

    /// Waits until at least `n` requests arrived (up to 10 s) and returns them.
    pub fn wait_for(&self, n: usize) -> Vec<GraphRequest> {
        self.wait_for_within(n, Duration::from_secs(10))
    }

    /// Waits until `n` requests arrived or `limit` passed, and returns what arrived.
    pub fn wait_for_within(&self, n: usize, limit: Duration) -> Vec<GraphRequest> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.requests()
    }
}
