//! Webhook benchmark: a signed Messenger FAQ question through the whole bot (signature,
//! dedupe, NLU, policy, outbox, delivery to a fake Graph API) against an empty component, on
//! the local host, side by side in one run, at concurrency 1 and 32.
//!
//! Figures per target: the server-side time the host logs per request (request in to
//! response out), the client's round trip, and for the webhook the time from sending the
//! request until the reply reaches the Graph API. Run by `bench/webhook.sh`:
//!
//!   cargo run --release -p e2e --example webhook_bench -- [requests-per-run]

use e2e::{FakeGraph, HostOptions, HostProcess, host_binary, shared_cache_dir, temp_dir};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const APP_SECRET: &str = "bench-secret";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn start(manifest: &str, env: Vec<(&'static str, String)>) -> HostProcess {
    HostProcess::start(HostOptions {
        binary: host_binary(),
        manifest: e2e::workspace_root().join(manifest),
        state_dir: temp_dir("bench"),
        args: Vec::new(),
        cache_dir: Some(shared_cache_dir()),
        env,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// One request kind to measure.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Empty,
    Faq,
}

struct Sample {
    client: Duration,
    psid: Option<String>,
    sent: Instant,
}

fn run(base: &str, target: Target, concurrency: usize, total: usize, run_id: &str) -> Vec<Sample> {
    let per_thread = total / concurrency;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|t| {
                scope.spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(30))
                        .build();
                    let checker = webhook::SignatureChecker::new(APP_SECRET.as_bytes());
                    let mut samples = Vec::with_capacity(per_thread);
                    for i in 0..per_thread {
                        let (status, psid, sent, client) = match target {
                            Target::Empty => {
                                let sent = Instant::now();
                                let status = agent
                                    .get(&format!("{base}/empty"))
                                    .call()
                                    .map_or(0, |r| r.status());
                                (status, None, sent, sent.elapsed())
                            }
                            Target::Faq => {
                                let psid = format!("B-{run_id}-{t}-{i}");
                                let ts = now_ms();
                                let body = serde_json::json!({
                                    "object": "page",
                                    "entry": [{ "id": "PAGE", "time": ts, "messaging": [{
                                        "sender": { "id": psid }, "recipient": { "id": "PAGE" },
                                        "timestamp": ts,
                                        "message": { "mid": format!("m.{psid}"), "text": "How much does shipping cost?" }
                                    }]}]
                                })
                                .to_string();
                                let signature = checker.sign(body.as_bytes());
                                let sent = Instant::now();
                                let status = agent
                                    .post(&format!("{base}/webhooks/messenger"))
                                    .set("content-type", "application/json")
                                    .set("x-hub-signature-256", &signature)
                                    .send_string(&body)
                                    .map_or(0, |r| r.status());
                                (status, Some(psid), sent, sent.elapsed())
                            }
                        };
                        assert_eq!(status, 200, "bench request failed");
                        samples.push(Sample { client, psid, sent });
                    }
                    samples
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Server-side times (ms) the host logged for `route` with status 200, in log order.
fn server_times(log: &str, route: &str) -> Vec<f64> {
    let needle = format!(" {route} 200 ");
    log.lines()
        .filter_map(|line| {
            let at = line.find(&needle)?;
            line[at + needle.len()..]
                .trim()
                .trim_end_matches("ms")
                .parse()
                .ok()
        })
        .collect()
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3_200);
    let graph = FakeGraph::start();
    let app = start(
        "spin.toml",
        vec![
            ("SPIN_VARIABLE_META_APP_SECRET", APP_SECRET.into()),
            ("SPIN_VARIABLE_META_VERIFY_TOKEN", "bench".into()),
            ("SPIN_VARIABLE_DESK_ADMIN_TOKEN", "bench".into()),
            ("SPIN_VARIABLE_GRAPH_API_BASE", graph.base_url.clone()),
            ("SPIN_VARIABLE_MESSENGER_PAGE_TOKEN", "bench".into()),
        ],
    );
    let fixtures = start(
        "tests/fixtures/spin.toml",
        vec![("SPIN_VARIABLE_FIXTURE_SECRET", "bench".into())],
    );
    // Warm up both (compiled-component cache, database file, first instances).
    run(&app.base_url, Target::Faq, 4, 200, "warm");
    run(&fixtures.base_url, Target::Empty, 4, 200, "warm");
    graph.wait_for(200);

    let mut results = Vec::new();
    for concurrency in [1, 32] {
        // Interleave the two targets so drifting machine load hits both alike.
        for target in [Target::Empty, Target::Faq] {
            let (host, route, name) = match target {
                Target::Empty => (&fixtures, "/empty", "empty"),
                Target::Faq => (&app, "/webhooks/messenger", "faq-webhook"),
            };
            let logged_before = server_times(&host.log(), route).len();
            let started = Instant::now();
            let samples = run(
                &host.base_url,
                target,
                concurrency,
                total,
                &format!("c{concurrency}"),
            );
            let elapsed = started.elapsed();
            let mut to_graph = Vec::new();
            if target == Target::Faq {
                let sent: HashMap<&str, Instant> = samples
                    .iter()
                    .filter_map(|s| Some((s.psid.as_deref()?, s.sent)))
                    .collect();
                let mut requests = graph.requests();
                for _ in 0..100 {
                    let delivered = requests
                        .iter()
                        .filter(|r| {
                            r.body["recipient"]["id"]
                                .as_str()
                                .is_some_and(|id| sent.contains_key(id))
                        })
                        .count();
                    if delivered >= sent.len() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    requests = graph.requests();
                }
                for request in &requests {
                    if let Some(at) = request.body["recipient"]["id"]
                        .as_str()
                        .and_then(|id| sent.get(id))
                    {
                        to_graph.push((request.received - *at).as_secs_f64() * 1e3);
                    }
                }
                assert_eq!(to_graph.len(), sent.len(), "every reply delivered once");
            }
            // Give the log writer a moment, then take this run's lines.
            std::thread::sleep(Duration::from_millis(300));
            let mut server: Vec<f64> = server_times(&host.log(), route)
                .into_iter()
                .skip(logged_before)
                .collect();
            let mut client: Vec<f64> = samples
                .iter()
                .map(|s| s.client.as_secs_f64() * 1e3)
                .collect();
            let row = serde_json::json!({
                "target": name,
                "concurrency": concurrency,
                "requests": samples.len(),
                "rps": samples.len() as f64 / elapsed.as_secs_f64(),
                "server_p50_ms": percentile(&mut server, 50.0),
                "server_p99_ms": percentile(&mut server, 99.0),
                "client_p50_ms": percentile(&mut client, 50.0),
                "client_p99_ms": percentile(&mut client, 99.0),
                "to_graph_p50_ms": percentile(&mut to_graph, 50.0),
                "to_graph_p99_ms": percentile(&mut to_graph, 99.0),
            });
            println!("{row}");
            results.push(row);
        }
    }
    for concurrency in [1, 32] {
        let pick = |name: &str, key: &str| {
            results
                .iter()
                .find(|r| r["target"] == name && r["concurrency"] == concurrency)
                .and_then(|r| r[key].as_f64())
                .unwrap_or(f64::NAN)
        };
        println!(
            "c={concurrency}: server-side p50 faq/empty = {:.2}x ({:.3} / {:.3} ms), p99 faq {:.3} ms",
            pick("faq-webhook", "server_p50_ms") / pick("empty", "server_p50_ms"),
            pick("faq-webhook", "server_p50_ms"),
            pick("empty", "server_p50_ms"),
            pick("faq-webhook", "server_p99_ms"),
        );
    }
}
