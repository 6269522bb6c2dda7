//! How the bot answers public comments (`config/shop.toml` `[comments]`):
//!
//! ```toml
//! [comments]
//! private_reply = ["*"]                          # intents answered by a private message
//! public_reply = ["shipping_cost", "delivery_time"]  # ... also with a short public reply
//! public_text = { en = "We've sent you a message.", hu = "Üzenetet küldtünk.", pl = "Wysłaliśmy wiadomość." }
//! ```
//!
//! `"*"` stands for every FAQ intent. Comments of other intents are kept for the agents,
//! unanswered; angry comments and complaints always go to the desk, never answered publicly.

use serde::Deserialize;
use std::collections::BTreeMap;
use vocab::Lang;

/// The comment rules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentRules {
    /// Intents answered with a private reply (`"*"`: all).
    #[serde(default = "everything")]
    pub private_reply: Vec<String>,
    /// Intents that also get the public reply (a subset makes sense of `private_reply`).
    #[serde(default)]
    pub public_reply: Vec<String>,
    /// The public reply per language (`en`, `hu`, `pl`).
    #[serde(default)]
    pub public_text: BTreeMap<String, String>,
}

fn everything() -> Vec<String> {
    vec!["*".to_string()]
}

impl Default for CommentRules {
    fn default() -> Self {
        Self {
            private_reply: everything(),
            public_reply: Vec::new(),
            public_text: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
struct ShopConfig {
    #[serde(default)]
    comments: CommentRules,
}

fn listed(list: &[String], intent: &str) -> bool {
    list.iter().any(|i| i == "*" || i == intent)
}

impl CommentRules {
    /// Reads `[comments]` of the shop config (none: every FAQ intent answered privately, no
    /// public replies).
    ///
    /// # Errors
    ///
    /// The section does not parse, a public reply is asked for without a text in every
    /// language, or a text is longer than 300 characters.
    pub fn parse(shop_toml: &str) -> Result<Self, String> {
        let config: ShopConfig = toml::from_str(shop_toml).map_err(|e| e.to_string())?;
        let rules = config.comments;
        if !rules.public_reply.is_empty() {
            for lang in ["en", "hu", "pl"] {
                match rules.public_text.get(lang) {
                    Some(text) if !text.trim().is_empty() && text.chars().count() <= 300 => {}
                    _ => {
                        return Err(format!(
                            "[comments] public_text: a text of 1 to 300 characters in {lang} (public_reply is set)"
                        ));
                    }
                }
            }
        }
        Ok(rules)
    }

    /// Every intent named is one the FAQ answers.
    ///
    /// # Errors
    ///
    /// Names the unknown intent.
    pub fn check_intents(&self, faq: &faq::Faq) -> Result<(), String> {
        for intent in self.private_reply.iter().chain(&self.public_reply) {
            if intent != "*" && !faq.has_intent(intent) {
                return Err(format!(
                    "config/shop.toml [comments]: {intent:?} is no FAQ intent of models/faq/shop.toml"
                ));
            }
        }
        Ok(())
    }

    /// Whether a comment of `intent` gets a private reply.
    pub fn private_reply(&self, intent: &str) -> bool {
        listed(&self.private_reply, intent)
    }

    /// The public reply for a comment of `intent` in `lang`, if it gets one.
    pub fn public_reply(&self, intent: &str, lang: Lang) -> Option<&str> {
        if !listed(&self.public_reply, intent) {
            return None;
        }
        self.public_text
            .get(lang.faq_code())
            .or_else(|| self.public_text.get("en"))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_rules_are_read_and_checked() {
        let rules = CommentRules::parse("[facts]\n").unwrap();
        assert!(rules.private_reply("shipping_cost"));
        assert_eq!(rules.public_reply("shipping_cost", Lang::En), None);
        let rules = CommentRules::parse(
            r#"[comments]
private_reply = ["shipping_cost", "delivery_time"]
public_reply = ["shipping_cost"]
public_text = { en = "Sent you a message.", hu = "Üzenetet küldtünk.", pl = "Wysłaliśmy wiadomość." }"#,
        )
        .unwrap();
        assert!(rules.private_reply("delivery_time"));
        assert!(!rules.private_reply("return_item"));
        assert_eq!(
            rules.public_reply("shipping_cost", Lang::Hu),
            Some("Üzenetet küldtünk.")
        );
        assert_eq!(rules.public_reply("delivery_time", Lang::Hu), None);
        for bad in [
            "[comments]\npublic_reply = [\"*\"]\npublic_text = { en = \"x\" }",
            "[comments]\nprivate = [\"*\"]",
        ] {
            assert!(CommentRules::parse(bad).is_err(), "{bad}");
        }
    }
}
