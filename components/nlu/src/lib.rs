//! The `nlu` component: exports `chatbot:nlu/analyzer` with the shop model, the language
//! identifier and the keyword rules embedded.
//!
//! The build pre-initializes it (`host preinit`, wasmtime-wizer): `wizer-initialize` builds
//! the analyzer (ONNX model → optimized tract plan, aho-corasick automata) and runs one
//! analysis to warm tract's lazy statics, and the snapshot keeps all of it in the memory
//! image, so a fresh instance per request analyzes at once. Without pre-initialization the
//! first `analyze` of each instance builds it (about a hundred times slower).
#![deny(clippy::unwrap_used, clippy::expect_used)]

/// The generated bindings and export glue are `unsafe` ABI code; ours is not (the workspace
/// denies `unsafe_code`).
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        world: "nlu",
        path: "../../wit",
        pub_export_macro: true,
    });
}

use bindings::exports::chatbot::nlu::analyzer::{self as wit, Guest as AnalyzerGuest};
use std::sync::OnceLock;

/// `None` only if the embedded model is broken, which the build's pre-initialization (and
/// the crate's tests) would already have shown; then every message reads as "unknown".
static ANALYZER: OnceLock<Option<nlu::Analyzer>> = OnceLock::new();

fn analyzer() -> Option<&'static nlu::Analyzer> {
    ANALYZER
        .get_or_init(|| {
            nlu::Analyzer::from_files(&nlu::ModelFiles {
                onnx: include_bytes!("../../../models/shop/model.onnx"),
                labels: include_bytes!("../../../models/shop/labels.json"),
                config: include_bytes!("../../../models/shop/config.json"),
                language: include_bytes!("../../../models/shop/language.bin"),
                rules: vec![
                    ("en.toml", include_str!("../../../models/rules/en.toml")),
                    ("hu.toml", include_str!("../../../models/rules/hu.toml")),
                    ("pl.toml", include_str!("../../../models/rules/pl.toml")),
                ],
            })
            .ok()
        })
        .as_ref()
}

struct Component;

impl bindings::Guest for Component {
    /// Fails the build (`host preinit` reports the trap) if the embedded model is broken.
    fn wizer_initialize() {
        match analyzer() {
            Some(analyzer) => {
                std::hint::black_box(analyzer.analyze("warm up: hello, where is my order?"));
            }
            None => panic!("the embedded NLU model cannot be loaded"),
        }
    }
}

impl AnalyzerGuest for Component {
    fn analyze(text: String) -> Result<wit::Analysis, String> {
        analyzer()
            .map(|analyzer| convert(analyzer.analyze(&text)))
            .ok_or_else(|| "the embedded NLU model cannot be loaded".to_string())
    }
}

fn convert(a: nlu::Analysis) -> wit::Analysis {
    wit::Analysis {
        language: match a.language {
            nlu::Language::En => wit::Language::En,
            nlu::Language::Hu => wit::Language::Hu,
            nlu::Language::Pl => wit::Language::Pl,
            nlu::Language::Other => wit::Language::Other,
        },
        language_confidence: a.language_confidence,
        intents: a
            .intents
            .into_iter()
            .map(|i| wit::IntentScore {
                label: i.label,
                confidence: i.confidence,
            })
            .collect(),
        out_of_scope: a.out_of_scope,
        keyword_hits: a
            .keyword_hits
            .into_iter()
            .map(|h| wit::KeywordHit {
                rule: h.rule,
                phrase: h.phrase,
                intent: h.intent,
                anger: h.anger,
            })
            .collect(),
        anger: a.anger,
        needs_human: a
            .needs_human
            .into_iter()
            .map(|s| match s {
                nlu::HandoffSignal::ExplicitRequest => wit::HandoffSignal::ExplicitRequest,
                nlu::HandoffSignal::Anger => wit::HandoffSignal::Anger,
                nlu::HandoffSignal::Complaint => wit::HandoffSignal::Complaint,
                nlu::HandoffSignal::OutOfScope => wit::HandoffSignal::OutOfScope,
            })
            .collect(),
    }
}

#[allow(unsafe_code)]
mod export {
    use super::Component;
    crate::bindings::export!(Component with_types_in crate::bindings);
}
