//! Language understanding for the chatbot, in microseconds and without Spin types.
//!
//! [`Analyzer::analyze`] turns one customer message into an [`Analysis`]: the language (en,
//! hu, pl or other, also without diacritics), the top intents with calibrated confidences,
//! whether the message is out of scope, the keyword rules it matched (aho-corasick, at word
//! boundaries, on normalized text), an anger score and the reasons it should go to a human.
//!
//! ```no_run
//! let analyzer = nlu::Analyzer::from_dir("models/shop".as_ref(), Some("models/rules".as_ref()))?;
//! let analysis = analyzer.analyze("Hol van a rendelésem? #HU-10234");
//! assert_eq!(analysis.language, nlu::Language::Hu);
//! println!("{:?} {:.2}", analysis.intents[0].label, analysis.intents[0].confidence);
//! # Ok::<(), nlu::Error>(())
//! ```
//!
//! The two choices an operator makes are the model directory (`model.onnx`, `labels.json`,
//! `config.json`, `language.bin`, written by the trainer) and the rule files (one TOML file
//! per language under `models/rules/`). Build the analyzer once; it is immutable, and
//! `analyze` never fails: empty, huge or odd input gets a defined analysis.
#![deny(missing_docs)]

mod features;
mod language;
mod model;
mod rules;
mod text;

pub use features::{FeatureConfig, Features};
pub use language::{Language, LanguageModel};
pub use model::{IntentModel, ModelConfig, model_inputs};
pub use rules::{KeywordHit, Rules};
pub use text::{MAX_CHARS, normalize};

use std::fmt;
use std::path::Path;

/// Anger at or above this score counts as angry (a handoff signal).
pub const ANGRY_THRESHOLD: f32 = 0.5;

/// An intent at or above this confidence is taken as the customer's request when deciding
/// on the explicit-request and complaint signals.
pub const SIGNAL_CONFIDENCE: f32 = 0.5;

/// The intent an explicit "talk to a human" maps to.
pub const CONTACT_HUMAN: &str = "contact_human";

/// The intent for complaints.
pub const COMPLAINT: &str = "complaint";

/// An error building an analyzer or training a model.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// What kind of [`Error`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A model file is missing, unreadable or inconsistent.
    Model,
    /// A rule file is invalid.
    Rules,
    /// Training data is invalid.
    Data,
}

impl Error {
    pub(crate) fn model(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Model,
            message: message.into(),
        }
    }
    pub(crate) fn rules(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Rules,
            message: message.into(),
        }
    }
    /// A training-data error (used by the trainer too).
    pub fn data(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Data,
            message: message.into(),
        }
    }
    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// One candidate intent.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentScore {
    /// The intent's label.
    pub label: String,
    /// Calibrated probability in 0..=1.
    pub confidence: f32,
}

/// Why a conversation should go to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffSignal {
    /// The customer asked for a person.
    ExplicitRequest,
    /// Anger at or above [`ANGRY_THRESHOLD`].
    Anger,
    /// The message is a complaint.
    Complaint,
    /// No intent applies.
    OutOfScope,
}

/// Everything the policy needs to know about one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The detected language.
    pub language: Language,
    /// Confidence in the language, 0..=1.
    pub language_confidence: f32,
    /// Up to three intents, best first (never the out-of-scope label).
    pub intents: Vec<IntentScore>,
    /// No intent applies.
    pub out_of_scope: bool,
    /// Matched keyword rules.
    pub keyword_hits: Vec<KeywordHit>,
    /// 0..=1; see [`ANGRY_THRESHOLD`].
    pub anger: f32,
    /// Handoff signals, in the order of [`HandoffSignal`]'s variants.
    pub needs_human: Vec<HandoffSignal>,
}

/// The model files, as bytes (embedded in the Wasm component, or read from a directory).
pub struct ModelFiles<'a> {
    /// `model.onnx`.
    pub onnx: &'a [u8],
    /// `labels.json`: a JSON array of label strings in output order.
    pub labels: &'a [u8],
    /// `config.json`: a [`ModelConfig`].
    pub config: &'a [u8],
    /// `language.bin`: a [`LanguageModel`].
    pub language: &'a [u8],
    /// Rule files: `(name, TOML text)`.
    pub rules: Vec<(&'a str, &'a str)>,
}

/// An immutable analyzer: build once, analyze many times.
#[derive(Debug)]
pub struct Analyzer {
    model: IntentModel,
    language: LanguageModel,
    rules: Rules,
}

