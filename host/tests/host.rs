//! Integration tests of the local host with the test components in tests/fixtures
//! (built by scripts/test before the suite runs).

use e2e::{HostOptions, HostProcess, get, post, shared_cache_dir, temp_dir, workspace_root};
use std::io::{Read, Write};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    workspace_root().join("tests/fixtures/spin.toml")
}

fn start_with(
    state_dir: PathBuf,
    args: &[&str],
    env: &[(&'static str, &str)],
) -> Result<HostProcess, String> {
    // The fixture's required variable is set unless `env` overrides it ("" = unset).
    let mut vars = vec![("SPIN_VARIABLE_FIXTURE_SECRET", "s3cret".to_string())];
    for (name, value) in env {
        vars.retain(|(k, _)| k != name);
        vars.push((*name, value.to_string()));
    }
    vars.retain(|(_, v)| !v.is_empty());
    HostProcess::start(HostOptions {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_host")),
        manifest: fixtures(),
        state_dir,
        args: args.iter().map(|a| a.to_string()).collect(),
        cache_dir: Some(shared_cache_dir()),
        env: vars,
    })
}

fn start(name: &str) -> HostProcess {
    start_with(temp_dir(name), &[], &[]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn routes_exact_and_wildcard_and_404() {
    let host = start("routing");
    let echo = get(&format!("{}/probe/echo", host.base_url)).json();
    assert_eq!(echo["matched_route"], "/probe/...");
    assert_eq!(echo["path_info"], "/echo");
    assert_eq!(get(&format!("{}/empty", host.base_url)).status, 200);
    for path in ["/", "/emptyx", "/empty/more", "/prob", "/webhooks"] {
        let reply = get(&format!("{}{path}", host.base_url));
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.json()["error"].is_string(), "{path}");
    }
}

#[test]
fn body_over_the_limit_is_413_without_invoking_the_component() {
    let host = start_with(temp_dir("limit"), &["--max-body-bytes", "1000"], &[]).unwrap();
    let at_limit = post(&format!("{}/probe/echo", host.base_url), &[], &[b'a'; 1000]);
    assert_eq!(
        (at_limit.status, at_limit.json()["bytes"].as_u64()),
        (200, Some(1000))
    );
    let over = post(&format!("{}/probe/echo", host.base_url), &[], &[b'a'; 1001]);
    assert_eq!(over.status, 413, "{}", over.body);

    // Chunked, without Content-Length: the limit still holds while reading.
    let addr = host.base_url.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let chunk = "b".repeat(800);
    let request = format!(
        "POST /probe/echo HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len(),
        chunk.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    // Only the request that fit reached the component.
    let log = host.log();
    assert_eq!(log.matches("POST /probe/... 200").count(), 1, "{log}");
    assert_eq!(log.matches("POST /probe/... 413").count(), 2, "{log}");
}

#[test]
fn a_trap_is_500_logged_with_the_route_and_the_host_keeps_serving() {
    let host = start("trap");
    let reply = get(&format!("{}/probe/trap", host.base_url));
    assert_eq!(reply.status, 500);
    assert!(reply.json()["error"].is_string());
    assert_eq!(get(&format!("{}/probe/ok", host.base_url)).body, "ok");
    let log = host.log();
    assert!(
        log.contains("request failed") && log.contains("route=/probe/..."),
        "{log}"
    );
    assert!(log.contains("GET /probe/... 500"), "{log}");
}

#[test]
fn a_time_out_is_500_and_the_host_keeps_serving() {
    let host = start_with(temp_dir("timeout"), &["--timeout-ms", "300"], &[]).unwrap();
    let reply = get(&format!("{}/probe/spin", host.base_url));
    assert_eq!(reply.status, 500);
    assert_eq!(get(&format!("{}/probe/ok", host.base_url)).body, "ok");
    assert!(host.log().contains("GET /probe/... 500"), "{}", host.log());
}

#[test]
fn variables_default_env_override_undefined_and_missing_required() {
    let host = start("vars-default");
    let var = |h: &HostProcess, name: &str| get(&format!("{}/probe/var?name={name}", h.base_url));
    assert_eq!(var(&host, "greeting").body, "hello world");
    assert_eq!(var(&host, "fixture_secret").body, "s3cret");
    let undefined = var(&host, "meta_app_secret");
    assert_eq!(
        undefined.status, 404,
        "component variables are only those it declares"
    );
    host.stop();

    let host = start_with(
        temp_dir("vars-env"),
        &[],
        &[("SPIN_VARIABLE_GREETING", "hi")],
    )
    .unwrap();
    assert_eq!(var(&host, "greeting").body, "hi world");
    host.stop();

    let err = match start_with(
        temp_dir("vars-missing"),
        &[],
        &[("SPIN_VARIABLE_FIXTURE_SECRET", "")],
    ) {
        Ok(_) => panic!("started without a required variable"),
        Err(e) => e,
    };
    assert!(
        err.contains("fixture_secret") && err.contains("SPIN_VARIABLE_FIXTURE_SECRET"),
        "{err}"
    );
}

#[test]
fn sqlite_and_key_value_persist_across_requests_and_restarts() {
    let state = temp_dir("sqlite");
    let host = start_with(state.clone(), &[], &[]).unwrap();
    let hit = |h: &HostProcess, path: &str| get(&format!("{}{path}", h.base_url)).body;
    assert_eq!(hit(&host, "/probe/sqlite"), "1");
    assert_eq!(hit(&host, "/probe/sqlite"), "2");
    // A request that traps inside a transaction leaves nothing behind: its update is rolled
    // back and the (pooled) connections are usable at once, again and again.
    for expected in ["3", "4", "5"] {
        let abandoned = get(&format!("{}/probe/sqlite-abandon", host.base_url));
        assert_eq!(abandoned.status, 500);
        assert_eq!(hit(&host, "/probe/sqlite"), expected);
    }
    assert_eq!(hit(&host, "/probe/kv"), "1");
    let denied = get(&format!("{}/probe/sqlite-denied", host.base_url));
    assert_eq!(
        denied.status, 403,
        "a database the component does not declare"
    );
    host.stop();

    let host = start_with(state.clone(), &[], &[]).unwrap();
    assert_eq!(hit(&host, "/probe/sqlite"), "6");
    assert_eq!(hit(&host, "/probe/kv"), "2");
    assert!(state.join("sqlite_db.db").exists());
}

#[test]
fn the_host_runs_a_scheduled_post_with_a_bearer_from_a_variable() {
    let host = start_with(
        temp_dir("schedule"),
        &[
            "--schedule-post",
            "/probe/tick",
            "--schedule-every",
            "1",
            "--schedule-bearer-variable",
            "fixture_secret",
        ],
        &[],
    )
    .unwrap();
    let ticks = || get(&format!("{}/probe/ticks", host.base_url)).body;
    let unauthorized = post(&format!("{}/probe/tick", host.base_url), &[], b"{}");
    assert_eq!(unauthorized.status, 401, "the route wants the bearer");
    let mut seen = String::new();
    for _ in 0..60 {
        seen = ticks();
        if seen.parse::<u32>().is_ok_and(|n| n >= 2) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        seen.parse::<u32>().is_ok_and(|n| n >= 2),
        "two scheduled calls within 6 s, got {seen}; log:\n{}",
        host.log()
    );
    host.stop();

    // A schedule that names no variable of the app is refused at start-up.
    let refused = start_with(
        temp_dir("schedule-bad"),
        &[
            "--schedule-post",
            "/probe/tick",
            "--schedule-bearer-variable",
            "nope",
        ],
        &[],
    );
    let error = refused.err().unwrap_or_default();
    assert!(
        error.contains("`nope` is not a variable of the app"),
        "{error}"
    );
}

#[test]
fn compiled_components_are_cached_across_restarts() {
    let state = temp_dir("cache");
    std::fs::create_dir_all(&state).unwrap();
    // A small app, so the first (uncached) start compiles little.
    let manifest = state.join("spin.toml");
    let empty = workspace_root().join("target/wasm32-wasip2/release/empty.wasm");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"cache\"\n[[trigger.http]]\nroute = \"/probe/ok\"\ncomponent = \"empty\"\n[component.empty]\nsource = {:?}\n",
            empty.display().to_string()
        ),
    )
    .unwrap();
    let start = || {
        HostProcess::start(HostOptions {
            binary: PathBuf::from(env!("CARGO_BIN_EXE_host")),
            manifest: manifest.clone(),
            state_dir: state.clone(),
            args: vec![],
            cache_dir: None, // its own, in the state directory: starts empty
            env: vec![("SPIN_VARIABLE_FIXTURE_SECRET", "x".into())],
        })
        .unwrap()
    };
    let first = start();
    assert!(
        first.log().contains("component compiled"),
        "{}",
        first.log()
    );
    first.stop();
    let second = start();
    let log = second.log();
    assert!(!log.contains("component compiled"), "{log}");
    assert!(
        log.contains("compiled component loaded from cache"),
        "{log}"
    );
    assert_eq!(get(&format!("{}/probe/ok", second.base_url)).status, 200);
}

/// A one-shot HTTP server on a free port; returns its port.
fn upstream() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(4) {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

#[test]
fn outbound_requests_only_reach_allowed_hosts() {
    let allowed = upstream();
    let other = upstream();
    let host = start_with(
        temp_dir("outbound"),
        &[],
        &[("SPIN_VARIABLE_ALLOWED_PORT", &allowed.to_string())],
    )
    .unwrap();
    let fetch = |url: String| get(&format!("{}/probe/fetch?url={url}", host.base_url));
    let ok = fetch(format!("http://127.0.0.1:{allowed}/"));
    assert_eq!((ok.status, ok.body.as_str()), (200, "upstream 204"));
    for url in [
        format!("http://127.0.0.1:{other}/"),
        format!("http://localhost:{allowed}/"),
    ] {
        let refused = fetch(url.clone());
        assert_eq!(refused.status, 502, "{url}");
        assert!(
            refused.body.contains("HttpRequestDenied"),
            "{url}: {}",
            refused.body
        );
    }
    let log = host.log();
    assert!(log.contains("outbound request refused"), "{log}");
    assert!(log.contains(&format!("127.0.0.1:{other}")), "{log}");
}

/// Equal JSON, numbers within 1e-4 (tract's native SIMD kernels and its portable Wasm code
/// may round differently in the last bits).
fn assert_close(got: &serde_json::Value, want: &serde_json::Value, context: &str) {
    use serde_json::Value;
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            assert!((a - b).abs() < 1e-4, "{context}: {a} vs {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{context}: {got} vs {want}");
            a.iter()
                .zip(b)
                .for_each(|(x, y)| assert_close(x, y, context));
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{context}"
            );
            a.iter()
                .for_each(|(k, x)| assert_close(x, &b[k], &format!("{context}.{k}")));
        }
        _ => assert_eq!(got, want, "{context}"),
    }
}

