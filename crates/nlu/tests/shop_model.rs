//! Behaviour of the shipped shop model (models/shop) with the project's rule files.

use nlu::{Analyzer, HandoffSignal, Language};
use std::path::Path;
use std::sync::OnceLock;

fn analyzer() -> &'static Analyzer {
    static ANALYZER: OnceLock<Analyzer> = OnceLock::new();
    ANALYZER.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        Analyzer::from_dir(&root.join("models/shop"), Some(&root.join("models/rules")))
            .expect("shipped model loads")
    })
}

#[test]
fn language_with_and_without_diacritics() {
    let cases = [
        ("Where is my order? I ordered it last week.", Language::En),
        ("Do you ship to Germany?", Language::En),
        ("Mikor vagytok nyitva szombaton?", Language::Hu),
        ("mikor vagytok nyitva", Language::Hu),
        ("Hol van a rendelésem? Múlt héten rendeltem.", Language::Hu),
        ("hol van a rendelesem, mult heten rendeltem", Language::Hu),
        ("Mennyi a szállítási díj Ausztriába?", Language::Hu),
        ("mennyi a szallitasi dij", Language::Hu),
        ("Ile kosztuje wysyłka do Polski?", Language::Pl),
        ("ile kosztuje wysylka", Language::Pl),
        (
            "Gdzie jest moja paczka? Zamówiłam tydzień temu.",
            Language::Pl,
        ),
        (
            "gdzie jest moja paczka zamowilam tydzien temu",
            Language::Pl,
        ),
        (
            "Wo ist meine Bestellung? Ich warte seit einer Woche.",
            Language::Other,
        ),
        (
            "Où est ma commande ? J'attends depuis une semaine.",
            Language::Other,
        ),
        ("Kde je moje objednávka? Čekám už týden.", Language::Other),
    ];
    for (text, want) in cases {
        let analysis = analyzer().analyze(text);
        assert_eq!(analysis.language, want, "{text}: {analysis:?}");
        assert!((0.0..=1.0).contains(&analysis.language_confidence));
    }
}

#[test]
fn intents_in_three_languages() {
    let cases = [
        ("where is my order #HU-10234", "order_status"),
        ("hol van a csomagom? HU-55821", "order_status"),
        ("gdzie jest moje zamówienie 10234", "order_status"),
        ("how much does shipping cost", "shipping_cost"),
        ("mennyibe kerül a szállítás", "shipping_cost"),
        ("ile kosztuje dostawa", "shipping_cost"),
        ("can I pay with PayPal?", "payment_methods"),
        ("I need an invoice for my company", "invoice_request"),
    ];
    for (text, want) in cases {
        let analysis = analyzer().analyze(text);
        assert!(!analysis.out_of_scope, "{text}: {analysis:?}");
        assert_eq!(analysis.intents[0].label, want, "{text}: {analysis:?}");
        assert!(analysis.intents.len() <= 3);
        assert!(
            analysis
                .intents
                .windows(2)
                .all(|w| w[0].confidence >= w[1].confidence)
        );
    }
}

#[test]
fn out_of_scope_is_flagged() {
    for text in [
        "what's the weather in Budapest tomorrow",
        "write me a python script that sorts a list",
        "ki nyerte a tegnapi meccset",
    ] {
        let analysis = analyzer().analyze(text);
        assert!(analysis.out_of_scope, "{text}: {analysis:?}");
        assert!(analysis.needs_human.contains(&HandoffSignal::OutOfScope));
    }
}

#[test]
fn explicit_requests_for_a_human_force_the_intent() {
    for text in [
        "I want to talk to a human",
        "Emberrel szeretnék beszélni!",
        "emberrel szeretnek beszelni",
        "Chcę rozmawiać z konsultantem",
        "chce rozmawiac z konsultantem",
    ] {
        let analysis = analyzer().analyze(text);
        assert_eq!(
            analysis.intents[0].label, "contact_human",
            "{text}: {analysis:?}"
        );
        assert!(
            analysis
                .keyword_hits
                .iter()
                .any(|h| h.rule == "human_request"),
            "{text}"
        );
        assert!(
            analysis
                .needs_human
                .contains(&HandoffSignal::ExplicitRequest),
            "{text}"
        );
    }
}

#[test]
fn anger_from_insults_and_shouting() {
    let calm = analyzer().analyze("where is my order?");
    assert!(calm.anger < nlu::ANGRY_THRESHOLD, "{calm:?}");
    assert!(!calm.needs_human.contains(&HandoffSignal::Anger));
    for text in [
        "you useless idiots, where is my order",
        "WHERE IS MY ORDER?!?!?! THIS IS RIDICULOUS",
        "ti hülye csalók, hol a csomagom",
        "jesteście oszustami, kurwa",
    ] {
        let analysis = analyzer().analyze(text);
        assert!(
            analysis.anger >= nlu::ANGRY_THRESHOLD,
            "{text}: {}",
            analysis.anger
        );
        assert!(
            analysis.needs_human.contains(&HandoffSignal::Anger),
            "{text}"
        );
    }
}

#[test]
fn deterministic() {
    let text = "Szia! Mikor érkezik a lámpa, amit rendeltem?";
    assert_eq!(analyzer().analyze(text), analyzer().analyze(text));
}

#[test]
fn odd_input_gets_a_defined_result() {
    let huge = "where is my order ".repeat(6000); // ~100 KB
    let cases = [
        "",
        "   ",
        "\u{0}\u{1}\u{7f}\t\r\n",
        "😡😡😡",
        "?!?!",
        &huge,
        "\u{feff}\u{200b}zero width",
    ];
    for text in cases {
        let analysis = analyzer().analyze(text);
        assert!((0.0..=1.0).contains(&analysis.anger), "{text:?}");
        assert!(
            analysis
                .intents
                .iter()
                .all(|i| (0.0..=1.0).contains(&i.confidence))
        );
    }
    let empty = analyzer().analyze("");
    assert!(empty.out_of_scope);
    assert_eq!(empty.language, Language::Other);
}
