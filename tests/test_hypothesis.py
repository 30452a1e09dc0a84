"""The IdeaAgent's hypothesis judged on graded trials: idea -> three scripted runs -> verdict."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import idea_answers as A
from mlr_copilot.agents.idea import generate_idea
from mlr_copilot.agents.idea_output import load_idea
from mlr_copilot.cli import main
from mlr_copilot.evaluation import evaluate_runs
from mlr_copilot.hypothesis import (Criterion, criterion_of, evaluate_hypotheses, judge, judge_pipeline_run,
                                    parse_criterion)
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.tasks import discover_tasks
from test_claims import make_project, scripted_run, step


def idea_then_trials(root, scores):
    (root / "paper.txt").write_text("Shifted Digits\n\nAbstract\nShifts help tiny images.\n\n1 Introduction\n"
                                    "Digits move by a pixel.\n")
    generate_idea(str(root / "paper.txt"), "toy", Models.single(ScriptedLLM(A.full_run())),
                  problems_dir=root / "problems", workspaces_dir=root / "workspaces", run_dir=root / "idea_run",
                  online=False, force=True)
    for score in scores:
        scripted_run(root, [step("Execute Script", {"script_name": "improved.py", "arguments": f"--score {score}"}),
                            step("Final Answer", {"final_answer": f"Accuracy {score}."})])
    return evaluate_runs([root / "logs"], discover_tasks(root))


def test_three_trials_support_the_hypothesis_with_mean_and_spread(tmp_path, capsys):
    root = make_project(tmp_path)
    evals = idea_then_trials(root, [0.90, 0.91, 0.92])
    assert sorted(e["score"] for e in evals) == [0.90, 0.91, 0.92]
    (result,) = evaluate_hypotheses(evals, root)
    assert result["criterion"]["kind"] == "points" and result["criterion"]["threshold"] == 1.0
    assert result["criterion"]["source"] == "hypothesis"  # "raises test accuracy by at least one point"
    assert (result["verdict"], result["trials"], result["baseline"]) == ("supported", 3, 0.85)
    assert result["mean"] == pytest.approx(0.91) and result["std"] == pytest.approx(0.01)
    saved = json.loads((root / "problems" / "toy.idea.json").read_text())
    assert [r["verdict"] for r in saved["results"]] == ["supported"] and len(saved["results"][0]["run_dirs"]) == 3
    assert load_idea(root / "problems" / "toy.idea.json").results[0]["mean"] == pytest.approx(0.91)
    # eval of the same runs prints the verdict and replaces (not repeats) the entry
    assert main(["eval", str(root / "logs"), "--root", str(root)]) == 0
    assert "Hypothesis of toy: supported" in capsys.readouterr().out
    assert len(json.loads((root / "problems" / "toy.idea.json").read_text())["results"]) == 1
    # what `pipeline` prints after its run: the run is graded, the earlier trials' eval.json reused
    latest = max(e["run_dir"] for e in evals)
    (line,) = judge_pipeline_run(Path(latest), root)
    assert line.startswith("Hypothesis of toy: supported") and "mean 0.91 ± 0.01 over 3 trial(s)" in line


def test_trials_below_the_criterion_refute_it(tmp_path):
    root = make_project(tmp_path)
    (result,) = evaluate_hypotheses(idea_then_trials(root, [0.850, 0.851, 0.852]), root)
    assert result["verdict"] == "refuted" and result["mean"] == pytest.approx(0.851)


def test_a_hand_written_problem_gets_no_hypothesis_verdict(tmp_path):
    root = make_project(tmp_path)
    scripted_run(root, [step("Final Answer", {"final_answer": "Nothing."})])
    assert evaluate_hypotheses(evaluate_runs([root / "logs"], discover_tasks(root)), root) == []


@pytest.mark.parametrize("text, kind, threshold", [
    ("accuracy improves by at least 2 points over the baseline", "points", 2.0),
    ("it raises accuracy by at least one point", "points", 1.0),
    ("RMSE drops by 5%", "relative", 5.0),
    ("reduce RMSE by at least 0.4", "absolute", 0.4),
    ("reach an accuracy of at least 0.95", "reach", 0.95),
    ("it outperforms the baseline", "improve", None),
])
def test_criteria_are_read(text, kind, threshold):
    c = parse_criterion(text)
    assert (c.kind, c.threshold) == (kind, threshold)


def test_the_plan_criterion_comes_first_and_the_default_last():
    idea = {"selected": 0, "candidates": [{"index": 0, "hypothesis": {"hypothesis": "X helps."},
                                           "plan": {"acceptance_criterion": "accuracy reaches at least 0.9"}}]}
    assert criterion_of(idea).kind == "reach"
    idea["candidates"][0]["plan"] = {}
    assert (criterion_of(idea).kind, criterion_of(idea).source) == ("improve", "default")


def test_spread_across_the_threshold_is_inconclusive_and_lower_is_better_is_followed():
    points = Criterion("by at least 2 points", "points", 2.0, "plan")
    assert judge(points, [0.86, 0.87, 0.90], 0.85, "higher")["verdict"] == "inconclusive"
    assert judge(points, [], 0.85, "higher")["verdict"] == "inconclusive"
    rmse = Criterion("RMSE drops by 5%", "relative", 5.0, "plan")
    assert judge(rmse, [40.0, 41.0], 50.0, "lower")["verdict"] == "supported"
    assert judge(rmse, [49.0], 50.0, "lower")["verdict"] == "refuted"
    assert judge(rmse, [40.0], None, "lower")["verdict"] == "inconclusive"
