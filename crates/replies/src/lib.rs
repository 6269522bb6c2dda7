//! Turns a [`policy::Action`] into what the customer reads: texts and buttons taken from the
//! FAQ in the conversation's language. Channel-agnostic: the channel shells map buttons to
//! Messenger quick replies or WhatsApp buttons and lists (`meta`).
//!
//! Buttons carry payloads the policy understands: `FAQ:<intent>` and [`policy::HUMAN_PAYLOAD`].
#![deny(missing_docs)]

use faq::Faq;
use policy::{Action, FAQ_PAYLOAD_PREFIX, HUMAN_PAYLOAD, Lang};

/// What the bot knows about the shop: the FAQ with its placeholders filled from the shop
/// config, and the human team's hours from the same config.
#[derive(Debug)]
pub struct Shop {
    /// The answers and system messages.
    pub faq: Faq,
    /// When agents are in.
    pub hours: hours::BusinessHours,
    /// What WhatsApp may send after its 24-hour window.
    pub templates: WhatsAppTemplates,
    /// The values of the shop placeholders (`[facts]` and `{opening_hours}`), for texts the
    /// operator writes at run time (saved replies).
    pub facts: faq::Facts,
    /// How public comments are answered.
    pub comments: CommentRules,
}

impl Shop {
    /// Loads the FAQ (`models/faq/shop.toml`) against the shop config (`config/shop.toml`):
    /// `{opening_hours}` is written from the config's `[hours]`, every other placeholder
    /// comes from its `[facts]`.
    ///
    /// # Errors
    ///
    /// A message naming the file and the problem.
    pub fn load(faq_toml: &str, shop_toml: &str) -> Result<Self, String> {
        let (hours, facts, templates, comments) = Self::config(shop_toml)?;
        let faq =
            Faq::parse_with(faq_toml, &facts).map_err(|e| format!("models/faq/shop.toml: {e}"))?;
        comments.check_intents(&faq)?;
        Ok(Self {
            faq,
            hours,
            templates,
            facts,
            comments,
        })
    }

    /// Loads the FAQ from the JSON [`Faq::to_json`] made of a checked [`Shop::load`] (the form
    /// components embed at build time) and the rest from the shop config.
    ///
    /// # Errors
    ///
    /// A message naming the problem.
    pub fn from_built(faq_json: &str, shop_toml: &str) -> Result<Self, String> {
        let (hours, facts, templates, comments) = Self::config(shop_toml)?;
        let faq = Faq::from_json(faq_json).map_err(|e| e.to_string())?;
        comments.check_intents(&faq)?;
        Ok(Self {
            faq,
            hours,
            templates,
            facts,
            comments,
        })
    }

    /// The shop config's hours, facts (with `{opening_hours}` written from the hours),
    /// WhatsApp templates and comment rules.
    fn config(shop_toml: &str) -> Result<Config, String> {
        let hours =
            hours::BusinessHours::parse(shop_toml).map_err(|e| format!("config/shop.toml: {e}"))?;
        let mut facts =
            faq::Facts::parse(shop_toml).map_err(|e| format!("config/shop.toml: {e}"))?;
        for lang in faq::LANGUAGES {
            facts.insert("opening_hours", lang, &hours.describe(lang));
        }
        let templates =
            WhatsAppTemplates::parse(shop_toml).map_err(|e| format!("config/shop.toml: {e}"))?;
        let comments =
            CommentRules::parse(shop_toml).map_err(|e| format!("config/shop.toml: {e}"))?;
        Ok((hours, facts, templates, comments))
    }
}

pub use comments::CommentRules;
pub use templates::{Template, WhatsAppTemplates};
pub use vocab::Button;

mod comments;
mod templates;

/// What [`Shop`] reads from the shop config besides the FAQ.
type Config = (
    hours::BusinessHours,
    faq::Facts,
    WhatsAppTemplates,
    CommentRules,
);

/// One message to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The text.
    pub text: String,
    /// Choices offered with it.
    pub buttons: Vec<Button>,
}

/// The topics offered when the bot does not know what the customer wants.
const MAIN_TOPICS: [&str; 4] = [
    "order_status",
    "shipping_cost",
    "return_item",
    "payment_methods",
];

fn faq_button(faq: &Faq, intent: &str, lang: &str) -> Option<Button> {
    faq.title(intent, lang).map(|title| Button {
        payload: format!("{FAQ_PAYLOAD_PREFIX}{intent}"),
        title: title.to_string(),
    })
}

