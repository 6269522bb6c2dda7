//! Meta webhook basics shared by the Messenger and WhatsApp components.
//!
//! Two checks guard every webhook route:
//!
//! - the **verification handshake**: when an operator subscribes the app, Meta sends
//!   `GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`; we answer `C` only
//!   when `T` is our configured token ([`verify_subscription`]);
//! - the **payload signature**: every POST carries
//!   `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret, raw body)>`; nothing is
//!   processed unless it matches, compared in constant time ([`SignatureChecker`]).
//!
//! ```
//! use webhook::{verify_subscription, SignatureChecker};
//!
//! let challenge = verify_subscription("hub.mode=subscribe&hub.verify_token=tok&hub.challenge=42", "tok");
//! assert_eq!(challenge.as_deref(), Ok("42"));
//!
//! let checker = SignatureChecker::new(b"app-secret");
//! let body = br#"{"object":"page","entry":[]}"#;
//! let header = checker.sign(body);
//! assert!(checker.verify(Some(&header), body).is_ok());
//! assert!(checker.verify(None, body).is_err());
//! ```
//!
//! The crate has no Spin types: components pass in the query string, the header value and
//! the raw body bytes they received.
#![deny(missing_docs)]

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The HTTP header Meta signs POST bodies with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook request was refused. Every kind maps to HTTP 403 for Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectError {
    kind: RejectKind,
}

/// The reason behind a [`RejectError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// The query is not a subscription request (`hub.mode` missing or not `subscribe`,
    /// or no `hub.challenge`).
    NotASubscription,
    /// `hub.verify_token` does not equal the configured token.
    WrongVerifyToken,
    /// The `X-Hub-Signature-256` header is absent.
    MissingSignature,
    /// The header is not `sha256=` followed by 64 hex digits.
    MalformedSignature,
    /// The signature is well formed but does not match the body.
    WrongSignature,
}

impl RejectError {
    fn new(kind: RejectKind) -> Self {
        Self { kind }
    }

    /// What exactly was wrong.
    pub fn kind(&self) -> RejectKind {
        self.kind
    }
}

impl fmt::Display for RejectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self.kind {
            RejectKind::NotASubscription => {
                "not a subscription request: expected hub.mode=subscribe and hub.challenge"
            }
            RejectKind::WrongVerifyToken => "hub.verify_token does not match the configured token",
            RejectKind::MissingSignature => "missing X-Hub-Signature-256 header",
            RejectKind::MalformedSignature => {
                "malformed X-Hub-Signature-256 header: expected sha256=<64 hex digits>"
            }
            RejectKind::WrongSignature => "X-Hub-Signature-256 does not match the body",
        };
        f.write_str(msg)
    }
}

impl std::error::Error for RejectError {}

/// Answers Meta's subscription handshake.
///
/// `query` is the raw query string (without `?`). Returns the challenge to echo back with
/// 200 when the mode is `subscribe` and the token equals `expected_token`.
///
/// # Errors
///
/// [`RejectKind::NotASubscription`] or [`RejectKind::WrongVerifyToken`]; answer 403.
pub fn verify_subscription(query: &str, expected_token: &str) -> Result<String, RejectError> {
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "hub.mode" => mode = Some(value.into_owned()),
            "hub.verify_token" => token = Some(value.into_owned()),
            "hub.challenge" => challenge = Some(value.into_owned()),
            _ => {}
        }
    }
    let (Some("subscribe"), Some(challenge)) = (mode.as_deref(), challenge) else {
        return Err(RejectError::new(RejectKind::NotASubscription));
    };
    // An empty configured token would let anyone subscribe: refuse instead.
    let token_ok = !expected_token.is_empty()
        && token
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), expected_token.as_bytes()));
    if token_ok {
        Ok(challenge)
    } else {
        Err(RejectError::new(RejectKind::WrongVerifyToken))
    }
}

/// Checks `X-Hub-Signature-256` headers against the app secret. Build once per request
/// (or once per instance); cheap to clone.
#[derive(Clone)]
pub struct SignatureChecker {
    mac: HmacSha256,
}

impl SignatureChecker {
    /// A checker for the given Meta app secret.
    pub fn new(app_secret: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = match HmacSha256::new_from_slice(app_secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
        };
        Self { mac }
    }

    /// Verifies the header value (as received, `None` when absent) against the raw body.
    ///
    /// # Errors
    ///
    /// [`RejectKind::MissingSignature`], [`RejectKind::MalformedSignature`] or
    /// [`RejectKind::WrongSignature`]; answer 403 and process nothing.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), RejectError> {
        let header = header.ok_or(RejectError::new(RejectKind::MissingSignature))?;
        let hex_digest = header
            .trim()
            .strip_prefix("sha256=")
            .filter(|h| h.len() == 64)
            .ok_or(RejectError::new(RejectKind::MalformedSignature))?;
        let expected = hex::decode(hex_digest)
            .map_err(|_| RejectError::new(RejectKind::MalformedSignature))?;
        let mut mac = self.mac.clone();
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&expected)
            .map_err(|_| RejectError::new(RejectKind::WrongSignature))
    }

    /// The header value Meta would send for `body`: `sha256=<lowercase hex>`. Used by
    /// tests and by tools that replay webhooks.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// A keyed hash (HMAC-SHA256 in lowercase hex) of an identifier, for storing or naming
