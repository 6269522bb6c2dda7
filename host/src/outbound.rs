//! Outbound HTTP limited to a component's `allowed_outbound_hosts`, as in Spin: entries
//! are `scheme://host[:port]` where the scheme may be `*`, the host `*` or `*.domain`, and
//! the port `*` (without a port, the scheme's default port).

use anyhow::{Context, Result, bail};

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    /// No port written: the default port of the request's scheme.
    Default,
}

/// The destinations one component may reach.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<AllowedHost>,
}

impl OutboundPolicy {
    /// Parses the (already template-expanded) entries of `allowed_outbound_hosts`.
    ///
    /// # Errors
    ///
    /// An entry without a scheme, with a path, or with an invalid port.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        let allowed = entries
            .iter()
            .map(|e| {
                parse_entry(e.as_ref())
                    .with_context(|| format!("allowed_outbound_hosts entry `{}`", e.as_ref()))
            })
            .collect::<Result<_>>()?;
        Ok(Self { allowed })
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let Some(port) = port.or_else(|| default_port(&scheme)) else {
            return false;
        };
        self.allowed.iter().any(|a| {
            a.scheme.as_ref().is_none_or(|s| *s == scheme)
                && match &a.host {
                    HostPattern::Any => true,
                    HostPattern::Exact(h) => *h == host,
                    HostPattern::Suffix(s) => host.ends_with(s.as_str()) && host.len() > s.len(),
                }
                && match a.port {
                    PortPattern::Any => true,
                    PortPattern::Exact(p) => p == port,
                    PortPattern::Default => default_port(&scheme) == Some(port),
                }
        })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn parse_entry(entry: &str) -> Result<AllowedHost> {
    let (scheme, rest) = entry
        .split_once("://")
        .context("expected scheme://host[:port]")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        bail!("paths are not allowed, only scheme://host[:port]");
    }
    let scheme = match scheme {
        "*" => None,
        s if !s.is_empty() => Some(s.to_ascii_lowercase()),
        _ => bail!("missing scheme"),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
        _ => (rest, None),
    };
    let host = host.to_ascii_lowercase();
    let host = match host.as_str() {
        "" => bail!("missing host"),
        "*" => HostPattern::Any,
        h => match h.strip_prefix("*.") {
            Some(suffix) => HostPattern::Suffix(format!(".{suffix}")),
            None => HostPattern::Exact(h.trim_start_matches('[').trim_end_matches(']').to_string()),
        },
    };
    let port = match port {
        None => PortPattern::Default,
        Some("*") => PortPattern::Any,
        Some(p) => PortPattern::Exact(p.parse().with_context(|| format!("invalid port `{p}`"))?),
    };
    Ok(AllowedHost { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_table() {
        let policy = OutboundPolicy::parse(&[
            "https://graph.facebook.com",
            "http://127.0.0.1:8089",
            "https://*.example.org:*",
            "*://any.scheme:9000/",
        ])
        .unwrap();
        let cases = [
            ("https", "graph.facebook.com", None, true),
            ("https", "GRAPH.facebook.com", Some(443), true),
            ("https", "graph.facebook.com", Some(8443), false),
            ("http", "graph.facebook.com", None, false),
            ("https", "evil.com", None, false),
            ("https", "graph.facebook.com.evil.com", None, false),
            ("http", "127.0.0.1", Some(8089), true),
            ("http", "127.0.0.1", Some(8090), false),
            ("http", "127.0.0.1", None, false),
            ("https", "a.example.org", Some(1234), true),
            ("https", "example.org", None, false),
            ("http", "any.scheme", Some(9000), true),
            ("https", "any.scheme", Some(9000), true),
        ];
        for (scheme, host, port, want) in cases {
            assert_eq!(
                policy.allows(scheme, host, port),
                want,
                "{scheme}://{host}:{port:?}"
            );
        }
        assert!(!OutboundPolicy::default().allows("https", "graph.facebook.com", None));
    }

    #[test]
    fn bad_entries() {
        for bad in [
            "graph.facebook.com",
            "https://",
            "https://a.com/path",
            "https://a.com:port",
        ] {
            assert!(OutboundPolicy::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
