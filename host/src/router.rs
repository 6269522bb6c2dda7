//! Route matching like Spin's HTTP trigger: exact routes and trailing `/...` wildcards,
//! the most specific route wins, anything else is 404.

use anyhow::{Result, bail};

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Matches exactly this path.
    Exact(String),
    /// `/prefix/...`: matches `/prefix` and everything below it. `/...` matches all.
    Wildcard(String),
}

impl Route {
    /// Parses a route as written in spin.toml.
    ///
    /// # Errors
    ///
    /// A route not starting with `/`, or with `...` anywhere but as the last segment, or
    /// with `:name` parameters (not supported by this host).
    pub fn parse(route: &str) -> Result<Self> {
        if !route.starts_with('/') {
            bail!("route `{route}` must start with `/`");
        }
        if route.split('/').any(|s| s.starts_with(':')) {
            bail!("route `{route}`: `:parameter` segments are not supported by the local host");
        }
        if let Some(prefix) = route.strip_suffix("/...") {
            if prefix.contains("...") {
                bail!("route `{route}`: `...` may only be the last segment");
            }
            return Ok(Route::Wildcard(prefix.trim_end_matches('/').to_string()));
        }
        if route.contains("...") {
            bail!("route `{route}`: `...` may only be the last segment");
        }
        let trimmed = route.trim_end_matches('/');
        Ok(Route::Exact(if trimmed.is_empty() {
            "/".into()
        } else {
            trimmed.into()
        }))
    }

    /// Whether `path` is served by this route; returns the path info (the part after a
    /// wildcard's prefix, empty for exact routes).
    fn matches<'p>(&self, path: &'p str) -> Option<&'p str> {
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        match self {
            Route::Exact(p) => (p == path).then_some(""),
            Route::Wildcard(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then_some(rest)
            }
        }
    }

    /// Higher is more specific: exact routes beat wildcards, longer prefixes beat shorter.
    fn specificity(&self) -> (u8, usize) {
        match self {
            Route::Exact(p) => (1, p.len()),
            Route::Wildcard(p) => (0, p.len()),
        }
    }
}

/// A route table: pattern → target (a component index).
#[derive(Debug, Default)]
pub struct Router<T> {
    routes: Vec<(String, Route, T)>,
}

/// The outcome of routing one path.
#[derive(Debug, PartialEq, Eq)]
pub struct Matched<'a, T> {
    /// The route as written in the manifest.
    pub route: &'a str,
    /// The path below a wildcard route (empty for exact routes).
    pub path_info: String,
    /// The target.
    pub target: &'a T,
}

impl<T> Router<T> {
    /// Adds a route.
    ///
    /// # Errors
    ///
    /// An invalid route, or a route that duplicates an existing one.
    pub fn add(&mut self, route: &str, target: T) -> Result<()> {
        let parsed = Route::parse(route)?;
        if let Some((existing, _, _)) = self.routes.iter().find(|(_, r, _)| *r == parsed) {
            bail!("route `{route}` duplicates route `{existing}`");
        }
        self.routes.push((route.to_string(), parsed, target));
        Ok(())
    }

    /// The routes as written, with their targets, in the order they were added.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &T)> {
        self.routes
            .iter()
            .map(|(text, _, target)| (text.as_str(), target))
    }

    /// Finds the most specific route for `path` (no query string).
    pub fn route(&self, path: &str) -> Option<Matched<'_, T>> {
        self.routes
            .iter()
            .filter_map(|(text, route, target)| {
                route
                    .matches(path)
                    .map(|info| (route.specificity(), text, info, target))
            })
            .max_by_key(|(spec, ..)| *spec)
            .map(|(_, route, info, target)| Matched {
                route,
                path_info: info.to_string(),
                target,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_table() {
        let mut router = Router::default();
        for (route, id) in [
            ("/webhooks/messenger", "messenger"),
            ("/api/desk/...", "desk-api"),
            ("/api/desk/special", "special"),
            ("/desk/...", "desk-page"),
            ("/api/...", "api"),
        ] {
            router.add(route, id).unwrap();
        }
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("/webhooks/messenger", Some(("messenger", ""))),
            ("/webhooks/messenger/", Some(("messenger", ""))),
            ("/webhooks/messenger/x", None),
            ("/webhooks", None),
            ("/api/desk", Some(("desk-api", ""))),
            ("/api/desk/queue", Some(("desk-api", "/queue"))),
            ("/api/desk/special", Some(("special", ""))),
            (
                "/api/desk/special/more",
                Some(("desk-api", "/special/more")),
            ),
            ("/api/deskx", Some(("api", "/deskx"))),
            ("/api/chat", Some(("api", "/chat"))),
            ("/desk/", Some(("desk-page", ""))),
            ("/desk/app.js", Some(("desk-page", "/app.js"))),
            ("/", None),
            ("/nothing", None),
        ];
        for (path, want) in cases {
            let got = router.route(path).map(|m| (*m.target, m.path_info));
            assert_eq!(got, want.map(|(t, i)| (t, i.to_string())), "{path}");
        }
    }

    #[test]
    fn catch_all_and_errors() {
        let mut router = Router::default();
        router.add("/...", 0).unwrap();
        assert_eq!(
            router.route("/anything/at/all").map(|m| m.path_info),
            Some("/anything/at/all".into())
        );
        assert!(router.add("/...", 1).is_err(), "duplicate");
        for bad in ["nope", "/a/.../b", "/a/:id"] {
            assert!(Route::parse(bad).is_err(), "{bad}");
        }
    }
}
