"""Verified results: scripted runs on a small graded task, their measurements ledger and the
verdict on every number the agent claims (claims.py, claim_check.py, measurements.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.claim_check import check_run, summary_text
from mlr_copilot.claims import extract_claims
from mlr_copilot.cli import main
from mlr_copilot.evaluation import evaluate_run
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import read_jsonl
from mlr_copilot.measurements import parse_line
from mlr_copilot.show import render_run
from mlr_copilot.tasks import discover_tasks

BASELINE_PY = "print('Epoch 1, loss=0.61, val_acc=0.80')\nprint('Validation accuracy: 0.8500')\n"
IMPROVED_PY = """import sys
score = float(sys.argv[sys.argv.index('--score') + 1]) if '--score' in sys.argv else 0.9312
print('training the improved model')
print(f"{{'loss': 0.21, 'accuracy': {score}}}")
print('Test RMSE: 51.23')
open('result.txt', 'w').write(str(score))
"""
CRASH_PY = "print('Loading data')\nraise RuntimeError('out of memory before evaluation')\nprint('accuracy: 0.97')\n"
QUIET_PY = "open('result.txt', 'w').write('0.9852')\n"
GRADER_PY = "from pathlib import Path\n\ndef grade(workspace, answers):\n    " \
            "return float((Path(workspace) / 'result.txt').read_text())\n"


def make_project(root: Path) -> Path:
    (root / "problems").mkdir(parents=True)
    (root / "problems" / "toy").write_text("Improve the accuracy of train.py; write result.txt.\n")
    defn = root / "tasks" / "toy"
    defn.mkdir(parents=True)
    (defn / "task.json").write_text(json.dumps({"metric": "accuracy", "direction": "higher",
                                                "submission": "result.txt"}))
    (defn / "grader.py").write_text(GRADER_PY)
    (defn / "baseline.json").write_text(json.dumps({"score": 0.85, "valid": True}))
    ws = root / "workspaces" / "toy"
    ws.mkdir(parents=True)
    (ws / "train.py").write_text(BASELINE_PY)
    (ws / "improved.py").write_text(IMPROVED_PY)
    (ws / "crash.py").write_text(CRASH_PY)
    (ws / "quiet.py").write_text(QUIET_PY)
    return root


def step(action: str, args: dict, plan: str = "1. baseline 2. improve") -> str:
    return (f"Reflection: ok\nResearch Plan and Status: {plan}\nFact Check: none\nThought: go\n"
            f"Action: {action}\nAction Input: {json.dumps(args)}")


def scripted_run(root: Path, responses: list[str]):
    models = Models(main=ScriptedLLM(responses, model="main"),
                    fast=ScriptedLLM(["Entry."], model="fast", repeat_last=True),
                    edit=ScriptedLLM([], model="edit"))
    options = RunOptions(task="toy", root=str(root), log_root=str(root / "logs"), sandbox="none",
                         feedback="none", research_log=False)
    result = run_experiment(options, models=models, feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    return result.run_dir


FINAL = ("Test accuracy 0.9312 (about 0.93, i.e. 93%, or 93.1 % on the test set) with an RMSE of 51.2. "
         "That is a 9.6% relative improvement over the baseline of 0.85. An F1 of 0.88. "
         "An earlier try reached accuracy 0.999. Trained 3 epochs with lr=0.001.")


PLAN = ("1. baseline: accuracy 0.85 (confirmed by step 1)\n2. improved: accuracy 0.931 (confirmed)\n"
        "3. loss 0.5 after tuning (not confirmed yet)\n4. ensemble: accuracy 0.95 (guess)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("claims"))
    run_dir = scripted_run(root, [
        step("Execute Script", {"script_name": "train.py"}),
        step("Execute Script", {"script_name": "improved.py"}),
        step("Final Answer", {"final_answer": FINAL}, plan=PLAN),
    ])
    return root, run_dir, {v["text"]: v for v in check_run(run_dir)}


def test_the_ledger_records_every_printed_number_with_step_script_line_and_snapshot(run):
    _, run_dir, _ = run
    ledger = read_jsonl(run_dir / "env_log" / "measurements.jsonl")
    printed = [(r["step"], r["script"], r["line"], r["name"], r["value"]) for r in ledger if r["kind"] == "printed"]
    assert printed == [(1, "train.py", 1, "loss", 0.61), (1, "train.py", 1, "val_acc", 0.80),
                       (1, "train.py", 2, "Validation accuracy", 0.85), (2, "improved.py", 2, "loss", 0.21),
                       (2, "improved.py", 2, "accuracy", 0.9312), (2, "improved.py", 3, "Test RMSE", 51.23)]
    assert all(r["snapshot"] == r["step"] and r["exit_code"] == 0 for r in ledger if r["kind"] == "printed")
    assert [(r["kind"], r["value"]) for r in ledger if r["kind"] == "baseline"] == [("baseline", 0.85)]


def test_a_true_claim_is_supported_with_its_step_and_line(run):
    v = run[2]["0.9312"]
    assert v["verdict"] == "supported" and v["metric"] == "accuracy"
    assert (v["evidence"]["step"], v["evidence"]["script"], v["evidence"]["line"]) == (2, "improved.py", 2)


def test_a_rounded_claim_is_supported(run):
    assert run[2]["0.93"]["verdict"] == "supported"
    assert run[2]["0.93"]["quantum"] == 0.01


def test_an_invented_number_is_unsupported(run):
    assert run[2]["0.88"]["verdict"] == "unsupported" and run[2]["0.88"]["metric"] == "f1"


def test_a_wrong_number_is_contradicted_by_the_nearest_measurement(run):
    v = run[2]["0.999"]
    assert v["verdict"] == "contradicted" and v["evidence"]["value"] == 0.9312


def test_a_percentage_improvement_is_computed_against_the_baseline(run):
    v = run[2]["9.6%"]
    assert v["kind"] == "improvement" and v["verdict"] == "supported"
    assert v["evidence"]["value"] == 0.9312 and v["evidence"]["base"]["value"] == 0.85
    assert v["evidence"]["derived_as"] == "relative %" and round(v["evidence"]["derived"], 2) == 9.55


def test_claims_in_every_format_are_read_and_supported(run):
    verdicts = run[2]
    for text in ("93%", "93.1 %", "51.2"):
        assert verdicts[text]["verdict"] == "supported", verdicts[text]
    assert verdicts["51.2"]["metric"] == "rmse" and verdicts["93.1 %"]["percent"]
    assert "3" not in verdicts and "0.001" not in verdicts  # settings are not claims


def test_the_plan_confirmed_results_are_checked_too(run):
    plan = [v for v in run[2].values() if v["source"] == "plan"]
    assert [(v["text"], v["verdict"], v["step"]) for v in plan] == [("0.931", "supported", 3)]


def test_a_number_from_a_script_that_crashed_before_printing_it_is_unsupported(tmp_path):
    root = make_project(tmp_path)
    run_dir = scripted_run(root, [step("Execute Script", {"script_name": "crash.py"}),
                                  step("Final Answer", {"final_answer": "crash.py reached an accuracy of 0.97."})])
    ledger = read_jsonl(run_dir / "env_log" / "measurements.jsonl")
    assert not [r for r in ledger if r["kind"] == "printed"]
    (verdict,) = check_run(run_dir)
    assert (verdict["text"], verdict["verdict"]) == ("0.97", "unsupported")


def test_eval_writes_grades_to_the_ledger_and_verdicts_to_eval_json_and_prints_them(run, capsys):
    root, run_dir, _ = run
    result = evaluate_run(run_dir, discover_tasks(root))
    assert result["score"] == pytest.approx(0.9312)
    grades = [r for r in read_jsonl(run_dir / "env_log" / "measurements.jsonl") if r["kind"] == "grade"]
    assert [(g["snapshot"], g["value"], g["final"]) for g in grades] == [(3, 0.9312, True)]
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["claim_counts"] == {"supported": 8, "contradicted": 1, "unsupported": 1}
    assert main(["eval", str(run_dir), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "claims: 8 claims supported, 1 contradicted, 1 unsupported" in out
    assert "\u2717 0.999 (accuracy): contradicted: step 2, improved.py line 2: accuracy=0.9312" in out


def test_a_claim_only_the_grader_measured_is_contradicted_by_its_score(tmp_path):
    # the case that started it: the Final Answer said 0.999, the graded score was 0.9852
    root = make_project(tmp_path)
    run_dir = scripted_run(root, [step("Execute Script", {"script_name": "quiet.py"}),
                                  step("Final Answer", {"final_answer": "Test accuracy 0.999."})])
    # nothing printed it, but the run graded its final workspace as it ended
    assert check_run(run_dir)[0]["verdict"] == "contradicted"
    ledger = run_dir / "env_log" / "measurements.jsonl"
    graded_at_end = [r for r in read_jsonl(ledger) if r["kind"] == "grade"]
    result = evaluate_run(run_dir, discover_tasks(root), write=False)
    (verdict,) = result["claims"]
    assert verdict["verdict"] == "contradicted"
    assert (verdict["evidence"]["kind"], verdict["evidence"]["value"], verdict["evidence"]["snapshot"]) == \
        ("grade", 0.9852, 2)
    assert [r for r in read_jsonl(ledger) if r["kind"] == "grade"] == graded_at_end  # write=False adds none


def test_show_marks_each_claim(run):
    console = Console(record=True, width=200)
    render_run(run[1], console=console)
    text = console.export_text()
    assert "Claims: 8 claims supported, 1 contradicted, 1 unsupported" in text
    assert "? 0.88 (f1): unsupported: nothing in the run measured it" in text


def test_the_end_of_run_line_counts_the_claims(tmp_path, capsys):
    from mlr_copilot.cli import _print_run_result
    from mlr_copilot.agents.runner import RunResult

    root = make_project(tmp_path)
    run_dir = scripted_run(root, [step("Execute Script", {"script_name": "improved.py"}),
                                  step("Final Answer", {"final_answer": "Accuracy 0.93, RMSE 51.2, F1 0.7."})])
    _print_run_result(RunResult(run_dir, "final_answer", "done", "x"))
    assert "Claims: 2 claims supported, 1 unsupported" in capsys.readouterr().out


def test_a_batch_summary_counts_runs_with_bad_claims(run, tmp_path):
    from mlr_copilot.evaluation import summarize

    root, run_dir, _ = run
    rows = summarize([evaluate_run(run_dir, discover_tasks(root), write=False)])
    assert (rows[0]["runs_contradicted"], rows[0]["runs_unsupported"]) == (1, 1)


# --- extraction and parsing, without a run ------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("accuracy 0.93", [("0.93", 0.93, "accuracy", False)]),
    ("reached 93% accuracy", [("93%", 93.0, "accuracy", True)]),
    ("93.1 % accuracy", [("93.1 %", 93.1, "accuracy", True)]),
    ("an RMSE of 51.2 on 1,000 rows", [("51.2", 51.2, "rmse", False)]),
    ("RMSE of 51 after 10 epochs, batch size 64, in 2024", [("51", 51.0, "rmse", False)]),
    ("see train_v2.py and step 7", []),
])
def test_claim_formats(text, expected):
    assert [(c.text, c.value, c.metric, c.percent) for c in extract_claims(text)] == expected


def test_improvements_are_told_from_values():
    kinds = {c.text: c.kind for c in extract_claims(
        "Accuracy improved by 2.5 points, from 0.85 to 0.875; loss fell by 10%; a +0.08 gain.")}
    assert kinds == {"2.5": "improvement", "0.85": "value", "0.875": "value", "10%": "improvement",
                     "+0.08": "improvement"}


def test_output_lines_in_common_shapes_are_parsed():
    pairs = lambda line: [(p.name, p.value, p.percent) for p in parse_line(line)]  # noqa: E731
    assert pairs("epoch 3: loss=0.5, acc=0.9") == [("loss", 0.5, False), ("acc", 0.9, False)]
    assert pairs("{'f1': 0.77, \"auc\": 0.8}") == [("f1", 0.77, False), ("auc", 0.8, False)]
    assert pairs("Validation accuracy: 93.1%") == [("Validation accuracy", 93.1, True)]
    assert pairs("date: 2024-01-01 at 10:30") == [] and pairs("ValueError: 3") == []


def test_summary_text():
    assert summary_text([]) == "no numeric claims"
    assert summary_text([{"verdict": "supported"}]) == "1 claim supported"
    assert summary_text([{"verdict": "supported"}, {"verdict": "supported"}, {"verdict": "unsupported"}]) \
        == "2 claims supported, 1 unsupported"


# --- original MLR-Copilot logs ------------------------------------------------------------

FIXTURE = (Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "mlr-copilot-logs"
           / "feedback-2024-08-06T01-17-04")


def _original_step(action: str, action_input: dict, observation: str) -> str:
    return json.dumps({"prompt": "p", "entries": {"Research Plan and Status": "1. train (confirmed: MCRMSE 0.47)",
                                                  "Action": action, "Action Input": action_input},
                       "full_observation": observation, "observation": observation}, indent=4)


def test_an_imported_original_log_is_checked_from_its_observations(tmp_path):
    original = tmp_path / "feedback-2024-08-06T01-17-04"
    original.mkdir()
    (original / "full_log.json").write_text("\n".join([
        _original_step("Execute Script", {"script_name": "train.py"},
                       "The script has been executed. Here is the output:\n{'final_MCRMSE': 0.4731}\n"),
        _original_step("Final Answer", {"final_answer": "Final MCRMSE 0.473; cohesion RMSE 0.41."}, "end")]))
    out = tmp_path / "imported"
    assert main(["import-log", str(original), "--out", str(out)]) == 0
    verdicts = {v["text"]: v for v in check_run(out)}
    assert verdicts["0.473"]["verdict"] == "supported" and verdicts["0.473"]["evidence"]["step"] == 1
    assert verdicts["0.41"]["verdict"] == "unsupported"
    assert verdicts["0.47"]["source"] == "plan" and verdicts["0.47"]["verdict"] == "supported"


def test_the_recorded_original_run_is_read_without_claims():
    if not FIXTURE.is_dir():
        pytest.skip(f"recorded MLR-Copilot logs not available ({FIXTURE} is absent)")
    assert check_run(FIXTURE) == []  # it stops before a Final Answer; its plan confirms no number
