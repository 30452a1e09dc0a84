"""`mlr-copilot batch`: tasks x LLMs x trials in separate processes, then one summary.

The runs use ``--llm scripted:<file>``: a real ``mlr-copilot run`` process each, with a
scripted researcher who runs the starter code and gives a Final Answer.
"""
import json
import sys
from pathlib import Path

import pytest

from mlr_copilot.batch import BatchOptions, run_batch
from task_helpers import copy_task_tree


def respond(thought, action, args):
    return (f"Reflection: -\nResearch Plan and Status: run the baseline\nFact Check: -\nThought: {thought}\n"
            f"Action: {action}\nAction Input: {json.dumps(args)}")


@pytest.fixture
def project(tmp_path):
    root = copy_task_tree(tmp_path / "project")
    script = tmp_path / "researcher.json"
    script.write_text(json.dumps({"main": [
        respond("measure the baseline", "Execute Script", {"script_name": "train.py"}),
        respond("report", "Final Answer", {"final_answer": "Baseline measured."}),
    ]}))
    return root, script


def test_batch_runs_every_combination_and_summarises(project, tmp_path):
    root, script = project
    out = tmp_path / "summary"
    text = run_batch(BatchOptions(tasks=("digits", "wine"), llms=(f"scripted:{script}",), trials=2, workers=2,
                                  max_steps=4, sandbox="none", log_root=str(tmp_path / "logs"), root=str(root),
                                  out=str(out)))
    batch = json.loads((out / "batch.json").read_text())
    assert len(batch["jobs"]) == 4 and not batch["crashed"]
    run_dirs = [Path(j["run_dir"]) for j in batch["jobs"]]
    assert len(set(run_dirs)) == 4  # each run independent, its own directory
    for run_dir in run_dirs:
        run = json.loads((run_dir / "run.json").read_text())
        assert run["status"] == "final_answer"
        ev = json.loads((run_dir / "eval.json").read_text())
        assert ev["valid"] and ev["final_answer_given"]
        assert ev["score"] == pytest.approx(ev["baseline"], rel=1e-6)  # the starter, unchanged
        assert ev["success"] is False
        assert [s["step"] for s in ev["step_scores"]] == [0, 1, 2]  # scores.png: score over steps
        assert (run_dir / "report.html").is_file()
    assert (out / "summary.md").exists() and (out / "summary.csv").exists()
    assert "digits" in text and "wine" in text
    page = (out / "report.html").read_text()  # the HTML summary, linking to each run's report
    assert page.count('/report.html"') == 4 and "0 of 4 judged runs succeeded" in page


def test_a_crashing_run_does_not_stop_the_others(project, tmp_path):
    root, script = project
    out = tmp_path / "summary"
    text = run_batch(BatchOptions(tasks=("digits", "no-such-task"), llms=(f"scripted:{script}",), trials=1,
                                  workers=2, max_steps=4, sandbox="none", log_root=str(tmp_path / "logs"),
                                  root=str(root), out=str(out)))
    batch = json.loads((out / "batch.json").read_text())
    crashed = batch["crashed"]
    assert [c["task"] for c in crashed] == ["no-such-task"]
    assert "no-such-task" in crashed[0]["error"]
    ok = [j for j in batch["jobs"] if j["task"] == "digits"][0]
    assert json.loads((Path(ok["run_dir"]) / "run.json").read_text())["status"] == "final_answer"
    assert "crashed" in text