fn human_button(faq: &Faq, lang: &str) -> Button {
    Button {
        payload: HUMAN_PAYLOAD.to_string(),
        title: faq
            .system("talk_to_person", lang)
            .unwrap_or("Talk to a person")
            .to_string(),
    }
}

/// The question sent when an agent resolves a conversation: "how would you rate our help",
/// with buttons 1 to 5 (payloads `CSAT:1`..`CSAT:5`).
pub fn rating_prompt(faq: &Faq, lang: Lang) -> Reply {
    let code = lang.faq_code();
    Reply {
        text: system(
            faq,
            "csat_prompt",
            code,
            "How would you rate our help from 1 (bad) to 5 (great)?",
        ),
        buttons: (1..=5)
            .map(|n| Button {
                payload: format!("{}{n}", policy::RATING_PAYLOAD_PREFIX),
                title: n.to_string(),
            })
            .collect(),
    }
}

/// The system message `key`, or a plain English fallback if the FAQ file lacks it.
fn system(faq: &Faq, key: &str, lang: &str, fallback: &str) -> String {
    faq.system(key, lang).unwrap_or(fallback).to_string()
}

/// What the bot says when a FAQ answer is missing.
const SORRY: &str = "Sorry, something went wrong on our side, please try again.";

impl Reply {
    /// A reply without buttons.
    fn text(text: String) -> Self {
        Self {
            text,
            buttons: Vec::new(),
        }
    }
}

/// What the bot says for `action`. `wait_minutes` is the estimated wait for a handoff;
/// `back` the time phrase when agents are back if it happens outside business hours.
pub fn render(
    faq: &Faq,
    action: &Action,
    lang: Lang,
    wait_minutes: u32,
    back: Option<&str>,
) -> Vec<Reply> {
    let code = lang.faq_code();
    let say = |key: &str, fallback: &str| system(faq, key, code, fallback);
    let reply = match action {
        Action::Silent => return Vec::new(),
        Action::Answer { intent } => answer(faq, intent, code),
        Action::SmallTalk { intent } => Reply::text(
            faq.answer(intent, code)
                .map_or_else(|| say("capabilities", SORRY), str::to_string),
        ),
        Action::Clarify { options } => Reply {
            text: say("clarify", "Did you mean one of these?"),
            buttons: topics(faq, options, code),
        },
        Action::Capabilities => Reply {
            text: say(
                "capabilities",
                "I can help with orders, shipping, returns and payments.",
            ),
            buttons: topics(faq, &MAIN_TOPICS, code),
        },
        Action::ErasureRequested => Reply::text(say(
            "erasure_ack",
            "We've received your request to delete your data; a colleague will confirm it.",
        )),
        Action::Rating { .. } => Reply::text(say("csat_thanks", "Thank you for your rating!")),
        Action::TextOnly => Reply::text(say(
            "text_only",
            "I can only read text messages, please type your question.",
        )),
        Action::Handoff { .. } => Reply::text(handoff_text(faq, code, wait_minutes, back)),
    };
    vec![reply]
}

/// The FAQ answer for `intent` with buttons for its related topics and a person, or the
/// error message if the FAQ has no answer in `code`.
fn answer(faq: &Faq, intent: &str, code: &str) -> Reply {
    match faq.answer(intent, code) {
        Some(text) => Reply {
            text: text.to_string(),
            buttons: topics(faq, faq.related(intent), code),
        },
        None => Reply {
            text: system(faq, "error", code, SORRY),
            buttons: vec![human_button(faq, code)],
        },
    }
}

/// Buttons for the FAQ topics `intents` (those with a title in `code`), then "talk to a person".
fn topics(faq: &Faq, intents: &[impl AsRef<str>], code: &str) -> Vec<Button> {
    let mut buttons: Vec<Button> = intents
        .iter()
        .filter_map(|i| faq_button(faq, i.as_ref(), code))
        .collect();
    buttons.push(human_button(faq, code));
    buttons
}

