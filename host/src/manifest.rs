//! Spin's application manifest (`spin_manifest_version = 2`), read and checked by Spin's own
//! rules (those of Spin 4.1's `spin-manifest`, `spin-loader` and HTTP trigger crates): unknown
//! keys, identifier syntax, variables, dependency names and sources, `allowed_outbound_hosts`
//! and trigger settings are refused here as `spin up` refuses them, so an app that starts on
//! the local host starts under Spin too. What Spin accepts but this host cannot honour
//! (other trigger types, remote sources, `files`, ...) is refused with a message that says
//! so. A component no trigger names (a dependency of others, like `nlu`) is accepted and
//! checked, as Spin does; it is never served on its own.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed `spin.toml` plus the directory it was read from (sources are relative to it).
#[derive(Debug)]
pub struct Manifest {
    /// The directory holding spin.toml.
    pub dir: PathBuf,
    /// Application variables: name → declaration.
    pub variables: BTreeMap<String, VariableDecl>,
    /// HTTP triggers in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// Components by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: ApplicationDecl,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    trigger: BTreeMap<String, toml::Value>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ApplicationDecl {
    name: String,
    version: Option<String>,
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    targets: Vec<toml::Value>,
    trigger: Option<BTreeMap<String, toml::Table>>,
    tool: Option<toml::Table>,
}

/// An application variable as declared in `[variables]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// The value used when no override is given.
    pub default: Option<String>,
    /// Start-up fails when a required variable has no value.
    #[serde(default)]
    pub required: bool,
    /// Secret variables are never printed (this host prints no variable values at all); a
    /// required secret may not be empty.
    #[serde(default)]
    pub secret: bool,
    /// What it is for.
    #[allow(dead_code)]
    pub description: Option<String>,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    /// The route: an exact path, or a prefix ending in `/...`.
    pub route: toml::Value,
    /// The id of the component serving the route.
    pub component: Option<toml::Value>,
    /// Spin's `executor` setting (only the default, `http`, is served here).
    executor: Option<toml::Table>,
    /// Spin's `static_response` (not served here).
    static_response: Option<toml::Table>,
    /// Spin's trigger id.
    #[allow(dead_code)]
    id: Option<String>,
}

impl HttpTrigger {
    /// The route as written.
    pub fn route(&self) -> &str {
        self.route.as_str().unwrap_or_default()
    }