impl Analyzer {
    /// Builds an analyzer from model files in memory.
    ///
    /// # Errors
    ///
    /// Invalid JSON, an ONNX file tract cannot load, an invalid language model or rule file.
    pub fn from_files(files: &ModelFiles<'_>) -> Result<Self, Error> {
        let labels: Vec<String> = serde_json::from_slice(files.labels)
            .map_err(|e| Error::model(format!("labels.json: {e}")))?;
        let config: ModelConfig = serde_json::from_slice(files.config)
            .map_err(|e| Error::model(format!("config.json: {e}")))?;
        Ok(Self {
            model: IntentModel::load(files.onnx, labels, config)?,
            language: LanguageModel::from_bytes(files.language)?,
            rules: Rules::compile(&files.rules)?,
        })
    }

    /// Builds an analyzer from a model directory and (optionally) a directory of `*.toml`
    /// rule files.
    ///
    /// # Errors
    ///
    /// A missing or unreadable file, or any error of [`Analyzer::from_files`].
    pub fn from_dir(model_dir: &Path, rules_dir: Option<&Path>) -> Result<Self, Error> {
        let read = |name: &str| {
            let path = model_dir.join(name);
            std::fs::read(&path).map_err(|e| Error::model(format!("{}: {e}", path.display())))
        };
        let (onnx, labels, config, language) = (
            read("model.onnx")?,
            read("labels.json")?,
            read("config.json")?,
            read("language.bin")?,
        );
        let mut rule_texts = Vec::new();
        let mut paths = Vec::new();
        if let Some(rules_dir) = rules_dir {
            let entries = std::fs::read_dir(rules_dir)
                .map_err(|e| Error::rules(format!("{}: {e}", rules_dir.display())))?;
            paths = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
        }
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::rules(format!("{}: {e}", path.display())))?;
            rule_texts.push((path.display().to_string(), text));
        }
        Self::from_files(&ModelFiles {
            onnx: &onnx,
            labels: &labels,
            config: &config,
            language: &language,
            rules: rule_texts
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect(),
        })
    }

    /// The intent labels the model knows, in output order.
    pub fn labels(&self) -> &[String] {
        &self.model.labels
    }

    /// The model's settings.
    pub fn config(&self) -> &ModelConfig {
        &self.model.config
    }

    /// Class probabilities for a text, in label order (the raw model output).
    pub fn probabilities(&self, text: &str) -> Vec<f32> {
        let normalized = normalize(text);
        self.probabilities_normalized(&normalized)
    }

    fn probabilities_normalized(&self, normalized: &str) -> Vec<f32> {
        let features = self.model.config.features.extract(normalized);
        // A loaded plan does not fail on well-formed inputs; if it ever did, "no idea" is the
        // safe answer (out of scope) rather than a trap.
        self.model
            .run(&features)
            .unwrap_or_else(|_| vec![0.0; self.model.labels.len()])
    }

    /// The three most probable in-scope intents, and whether the out-of-scope class (if the
    /// model has one) is the most probable of all.
    fn ranked(&self, probs: &[f32]) -> (Vec<IntentScore>, bool) {
        let oos_label = self.model.config.out_of_scope_label.as_deref();
        let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top_is_oos = ranked
            .first()
            .is_some_and(|(i, _)| Some(self.model.labels[*i].as_str()) == oos_label);
        let intents: Vec<IntentScore> = ranked
            .iter()
            .filter(|(i, _)| Some(self.model.labels[*i].as_str()) != oos_label)
            .take(3)
            .map(|(i, p)| IntentScore {
                label: self.model.labels[*i].clone(),
                confidence: *p,
            })
            .collect();
        (intents, top_is_oos)
    }

    /// Analyzes one message. Never fails.
    pub fn analyze(&self, text: &str) -> Analysis {
        let normalized = normalize(text);
        let (language, language_confidence) = self.language.identify(text, &normalized);
        let keyword_hits = self.rules.matches(&normalized);

        let probs = if normalized.is_empty() {
            vec![0.0; self.model.labels.len()]
        } else {
            self.probabilities_normalized(&normalized)
        };
        let (mut intents, top_is_oos) = self.ranked(&probs);
        let top_in_scope = intents.first().map_or(0.0, |i| i.confidence);
        let mut out_of_scope = normalized.is_empty()
            || top_is_oos
            || top_in_scope < self.model.config.out_of_scope_threshold;

        // A rule that forces an intent wins over the model.
        if let Some(forced) = keyword_hits.iter().find_map(|h| h.intent.clone()) {
            intents.retain(|i| i.label != forced);
            intents.insert(
                0,
                IntentScore {
                    label: forced,
                    confidence: 1.0,
                },
            );
            intents.truncate(3);
            out_of_scope = false;
        }

        let complaint_p = self
            .model
            .labels
            .iter()
            .position(|l| l == COMPLAINT)
            .map_or(0.0, |i| probs[i]);
        let anger = anger_score(text, &keyword_hits, complaint_p);

        let needs_human = handoff_signals(&intents, out_of_scope, &keyword_hits, anger);

        Analysis {
            language,
            language_confidence,
            intents,
            out_of_scope,
            keyword_hits,
            anger,
            needs_human,
        }
    }
}

