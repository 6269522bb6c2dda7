//! Per-request store state and the per-component configuration it points to.

use crate::outbound::OutboundPolicy;
use crate::spin::StateDir;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// What a component may see and touch, resolved once at start-up.
#[derive(Debug)]
pub struct ComponentConfig {
    /// The component id in spin.toml.
    pub id: String,
    /// Its expanded `[component.<id>.variables]`.
    pub variables: BTreeMap<String, String>,
    /// `sqlite_databases`.
    pub sqlite_databases: Vec<String>,
    /// `key_value_stores`.
    pub key_value_stores: Vec<String>,
    /// `allowed_outbound_hosts`, expanded.
    pub outbound: OutboundPolicy,
    /// Where SQLite files live.
    pub state: StateDir,
}

/// The data of one request's `Store`.
pub struct InstanceState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub hooks: OutboundHooks,
    pub component: Arc<ComponentConfig>,
}

impl InstanceState {
    /// Fresh state for one request to `component`.
    pub fn new(component: Arc<ComponentConfig>) -> Self {
        let wasi = WasiCtx::builder().inherit_stdout().inherit_stderr().build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks {
                component: component.clone(),
            },
            component,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Outgoing HTTP, refused unless the destination is in `allowed_outbound_hosts`.
pub struct OutboundHooks {
    component: Arc<ComponentConfig>,
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or("");
        if !self.component.outbound.allows(scheme, host, uri.port_u16()) {
            let destination = format!(
                "{scheme}://{host}{}",
                uri.port().map(|p| format!(":{p}")).unwrap_or_default()
            );
            tracing::warn!(
                component = %self.component.id,
                destination = %destination,
                "outbound request refused: not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
