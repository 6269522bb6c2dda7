//! Evaluation: accuracy (out-of-scope counted as a class), in-scope accuracy, out-of-scope
//! recall and precision, macro F1, per-language accuracy, analyze latency, the most confused
//! intent pairs and a confidence histogram.

use crate::data::Example;
use crate::train::OUT_OF_SCOPE;
use anyhow::{Result, bail};
use nlu::Analyzer;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// One evaluated row.
pub struct Outcome {
    pub text: String,
    pub gold: String,
    pub predicted: String,
    pub confidence: f32,
}

/// The figures `eval --json` prints.
#[derive(Debug, Serialize)]
pub struct Metrics {
    pub n: usize,
    pub accuracy: f64,
    pub in_scope_accuracy: f64,
    pub oos_recall: Option<f64>,
    pub oos_precision: Option<f64>,
    pub macro_f1: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub by_language: BTreeMap<String, LanguageMetrics>,
    pub by_intent: BTreeMap<String, IntentMetrics>,
    pub confused_pairs: Vec<ConfusedPair>,
}

/// Precision, recall and F1 of one gold label, with its number of test rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IntentMetrics {
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Accuracy within one language.
#[derive(Debug, Serialize)]
pub struct LanguageMetrics {
    pub n: usize,
    pub accuracy: f64,
    pub oos_recall: Option<f64>,
    pub language_id_accuracy: f64,
}

/// A gold → predicted pair and how often it happened.
#[derive(Debug, Serialize)]
pub struct ConfusedPair {
    pub gold: String,
    pub predicted: String,
    pub count: usize,
}

/// Runs the analyzer over `examples`.
///
/// # Errors
///
/// A gold label the model does not know (named with its line).
pub fn evaluate(
    analyzer: &Analyzer,
    examples: &[Example],
    path: &str,
) -> Result<(Metrics, Vec<Outcome>)> {
    check_labels(analyzer, examples, path)?;
    // Warm up so one-time costs do not count as latency.
    for e in examples.iter().take(20) {
        std::hint::black_box(analyzer.analyze(&e.text));
    }
    let Pass {
        outcomes,
        mut times,
        language_hits,
    } = analyze_each(analyzer, examples);
    times.sort_by(f64::total_cmp);
    let pct = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];

    let n = outcomes.len();
    let correct = |o: &&Outcome| o.gold == o.predicted;
    let accuracy = outcomes.iter().filter(correct).count() as f64 / n as f64;
    let in_scope: Vec<&Outcome> = outcomes.iter().filter(|o| o.gold != OUT_OF_SCOPE).collect();
    let in_scope_accuracy = in_scope.iter().filter(|o| o.gold == o.predicted).count() as f64
        / in_scope.len().max(1) as f64;
    let gold_oos = outcomes.iter().filter(|o| o.gold == OUT_OF_SCOPE).count();
    let pred_oos = outcomes
        .iter()
        .filter(|o| o.predicted == OUT_OF_SCOPE)
        .count();
    let both_oos = outcomes
        .iter()
        .filter(|o| o.gold == OUT_OF_SCOPE && o.predicted == OUT_OF_SCOPE)
        .count();

    let intents = by_intent(&outcomes);
    let metrics = Metrics {
        n,
        accuracy,
        in_scope_accuracy,
        oos_recall: ratio(both_oos, gold_oos),
        oos_precision: ratio(both_oos, pred_oos),
        macro_f1: macro_f1(&intents),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        by_language: by_language(examples, &outcomes, &language_hits),
        by_intent: intents,
        confused_pairs: confused_pairs(&outcomes),
    };
    Ok((metrics, outcomes))
}