/// The analysis the native crate gives, in the probe's JSON shape.
fn native_analysis(analyzer: &nlu::Analyzer, text: &str) -> serde_json::Value {
    let a = analyzer.analyze(text);
    serde_json::json!({
        "language": a.language.code(),
        "language_confidence": a.language_confidence,
        "intents": a.intents.iter().map(|i| serde_json::json!([i.label, i.confidence])).collect::<Vec<_>>(),
        "out_of_scope": a.out_of_scope,
        "keyword_hits": a.keyword_hits.iter().map(|h| h.phrase.clone()).collect::<Vec<_>>(),
        "anger": a.anger,
        "needs_human": a.needs_human.iter().map(|s| format!("HandoffSignal::{s:?}")).collect::<Vec<_>>(),
    })
}

#[test]
fn dependencies_are_composed_and_the_component_analyzes_like_the_native_crate() {
    let root = workspace_root();
    let analyzer =
        nlu::Analyzer::from_dir(&root.join("models/shop"), Some(&root.join("models/rules")))
            .unwrap();
    let host = start("compose");
    let texts = [
        "Hol van a rendelésem? #HU-10234",
        "ile kosztuje wysylka do Niemiec",
        "I want to talk to a human, you useless bot!!!",
        "",
        "\u{0}control\u{7}chars",
        &"where is my order ".repeat(6000),
    ];
    for text in texts {
        // Through the probe component, which imports chatbot:nlu from the composed nlu.wasm.
        let reply = post(
            &format!("{}/probe/nlu", host.base_url),
            &[],
            text.as_bytes(),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_close(
            &reply.json(),
            &native_analysis(&analyzer, text),
            &format!("{:.40}", text),
        );
    }
    // Invalid UTF-8 reaching a component is decoded lossily before the call: no trap.
    let reply = post(
        &format!("{}/probe/nlu", host.base_url),
        &[],
        b"caf\xe9 \xff\xfe order",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn a_manifest_dependency_matching_no_import_fails_at_start_up() {
    let dir = temp_dir("bad-dependency");
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = std::fs::read_to_string(fixtures())
        .unwrap()
        .replace("../../target", &workspace_root().join("target").display().to_string())
        .replace("[component.empty.build]", "[component.empty.dependencies]\n\"chatbot:other\" = { path = \"x.wasm\" }\n\n[component.empty.build]");
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    let err = match HostProcess::start(HostOptions {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_host")),
        manifest: path,
        state_dir: dir.join("state"),
        args: vec![],
        cache_dir: Some(shared_cache_dir()),
        env: vec![("SPIN_VARIABLE_FIXTURE_SECRET", "x".into())],
    }) {
        Ok(_) => panic!("started with a dependency nothing imports"),
        Err(e) => e,
    };
    assert!(err.contains("chatbot:other"), "{err}");
}

/// Spin's SQLite model (`--sqlite-mode plain`: a new connection for every open, the file in
/// the rollback journal until the app switches it, rusqlite's default busy handler, nothing
/// pooled) under 200 concurrent webhooks to the real app: the app's own write-ahead-log
/// switch, busy timeout and retries answer every customer exactly once, with no error.
#[test]
fn the_app_on_spins_sqlite_model_answers_200_concurrent_webhooks_exactly_once() {
    let graph = e2e::FakeGraph::start();
    let state = temp_dir("plain-sqlite");
    let database = state.join("sqlite_db.db");
    let host = HostProcess::start(HostOptions {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_host")),
        manifest: workspace_root().join("spin.toml"),
        state_dir: state.clone(),
        args: vec!["--sqlite-mode".into(), "plain".into()],
        cache_dir: Some(shared_cache_dir()),
        env: vec![
            ("SPIN_VARIABLE_META_APP_SECRET", "plain-secret".into()),
            ("SPIN_VARIABLE_META_VERIFY_TOKEN", "plain-verify".into()),
            ("SPIN_VARIABLE_DESK_ADMIN_TOKEN", "plain-admin".into()),
            ("SPIN_VARIABLE_ID_HASH_KEY", "plain-key".into()),
            ("SPIN_VARIABLE_GRAPH_API_BASE", graph.base_url.clone()),
            ("SPIN_VARIABLE_MESSENGER_PAGE_TOKEN", "page-token".into()),
        ],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let journal = |path: &std::path::Path| -> String {
        rusqlite::Connection::open(path)
            .and_then(|c| c.query_row("PRAGMA journal_mode", [], |row| row.get(0)))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert!(
        !database.exists() || journal(&database) == "delete",
        "in plain mode the host leaves the database as spin up does"
    );
    e2e::concurrent_webhooks_are_answered_exactly_once(
        &host.base_url,
        "plain-secret",
        &graph,
        200,
        "P",
    );
    assert_eq!(
        journal(&database),
        "wal",
        "the app switched the file itself"
    );
    let log = host.log();
    assert!(
        !log.contains("database is locked") && !log.contains(" 500 "),
        "no request failed: {log}"
    );
}
