//! WhatsApp template messages: more than 24 hours after the customer's last message WhatsApp
//! delivers only templates the business had approved. `config/shop.toml` names them:
//!
//! ```toml
//! [whatsapp_templates.agent_reply]   # an agent's reply, the text as body variable {{1}}
//! name = "agent_follow_up"
//! languages = { en = "en", hu = "hu", pl = "pl" }
//!
//! [whatsapp_templates.csat]          # the rating question, 5 quick-reply buttons (1..5)
//! name = "csat_follow_up"
//! languages = { en = "en", hu = "hu", pl = "pl" }
//! ```
//!
//! Both are optional: without one, that message is not sent once the window has closed,
//! and the desk says so.

use serde::Deserialize;
use std::collections::BTreeMap;
use vocab::Lang;

/// An approved template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Its name in WhatsApp Manager.
    pub name: String,
    /// The template language (the code it was approved in, e.g. `en_US`) per customer
    /// language (`en`, `hu`, `pl`).
    pub languages: BTreeMap<String, String>,
}

impl Template {
    /// The template language for a customer writing `lang`: its own, else English's, else
    /// the first listed.
    pub fn language(&self, lang: Lang) -> &str {
        self.languages
            .get(lang.faq_code())
            .or_else(|| self.languages.get("en"))
            .or_else(|| self.languages.values().next())
            .map_or("en", String::as_str)
    }
}

/// The templates of `config/shop.toml` `[whatsapp_templates]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppTemplates {
    /// An agent's reply outside the window; the text fills body variable `{{1}}`.
    pub agent_reply: Option<Template>,
    /// The rating question outside the window; its quick-reply buttons carry the ratings
    /// 1..5 in order.
    pub csat: Option<Template>,
}

#[derive(Deserialize)]
struct ShopConfig {
    #[serde(default)]
    whatsapp_templates: WhatsAppTemplates,
}

impl WhatsAppTemplates {
    /// Reads `[whatsapp_templates]` of the shop config (none: no templates).
    ///
    /// # Errors
    ///
    /// The section does not parse, a name is not a WhatsApp template name (lower-case
    /// letters, digits, `_`), a template lists no language, or a language key is not one
    /// the bot speaks.
    pub fn parse(shop_toml: &str) -> Result<Self, String> {
        let config: ShopConfig = toml::from_str(shop_toml).map_err(|e| e.to_string())?;
        let templates = config.whatsapp_templates;
        for (what, template) in [
            ("agent_reply", &templates.agent_reply),
            ("csat", &templates.csat),
        ] {
            let Some(t) = template else { continue };
            let at = format!("[whatsapp_templates.{what}]");
            let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
            if t.name.is_empty() || !t.name.chars().all(valid) {
                return Err(format!(
                    "{at}: name {:?} is not a template name (lower-case letters, digits, _)",
                    t.name
                ));
            }
            if t.languages.is_empty() {
                return Err(format!("{at}: languages lists none"));
            }
            for (lang, code) in &t.languages {
                if !["en", "hu", "pl"].contains(&lang.as_str()) || code.trim().is_empty() {
                    return Err(format!(
                        "{at}: languages: {lang} = {code:?} (keys en, hu, pl; a template language code)"
                    ));
                }
            }
        }
        Ok(templates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_read_and_checked() {
        let toml = r#"
[facts]
x = "y"
[whatsapp_templates.agent_reply]
name = "agent_follow_up"
languages = { en = "en_US", hu = "hu" }
"#;
        let t = WhatsAppTemplates::parse(toml).unwrap();
        let reply = t.agent_reply.unwrap();
        assert_eq!(reply.name, "agent_follow_up");
        assert_eq!(reply.language(Lang::Hu), "hu");
        assert_eq!(reply.language(Lang::Pl), "en_US", "falls back to English");
        assert_eq!(t.csat, None);
        assert_eq!(
            WhatsAppTemplates::parse("[facts]\n").unwrap(),
            WhatsAppTemplates::default()
        );
        for bad in [
            "[whatsapp_templates.agent_reply]\nname = \"Bad Name\"\nlanguages = { en = \"en\" }",
            "[whatsapp_templates.agent_reply]\nname = \"ok\"\nlanguages = {}",
            "[whatsapp_templates.csat]\nname = \"ok\"\nlanguages = { de = \"de\" }",
            "[whatsapp_templates.csat]\nname = \"ok\"\nlanguages = { en = \"\" }",
            "[whatsapp_templates.other]\nname = \"ok\"\nlanguages = { en = \"en\" }",
            "[whatsapp_templates.csat]\nlanguages = { en = \"en\" }",
        ] {
            assert!(WhatsAppTemplates::parse(bad).is_err(), "{bad}");
        }
    }
}
