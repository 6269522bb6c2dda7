//! The app under test: started by the suite from a command template ([`Launcher`]), or an
//! already running deployment at `APP_URL`.

use crate::{FakeGraph, Reply, agent, finish, host_binary, post, shared_cache_dir, workspace_root};
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The command template of the local host, the default runtime.
pub const LOCAL_HOST_TEMPLATE: &str =
    "{HOST} up --from {MANIFEST} --listen {LISTEN} --state-dir {STATE_DIR} --cache-dir {CACHE_DIR}";

/// How long an app may take from its command to accepting connections (a runtime without a
/// compile cache compiles every component first).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);

/// How the suite starts an app: a command template, run with `sh -c` in the workspace root.
///
/// The template comes from `APP_CMD` (default: the local host, [`LOCAL_HOST_TEMPLATE`]).
/// Placeholders, each replaced by a shell-quoted value:
///
/// - `{LISTEN}`: `127.0.0.1:<port>`, a free port the suite picked (it polls it until the app
///   accepts connections);
/// - `{STATE_DIR}`: a fresh, empty directory for this app's state (SQLite files, logs). When
///   the template has no `{STATE_DIR}`, the suite appends `--state-dir {STATE_DIR}` (the flag
///   of both `spin up` and the local host). A restart, or a second instance of the same
///   deployment, gets the same directory;
/// - `{MANIFEST}`: the project's `spin.toml` (absolute path);
/// - `{HOST}`: the local host binary, `{CACHE_DIR}`: its shared compiled-component cache;
///   `{ROOT}`: the workspace root.
///
/// Every app gets its settings as `SPIN_VARIABLE_*` environment variables (inherited
/// `SPIN_VARIABLE_*` are removed first): `META_APP_SECRET`, `META_VERIFY_TOKEN`,
/// `DESK_ADMIN_TOKEN`, `ID_HASH_KEY`, `GRAPH_API_BASE` (the test's fake Graph API, or a closed local port),
/// `MESSENGER_PAGE_TOKEN`, `INSTAGRAM_PAGE_TOKEN`, `WHATSAPP_TOKEN`, `RETRY_BACKOFF_MS` (200), and whatever a test
/// adds. Its stdout and stderr go to `<state dir>/app-<n>.log` ([`App::log`]).
#[derive(Debug, Clone)]
pub struct Launcher {
    template: String,
    manifest: Option<PathBuf>,
}

impl Launcher {
    /// `APP_CMD`, or the local host.
    pub fn from_env() -> Self {
        match std::env::var("APP_CMD") {
            Ok(template) if !template.trim().is_empty() => Self::new(&template),
            _ => Self::local_host(),
        }
    }

    /// The local host ([`LOCAL_HOST_TEMPLATE`]).
    pub fn local_host() -> Self {
        Self::new(LOCAL_HOST_TEMPLATE)
    }

    /// A launcher for a given template.
    pub fn new(template: &str) -> Self {
        Self {
            template: template.to_string(),
            manifest: None,
        }
    }

    /// `spin up` of the given Spin binary.
    pub fn spin(binary: &Path) -> Self {
        Self::new(&format!(
            "{} up --from {{MANIFEST}} --listen {{LISTEN}} --state-dir {{STATE_DIR}}",
            shell_quote(&binary.display().to_string())
        ))
    }

    /// The same command for another manifest (`{MANIFEST}`; the project's spin.toml by
    /// default).
    pub fn with_manifest(mut self, manifest: &Path) -> Self {
        self.manifest = Some(manifest.to_path_buf());
        self
    }

    /// The template as given.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The shell command for one start.
    fn command(&self, listen: &str, state_dir: &Path) -> String {
        let mut template = self.template.clone();
        if !template.contains("{STATE_DIR}") {
            template.push_str(" --state-dir {STATE_DIR}");
        }
        let root = workspace_root();
        let values = [
            ("{LISTEN}", listen.to_string()),
            ("{STATE_DIR}", state_dir.display().to_string()),
            (
                "{MANIFEST}",
                self.manifest
                    .clone()
                    .unwrap_or_else(|| root.join("spin.toml"))
                    .display()
                    .to_string(),
            ),
            ("{HOST}", host_binary().display().to_string()),
            ("{CACHE_DIR}", shared_cache_dir().display().to_string()),
            ("{ROOT}", root.display().to_string()),
        ];
        values.iter().fold(template, |command, (name, value)| {
            command.replace(name, &shell_quote(value))
        })
    }

