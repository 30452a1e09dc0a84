"""The check that a node's test predictions look like the training targets (prediction_check),
on small task folders written here, and in a tree run whose best-scoring node is broken."""
import json

import numpy as np
import pandas as pd

from mlr_copilot.agents.prediction_check import prediction_problem
from mlr_copilot.agents.runner import run_experiment
from mlr_copilot.feedback import NoFeedback

from tree_helpers import answer, models, options


def regression_task(ws, rng):
    (ws / "data").mkdir(parents=True)
    train = pd.DataFrame({"id": range(200), "x": rng.normal(size=200)})
    train["y"] = 150 + 70 * train["x"] + rng.normal(scale=10, size=200)
    test = pd.DataFrame({"id": range(200, 260), "x": rng.normal(size=60)})
    train.to_csv(ws / "data" / "train.csv", index=False)
    test.to_csv(ws / "data" / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "y": 0.0}).to_csv(ws / "data" / "sample_submission.csv", index=False)
    return test


def classification_task(ws, rng, labels=("a", "b", "c")):
    (ws / "data").mkdir(parents=True)
    y = rng.choice(labels, size=150)
    train = pd.DataFrame({"id": range(150), "f0": rng.integers(0, 3, size=150), "label": y})
    test = pd.DataFrame({"id": range(150, 200), "f0": rng.integers(0, 3, size=50)})
    train.to_csv(ws / "data" / "train.csv", index=False)
    test.to_csv(ws / "data" / "test.csv", index=False)
    return test


def test_regression_predictions_far_from_the_training_mean_are_named(tmp_path):
    rng = np.random.default_rng(0)
    test = regression_task(tmp_path, rng)
    good = pd.DataFrame({"id": test["id"], "y": 150 + 70 * test["x"]})
    good.to_csv(tmp_path / "submission.csv", index=False)
    assert prediction_problem(tmp_path, "submission.csv") is None
    good.assign(y=good["y"] + 50).to_csv(tmp_path / "submission.csv", index=False)  # scaled twice, say
    problem = prediction_problem(tmp_path, "submission.csv")
    assert problem and "mean predicted y" in problem and "data/train.csv" in problem
    assert "standard deviations apart" in problem


def test_probabilities_that_give_every_row_one_class_are_named(tmp_path):
    rng = np.random.default_rng(1)
    test = classification_task(tmp_path, rng)
    spread = rng.dirichlet([1, 1, 1], size=len(test))
    sub = pd.DataFrame(spread, columns=["a", "b", "c"]).assign(id=test["id"])[["id", "a", "b", "c"]]
    sub.to_csv(tmp_path / "submission.csv", index=False)
    assert prediction_problem(tmp_path, "submission.csv") is None
    sub.assign(a=0.98, b=0.01, c=0.01).to_csv(tmp_path / "submission.csv", index=False)
    problem = prediction_problem(tmp_path, "submission.csv")
    assert problem and "50 of 50 test rows (100%) get label a" in problem


def test_a_feature_whose_values_look_like_class_names_is_not_taken_for_the_target(tmp_path):
    # Digits: the pixel columns hold 0..16; the probability columns are named 0..9. The label
    # column is the one the test table lacks and whose values are exactly the column names.
    rng = np.random.default_rng(2)
    (tmp_path / "data").mkdir()
    pixel = lambda n: rng.choice([0, 1, 2], p=[0.9, 0.05, 0.05], size=n)  # mostly 0, as a border pixel
    train = pd.DataFrame({"id": range(300), "pixel": pixel(300), "label": rng.integers(0, 3, size=300)})
    test = pd.DataFrame({"id": range(300, 360), "pixel": pixel(60)})
    train.to_csv(tmp_path / "data" / "train.csv", index=False)
    test.to_csv(tmp_path / "data" / "test.csv", index=False)
    probs = np.eye(3)[rng.integers(0, 3, size=60)]  # classes as often as in the label column
    pd.DataFrame(probs, columns=["0", "1", "2"]).assign(id=test["id"])[["id", "0", "1", "2"]].to_csv(
        tmp_path / "submission.csv", index=False)
    assert prediction_problem(tmp_path, "submission.csv") is None


