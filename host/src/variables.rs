//! Spin variables: application variables resolved from `SPIN_VARIABLE_<NAME>` environment
//! variables or their defaults, and component variables expanded from `{{ name }}`
//! templates. Resolution happens once at start-up, so a missing required variable stops
//! the host with a message that names it.

use crate::manifest::{Manifest, check_variable_name};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;

/// Resolved application variables.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolves every application variable, looking up overrides with `env`
    /// (`SPIN_VARIABLE_<NAME>` in upper case).
    ///
    /// # Errors
    ///
    /// Names every required variable that has no value.
    pub fn resolve(manifest: &Manifest, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in &manifest.variables {
            let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            match env(&env_name).or_else(|| decl.default.clone()) {
                // A required secret set to "" (an HMAC key, a token) would be accepted by
                // Spin and make its check pass for anyone: the local host refuses it.
                Some(value) if value.is_empty() && decl.required && decl.secret => {
                    missing.push(format!("{name} (set {env_name}; it is empty)"));
                }
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None if decl.required => missing.push(format!("{name} (set {env_name})")),
                None => bail!("variable `{name}` needs a default or `required = true`"),
            }
        }
        if !missing.is_empty() {
            bail!("required variable(s) not set: {}", missing.join(", "));
        }
        Ok(Self { values })
    }

    /// The value of application variable `name`, if the manifest declares it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Expands `{{ name }}` templates in `template` with these values.
    ///
    /// # Errors
    ///
    /// An unterminated template or a reference to an undeclared variable.
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .with_context(|| format!("unterminated `{{{{` in `{template}`"))?;
            let name = after[..end].trim();
            let value = self
                .values
                .get(name)
                .with_context(|| format!("`{template}` refers to undeclared variable `{name}`"))?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expands a component's `[component.<id>.variables]` table.
    ///
    /// # Errors
    ///
    /// An invalid component variable name or template.
    pub fn component_variables(
        &self,
        templates: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        templates
            .iter()
            .map(|(name, template)| {
                check_variable_name(name)?;
                let value = self
                    .expand(template)
                    .with_context(|| format!("component variable `{name}`"))?;
                Ok((name.clone(), value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
token = { required = true, secret = true }
base = { default = "https://graph.facebook.com" }
version = { default = "v25.0" }
[[trigger.http]]
route = "/..."
component = "a"
[component.a]
source = "a.wasm"
"#,
            PathBuf::from("."),
        )
        .unwrap()
    }

    #[test]
    fn defaults_overrides_and_missing() {
        let m = manifest();
        let err = AppVariables::resolve(&m, |_| None).unwrap_err().to_string();
        assert!(
            err.contains("token") && err.contains("SPIN_VARIABLE_TOKEN"),
            "{err}"
        );
        let empty = AppVariables::resolve(&m, |k| (k == "SPIN_VARIABLE_TOKEN").then(String::new))
            .unwrap_err()
            .to_string();
        assert!(
            empty.contains("token") && empty.contains("it is empty"),
            "a required secret set to \"\" is refused: {empty}"
        );

        let vars = AppVariables::resolve(&m, |k| match k {
            "SPIN_VARIABLE_TOKEN" => Some("t0k".into()),
            "SPIN_VARIABLE_VERSION" => Some("v99.0".into()),
            _ => None,
        })
        .unwrap();
        let cases = [
            ("{{ base }}", Some("https://graph.facebook.com")),
            (
                "{{base}}/{{ version }}/me",
                Some("https://graph.facebook.com/v99.0/me"),
            ),
            ("plain", Some("plain")),
            ("{{ token }}", Some("t0k")),
            ("{{ nope }}", None),
            ("{{ base", None),
        ];
        for (template, want) in cases {
            assert_eq!(vars.expand(template).ok().as_deref(), want, "{template}");
        }
    }
}
