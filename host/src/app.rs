//! Loading an application: the manifest, its variables, each routed component composed
//! with its dependencies, compiled (or loaded from the on-disk cache) and pre-instantiated.

use crate::compose::{Dependency, compose};
use crate::manifest::Manifest;
use crate::outbound::OutboundPolicy;
use crate::router::Router;
use crate::spin::StateDir;
use crate::state::{ComponentConfig, InstanceState};
use crate::variables::AppVariables;
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Settings of `host up` that shape how the app is served.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The manifest to serve.
    pub manifest: PathBuf,
    /// Where SQLite files and the compiled-component cache live (default: `.spin/` beside
    /// the manifest).
    pub state_dir: Option<PathBuf>,
    /// Where compiled components are cached (default: `cache/` in the state directory).
    pub cache_dir: Option<PathBuf>,
    /// How SQLite connections behave.
    pub sqlite_mode: crate::spin::SqliteMode,
}

/// A served component.
pub struct ServedComponent {
    pub config: Arc<ComponentConfig>,
    pub pre: ProxyPre<InstanceState>,
}

/// A loaded application, ready to serve.
pub struct App {
    pub engine: Engine,
    pub router: Router<usize>,
    pub components: Vec<ServedComponent>,
    /// The application variables as resolved at start-up.
    pub variables: AppVariables,
}

/// The engine: async, epoch interruption for time-outs, pooling allocator with
/// copy-on-write memory images so a fresh instance per request is cheap.
pub fn engine() -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(4000)
        .total_tables(4000)
        .max_memory_size(256 << 20)
        // Reset only the pages a request dirtied (PAGEMAP_SCAN, Linux 6.7+) back to the
        // snapshot with memset and keep them resident, instead of dropping them with
        // madvise: the next instance in the slot then takes no page faults. This is what
        // makes a pre-initialized model cheap per request.
        .linear_memory_keep_resident(64 << 20)
        .table_keep_resident(1 << 20)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("cannot create the wasmtime engine")
}

impl App {
    /// Loads the application described by `settings`; `env` looks up environment variables
    /// (`SPIN_VARIABLE_*` overrides).
    ///
    /// # Errors
    ///
    /// An invalid manifest, a missing required variable, a missing or invalid component, a
    /// dependency that does not fit, or an import the host cannot provide.
    pub fn load(
        engine: Engine,
        settings: &Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let manifest = Manifest::load(&settings.manifest)?;
        let variables = AppVariables::resolve(&manifest, env)?;
        let state_dir = settings
            .state_dir
            .clone()
            .unwrap_or_else(|| manifest.dir.join(".spin"));
        let state = StateDir::open(&state_dir, settings.sqlite_mode)?;
        let cache_dir = settings
            .cache_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("cache"));
        let cache = ComponentCache::new(&engine, &cache_dir)?;

        let mut linker = Linker::<InstanceState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::spin::add_to_linker(&mut linker)?;

        let mut router = Router::default();
        let mut components: Vec<ServedComponent> = Vec::new();
        let mut ids: Vec<&str> = Vec::new();
        for trigger in &manifest.http_triggers {
            let index = match ids.iter().position(|id| *id == trigger.component()) {
                Some(index) => index,
                None => {
                    let served = load_component(
                        &engine,
                        &linker,
                        &cache,
                        &manifest,
                        &variables,
                        &state,
                        trigger.component(),
                    )
                    .with_context(|| format!("component `{}`", trigger.component()))?;
                    components.push(served);
                    ids.push(trigger.component());
                    components.len() - 1
                }
            };
            router.add(trigger.route(), index)?;
        }
        Ok(Self {
            engine,
            router,
            components,
            variables,
        })
    }
}

