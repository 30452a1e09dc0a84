"""End-to-end runs of the ExperimentAgent with a scripted LLM on a small real task.

The scripted model plays a researcher who inspects the script, edits it, runs it, sees an
error, fixes it, runs it again and gives a Final Answer; everything else is real: the
workspace copy, the sandboxed scripts, the snapshots and the logs.
"""
import io
import json
from pathlib import Path

import pytest

from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.feedback import ConsoleFeedback, NoFeedback
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import read_jsonl

BUGGY = "import math\nvalues = [1, 2, 3]\nprint('mean', sum(values) / len(valuez))\n"
FIXED = "import math\nvalues = [1, 2, 3, 4]\nprint('mean', sum(values) / len(values))\n"
HALF = "import math\nvalues = [1, 2, 3, 4]\nprint('mean', sum(values) / len(valuez))\n"


def step(thought, action, args, *, bold=False):
    name = f"**Action:**" if bold else "Action:"
    return (f"Reflection: ok\nResearch Plan and Status: 1. baseline 2. improve\nFact Check: none\n"
            f"Thought: {thought}\n{name} {action}\nAction Input: {json.dumps(args)}")


def make_project(root: Path) -> Path:
    (root / "problems").mkdir()
    (root / "problems" / "toy").write_text("Compute the mean of four values with main.py and report it.\n")
    ws = root / "workspaces" / "toy"
    ws.mkdir(parents=True)
    (ws / "main.py").write_text(BUGGY)
    return root


def scripted_models(main_responses, edit_responses=()):
    return Models(main=ScriptedLLM(main_responses, model="main"),
                  fast=ScriptedLLM(["Entry: did the step."], model="fast", repeat_last=True),
                  edit=ScriptedLLM([f"```python\n{code}```" for code in edit_responses], model="edit"))


def options(root: Path, **kw) -> RunOptions:
    return RunOptions(task="toy", root=str(root), log_root=str(root / "logs"), sandbox="none",
                      feedback="none", **kw)


def test_agent_debugs_a_script_and_gives_a_final_answer(tmp_path):
    root = make_project(tmp_path)
    main = [
        step("look at the script", "Inspect Script Lines", {"script_name": "main.py", "start_line_number": 1,
                                                             "end_line_number": 3}),
        step("add a value", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "add 4",
                                                 "save_name": "main.py"}, bold=True),
        step("run it", "Execute Script", {"script_name": "main.py"}),
        step("fix the typo", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "fix valuez",
                                                  "save_name": "main.py"}),
        step("run again", "Execute Script", {"script_name": "main.py"}),
        step("done", "Final Answer", {"final_answer": "The mean is 2.5"}),
    ]
    models = scripted_models(main, [HALF, FIXED])
    result = run_experiment(options(root), models=models, feedback=NoFeedback())

    assert result.status == "final_answer", result.message
    assert result.final_answer == "The mean is 2.5"
    run_dir = result.run_dir
    assert (root / "workspaces" / "toy" / "main.py").read_text() == BUGGY  # source never modified
    assert (run_dir / "workspace" / "main.py").read_text() == FIXED

    records = read_jsonl(run_dir / "agent_log" / "full_log.jsonl")
    steps = [r for r in records if r["type"] == "step"]
    assert [s["action"] for s in steps] == ["Inspect Script Lines", "Edit Script (AI)", "Execute Script",
                                            "Edit Script (AI)", "Execute Script", "Final Answer"]
    assert "NameError" in steps[2]["full_observation"]  # the agent saw the real error
    assert "mean 2.5" in steps[4]["full_observation"]
    assert steps[1]["action_input"]["save_name"] == "main.py"
    assert all(s["parse_attempts"] == 1 for s in steps)
    assert records[0]["type"] == "run_start" and records[0]["schema_version"] == 1
    # The error observation reached the prompt of the next step.
    assert "NameError" in models.main.calls[3]["messages"][-1]["content"]

    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "final_answer" and run["final_answer"] == "The mean is 2.5"
    assert run["totals"]["steps"] == 6 and run["totals"]["llm_calls"] > 6
    assert run["task"] == "toy" and run["end"]
    # The research log was written by the fast model, without consuming steps.
    assert "[Step 6]" in (run_dir / "workspace" / "research_log.log").read_text()
    # ... and its content feeds the next prompts.
    assert "Research log so far" in models.main.calls[2]["messages"][-1]["content"]
    assert "[Step 2] Entry: did the step." in models.main.calls[2]["messages"][-1]["content"]


