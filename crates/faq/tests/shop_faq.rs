//! The shipped FAQ covers every intent the shipped model knows, in every language.

use std::path::Path;

#[test]
fn the_shop_faq_answers_every_intent_of_the_shop_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("models/faq/shop.toml")).unwrap();
    let faq = faq::Faq::parse(&text).unwrap_or_else(|e| panic!("models/faq/shop.toml: {e}"));
    let labels: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(root.join("models/shop/labels.json")).unwrap(),
    )
    .unwrap();
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