/// "A colleague will take over in about N minutes", or when agents are back if they are out.
fn handoff_text(faq: &Faq, code: &str, wait_minutes: u32, back: Option<&str>) -> String {
    match back {
        Some(back) => system(
            faq,
            "handoff_closed",
            code,
            "Our colleagues are back {back}.",
        )
        .replace("{back}", back),
        None => {
            let wait = system(faq, "wait_minutes", code, "about {minutes} minutes")
                .replace("{minutes}", &wait_minutes.max(1).to_string());
            system(
                faq,
                "handoff",
                code,
                "A colleague will take over in {wait}.",
            )
            .replace("{wait}", &wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::HandoffReason;

    fn shop_faq() -> Faq {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        Shop::load(&read("models/faq/shop.toml"), &read("config/shop.toml"))
            .unwrap()
            .faq
    }

    #[test]
    fn every_action_renders_in_every_language() {
        let faq = shop_faq();
        let actions = [
            Action::Answer {
                intent: "shipping_cost".into(),
            },
            Action::SmallTalk {
                intent: "greeting".into(),
            },
            Action::Clarify {
                options: vec!["order_status".into(), "delivery_time".into()],
            },
            Action::Capabilities,
            Action::TextOnly,
            Action::Handoff {
                reason: HandoffReason::Anger,
            },
            Action::Rating { score: 4 },
            Action::ErasureRequested,
        ];
        for lang in [Lang::En, Lang::Hu, Lang::Pl, Lang::Other] {
            for action in &actions {
                let replies = render(&faq, action, lang, 4, None);
                assert_eq!(replies.len(), 1, "{action:?} {lang:?}");
                let reply = &replies[0];
                assert!(!reply.text.is_empty());
                assert!(
                    !reply.text.contains('{'),
                    "unfilled placeholder: {}",
                    reply.text
                );
                assert!(
                    reply
                        .buttons
                        .iter()
                        .all(|b| b.title.chars().count() <= faq::MAX_TITLE_CHARS)
                );
            }
        }
        assert!(render(&faq, &Action::Silent, Lang::En, 0, None).is_empty());
    }

    #[test]
    fn the_rating_prompt_offers_one_to_five() {
        let faq = shop_faq();
        let prompt = rating_prompt(&faq, Lang::Pl);
        assert_eq!(Some(prompt.text.as_str()), faq.system("csat_prompt", "pl"));
        let payloads: Vec<&str> = prompt.buttons.iter().map(|b| b.payload.as_str()).collect();
        assert_eq!(payloads, ["CSAT:1", "CSAT:2", "CSAT:3", "CSAT:4", "CSAT:5"]);
    }

    #[test]
    fn answers_follow_the_language_and_offer_related_topics_and_a_person() {
        let faq = shop_faq();
        let hu = &render(
            &faq,
            &Action::Answer {
                intent: "shipping_cost".into(),
            },
            Lang::Hu,
            0,
            None,
        )[0];
        assert_eq!(hu.text, faq.answer("shipping_cost", "hu").unwrap());
        let payloads: Vec<&str> = hu.buttons.iter().map(|b| b.payload.as_str()).collect();
        assert_eq!(payloads.last(), Some(&HUMAN_PAYLOAD));
        assert!(payloads.contains(&"FAQ:delivery_time"), "{payloads:?}");
        let other = &render(
            &faq,
            &Action::Answer {
                intent: "shipping_cost".into(),
            },
            Lang::Other,
            0,
            None,
        )[0];
        assert_eq!(
            other.text,
            faq.answer("shipping_cost", "en").unwrap(),
            "unknown languages get English"
        );
        let clarify = &render(
            &faq,
            &Action::Clarify {
                options: vec!["order_status".into(), "refund_status".into()],
            },
            Lang::Pl,
            0,
            None,
        )[0];
        assert_eq!(clarify.buttons.len(), 3);
        assert_eq!(
            clarify.buttons[0].title,
            faq.title("order_status", "pl").unwrap()
        );
    }

    #[test]
    fn handoff_says_the_wait_or_when_agents_are_back() {
        let faq = shop_faq();
        let open = &render(
            &faq,
            &Action::Handoff {
                reason: HandoffReason::ExplicitRequest,
            },
            Lang::En,
            7,
            None,
        )[0];
        assert!(open.text.contains('7'), "{}", open.text);
        let closed = &render(
            &faq,
            &Action::Handoff {
                reason: HandoffReason::ExplicitRequest,
            },
            Lang::Hu,
            7,
            Some("hétfőn 8:00-kor"),
        )[0];
        assert!(closed.text.contains("hétfőn 8:00-kor"), "{}", closed.text);
    }
}