def test_label_submissions_are_compared_as_labels(tmp_path):
    rng = np.random.default_rng(3)
    test = classification_task(tmp_path, rng)
    pd.DataFrame({"id": test["id"], "label": rng.choice(["a", "b", "c"], size=len(test))}).to_csv(
        tmp_path / "submission.csv", index=False)
    assert prediction_problem(tmp_path, "submission.csv") is None
    pd.DataFrame({"id": test["id"], "label": "c"}).to_csv(tmp_path / "submission.csv", index=False)
    assert "get label c" in prediction_problem(tmp_path, "submission.csv")


def test_nothing_is_said_when_the_tables_cannot_be_matched(tmp_path):
    rng = np.random.default_rng(4)
    assert prediction_problem(tmp_path, "submission.csv") is None  # no submission
    test = regression_task(tmp_path, rng)
    (tmp_path / "submission.csv").write_bytes(b"\xff\xfe\x00garbage")
    assert prediction_problem(tmp_path, "submission.csv") is None  # unreadable
    pd.DataFrame({"id": test["id"][:10], "y": 0.0}).to_csv(tmp_path / "submission.csv", index=False)
    assert prediction_problem(tmp_path, "submission.csv") is None  # rows of no other table
    pd.DataFrame({"id": test["id"], "z": 0.0}).to_csv(tmp_path / "submission.csv", index=False)
    assert prediction_problem(tmp_path, "submission.csv") is None  # a column the training rows lack


NODE = """import pandas as pd
train = pd.read_csv('data/train.csv')
test = pd.read_csv('data/test.csv')
print('Validation rmse: {metric}')
pd.DataFrame({{'id': test['id'], 'y': 150 + 70 * test['x'] + {bias}}}).to_csv('submission.csv', index=False)
"""


def regression_project(root):
    (root / "problems").mkdir(parents=True)
    (root / "problems" / "toy").write_text("Predict y for data/test.csv; write submission.csv (id, y).\n")
    regression_task(root / "workspaces" / "toy", np.random.default_rng(5))
    (root / "workspaces" / "toy" / "train.py").write_text("print('Validation rmse: 99')\n")
    (root / "tasks" / "toy").mkdir(parents=True)
    (root / "tasks" / "toy" / "task.json").write_text(json.dumps(
        {"metric": "rmse", "direction": "lower", "script": "train.py", "read_only": ["data/*"]}))
    return root


def test_a_tree_node_with_broken_test_predictions_is_buggy_and_never_kept(tmp_path):
    root = regression_project(tmp_path)
    answers = [answer(NODE.format(metric=12, bias=0), "Plan: a fair model."),
               answer(NODE.format(metric=9, bias=60), "Plan: refit on unscaled data.")]
    result = run_experiment(options(root, max_steps=2, tree_drafts=2), models=models(answers),
                            feedback=NoFeedback())
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["tree"]["best_node"] == 1 and run["tree"]["best_metric"] == 12
    steps = [json.loads(line) for line in (result.run_dir / "agent_log" / "full_log.jsonl").open()]
    last = [r for r in steps if r.get("node")][-1]
    assert last["node"]["buggy"] is True and last["node"]["metric"] is None
    assert "PredictionError: validation rmse 9 was printed" in last["node"]["error"]
    assert "Pipeline" in last["node"]["error"]  # the debug prompt is told how to fix it
    assert "failed: PredictionError" in last["node"]["outcome"]
    sub = pd.read_csv(result.run_dir / "workspace" / "submission.csv")
    assert abs(sub["y"].mean() - 150) < 40  # the workspace holds node 1's predictions

    off = run_experiment(options(regression_project(tmp_path / "off"), max_steps=2, tree_drafts=2,
                                 tree_prediction_check=False), models=models(answers), feedback=NoFeedback())
    assert json.loads((off.run_dir / "run.json").read_text())["tree"]["best_node"] == 2
