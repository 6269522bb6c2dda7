//! Training: TF-IDF-weighted hashed features, a softmax-regression layer fitted by SGD with a
//! linearly decaying learning rate, then calibration (temperature and the out-of-scope
//! threshold) on a stratified 10% hold-out, and a final fit on all the data.

use crate::data::Example;
use crate::onnx::LinearModel;
use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use nlu::{FeatureConfig, LanguageModel, ModelConfig};

/// The label meaning "no intent applies".
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// Training knobs.
#[derive(Debug, Clone)]
pub struct Options {
    pub epochs: usize,
    pub seed: u64,
    pub buckets: Option<u32>,
    pub learning_rate: f32,
    pub quiet: bool,
}

/// Everything `train` writes.
pub struct Trained {
    pub labels: Vec<String>,
    pub config: ModelConfig,
    pub model: LinearModel,
    pub language: LanguageModel,
}

/// The largest model file we ship: weights are `buckets × classes` f32.
const MAX_MODEL_BYTES: usize = 7_500_000;

/// A deterministic generator (SplitMix64): the same seed gives the same model everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A sparse, unit-length TF-IDF vector.
struct Row {
    ids: Vec<u32>,
    x: Vec<f32>,
    label: usize,
}

/// Trains a model. `language_examples` train the language identifier (with any examples of
/// `examples` that carry a language).
pub fn train(
    examples: &[Example],
    language_examples: &[Example],
    options: &Options,
) -> Result<Trained> {
    let labels = intent_labels(examples)?;
    let classes = labels.len();
    let buckets = options
        .buckets
        .unwrap_or_else(|| ((MAX_MODEL_BYTES / (4 * classes)) as u32).min(1 << 16));
    let features = FeatureConfig {
        buckets,
        ..FeatureConfig::default()
    };
    let (idf, rows) = tfidf_rows(examples, &labels, &features);
    let progress = progress_bar(options);
    let regression = Regression {
        rows: &rows,
        buckets: buckets as usize,
        classes,
        options,
        progress: &progress,
    };

    // Calibrate on a stratified hold-out...
    let mut rng = SplitMix(options.seed);
    let oos = labels.iter().position(|l| l == OUT_OF_SCOPE);
    let (temperature, threshold) = regression.calibrate(oos, &mut rng);

    // ...then fit on everything.
    progress.set_message("training");
    let all: Vec<usize> = (0..rows.len()).collect();
    let (weights, bias) = regression.sgd(&all, &mut rng);
    progress.finish_and_clear();

    let language = LanguageModel::train(
        language_examples
            .iter()
            .chain(examples)
            .filter_map(|e| e.lang.map(|l| (e.text.as_str(), l))),
    )?;

    Ok(Trained {
        config: ModelConfig {
            features,
            out_of_scope_label: oos.map(|i| labels[i].clone()),
            out_of_scope_threshold: threshold,
        },
        model: LinearModel {
            idf,
            weights,
            bias,
            temperature,
            classes,
            max_features: features.max_features as usize,
        },
        labels,
        language,
    })
}

/// The intents of `examples`, sorted and without duplicates: a class index is a position here.
fn intent_labels(examples: &[Example]) -> Result<Vec<String>> {
    let mut labels: Vec<String> = examples.iter().filter_map(|e| e.intent.clone()).collect();
    labels.sort();
    labels.dedup();
    if labels.len() < 2 {
        bail!(
            "training needs at least two intents, found {}",
            labels.len()
        );
    }
    Ok(labels)
}

/// The IDF weights (over the whole training set) and each example's TF-IDF row.
fn tfidf_rows(
    examples: &[Example],
    labels: &[String],
    features: &FeatureConfig,
) -> (Vec<f32>, Vec<Row>) {
    // Term frequencies per example, then IDF over the whole training set.
    let extracted: Vec<(nlu::Features, usize)> = examples
        .iter()
        .map(|e| {
            let label = labels
                .binary_search(e.intent.as_ref().expect("read() requires intents"))
                .unwrap_or(0);
            (features.extract(&nlu::normalize(&e.text)), label)
        })
        .collect();
    let idf = inverse_document_frequency(&extracted, features.buckets);
    let rows = extracted
        .iter()
        .map(|(f, label)| Row::tfidf(f, *label, &idf))
        .collect();
    (idf, rows)
}

/// Smoothed IDF per hash bucket: `ln((1 + n) / (1 + df)) + 1`.
fn inverse_document_frequency(extracted: &[(nlu::Features, usize)], buckets: u32) -> Vec<f32> {
    let mut df = vec![0u32; buckets as usize];
    for (f, _) in extracted {
        for id in &f.ids {
            df[*id as usize] += 1;
        }
    }
    let n_docs = extracted.len() as f32;
    df.iter()
        .map(|d| ((1.0 + n_docs) / (1.0 + *d as f32)).ln() + 1.0)
        .collect()
}

impl Row {
    /// Sublinear term frequency times `idf`, scaled to unit length.
    fn tfidf(f: &nlu::Features, label: usize, idf: &[f32]) -> Self {
        let (ids, values) = (
            f.ids.clone(),
            f.counts.iter().map(|c| 1.0 + c.ln()).collect::<Vec<f32>>(),
        );
        let mut x: Vec<f32> = ids
            .iter()
            .zip(&values)
            .map(|(id, v)| v * idf[*id as usize])
            .collect();
        let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        x.iter_mut().for_each(|v| *v /= norm);
        Row { ids, x, label }
    }
}

