"""Baseline for the essay-scoring task: linear regression on four simple length statistics.

Reads data/train.csv and data/test.csv, prints the MCRMSE on a held-out part of the training
essays, and writes the six predicted scores of every test essay to submission.csv.
"""
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split

MEASURES = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")


def features(texts):
    """Number of words, mean word length, share of distinct words, number of sentences."""
    rows = []
    for text in texts:
        words = text.split()
        n = max(len(words), 1)
        rows.append([len(words), sum(len(w) for w in words) / n, len({w.lower() for w in words}) / n,
                     text.count(".") + text.count("!") + text.count("?")])
    return np.array(rows, dtype=float)


def mcrmse(truth, pred):
    return float(np.mean(np.sqrt(np.mean((np.asarray(truth) - np.asarray(pred)) ** 2, axis=0))))


# Check the model on a validation split of the training essays.
fit, val = train_test_split(train, test_size=0.2, random_state=0)
model = LinearRegression().fit(features(fit["full_text"]), fit[MEASURES])
print(f"Validation MCRMSE: {mcrmse(val[MEASURES], model.predict(features(val['full_text']))):.4f}")

# Train on all training essays and predict the test essays.
model = LinearRegression().fit(features(train["full_text"]), train[MEASURES])
submission = pd.DataFrame(model.predict(features(test["full_text"])), columns=MEASURES)
submission.insert(0, "text_id", test["text_id"])
submission.to_csv("submission.csv", index=False)
print(f"Wrote submission.csv with {len(submission)} rows")
