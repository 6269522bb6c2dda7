//! The ONNX file is the contract: onnxruntime (from PyPI, installed by scripts/setup) must
//! give the same probabilities as tract for the same inputs.

use nlu::{Analyzer, ModelConfig, model_inputs, normalize};
use std::path::Path;
use std::process::Command;

#[test]
fn onnxruntime_gives_the_same_probabilities_as_tract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model_dir = root.join("models/shop");
    let analyzer = Analyzer::from_dir(&model_dir, None).expect("shipped model loads");
    let config: &ModelConfig = analyzer.config();
    let texts = [
        "where is my order #10234",
        "Mikor vagytok nyitva?",
        "ile kosztuje wysyłka do Niemiec",
        "",
        "what's the weather",
    ];
    let cases: Vec<serde_json::Value> = texts
        .iter()
        .map(|text| {
            let features = config.features.extract(&normalize(text));
            let (ids, values) = model_inputs(&config.features, &features);
            serde_json::json!({ "text": text, "ids": ids, "values": values, "probs": analyzer.probabilities(text) })
        })
        .collect();
    let path = std::env::temp_dir().join(format!("nlu-onnx-cases-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_string(&cases).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(root.join("models/tests/onnx_crosscheck.py"))
        .arg(model_dir.join("model.onnx"))
        .arg(&path)
        .output()
        .expect("python3 runs (scripts/setup installs onnxruntime)");
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "onnxruntime check failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("agrees with tract"), "{stdout}");
}