/// Why the message needs a person, from the top intent (when in scope and confident), the
/// rules and the anger score.
fn handoff_signals(
    intents: &[IntentScore],
    out_of_scope: bool,
    keyword_hits: &[KeywordHit],
    anger: f32,
) -> Vec<HandoffSignal> {
    let top = intents.first().filter(|_| !out_of_scope);
    let top_is =
        |label: &str| top.is_some_and(|i| i.label == label && i.confidence >= SIGNAL_CONFIDENCE);
    let mut needs_human = Vec::new();
    if top_is(CONTACT_HUMAN)
        || keyword_hits
            .iter()
            .any(|h| h.intent.as_deref() == Some(CONTACT_HUMAN))
    {
        needs_human.push(HandoffSignal::ExplicitRequest);
    }
    if anger >= ANGRY_THRESHOLD {
        needs_human.push(HandoffSignal::Anger);
    }
    if top_is(COMPLAINT) {
        needs_human.push(HandoffSignal::Complaint);
    }
    if out_of_scope {
        needs_human.push(HandoffSignal::OutOfScope);
    }

    needs_human
}

/// The anger score: insults and profanity from the rule lexicon, shouting (the share of
/// capitals among at least six letters), runs of `!` and `?`, and the model's complaint
/// probability, combined as independent signals: `1 - Π(1 - s)`.
pub fn anger_score(text: &str, hits: &[KeywordHit], complaint_probability: f32) -> f32 {
    let lexicon = 1.0
        - hits
            .iter()
            .fold(1.0, |acc, h| acc * (1.0 - h.anger.clamp(0.0, 1.0)));

    let (mut letters, mut upper) = (0u32, 0u32);
    let (mut run, mut longest_run) = (0u32, 0u32);
    for c in text.chars().take(MAX_CHARS) {
        if c.is_alphabetic() {
            letters += 1;
            if c.is_uppercase() {
                upper += 1;
            }
        }
        if c == '!' || c == '?' {
            run += 1;
            longest_run = longest_run.max(run);
        } else if !c.is_whitespace() {
            run = 0;
        }
    }
    let shouting = if letters >= 6 {
        ((upper as f32 / letters as f32 - 0.6) / 0.4).clamp(0.0, 1.0) * 0.4
    } else {
        0.0
    };
    let punctuation = (longest_run.saturating_sub(1) as f32 * 0.1).min(0.3);
    let model = 0.4 * complaint_probability.clamp(0.0, 1.0);

    1.0 - (1.0 - lexicon) * (1.0 - shouting) * (1.0 - punctuation) * (1.0 - model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(anger: f32) -> KeywordHit {
        KeywordHit {
            rule: "insult".into(),
            phrase: "x".into(),
            intent: None,
            anger,
        }
    }

    #[test]
    fn anger_table() {
        let cases: &[(&str, &[f32], f32, std::ops::RangeInclusive<f32>)] = &[
            ("where is my order", &[], 0.0, 0.0..=0.01),
            ("where is my order?", &[], 0.0, 0.0..=0.01),
            ("WHERE IS MY ORDER", &[], 0.0, 0.39..=0.41),
            ("where is my order!!!", &[], 0.0, 0.19..=0.21),
            ("WHERE IS MY ORDER?!?!?!", &[], 0.0, 0.57..=0.59),
            ("you idiot", &[0.6], 0.0, 0.59..=0.61),
            ("OK", &[], 0.0, 0.0..=0.01),
            ("the lamp arrived broken", &[], 1.0, 0.39..=0.41),
        ];
        for (text, hits, complaint, want) in cases {
            let hits: Vec<_> = hits.iter().map(|a| hit(*a)).collect();
            let got = anger_score(text, &hits, *complaint);
            assert!(want.contains(&got), "{text}: {got}");
        }
        assert!(anger_score("YOU IDIOT!!!", &[hit(0.6)], 0.0) >= ANGRY_THRESHOLD);
        assert!(anger_score("where is my order", &[], 0.3) < ANGRY_THRESHOLD);
    }
}
