#!/usr/bin/env bash
# NLU benchmarks, each side by side with its baseline in one run:
#  1. BANKING77: our trainer vs scikit-learn TF-IDF + LinearSVC (accuracy, training time),
#     next to the published fine-tuned BERT figure;
#  2. CLINC150 (train -> validation, out-of-scope as a class): the same two, in-scope accuracy and
#     out-of-scope recall, next to the published BERT figures (on its test split);
#  3. the shop model on its held-out split (per-language accuracy, analyze p50/p99);
#  4. the nlu component per request (fresh instance + analyze), pre-initialized vs not.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
data=../shared/data/banking77
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
# The workspace's default members at once (trainer and host among them): selecting packages
# would resolve features differently and compile wasmtime and tract a second time.
cargo build --release
target/release/host build -f spin.toml >/dev/null

if [ -f "$data/train.jsonl" ]; then
  out=$(mktemp -d)
  start=$(date +%s.%N)
  target/release/trainer train --data "$data/train.jsonl" --out "$out/banking77" 2>/dev/null
  ours_s=$(echo "$(date +%s.%N) - $start" | bc)
  ours=$(target/release/trainer eval --model "$out/banking77" --data "$data/test.jsonl" --json)
  size=$(stat -c %s "$out/banking77/model.onnx")
  base=$(python3 bench/linear_baseline.py "$data/train.jsonl" "$data/test.jsonl")
  python3 - "$ours" "$base" "$ours_s" "$size" <<'PY'
import json, sys
ours, base, secs, size = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print("BANKING77 (train split -> test split)")
print(f"  ours (hashed TF-IDF + softmax, ONNX/tract): accuracy {ours['accuracy']*100:.2f}%  train {secs:.1f}s  model {size/1e6:.1f} MB  analyze p50 {ours['p50_us']:.0f} us p99 {ours['p99_us']:.0f} us")
print(f"  scikit-learn TF-IDF + LinearSVC:            accuracy {base['accuracy']*100:.2f}%  train {base['train_seconds']:.1f}s")
print("  published anchor, BERT fine-tuned (Casanueva et al. 2020): accuracy 93.7%")
PY
  rm -rf "$out"
else
  echo "BANKING77 not found under $data: skipped"
fi

clinc=../shared/data/clinc150
if [ -f "$clinc/train.jsonl" ] && [ -f "$clinc/val.jsonl" ]; then
  out=$(mktemp -d)
  start=$(date +%s.%N)
  target/release/trainer train --data "$clinc/train.jsonl" --out "$out/clinc150" 2>/dev/null
  ours_s=$(echo "$(date +%s.%N) - $start" | bc)
  ours=$(target/release/trainer eval --model "$out/clinc150" --data "$clinc/val.jsonl" --json)
  size=$(stat -c %s "$out/clinc150/model.onnx")
  base=$(python3 bench/linear_baseline.py "$clinc/train.jsonl" "$clinc/val.jsonl" --oos out_of_scope)
  python3 - "$ours" "$base" "$ours_s" "$size" <<'PY'
import json, sys
ours, base, secs, size = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print("CLINC150 (train split -> validation split, out_of_scope as a class; the test split is not in ../shared/data)")
print(f"  ours (hashed TF-IDF + softmax, ONNX/tract): in-scope {ours['in_scope_accuracy']*100:.2f}%  oos recall {ours['oos_recall']*100:.2f}%  "
      f"train {secs:.1f}s  model {size/1e6:.1f} MB  analyze p50 {ours['p50_us']:.0f} us p99 {ours['p99_us']:.0f} us")
print(f"  scikit-learn TF-IDF + LinearSVC:            in-scope {base['in_scope_accuracy']*100:.2f}%  oos recall {base['oos_recall']*100:.2f}%  train {base['train_seconds']:.1f}s")
print("  published anchor, BERT (Larson et al. 2019, test split): in-scope 96.9%  oos recall 40.3%")
PY
  rm -rf "$out"
else
  echo "CLINC150 not found under $clinc: skipped"
fi

echo "Shop model (models/shop on models/data/shop/test.jsonl, with the rules)"
shop=$(target/release/trainer eval --model models/shop --data models/data/shop/test.jsonl --rules models/rules --json)
python3 - "$shop" <<'PY'
import json, sys
m = json.loads(sys.argv[1])
print(f"  accuracy {m['accuracy']*100:.1f}%  in-scope {m['in_scope_accuracy']*100:.1f}%  oos recall {m['oos_recall']*100:.1f}%  "
      f"oos precision {m['oos_precision']*100:.1f}%  macro F1 {m['macro_f1']:.3f}  p50 {m['p50_us']:.0f} us  p99 {m['p99_us']:.0f} us")
for lang, l in m["by_language"].items():
    print(f"  {lang}: n {l['n']}  accuracy {l['accuracy']*100:.1f}%  oos recall {l['oos_recall']*100:.1f}%  language detected {l['language_id_accuracy']*100:.1f}%")
PY

echo "nlu component per request (fresh instance + analyze)"
cargo bench -q -p host --bench nlu_component 2>/dev/null
