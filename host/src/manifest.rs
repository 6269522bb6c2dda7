//! The subset of Spin's application manifest (`spin_manifest_version = 2`) that the local
//! host serves: HTTP triggers, components with their sources, variables, SQLite databases,
//! key-value stores, outbound hosts, dependencies and build commands.
//!
//! Anything the manifest says that this host cannot honour is an error at start-up, so an
//! app never behaves differently here and under `spin up` without saying so.

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
    spin_manifest_version: u32,
    #[allow(dead_code)]
    application: toml::Table,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Default, Deserialize)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
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
    /// Secret variables are never printed (this host prints no variable values at all).
    #[serde(default)]
    #[allow(dead_code)]
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpTrigger {
    /// The route: an exact path, or a prefix ending in `/...`.
    pub route: String,
    /// The id of the component serving the route.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentDecl {
    /// Path of the Wasm component, relative to the manifest.
    pub source: String,
    /// Component variables: name → template over application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// SQLite database labels the component may open.
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// Outbound HTTP destinations (may contain `{{ variable }}` templates).
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Dependencies: import name (interface or package) → where the component comes from.
    #[serde(default)]
    pub dependencies: BTreeMap<String, DependencyDecl>,
    /// How `spin build` builds this component.
    pub build: Option<BuildDecl>,
    /// Other keys Spin knows (description, files, ...) that this host does not use.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// A component dependency. Only local `path` sources are supported here.
#[derive(Debug, Clone, Deserialize)]
pub struct DependencyDecl {
    /// Path of the dependency's Wasm component, relative to the manifest.
    pub path: Option<String>,
    /// The dependency's export to use when it differs from the import name.
    pub export: Option<String>,
    /// Other source kinds (registry `version`, `url`, ...), refused with a clear error.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// A `[component.<id>.build]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct BuildDecl {
    /// The shell command to run.
    pub command: String,
    /// Working directory relative to the manifest.
    pub workdir: Option<String>,
    /// Files `spin watch` would watch (unused here).
    #[serde(default)]
    #[allow(dead_code)]
    pub watch: Vec<String>,
}

/// Keys of a component table that change behaviour and that this host does not implement.
const UNSUPPORTED_COMPONENT_KEYS: &[&str] = &["files", "exclude_files", "ai_models", "environment"];

impl Manifest {
    /// Reads and validates the manifest at `path`.
    ///
    /// # Errors
    ///
    /// Unreadable file, invalid TOML, a manifest version other than 2, a trigger naming an
    /// unknown component, or a feature this host cannot honour.
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
    pub fn parse(text: &str, dir: PathBuf) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version {} is not supported (expected 2)",
                raw.spin_manifest_version
            );
        }
        if let Some(kind) = raw.trigger.other.keys().next() {
            bail!("trigger type `{kind}` is not supported by the local host (only http)");
        }
        for (name, decl) in &raw.variables {
            check_variable_name(name)?;
            if decl.required && decl.default.is_some() {
                bail!("variable `{name}` cannot be both required and have a default");
            }
        }
        for (id, component) in &raw.component {
            if let Some(key) = UNSUPPORTED_COMPONENT_KEYS
                .iter()
                .find(|k| component.other.contains_key(**k))
            {
                bail!("component `{id}`: `{key}` is not supported by the local host");
            }
            for (dep, decl) in &component.dependencies {
                if decl.path.is_none() {
                    let keys: Vec<&str> = decl.other.keys().map(String::as_str).collect();
                    bail!(
                        "component `{id}`: dependency `{dep}` must have a `path` source; {keys:?} sources are not supported by the local host"
                    );
                }
            }
        }
        for trigger in &raw.trigger.http {
            if !raw.component.contains_key(&trigger.component) {
                bail!(
                    "trigger for route `{}` names unknown component `{}`",
                    trigger.route,
                    trigger.component
                );
            }
            crate::router::Route::parse(&trigger.route)?;
        }
        Ok(Self {
            dir,
            variables: raw.variables,
            http_triggers: raw.trigger.http,
            components: raw.component,
        })
    }

    /// Resolves a path written in the manifest.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }
}

/// Spin variable names: lower-case ASCII letters, digits and underscores, starting with a
/// letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        bail!("invalid variable name `{name}`: use lower-case letters, digits and `_`")
    }
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
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
"#;

    #[test]
    fn parses_minimal() {
        let m = Manifest::parse(MINIMAL, PathBuf::from("/app")).unwrap();
        assert_eq!(m.http_triggers.len(), 1);
        assert!(m.variables["secret"].required);
        assert_eq!(m.resolve("a.wasm"), PathBuf::from("/app/a.wasm"));
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let cases = [
            (MINIMAL.replace("= 2", "= 1"), "spin_manifest_version"),
            (MINIMAL.replace("component = \"a\"", "component = \"b\""), "unknown component"),
            (MINIMAL.replace("[component.a]", "[[trigger.redis]]\nchannel = \"x\"\n[component.a]"), "redis"),
            (MINIMAL.replace("source = \"a.wasm\"", "source = \"a.wasm\"\nfiles = [\"x\"]"), "files"),
            (MINIMAL.replace("secret = {", "Bad-Name = {"), "invalid variable name"),
            (
                MINIMAL.replace("source = \"a.wasm\"", "source = \"a.wasm\"\n[component.a.dependencies]\n\"x:y/z\" = { version = \"1\" }"),
                "path",
            ),
        ];
        for (text, needle) in cases {
            let err = format!(
                "{:#}",
                Manifest::parse(&text, PathBuf::from(".")).unwrap_err()
            );
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