/// something personal (a platform message id, which on WhatsApp embeds the customer's phone
/// number; a customer id in the audit log) without keeping it: without `key` it can neither
/// be reversed nor recomputed from a guessed phone number.
pub fn keyed_hash(key: &[u8], text: &str) -> String {
    let mut mac = SignatureChecker::new(key).mac;
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Compares two secrets without an early exit on the first differing byte (the length is
/// not hidden).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_depend_on_the_key_and_hide_the_text() {
        let hash = keyed_hash(b"key-1", "whatsapp:wamid.HBgLMzYzMDEyMzQ1Njc");
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            hash,
            keyed_hash(b"key-1", "whatsapp:wamid.HBgLMzYzMDEyMzQ1Njc")
        );
        assert_ne!(
            hash,
            keyed_hash(b"key-2", "whatsapp:wamid.HBgLMzYzMDEyMzQ1Njc")
        );
        assert_ne!(
            hash,
            keyed_hash(b"key-1", "messenger:wamid.HBgLMzYzMDEyMzQ1Njc")
        );
        // RFC 4231 test case 2.
        assert_eq!(
            keyed_hash(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn subscription_table() {
        let cases: &[(&str, Result<&str, RejectKind>)] = &[
            (
                "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=123",
                Ok("123"),
            ),
            (
                "hub.challenge=abc&hub.verify_token=tok&hub.mode=subscribe",
                Ok("abc"),
            ),
            (
                "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=a%20b",
                Ok("a b"),
            ),
            (
                "hub.mode=subscribe&hub.verify_token=bad&hub.challenge=1",
                Err(RejectKind::WrongVerifyToken),
            ),
            (
                "hub.mode=subscribe&hub.verify_token=to&hub.challenge=1",
                Err(RejectKind::WrongVerifyToken),
            ),
            (
                "hub.mode=subscribe&hub.challenge=1",
                Err(RejectKind::WrongVerifyToken),
            ),
            (
                "hub.mode=unsubscribe&hub.verify_token=tok&hub.challenge=1",
                Err(RejectKind::NotASubscription),
            ),
            (
                "hub.mode=subscribe&hub.verify_token=tok",
                Err(RejectKind::NotASubscription),
            ),
            ("", Err(RejectKind::NotASubscription)),
        ];
        for (query, want) in cases {
            let got = verify_subscription(query, "tok");
            match want {
                Ok(c) => assert_eq!(got.as_deref(), Ok(*c), "{query}"),
                Err(k) => assert_eq!(got.map_err(|e| e.kind()), Err(*k), "{query}"),
            }
        }
    }

    #[test]
    fn empty_configured_token_never_verifies() {
        let got = verify_subscription("hub.mode=subscribe&hub.verify_token=&hub.challenge=1", "");
        assert_eq!(got.map_err(|e| e.kind()), Err(RejectKind::WrongVerifyToken));
    }

    #[test]
    fn signature_table() {
        let checker = SignatureChecker::new(b"secret");
        let body = b"{\"object\":\"page\"}";
        // Independently known value: HMAC-SHA256("secret", body).
        let good = checker.sign(body);
        assert_eq!(good.len(), "sha256=".len() + 64);
        let upper = format!("sha256={}", good["sha256=".len()..].to_uppercase());
        let flipped = {
            let mut s = good.clone().into_bytes();
            let last = s.len() - 1;
            s[last] = if s[last] == b'0' { b'1' } else { b'0' };
            String::from_utf8(s).unwrap()
        };
        type Case<'a> = (Option<&'a str>, &'a [u8], Result<(), RejectKind>);
        let cases: Vec<Case<'_>> = vec![
            (Some(&good), body, Ok(())),
            (Some(&upper), body, Ok(())),
            (None, body, Err(RejectKind::MissingSignature)),
            (Some(""), body, Err(RejectKind::MalformedSignature)),
            (Some("sha1=abcd"), body, Err(RejectKind::MalformedSignature)),
            (
                Some(&good[..good.len() - 2]),
                body,
                Err(RejectKind::MalformedSignature),
            ),
            (
                Some("sha256=zz4e84d2b1e1f9f0b6e2f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"),
                body,
                Err(RejectKind::MalformedSignature),
            ),
            (Some(&flipped), body, Err(RejectKind::WrongSignature)),
            (
                Some(&good),
                b"{\"object\":\"page\"} ",
                Err(RejectKind::WrongSignature),
            ),
        ];
        for (header, body, want) in cases {
            assert_eq!(
                checker.verify(header, body).map_err(|e| e.kind()),
                want,
                "{header:?}"
            );
        }
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let checker = SignatureChecker::new(b"Jefe");
        assert_eq!(
            checker.sign(b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
