//! Per-request cost of the nlu component: a fresh instance (pooling allocator, copy-on-write
//! memory image, `InstancePre`) plus one `analyze`, for the pre-initialized component and the
//! same component without pre-initialization, side by side in one run.
//!
//! ```sh
//! cargo bench -p host --bench nlu_component     # after `host build` (scripts/test does it)
//! ```

use std::time::Instant;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({ path: "../wit", world: "nlu" });

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn fresh_store(engine: &Engine) -> Store<State> {
    Store::new(
        engine,
        State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    )
}

const TEXTS: &[&str] = &[
    "Hol van a rendelésem? #HU-10234",
    "ile kosztuje wysyłka do Polski",
    "I want to return the lamp, it arrived broken",
    "mikor vagytok nyitva",
];

/// The component builds to compare: name, file under `target/wasm32-wasip2/release`, and
/// requests to measure (the slow one gets fewer).
const VARIANTS: [(&str, &str, usize); 2] = [
    ("pre-initialized", "nlu.wasm", 2000),
    ("not pre-initialized", "nlu_component.wasm", 40),
];

fn main() -> wasmtime::Result<()> {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release");
    let engine = pooling_engine()?;
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;

    let mut pres = Vec::new();
    for (name, file, _) in VARIANTS {
        let component = Component::from_file(&engine, root.join(file))?;
        pres.push((name, NluPre::new(linker.instantiate_pre(&component)?)?));
    }
    let mut samples = measure_variants(&engine, &pres)?;
    print_breakdown(&engine, &pres[0].1)?;
    print_variants(&pres, &mut samples);
    Ok(())
}

/// An engine configured like the host's: pooling allocator and copy-on-write memory images.
fn pooling_engine() -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(100)
        .total_memories(200)
        .total_tables(200)
        .max_memory_size(256 << 20);
    // Same reset strategy as the host (see host/src/app.rs).
    pool.linear_memory_keep_resident(64 << 20)
        .table_keep_resident(1 << 20)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    config
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Per variant, the time (µs) of each fresh instance plus one `analyze`.
fn measure_variants(
    engine: &Engine,
    pres: &[(&str, NluPre<State>)],
) -> wasmtime::Result<Vec<Vec<f64>>> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    // Alternate short blocks of both variants so machine noise hits both alike.
    for round in 0..10 {
        for (v, (_, _, iterations)) in VARIANTS.iter().enumerate() {
            for i in 0..iterations / 10 {
                let text = TEXTS[(round + i) % TEXTS.len()];
                let started = Instant::now();
                let mut store = fresh_store(engine);
                let nlu = pres[v].1.instantiate(&mut store)?;
                let analysis = nlu
                    .chatbot_nlu_analyzer()
                    .call_analyze(&mut store, text)?
                    .map_err(|e| wasmtime::format_err!("{e}"))?;
                std::hint::black_box(analysis);
                samples[v].push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    Ok(samples)
}

/// Prints the breakdown for the pre-initialized component: instantiation alone, and analyze
/// alone on one kept instance.
fn print_breakdown(engine: &Engine, pre: &NluPre<State>) -> wasmtime::Result<()> {
    let mut instantiate_only = Vec::new();
    for _ in 0..1000 {
        let started = Instant::now();
        let mut store = fresh_store(engine);
        std::hint::black_box(pre.instantiate(&mut store)?);
        instantiate_only.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let mut analyze_only = Vec::new();
    let mut store = fresh_store(engine);
    let kept = pre.instantiate(&mut store)?;
    for i in 0..1000 {
        let started = Instant::now();
        std::hint::black_box(
            kept.chatbot_nlu_analyzer()
                .call_analyze(&mut store, TEXTS[i % TEXTS.len()])?
                .map_err(|e| wasmtime::format_err!("{e}"))?,
        );
        analyze_only.push(started.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "pre-initialized breakdown: instantiate p50 {:.1} µs, analyze on a kept instance p50 {:.1} µs",
        median(&mut instantiate_only),
        median(&mut analyze_only)
    );
    Ok(())
}

/// Prints p50 and p99 per variant, then how much faster pre-initialization makes a request.
fn print_variants(pres: &[(&str, NluPre<State>)], samples: &mut [Vec<f64>]) {
    let mut p50s = Vec::new();
    println!(
        "{:<22} {:>6} {:>10} {:>10}",
        "variant", "n", "p50 µs", "p99 µs"
    );
    for (v, (name, _)) in pres.iter().enumerate() {
        let s = &mut samples[v];
        s.sort_by(f64::total_cmp);
        let pct = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        println!(
            "{:<22} {:>6} {:>10.1} {:>10.1}",
            name,
            s.len(),
            pct(0.5),
            pct(0.99)
        );
        p50s.push(pct(0.5));
    }
    println!(
        "pre-initialization speed-up (p50): {:.0}x",
        p50s[1] / p50s[0]
    );
}

/// The middle value (upper middle for an even count); sorts `v`.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
