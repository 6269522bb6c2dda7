//! Keyword rules: per-language TOML files of phrases, compiled into one aho-corasick
//! automaton and matched on normalized text at word boundaries.
//!
//! ```toml
//! [[rule]]
//! name = "human_request"
//! intent = "contact_human"          # forces this intent
//! phrases = ["talk to a human", "real person"]
//!
//! [[rule]]
//! name = "insult"
//! anger = 0.6                        # adds to the anger score
//! phrases = ["useless bot"]
//! ```

use crate::Error;
use aho_corasick::{AhoCorasick, MatchKind};
use serde::Deserialize;

/// One matched rule phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordHit {
    /// The rule's name.
    pub rule: String,
    /// The phrase as written in the rule file.
    pub phrase: String,
    /// The intent the rule forces, if any.
    pub intent: Option<String>,
    /// The rule's anger weight (0 when none).
    pub anger: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDecl {
    name: String,
    phrases: Vec<String>,
    intent: Option<String>,
    anger: Option<f32>,
}

#[derive(Debug)]
struct Rule {
    name: String,
    intent: Option<String>,
    anger: f32,
}

/// All rules of all languages, compiled once.
#[derive(Debug)]
pub struct Rules {
    automaton: AhoCorasick,
    /// Per pattern: (rule index, phrase as written).
    patterns: Vec<(usize, String)>,
    rules: Vec<Rule>,
}

impl Rules {
    /// Compiles rule files given as `(file name, TOML text)`.
    ///
    /// # Errors
    ///
    /// Invalid TOML, an anger weight outside 0..=1, a rule with neither intent nor anger,
    /// or a phrase that normalizes to nothing.
    pub fn compile(files: &[(&str, &str)]) -> Result<Self, Error> {
        let mut rules = Vec::new();
        let mut patterns = Vec::new();
        let mut needles = Vec::new();
        for (file, text) in files {
            let parsed: RuleFile =
                toml::from_str(text).map_err(|e| Error::rules(format!("{file}: {e}")))?;
            for decl in parsed.rule {
                let anger = decl.anger.unwrap_or(0.0);
                if !(0.0..=1.0).contains(&anger) {
                    return Err(Error::rules(format!(
                        "{file}: rule `{}`: anger must be in 0..=1",
                        decl.name
                    )));
                }
                if decl.intent.is_none() && decl.anger.is_none() {
                    return Err(Error::rules(format!(
                        "{file}: rule `{}` needs `intent` or `anger`",
                        decl.name
                    )));
                }
                let index = rules.len();
                rules.push(Rule {
                    name: decl.name.clone(),
                    intent: decl.intent,
                    anger,
                });
                for phrase in decl.phrases {
                    let normalized = crate::normalize(&phrase);
                    if normalized.is_empty() {
                        return Err(Error::rules(format!(
                            "{file}: rule `{}`: phrase {phrase:?} is empty once normalized",
                            decl.name
                        )));
                    }
                    needles.push(format!(" {normalized} "));
                    patterns.push((index, phrase));
                }
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&needles)
            .map_err(|e| Error::rules(e.to_string()))?;
        Ok(Self {
            automaton,
            patterns,
            rules,
        })
    }

    /// The rules matching an already normalized text, each phrase once, in text order.
    pub fn matches(&self, normalized: &str) -> Vec<KeywordHit> {
        let padded = format!(" {normalized} ");
        let mut seen: Vec<usize> = Vec::new();
        let mut hits = Vec::new();
        for m in self.automaton.find_overlapping_iter(&padded) {
            let pattern = m.pattern().as_usize();
            if seen.contains(&pattern) {
                continue;
            }
            seen.push(pattern);
            let (rule_index, phrase) = &self.patterns[pattern];
            let rule = &self.rules[*rule_index];
            hits.push(KeywordHit {
                rule: rule.name.clone(),
                phrase: phrase.clone(),
                intent: rule.intent.clone(),
                anger: rule.anger,
            });
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
[[rule]]
name = "human_request"
intent = "contact_human"
phrases = ["talk to a human", "emberrel szeretnék beszélni", "z konsultantem"]

[[rule]]
name = "insult"
anger = 0.6
phrases = ["idiot", "hülye"]
"#;

    #[test]
    fn word_boundary_table() {
        let rules = Rules::compile(&[("t.toml", RULES)]).unwrap();
        let cases: &[(&str, &[&str])] = &[
            ("I want to talk to a human please", &["talk to a human"]),
            ("TALK TO A HUMAN!!!", &["talk to a human"]),
            ("talk to a humanoid robot", &[]),
            ("you idiot", &["idiot"]),
            ("idiotic question", &[]),
            ("semi-idiot", &["idiot"]),
            (
                "Emberrel szeretnek beszelni",
                &["emberrel szeretnék beszélni"],
            ),
            (
                "hulye bot, emberrel szeretnék beszélni",
                &["hülye", "emberrel szeretnék beszélni"],
            ),
            ("Chcę rozmawiać z konsultantem", &["z konsultantem"]),
            ("idiot idiot", &["idiot"]),
            ("", &[]),
        ];
        for (text, want) in cases {
            let got: Vec<String> = rules
                .matches(&crate::normalize(text))
                .into_iter()
                .map(|h| h.phrase)
                .collect();
            assert_eq!(got, *want, "{text}");
        }
    }

    #[test]
    fn bad_rule_files() {
        let cases = [
            (
                "[[rule]]\nname = \"x\"\nphrases = [\"a\"]",
                "needs `intent` or `anger`",
            ),
            (
                "[[rule]]\nname = \"x\"\nanger = 2.0\nphrases = [\"a\"]",
                "0..=1",
            ),
            (
                "[[rule]]\nname = \"x\"\nanger = 0.5\nphrases = [\"!!\"]",
                "empty",
            ),
            ("[[rule]\n", "t.toml"),
        ];
        for (text, needle) in cases {
            let err = Rules::compile(&[("t.toml", text)]).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
