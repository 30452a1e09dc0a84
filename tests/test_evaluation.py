"""Grading finished runs: eval.json per run, invalid submissions, all steps, summaries."""
from __future__ import annotations

import csv
import json
import os

import pytest

from mlr_copilot.eval_cmd import evaluate_cli
from mlr_copilot.evaluation import (evaluate_run, find_run_dirs, improvement, summarize,
                                    write_summary)
from mlr_copilot.tasks import discover_tasks
from task_helpers import IMPROVED, make_run, prepared_root


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Prepared tasks plus a log folder with four runs of three tasks by two LLMs."""
    root = prepared_root(tmp_path_factory)
    tasks = discover_tasks(root)
    logs = tmp_path_factory.mktemp("logs")
    starter = (tasks["wine"].workspace_path / "train.py").read_text()
    runs = {
        "digits": make_run(logs, tasks["digits"], steps=[IMPROVED["digits"]]),
        "wine": make_run(logs, tasks["wine"], steps=[IMPROVED["wine"]]),
        "diabetes": make_run(logs, tasks["diabetes"], llm="other", steps=[IMPROVED["diabetes"]]),
        # Runs the starter, then a better model, then deletes the submission, and never answers.
        "wine_deleted": make_run(logs, tasks["wine"], name="2024-01-02T00-00-00", llm="other",
                                 status="step_limit", final_answer=None,
                                 steps=[starter, IMPROVED["wine"], None]),
    }
    return root, tasks, logs, runs


@pytest.mark.parametrize("name", ["digits", "wine", "diabetes"])
def test_a_run_that_improves_the_model_is_a_success(world, name):
    _, tasks, _, runs = world
    result = evaluate_run(runs[name], tasks)
    assert result["valid"], result["reason"]
    assert result["success"] is True and result["improvement_pct"] > 10
    if tasks[name].direction == "lower":  # RMSE went down, and that counts as improvement
        assert result["score"] < result["baseline"] and result["improvement"] > 0
    assert result["final_answer_given"] is True and result["final_answer"].startswith("Done")
    assert (result["steps"], result["tokens"], result["cost_usd"], result["wall_time_s"]) == (1, 1200, 0.25, 12.5)
    on_disk = json.loads((runs[name] / "eval.json").read_text())
    assert on_disk["score"] == result["score"] and on_disk["success"] is True


def test_deleted_submission_is_invalid_and_all_steps_show_the_history(world):
    _, tasks, _, runs = world
    result = evaluate_run(runs["wine_deleted"], tasks, all_steps=True)
    assert not result["valid"] and result["score"] is None
    assert "submission.csv not found" in result["reason"]
    assert result["success"] is False and result["final_answer_given"] is False
    by_step = {s["step"]: s for s in result["step_scores"]}
    assert sorted(by_step) == [0, 1, 2, 3]
    assert not by_step[0]["valid"] and not by_step[3]["valid"]
    assert by_step[1]["score"] == pytest.approx(tasks["wine"].baseline)
    assert by_step[2]["score"] > by_step[1]["score"]
    assert result["best_step"] == 2 and result["best_score"] == by_step[2]["score"]


def test_answers_never_reach_the_workspace_or_its_snapshots(world):
    _, tasks, _, runs = world
    answers = {p.read_bytes() for p in tasks["wine"].answers_dir.glob("*.csv")}
    run = runs["wine_deleted"]
    for folder in (run / "workspace", run / "env_log"):
        for p in folder.rglob("*"):
            if p.is_file():
                assert p.read_bytes() not in answers, p


def _submission_run(world, task_name, name, write):
    """A run whose final workspace holds a submission written by ``write(workspace, task)``."""
    _, tasks, logs, _ = world
    run = make_run(logs.parent / f"{logs.name}-extra", tasks[task_name], name=name)
    write(run / "workspace", tasks[task_name])
    return evaluate_run(run, tasks)


@pytest.mark.parametrize("content, reason", [
    (b"\x00\xff\xfe garbage \x00", "not a readable CSV"),
    (b"", "is empty"),
    (b"id,0,1\n", "lacks the column"),
    (b"just some words\n", "lacks the column"),
])
def test_corrupt_submissions_are_invalid_with_a_reason(world, content, reason):
    def write(ws, task):
        (ws / "submission.csv").write_bytes(content)

    result = _submission_run(world, "digits", f"corrupt-{abs(hash(content))}", write)
    assert not result["valid"] and reason in result["reason"]
    assert result["success"] is False and result["score"] is None


def test_wrongly_shaped_submissions_are_invalid(world):
    def half(ws, task):
        rows = (ws / "data" / "sample_submission.csv").read_text().splitlines()
        (ws / "submission.csv").write_text("\n".join(rows[: len(rows) // 2]) + "\n")

    result = _submission_run(world, "digits", "half", half)
    assert not result["valid"] and "test ids are missing" in result["reason"]

    def repeated(ws, task):
        rows = (ws / "data" / "sample_submission.csv").read_text().splitlines()
        (ws / "submission.csv").write_text("\n".join(rows + rows[1:3]) + "\n")

    result = _submission_run(world, "digits", "repeated", repeated)
    assert not result["valid"] and "repeats the id" in result["reason"]

    def nan_values(ws, task):
        text = (ws / "data" / "sample_submission.csv").read_text().replace("0.1", "nan", 3)
        (ws / "submission.csv").write_text(text)

    result = _submission_run(world, "digits", "nan", nan_values)
    assert not result["valid"] and "not finite numbers" in result["reason"]

    def regression_words(ws, task):
        text = (ws / "data" / "sample_submission.csv").read_text().splitlines()
        (ws / "submission.csv").write_text("\n".join([text[0]] + [l.split(",")[0] + ",high" for l in text[1:]]))

    result = _submission_run(world, "diabetes", "words", regression_words)
    assert not result["valid"] and "not finite numbers" in result["reason"]


def test_the_sample_submission_is_valid_but_no_success(world):
    def sample(ws, task):
        (ws / "submission.csv").write_bytes((ws / "data" / "sample_submission.csv").read_bytes())

    result = _submission_run(world, "diabetes", "sample", sample)
    assert result["valid"] and result["success"] is False and result["improvement_pct"] < 10


def test_a_link_to_the_answers_is_refused(world):
    def link(ws, task):
        os.symlink(task.answers_dir / "test_targets.csv", ws / "submission.csv")

    result = _submission_run(world, "diabetes", "link", link)
    assert not result["valid"] and "symbolic link" in result["reason"]


def test_runs_without_or_with_broken_run_json_are_still_graded(world, tmp_path):
    _, tasks, _, _ = world
    run = make_run(tmp_path, tasks["digits"], run_json=False)
    result = evaluate_run(run, tasks)
    assert result["task"] == "digits" and "run.json is missing" in result["notes"]
    assert not result["valid"] and result["steps"] is None and result["final_answer_given"] is False

    (run / "run.json").write_text('{"task": "digits", "totals": ')
    result = evaluate_run(run, tasks)
    assert any("unreadable" in n for n in result["notes"])


def test_unknown_task_and_ungraded_task(world, tmp_path):
    _, tasks, _, runs = world
    run = make_run(tmp_path, tasks["wine"])
    info = json.loads((run / "run.json").read_text())
    info["task"] = "vanished"
    (run / "run.json").write_text(json.dumps(info))
    result = evaluate_run(run, tasks)
    assert not result["valid"] and "unknown task 'vanished'" in result["reason"] and result["success"] is None

    # A task without a grader: the run is recorded, not judged.
    from dataclasses import replace
    ungraded = {"wine": replace(tasks["wine"], definition_dir=None, metric=None, baseline=None)}
    result = evaluate_run(runs["wine"], ungraded, write=False)
    assert result["graded"] is False and result["success"] is None and "no grader" in result["reason"]


def test_improvement_is_sign_aware():
    assert improvement(0.9, 0.75, "higher") == (pytest.approx(0.15), pytest.approx(20.0))
    assert improvement(60.0, 80.0, "lower") == (pytest.approx(20.0), pytest.approx(25.0))
    assert improvement(90.0, 80.0, "lower")[1] == pytest.approx(-12.5)
    assert improvement(0.5, 0.0, "higher") == (0.5, None)
    assert improvement(None, 0.5, "higher") == (None, None)


def test_summary_table_csv_and_plot(world, tmp_path):
    _, tasks, logs, _ = world
    runs = find_run_dirs([logs])
    assert len(runs) >= 4 and all((r / "run.json").exists() for r in runs)
    evals = [evaluate_run(r, tasks, all_steps=True) for r in runs]
    rows = {(r["task"], r["llm"]): r for r in summarize(evals)}
    assert rows[("digits", "scripted")]["success_rate"] == 100.0
    wine_other = rows[("wine", "other")]
    assert wine_other["runs"] == 1 and wine_other["success_rate"] == 0.0 and wine_other["valid"] == 0
    assert rows[("diabetes", "other")]["mean_improvement_pct"] > 10

    paths = write_summary(evals, tmp_path / "summary")
    md = paths["markdown"].read_text()
    assert md.startswith("| task | llm | runs |") and "| digits | scripted |" in md
    with open(paths["csv"], newline="") as f:
        table = list(csv.DictReader(f))
    assert {(r["task"], r["llm"]) for r in table} == set(rows)
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["plot"].stat().st_size > 5000
    assert len(json.loads(paths["runs"].read_text())) == len(evals)


def test_eval_command_prints_each_run_and_writes_the_summary(world, tmp_path, capsys):
    root, _, logs, runs = world
    out = tmp_path / "out"
    assert evaluate_cli([logs], root=root, out=out) == 0
    printed = capsys.readouterr().out
    assert str(runs["digits"]) in printed and "success" in printed and "invalid (submission.csv not found" in printed
    assert (out / "summary.md").exists() and (out / "summary.csv").exists() and (out / "scores.png").exists()

    assert evaluate_cli([runs["wine"]], root=root) == 0  # one run: its eval.json, no summary
    assert "summary" not in capsys.readouterr().out.lower()
    assert evaluate_cli([tmp_path / "empty"], root=root) == 1