/// Fails on the first gold label (other than out-of-scope) the model does not know.
fn check_labels(analyzer: &Analyzer, examples: &[Example], path: &str) -> Result<()> {
    let known: Vec<&str> = analyzer.labels().iter().map(String::as_str).collect();
    for (i, e) in examples.iter().enumerate() {
        let gold = e.intent.as_deref().unwrap_or_default();
        if gold != OUT_OF_SCOPE && !known.contains(&gold) {
            bail!(
                "{path}:{}: unknown label `{gold}` (the model knows: {})",
                i + 1,
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// What one pass of the analyzer over the examples observed.
struct Pass {
    outcomes: Vec<Outcome>,
    /// Analyze latency per example, in µs, in example order.
    times: Vec<f64>,
    /// Per gold language code: (examples, examples whose language was detected).
    language_hits: BTreeMap<String, (usize, usize)>,
}

/// Analyzes every example once, timing each call.
fn analyze_each(analyzer: &Analyzer, examples: &[Example]) -> Pass {
    let mut outcomes = Vec::with_capacity(examples.len());
    let mut times = Vec::with_capacity(examples.len());
    let mut language_hits: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in examples {
        let started = Instant::now();
        let analysis = analyzer.analyze(&e.text);
        times.push(started.elapsed().as_secs_f64() * 1e6);
        let (predicted, confidence) = if analysis.out_of_scope {
            (
                OUT_OF_SCOPE.to_string(),
                analysis.intents.first().map_or(0.0, |i| i.confidence),
            )
        } else {
            let top = &analysis.intents[0];
            (top.label.clone(), top.confidence)
        };
        if let Some(lang) = e.lang {
            let entry = language_hits.entry(lang.code().to_string()).or_default();
            entry.0 += 1;
            entry.1 += usize::from(analysis.language == lang);
        }
        outcomes.push(Outcome {
            text: e.text.clone(),
            gold: e.intent.clone().unwrap_or_default(),
            predicted,
            confidence,
        });
    }
    Pass {
        outcomes,
        times,
        language_hits,
    }
}

/// `num / den`, or `None` when there is nothing to divide by.
fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Precision, recall and F1 per gold label (F1 0 for a label never predicted right).
fn by_intent(outcomes: &[Outcome]) -> BTreeMap<String, IntentMetrics> {
    // (true positives, false positives, false negatives) per gold label.
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = outcomes
        .iter()
        .map(|o| (o.gold.as_str(), (0, 0, 0)))
        .collect();
    for o in outcomes {
        if o.gold == o.predicted {
            if let Some(gold) = counts.get_mut(o.gold.as_str()) {
                gold.0 += 1;
            }
            continue;
        }
        if let Some(gold) = counts.get_mut(o.gold.as_str()) {
            gold.2 += 1;
        }
        if let Some(predicted) = counts.get_mut(o.predicted.as_str()) {
            predicted.1 += 1;
        }
    }
    counts
        .into_iter()
        .map(|(label, (tp, fp, fn_))| {
            let metrics = IntentMetrics {
                support: tp + fn_,
                precision: ratio(tp, tp + fp).unwrap_or(0.0),
                recall: ratio(tp, tp + fn_).unwrap_or(0.0),
                f1: ratio(2 * tp, 2 * tp + fp + fn_).unwrap_or(0.0),
            };
            (label.to_string(), metrics)
        })
        .collect()
}

/// The mean over gold labels of each label's F1.
fn macro_f1(by_intent: &BTreeMap<String, IntentMetrics>) -> f64 {
    by_intent.values().map(|m| m.f1).sum::<f64>() / by_intent.len().max(1) as f64
}

/// Accuracy, out-of-scope recall and language-detection accuracy per gold language.
fn by_language(
    examples: &[Example],
    outcomes: &[Outcome],
    language_hits: &BTreeMap<String, (usize, usize)>,
) -> BTreeMap<String, LanguageMetrics> {
    let mut by_language = BTreeMap::new();
    for (lang, (count, lang_correct)) in language_hits {
        let rows: Vec<(&Example, &Outcome)> = examples
            .iter()
            .zip(outcomes)
            .filter(|(e, _)| e.lang.is_some_and(|l| l.code() == lang))
            .collect();
        let right = rows.iter().filter(|(_, o)| o.gold == o.predicted).count();
        let oos_rows: Vec<_> = rows
            .iter()
            .filter(|(_, o)| o.gold == OUT_OF_SCOPE)
            .collect();
        let oos_right = oos_rows
            .iter()
            .filter(|(_, o)| o.predicted == OUT_OF_SCOPE)
            .count();
        by_language.insert(
            lang.clone(),
            LanguageMetrics {
                n: *count,
                accuracy: right as f64 / rows.len().max(1) as f64,
                oos_recall: ratio(oos_right, oos_rows.len()),
                language_id_accuracy: *lang_correct as f64 / (*count).max(1) as f64,
            },
        );
    }
    by_language
}

/// The ten most frequent gold → predicted mistakes, most frequent first (then by gold).
fn confused_pairs(outcomes: &[Outcome]) -> Vec<ConfusedPair> {
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.gold != o.predicted) {
        *pairs
            .entry((o.gold.clone(), o.predicted.clone()))
            .or_default() += 1;
    }
    let mut confused_pairs: Vec<ConfusedPair> = pairs
        .into_iter()
        .map(|((gold, predicted), count)| ConfusedPair {
            gold,
            predicted,
            count,
        })
        .collect();
    confused_pairs.sort_by(|a, b| b.count.cmp(&a.count).then(a.gold.cmp(&b.gold)));
    confused_pairs.truncate(10);
    confused_pairs
}

/// An HTML page with the figures, the most confused pairs and an inline-SVG confidence
/// histogram (correct vs wrong predictions).
pub fn report_html(metrics: &Metrics, outcomes: &[Outcome], model: &str, data: &str) -> String {
    let svg = confidence_histogram(outcomes);
    let rows = confused_pair_rows(&metrics.confused_pairs);
    let langs = language_rows(&metrics.by_language);
    let intents = intent_rows(&metrics.by_intent);
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Intent model evaluation</title>
<style>body{{font:15px system-ui,sans-serif;max-width:760px;margin:2em auto;color:#111}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}.big{{font-size:28px;font-weight:600}}.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head><body>
<h1>Intent model evaluation</h1><p>Model <code>{}</code> on <code>{}</code> ({} utterances)</p>
<p><span class="big">{}</span> accuracy · in scope {} · macro F1 {:.3} · out-of-scope recall {} / precision {} · analyze p50 {:.0} µs, p99 {:.0} µs</p>
<h2>Most confused pairs</h2><table><tr><th>gold</th><th>predicted</th><th>count</th></tr>{rows}</table>
<h2>Confidence of the prediction</h2><p class="legend"><span style="background:#3b82f6"></span>correct<span style="background:#ef4444"></span>wrong</p>{svg}
<h2>By language</h2><table><tr><th>language</th><th>n</th><th>accuracy</th><th>out-of-scope recall</th><th>language detected</th></tr>{langs}</table>
<h2>By intent, weakest first</h2><table><tr><th>intent</th><th>n</th><th>precision</th><th>recall</th><th>F1</th></tr>{intents}</table>
</body></html>"#,
        escape(model),
        escape(data),
        metrics.n,
        percent(metrics.accuracy),
        percent(metrics.in_scope_accuracy),
        metrics.macro_f1,
        percent_or_dash(metrics.oos_recall),
        percent_or_dash(metrics.oos_precision),
        metrics.p50_us,
        metrics.p99_us
    )
}

/// The per-intent table's rows, lowest F1 first.
fn intent_rows(by_intent: &BTreeMap<String, IntentMetrics>) -> String {
    let mut rows: Vec<(&String, &IntentMetrics)> = by_intent.iter().collect();
    rows.sort_by(|a, b| a.1.f1.total_cmp(&b.1.f1).then(a.0.cmp(b.0)));
    rows.iter()
        .map(|(intent, m)| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td></tr>",
                escape(intent),
                m.support,
                percent(m.precision),
                percent(m.recall),
                m.f1
            )
        })
        .collect()
}

/// How a new model compares with an old one on the same held-out data.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub old_accuracy: f64,
    pub new_accuracy: f64,
    pub old_macro_f1: f64,
    pub new_macro_f1: f64,
    /// Intents whose F1 changed, most worsened first: (intent, old F1, new F1).
    pub changed: Vec<(String, f64, f64)>,
    /// The new model is worse on the held-out data (lower accuracy, or the same accuracy
    /// and a lower macro F1).
    pub worse: bool,
}

/// Compares `old` and `new` evaluated on the same data.
pub fn compare(old: &Metrics, new: &Metrics) -> Comparison {
    let mut changed: Vec<(String, f64, f64)> = old
        .by_intent
        .iter()
        .chain(new.by_intent.iter())
        .map(|(intent, _)| intent.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|intent| {
            let f1 = |m: &Metrics| m.by_intent.get(&intent).map_or(0.0, |i| i.f1);
            let (before, after) = (f1(old), f1(new));
            ((after - before).abs() > 1e-9).then_some((intent, before, after))
        })
        .collect();
    changed.sort_by(|a, b| (a.2 - a.1).total_cmp(&(b.2 - b.1)).then(a.0.cmp(&b.0)));
    let worse = new.accuracy < old.accuracy - 1e-12
        || ((new.accuracy - old.accuracy).abs() <= 1e-12 && new.macro_f1 < old.macro_f1 - 1e-12);
    Comparison {
        old_accuracy: old.accuracy,
        new_accuracy: new.accuracy,
        old_macro_f1: old.macro_f1,
        new_macro_f1: new.macro_f1,
        changed,
        worse,
    }
}

/// Escapes text for HTML element content.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A fraction as a percentage with one decimal.
fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// [`percent`], or a dash when there is no figure.
fn percent_or_dash(v: Option<f64>) -> String {
    v.map_or("–".to_string(), percent)
}

/// Table rows for the most confused pairs.
fn confused_pair_rows(pairs: &[ConfusedPair]) -> String {
    let mut rows = String::new();
    for p in pairs {
        rows += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.gold),
            escape(&p.predicted),
            p.count
        );
    }
    rows
}

