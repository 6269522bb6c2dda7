//! The HTTP server: route, enforce the body limit, run a fresh instance per request with a
//! time-out, and log one line per request (method, route, status, duration; never the body).

use crate::app::App;
use crate::state::InstanceState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A request body as a component receives it.
type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, hyper::Error>;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted request body; larger gets 413 without invoking the component.
    /// `None` (the default, as under `spin up`): the body is streamed to the component,
    /// which enforces its own limit.
    pub max_body_bytes: Option<usize>,
    /// Longest a component may run for one request; longer gets 500.
    pub timeout: Duration,
}

/// How often the epoch advances; time-outs are measured in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Serves `app` on `listener` until the process ends.
///
/// # Errors
///
/// Only if accepting connections fails.
pub async fn serve(app: App, listener: TcpListener, limits: Limits) -> anyhow::Result<()> {
    let engine = app.engine.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        }
    });
    let app = Arc::new(app);
    loop {
        let (stream, client) = listener.accept().await?;
        let app = app.clone();
        tokio::task::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&app, req, client, limits).await) }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection from {client} ended: {e}");
            }
        });
    }
}

async fn handle(
    app: &App,
    req: Request<Incoming>,
    client: SocketAddr,
    limits: Limits,
) -> Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (route, response) = match app.router.route(&path) {
        None => (
            "-".to_string(),
            json_error(StatusCode::NOT_FOUND, "no route matches this path"),
        ),
        Some(matched) => {
            let route = matched.route.to_string();
            let response = invoke(
                app,
                *matched.target,
                &route,
                &matched.path_info,
                req,
                client,
                limits,
            )
            .await;
            (route, response)
        }
    };
    tracing::info!(
        target: "request",
        "{method} {route} {} {:.3}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

async fn invoke(
    app: &App,
    index: usize,
    route: &str,
    path_info: &str,
    req: Request<Incoming>,
    client: SocketAddr,
    limits: Limits,
) -> Response<HyperOutgoingBody> {
    let (parts, body) = req.into_parts();
    let body = match limited_body(&parts, body, limits).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let route_info = RouteInfo {
        route,
        path_info,
        client,
    };
    match spin_request(parts, body, &route_info) {
        Ok(req) => run_component(app, index, route, req, limits).await,
        Err(_) => json_error(StatusCode::BAD_REQUEST, "invalid request URI"),
    }
}

/// The request body, read whole under the body limit when there is one (streamed when not),
/// or the 413/400 to answer instead.
async fn limited_body(
    parts: &hyper::http::request::Parts,
    body: Incoming,
    limits: Limits,
) -> Result<BoxBody, Response<HyperOutgoingBody>> {
    Ok(match limits.max_body_bytes {
        None => body.boxed_unsync(),
        Some(limit) => {
            let declared = parts
                .headers
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > DRAIN_LIMIT as u64) {
                // Too big to even read: answer at once (the connection is closed afterwards).
                return Err(too_large(limit));
            }
            match read_body(body, limit).await {
                BodyRead::Complete(body) => Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
                BodyRead::TooLarge => return Err(too_large(limit)),
                BodyRead::Failed(e) => {
                    return Err(json_error(
                        StatusCode::BAD_REQUEST,
                        &format!("cannot read the request body: {e}"),
                    ));
                }
            }
        }
    })
}

/// Where a request was routed, for Spin's routing headers.
struct RouteInfo<'a> {
    route: &'a str,
    path_info: &'a str,
    client: SocketAddr,
}

