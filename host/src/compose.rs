//! Component dependencies composed the way Spin composes them (with wac-graph): each
//! dependency name in `[component.<id>.dependencies]` is matched against the component's
//! imports (an interface name like `chatbot:nlu/analyzer`, or a whole package like
//! `chatbot:nlu`), the dependency is instantiated, its same-named exports (or the one named
//! by `export`) are plugged into those imports, and the component's exports are re-exported.

use anyhow::{Context, Result, bail};
use wac_graph::types::{Package, SubtypeChecker};
use wac_graph::{CompositionGraph, EncodeOptions};

/// One dependency to plug in.
pub struct Dependency {
    /// The key in the manifest (`chatbot:nlu/analyzer` or `chatbot:nlu`).
    pub name: String,
    /// The dependency's component bytes.
    pub bytes: Vec<u8>,
    /// Which export of the dependency to use, when it differs from the import name.
    pub export: Option<String>,
}

/// Composes `component` with `dependencies` into one component.
///
/// # Errors
///
/// A dependency name that matches no import, two dependencies for one import, a dependency
/// lacking the export, or types that do not fit.
pub fn compose(
    component_id: &str,
    component: Vec<u8>,
    dependencies: Vec<Dependency>,
) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let main = Package::from_bytes("app:main", None, component, graph.types_mut())
        .with_context(|| format!("component `{component_id}` is not a valid component"))?;
    let main = graph.register_package(main)?;
    let main_world = graph[main].ty();
    let imports: Vec<String> = graph.types()[main_world].imports.keys().cloned().collect();
    let main_instance = graph.instantiate(main);

    let mut plugged: Vec<String> = Vec::new();
    for (index, dependency) in dependencies.into_iter().enumerate() {
        let matched: Vec<&String> = imports
            .iter()
            .filter(|import| matches_import(&dependency.name, import))
            .collect();
        if matched.is_empty() {
            bail!(
                "dependency `{}` doesn't match any imports of component `{component_id}`",
                dependency.name
            );
        }
        let package = Package::from_bytes(
            &format!("app:dependency-{index}"),
            None,
            dependency.bytes,
            graph.types_mut(),
        )
        .with_context(|| format!("dependency `{}` is not a valid component", dependency.name))?;
        let package = graph.register_package(package)?;
        let dep_world = graph[package].ty();
        let instance = graph.instantiate(package);
        for import in matched {
            if plugged.contains(import) {
                bail!(
                    "component `{component_id}`: import `{import}` is satisfied by several dependencies"
                );
            }
            let export_name = dependency.export.clone().unwrap_or_else(|| import.clone());
            let Some(export_ty) = graph.types()[dep_world].exports.get(&export_name).copied()
            else {
                bail!(
                    "dependency `{}` doesn't export `{export_name}` to satisfy import `{import}`",
                    dependency.name
                );
            };
            let import_ty = graph.types()[main_world].imports[import];
            let mut cache = Default::default();
            SubtypeChecker::new(&mut cache)
                .is_subtype(export_ty, graph.types(), import_ty, graph.types())
                .with_context(|| {
                    format!(
                        "dependency `{}` exports `{export_name}` which is not compatible with import `{import}`",
                        dependency.name
                    )
                })?;
            let export = graph.alias_instance_export(instance, &export_name)?;
            graph.set_instantiation_argument(main_instance, import, export)?;
            plugged.push(import.clone());
        }
    }

    let exports: Vec<String> = graph.types()[main_world].exports.keys().cloned().collect();
    for name in exports {
        let export = graph.alias_instance_export(main_instance, &name)?;
        graph.export(export, &name)?;
    }
    graph
        .encode(EncodeOptions::default())
        .with_context(|| format!("cannot encode the composition of `{component_id}`"))
}

/// Spin's matching of a dependency name to an import name: an exact interface (with or
/// without the import's version), or a package name covering all its interfaces.
fn matches_import(dependency: &str, import: &str) -> bool {
    let unversioned = import.split('@').next().unwrap_or(import);
    if dependency == import || dependency == unversioned {
        return true;
    }
    match unversioned.split_once('/') {
        Some((package, _)) => {
            let dep_unversioned = dependency.split('@').next().unwrap_or(dependency);
            !dependency.contains('/') && dep_unversioned == package
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches_import;

    #[test]
    fn import_matching() {
        let cases = [
            ("chatbot:nlu/analyzer", "chatbot:nlu/analyzer", true),
            ("chatbot:nlu/analyzer", "chatbot:nlu/analyzer@0.1.0", true),
            (
                "chatbot:nlu/analyzer@0.1.0",
                "chatbot:nlu/analyzer@0.1.0",
                true,
            ),
            ("chatbot:nlu", "chatbot:nlu/analyzer", true),
            ("chatbot:nlu", "chatbot:nlu/analyzer@1.0.0", true),
            ("chatbot:nlu/other", "chatbot:nlu/analyzer", false),
            ("chatbot:nl", "chatbot:nlu/analyzer", false),
            ("wasi:http", "chatbot:nlu/analyzer", false),
            ("plain-name", "plain-name", true),
        ];
        for (dep, import, want) in cases {
            assert_eq!(matches_import(dep, import), want, "{dep} vs {import}");
        }
    }
}
