//! The shipped FAQ covers every intent the shipped model knows, in every language, and every
//! placeholder in it resolves from the shipped shop config.

use std::path::Path;

/// A file of the repository, by its path from the root.
fn read_shipped(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn shipped_shop() -> replies::Shop {
    replies::Shop::load(
        &read_shipped("models/faq/shop.toml"),
        &read_shipped("config/shop.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The `{name}` placeholders left in a text.
fn placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(close) = rest.find('}') {
            found.push(rest[..close].to_string());
        }
    }
    found
}

#[test]
fn every_placeholder_resolves_from_the_shop_config() {
    let raw = read_shipped("models/faq/shop.toml");
    let shop = shipped_shop();
    let faq = &shop.faq;
    let mut texts = Vec::new();
    for intent in faq.intents() {
        for lang in faq::LANGUAGES {
            texts.push(faq.answer(intent, lang).unwrap_or_default().to_string());
            texts.push(faq.title(intent, lang).unwrap_or_default().to_string());
        }
    }
    for key in [
        "capabilities",
        "text_only",
        "clarify",
        "handoff",
        "handoff_closed",
        "wait_minutes",
    ] {
        for lang in faq::LANGUAGES {
            texts.push(faq.system(key, lang).unwrap_or_default().to_string());
        }
    }
    for text in &texts {
        for name in placeholders(text) {
            assert!(
                faq::RUNTIME_PLACEHOLDERS.contains(&name.as_str()),
                "`{{{name}}}` left unfilled in {text:?}"
            );
        }
    }
    // The file does use the config: the facts are written once, not in the answers.
    let shop_config = read_shipped("config/shop.toml");
    let facts = faq::Facts::parse(&shop_config).unwrap();
    for name in facts.names() {
        assert!(
            raw.contains(&format!("{{{name}}}")),
            "fact `{name}` is never used"
        );
    }
    assert!(raw.contains("{opening_hours}"));
    // Opening hours come from [hours], in each language.
    for lang in faq::LANGUAGES {
        let answer = faq.answer("opening_hours", lang).unwrap_or_default();
        assert!(
            answer.contains(&shop.hours.describe(lang)),
            "{lang}: {answer}"
        );
    }
    assert!(
        faq.answer("opening_hours", "hu")
            .unwrap_or_default()
            .contains("hétfő–péntek 08:00–18:00"),
        "{:?}",
        faq.answer("opening_hours", "hu")
    );
}

#[test]
fn the_shop_faq_answers_every_intent_of_the_shop_model() {
    let shop = shipped_shop();
    let faq = &shop.faq;
    let labels: Vec<String> =
        serde_json::from_str(&read_shipped("models/shop/labels.json")).unwrap();
    for label in labels.iter().filter(|l| *l != "out_of_scope") {
        for lang in faq::LANGUAGES {
            assert!(
                faq.answer(label, lang).is_some(),
                "no {lang} answer for `{label}`"
            );
            assert!(
                faq.title(label, lang).is_some(),
                "no {lang} title for `{label}`"
            );
        }
    }
    for key in [
        "capabilities",
        "text_only",
        "clarify",
        "handoff",
        "handoff_closed",
        "wait_minutes",
        "talk_to_person",
        "more_options",
        "csat_prompt",
        "csat_thanks",
        "erasure_ack",
        "error",
    ] {
        for lang in faq::LANGUAGES {
            assert!(
                faq.system(key, lang).is_some(),
                "no {lang} system message `{key}`"
            );
        }
    }
    for (key, placeholder) in [
        ("handoff", "{wait}"),
        ("handoff_closed", "{back}"),
        ("wait_minutes", "{minutes}"),
    ] {
        for lang in faq::LANGUAGES {
            assert!(
                faq.system(key, lang)
                    .unwrap_or_default()
                    .contains(placeholder),
                "{key} {lang} lacks {placeholder}"
            );
        }
    }
}
