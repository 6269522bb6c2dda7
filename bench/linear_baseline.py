"""The linear baseline for the intent benchmarks: scikit-learn TF-IDF (word 1-2 + char 2-5
grams) + LinearSVC, trained on one split and scored on another. Prints one JSON object.

    python3 bench/linear_baseline.py TRAIN.jsonl TEST.jsonl [--oos LABEL]

With `--oos LABEL` (CLINC150: `out_of_scope`) the out-of-scope label is a class like any other
(the CLINC150 paper's "oos as a class" setting), and the output adds in-scope accuracy and out-of-scope recall."""
import json
import sys
import time

from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC


def load(path):
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    return [r["text"] for r in rows], [r["intent"] for r in rows]


train_x, train_y = load(sys.argv[1])
test_x, test_y = load(sys.argv[2])
oos = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--oos" else None
started = time.perf_counter()
words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
features = hstack([words.fit_transform(train_x), chars.fit_transform(train_x)]).tocsr()
model = LinearSVC(C=1.0).fit(features, train_y)
train_s = time.perf_counter() - started
test_features = hstack([words.transform(test_x), chars.transform(test_x)]).tocsr()
predicted = model.predict(test_features)
pairs = list(zip(predicted, test_y))
result = {
    "n": len(test_y),
    "accuracy": sum(p == g for p, g in pairs) / len(pairs),
    "train_seconds": train_s,
}
if oos is not None:
    in_scope = [(p, g) for p, g in pairs if g != oos]
    out = [(p, g) for p, g in pairs if g == oos]
    result["in_scope_accuracy"] = sum(p == g for p, g in in_scope) / max(len(in_scope), 1)
    result["oos_recall"] = sum(p == oos for p, _ in out) / max(len(out), 1)
print(json.dumps(result))
