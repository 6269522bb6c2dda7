//! Webhook benchmark: a signed Messenger FAQ question through the whole bot (signature,
//! dedupe, NLU, policy, outbox, delivery to a fake Graph API) against an empty component,
//! on the local host and under real Spin side by side in one run, at concurrency 1 and 32.
//!
//! Each runtime serves the app (`spin.toml`) and the test components
//! (`tests/fixtures/spin.toml`, for the empty baseline). The rows are measured in rounds that
//! alternate between runtimes and targets, so drifting machine load hits all alike.
//! Figures per row: throughput, the client's round trip, for the webhook the time from
//! sending the request until the reply reaches the Graph API, and the server-side time
//! where the runtime logs one (the local host does; `spin up` does not). Run by
//! `bench/webhook.sh`:
//!
//!   cargo run --release -p e2e --example webhook_bench -- [requests-per-row]
//!
//! Spin is found like `scripts/test` finds it (`SPIN_BIN`, `spin` on `PATH`,
//! `../shared/tools/spin/spin`); without it only the local host is measured.

use e2e::{AppProcess, FakeGraph, Launcher, temp_dir, workspace_root};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const APP_SECRET: &str = "bench-secret";

/// Rounds per row: each round runs a share of the row's requests.
const ROUNDS: usize = 4;

/// One request kind to measure.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Target {
    /// The smallest component: what the runtime costs per request.
    Empty,
    /// A component that opens the database and runs four small statements, one of them a
    /// durable write: what SQLite costs per request on the runtime.
    SqliteProbe,
    /// The FAQ webhook.
    Faq,
}

const TARGETS: [Target; 3] = [Target::Empty, Target::SqliteProbe, Target::Faq];

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Empty => "empty",
            Target::SqliteProbe => "sqlite-probe",
            Target::Faq => "faq-webhook",
        }
    }

    fn route(self) -> &'static str {
        match self {
            Target::Empty => "/empty",
            Target::SqliteProbe => "/probe/sqlite",
            Target::Faq => "/webhooks/messenger",
        }
    }
}

struct Sample {
    client: Duration,
    psid: Option<String>,
    sent: Instant,
}

/// A runtime with the app and the test components running on it.
struct Runtime {
    name: &'static str,
    app: AppProcess,
    fixtures: AppProcess,
}

impl Runtime {
    fn start(name: &'static str, launcher: &Launcher, graph: &FakeGraph) -> Self {
        let app_env = [
            ("META_APP_SECRET", APP_SECRET.to_string()),
            ("META_VERIFY_TOKEN", "bench".into()),
            ("DESK_ADMIN_TOKEN", "bench".into()),
            ("ID_HASH_KEY", "bench".into()),
            ("GRAPH_API_BASE", graph.base_url.clone()),
            ("MESSENGER_PAGE_TOKEN", "bench".into()),
        ];
        let variables = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(name, value)| (format!("SPIN_VARIABLE_{name}"), value.clone()))
                .collect()
        };
        let app = launcher
            .launch(&temp_dir("bench"), &variables(&app_env))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let fixtures = launcher
            .clone()
            .with_manifest(&workspace_root().join("tests/fixtures/spin.toml"))
            .launch(
                &temp_dir("bench-fixtures"),
                &variables(&[("FIXTURE_SECRET", "bench".into())]),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        Self {
            name,
            app,
            fixtures,
        }
    }

    fn serving(&self, target: Target) -> &AppProcess {
        match target {
            Target::Empty | Target::SqliteProbe => &self.fixtures,
            Target::Faq => &self.app,
        }
    }
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
                            Target::Empty | Target::SqliteProbe => {
                                let sent = Instant::now();
                                let status = agent
                                    .get(&format!("{base}{}", target.route()))
                                    .call()
                                    .map_or(0, |r| r.status());
                                (status, None, sent, sent.elapsed())
                            }
                            Target::Faq => {
                                let psid = format!("B-{run_id}-{t}-{i}");
                                let body = e2e::messenger_text(
                                    &psid,
                                    &format!("m.{psid}"),
                                    "How much does shipping cost?",
                                );
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

/// Server-side times (ms) the local host logged for `route` with status 200, in log order
/// (`spin up` logs none).
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

/// Milliseconds from each webhook until its reply reached the fake Graph API (waits for
/// all of them, up to 10 s).
fn to_graph_ms(graph: &FakeGraph, samples: &[Sample]) -> Vec<f64> {
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
    let times: Vec<f64> = requests
        .iter()
        .filter_map(|request| {
            let at = request.body["recipient"]["id"]
                .as_str()
                .and_then(|id| sent.get(id))?;
            Some((request.received - *at).as_secs_f64() * 1e3)
        })
        .collect();
    assert_eq!(times.len(), sent.len(), "every reply delivered once");
    times
}

/// What one row accumulates over its rounds.
#[derive(Default)]
struct Row {
    elapsed: Duration,
    client: Vec<f64>,
    server: Vec<f64>,
    to_graph: Vec<f64>,
}

/// A row's key: runtime name, target, concurrency.
type RowKey = (&'static str, Target, usize);

/// The concurrency levels measured, in table order.
const CONCURRENCY: [usize; 2] = [1, 32];

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3_200);
    let graph = FakeGraph::start();
    let runtimes = start_runtimes(&graph);
    warm_up(&runtimes, &graph);
    let mut rows = measure(&runtimes, &graph, total);
    let rps = print_table(&runtimes, &mut rows);
    if runtimes.len() == 2 {
        print_ratios(&rps);
    }
}