    /// The component it names (checked at load).
    pub fn component(&self) -> &str {
        self.component
            .as_ref()
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: toml::Value,
    description: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    environment: Option<toml::Table>,
    files: Option<toml::Value>,
    exclude_files: Option<toml::Value>,
    allowed_http_hosts: Option<Vec<String>>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    ai_models: Option<Vec<String>>,
    targets: Option<Vec<toml::Value>>,
    build: Option<RawBuild>,
    tool: Option<toml::Table>,
    dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    dependencies: BTreeMap<String, RawDependency>,
    profile: Option<toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: toml::Value,
    workdir: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    watch: Vec<String>,
}

/// A dependency source in any of Spin's forms; which ones this host serves is decided in
/// [`dependency`].
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawDependency {
    Version(#[allow(dead_code)] String),
    Table(DependencyTable),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DependencyTable {
    path: Option<String>,
    version: Option<String>,
    registry: Option<String>,
    package: Option<String>,
    url: Option<String>,
    digest: Option<String>,
    component: Option<String>,
    export: Option<String>,
    inherit_configuration: Option<toml::Value>,
}

/// One `[component.<id>]` table, checked.
#[derive(Debug, Clone)]
pub struct ComponentDecl {
    /// Path of the Wasm component, relative to the manifest.
    pub source: String,
    /// Component variables: name → template over application variables.
    pub variables: BTreeMap<String, String>,
    /// SQLite database labels the component may open.
    pub sqlite_databases: Vec<String>,
    /// Key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// Outbound HTTP destinations (may contain `{{ variable }}` templates).
    pub allowed_outbound_hosts: Vec<String>,
    /// Dependencies: import name (interface or package) → where the component comes from.
    pub dependencies: BTreeMap<String, DependencyDecl>,
    /// How `spin build` builds this component.
    pub build: Option<BuildDecl>,
}

/// A component dependency: a local Wasm file (a `path`, or another component's `source`
/// for `{ component = "..." }`).
#[derive(Debug, Clone)]
pub struct DependencyDecl {
    /// Path of the dependency's Wasm component, relative to the manifest.
    pub path: String,
    /// The dependency's export to use when it differs from the import name.
    pub export: Option<String>,
}

/// A `[component.<id>.build]` table.
#[derive(Debug, Clone)]
pub struct BuildDecl {
    /// The shell commands to run, in order.
    pub commands: Vec<String>,
    /// Working directory relative to the manifest.
    pub workdir: Option<String>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    ///
    /// # Errors
    ///
    /// Unreadable file, invalid TOML, or anything Spin refuses or this host cannot honour
    /// (see the module documentation).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Self::parse(&text, dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text; `dir` is where relative paths start.
    ///
    /// # Errors
    ///
    /// As [`Manifest::load`].
    pub fn parse(text: &str, dir: PathBuf) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version.as_integer() != Some(2) {
            bail!(
                "invalid manifest version: {} (expected the integer 2)",
                raw.spin_manifest_version
            );
        }
        if let Some(triggers) = &raw.application.trigger {
            for (kind, settings) in triggers {
                for (key, value) in settings {
                    if kind != "http" || key != "base" {
                        bail!(
                            "[application.trigger.{kind}]: unknown field `{key}`, expected `base`"
                        );
                    }
                    if value.as_str() != Some("/") {
                        bail!(
                            "[application.trigger.http]: the deprecated `base` must be \"/\"; prepend it to each route instead"
                        );
                    }
                }
            }
        }
        for (name, decl) in &raw.variables {
            check_variable_name(name)?;
            if decl.required == decl.default.is_some() {
                bail!("variable `{name}` must be `required` OR have a `default`");
            }
        }
        let http_triggers = triggers(&raw.trigger)?;
        let mut components = BTreeMap::new();
        for (id, component) in &raw.component {
            check_component_id(id)?;
            let decl =
                component_decl(id, component, &raw).with_context(|| format!("component `{id}`"))?;
            components.insert(id.clone(), decl);
        }
        for trigger in &http_triggers {
            if !components.contains_key(trigger.component()) {
                bail!(
                    "trigger for route `{}`: no such component `{}`",
                    trigger.route(),
                    trigger.component()
                );
            }
            crate::router::Route::parse(trigger.route())?;
        }
        Ok(Self {
            dir,
            variables: raw.variables,
            http_triggers,
            components,
        })
    }

    /// Resolves a path written in the manifest.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }
}

/// The HTTP triggers, checked; other trigger types are refused (Spin needs a plugin for
/// them, this host has none).
fn triggers(raw: &BTreeMap<String, toml::Value>) -> Result<Vec<HttpTrigger>> {
    if raw.is_empty() {
        bail!("No triggers in app");
    }
    if let Some(kind) = raw.keys().find(|kind| *kind != "http") {
        bail!(
            "trigger type `{kind}` is not supported: Spin has no built-in trigger named '{kind}' (it needs the plugin 'trigger-{kind}'), and the local host serves only http"
        );
    }
    let triggers: Vec<HttpTrigger> = raw["http"].clone().try_into().context("[[trigger.http]]")?;
    for trigger in &triggers {
        let route = match &trigger.route {
            toml::Value::String(route) => route.clone(),
            toml::Value::Table(t)
                if t.get("private").and_then(toml::Value::as_bool) == Some(true)
                    && t.len() == 1 =>
            {
                bail!(
                    "a private route (`route = {{ private = true }}`) is not supported by the local host"
                )
            }
            toml::Value::Table(_) => {
                bail!("route must be a string pattern or '{{ private = true }}'")
            }
            other => bail!("route must be a string pattern or '{{ private = true }}', not {other}"),
        };
        match (&trigger.component, &trigger.static_response) {
            (Some(_), Some(_)) => bail!(
                "trigger for route `{route}`: triggers must specify either component or static_response, not both"
            ),
            (None, None) => bail!(
                "trigger for route `{route}`: triggers must specify either component or static_response"
            ),
            (None, Some(_)) => bail!(
                "trigger for route `{route}`: `static_response` is not supported by the local host"
            ),
            (Some(toml::Value::String(id)), None) => check_component_id(id)?,
            (Some(_), None) => bail!(
                "trigger for route `{route}`: an inline component table is not supported by the local host; use `component = \"<id>\"`"
            ),
        }
        if let Some(executor) = &trigger.executor {
            match executor.get("type").and_then(toml::Value::as_str) {
                Some("spin" | "http") => {}
                Some("wagi") => bail!(
                    "trigger for route `{route}`: the WAGI executor is not supported by the local host"
                ),
                other => bail!(
                    "trigger for route `{route}`: unknown executor type {other:?}, expected one of `http`, `spin`, `wagi`"
                ),
            }
        }
    }
    Ok(triggers)
}

/// Keys of a component table that Spin honours and this host does not.
fn unsupported_keys(component: &RawComponent) -> Vec<&'static str> {
    let c = component;
    [
        ("files", c.files.is_some()),
        ("exclude_files", c.exclude_files.is_some()),
        ("ai_models", c.ai_models.is_some()),
        ("environment", c.environment.is_some()),
        ("allowed_http_hosts", c.allowed_http_hosts.is_some()),
        ("targets", c.targets.is_some()),
        ("profile", c.profile.is_some()),
        (
            "dependencies_inherit_configuration",
            c.dependencies_inherit_configuration.is_some(),
        ),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

fn component_decl(id: &str, c: &RawComponent, raw: &RawManifest) -> Result<ComponentDecl> {
    let _ = (&c.description, &c.tool);
    if let Some(key) = unsupported_keys(c).first() {
        bail!("`{key}` is not supported by the local host");
    }
    let source = match &c.source {
        toml::Value::String(path) => path.clone(),
        toml::Value::Table(t) if t.contains_key("url") || t.contains_key("package") => {
            bail!(
                "only a local file `source` is supported by the local host (not a URL or registry source)"
            )
        }
        _ => bail!("`source` must be a path, {{ url, digest }} or {{ package, version }}"),
    };
    for name in c.variables.keys() {
        check_variable_name(name).context("[component variables]")?;
    }
    for template in c.variables.values().chain(&c.allowed_outbound_hosts) {
        for name in template_names(template)? {
            if !raw.variables.contains_key(&name) {
                bail!("invalid variable template {template:?}: unknown variable \"{name}\"");
            }
        }
    }
    for host in &c.allowed_outbound_hosts {
        check_outbound_template(host, &raw.variables)
            .context("`allowed_outbound_hosts` is malformed")?;
    }
    for (kind, labels) in [
        ("key_value_stores", &c.key_value_stores),
        ("sqlite_databases", &c.sqlite_databases),
    ] {
        for label in labels {
            check_label(label)?;
            if label != "default" {
                bail!(
                    "unknown {kind} label \"{label}\" for component \"{id}\": only `default` exists without a runtime config, which the local host does not read"
                );
            }
        }
    }
    let dependencies = c
        .dependencies
        .iter()
        .map(|(name, dep)| {
            check_dependency_name(name)
                .and_then(|()| dependency(name, dep, raw))
                .with_context(|| format!("dependency `{name}`"))
                .map(|decl| (name.clone(), decl))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    let build = c.build.as_ref().map(build_decl).transpose()?;
    Ok(ComponentDecl {
        source,
        variables: c.variables.clone(),
        sqlite_databases: c.sqlite_databases.clone(),
        key_value_stores: c.key_value_stores.clone(),
        allowed_outbound_hosts: c.allowed_outbound_hosts.clone(),
        dependencies,
        build,
    })
}

fn build_decl(build: &RawBuild) -> Result<BuildDecl> {
    let commands = match &build.command {
        toml::Value::String(command) => vec![command.clone()],
        toml::Value::Array(commands) => commands
            .iter()
            .map(|c| c.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .context("build `command` must be a string or an array of strings")?,
        _ => bail!("build `command` must be a string or an array of strings"),
    };
    if build
        .workdir
        .as_deref()
        .is_some_and(|w| Path::new(w).is_absolute())
    {
        bail!("The workdir specified in the application file must be relative.");
    }
    Ok(BuildDecl {
        commands,
        workdir: build.workdir.clone(),
    })
}

/// A dependency's source: this host serves local files, named by `path` or by another
/// component (`{ component = "..." }`, which Spin allows only for a component without
/// resources or permissions).
fn dependency(name: &str, dep: &RawDependency, raw: &RawManifest) -> Result<DependencyDecl> {
    let table = match dep {
        RawDependency::Version(_) => {
            bail!(
                "registry dependencies (a version) are not supported by the local host; use {{ path = \"...\" }}"
            )
        }
        RawDependency::Table(table) => table,
    };
    if table.inherit_configuration.is_some() {
        bail!("`inherit_configuration` is not supported by the local host");
    }
    let forms = [
        table.path.is_some(),
        table.version.is_some(),
        table.url.is_some(),
        table.component.is_some(),
    ];
    if forms.iter().filter(|set| **set).count() != 1
        || (table.url.is_some() != table.digest.is_some())
        || ((table.registry.is_some() || table.package.is_some()) && table.version.is_none())
    {
        bail!(
            "data did not match any variant of ComponentDependency: give exactly one of {{ path }}, {{ version, registry?, package? }}, {{ url, digest }}, {{ component }}"
        );
    }
    if table.export.is_some() && !name.contains('/') && name.contains(':') {
        bail!("using an export to satisfy the package dependency `{name}` is not permitted");
    }
    let path = if let Some(path) = &table.path {
        path.clone()
    } else if let Some(id) = &table.component {
        check_component_id(id)?;
        let target = raw
            .component
            .get(id)
            .with_context(|| format!("dependency ID {id} does not exist"))?;
        let resources = [
            (
                "allowed_outbound_hosts",
                !target.allowed_outbound_hosts.is_empty(),
            ),
            ("dependencies", !target.dependencies.is_empty()),
            ("key_value_stores", !target.key_value_stores.is_empty()),
            ("sqlite_databases", !target.sqlite_databases.is_empty()),
            ("variables", !target.variables.is_empty()),
        ];
        let held: Vec<&str> = resources
            .iter()
            .filter(|(_, h)| *h)
            .map(|(k, _)| *k)
            .collect();
        if !held.is_empty() {
            bail!(
                "Dependencies may not have their own resources or permissions. Component {id} cannot be used as a dependency because it specifies: {}",
                held.join(", ")
            );
        }
        target
            .source
            .as_str()
            .context("only a local file `source` is supported by the local host")?
            .to_string()
    } else {
        bail!(
            "URL and registry dependencies are not supported by the local host: use {{ path = \"...\" }} or {{ component = \"...\" }}"
        );
    };
    Ok(DependencyDecl {
        path,
        export: table.export.clone(),
    })
}

/// Spin's kebab-case ids (component ids, interface names): `-`-separated words, each all
/// lower-case or all upper-case ASCII letters and digits, starting with a letter.
pub fn check_component_id(id: &str) -> Result<()> {
    check_words(id, '-', true).with_context(|| format!("invalid id `{id}`"))
}

/// Spin variable names: lower-case `_`-separated words of letters and digits, each starting
/// with a letter (`a_1`, `a__b` and `ab_` are refused).
pub fn check_variable_name(name: &str) -> Result<()> {
    check_words(name, '_', false).with_context(|| format!("invalid variable name `{name}`"))
}

fn check_words(text: &str, delimiter: char, upper_allowed: bool) -> Result<()> {
    let other = if delimiter == '-' { '_' } else { '-' };
    if text.contains(other) {
        bail!("words must be separated with '{delimiter}', not '{other}'");
    }
    for word in text.split(delimiter) {
        let Some(first) = word.chars().next() else {
            bail!("'{delimiter}'-separated words must not be empty");
        };
        if !first.is_ascii_alphabetic() {
            bail!("'{delimiter}'-separated words must start with an ASCII letter; got '{first}'");
        }
        if let Some(bad) = word.chars().find(|c| !c.is_ascii_alphanumeric()) {
            bail!("'{delimiter}'-separated words may only contain alphanumeric ASCII; got '{bad}'");
        }
        let lower = word.chars().all(|c| !c.is_ascii_uppercase());
        let upper = word.chars().all(|c| !c.is_ascii_lowercase());
        if !(lower || (upper_allowed && upper)) {
            bail!(
                "'{delimiter}'-separated words must be all lowercase{}; got \"{word}\"",
                if upper_allowed {
                    " or all UPPERCASE"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

/// Key-value and SQLite labels: kebab-case or snake_case.
fn check_label(label: &str) -> Result<()> {
    check_words(label, '-', false)
        .or_else(|_| check_words(label, '_', false))
        .with_context(|| format!("invalid label `{label}`: expected kebab-case or snake_case"))
}

/// A dependency name: `ns:pkg[/interface][@version]` (lower-case kebab labels, a full
/// semantic version), or a plain kebab-case import name.
fn check_dependency_name(name: &str) -> Result<()> {
    if !name.contains(':') && !name.contains('/') {
        return check_words(name, '-', true);
    }
    let (name, version) = match name.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (name, None),
    };
    if let Some(version) = version {
        let parts: Vec<&str> = version
            .split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
        {
            bail!(
                "invalid version `{version}`: expected a full semantic version (major.minor.patch)"
            );
        }
    }
    let (package, interface) = match name.split_once('/') {
        Some((package, interface)) => (package, Some(interface)),
        None => (name, None),
    };
    let (namespace, package) = package
        .split_once(':')
        .context("invalid package ref: missing expected ':'")?;
    for label in [namespace, package] {
        check_words(label, '-', false).context("invalid label")?;
    }
    if let Some(interface) = interface {
        if interface.is_empty() {
            bail!("empty interface name");
        }
        check_words(interface, '-', true)?;
    }
    Ok(())
}

/// The variable names a `{{ name }}` template uses.
fn template_names(template: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .context("invalid variable template: unmatched '{{' in template")?;
        names.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// An `allowed_outbound_hosts` entry as Spin checks it at load time: a literal entry must
/// parse; a template is resolved with the variables' defaults when every variable it names
/// has one (a result that is empty, `http://` or `https://` means "none" and is skipped).
fn check_outbound_template(entry: &str, variables: &BTreeMap<String, VariableDecl>) -> Result<()> {
    let mut resolved = entry.to_string();
    for name in template_names(entry)? {
        let Some(default) = variables.get(&name).and_then(|v| v.default.as_deref()) else {
            return Ok(()); // checked once the value is known, at start-up
        };
        resolved = resolved.replace(&format!("{{{{ {name} }}}}"), default);
        resolved = resolved.replace(&format!("{{{{{name}}}}}"), default);
    }
    if matches!(resolved.as_str(), "" | "http://" | "https://") {
        return Ok(());
    }
    crate::outbound::OutboundPolicy::parse(&[resolved.as_str()])
        .map(|_| ())
        .with_context(|| {
            if resolved == entry {
                String::new()
            } else {
                format!("using default variable value(s) with template {entry:?} results in invalid config {resolved:?}")
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
secret = { required = true, secret = true }
base = { default = "https://graph.facebook.com" }
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["{{ base }}"]
[component.dep]
source = "dep.wasm"
"#;

    #[test]
    fn parses_minimal() {
        let m = Manifest::parse(MINIMAL, PathBuf::from("/app")).unwrap();
        assert_eq!(m.http_triggers.len(), 1);
        assert!(m.variables["secret"].required);
        assert_eq!(m.resolve("a.wasm"), PathBuf::from("/app/a.wasm"));
        assert_eq!(
            m.components.len(),
            2,
            "an untriggered component is accepted, as by Spin"
        );
    }

    /// What Spin refuses (its messages, read from its source and checked against `spin up`
    /// 4.1), and what this host cannot honour: each case changes MINIMAL in one place.
    #[test]
    fn refuses_what_spin_refuses() {
        let with = |from: &str, to: &str| {
            assert!(MINIMAL.contains(from), "{from}");
            MINIMAL.replacen(from, to, 1)
        };
        // Adds to component `a` (replacing its `allowed_outbound_hosts` if given).
        let component = |extra: &str| {
            if extra.starts_with("allowed_outbound_hosts") {
                with("allowed_outbound_hosts = [\"{{ base }}\"]", extra)
            } else {
                with("[component.dep]", &format!("{extra}\n[component.dep]"))
            }
        };
        let dependency = |key: &str, value: &str| {
            component(&format!("[component.a.dependencies]\n{key} = {value}"))
        };
        let cases = [
            // The manifest's shape and unknown keys.
            (with("= 2", "= 1"), "invalid manifest version"),
            (with("= 2", "= \"2\""), "invalid manifest version"),
            (
                with(
                    "spin_manifest_version = 2",
                    "spin_manifest_version = 2\nfoo = 1",
                ),
                "unknown field `foo`",
            ),
            (
                with("name = \"t\"", "name = \"t\"\nfoo = \"x\""),
                "unknown field `foo`",
            ),
            (
                with("name = \"t\"", "version = \"1\""),
                "missing field `name`",
            ),
            (component("foo = \"x\""), "unknown field `foo`"),
            (
                component("[component.a.build]\ncommand = \"true\"\nfoo = 1"),
                "unknown field `foo`",
            ),
            (
                component("[component.a.build]\nworkdir = \"x\""),
                "missing field `command`",
            ),
            (
                with("component = \"a\"", "component = \"a\"\nfoo = \"x\""),
                "unknown field `foo`",
            ),
            (
                with("base = { default", "base = { foo = 1, default"),
                "unknown field `foo`",
            ),
            (
                with(
                    "[[trigger.http]]\nroute = \"/a/...\"\ncomponent = \"a\"\n",
                    "",
                ),
                "missing field `trigger`",
            ),
            (
                with(
                    "[[trigger.http]]",
                    "[[trigger.cron]]\ncron_expression = \"* * * * *\"\ncomponent = \"a\"\n[[trigger.http]]",
                ),
                "trigger-cron",
            ),
            (
                with("[[trigger.http]]\nroute", "[trigger.http]\nroute"),
                "trigger.http",
            ),
            (
                with(
                    "name = \"t\"",
                    "name = \"t\"\n[application.trigger.http]\nbase = \"/api\"",
                ),
                "base",
            ),
            // Identifiers and variables.
            (
                with("component = \"a\"", "component = \"b\""),
                "no such component `b`",
            ),
            (with("[component.dep]", "[component.bad_id]"), "not '_'"),
            (
                with("[component.dep]", "[component.Dep]"),
                "all lowercase or all UPPERCASE",
            ),
            (
                with("[component.dep]", "[component.1dep]"),
                "must start with an ASCII letter",
            ),
            (with("secret = {", "Bad-Name = {"), "not '-'"),
            (with("secret = {", "a__b = {"), "must not be empty"),
            (with("secret = {", "ab_ = {"), "must not be empty"),
            (
                with("secret = {", "a_1 = {"),
                "must start with an ASCII letter",
            ),
            (
                with(
                    "secret = { required = true, secret = true }",
                    "secret = { secret = true }",
                ),
                "must be `required` OR have a `default`",
            ),
            (
                with(
                    "secret = { required = true,",
                    "secret = { required = true, default = \"x\",",
                ),
                "must be `required` OR have a `default`",
            ),
            (
                component("[component.a.variables]\nv = \"{{ nope }}\""),
                "unknown variable \"nope\"",
            ),
            (
                component("[component.a.variables]\nv = \"{{ secret \""),
                "unmatched '{{'",
            ),
            (
                component("sqlite_databases = [\"other\"]"),
                "unknown sqlite_databases label \"other\"",
            ),
            (
                component("key_value_stores = [\"Bad Label\"]"),
                "kebab-case or snake_case",
            ),
            // Dependencies: names and sources.
            (
                dependency("\"x:y/z@1.0\"", "{ path = \"d.wasm\" }"),
                "full semantic version",
            ),
            (
                dependency("\"x:y/z_w\"", "{ path = \"d.wasm\" }"),
                "not '_'",
            ),
            (
                dependency("\"x/y\"", "{ path = \"d.wasm\" }"),
                "missing expected ':'",
            ),
            (
                dependency("\"X:y/z\"", "{ path = \"d.wasm\" }"),
                "invalid label",
            ),
            (
                dependency("\"x:y/\"", "{ path = \"d.wasm\" }"),
                "empty interface",
            ),
            (
                dependency("\"x:y/z\"", "{ path = \"d.wasm\", foo = 1 }"),
                "did not match any variant",
            ),
            (
                dependency("\"x:y/z\"", "{ path = \"d.wasm\", version = \"1.0.0\" }"),
                "exactly one of",
            ),
            (
                dependency("\"x:y\"", "{ path = \"d.wasm\", export = \"z\" }"),
                "export",
            ),
            (
                dependency("\"x:y/z\"", "{ component = \"nope\" }"),
                "dependency ID nope does not exist",
            ),
            (
                dependency("\"x:y/z\"", "{ component = \"a\" }"),
                "may not have their own resources",
            ),
            (
                dependency("\"x:y/z\"", "\"1.0.0\""),
                "not supported by the local host",
            ),
            (
                dependency(
                    "\"x:y/z\"",
                    "{ url = \"https://e.com/d.wasm\", digest = \"sha256:00\" }",
                ),
                "not supported by the local host",
            ),
            // allowed_outbound_hosts.
            (
                component("allowed_outbound_hosts = [\"example.com\"]"),
                "does not contain a scheme",
            ),
            (
                component("allowed_outbound_hosts = [\"*\"]"),
                "does not contain a scheme",
            ),
            (
                component("allowed_outbound_hosts = [\"insecure:allow-all\"]"),
                "'*://*:*'",
            ),
            (
                component("allowed_outbound_hosts = [\"https://example.com/api\"]"),
                "must not include a path",
            ),
            (
                component("allowed_outbound_hosts = [\"ftp://example.com\"]"),
                "does not have a known default port",
            ),
            (
                component("allowed_outbound_hosts = [\"https://example.com:abc\"]"),
                "is not a number",
            ),
            (
                component("allowed_outbound_hosts = [\"https://foo.*.com\"]"),
                "wildcards are allowed only as subdomains",
            ),
            (
                component("allowed_outbound_hosts = [\"{http,https}://example.com:80\"]"),
                "scheme lists are not supported",
            ),
            (
                with("\"{{ base }}\"", "\"https://{{ base\""),
                "unmatched '{{'",
            ),
            (
                with(
                    "default = \"https://graph.facebook.com\"",
                    "default = \"graph.facebook.com\"",
                ),
                "results in invalid config",
            ),
            // Refused here because this host cannot honour it.
            (
                component("files = [\"x\"]"),
                "`files` is not supported by the local host",
            ),
            (
                with(
                    "source = \"dep.wasm\"",
                    "source = { url = \"https://e.com/d.wasm\", digest = \"sha256:00\" }",
                ),
                "only a local file `source`",
            ),
            (
                with(
                    "component = \"a\"",
                    "component = \"a\"\nexecutor = { type = \"wagi\" }",
                ),
                "WAGI",
            ),
            (
                with("route = \"/a/...\"", "route = { private = true }"),
                "private route",
            ),
        ];
        for (text, needle) in cases {
            let err = match Manifest::parse(&text, PathBuf::from(".")) {
                Ok(_) => panic!("accepted, expected an error with {needle:?}:\n{text}"),
                Err(e) => format!("{e:#}"),
            };
            assert!(err.contains(needle), "{needle}: {err}\n{text}");
        }
    }

    #[test]
    fn accepts_what_spin_accepts() {
        let component = |extra: &str| {
            if extra.starts_with("allowed_outbound_hosts") {
                MINIMAL.replacen("allowed_outbound_hosts = [\"{{ base }}\"]", extra, 1)
            } else {
                MINIMAL.replacen("[component.dep]", &format!("{extra}\n[component.dep]"), 1)
            }
        };
        let cases = [
            component(
                "[component.a.dependencies]\n\"chatbot:nlu/analyzer\" = { path = \"nlu.wasm\" }",
            ),
            component("[component.a.dependencies]\n\"chatbot:nlu\" = { path = \"nlu.wasm\" }"),
            component(
                "[component.a.dependencies]\n\"chatbot:nlu/analyzer@1.2.3\" = { component = \"dep\" }",
            ),
            component(
                "allowed_outbound_hosts = [\"*://*:*\", \"https://*.example.com\", \"https://example.com:8000..9000\", \"http://127.0.0.1:8089\", \"https://example.com/\"]",
            ),
            component(
                "[component.a.build]\ncommand = [\"cargo build\", \"true\"]\nwatch = [\"src/**/*.rs\"]",
            ),
            component("description = \"a component\"\n[component.a.tool.mytool]\nanything = 1"),
            MINIMAL.replacen("[component.dep]", "[component.ABC]", 1),
            MINIMAL.replacen(
                "name = \"t\"",
                "name = \"t\"\n[application.trigger.http]\nbase = \"/\"",
                1,
            ),
            MINIMAL.replacen(
                "base = { default = \"https://graph.facebook.com\" }",
                "base = { default = \"\" }",
                1,
            ),
        ];
        for text in cases {
            if let Err(e) = Manifest::parse(&text, PathBuf::from(".")) {
                panic!("refused: {e:#}\n{text}");
            }
        }
    }

    #[test]
    fn the_projects_manifests_pass() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for path in ["spin.toml", "tests/fixtures/spin.toml"] {
            Manifest::load(&root.join(path)).unwrap_or_else(|e| panic!("{path}: {e:#}"));
        }
    }
}