/// The epochs bar on stderr (two fits of `epochs` each), hidden when `quiet`.
fn progress_bar(options: &Options) -> ProgressBar {
    if options.quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new((options.epochs * 2) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} epochs {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Splits row indices into a stratified hold-out (10% of each class with at least five
/// members, rounded up) and the rest to fit on.
fn stratified_split(rows: &[Row], classes: usize, rng: &mut SplitMix) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, row) in rows.iter().enumerate() {
        by_class[row.label].push(i);
    }
    let mut holdout = Vec::new();
    let mut fit = Vec::new();
    for members in &mut by_class {
        rng.shuffle(members);
        let take = if members.len() >= 5 {
            members.len().div_ceil(10)
        } else {
            0
        };
        holdout.extend_from_slice(&members[..take]);
        fit.extend_from_slice(&members[take..]);
    }
    (holdout, fit)
}

/// The softmax regression to fit: the rows, their shape, the knobs and the progress bar.
struct Regression<'a> {
    rows: &'a [Row],
    buckets: usize,
    classes: usize,
    options: &'a Options,
    progress: &'a ProgressBar,
}

impl Regression<'_> {
    /// Fits on a stratified hold-out split and returns the temperature and the out-of-scope
    /// threshold (`oos` is the out-of-scope class, if any) measured on the hold-out.
    fn calibrate(&self, oos: Option<usize>, rng: &mut SplitMix) -> (f32, f32) {
        let (holdout, fit) = stratified_split(self.rows, self.classes, rng);
        self.progress.set_message("calibrating");
        let (w, b) = self.sgd(&fit, rng);
        let logits: Vec<(Vec<f32>, usize)> = holdout
            .iter()
            .map(|i| {
                let row = &self.rows[*i];
                (scores(row, &w, &b, self.classes), row.label)
            })
            .collect();
        let temperature = fit_temperature(&logits);
        let threshold = fit_threshold(&logits, temperature, oos);
        (temperature, threshold)
    }

    /// Weights (`buckets × classes`) and bias fitted by SGD on the rows in `subset`, with a
    /// learning rate decaying linearly to zero; ticks the progress bar once per epoch.
    fn sgd(&self, subset: &[usize], rng: &mut SplitMix) -> (Vec<f32>, Vec<f32>) {
        let (classes, options) = (self.classes, self.options);
        let mut w = vec![0f32; self.buckets * classes];
        let mut b = vec![0f32; classes];
        let mut order = subset.to_vec();
        let total = (options.epochs * order.len()).max(1) as f32;
        let mut step = 0usize;
        for _ in 0..options.epochs {
            rng.shuffle(&mut order);
            for &i in &order {
                let lr = options.learning_rate * (1.0 - step as f32 / total);
                step += 1;
                let row = &self.rows[i];
                let mut p = scores(row, &w, &b, classes);
                softmax(&mut p);
                p[row.label] -= 1.0;
                for (id, x) in row.ids.iter().zip(&row.x) {
                    let base = *id as usize * classes;
                    for (wc, g) in w[base..base + classes].iter_mut().zip(&p) {
                        *wc -= lr * x * g;
                    }
                }
                for (bc, g) in b.iter_mut().zip(&p) {
                    *bc -= lr * g;
                }
            }
            self.progress.inc(1);
        }
        (w, b)
    }
}

fn scores(row: &Row, w: &[f32], b: &[f32], classes: usize) -> Vec<f32> {
    let mut z = b.to_vec();
    for (id, x) in row.ids.iter().zip(&row.x) {
        let base = *id as usize * classes;
        for (zc, wc) in z.iter_mut().zip(&w[base..base + classes]) {
            *zc += x * wc;
        }
    }
    z
}

fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    z.iter_mut().for_each(|v| *v /= sum);
}

/// The temperature minimizing the hold-out's negative log-likelihood.
fn fit_temperature(logits: &[(Vec<f32>, usize)]) -> f32 {
    if logits.is_empty() {
        return 1.0;
    }
    let nll = |t: f32| -> f32 {
        logits
            .iter()
            .map(|(z, label)| {
                let mut p: Vec<f32> = z.iter().map(|v| v / t).collect();
                softmax(&mut p);
                -p[*label].max(1e-9).ln()
            })
            .sum()
    };
    (1..=100)
        .map(|i| i as f32 * 0.05)
        .min_by(|a, b| nll(*a).total_cmp(&nll(*b)))
        .unwrap_or(1.0)
}

/// The out-of-scope threshold maximizing hold-out accuracy (lowest on ties).
fn fit_threshold(logits: &[(Vec<f32>, usize)], temperature: f32, oos: Option<usize>) -> f32 {
    let probs: Vec<(Vec<f32>, usize)> = logits
        .iter()
        .map(|(z, label)| {
            let mut p: Vec<f32> = z.iter().map(|v| v / temperature).collect();
            softmax(&mut p);
            (p, *label)
        })
        .collect();
    let accuracy = |tau: f32| -> usize {
        probs
            .iter()
            .filter(|(p, label)| {
                let (best, best_p) = p
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != oos)
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, v)| (i, *v))
                    .unwrap_or((0, 0.0));
                let oos_p = oos.map_or(0.0, |o| p[o]);
                let predicted = if oos_p > best_p || best_p < tau {
                    oos
                } else {
                    Some(best)
                };
                predicted == Some(*label)
            })
            .count()
    };
    let mut best = (0.0f32, accuracy(0.0));
    for i in 1..=30 {
        let tau = i as f32 * 0.02;
        let acc = accuracy(tau);
        if acc > best.1 {
            best = (tau, acc);
        }
    }
    best.0
}
