//! `host preinit`: pre-initializes a component at build time with wasmtime-wizer. The
//! component's exported `wizer-initialize` runs once (building, say, a model's runnable
//! plan) and its memory is snapshotted into the output, so every fresh per-request instance
//! starts initialized. A build step, not a serving feature: real Spin serves the output as
//! it serves any component.

use anyhow::{Context, Result};
use std::path::Path;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wizer::Wizer;

struct InitState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for InitState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Runs `wizer-initialize` of the component at `input` and writes the snapshot to `output`.
///
/// # Errors
///
/// An unreadable input, a component without `wizer-initialize`, an init function that
/// traps, or an unwritable output.
pub fn preinit(input: &Path, output: &Path) -> Result<()> {
    let bytes = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let engine = Engine::default();
    let mut linker = Linker::<InitState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    // No stdio, files or clocks are handed to the init function: a handle kept in the
    // snapshot would trap in every later instance.
    let mut store = Store::new(
        &engine,
        InitState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    let mut wizer = Wizer::new();
    // Keep the export: without it the snapshot fails to load (a known upstream issue).
    wizer.keep_init_func(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (snapshot, _) = runtime
        .block_on(
            wizer.run_component(&mut store, &bytes, async |store, component| {
                linker.instantiate_async(store, component).await
            }),
        )
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot pre-initialize {}", input.display()))?;
    std::fs::write(output, &snapshot)
        .with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "pre-initialized {} -> {} ({:.1} MB)",
        input.display(),
        output.display(),
        snapshot.len() as f64 / 1e6
    );
    Ok(())
}
