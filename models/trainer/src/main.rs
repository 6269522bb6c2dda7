//! The trainer: `train` fits the intent model and the language identifier from JSONL and
//! writes a model directory; `eval` measures a model directory on a test file.
//!
//! ```text
//! cargo run --release -p trainer -- train --data TRAIN.jsonl --out DIR [--epochs N] [--seed S]
//! cargo run --release -p trainer -- eval --model DIR --data TEST.jsonl [--json] [--report FILE] [--rules DIR]
//! ```

mod data;
mod eval;
mod onnx;
mod train;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// The language identifier is always trained on the project's own corpus (the shop data
/// in three languages and other languages' messages), plus any training rows with a `lang`.
const LANGUAGE_CORPUS: &[(&str, &str)] = &[
    (
        "models/data/shop/train.jsonl",
        include_str!("../../data/shop/train.jsonl"),
    ),
    (
        "models/data/lang/other.jsonl",
        include_str!("../../data/lang/other.jsonl"),
    ),
];

#[derive(Parser)]
#[command(
    name = "trainer",
    about = "Train and evaluate the chatbot's intent model",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model: writes DIR/model.onnx, labels.json, config.json and language.bin.
    Train {
        /// Training data: JSONL lines {"text", "intent"} (optional "lang": en|hu|pl|other).
        #[arg(long)]
        data: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Passes over the data.
        #[arg(long, default_value_t = 30)]
        epochs: usize,
        /// Seed: the same seed and data give the same model, byte for byte.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Hash buckets (default: as many as fit a model file of about 7.5 MB, at most 65536).
        #[arg(long)]
        buckets: Option<u32>,
        /// Initial learning rate (decays linearly to zero).
        #[arg(long, default_value_t = 0.5)]
        learning_rate: f32,
    },
    /// Evaluate a model directory on a test file.
    Eval {
        /// The model directory written by `train`.
        #[arg(long)]
        model: PathBuf,
        /// Test data: JSONL lines {"text", "intent"} (optional "lang").
        #[arg(long)]
        data: PathBuf,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// Write an HTML report (confused pairs, confidence histogram) to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Keyword rules to apply, as the component does (a directory of *.toml files).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Write the misclassified rows (text, gold, predicted, confidence) as JSONL here.
        #[arg(long)]
        errors: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Train {
            data,
            out,
            epochs,
            seed,
            buckets,
            learning_rate,
        } => {
            let options = train::Options {
                epochs,
                seed,
                buckets,
                learning_rate,
                quiet: false,
            };
            train_command(&data, &out, &options)
        }
        Command::Eval {
            model,
            data,
            json,
            report,
            rules,
            errors,
        } => eval_command(
            &model,
            &data,
            json,
            report.as_deref(),
            rules.as_deref(),
            errors.as_deref(),
        ),
    }
}

/// `train`: fits a model on `data` and writes the model directory `out`.
fn train_command(data: &Path, out: &Path, options: &train::Options) -> Result<()> {
    let started = std::time::Instant::now();
    let examples = data::read(data, true)?;
    let mut language_examples = Vec::new();
    for (name, text) in LANGUAGE_CORPUS {
        language_examples.extend(data::parse(text, name, false)?);
    }
    let trained = train::train(&examples, &language_examples, options)?;
    let onnx_bytes = write_model_dir(out, &trained)?;
    eprintln!(
        "trained {} intents on {} examples in {:.1}s: {} ({:.1} MB)",
        trained.labels.len(),
        examples.len(),
        started.elapsed().as_secs_f64(),
        out.join("model.onnx").display(),
        onnx_bytes as f64 / 1e6
    );
    Ok(())
}

/// Writes model.onnx, labels.json, config.json and language.bin into `out` (created if
/// missing); returns the size of model.onnx in bytes.
fn write_model_dir(out: &Path, trained: &train::Trained) -> Result<usize> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let config = serde_json::to_string_pretty(&trained.config)?;
    let onnx = trained.model.to_onnx(&[
        ("labels", serde_json::to_string(&trained.labels)?),
        ("config", config.clone()),
    ]);
    write(&out.join("model.onnx"), &onnx)?;
    write(
        &out.join("labels.json"),
        format!("{}\n", serde_json::to_string_pretty(&trained.labels)?),
    )?;
    write(&out.join("config.json"), format!("{config}\n"))?;
    write(&out.join("language.bin"), trained.language.to_bytes())?;
    Ok(onnx.len())
}

/// `eval`: measures the model directory `model` on `data`, writes the optional report and
/// errors files, and prints the metrics as JSON (one line with `json`, else pretty).
fn eval_command(
    model: &Path,
    data: &Path,
    json: bool,
    report: Option<&Path>,
    rules: Option<&Path>,
    errors: Option<&Path>,
) -> Result<()> {
    let analyzer = nlu::Analyzer::from_dir(model, rules)?;
    let examples = data::read(data, true)?;
    let (metrics, outcomes) = eval::evaluate(&analyzer, &examples, &data.display().to_string())?;
    if let Some(path) = report {
        let html = eval::report_html(
            &metrics,
            &outcomes,
            &model.display().to_string(),
            &data.display().to_string(),
        );
        write(path, html)?;
    }
    if let Some(path) = errors {
        write(path, misclassified_jsonl(&outcomes))?;
    }
    if json {
        println!("{}", serde_json::to_string(&metrics)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&metrics)?);
    }
    Ok(())
}

/// The misclassified rows as JSONL: text, gold, predicted, confidence.
fn misclassified_jsonl(outcomes: &[eval::Outcome]) -> String {
    outcomes
        .iter()
        .filter(|o| o.gold != o.predicted)
        .map(|o| serde_json::json!({"text": o.text, "gold": o.gold, "predicted": o.predicted, "confidence": o.confidence}).to_string() + "\n")
        .collect()
}

/// Writes a whole file, naming it on failure.
fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}