/// The request as a component sees it under Spin: an absolute URI and Spin's routing headers;
/// an error if the URI cannot be made absolute.
fn spin_request(
    mut parts: hyper::http::request::Parts,
    body: BoxBody,
    info: &RouteInfo<'_>,
) -> Result<Request<BoxBody>, hyper::http::uri::InvalidUri> {
    let (route, path_info, client) = (info.route, info.path_info, info.client);
    // The URI a component sees is absolute, as under Spin, and Spin's routing headers are set.
    let authority = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let full_url = format!("http://{authority}{path_and_query}");
    parts.uri = full_url.parse()?;
    let component_route = route.strip_suffix("/...").unwrap_or(route);
    for (name, value) in [
        ("spin-full-url", full_url.as_str()),
        ("spin-path-info", path_info),
        ("spin-matched-route", route),
        ("spin-raw-component-route", route),
        ("spin-component-route", component_route),
        ("spin-base-path", "/"),
        ("spin-client-addr", &client.to_string()),
    ] {
        if let Ok(value) = hyper::header::HeaderValue::from_str(value) {
            parts.headers.insert(name, value);
        }
    }
    Ok(Request::from_parts(parts, body))
}

/// Runs the component on `req` in a fresh store with the request's deadline: its response,
/// or a 500 if it traps, returns none or runs out of time.
async fn run_component(
    app: &App,
    index: usize,
    route: &str,
    req: Request<BoxBody>,
    limits: Limits,
) -> Response<HyperOutgoingBody> {
    let served = &app.components[index];
    let mut store = Store::new(&app.engine, InstanceState::new(served.config.clone()));
    let ticks = (limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let prepared = (|| -> wasmtime::Result<_> {
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        Ok((req, out))
    })();
    let (req, out) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return internal_error(route, &format!("{e:?}")),
    };
    let pre = served.pre.clone();
    let task = tokio::task::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
    });

    match tokio::time::timeout(limits.timeout + EPOCH_TICK * 5, receiver).await {
        Ok(Ok(Ok(response))) => response,
        Ok(Ok(Err(code))) => {
            internal_error(route, &format!("component returned an error: {code:?}"))
        }
        Ok(Err(_)) => {
            // The component never set a response: it trapped or returned without one.
            let reason = match task.await {
                Ok(Ok(())) => "component returned without setting a response".to_string(),
                Ok(Err(e)) => format!("component trapped: {e:?}"),
                Err(e) => format!("component task failed: {e}"),
            };
            internal_error(route, &reason)
        }
        Err(_) => {
            task.abort();
            internal_error(
                route,
                &format!("component timed out after {:?}", limits.timeout),
            )
        }
    }
}

/// Bodies over the limit but under this size are read to the end and discarded before the
/// 413, so a client that sends the whole body before reading sees the answer instead of a
/// reset connection.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// How long reading a request body may take.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

enum BodyRead {
    Complete(Bytes),
    TooLarge,
    Failed(String),
}

async fn read_body(mut body: Incoming, limit: usize) -> BodyRead {
    let deadline = tokio::time::Instant::now() + BODY_READ_TIMEOUT;
    let mut buffer = bytes::BytesMut::new();
    let mut total = 0usize;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) if total > limit => return BodyRead::TooLarge,
            Err(_) => return BodyRead::Failed("timed out".into()),
            Ok(None) => break,
            Ok(Some(Err(_))) if total > limit => return BodyRead::TooLarge,
            Ok(Some(Err(e))) => return BodyRead::Failed(e.to_string()),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total > DRAIN_LIMIT {
                return BodyRead::TooLarge;
            }
            if total > limit {
                buffer.clear();
            } else {
                buffer.extend_from_slice(&data);
            }
        }
    }
    if total > limit {
        BodyRead::TooLarge
    } else {
        BodyRead::Complete(buffer.freeze())
    }
}

fn too_large(limit: usize) -> Response<HyperOutgoingBody> {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body larger than {limit} bytes"),
    )
}

fn internal_error(route: &str, reason: &str) -> Response<HyperOutgoingBody> {
    tracing::error!(route = %route, "request failed: {reason}");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error while handling the request",
    )
}

fn json_error(status: StatusCode, message: &str) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(full_body(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn full_body(bytes: Bytes) -> HyperOutgoingBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
