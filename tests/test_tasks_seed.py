"""The seed tasks of MLR-Copilot (cifar10, imdb, feedback, babylm) without their real data.

Offline with an empty cache, prepare says what is missing. With small synthetic data in the
published formats, prepare builds the task, the starter script runs, and the grader scores.
"""
from __future__ import annotations

import importlib.util
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from mlr_copilot.tasks import PrepareContext, find_task
from task_helpers import SEED_TASKS, copy_task_tree, run_script


@pytest.fixture
def env(tmp_path):
    root = copy_task_tree(tmp_path / "root")
    return root, tmp_path / "cache", tmp_path / "hf"


def _module(task, name):
    spec = importlib.util.spec_from_file_location(f"test_{task.name}_{name}", task.definition_dir / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _context(task, cache):
    return PrepareContext(task.name, task.workspace_path, task.answers_dir, cache, online=False)


def _fresh_copy(task, tmp_path):
    ws = tmp_path / f"ws_{task.name}"
    shutil.copytree(task.workspace_path, ws)
    return ws


@pytest.mark.parametrize("name", SEED_TASKS)
def test_offline_prepare_without_data_says_what_is_missing(env, name):
    root, cache, hf = env
    task = find_task(root, name)
    result = task.prepare(online=False, cache=cache, hf_cache=hf)
    assert not result.ready and not task.is_prepared()
    expected = {"cifar10": "cifar-10-python.tar.gz", "imdb": "stanfordnlp/imdb",
                "feedback": "feedback-prize-english-language-learning", "babylm": "cambridge-climb/BabyLM"}[name]
    assert expected in result.message, result.message
    assert "--online" in result.message or "kaggle" in result.message.lower()
    grade = task.grade(task.workspace_path)
    assert not grade.valid and "not prepared" in grade.reason


# --- cifar10 ---------------------------------------------------------------------------

def _fake_cifar_folder(folder, per_batch=20):
    rng = np.random.RandomState(0)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.randint(0, 256, size=(per_batch, 3072), dtype=np.uint8),
                 b"labels": [int(x) for x in rng.randint(0, 10, size=per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def _one_hot_submission(ws, ids, labels, classes, id_column="id"):
    probs = np.zeros((len(ids), len(classes)))
    probs[np.arange(len(ids)), [classes.index(str(x)) for x in labels]] = 1.0
    sub = pd.DataFrame(probs, columns=classes)
    sub.insert(0, id_column, ids)
    sub.sample(frac=1.0, random_state=1).to_csv(ws / "submission.csv", index=False)  # row order is free


def test_cifar10_from_an_extracted_copy(env, tmp_path):
    root, cache, hf = env
    _fake_cifar_folder(cache / "cifar10" / "cifar-10-batches-py")
    task = find_task(root, "cifar10")
    result = task.prepare(online=False, cache=cache, hf_cache=hf)
    assert result.ready, result.message
    train, test = np.load(task.workspace_path / "data" / "train.npz"), np.load(task.workspace_path / "data" / "test.npz")
    assert train["images"].shape == (100, 32, 32, 3) and train["labels"].shape == (100,)
    assert set(test.files) == {"images", "ids"}  # no labels in the workspace
    truth = pd.read_csv(task.answers_dir / "test_labels.csv")
    ws = _fresh_copy(task, tmp_path)
    _one_hot_submission(ws, truth["id"], truth["label"], [str(c) for c in range(10)])
    assert task.grade(ws).score == 1.0


@pytest.mark.slow
def test_cifar10_starter_trains_and_writes_a_valid_submission(env, tmp_path):
    pytest.importorskip("torch")
    root, cache, hf = env
    _fake_cifar_folder(cache / "cifar10" / "cifar-10-batches-py")
    task = find_task(root, "cifar10")
    assert task.prepare(online=False, cache=cache, hf_cache=hf).ready
    ws = _fresh_copy(task, tmp_path)
    run_script(ws, (ws / "train.py").read_text(), timeout=300)
    grade = task.grade(ws)
    assert grade.valid and 0.0 <= grade.score <= 1.0


# --- feedback -----------------------------------------------------------------------------

MEASURES = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]


def _fake_essays(n=60):
    rng = np.random.RandomState(0)
    words = ["school", "students", "should", "because", "think", "important", "the", "a", "and", "online"]
    rows = []
    for i in range(n):
        text = ". ".join(" ".join(rng.choice(words, size=rng.randint(5, 15))) for _ in range(rng.randint(2, 8)))
        rows.append({"text_id": f"{i:04X}E{i}", "full_text": text,
                     **{m: float(rng.randint(2, 11)) / 2 for m in MEASURES}})
    return pd.DataFrame(rows)


def test_feedback_from_the_kaggle_file_placed_by_hand(env, tmp_path):
    root, cache, hf = env
    (cache / "feedback").mkdir(parents=True)
    _fake_essays().to_csv(cache / "feedback" / "train.csv", index=False)
    task = find_task(root, "feedback")
    result = task.prepare(online=False, cache=cache, hf_cache=hf)
    assert result.ready, result.message
    test = pd.read_csv(task.workspace_path / "data" / "test.csv")
    assert list(test.columns) == ["text_id", "full_text"] and len(test) == 12

    ws = _fresh_copy(task, tmp_path)
    run_script(ws, (ws / "train.py").read_text())
    grade = task.grade(ws)
    assert grade.valid and grade.score > 0

    truth = pd.read_csv(task.answers_dir / "test_scores.csv")
    truth.to_csv(ws / "submission.csv", index=False)
    assert task.grade(ws).score == 0.0
    truth.drop(columns=["grammar"]).to_csv(ws / "submission.csv", index=False)
    bad = task.grade(ws)
    assert not bad.valid and "grammar" in bad.reason


def test_feedback_file_with_other_columns_is_refused_clearly(env):
    root, cache, hf = env
    (cache / "feedback").mkdir(parents=True)
    pd.DataFrame({"essay": ["x"], "score": [3]}).to_csv(cache / "feedback" / "train.csv", index=False)
    result = find_task(root, "feedback").prepare(online=False, cache=cache, hf_cache=hf)
    assert not result.ready and "lacks the columns" in result.message


# --- imdb ---------------------------------------------------------------------------------

def _fake_reviews(n, seed):
    rng = np.random.RandomState(seed)
    pos, neg = ["great", "wonderful", "loved", "superb"], ["awful", "boring", "hated", "dull"]
    filler = ["the", "movie", "plot", "actors", "was", "and"]
    labels = rng.randint(0, 2, size=n)
    texts = [" ".join(rng.choice(filler + (pos if y else neg), size=20)) for y in labels]
    return pd.DataFrame({"text": texts, "label": labels})


def test_imdb_task_files_starter_and_grader(env, tmp_path):
    root, cache, _ = env
    task = find_task(root, "imdb")
    _module(task, "prepare").write_task_files(_context(task, cache), _fake_reviews(300, 0), _fake_reviews(100, 1))
    task.record_prepared()
    assert "label" not in pd.read_csv(task.workspace_path / "data" / "test.csv").columns

    ws = _fresh_copy(task, tmp_path)
    run_script(ws, (ws / "train.py").read_text())
    grade = task.grade(ws)
    assert grade.valid and grade.score > 0.9

    truth = pd.read_csv(task.answers_dir / "test_labels.csv")
    _one_hot_submission(ws, truth["id"], 1 - truth["label"], ["0", "1"])
    assert task.grade(ws).score == 0.0


def test_imdb_prepare_reads_the_cached_hugging_face_copy(env):
    pytest.importorskip("pyarrow")
    pytest.importorskip("huggingface_hub")
    root, cache, hf = env
    snap = _fake_hf_cache(hf, "stanfordnlp/imdb")
    (snap / "plain_text").mkdir(parents=True)
    _fake_reviews(40, 0).to_parquet(snap / "plain_text" / "train-00000-of-00001.parquet")
    _fake_reviews(30, 1).to_parquet(snap / "plain_text" / "test-00000-of-00001.parquet")
    task = find_task(root, "imdb")
    result = task.prepare(online=False, cache=cache, hf_cache=hf)
    assert result.ready, result.message
    assert len(pd.read_csv(task.answers_dir / "test_labels.csv")) == 30


def _fake_hf_cache(hf, repo_id, commit="a" * 40):
    """The folder layout huggingface_hub keeps for a downloaded dataset snapshot."""
    repo = hf / ("datasets--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    return snap


# --- babylm -------------------------------------------------------------------------------

def _fake_pairs():
    rows = []
    for paradigm in ("agreement", "island"):
        for i in range(150):
            rows.append({"sentence_good": f"the cat sees the dog {i} .", "sentence_bad": f"the cat see the dog {i} .",
                         "paradigm": paradigm})
    return pd.DataFrame(rows)


def test_babylm_task_files_starter_and_grader(env, tmp_path):
    root, cache, _ = env
    task = find_task(root, "babylm")
    corpus = "the cat sees the dog .\nthe dogs see the cat .\n" * 200
    _module(task, "prepare").write_task_files(_context(task, cache), corpus, _fake_pairs())
    task.record_prepared()
    visible = pd.read_csv(task.workspace_path / "data" / "blimp_pairs.csv")
    assert len(visible) == 200 and "good" not in visible.columns
    labels = pd.read_csv(task.answers_dir / "pair_labels.csv")
    assert 0.3 < (labels["good"] == "a").mean() < 0.7  # the grammatical sentence is not always first

    ws = _fresh_copy(task, tmp_path)
    run_script(ws, (ws / "train.py").read_text())
    grade = task.grade(ws)
    assert grade.valid and grade.score > 0.9  # "sees" follows "cat" in the corpus, "see" does not

    pd.DataFrame({"id": labels["id"], "logprob_a": -5.0, "logprob_b": -5.0}).to_csv(ws / "submission.csv", index=False)
    assert task.grade(ws).score == 0.0  # ties count as wrong


def test_babylm_prepare_reads_the_cached_hugging_face_copies(env):
    pytest.importorskip("pyarrow")
    pytest.importorskip("huggingface_hub")
    root, cache, hf = env
    corpus = _fake_hf_cache(hf, "cambridge-climb/BabyLM") / "clean" / "10M"
    corpus.mkdir(parents=True)
    (corpus / "childes.train").write_text("the cat sees the dog .\n")
    blimp = _fake_hf_cache(hf, "nyu-mll/blimp")
    for paradigm, frame in _fake_pairs().groupby("paradigm"):
        (blimp / paradigm).mkdir()
        frame.drop(columns=["paradigm"]).to_parquet(blimp / paradigm / "train-00000-of-00001.parquet")
    task = find_task(root, "babylm")
    result = task.prepare(online=False, cache=cache, hf_cache=hf)
    assert result.ready, result.message
    assert (task.workspace_path / "data" / "train.txt").read_text().startswith("the cat sees")
    assert len(pd.read_csv(task.answers_dir / "pair_labels.csv")) == 200
