//! Hashed features of a normalized text, shared by the trainer and the runtime: word
//! unigrams and bigrams, and character n-grams of each word padded with `<` and `>`
//! (fastText-style). Each feature is hashed (FNV-1a) into one of `buckets` rows.

use serde::{Deserialize, Serialize};

/// How features are extracted; stored with the model so trainer and runtime agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Number of hash buckets (rows of the weight matrix).
    pub buckets: u32,
    /// Shortest character n-gram.
    pub char_min: u8,
    /// Longest character n-gram.
    pub char_max: u8,
    /// Whether word bigrams are used.
    pub word_bigrams: bool,
    /// Most distinct features passed to the model (the input length of the ONNX graph).
    pub max_features: u32,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            buckets: 1 << 16,
            char_min: 2,
            char_max: 5,
            word_bigrams: true,
            max_features: 1024,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(seed, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

/// Sparse features: distinct bucket ids (sorted) with their counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Bucket ids, ascending, distinct.
    pub ids: Vec<u32>,
    /// How often each bucket was hit.
    pub counts: Vec<f32>,
}

impl FeatureConfig {
    /// Extracts the features of an already normalized text (see [`crate::normalize`]).
    pub fn extract(&self, normalized: &str) -> Features {
        let mut hashes: Vec<u32> = Vec::with_capacity(normalized.len() * 4);
        let buckets = u64::from(self.buckets.max(1));
        let mut push = |h: u64| hashes.push((h % buckets) as u32);
        let mut previous: Option<&str> = None;
        let mut chars: Vec<char> = Vec::with_capacity(32);
        for word in normalized.split(' ').filter(|w| !w.is_empty()) {
            push(fnv(fnv(FNV_OFFSET, b"w"), word.as_bytes()));
            if let (true, Some(prev)) = (self.word_bigrams, previous) {
                let h = fnv(fnv(fnv(FNV_OFFSET, b"b"), prev.as_bytes()), b" ");
                push(fnv(h, word.as_bytes()));
            }
            previous = Some(word);

            chars.clear();
            chars.push('<');
            chars.extend(word.chars());
            chars.push('>');
            for n in usize::from(self.char_min)..=usize::from(self.char_max) {
                for gram in chars.windows(n) {
                    let mut h = fnv(FNV_OFFSET, b"c");
                    let mut buf = [0u8; 4];
                    for c in gram {
                        h = fnv(h, c.encode_utf8(&mut buf).as_bytes());
                    }
                    push(h);
                }
            }
        }
        hashes.sort_unstable();
        let mut features = Features::default();
        for h in hashes {
            if features.ids.last() == Some(&h) {
                if let Some(c) = features.counts.last_mut() {
                    *c += 1.0;
                }
            } else if features.ids.len() < self.max_features as usize {
                features.ids.push(h);
                features.counts.push(1.0);
            }
        }
        features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_sorted_and_bounded() {
        let config = FeatureConfig::default();
        let a = config.extract("where is my order");
        assert_eq!(a, config.extract("where is my order"));
        assert!(a.ids.windows(2).all(|w| w[0] < w[1]));
        assert!(a.ids.iter().all(|id| *id < config.buckets));
        // 4 words + 3 bigrams + char n-grams; collisions can only merge.
        let total: f32 = a.counts.iter().sum();
        assert!(total > 40.0, "{total}");
        assert_ne!(a, config.extract("where is my parcel"));
        assert_eq!(config.extract(""), Features::default());

        let small = FeatureConfig {
            max_features: 8,
            ..config
        };
        assert_eq!(small.extract(&"word ".repeat(100)).ids.len(), 8);
    }

    #[test]
    fn known_hash_is_stable() {
        // Trainer and runtime must agree forever for a shipped model: pin one value.
        let config = FeatureConfig {
            buckets: 1_000_003,
            char_min: 3,
            char_max: 3,
            word_bigrams: false,
            max_features: 64,
        };
        let f = config.extract("ab");
        assert_eq!(f.ids.len(), 3, "w:ab, c:<ab, c:ab>");
        assert_eq!(fnv(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
