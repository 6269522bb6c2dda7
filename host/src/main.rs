//! `host`: a local runner for this project's Spin application.
//!
//! Real Spin cannot be installed from a package registry, so this small host reads the same
//! `spin.toml` and serves it with wasmtime: a fresh component instance per request (pooling
//! allocator, copy-on-write memory images, `InstancePre`), wasi:http in and out (outbound
//! limited to `allowed_outbound_hosts`), the Spin variables / SQLite / key-value interfaces
//! backed by SQLite files under `.spin/`, `SPIN_VARIABLE_*` overrides, and component
//! dependencies composed the way Spin composes them. It offers nothing real Spin lacks, so
//! the same app runs unchanged under `spin up`.
//!
//! ```text
//! host up [--build] [--listen 127.0.0.1:3000] [-f spin.toml]
//! host build [-f spin.toml]
//! host preinit <component.wasm> -o <pre-initialized.wasm>
//! ```

mod app;
mod compose;
mod manifest;
mod outbound;
mod preinit;
mod router;
mod schedule;
mod server;
mod spin;
mod state;
mod variables;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "host",
    about = "Serve a Spin application locally with wasmtime",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application (like `spin up`).
    Up {
        /// The application manifest.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
        /// Address to listen on (port 0 picks a free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
        /// Run each component's build command first (like `spin up --build`).
        #[arg(long)]
        build: bool,
        /// Directory for SQLite files and the compiled-component cache
        /// [default: .spin beside the manifest].
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Directory for the compiled-component cache [default: <state-dir>/cache]. Several
        /// hosts may share one.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Largest accepted request body in bytes; larger gets 413 without invoking the
        /// component. By default there is none, as under `spin up`: the body is streamed to
        /// the component, which enforces its own limit.
        #[arg(long)]
        max_body_bytes: Option<usize>,
        /// How components' SQLite connections behave: `pooled` (the default: pooled
        /// write-ahead-log connections that keep prepared statements and wait for the
        /// write lock in 50 µs steps) or `plain` (as `spin up`: a new connection for every
        /// open, the file's own journal mode, rusqlite's default busy handler, nothing kept
        /// between requests).
        #[arg(long, value_enum, default_value_t = spin::SqliteMode::Pooled)]
        sqlite_mode: spin::SqliteMode,
        /// Longest a component may run for one request, in milliseconds; longer gets 500.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
        /// Send `POST <PATH>` to the app on a schedule, as a CronJob would next to SpinKube
        /// (`scripts/up`: `/api/desk/outbox/deliver`, so due replies go out with no other
        /// traffic).
        #[arg(long, value_name = "PATH")]
        schedule_post: Option<String>,
        /// How often the scheduled request is sent, in seconds.
        #[arg(long, default_value_t = 30, requires = "schedule_post")]
        schedule_every: u64,
        /// The application variable whose value the scheduled request sends as its
        /// `Authorization: Bearer` token (e.g. `desk_admin_token`).
        #[arg(long, value_name = "NAME", requires = "schedule_post")]
        schedule_bearer_variable: Option<String>,
    },
    /// Pre-initialize a component with wasmtime-wizer (runs its `wizer-initialize` export
    /// and snapshots the memory); a build step used by the nlu component's build command.
    Preinit {
        /// The component to pre-initialize.
        input: PathBuf,
        /// Where to write the pre-initialized component.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run each component's build command (like `spin build`).
    Build {
        /// The application manifest.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Build { from } => app::build(&from),
        Command::Preinit { input, output } => preinit::preinit(&input, &output),
        Command::Up {
            from,
            listen,
            build,
            state_dir,
            cache_dir,
            max_body_bytes,
            sqlite_mode,
            timeout_ms,
            schedule_post,
            schedule_every,
            schedule_bearer_variable,
        } => {
            if build {
                app::build(&from)?;
            }
            let settings = app::Settings {
                manifest: from,
                state_dir,
                cache_dir,
                sqlite_mode,
            };
            let engine = app::engine()?;
            let app = app::App::load(engine, &settings, |name| std::env::var(name).ok())?;
            let schedule = schedule_post
                .map(|path| {
                    schedule::Schedule::new(
                        &path,
                        schedule_every,
                        schedule_bearer_variable.as_deref(),
                        &app.variables,
                    )
                })
                .transpose()?;
            let limits = server::Limits {
                max_body_bytes,
                timeout: Duration::from_millis(timeout_ms),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let addr = listener.local_addr()?;
                // Tests read this line to learn the port.
                println!("Serving http://{addr}");
                println!("Available routes:");
                for (route, index) in app.router.routes() {
                    println!(
                        "  {}: http://{addr}{route}",
                        app.components[*index].config.id
                    );
                }
                if let Some(schedule) = schedule {
                    println!(
                        "Scheduled: POST {} every {} s",
                        schedule.path,
                        schedule.every.as_secs()
                    );
                    tokio::spawn(schedule.run(addr));
                }
                server::serve(app, listener, limits).await
            })
        }
    }
}
