//! Support for the end-to-end tests: a running app to talk to, and a small HTTP client.
//!
//! The suite runs against `APP_URL` when it is set (for example an app under `spin up`
//! elsewhere, started with the same variables), and otherwise starts the local host on the
//! project's spin.toml itself. Tests never assume which of the two they talk to.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The local host binary built by `cargo build --release -p host`.
pub fn host_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("release").join("host")
}

/// A local host process, killed when dropped. Its stderr (the request log) goes to a file.
pub struct HostProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Where the host's stderr is written.
    pub log_path: PathBuf,
}

/// What to start a local host with.
pub struct HostOptions<'a> {
    /// The host binary.
    pub binary: PathBuf,
    /// The manifest to serve.
    pub manifest: PathBuf,
    /// The state directory (SQLite files, compiled-component cache).
    pub state_dir: PathBuf,
    /// Extra arguments after `up`.
    pub args: Vec<String>,
    /// The compiled-component cache; `None` keeps it in the state directory.
    pub cache_dir: Option<PathBuf>,
    /// Environment variables (e.g. `SPIN_VARIABLE_*`).
    pub env: Vec<(&'a str, String)>,
}

impl HostProcess {
    /// Starts a host on a free port and waits until it serves.
    ///
    /// # Errors
    ///
    /// The host exits before serving; the error carries its log.
    pub fn start(options: HostOptions<'_>) -> Result<Self, String> {
        std::fs::create_dir_all(&options.state_dir).map_err(|e| e.to_string())?;
        let log_path = options.state_dir.join(format!("host-{}.log", unique()));
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let mut command = Command::new(&options.binary);
        command
            .arg("up")
            .arg("-f")
            .arg(&options.manifest)
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&options.state_dir)
            .args(
                options
                    .cache_dir
                    .iter()
                    .flat_map(|dir| [std::ffi::OsStr::new("--cache-dir"), dir.as_os_str()]),
            )
            .args(&options.args)
            .env_remove("RUST_BACKTRACE")
            .stdout(Stdio::piped())
            .stderr(log);
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", options.binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("Serving ") {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let status = child.wait().map_err(|e| e.to_string())?;
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    return Err(format!("host exited ({status}) before serving:\n{log}"));
                }
            }
        };
        // Keep draining stdout so the host never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            base_url,
            log_path,
        })
    }

    /// Everything the host has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the host and waits for it to exit.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn unique() -> String {
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
}

impl Reply {
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

fn finish(result: Result<ureq::Response, ureq::Error>) -> Reply {
    match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => {
            let status = response.status();
            let body = response.into_string().unwrap_or_default();
            Reply { status, body }
        }
        Err(e) => panic!("request failed: {e}"),
    }
}

/// `GET url`.
pub fn get(url: &str) -> Reply {
    finish(agent().get(url).call())
}

/// `POST url` with a body and headers.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    finish(request.send_bytes(body))
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

/// The app under test for the end-to-end suite.
pub struct App {
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// The `meta_app_secret` the app was started with.
    pub app_secret: String,
    /// The `meta_verify_token` the app was started with.
    pub verify_token: String,
    /// The `desk_admin_token` the app was started with.
    pub admin_token: String,
    host: Option<HostProcess>,
    /// How the local host was started (to restart it on the same state).
    local: Option<(PathBuf, Vec<(&'static str, String)>)>,
}

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
}

/// A local stand-in for the Graph API: records every request and answers with the statuses
/// queued by [`FakeGraph::fail_next`] (then 200 `{"message_id": ...}`).
pub struct FakeGraph {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<GraphRequest>>>,
    failures: std::sync::Arc<std::sync::Mutex<Vec<u16>>>,
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
        let (seen, queued, slow, answered) = (
            requests.clone(),
            failures.clone(),
            delay.clone(),
            responded.clone(),
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
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(GraphRequest {
                        method: request.method().to_string(),
                        path: request.url().to_string(),
                        authorization,
                        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                        received,
                    });
                let status = {
                    let mut queued = queued.lock().unwrap_or_else(|e| e.into_inner());
                    if queued.is_empty() {
                        200
                    } else {
                        queued.remove(0)
                    }
                };
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
            delay,
            responded,
        }
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
        for _ in 0..200 {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.requests()
    }
}

impl App {
    /// A local host on the project's spin.toml with the Graph API pointed at `graph` and
    /// tokens set; `None` when `APP_URL` is set (the suite cannot redirect that app's Graph
    /// API, so bot tests skip).
    pub fn start_with_graph(graph: &FakeGraph) -> Option<Self> {
        Self::start_with_graph_and(graph, Vec::new())
    }