def test_feedback_typed_at_a_step_appears_in_the_next_prompt(tmp_path):
    root = make_project(tmp_path)
    main = [step("list", "List Files", {"dir_path": "."}),
            step("done", "Final Answer", {"final_answer": "stopped early"})]
    models = scripted_models(main)
    answers = iter(["please check the data first"])
    console = ConsoleFeedback(input_fn=lambda prompt: next(answers), output=io.StringIO())
    result = run_experiment(options(root), models=models, feedback=console)
    assert result.status == "final_answer"
    assert "please check the data first" in models.main.calls[1]["messages"][-1]["content"]
    steps = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]
    assert steps[0]["feedback"] == "please check the data first"


def test_malformed_responses_are_retried_then_end_with_format_error(tmp_path):
    root = make_project(tmp_path)
    models = scripted_models(["I think we should look around."] * 5)
    result = run_experiment(options(root, max_parse_attempts=5), models=models, feedback=NoFeedback())
    assert result.status == "format_error"
    assert "5 attempts" in result.message
    # Each retry carried a corrective message naming the problem.
    assert len(models.main.calls) == 5
    assert "Action" in models.main.calls[1]["messages"][-1]["content"]
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["status"] == "format_error"


def test_a_malformed_response_then_a_good_one_counts_two_attempts(tmp_path):
    root = make_project(tmp_path)
    main = ["Action: Lisst Filez\nAction Input: {}",
            step("done", "Final Answer", {"final_answer": "x"})]
    result = run_experiment(options(root), models=scripted_models(main), feedback=NoFeedback())
    assert result.status == "final_answer"
    steps = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]
    assert steps[0]["parse_attempts"] == 2 and steps[0]["parse_errors"]


def test_step_limit_ends_the_run_cleanly(tmp_path):
    root = make_project(tmp_path)
    main = [step("list", "List Files", {"dir_path": "."}),
            step("look", "Inspect Script Lines", {"script_name": "main.py", "start_line_number": 1,
                                                  "end_line_number": 3}),
            step("run", "Execute Script", {"script_name": "main.py"})]
    result = run_experiment(options(root, max_steps=2), models=scripted_models(main), feedback=NoFeedback())
    assert result.status == "step_limit"
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["totals"]["steps"] == 2


def test_action_not_offered_is_refused_with_the_offered_list(tmp_path):
    root = make_project(tmp_path)
    main = [step("write", "Write File", {"file_name": "x.py", "content": "print(1)"}),
            step("done", "Final Answer", {"final_answer": "x"})]
    result = run_experiment(options(root), models=scripted_models(main), feedback=NoFeedback())
    steps = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]
    # The parser refuses it before execution, or the environment refuses it: either way it is named.
    first = steps[0]
    assert first["action"] == "Final Answer" or "List Files" in first["observation"]
    assert not (result.run_dir / "workspace" / "x.py").exists()


def test_unknown_task_is_a_clear_error(tmp_path):
    root = make_project(tmp_path)
    from mlr_copilot.errors import ConfigError
    with pytest.raises(ConfigError, match="toy"):
        run_experiment(RunOptions(task="nope", root=str(root), log_root=str(root / "logs")),
                       models=scripted_models([]), feedback=NoFeedback())


