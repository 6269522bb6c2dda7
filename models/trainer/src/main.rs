//! The trainer: `train` fits the intent model and the language identifier from JSONL and
//! writes a model directory; `eval` measures a model directory on a test file, or compares
//! two; `export` writes the intents agents gave to customer messages (the desk's learning
//! list) as training lines.
//!
//! ```text
//! cargo run --release -p trainer -- train --data TRAIN.jsonl [--data MORE.jsonl] --out DIR [--epochs N] [--seed S]
//! cargo run --release -p trainer -- export --db .spin/sqlite_db.db --out LABELED.jsonl
//! cargo run --release -p trainer -- eval --model DIR --data TEST.jsonl [--json] [--report FILE] [--rules DIR]
//! cargo run --release -p trainer -- eval --compare OLD_DIR NEW_DIR --data HELD_OUT.jsonl [--json]
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
        /// Training data: JSONL lines {"text", "intent"} (optional "lang": en|hu|pl|other);
        /// repeat to train on several files (the shop data and exported labels).
        #[arg(long, required = true)]
        data: Vec<PathBuf>,
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
    /// Write the intents agents gave to customer messages in the desk (`POST
    /// /api/desk/learning/{message_id}`) as training lines {"text", "intent", "lang"}: no
    /// customer identifiers; an erased customer's messages are gone with their labels.
    Export {
        /// The app's SQLite database (`.spin/sqlite_db.db` under `scripts/up` or `spin up`).
        #[arg(long)]
        db: PathBuf,
        /// The JSONL file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate a model directory on a test file, or compare two (`--compare OLD NEW`: the
    /// per-intent F1 changes; fails when NEW is worse on the data).
    Eval {
        /// The model directory written by `train`.
        #[arg(long, required_unless_present = "compare", conflicts_with = "compare")]
        model: Option<PathBuf>,
        /// Two model directories, the current one and a candidate: evaluates both on the data,
        /// shows which intents got better or worse, and refuses (exit 1) a candidate with a
        /// lower accuracy (or the same accuracy and a lower macro F1).
        #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
        compare: Option<Vec<PathBuf>>,
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
        Command::Export { db, out } => export_command(&db, &out),
        Command::Eval {
            model: None,
            compare: Some(models),
            data,
            json,
            rules,
            ..
        } => match models.as_slice() {
            [old, new] => compare_command(old, new, &data, json, rules.as_deref()),
            _ => anyhow::bail!("--compare takes two model directories: OLD NEW"),
        },
        Command::Eval {
            model,
            data,
            json,
            report,
            rules,
            errors,
            ..
        } => eval_command(
            &model.context("--model or --compare is required")?,
            &data,
            json,
            report.as_deref(),
            rules.as_deref(),
            errors.as_deref(),
        ),
    }
}

/// `train`: fits a model on the `data` files and writes the model directory `out`.
fn train_command(data: &[PathBuf], out: &Path, options: &train::Options) -> Result<()> {
    let started = std::time::Instant::now();
    let mut examples = Vec::new();
    for file in data {
        examples.extend(data::read(file, true)?);
    }
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

/// `export`: the labeled messages of the app's database as training lines in `out`.
fn export_command(db: &Path, out: &Path) -> Result<()> {
    if !db.is_file() {
        anyhow::bail!("no database at {}", db.display());
    }
    let database =
        store::sqlite::Sqlite::open(db).map_err(|e| anyhow::anyhow!("{}: {e}", db.display()))?;
    let lines = store::learning::training_lines(&database)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the labels: {e}", db.display()))?;
    let mut jsonl = String::new();
    for line in &lines {
        let mut row = serde_json::json!({ "text": line.text, "intent": line.intent });
        if let Some(lang) = line.language {
            row["lang"] = lang.faq_code().into();
        }
        jsonl += &format!("{row}\n");
    }
    write(out, jsonl)?;
    eprintln!(
        "exported {} labeled messages to {}",
        lines.len(),
        out.display()
    );
    Ok(())
}

/// `eval --compare OLD NEW`: both models on the same data; prints the comparison (JSON with
/// `json`, else a table of changed intents) and fails when NEW is worse.
fn compare_command(
    old: &Path,
    new: &Path,
    data: &Path,
    json: bool,
    rules: Option<&Path>,
) -> Result<()> {
    let examples = data::read(data, true)?;
    let name = data.display().to_string();
    let measure = |model: &Path| -> Result<eval::Metrics> {
        let analyzer = nlu::Analyzer::from_dir(model, rules)?;
        Ok(eval::evaluate(&analyzer, &examples, &name)?.0)
    };
    let comparison = eval::compare(&measure(old)?, &measure(new)?);
    if json {
        println!("{}", serde_json::to_string(&comparison)?);
    } else {
        println!(
            "accuracy {:.2}% -> {:.2}%, macro F1 {:.3} -> {:.3} on {name}",
            comparison.old_accuracy * 100.0,
            comparison.new_accuracy * 100.0,
            comparison.old_macro_f1,
            comparison.new_macro_f1
        );
        for (intent, before, after) in &comparison.changed {
            println!(
                "  {intent:<32} F1 {before:.3} -> {after:.3} ({:+.3})",
                after - before
            );
        }
    }
    if comparison.worse {
        anyhow::bail!(
            "refused: {} is worse than {} on {name} (accuracy {:.2}% -> {:.2}%)",
            new.display(),
            old.display(),
            comparison.old_accuracy * 100.0,
            comparison.new_accuracy * 100.0
        );
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