    /// As [`App::start_with_graph`], with more `SPIN_VARIABLE_*` settings.
    pub fn start_with_graph_and(
        graph: &FakeGraph,
        extra_env: Vec<(&'static str, String)>,
    ) -> Option<Self> {
        if std::env::var("APP_URL").is_ok() {
            return None;
        }
        let mut env = vec![
            ("SPIN_VARIABLE_GRAPH_API_BASE", graph.base_url.clone()),
            ("SPIN_VARIABLE_MESSENGER_PAGE_TOKEN", "page-token".into()),
            ("SPIN_VARIABLE_WHATSAPP_TOKEN", "wa-token".into()),
            // Retries after 0.2, 0.4, 0.8 s ... so outage tests finish quickly.
            ("SPIN_VARIABLE_RETRY_BACKOFF_MS", "200".into()),
        ];
        env.extend(extra_env);
        Some(Self::local(env))
    }

    /// `APP_URL` (with `E2E_META_APP_SECRET` and `E2E_META_VERIFY_TOKEN` naming the values
    /// that app runs with), or a local host started on the project's spin.toml.
    ///
    /// # Panics
    ///
    /// When the local host cannot start (for example the components are not built).
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("APP_URL") {
            return Self {
                base_url: url.trim_end_matches('/').to_string(),
                app_secret: std::env::var("E2E_META_APP_SECRET")
                    .unwrap_or_else(|_| "e2e-app-secret".into()),
                verify_token: std::env::var("E2E_META_VERIFY_TOKEN")
                    .unwrap_or_else(|_| "e2e-verify-token".into()),
                admin_token: std::env::var("E2E_DESK_ADMIN_TOKEN")
                    .unwrap_or_else(|_| "e2e-admin-token".into()),
                host: None,
                local: None,
            };
        }
        // Replies go nowhere real: the Graph API points at a closed local port.
        Self::local(vec![(
            "SPIN_VARIABLE_GRAPH_API_BASE",
            "http://127.0.0.1:9".into(),
        )])
    }

    fn local(extra_env: Vec<(&'static str, String)>) -> Self {
        let app_secret = "e2e-app-secret".to_string();
        let verify_token = "e2e-verify-token".to_string();
        let admin_token = "e2e-admin-token".to_string();
        let mut env = vec![
            ("SPIN_VARIABLE_META_APP_SECRET", app_secret.clone()),
            ("SPIN_VARIABLE_META_VERIFY_TOKEN", verify_token.clone()),
            ("SPIN_VARIABLE_DESK_ADMIN_TOKEN", admin_token.clone()),
        ];
        env.extend(extra_env);
        let state_dir = temp_dir("e2e");
        let host = Self::spawn(&state_dir, &env);
        Self {
            base_url: host.base_url.clone(),
            app_secret,
            verify_token,
            admin_token,
            host: Some(host),
            local: Some((state_dir, env)),
        }
    }

    fn spawn(state_dir: &Path, env: &[(&'static str, String)]) -> HostProcess {
        HostProcess::start(HostOptions {
            binary: host_binary(),
            manifest: workspace_root().join("spin.toml"),
            state_dir: state_dir.to_path_buf(),
            args: Vec::new(),
            cache_dir: Some(shared_cache_dir()),
            env: env.to_vec(),
        })
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n(build first: scripts/test does, or `cargo run --release -p host -- build`)"
            )
        })
    }

    /// Stops the local host and starts it again on the same state (database files), as after
    /// a crash or a deployment. The base URL changes.
    ///
    /// # Panics
    ///
    /// For an app under `APP_URL`, which the suite cannot restart.
    pub fn restart(&mut self) {
        let (state_dir, env) = self.local.clone().expect("only a local host can restart");
        if let Some(host) = self.host.take() {
            host.stop();
        }
        let host = Self::spawn(&state_dir, &env);
        self.base_url = host.base_url.clone();
        self.host = Some(host);
    }

    /// A second local host process on the same state (the same SQLite files), as a second
    /// node of one deployment; `None` under `APP_URL`.
    pub fn another_instance(&self) -> Option<App> {
        let (state_dir, env) = self.local.clone()?;
        let host = Self::spawn(&state_dir, &env);
        Some(App {
            base_url: host.base_url.clone(),
            app_secret: self.app_secret.clone(),
            verify_token: self.verify_token.clone(),
            admin_token: self.admin_token.clone(),
            host: Some(host),
            local: Some((state_dir, env)),
        })
    }

    /// Everything the local host logged so far (empty under `APP_URL`).
    pub fn log(&self) -> String {
        self.host.as_ref().map(HostProcess::log).unwrap_or_default()
    }

    /// `GET path` with `Authorization: Bearer token`.
    pub fn get_auth(&self, path: &str, token: &str) -> Reply {
        finish(
            agent()
                .get(&self.url(path))
                .set("authorization", &format!("Bearer {token}"))
                .call(),
        )
    }

    /// `POST path` with a JSON body and `Authorization: Bearer token`.
    pub fn post_auth(&self, path: &str, token: &str, body: &serde_json::Value) -> Reply {
        post(
            &self.url(path),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {token}")),
            ],
            body.to_string().as_bytes(),
        )
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// POSTs a JSON body to the web chat API (`POST /api/chat`).
    pub fn chat(&self, body: &serde_json::Value) -> Reply {
        post(
            &self.url("/api/chat"),
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    /// POSTs `body` to a webhook, signed with the app secret the way Meta signs it.
    pub fn post_signed(&self, path: &str, body: &str) -> Reply {
        let signature =
            webhook::SignatureChecker::new(self.app_secret.as_bytes()).sign(body.as_bytes());
        post(
            &self.url(path),
            &[
                ("content-type", "application/json"),
                ("x-hub-signature-256", &signature),
            ],
            body.as_bytes(),
        )
    }
}
