//! The FAQ content the bot answers with: per intent an answer and a button title in each
//! language, related intents to offer next, and the bot's system messages (what it can help
//! with, "I can only read text", the handoff acknowledgement, ...). Operators edit one TOML
//! file (`models/faq/shop.toml`); [`Faq::parse`] checks it whole, so a typo fails the build
//! or start-up instead of a conversation.
//!
//! Shop facts are placeholders, `{name}`, filled from the `[facts]` table of the shop config
//! ([`Facts`]): prices, e-mail, return period and so on are written once. `{back}`,
//! `{minutes}` and `{wait}` are left for the bot to fill at run time ([`RUNTIME_PLACEHOLDERS`]);
//! any other unknown placeholder is an error.
//!
//! ```
//! let mut facts = faq::Facts::parse(r#"
//! [facts]
//! return_days = "30"
//! "#)?;
//! facts.insert("greeting", "en", "Hello");
//! let faq = faq::Faq::parse_with(r#"
//! [intent.returns]
//! title = { en = "Returns", hu = "Visszaküldés", pl = "Zwroty" }
//! answer = { en = "{greeting}! {return_days} days.", hu = "{return_days} nap.", pl = "{return_days} dni." }
//! "#, &facts)?;
//! assert_eq!(faq.answer("returns", "en"), Some("Hello! 30 days."));
//! assert_eq!(faq.answer("returns", "pl"), Some("30 dni."));
//! # Ok::<(), faq::Error>(())
//! ```
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

use serde::{Deserialize, Serialize};
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

/// Placeholders the bot fills at run time; [`Faq::parse_with`] leaves them in place.
pub const RUNTIME_PLACEHOLDERS: [&str; 3] = ["back", "minutes", "wait"];

/// The values of the FAQ's placeholders: per name, a text for every language (or one for
/// all).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    values: BTreeMap<String, BTreeMap<String, String>>,
}

/// One `[facts]` value: the same in every language, or one per language.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Fact {
    Everywhere(String),
    PerLanguage(Texts),
}

/// The shop config; only its `[facts]` table is read here.
#[derive(Debug, Deserialize)]
struct ShopConfig {
    #[serde(default)]
    facts: BTreeMap<String, Fact>,
}

/// The key under which a fact that is the same in every language is kept.
const EVERY_LANGUAGE: &str = "*";

impl Facts {
    /// Reads the `[facts]` table of a shop config (other tables are ignored).
    ///
    /// # Errors
    ///
    /// Invalid TOML, a fact name that is not `[a-z0-9_]+` or is reserved for run time, or a
    /// per-language fact missing one of [`LANGUAGES`].
    pub fn parse(shop_config: &str) -> Result<Self, Error> {
        let config: ShopConfig =
            toml::from_str(shop_config).map_err(|e| error(format!("shop config: {e}")))?;
        let mut facts = Self::default();
        for (name, fact) in config.facts {
            if !is_placeholder_name(&name) || RUNTIME_PLACEHOLDERS.contains(&name.as_str()) {
                return Err(error(format!(
                    "fact `{name}`: names are lower-case letters, digits and `_`, and not one of {RUNTIME_PLACEHOLDERS:?}"
                )));
            }
            match fact {
                Fact::Everywhere(text) => facts.insert(&name, EVERY_LANGUAGE, &text),
                Fact::PerLanguage(texts) => {
                    check_texts(&format!("fact `{name}`"), &texts)?;
                    for (lang, text) in &texts {
                        facts.insert(&name, lang, text);
                    }
                }
            }
        }
        Ok(facts)
    }

    /// Sets fact `name` in `lang` (`"*"` for every language), e.g. a value computed from other
    /// configuration such as the opening hours.
    pub fn insert(&mut self, name: &str, lang: &str, text: &str) {
        self.values
            .entry(name.to_string())
            .or_default()
            .insert(lang.to_string(), text.to_string());
    }

    fn get(&self, name: &str, lang: &str) -> Option<&str> {
        let texts = self.values.get(name)?;
        texts
            .get(lang)
            .or_else(|| texts.get(EVERY_LANGUAGE))
            .map(String::as_str)
    }

    /// The names of the facts.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Fills the `{name}` placeholders of an operator's text in `lang` (e.g. a saved reply);
    /// `what` names the text in errors.
    ///
    /// # Errors
    ///
    /// A placeholder with no value, or one only known while answering ([`RUNTIME_PLACEHOLDERS`]).
    pub fn fill(&self, what: &str, lang: &str, text: &str) -> Result<String, Error> {
        let filled = fill(what, lang, text, self)?;
        if let Some(name) = RUNTIME_PLACEHOLDERS
            .iter()
            .find(|name| filled.contains(&format!("{{{name}}}")))
        {
            return Err(error(format!(
                "{what}: placeholder `{{{name}}}` is only known while the bot answers"
            )));
        }
        Ok(filled)
    }
}

fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Fills the placeholders of `text` (in `lang`) from `facts`, leaving the run-time ones; a
/// brace that does not open a placeholder name is kept as it is.
fn fill(what: &str, lang: &str, text: &str, facts: &Facts) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_placeholder_name(&after[..close]) => {
                let name = &after[..close];
                if RUNTIME_PLACEHOLDERS.contains(&name) {
                    out.push_str(&rest[open..open + close + 2]);
                } else {
                    let value = facts.get(name, lang).ok_or_else(|| {
                        error(format!(
                            "{what} `{lang}`: placeholder `{{{name}}}` has no value in the shop config's [facts]"
                        ))
                    })?;
                    out.push_str(value);
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn fill_texts(what: &str, texts: &mut Texts, facts: &Facts) -> Result<(), Error> {
    for (lang, text) in texts.iter_mut() {
        *text = fill(what, lang, text, facts)?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    intent: BTreeMap<String, IntentEntry>,
    #[serde(default)]
    system: BTreeMap<String, Texts>,
}

#[derive(Debug, Deserialize, Serialize)]
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
    /// Parses and checks FAQ TOML without shop facts (any placeholder other than the
    /// [`RUNTIME_PLACEHOLDERS`] is an error).
    ///
    /// # Errors
    ///
    /// As [`Faq::parse_with`].
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_with(text, &Facts::default())
    }

    /// Parses and checks FAQ TOML, filling its placeholders from `facts`.
    ///
    /// # Errors
    ///
    /// Invalid TOML, unknown keys, a text missing in one of [`LANGUAGES`], a placeholder
    /// without a value, a title longer than [`MAX_TITLE_CHARS`] once filled, or a `related`
    /// intent that is not defined.
    pub fn parse_with(text: &str, facts: &Facts) -> Result<Self, Error> {
        let mut file: File = toml::from_str(text).map_err(|e| error(format!("FAQ file: {e}")))?;
        for (name, entry) in &mut file.intent {
            check_texts(&format!("intent `{name}` title"), &entry.title)?;
            check_texts(&format!("intent `{name}` answer"), &entry.answer)?;
            fill_texts(&format!("intent `{name}` title"), &mut entry.title, facts)?;
            fill_texts(&format!("intent `{name}` answer"), &mut entry.answer, facts)?;
            for (lang, title) in &entry.title {
                if title.chars().count() > MAX_TITLE_CHARS {
                    return Err(error(format!(
                        "intent `{name}` title `{lang}` is longer than {MAX_TITLE_CHARS} characters: {title:?}"
                    )));
                }
            }
        }
        for (name, entry) in &file.intent {
            if let Some(unknown) = entry.related.iter().find(|r| !file.intent.contains_key(*r)) {
                return Err(error(format!(
                    "intent `{name}` relates to undefined intent `{unknown}`"
                )));
            }
        }
        for (key, texts) in &mut file.system {
            check_texts(&format!("system message `{key}`"), texts)?;
            fill_texts(&format!("system message `{key}`"), texts, facts)?;
        }
        Ok(Self { file })
    }

    /// The checked, filled FAQ as compact JSON, for [`Faq::from_json`]: components embed this
    /// form (made at build time) because it loads several times faster than the TOML.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.file).unwrap_or_default()
    }

    /// Loads what [`Faq::to_json`] wrote (already checked and filled).
    ///
    /// # Errors
    ///
    /// Text that is not such JSON.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text)
            .map(|file| Self { file })
            .map_err(|e| error(format!("FAQ JSON: {e}")))
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

    /// Whether `intent` is one of the FAQ's intents.
    pub fn has_intent(&self, intent: &str) -> bool {
        self.file.intent.contains_key(intent)
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
            (
                GOOD.replace("answer b\"", "answer {price}\""),
                "intent `b` answer `en`: placeholder `{price}` has no value",
            ),
        ];
        for (text, needle) in cases {
            let err = Faq::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn placeholders_are_filled_per_language_and_runtime_ones_kept() {
        let facts = Facts::parse(
            r#"
[hours]
time_zone = "Europe/Budapest"
[facts]
email = "help@example.com"
price = { en = "€9.90", hu = "9,90 €", pl = "9,90 €" }
"#,
        )
        .unwrap();
        assert_eq!(facts.names().collect::<Vec<_>>(), ["email", "price"]);
        let text = GOOD
            .replace("answer a\"", "{price}, {email} {not a placeholder} {}\"")
            .replace("válasz a\"", "{price}\"")
            .replace("answer b\"", "back {back} in {wait}\"");
        let faq = Faq::parse_with(&text, &facts).unwrap();
        assert_eq!(
            faq.answer("a", "en"),
            Some("€9.90, help@example.com {not a placeholder} {}")
        );
        assert_eq!(faq.answer("a", "hu"), Some("9,90 €"));
        assert_eq!(faq.answer("b", "en"), Some("back {back} in {wait}"));
        // A filled title must still fit a button.
        let mut long = facts.clone();
        long.insert("name", "*", "An extremely long shop name");
        let err = Faq::parse_with(&GOOD.replace("en = \"A\"", "en = \"{name}\""), &long)
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than 20"), "{err}");
    }

    #[test]
    fn invalid_facts_are_refused() {
        for (text, needle) in [
            (
                "[facts]\nprice = { en = \"1\" }",
                "fact `price`: missing or empty `hu`",
            ),
            ("[facts]\nPrice = \"1\"", "fact `Price`"),
            ("[facts]\nwait = \"1\"", "fact `wait`"),
            ("[facts]\nprice = 3", "shop config"),
        ] {
            let err = Facts::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
