"""Builds the digits task from scikit-learn's bundled copy of the UCI handwritten digits.

Deterministic: the same rows, ids and split on every machine. Rows are shuffled before
ids are given, so an id says nothing about a row's place in the original dataset.
"""
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 20240501
CLASSES = [str(i) for i in range(10)]


def prepare(ctx):
    images, labels = load_digits(return_X_y=True)
    order = np.random.RandomState(SEED).permutation(len(labels))
    images, labels = images[order].astype(int), labels[order]
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.3, stratify=labels, random_state=SEED)
    pixels = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]

    train = pd.DataFrame(x_train, columns=pixels)
    train.insert(0, "id", np.arange(len(train)))
    train["label"] = y_train
    test = pd.DataFrame(x_test, columns=pixels)
    test.insert(0, "id", np.arange(len(test)))
    sample = pd.DataFrame({"id": test["id"], **{c: 0.1 for c in CLASSES}})

    train.to_csv(ctx.data_dir / "train.csv", index=False)
    test.to_csv(ctx.data_dir / "test.csv", index=False)
    sample.to_csv(ctx.data_dir / "sample_submission.csv", index=False)
    pd.DataFrame({"id": test["id"], "label": y_test}).to_csv(ctx.answers / "test_labels.csv", index=False)
