"""Runs the ONNX model with onnxruntime on inputs computed by the Rust runtime and checks
that the probabilities equal tract's. Usage: onnx_crosscheck.py MODEL.onnx CASES.json"""
import json
import sys

import numpy as np
import onnxruntime as ort

model, cases_path = sys.argv[1], sys.argv[2]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
cases = json.load(open(cases_path, encoding="utf-8"))
worst = 0.0
for case in cases:
    (probs,) = session.run(["probs"], {
        "ids": np.array(case["ids"], dtype=np.int64),
        "values": np.array(case["values"], dtype=np.float32),
    })
    diff = float(np.max(np.abs(probs[0] - np.array(case["probs"], dtype=np.float32))))
    worst = max(worst, diff)
    if diff > 1e-4 or int(np.argmax(probs[0])) != int(np.argmax(case["probs"])):
        print(f"MISMATCH for {case['text']!r}: max diff {diff}")
        sys.exit(1)
print(f"onnxruntime {ort.__version__} agrees with tract on {len(cases)} cases (max diff {worst:.2e})")