def test_long_observations_are_summarised_for_the_prompt_and_kept_whole_in_the_log(tmp_path):
    root = make_project(tmp_path)
    many = root / "workspaces" / "toy" / "runs"
    many.mkdir()
    for i in range(300):
        (many / f"checkpoint_epoch_{i:03d}_of_a_long_training_run.pt").write_text("x")
    main = [step("look", "List Files", {"dir_path": "runs"}),
            step("done", "Final Answer", {"final_answer": "ok"})]
    models = Models(main=ScriptedLLM(main, model="main"),
                    fast=ScriptedLLM(["SUMMARY: 300 checkpoints, epochs 0 to 299"], repeat_last=True, model="fast"),
                    edit=ScriptedLLM([], model="edit"))
    result = run_experiment(options(root), models=models, feedback=NoFeedback())
    first = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"][0]
    assert "epoch_299" in first["full_observation"]
    assert first["observation"].startswith("[The observation was") and "SUMMARY" in first["observation"]
    assert any(c["purpose"] == "summarize_observation" for c in models.fast.calls)
    assert "SUMMARY: 300 checkpoints" in models.main.calls[1]["messages"][-1]["content"]
    assert "epoch_200" not in models.main.calls[1]["messages"][-1]["content"]


def test_a_long_script_output_is_cut_not_summarised_keeping_its_error_and_exit_code(tmp_path):
    """A churn run's 87-line traceback, summarised by the model, lost its exception and exit
    code: nothing after saw that the run had failed, and the agent answered on a broken script."""
    root = make_project(tmp_path)
    (root / "workspaces" / "toy" / "loud.py").write_text(
        "for i in range(400):\n    print('epoch', i, 'loss', 1/(i+1))\n"
        "print('Validation loss: 0.0025')\n" + "".join(f"print('debug line {i}')\n" for i in range(200))
        + "raise TypeError('Encoders require their input argument must be uniformly strings or numbers')\n")
    main = [step("run", "Execute Script", {"script_name": "loud.py"}),
            step("done", "Final Answer", {"final_answer": "ok"})]
    models = scripted_models(main)
    result = run_experiment(options(root), models=models, feedback=NoFeedback())
    first = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"][0]
    assert "epoch 399" in first["full_observation"]
    prompt = models.main.calls[1]["messages"][-1]["content"]
    assert "epoch 0 loss" in prompt and "lines of output left out" in prompt
    assert "Validation loss: 0.0025" in prompt  # a key line from the middle
    assert "TypeError: Encoders require their input" in prompt and "Exit code: 1" in prompt
    assert not any(c["purpose"] == "summarize_observation" for c in models.fast.calls)
    assert len(first["observation"]) <= 4000


def test_memory_limit_option_stops_a_greedy_script_with_a_clear_error(tmp_path):
    root = make_project(tmp_path)
    (root / "workspaces" / "toy" / "greedy.py").write_text("x = bytearray(2_000_000_000)\nprint('allocated')\n")
    main = [step("run", "Execute Script", {"script_name": "greedy.py"}),
            step("done", "Final Answer", {"final_answer": "ok"})]
    result = run_experiment(options(root, memory_limit_mb=500), models=scripted_models(main), feedback=NoFeedback())
    first = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"][0]
    assert "MemoryError" in first["full_observation"] and "allocated" not in first["full_observation"]
    assert result.status == "final_answer"  # the failing script is an observation, not a crash


def test_each_step_is_snapshotted_once_with_its_research_log_entry(tmp_path, monkeypatch):
    """Issue 11: one snapshot per step, taken as the step ends (after its research-log entry),
    so restoring step N gives the log up to entry N; the agent writes its log itself."""
    from mlr_copilot.env.snapshots import SnapshotStore, restore

    taken, take = [], SnapshotStore.take
    monkeypatch.setattr(SnapshotStore, "take", lambda self, step: taken.append(step) or take(self, step))
    root = make_project(tmp_path)
    main = [step("list", "List Files", {"dir_path": "."}),
            step("run", "Execute Script", {"script_name": "main.py"}),
            step("done", "Final Answer", {"final_answer": "x"})]
    result = run_experiment(options(root), models=scripted_models(main), feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    assert taken == [0, 1, 2, 3]
    for n in (1, 2, 3):
        log = (restore(result.run_dir / "env_log", n, tmp_path / f"r{n}") / "research_log.log").read_text()
        assert f"[Step {n}] Entry: did the step." in log and f"[Step {n + 1}]" not in log
    trace = read_jsonl(result.run_dir / "env_log" / "trace.jsonl")
    assert [r["action"] for r in trace if r["type"] == "action"] == ["List Files", "Execute Script", "Final Answer"]
