//! A schedule the local host runs itself: `host up --schedule-post PATH` sends `POST PATH`
//! to the app every `--schedule-every` seconds, with a bearer token taken from an application
//! variable (`--schedule-bearer-variable`), as a Kubernetes CronJob does next to SpinKube
//! (docs/deploy.md). `scripts/up` uses it to deliver due replies
//! (`/api/desk/outbox/deliver`) with no operator action. Spin itself has no schedule without
//! its cron trigger plugin.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long one scheduled request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// One scheduled request.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The path to `POST` (with its query, if any).
    pub path: String,
    /// How often.
    pub every: Duration,
    /// The `Authorization: Bearer` token, if any.
    pub bearer: Option<String>,
}

impl Schedule {
    /// The schedule for `path`, its token read from application variable `bearer_variable`.
    ///
    /// # Errors
    ///
    /// A path that does not start with `/`, a zero interval, or a variable the manifest does
    /// not declare or that is empty.
    pub fn new(
        path: &str,
        every_secs: u64,
        bearer_variable: Option<&str>,
        variables: &crate::variables::AppVariables,
    ) -> Result<Self> {
        if !path.starts_with('/') {
            bail!("--schedule-post `{path}` must start with `/`");
        }
        if every_secs == 0 {
            bail!("--schedule-every must be at least 1 second");
        }
        let bearer = match bearer_variable {
            None => None,
            Some(name) => match variables.get(name) {
                Some(value) if !value.is_empty() => Some(value.to_string()),
                Some(_) => bail!("--schedule-bearer-variable `{name}` is empty"),
                None => bail!("--schedule-bearer-variable `{name}` is not a variable of the app"),
            },
        };
        Ok(Self {
            path: path.to_string(),
            every: Duration::from_secs(every_secs),
            bearer,
        })
    }

    /// Sends the request every interval (the first one interval after start) to the app
    /// listening on `addr`, forever; a failure or an answer other than 2xx is logged.
    pub async fn run(self, addr: SocketAddr) {
        let mut ticker = tokio::time::interval(self.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match tokio::time::timeout(REQUEST_TIMEOUT, self.post(addr)).await {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    tracing::debug!(target: "schedule", "POST {} {status}", self.path);
                }
                Ok(Ok(status)) => {
                    tracing::warn!(target: "schedule", "POST {} answered {status}", self.path);
                }
                Ok(Err(e)) => {
                    tracing::warn!(target: "schedule", "POST {} failed: {e:#}", self.path)
                }
                Err(_) => tracing::warn!(
                    target: "schedule",
                    "POST {} took longer than {REQUEST_TIMEOUT:?}",
                    self.path
                ),
            }
        }
    }

    /// One `POST` with an empty JSON object: the answer's status.
    async fn post(&self, addr: SocketAddr) -> Result<u16> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut request = hyper::Request::post(self.path.as_str())
            .header(hyper::header::HOST, addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.bearer {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from_static(b"{}")))?)
            .await?;
        let status = response.status().as_u16();
        // Read the answer to the end so the component's work is not cut short.
        response.into_body().collect().await?;
        Ok(status)
    }
}
