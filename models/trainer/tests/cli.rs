//! The trainer's command-line contract.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("trainer runs")
}

/// Runs the trainer and asserts it succeeded.
fn trainer_ok(args: &[&str]) -> Output {
    let result = trainer(args);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    result
}

/// The shop's training data, as an argument.
fn shop_train() -> String {
    root()
        .join("models/data/shop/train.jsonl")
        .display()
        .to_string()
}

fn temp(name: &str) -> PathBuf {
    let dir = root()
        .join("target/test-state")
        .join(format!("trainer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn retraining_reproduces_the_shipped_shop_model() {
    let out = temp("reproduce");
    let data = root().join("models/data/shop/train.jsonl");
    trainer_ok(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    for file in ["model.onnx", "labels.json", "config.json", "language.bin"] {
        let shipped = std::fs::read(root().join("models/shop").join(file)).unwrap();
        let fresh = std::fs::read(out.join(file)).unwrap();
        assert!(
            shipped == fresh,
            "{file} differs: run the command in models/README.md and commit models/shop"
        );
    }
}

#[test]
fn bad_input_files_name_the_line() {
    let dir = temp("bad-input");
    let cases = [
        (
            "not-json.jsonl",
            "{\"text\": \"hi\", \"intent\": \"greeting\"}\nnot json\n",
            ":2: not JSON",
        ),
        (
            "no-intent.jsonl",
            "{\"text\": \"hi\"}\n",
            ":1: missing field `intent`",
        ),
        (
            "no-text.jsonl",
            "{\"intent\": \"greeting\"}\n",
            ":1: missing field `text`",
        ),
        (
            "empty-text.jsonl",
            "{\"text\": \"hi\", \"intent\": \"a\"}\n{\"text\": \"  \", \"intent\": \"greeting\"}\n",
            ":2: `text` is empty",
        ),
        (
            "bad-lang.jsonl",
            "{\"text\": \"hi\", \"intent\": \"a\", \"lang\": \"de\"}\n",
            ":1: unknown `lang`",
        ),
    ];
    for (name, content, needle) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let result = trainer(&[
            "train",
            "--data",
            path.to_str().unwrap(),
            "--out",
            dir.join("m").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{name}");
        assert!(
            stderr.contains(name) && stderr.contains(needle),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn eval_json_is_one_object_and_unknown_labels_are_errors() {
    let dir = temp("eval");
    let test = dir.join("test.jsonl");
    std::fs::write(
        &test,
        "{\"text\": \"where is my order\", \"intent\": \"order_status\", \"lang\": \"en\"}\n{\"text\": \"mikor vagytok nyitva\", \"intent\": \"opening_hours\", \"lang\": \"hu\"}\n{\"text\": \"what is the capital of France\", \"intent\": \"out_of_scope\"}\n",
    )
    .unwrap();
    let model = root().join("models/shop");
    let report = dir.join("report.html");
    let result = trainer_ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
        "--json",
        "--report",
        report.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8(result.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let metrics: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for key in [
        "n",
        "accuracy",
        "in_scope_accuracy",
        "oos_recall",
        "oos_precision",
        "macro_f1",
        "p50_us",
        "p99_us",
    ] {
        assert!(metrics.get(key).is_some(), "missing {key}: {metrics}");
    }
    assert_eq!(metrics["n"], 3);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("Most confused pairs"));

    std::fs::write(&test, "{\"text\": \"hi\", \"intent\": \"greeting\"}\n{\"text\": \"x\", \"intent\": \"no_such_intent\"}\n").unwrap();
    let result = trainer(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.contains("test.jsonl:2") && stderr.contains("no_such_intent"),
        "{stderr}"
    );
}

#[test]
fn the_same_seed_gives_the_same_model_and_another_seed_another() {
    let dir = temp("seed");
    let data = dir.join("train.jsonl");
    let mut lines = String::new();
    for (intent, texts) in [
        (
            "greeting",
            [
                "hello",
                "hi there",
                "good morning",
                "hey",
                "howdy",
                "hello friend",
            ],
        ),
        (
            "thanks",
            [
                "thanks",
                "thank you",
                "many thanks",
                "cheers",
                "thx a lot",
                "thank you so much",
            ],
        ),
    ] {
        for text in texts {
            lines += &format!("{{\"text\": \"{text}\", \"intent\": \"{intent}\"}}\n");
        }
    }
    std::fs::write(&data, lines).unwrap();
    let train = |out: &str, seed: &str| {
        let out = dir.join(out);
        trainer_ok(&[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--seed",
            seed,
            "--epochs",
            "5",
        ]);
        std::fs::read(out.join("model.onnx")).unwrap()
    };
    let (a, b, c) = (train("a", "1"), train("b", "1"), train("c", "2"));
    assert!(a == b, "same seed, same bytes");
    assert!(a != c, "another seed shuffles differently");
}

#[test]
fn export_writes_agents_labels_as_training_lines_without_customer_ids() {
    let dir = temp("export");
    let db_path = dir.join("sqlite_db.db");
    let out = dir.join("labeled.jsonl");
    let missing = trainer(&[
        "export",
        "--db",
        dir.join("none.db").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database at"));

    let db = store::sqlite::Sqlite::open(&db_path).unwrap();
    store::migrate(&db).unwrap();
    let conversation = store::touch_conversation(
        &db,
        store::Channel::Messenger,
        "PSID-EXPORT",
        "PAGE",
        None,
        1,
    )
    .unwrap();
    let message = |text: &'static str| store::NewMessage {
        direction: "in",
        author: "customer",
        text,
        intent: Some("order_status"),
        confidence: Some(0.3),
        anger: Some(0.0),
        language: Some(store::Lang::Hu),
    };
    let labeled = store::add_message(&db, conversation.id, &message("hol a cuccom"), 2).unwrap();
    store::add_message(&db, conversation.id, &message("not labeled"), 3).unwrap();
    assert!(store::learning::label(&db, labeled, "order_status", "1", 4).unwrap());
    drop(db);

    trainer_ok(&[
        "export",
        "--db",
        db_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let exported = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![serde_json::json!({"text": "hol a cuccom", "intent": "order_status", "lang": "hu"})]
    );
    assert!(!exported.contains("PSID"), "no customer identifier");

    // Retraining takes the exported lines with the shop data.
    let model = dir.join("model");
    trainer_ok(&[
        "train",
        "--data",
        &shop_train(),
        "--data",
        out.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--epochs",
        "2",
    ]);
    assert!(model.join("model.onnx").is_file());
}

#[test]
fn compare_shows_per_intent_changes_and_refuses_a_worse_model() {
    let dir = temp("compare");
    let weak = dir.join("weak");
    let shipped = root().join("models/shop");
    let test = root().join("models/data/shop/test.jsonl");
    trainer_ok(&[
        "train",
        "--data",
        &shop_train(),
        "--out",
        weak.to_str().unwrap(),
        "--epochs",
        "1",
        "--learning-rate",
        "0.01",
    ]);
    let compare = |old: &Path, new: &Path| {
        trainer(&[
            "eval",
            "--compare",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
            "--data",
            test.to_str().unwrap(),
        ])
    };
    // The weak candidate against the shipped model: refused, with the intents it got worse at.
    let refused = compare(&shipped, &weak);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr),
    );
    assert!(!refused.status.success(), "{stdout}");
    assert!(stderr.contains("refused:"), "{stderr}");
    assert!(
        stdout.contains("accuracy ") && stdout.contains(" F1 "),
        "{stdout}"
    );
    // The other way round it is an improvement, accepted.
    let accepted = compare(&weak, &shipped);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    // The same model is not worse than itself, and nothing changed.
    let same = compare(&shipped, &shipped);
    assert!(same.status.success());
    assert_eq!(String::from_utf8_lossy(&same.stdout).lines().count(), 1);
    // Exactly one of --model and --compare.
    assert!(
        !trainer(&["eval", "--data", test.to_str().unwrap()])
            .status
            .success()
    );
}