/// Table rows for the per-language figures.
fn language_rows(by_language: &BTreeMap<String, LanguageMetrics>) -> String {
    let mut langs = String::new();
    for (lang, m) in by_language {
        langs += &format!(
            "<tr><td>{lang}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.n,
            percent(m.accuracy),
            percent_or_dash(m.oos_recall),
            percent(m.language_id_accuracy)
        );
    }
    langs
}

/// Number of confidence bins in the histogram, each 0.1 wide.
const BINS: usize = 10;

/// Per confidence bin: how many predictions were correct, and how many wrong.
fn confidence_bins(outcomes: &[Outcome]) -> (Vec<usize>, Vec<usize>) {
    let mut right = vec![0usize; BINS];
    let mut wrong = vec![0usize; BINS];
    for o in outcomes {
        let bin = ((o.confidence * BINS as f32) as usize).min(BINS - 1);
        if o.gold == o.predicted {
            right[bin] += 1
        } else {
            wrong[bin] += 1
        }
    }
    (right, wrong)
}

/// An inline SVG of stacked bars, correct (blue) under wrong (red), per confidence bin.
fn confidence_histogram(outcomes: &[Outcome]) -> String {
    let (right, wrong) = confidence_bins(outcomes);
    let max = right
        .iter()
        .zip(&wrong)
        .map(|(a, b)| a + b)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (w, h, pad) = (520.0, 220.0, 30.0);
    let bar_w = (w - 2.0 * pad) / BINS as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{}" role="img" aria-label="confidence histogram">"#,
        h + 40.0
    );
    for i in 0..BINS {
        let x = pad + i as f64 * bar_w;
        let hr = right[i] as f64 / max * h;
        let hw = wrong[i] as f64 / max * h;
        svg += &format!(
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{hr:.1}" fill="#3b82f6"><title>{}–{}: {} correct</title></rect>"##,
            pad + h - hr - hw,
            bar_w - 2.0,
            i * 10,
            i * 10 + 10,
            right[i]
        );
        svg += &format!(
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{hw:.1}" fill="#ef4444"><title>{}–{}: {} wrong</title></rect>"##,
            pad + h - hw,
            bar_w - 2.0,
            i * 10,
            i * 10 + 10,
            wrong[i]
        );
        svg += &format!(
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{:.1}</text>"#,
            x + bar_w / 2.0,
            pad + h + 14.0,
            i as f64 / BINS as f64 + 0.05
        );
    }
    svg += "</svg>";
    svg
}
