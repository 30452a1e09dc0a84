"""The offline tasks: discovery, deterministic prepare, hidden answers, stable baselines."""
from __future__ import annotations

import hashlib
import json
import time

import pytest

from mlr_copilot.errors import ConfigError
from mlr_copilot.task_baseline import run_baseline
from mlr_copilot.tasks import discover_tasks, find_task
from task_helpers import OFFLINE_TASKS, REPO, SEED_TASKS, copy_task_tree, prepared_root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return prepared_root(tmp_path_factory)


def _digest_tree(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_discovery_lists_every_task_with_its_metric(root):
    tasks = discover_tasks(root)
    assert set(OFFLINE_TASKS + SEED_TASKS) <= set(tasks)
    assert (tasks["digits"].metric, tasks["digits"].direction) == ("accuracy", "higher")
    assert (tasks["diabetes"].metric, tasks["diabetes"].direction) == ("rmse", "lower")
    assert (tasks["feedback"].metric, tasks["feedback"].direction) == ("mcrmse", "lower")
    for t in tasks.values():
        assert t.gradable and t.read_only == ("data/*",)
        assert "submission.csv" in t.problem_text()


def test_unknown_task_names_the_known_ones(root):
    with pytest.raises(ConfigError, match="known tasks: .*digits"):
        find_task(root, "nope")


def test_task_without_grader_still_loads_but_is_not_scored(tmp_path):
    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "mine.txt").write_text("Make it better.")
    (tmp_path / "workspaces" / "mine").mkdir(parents=True)
    task = discover_tasks(tmp_path)["mine"]
    assert not task.gradable and task.metric is None and task.is_prepared()
    grade = task.grade(task.workspace_path)
    assert not grade.valid and "no grader" in grade.reason
    assert not run_baseline(task).valid


def test_bad_task_json_is_reported(tmp_path):
    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "x").write_text("p")
    (tmp_path / "tasks" / "x").mkdir(parents=True)
    (tmp_path / "tasks" / "x" / "task.json").write_text('{"metric": "acc", "direction": "up"}')
    assert discover_tasks(tmp_path) == {}  # left out of the list, not a crash
    with pytest.raises(ConfigError, match="direction must be 'higher' or 'lower'"):
        find_task(tmp_path, "x")
    with pytest.raises(ConfigError, match="invalid task name"):
        find_task(tmp_path, "../x")


@pytest.mark.parametrize("name", OFFLINE_TASKS)
def test_prepare_is_deterministic_and_keeps_answers_out_of_the_workspace(root, tmp_path, name):
    task = find_task(root, name)
    first = _digest_tree(task.workspace_path / "data"), _digest_tree(task.answers_dir)
    again = copy_task_tree(tmp_path / "again")
    other = find_task(again, name)
    assert other.prepare(online=False).ready
    assert (_digest_tree(other.workspace_path / "data"), _digest_tree(other.answers_dir))[0] == first[0]
    assert {k: v for k, v in _digest_tree(other.answers_dir).items() if not k.startswith(".prepared")} == \
        {k: v for k, v in first[1].items() if not k.startswith(".prepared")}

    # The answers live outside the workspace, and no workspace file holds them.
    assert not task.answers_dir.resolve().is_relative_to(task.workspace_path.resolve())
    answer_files = [p for p in task.answers_dir.glob("*.csv")]
    assert answer_files
    answer_bytes = {p.read_bytes() for p in answer_files}
    for p in task.workspace_path.rglob("*"):
        if p.is_file():
            assert p.read_bytes() not in answer_bytes
    header = (task.workspace_path / "data" / "test.csv").read_text().splitlines()[0].split(",")
    target = {"digits": "label", "wine": "cultivar", "diabetes": "progression"}[name]
    assert target not in header
    # A second prepare is a no-op.
    assert task.prepare(online=False).skipped


@pytest.mark.parametrize("name", OFFLINE_TASKS)
def test_baseline_reproduces_the_committed_score(root, name):
    task = find_task(root, name)
    committed = json.loads((REPO / "tasks" / name / "baseline.json").read_text())
    task.baseline_path.unlink()
    started = time.monotonic()
    grade = run_baseline(task)
    assert time.monotonic() - started < 300  # a hang guard, not a speed check
    assert grade.valid, grade.reason
    assert grade.score == pytest.approx(committed["score"], rel=1e-9), \
        f"{name}: baseline {grade.score} differs from tasks/{name}/baseline.json; re-record with `mlr-copilot baseline {name}`"
    recorded = json.loads(task.baseline_path.read_text())
    assert recorded["score"] == grade.score and recorded["metric"] == task.metric
    assert recorded["direction"] == task.direction
    assert find_task(root, name).baseline == grade.score


def test_baseline_of_a_broken_starter_is_invalid_with_the_error(tmp_path):
    root = copy_task_tree(tmp_path / "root")
    task = find_task(root, "diabetes")
    (task.workspace_path / "train.py").write_text("raise SystemExit('no model today')\n")
    grade = run_baseline(task, record=False)
    assert not grade.valid and "exited with status 1" in grade.reason and "no model today" in grade.reason


def test_idea_json_beside_a_problem_is_not_a_task(tmp_path):
    from mlr_copilot.tasks import discover_tasks
    from task_helpers import copy_task_tree

    root = copy_task_tree(tmp_path / "project")
    (root / "problems" / "digits.idea.json").write_text("{}")
    assert "digits.idea.json" not in discover_tasks(root)
    assert "digits" in discover_tasks(root)
