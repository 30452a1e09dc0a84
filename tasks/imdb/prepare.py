"""Builds the IMDb task from the Large Movie Review Dataset (Maas et al., 2011).

Online, the Parquet files of the Hugging Face dataset 'stanfordnlp/imdb' are fetched once
(into the Hugging Face cache); offline, a cached copy is used. Reading Parquet needs the
package pyarrow. The 25,000 training reviews keep their labels; the 25,000 test reviews are
shuffled, given new ids, and their labels go to answers/.
"""
import numpy as np
import pandas as pd

REPO = "stanfordnlp/imdb"
SEED = 20240505


def _split(folder, split):
    files = sorted(folder.glob(f"plain_text/{split}-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no {split} files in the downloaded copy of {REPO} ({folder})")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def write_task_files(ctx, train, test):
    """Write the visible and hidden parts from frames with columns text, label (also used by the tests)."""
    train = train.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    test = test.sample(frac=1.0, random_state=SEED + 1).reset_index(drop=True)
    ids = np.arange(len(test))
    pd.DataFrame({"id": np.arange(len(train)), "text": train["text"], "label": train["label"]}).to_csv(
        ctx.data_dir / "train.csv", index=False)
    pd.DataFrame({"id": ids, "text": test["text"]}).to_csv(ctx.data_dir / "test.csv", index=False)
    pd.DataFrame({"id": ids, "0": 0.5, "1": 0.5}).to_csv(ctx.data_dir / "sample_submission.csv", index=False)
    pd.DataFrame({"id": ids, "label": test["label"]}).to_csv(ctx.answers / "test_labels.csv", index=False)


def prepare(ctx):
    folder = ctx.hf_dataset_files(REPO, ["plain_text/train-*.parquet", "plain_text/test-*.parquet"])
    write_task_files(ctx, _split(folder, "train"), _split(folder, "test"))
