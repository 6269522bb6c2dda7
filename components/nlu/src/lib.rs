//! The `nlu` component: exports `chatbot:nlu/analyzer` for the channel components.
//!
//! Until the model lands (the NLU issue) every message is analyzed as "unknown": language
//! `other`, no intents, out of scope. The channel components are composed with this
//! component through `[component.<name>.dependencies]` in spin.toml.

wit_bindgen::generate!({
    world: "nlu",
    path: "../../wit",
});

use exports::chatbot::nlu::analyzer::{Analysis, Guest, Language};

struct Nlu;

impl Guest for Nlu {
    fn analyze(_text: String) -> Analysis {
        Analysis {
            language: Language::Other,
            language_confidence: 0.0,
            intents: Vec::new(),
            out_of_scope: true,
            keyword_hits: Vec::new(),
            anger: 0.0,
            needs_human: Vec::new(),
        }
    }
}

export!(Nlu);
