"""Builds the BabyLM task: the 10M-word training corpus and BLiMP minimal pairs to score.

Online, two Hugging Face datasets are fetched once (into the Hugging Face cache):
'cambridge-climb/BabyLM' (the cleaned strict-small corpus, files under clean/10M/) and
'nyu-mll/blimp' (67 paradigms of 1,000 grammatical/ungrammatical sentence pairs; Parquet,
which needs the package pyarrow). Offline, cached copies are used. From each paradigm a fixed
sample of pairs is kept; in each pair the two sentences are put in a random but fixed order,
and which of them is the grammatical one goes to answers/.
"""
import numpy as np
import pandas as pd

CORPUS_REPO = "cambridge-climb/BabyLM"
CORPUS_FILES = "clean/10M/*"
BLIMP_REPO = "nyu-mll/blimp"
PAIRS_PER_PARADIGM = 100
SEED = 20240507


def _corpus_text(folder):
    files = sorted(p for p in (folder / "clean" / "10M").glob("*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no corpus files under clean/10M in the copy of {CORPUS_REPO} ({folder})")
    return "\n".join(p.read_text(encoding="utf-8", errors="replace").strip() for p in files) + "\n"


def _blimp_pairs(folder):
    files = sorted(folder.glob("*/train-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files in the copy of {BLIMP_REPO} ({folder})")
    frames = []
    for f in files:
        frame = pd.read_parquet(f, columns=["sentence_good", "sentence_bad"])
        frame["paradigm"] = f.parent.name
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_task_files(ctx, corpus, pairs):
    """Write the visible and hidden parts (also used by the tests).

    ``pairs`` has the columns sentence_good, sentence_bad, paradigm.
    """
    rng = np.random.RandomState(SEED)
    picked = []
    for paradigm in sorted(pairs["paradigm"].unique()):
        group = pairs[pairs["paradigm"] == paradigm]
        picked.append(group.sample(n=min(len(group), PAIRS_PER_PARADIGM), random_state=rng))
    sample = pd.concat(picked, ignore_index=True)
    good_first = rng.rand(len(sample)) < 0.5
    ids = np.arange(len(sample))
    visible = pd.DataFrame({
        "id": ids, "paradigm": sample["paradigm"],
        "sentence_a": np.where(good_first, sample["sentence_good"], sample["sentence_bad"]),
        "sentence_b": np.where(good_first, sample["sentence_bad"], sample["sentence_good"])})
    (ctx.data_dir / "train.txt").write_text(corpus, encoding="utf-8")
    visible.to_csv(ctx.data_dir / "blimp_pairs.csv", index=False)
    pd.DataFrame({"id": ids, "logprob_a": 0.0, "logprob_b": 0.0}).to_csv(
        ctx.data_dir / "sample_submission.csv", index=False)
    pd.DataFrame({"id": ids, "paradigm": sample["paradigm"], "good": np.where(good_first, "a", "b")}).to_csv(
        ctx.answers / "pair_labels.csv", index=False)


def prepare(ctx):
    corpus = _corpus_text(ctx.hf_dataset_files(CORPUS_REPO, [CORPUS_FILES]))
    pairs = _blimp_pairs(ctx.hf_dataset_files(BLIMP_REPO, ["*/train-*.parquet"]))
    write_task_files(ctx, corpus, pairs)
