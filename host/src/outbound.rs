//! Outbound HTTP limited to a component's `allowed_outbound_hosts`, as in Spin: entries
//! are `scheme://host[:port]` where the scheme may be `*`, the host `*`, `*.domain` or an IP
//! network, and the port `*` or a range `a..b` (without a port, the scheme's default port).

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
    /// An IP network: address and prefix length.
    Network(std::net::IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    Range(u16, u16),
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
                    HostPattern::Network(network, bits) => in_network(&host, network, *bits),
                }
                && match a.port {
                    PortPattern::Any => true,
                    PortPattern::Exact(p) => p == port,
                    // As Spin: the end of a range is excluded.
                    PortPattern::Range(low, high) => (low..high).contains(&port),
                    PortPattern::Default => default_port(&scheme) == Some(port),
                }
        })
    }
}

/// Whether `host` is an IP address inside `network/bits`.
fn in_network(host: &str, network: &std::net::IpAddr, bits: u8) -> bool {
    use std::net::IpAddr;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match (host.parse::<IpAddr>(), network) {
        (Ok(IpAddr::V4(ip)), IpAddr::V4(net)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            u32::from(ip) & mask == u32::from(*net) & mask
        }
        (Ok(IpAddr::V6(ip)), IpAddr::V6(net)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(bits.min(128)))
                .unwrap_or(0);
            u128::from(ip) & mask == u128::from(*net) & mask
        }
        _ => false,
    }
}

/// The default ports Spin knows, by scheme (without one an entry needs an explicit port).
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "redis" => Some(6379),
        "mysql" => Some(3306),
        "postgres" => Some(5432),
        "mqtt" => Some(1883),
        _ => None,
    }
}

/// Parses one entry by Spin's rules (`scheme://host[:port]`; `*` wildcards for the scheme,
/// the host, a subdomain or the port; a port range `a..b`; an IP network `a.b.c.d/n`; no
/// path), with Spin's messages.
fn parse_entry(entry: &str) -> Result<AllowedHost> {
    if entry == "insecure:allow-all" {
        bail!(
            "'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic"
        );
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        bail!(
            "{entry:?} does not contain a scheme (e.g., 'http://' or '*://'); hosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each"
        );
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    // `host:port`, where the host may be `[v6]` or a network `a.b.c.d/n`.
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (!rest.starts_with('[') || h.ends_with(']')) => {
            (h, Some(p))
        }
        _ => (rest, None),
    };
    let scheme = match scheme {
        "*" => None,
        s if s.starts_with('{') => {
            bail!("Invalid allowed host scheme {s:?}: scheme lists are not supported")
        }
        s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(s.to_ascii_lowercase())
        }
        s => bail!("Invalid allowed host scheme {s:?}: only alphabetic characters are allowed"),
    };
    let port = match port {
        None | Some("") => match scheme.as_deref().and_then(default_port) {
            Some(_) => PortPattern::Default,
            None => bail!(
                "Invalid allowed host port \"\": no port was provided and the scheme {:?} does not have a known default port number",
                scheme.as_deref().unwrap_or("*")
            ),
        },
        Some("*") => PortPattern::Any,
        Some(p) => match p.split_once("..") {
            Some((low, high)) => PortPattern::Range(port_number(low)?, port_number(high)?),
            None => PortPattern::Exact(port_number(p)?),
        },
    };
    let host = host.to_ascii_lowercase();
    let network = host.split_once('/').and_then(|(ip, bits)| {
        Some((
            ip.parse::<std::net::IpAddr>().ok()?,
            bits.parse::<u8>().ok()?,
        ))
    });
    let host = match (host.as_str(), network) {
        (_, Some((ip, bits))) => HostPattern::Network(ip, bits),
        ("", _) => bail!("Invalid allowed host \"\": missing host"),
        ("*", _) => HostPattern::Any,
        (h, _) if h.contains('/') => bail!("Invalid allowed host {h:?}: must not include a path"),
        (h, _) => match h.strip_prefix("*.") {
            Some(suffix) if !suffix.contains('*') => HostPattern::Suffix(format!(".{suffix}")),
            _ if h.contains('*') => {
                bail!("Invalid allowed host {h:?}: wildcards are allowed only as subdomains")
            }
            _ if h.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                bail!("Invalid allowed host {h:?}: invalid international domain name")
            }
            _ => HostPattern::Exact(h.trim_start_matches('[').trim_end_matches(']').to_string()),
        },
    };
    Ok(AllowedHost { scheme, host, port })
}

fn port_number(text: &str) -> Result<u16> {
    text.parse().with_context(|| {
        format!("Invalid allowed host port {text:?}: port {text:?} is not a number")
    })
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
            "http://10.0.0.0/8:*",
            "https://ranged.example:8000..8010",
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
            ("http", "10.1.2.3", Some(1234), true),
            ("http", "11.1.2.3", Some(1234), false),
            ("https", "ranged.example", Some(8005), true),
            ("https", "ranged.example", Some(8009), true),
            ("https", "ranged.example", Some(8010), false),
            ("https", "ranged.example", Some(8011), false),
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
            "ftp://a.com",
            "*://a.com",
            "https://a.*.com",
            "insecure:allow-all",
        ] {
            assert!(OutboundPolicy::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