/// The local host, and Spin when a binary is found.
fn start_runtimes(graph: &FakeGraph) -> Vec<Runtime> {
    let mut runtimes = vec![Runtime::start("local host", &Launcher::local_host(), graph)];
    match e2e::spin_binary() {
        Some(spin) => runtimes.push(Runtime::start("spin", &Launcher::spin(&spin), graph)),
        None => eprintln!("bench: no Spin binary found; measuring the local host only"),
    }
    runtimes
}

/// Warms up (compiled components, database files, first instances) and waits for the
/// warm-up replies to reach the Graph API.
fn warm_up(runtimes: &[Runtime], graph: &FakeGraph) {
    for runtime in runtimes {
        run(
            &runtime.app.base_url,
            Target::Faq,
            4,
            200,
            &format!("warm-{}", runtime.name),
        );
        run(&runtime.fixtures.base_url, Target::Empty, 4, 200, "warm");
    }
    graph.wait_for(200 * runtimes.len());
}

/// Measures every row in `ROUNDS` rounds of `total / ROUNDS` requests, alternating between
/// runtimes and targets within each round.
fn measure(runtimes: &[Runtime], graph: &FakeGraph, total: usize) -> HashMap<RowKey, Row> {
    let mut rows: HashMap<RowKey, Row> = HashMap::new();
    for concurrency in CONCURRENCY {
        for round in 0..ROUNDS {
            for runtime in runtimes {
                for target in TARGETS {
                    let run_id =
                        format!("{}-c{concurrency}-r{round}", runtime.name.replace(' ', "-"));
                    let row = rows.entry((runtime.name, target, concurrency)).or_default();
                    measure_round(
                        graph,
                        runtime,
                        target,
                        concurrency,
                        total / ROUNDS,
                        &run_id,
                        row,
                    );
                }
            }
        }
    }
    rows
}

/// Runs one round of `requests` against `target` and adds its figures to `row`.
fn measure_round(
    graph: &FakeGraph,
    runtime: &Runtime,
    target: Target,
    concurrency: usize,
    requests: usize,
    run_id: &str,
    row: &mut Row,
) {
    let process = runtime.serving(target);
    let logged_before = server_times(&process.log(), target.route()).len();
    let started = Instant::now();
    let samples = run(&process.base_url, target, concurrency, requests, run_id);
    row.elapsed += started.elapsed();
    if target == Target::Faq {
        row.to_graph.extend(to_graph_ms(graph, &samples));
    }
    // Give the log writer a moment, then take this run's lines.
    std::thread::sleep(Duration::from_millis(300));
    row.server.extend(
        server_times(&process.log(), target.route())
            .into_iter()
            .skip(logged_before),
    );
    row.client
        .extend(samples.iter().map(|s| s.client.as_secs_f64() * 1e3));
}

/// Prints the Markdown table on stdout (and each row as JSON on stderr); returns each row's
/// throughput.
fn print_table(runtimes: &[Runtime], rows: &mut HashMap<RowKey, Row>) -> HashMap<RowKey, f64> {
    println!(
        "| runtime | target | c | req/s | client p50 ms | client p99 ms | server p50 ms | server p99 ms | to Graph p50 ms | to Graph p99 ms |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut rps: HashMap<RowKey, f64> = HashMap::new();
    for concurrency in CONCURRENCY {
        for runtime in runtimes {
            for target in TARGETS {
                let key = (runtime.name, target, concurrency);
                let Some(row) = rows.get_mut(&key) else {
                    continue;
                };
                rps.insert(key, print_row(key, row));
            }
        }
    }
    rps
}

/// Prints one row (JSON on stderr, a table line on stdout); returns its throughput.
fn print_row((runtime, target, concurrency): RowKey, row: &mut Row) -> f64 {
    let throughput = row.client.len() as f64 / row.elapsed.as_secs_f64();
    let json = serde_json::json!({
        "runtime": runtime,
        "target": target.name(),
        "concurrency": concurrency,
        "requests": row.client.len(),
        "rps": throughput,
        "client_p50_ms": percentile(&mut row.client, 50.0),
        "client_p99_ms": percentile(&mut row.client, 99.0),
        "server_p50_ms": percentile(&mut row.server, 50.0),
        "server_p99_ms": percentile(&mut row.server, 99.0),
        "to_graph_p50_ms": percentile(&mut row.to_graph, 50.0),
        "to_graph_p99_ms": percentile(&mut row.to_graph, 99.0),
    });
    eprintln!("{json}");
    let get = |key: &str| json[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "| {} | {} | {concurrency} | {:.0} | {} | {} | {} | {} | {} | {} |",
        runtime,
        target.name(),
        throughput,
        cell(get("client_p50_ms")),
        cell(get("client_p99_ms")),
        cell(get("server_p50_ms")),
        cell(get("server_p99_ms")),
        cell(get("to_graph_p50_ms")),
        cell(get("to_graph_p99_ms")),
    );
    throughput
}

/// A table cell: milliseconds with three decimals, or `-` when there is no figure.
fn cell(v: f64) -> String {
    if v.is_nan() {
        "-".to_string()
    } else {
        format!("{v:.3}")
    }
}

/// Prints Spin's throughput relative to the local host's, per concurrency and target.
fn print_ratios(rps: &HashMap<RowKey, f64>) {
    for concurrency in CONCURRENCY {
        for target in TARGETS {
            let spin = rps[&("spin", target, concurrency)];
            let host = rps[&("local host", target, concurrency)];
            println!(
                "c={concurrency}: {} throughput under Spin / local host = {:.2} ({spin:.0} / {host:.0} req/s)",
                target.name(),
                spin / host
            );
        }
    }
}
