//! Language identification: a multinomial naive Bayes over hashed character n-grams of the
//! normalized text plus the raw letters with diacritics (so `ő` says Hungarian, `ł` Polish,
//! `ř` neither), trained from labelled examples. It tells `en`, `hu` and `pl` from each other
//! and from `other`, also when Hungarian or Polish is typed without diacritics.

use crate::Error;
use serde::{Deserialize, Serialize};

/// The languages the bot answers in, and everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// Hungarian.
    Hu,
    /// Polish.
    Pl,
    /// Anything else (or too little text to tell).
    Other,
}

impl Language {
    /// All values, in the model's order.
    pub const ALL: [Language; 4] = [Language::En, Language::Hu, Language::Pl, Language::Other];

    /// The ISO 639-1 code (`other` for the rest).
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Hu => "hu",
            Language::Pl => "pl",
            Language::Other => "other",
        }
    }

    /// Parses a code as written in training data.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code)
    }
}

const BUCKETS: u32 = 1 << 15;
const MAGIC: &[u8; 8] = b"NLULANG1";

/// A trained language identifier.
#[derive(Debug, Clone)]
pub struct LanguageModel {
    /// `log P(feature | language)` per language, `BUCKETS` each.
    log_probs: Vec<Vec<f32>>,
    /// `log P(language)`.
    log_priors: Vec<f32>,
}

fn features(raw: &str, normalized: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let mut hash = |kind: u8, s: &[char]| {
        let mut h: u32 = 0x811c_9dc5 ^ u32::from(kind);
        let mut buf = [0u8; 4];
        for c in s {
            for b in c.encode_utf8(&mut buf).bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
        }
        out.push(h % BUCKETS);
    };
    let mut chars = Vec::with_capacity(32);
    for word in normalized.split(' ').filter(|w| !w.is_empty()) {
        chars.clear();
        chars.push(' ');
        chars.extend(word.chars());
        chars.push(' ');
        for n in 1..=4 {
            for gram in chars.windows(n) {
                hash(n as u8, gram);
            }
        }
    }
    for c in raw
        .chars()
        .take(crate::text::MAX_CHARS)
        .flat_map(char::to_lowercase)
    {
        if c.is_alphabetic() && !c.is_ascii() {
            hash(9, &[c]);
        }
    }
    out
}

impl LanguageModel {
    /// Trains on `(text, language)` examples with add-α smoothing.
    ///
    /// # Errors
    ///
    /// When a language has no example.
    pub fn train<'a>(
        examples: impl IntoIterator<Item = (&'a str, Language)>,
    ) -> Result<Self, Error> {
        let n = Language::ALL.len();
        let mut counts = vec![vec![0f64; BUCKETS as usize]; n];
        let mut docs = vec![0f64; n];
        for (text, language) in examples {
            let li = language as usize;
            docs[li] += 1.0;
            for f in features(text, &crate::normalize(text)) {
                counts[li][f as usize] += 1.0;
            }
        }
        if let Some(missing) = Language::ALL.iter().find(|l| docs[**l as usize] == 0.0) {
            return Err(Error::data(format!(
                "no language example for `{}`",
                missing.code()
            )));
        }
        let alpha = 0.1;
        let total_docs: f64 = docs.iter().sum();
        let log_probs = counts
            .iter()
            .map(|row| {
                let total: f64 = row.iter().sum::<f64>() + alpha * f64::from(BUCKETS);
                row.iter()
                    .map(|c| ((c + alpha) / total).ln() as f32)
                    .collect()
            })
            .collect();
        // Uniform priors: the data's language mix says nothing about who writes next.
        let log_priors = docs.iter().map(|_| (1.0 / n as f64).ln() as f32).collect();
        let _ = total_docs;
        Ok(Self {
            log_probs,
            log_priors,
        })
    }

    /// The most likely language and its probability. Too little text → `other` with the
    /// confidence left at what the evidence gives.
    pub fn identify(&self, raw: &str, normalized: &str) -> (Language, f32) {
        let feats = features(raw, normalized);
        if feats.is_empty() {
            return (Language::Other, 0.0);
        }
        let scores: Vec<f64> = (0..Language::ALL.len())
            .map(|li| {
                f64::from(self.log_priors[li])
                    + feats
                        .iter()
                        .map(|f| f64::from(self.log_probs[li][*f as usize]))
                        .sum::<f64>()
            })
            .collect();
        // Naive Bayes is overconfident on long texts: temper by the evidence size so the
        // probability reads as a confidence.
        let temper = (feats.len() as f64 / 8.0).max(1.0);
        let max = scores.iter().copied().fold(f64::MIN, f64::max);
        let exps: Vec<f64> = scores.iter().map(|s| ((s - max) / temper).exp()).collect();
        let sum: f64 = exps.iter().sum();
        let (best, p) = exps
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, e)| (i, e / sum))
            .unwrap_or((3, 0.0));
        (Language::ALL[best], p as f32)
    }

    /// Serializes the model (little-endian f32 after a small header).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.log_probs.len() * BUCKETS as usize * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.log_probs.len() as u32).to_le_bytes());
        out.extend_from_slice(&BUCKETS.to_le_bytes());
        for p in &self.log_priors {
            out.extend_from_slice(&p.to_le_bytes());
        }
        for row in &self.log_probs {
            for v in row {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Reads a model written by [`LanguageModel::to_bytes`].
    ///
    /// # Errors
    ///
    /// A file that is not such a model.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad =
            || Error::model("language model file is not a NLULANG1 file of the expected size");
        let header = bytes.get(..16).ok_or_else(bad)?;
        if &header[..8] != MAGIC {
            return Err(bad());
        }
        let n = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let buckets = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if n != Language::ALL.len()
            || buckets != BUCKETS
            || bytes.len() != 16 + (n + n * buckets as usize) * 4
        {
            return Err(bad());
        }
        let mut floats = bytes[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let log_priors: Vec<f32> = floats.by_ref().take(n).collect();
        let log_probs = (0..n)
            .map(|_| floats.by_ref().take(buckets as usize).collect())
            .collect();
        Ok(Self {
            log_probs,
            log_priors,
        })
    }
}
