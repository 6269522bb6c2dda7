"""The baseline for BANKING77: scikit-learn TF-IDF (word 1-2 + char 2-5 grams) + LinearSVC,
trained on the train split and scored on the test split. Prints one JSON object."""
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
started = time.perf_counter()
words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
features = hstack([words.fit_transform(train_x), chars.fit_transform(train_x)]).tocsr()
model = LinearSVC(C=1.0).fit(features, train_y)
train_s = time.perf_counter() - started
test_features = hstack([words.transform(test_x), chars.transform(test_x)]).tocsr()
predicted = model.predict(test_features)
accuracy = sum(p == g for p, g in zip(predicted, test_y)) / len(test_y)
print(json.dumps({"n": len(test_y), "accuracy": accuracy, "train_seconds": train_s}))
