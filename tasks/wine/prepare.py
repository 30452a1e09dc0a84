"""Builds the wine task from scikit-learn's bundled copy of the UCI wine recognition data.

Deterministic: the same rows, ids and split on every machine; ids are given after a
shuffle, so they say nothing about a row's place in the original dataset.
"""
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

SEED = 20240502
CLASSES = ["0", "1", "2"]


def prepare(ctx):
    data = load_wine(as_frame=True)
    frame = data.frame.rename(columns={"od280/od315_of_diluted_wines": "od280_od315_of_diluted_wines"})
    frame = frame.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    features = [c for c in frame.columns if c != "target"]
    train, test = train_test_split(frame, test_size=0.3, stratify=frame["target"], random_state=SEED)

    visible_train = train[features].copy()
    visible_train.insert(0, "id", np.arange(len(train)))
    visible_train["cultivar"] = train["target"].to_numpy()
    visible_test = test[features].copy()
    visible_test.insert(0, "id", np.arange(len(test)))
    sample = pd.DataFrame({"id": visible_test["id"], **{c: 1 / 3 for c in CLASSES}})

    visible_train.to_csv(ctx.data_dir / "train.csv", index=False)
    visible_test.to_csv(ctx.data_dir / "test.csv", index=False)
    sample.to_csv(ctx.data_dir / "sample_submission.csv", index=False)
    pd.DataFrame({"id": visible_test["id"], "cultivar": test["target"].to_numpy()}).to_csv(
        ctx.answers / "test_labels.csv", index=False)
