//! The FAQ content the bot answers with: per intent an answer and a button title in each
//! language, related intents to offer next, and the bot's system messages (what it can help
//! with, "I can only read text", the handoff acknowledgement, ...). Operators edit one TOML
//! file (`models/faq/shop.toml`); [`Faq::parse`] checks it whole, so a typo fails the build
//! or start-up instead of a conversation.
//!
//! ```
//! let faq = faq::Faq::parse(r#"
//! [intent.shipping_cost]
//! title = { en = "Shipping cost", hu = "Szállítási díj", pl = "Koszt wysyłki" }
//! answer = { en = "€9.90", hu = "1 490 Ft", pl = "9,90 €" }
//! related = []
//! [system]
//! capabilities = { en = "I can help with...", hu = "Segíthetek...", pl = "Mogę pomóc..." }
//! "#)?;
//! assert_eq!(faq.answer("shipping_cost", "hu"), Some("1 490 Ft"));
//! assert_eq!(faq.answer("shipping_cost", "de"), Some("€9.90")); // falls back to English
//! assert_eq!(faq.system("capabilities", "pl"), Some("Mogę pomóc..."));
//! # Ok::<(), faq::Error>(())
//! ```
#![deny(missing_docs)]

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The languages every text must be written in.
pub const LANGUAGES: [&str; 3] = ["en", "hu", "pl"];

/// The longest button title the platforms show in full (Messenger quick replies, WhatsApp
/// reply buttons).
pub const MAX_TITLE_CHARS: usize = 20;

/// An invalid FAQ file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

fn error(message: impl Into<String>) -> Error {
    Error {
        message: message.into(),
    }
}

type Texts = BTreeMap<String, String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    meta: BTreeMap<String, String>,
    #[serde(default)]
    intent: BTreeMap<String, IntentEntry>,
    #[serde(default)]
    system: BTreeMap<String, Texts>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentEntry {
    title: Texts,
    answer: Texts,
    #[serde(default)]
    related: Vec<String>,
}

/// The parsed, checked FAQ.
#[derive(Debug)]
pub struct Faq {
    file: File,
}

fn check_texts(what: &str, texts: &Texts) -> Result<(), Error> {
    for lang in LANGUAGES {
        match texts.get(lang) {
            Some(text) if !text.trim().is_empty() => {}
            _ => return Err(error(format!("{what}: missing or empty `{lang}` text"))),
        }
    }
    if let Some(extra) = texts.keys().find(|k| !LANGUAGES.contains(&k.as_str())) {
        return Err(error(format!("{what}: unknown language `{extra}`")));
    }
    Ok(())
}

impl Faq {
    /// Parses and checks FAQ TOML.
    ///
    /// # Errors
    ///
    /// Invalid TOML, unknown keys, a text missing in one of [`LANGUAGES`], a title longer than
    /// [`MAX_TITLE_CHARS`], or a `related` intent that is not defined.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let file: File = toml::from_str(text).map_err(|e| error(format!("FAQ file: {e}")))?;
        for (name, entry) in &file.intent {
            check_texts(&format!("intent `{name}` title"), &entry.title)?;
            check_texts(&format!("intent `{name}` answer"), &entry.answer)?;
            for (lang, title) in &entry.title {
                if title.chars().count() > MAX_TITLE_CHARS {
                    return Err(error(format!(
                        "intent `{name}` title `{lang}` is longer than {MAX_TITLE_CHARS} characters: {title:?}"
                    )));
                }
            }
            if let Some(unknown) = entry.related.iter().find(|r| !file.intent.contains_key(*r)) {
                return Err(error(format!(
                    "intent `{name}` relates to undefined intent `{unknown}`"
                )));
            }
        }
        for (key, texts) in &file.system {
            check_texts(&format!("system message `{key}`"), texts)?;
        }
        Ok(Self { file })
    }

    fn pick<'a>(texts: &'a Texts, lang: &str) -> Option<&'a str> {
        texts
            .get(lang)
            .or_else(|| texts.get("en"))
            .map(String::as_str)
    }

    /// The answer to `intent` in `lang` (English when `lang` is not one of ours).
    pub fn answer(&self, intent: &str, lang: &str) -> Option<&str> {
        self.file
            .intent
            .get(intent)
            .and_then(|e| Self::pick(&e.answer, lang))
    }

    /// The button title of `intent` in `lang`.
    pub fn title(&self, intent: &str, lang: &str) -> Option<&str> {
        self.file
            .intent
            .get(intent)
            .and_then(|e| Self::pick(&e.title, lang))
    }

    /// The intents to offer after answering `intent`.
    pub fn related(&self, intent: &str) -> &[String] {
        self.file
            .intent
            .get(intent)
            .map_or(&[], |e| e.related.as_slice())
    }

    /// A system message (`capabilities`, `text_only`, `handoff`, ...) in `lang`.
    pub fn system(&self, key: &str, lang: &str) -> Option<&str> {
        self.file.system.get(key).and_then(|t| Self::pick(t, lang))
    }

    /// The intents that have answers.
    pub fn intents(&self) -> impl Iterator<Item = &str> {
        self.file.intent.keys().map(String::as_str)
    }

    /// A `[meta]` value (e.g. `shop_name`).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.file.meta.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[intent.a]
title = { en = "A", hu = "Á", pl = "Ą" }
answer = { en = "answer a", hu = "válasz a", pl = "odpowiedź a" }
related = ["b"]
[intent.b]
title = { en = "B", hu = "B", pl = "B" }
answer = { en = "answer b", hu = "válasz b", pl = "odpowiedź b" }
"#;

    #[test]
    fn lookups_with_fallback() {
        let faq = Faq::parse(GOOD).unwrap();
        assert_eq!(faq.answer("a", "pl"), Some("odpowiedź a"));
        assert_eq!(faq.answer("a", "other"), Some("answer a"));
        assert_eq!(faq.answer("zzz", "en"), None);
        assert_eq!(faq.title("a", "hu"), Some("Á"));
        assert_eq!(faq.related("a"), ["b".to_string()]);
        assert!(faq.related("b").is_empty());
        assert_eq!(faq.intents().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn invalid_files_are_refused() {
        let cases = [
            (
                GOOD.replace(", pl = \"odpowiedź a\"", ""),
                "missing or empty `pl`",
            ),
            (
                GOOD.replace("pl = \"Ą\"", "pl = \"Bardzo długi tytuł przycisku\""),
                "longer than 20",
            ),
            (
                GOOD.replace("related = [\"b\"]", "related = [\"c\"]"),
                "undefined intent `c`",
            ),
            (
                GOOD.replace("title = { en = \"B\"", "title = { de = \"B\", en = \"B\""),
                "unknown language `de`",
            ),
            (
                format!("{GOOD}\n[intent.c]\nanswer = {{ en = \"x\", hu = \"x\", pl = \"x\" }}\n"),
                "title",
            ),
            (
                format!("{GOOD}\n[system]\nerror = {{ en = \"x\" }}\n"),
                "system message `error`",
            ),
            ("[[nonsense".to_string(), "FAQ file"),
        ];
        for (text, needle) in cases {
            let err = Faq::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
