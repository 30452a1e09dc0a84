"""Builds the diabetes task from scikit-learn's bundled diabetes data (Efron et al., 2004).

Deterministic: the same rows, ids and split on every machine; ids are given after a
shuffle, so they say nothing about a row's place in the original dataset.
"""
import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

SEED = 20240503


def prepare(ctx):
    frame = load_diabetes(as_frame=True).frame
    frame = frame.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    features = [c for c in frame.columns if c != "target"]
    train, test = train_test_split(frame, test_size=0.3, random_state=SEED)

    visible_train = train[features].copy()
    visible_train.insert(0, "id", np.arange(len(train)))
    visible_train["progression"] = train["target"].to_numpy()
    visible_test = test[features].copy()
    visible_test.insert(0, "id", np.arange(len(test)))
    sample = pd.DataFrame({"id": visible_test["id"], "progression": float(train["target"].mean())})

    visible_train.to_csv(ctx.data_dir / "train.csv", index=False)
    visible_test.to_csv(ctx.data_dir / "test.csv", index=False)
    sample.to_csv(ctx.data_dir / "sample_submission.csv", index=False)
    pd.DataFrame({"id": visible_test["id"], "progression": test["target"].to_numpy()}).to_csv(
        ctx.answers / "test_targets.csv", index=False)