fn load_component(
    engine: &Engine,
    linker: &Linker<InstanceState>,
    cache: &ComponentCache,
    manifest: &Manifest,
    variables: &AppVariables,
    state: &StateDir,
    id: &str,
) -> Result<ServedComponent> {
    let decl = &manifest.components[id];
    let bytes = read_wasm(&manifest.resolve(&decl.source))?;
    let bytes = if decl.dependencies.is_empty() {
        bytes
    } else {
        let dependencies = decl
            .dependencies
            .iter()
            .map(|(name, dep)| {
                Ok(Dependency {
                    name: name.clone(),
                    bytes: read_wasm(&manifest.resolve(&dep.path))
                        .with_context(|| format!("dependency `{name}`"))?,
                    export: dep.export.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        compose(id, bytes, dependencies)?
    };
    let component = cache.load(engine, id, &bytes)?;

    // As Spin: a template that expands to nothing (or a bare scheme) allows nothing.
    let allowed: Vec<String> = decl
        .allowed_outbound_hosts
        .iter()
        .map(|h| variables.expand(h))
        .filter(|h| !matches!(h.as_deref(), Ok("" | "http://" | "https://")))
        .collect::<Result<_>>()
        .context("allowed_outbound_hosts")?;
    let config = Arc::new(ComponentConfig {
        id: id.to_string(),
        variables: variables.component_variables(&decl.variables)?,
        sqlite_databases: decl.sqlite_databases.clone(),
        key_value_stores: decl.key_value_stores.clone(),
        outbound: OutboundPolicy::parse(&allowed)?,
        state: state.clone(),
    });

    // An import this host does not provide (Redis, Postgres, LLM, ...) fails here, at
    // start-up, with the interface's name.
    let pre = linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .context(
            "cannot link the component's imports (an interface the local host does not provide?)",
        )?;
    let pre = ProxyPre::new(pre)
        .map_err(anyhow::Error::from)
        .context("the component does not export wasi:http/incoming-handler")?;
    Ok(ServedComponent { config, pre })
}

fn read_wasm(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "cannot read {} (build the components first: `host up --build` or `spin build`)",
            path.display()
        )
    })
}

/// Compiled components cached on disk, keyed by the component's bytes and the engine's
/// compatibility hash, so a restart does not recompile unchanged components.
struct ComponentCache {
    dir: PathBuf,
    engine_hash: String,
}

impl ComponentCache {
    fn new(engine: &Engine, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_hash = format!("{:016x}", std::hash::Hasher::finish(&hasher));
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_hash,
        })
    }

    // Loading a compiled component is `unsafe` in wasmtime (see the SAFETY note below).
    #[allow(unsafe_code)]
    fn load(&self, engine: &Engine, id: &str, bytes: &[u8]) -> Result<Component> {
        let key = hex::encode(Sha256::digest(bytes));
        let path = self.dir.join(format!("{key}-{}.cwasm", self.engine_hash));
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of this host with an
            // engine of the same compatibility hash (part of the file name); a corrupt or
            // foreign file is rejected by wasmtime's header checks and recompiled below.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    tracing::info!(component = %id, "compiled component loaded from cache");
                    return Ok(component);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e}")
                }
            }
        }
        let started = std::time::Instant::now();
        let component = Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .context("cannot compile the component")?;
        tracing::info!(component = %id, ms = started.elapsed().as_millis() as u64, "component compiled");
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let serialized = component.serialize()?;
        std::fs::write(&tmp, serialized)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write cache entry {}", path.display()))?;
        Ok(component)
    }
}

/// Runs the `[component.<id>.build]` commands, like `spin build`: a component that others
/// depend on (its `source` is their dependency's `path`) is built before them.
///
/// # Errors
///
/// A failing build command (its output is passed through).
pub fn build(manifest_path: &Path) -> Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    let dependency_paths: Vec<&str> = manifest
        .components
        .values()
        .flat_map(|c| c.dependencies.values().map(|d| d.path.as_str()))
        .collect();
    let mut order: Vec<(&String, &crate::manifest::ComponentDecl)> =
        manifest.components.iter().collect();
    order.sort_by_key(|(_, decl)| !dependency_paths.contains(&decl.source.as_str()));
    for (id, decl) in order {
        let Some(build) = &decl.build else { continue };
        let dir = manifest.resolve(build.workdir.as_deref().unwrap_or("."));
        for command in &build.commands {
            eprintln!("Building component {id} with `{command}`");
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(&dir)
                .status()
                .with_context(|| format!("cannot run the build command of `{id}`"))?;
            if !status.success() {
                bail!("build command of component `{id}` failed ({status})");
            }
        }
    }
    Ok(())
}