    /// Starts the app on a free port with `state_dir` and `env`, and waits until it accepts
    /// connections.
    ///
    /// # Errors
    ///
    /// The command exits before serving or does not serve within the start-up time; the
    /// error carries its log.
    pub fn launch(&self, state_dir: &Path, env: &[(String, String)]) -> Result<AppProcess, String> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
        let mut last_error = String::new();
        // A port picked free can be taken by someone else before the app binds it: retry.
        for _ in 0..5 {
            let port = free_port()?;
            let listen = format!("127.0.0.1:{port}");
            match self.try_launch(&listen, state_dir, env) {
                Ok(process) => return Ok(process),
                Err((e, port_taken)) => {
                    last_error = e;
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }

    fn try_launch(
        &self,
        listen: &str,
        state_dir: &Path,
        env: &[(String, String)],
    ) -> Result<AppProcess, (String, bool)> {
        let command = self.command(listen, state_dir);
        let log_path = state_dir.join(format!("app-{}.log", crate::unique()));
        let log = File::create(&log_path).map_err(|e| (e.to_string(), false))?;
        let log_err = log.try_clone().map_err(|e| (e.to_string(), false))?;
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(format!("exec {command}"))
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .env_remove("RUST_BACKTRACE");
        for (name, _) in std::env::vars() {
            if name.starts_with("SPIN_VARIABLE_") {
                shell.env_remove(name);
            }
        }
        for (name, value) in env {
            shell.env(name, value);
        }
        // Its own process group, so that everything it starts is stopped with it.
        std::os::unix::process::CommandExt::process_group(&mut shell, 0);
        let child = shell
            .spawn()
            .map_err(|e| (format!("cannot run `{command}`: {e}"), false))?;
        let mut process = AppProcess {
            child,
            base_url: format!("http://{listen}"),
            log_path,
        };
        let addr: SocketAddr = listen.parse().map_err(|e| (format!("{e}"), false))?;
        let started = Instant::now();
        let deadline = started + STARTUP_TIMEOUT;
        let announced = format!("http://{listen}");
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                let log = process.log();
                let port_taken = log.to_lowercase().contains("address already in use")
                    || log.contains("AddrInUse");
                return Err((
                    format!("`{command}` exited ({status}) before serving:\n{log}"),
                    port_taken,
                ));
            }
            // Ours once it says it serves there (the local host and `spin up` print
            // "Serving http://<address>"): a port picked free may have been taken by another
            // test's server meanwhile, which a connection alone would not tell. A runtime that
            // prints no such line is taken at its word after 10 s of accepting connections.
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && (process.log().contains(&announced)
                    || started.elapsed() > Duration::from_secs(10))
            {
                return Ok(process);
            }
            if Instant::now() > deadline {
                let log = process.log();
                return Err((
                    format!("`{command}` did not serve within {STARTUP_TIMEOUT:?}:\n{log}"),
                    false,
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// Quotes a value for `sh`.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A running app started by a [`Launcher`]; stopped (its whole process group killed) when
/// dropped.
pub struct AppProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Where its stdout and stderr go.
    pub log_path: PathBuf,
}

impl AppProcess {
    /// Everything it has printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Kills it (SIGKILL to its process group, as a crash would) and waits for it.
    #[allow(unsafe_code)] // kill(2), see the SAFETY note
    pub fn kill(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group this suite
            // created for the app (`process_group(0)` makes its pgid equal to its pid).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How an app the suite started was launched (to restart it, or start a second instance,
/// on the same state).
#[derive(Clone)]
struct Launch {
    launcher: Launcher,
    state_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Launch {
    fn start(&self) -> AppProcess {
        self.launcher
            .launch(&self.state_dir, &self.env)
            .unwrap_or_else(|e| {
                panic!(
                    "{e}\n(build first: scripts/test does, or `cargo run --release -p host -- build`)"
                )
            })
    }
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
    process: Option<AppProcess>,
    launch: Option<Launch>,
}

const APP_SECRET: &str = "e2e-app-secret";
const VERIFY_TOKEN: &str = "e2e-verify-token";
const ADMIN_TOKEN: &str = "e2e-admin-token";
/// The `id_hash_key` every app is started with.
pub const ID_HASH_KEY: &str = "e2e-id-hash-key";

impl App {
    /// An app started by the suite ([`Launcher::from_env`]) with its Graph API pointed at
    /// `graph` and the tokens set.
    ///
    /// # Panics
    ///
    /// Under `APP_URL` (the suite cannot start or redirect that app: tests that need this
    /// are skipped there by [`crate::run_suite`]), or when the app cannot start.
    pub fn start_with_graph(graph: &FakeGraph) -> Self {
        Self::start_with_graph_and(graph, Vec::new())
    }

    /// As [`App::start_with_graph`], with more `SPIN_VARIABLE_*` settings.
    ///
    /// # Panics
    ///
    /// As [`App::start_with_graph`].
    pub fn start_with_graph_and(graph: &FakeGraph, extra_env: Vec<(&'static str, String)>) -> Self {
        assert!(
            std::env::var("APP_URL").is_err(),
            "this test starts its own app and cannot run against APP_URL"
        );
        let mut env = vec![
            ("SPIN_VARIABLE_GRAPH_API_BASE", graph.base_url.clone()),
            ("SPIN_VARIABLE_MESSENGER_PAGE_TOKEN", "page-token".into()),
            ("SPIN_VARIABLE_INSTAGRAM_PAGE_TOKEN", "ig-token".into()),
            ("SPIN_VARIABLE_WHATSAPP_TOKEN", "wa-token".into()),
            // Retries after 0.2, 0.4, 0.8 s ... so outage tests finish quickly.
            ("SPIN_VARIABLE_RETRY_BACKOFF_MS", "200".into()),
        ];
        env.extend(extra_env);
        Self::launch(env)
    }

    /// `APP_URL` (with `E2E_META_APP_SECRET`, `E2E_META_VERIFY_TOKEN` and
    /// `E2E_DESK_ADMIN_TOKEN` naming the values that app runs with), or an app the suite
    /// starts, with its Graph API pointed at a closed local port.
    ///
    /// # Panics
    ///
    /// When the app cannot start (for example the components are not built).
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("APP_URL") {
            let setting = |name: &str, default: &str| {
                std::env::var(name).unwrap_or_else(|_| default.to_string())
            };
            return Self {
                base_url: url.trim_end_matches('/').to_string(),
                app_secret: setting("E2E_META_APP_SECRET", APP_SECRET),
                verify_token: setting("E2E_META_VERIFY_TOKEN", VERIFY_TOKEN),
                admin_token: setting("E2E_DESK_ADMIN_TOKEN", ADMIN_TOKEN),
                process: None,
                launch: None,
            };
        }
        Self::launch(vec![(
            "SPIN_VARIABLE_GRAPH_API_BASE",
            "http://127.0.0.1:9".into(),
        )])
    }

    /// As [`App::start_with_graph_and`], but a runtime that refuses to start is an `Err`
    /// with its log (for settings a runtime may refuse).
    ///
    /// # Panics
    ///
    /// Under `APP_URL`.
    pub fn try_start_with_graph_and(
        graph: &FakeGraph,
        extra_env: Vec<(&'static str, String)>,
    ) -> Result<Self, String> {
        assert!(
            std::env::var("APP_URL").is_err(),
            "this test starts its own app and cannot run against APP_URL"
        );
        let mut env = vec![("SPIN_VARIABLE_GRAPH_API_BASE", graph.base_url.clone())];
        env.extend(extra_env);
        let launch = Self::launch_settings(env);
        let process = launch.launcher.launch(&launch.state_dir, &launch.env)?;
        Ok(Self::from_launch(launch, process))
    }

    fn launch(extra_env: Vec<(&'static str, String)>) -> Self {
        let launch = Self::launch_settings(extra_env);
        let process = launch.start();
        Self::from_launch(launch, process)
    }

    fn launch_settings(extra_env: Vec<(&'static str, String)>) -> Launch {
        let mut env: Vec<(String, String)> = vec![
            ("SPIN_VARIABLE_META_APP_SECRET".into(), APP_SECRET.into()),
            (
                "SPIN_VARIABLE_META_VERIFY_TOKEN".into(),
                VERIFY_TOKEN.into(),
            ),
            ("SPIN_VARIABLE_DESK_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            ("SPIN_VARIABLE_ID_HASH_KEY".into(), ID_HASH_KEY.into()),
        ];
        for (name, value) in extra_env {
            env.retain(|(n, _)| n != name);
            env.push((name.to_string(), value));
        }
        Launch {
            launcher: Launcher::from_env(),
            state_dir: crate::temp_dir("e2e"),
            env,
        }
    }

    fn from_launch(launch: Launch, process: AppProcess) -> Self {
        Self {
            base_url: process.base_url.clone(),
            app_secret: APP_SECRET.into(),
            verify_token: VERIFY_TOKEN.into(),
            admin_token: ADMIN_TOKEN.into(),
            process: Some(process),
            launch: Some(launch),
        }
    }

    /// The app's SQLite database file (`<state dir>/sqlite_db.db`: where `spin up` and the
    /// local host keep the `default` database).
    ///
    /// # Panics
    ///
    /// For an app under `APP_URL`.
    pub fn database_file(&self) -> PathBuf {
        self.started().state_dir.join("sqlite_db.db")
    }

    fn started(&self) -> &Launch {
        self.launch
            .as_ref()
            .expect("only an app the suite started can be restarted or duplicated")
    }

    /// Kills the app (SIGKILL, as a crash) and starts it again with the same command on the
    /// same state (database files), as after a crash or a deployment. The base URL changes.
    ///
    /// # Panics
    ///
    /// For an app under `APP_URL`, or when it cannot start again.
    pub fn restart(&mut self) {
        let launch = self.started().clone();
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
        let process = launch.start();
        self.base_url = process.base_url.clone();
        self.process = Some(process);
    }

    /// A second instance of the same deployment: the same command and the same state (the
    /// same SQLite files), on another port.
    ///
    /// # Panics
    ///
    /// For an app under `APP_URL`, or when it cannot start.
    pub fn another_instance(&self) -> App {
        let launch = self.started().clone();
        let process = launch.start();
        App {
            base_url: process.base_url.clone(),
            app_secret: self.app_secret.clone(),
            verify_token: self.verify_token.clone(),
            admin_token: self.admin_token.clone(),
            process: Some(process),
            launch: Some(launch),
        }
    }

    /// Everything the app printed so far (its runtime's output and the components' stdout
    /// and stderr); empty under `APP_URL`.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(AppProcess::log)
            .unwrap_or_default()
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

    /// `PUT path` with a JSON body and `Authorization: Bearer token`.
    pub fn put_auth(&self, path: &str, token: &str, body: &serde_json::Value) -> Reply {
        finish(
            agent()
                .put(&self.url(path))
                .set("authorization", &format!("Bearer {token}"))
                .set("content-type", "application/json")
                .send_bytes(body.to_string().as_bytes()),
        )
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// POSTs a JSON body to the web chat API (`POST /api/chat`) with no session: the server
    /// starts one for a message it accepts.
    pub fn chat(&self, body: &serde_json::Value) -> Reply {
        self.chat_as(None, body)
    }

    /// POSTs a JSON body to the web chat API presenting `session` (if any).
    pub fn chat_as(&self, session: Option<&str>, body: &serde_json::Value) -> Reply {
        let bearer = session.map(|s| format!("Bearer {s}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        post(
            &self.url("/api/chat"),
            &headers,
            body.to_string().as_bytes(),
        )
    }

    /// A new web chat visitor of this app.
    pub fn visitor(&self) -> ChatVisitor<'_> {
        ChatVisitor {
            app: self,
            session: None,
            customer_id: None,
        }
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

/// A web chat visitor, as the page is: the first message gets a session from the server,
/// every later call presents it.
pub struct ChatVisitor<'a> {
    app: &'a App,
    /// The session token the server issued (after the first accepted message).
    pub session: Option<String>,
    /// The customer id the server gave this visitor.
    pub customer_id: Option<String>,
}

impl ChatVisitor<'_> {
    /// Sends a message (`{"text", "conversation_id"?, "payload"?}`) with the session once
    /// there is one, and keeps what the server issued.
    pub fn say(&mut self, body: &serde_json::Value) -> Reply {
        let reply = self.app.chat_as(self.session.as_deref(), body);
        if reply.status == 200 {
            let json = reply.json();
            if let Some(session) = json["session"].as_str() {
                self.session = Some(session.to_string());
            }
            if let Some(customer_id) = json["customer_id"].as_str() {
                self.customer_id = Some(customer_id.to_string());
            }
        }
        reply
    }

    /// What the bot and agents said in `conversation_id` after message `after`
    /// (`GET /api/chat`), with the session.
    pub fn since(&self, conversation_id: &str, after: i64) -> Reply {
        self.app.get_auth(
            &format!("/api/chat?conversation_id={conversation_id}&after={after}"),
            self.session.as_deref().unwrap_or_default(),
        )
    }
}
