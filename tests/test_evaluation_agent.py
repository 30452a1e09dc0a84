"""The real agent loop on an offline task, driven by a scripted LLM, then graded by `eval`.

Everything but the model is real: the task's prepared workspace is copied into the run, the
starter and the edited scripts run through the Environment, snapshots are taken per step,
and evaluation grades the final workspace and every snapshot against the hidden answers.
"""
from __future__ import annotations

import json
import sys

import pytest

from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.evaluation import evaluate_run
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.tasks import discover_tasks
from task_helpers import IMPROVED, prepared_root

SANDBOX = "auto"  # bubblewrap where it works (no network, workspace-only writes), else plain processes


def step(thought, action, args):
    return (f"Reflection: ok\nResearch Plan and Status: 1. baseline 2. better model\nFact Check: none\n"
            f"Thought: {thought}\nAction: {action}\nAction Input: {json.dumps(args)}")


def run_scripted(root, task, new_code, answer="Replaced the model; see submission.csv."):
    main = [
        step("measure the baseline", "Execute Script", {"script_name": "train.py"}),
        step("try a better model", "Edit Script (AI)", {"script_name": "train.py", "save_name": "train.py",
                                                        "edit_instruction": "use a better model"}),
        step("run it", "Execute Script", {"script_name": "train.py"}),
        step("done", "Final Answer", {"final_answer": answer}),
    ]
    models = Models(main=ScriptedLLM(main, model="main"),
                    fast=ScriptedLLM(["Entry: did the step."], model="fast", repeat_last=True),
                    edit=ScriptedLLM([f"```python\n{new_code}```"], model="edit"))
    opts = RunOptions(task=task, root=str(root), log_root=str(root / "logs"), sandbox=SANDBOX, feedback="none",
                      python=(sys.executable, "-u"), script_timeout_s=120)
    return run_experiment(opts, models=models, feedback=NoFeedback())


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return prepared_root(tmp_path_factory, tasks=("wine",))


def test_scripted_run_that_improves_the_model_is_graded_success(root):
    result = run_scripted(root, "wine", IMPROVED["wine"])
    assert result.status == "final_answer", result.message
    tasks = discover_tasks(root)
    ev = evaluate_run(result.run_dir, tasks, all_steps=True)
    assert ev["valid"] and ev["success"] is True and ev["improvement_pct"] > 10, ev
    assert ev["final_answer_given"] is True and ev["llm"] == "local"
    assert ev["steps"] == 4 and ev["tokens"] > 0
    scores = {s["step"]: s for s in ev["step_scores"]}
    assert not scores[0]["valid"]  # the starter workspace has no submission yet
    assert scores[1]["score"] == pytest.approx(tasks["wine"].baseline)
    assert scores[3]["score"] == ev["score"] and ev["best_step"] in (3, 4)
    # The hidden answers are nowhere in the run: not in the workspace, not in the snapshots.
    answers = (tasks["wine"].answers_dir / "test_labels.csv").read_bytes()
    for p in result.run_dir.rglob("*"):
        if p.is_file():
            assert p.read_bytes() != answers, p


@pytest.mark.slow
def test_scripted_run_that_breaks_the_submission_is_graded_invalid(root):
    breaker = 'open("submission.csv", "w").write("id,0,1,2\\n0,oops\\n")\nprint("wrote a broken submission")\n'
    result = run_scripted(root, "wine", breaker, answer="I am sure it is better now.")
    assert result.status == "final_answer", result.message
    ev = evaluate_run(result.run_dir, discover_tasks(root))
    assert not ev["valid"] and ev["success"] is False and ev["score"] is None
    assert "submission.csv" in ev["reason"], ev["reason"]
    assert ev["final_answer_given"]  # a final answer does not make a broken submission count
