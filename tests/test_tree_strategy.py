"""The tree strategy end to end with a scripted model: policy, records, restore, resume, feedback.

Every node's script really runs in the sandbox (mode none) on a toy task; only the model's
answers are given (tests/tree_helpers.py).
"""
import io
import json
import re

import pytest

from mlr_copilot.agents.resume import resume_run
from mlr_copilot.agents.runner import run_experiment
from mlr_copilot.errors import ConfigError
from mlr_copilot.feedback import ConsoleFeedback, FeedbackChannel, FeedbackResult, NoFeedback
from mlr_copilot.logs import read_jsonl

from tree_helpers import STARTER, answer, failing, good, make_project, models, options, prompts, script


def steps_of(run_dir):
    return [r for r in read_jsonl(run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]


def nodes_of(run_dir):
    last = {}
    for r in steps_of(run_dir):
        if r.get("node"):
            last[r["node"]["id"]] = r["node"]
    return [last[k] for k in sorted(last)]


def shape(run_dir):
    return [(n["id"], n["parent"], n["stage"], n["metric"], n["buggy"], n["code_hash"], n["duplicate_of"])
            for n in nodes_of(run_dir)]


def test_drafts_then_greedy_improve_and_final_restore_of_the_best(tmp_path):
    root = make_project(tmp_path)
    m = models([good(0.6), good(0.8), good(0.9), good(0.7)])
    result = run_experiment(options(root, max_steps=4, tree_drafts=2, tree_debug_prob=0.0), models=m,
                            feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    nodes = nodes_of(result.run_dir)
    assert [(n["stage"], n["parent"], n["metric"], n["buggy"]) for n in nodes] == [
        ("draft", None, 0.6, False), ("draft", None, 0.8, False), ("improve", 2, 0.9, False),
        ("improve", 3, 0.7, False)]
    steps = steps_of(result.run_dir)
    assert [s["action"] for s in steps] == ["Write File", "Execute Script"] * 4 + ["Final Answer"]
    assert steps[0]["node"]["buggy"] is None and steps[1]["node"]["buggy"] is False  # written, then run
    # The improve prompts hold the parent's code and its metric; drafts do not.
    p = prompts(m)
    assert "Improve node 2 (validation accuracy 0.8" in p[2] and "# 0.8" in p[2]
    assert "Improve node 3" in p[3] and "Write a first complete solution" in p[0]
    assert "data/train.csv" in p[0] and "shape: 3 rows x 3 columns" in p[0]
    assert "Node 1 (draft): a model scoring 0.6. -> validation accuracy 0.6" in p[1]
    # No response grammar: the local backend generates the code block freely.
    calls = [c for c in m.main.calls if c["purpose"] == "tree_node"]
    assert all(c["response_spec"] is None for c in calls)
    assert [c["temperature"] for c in calls] == [0.5, 0.5, 0.5, 0.5]  # at 0 a small model copies its parent
    # The workspace ends as the best node left it, and the Final Answer says so.
    ws = result.run_dir / "workspace"
    assert (ws / "train.py").read_text() == script(0.9)
    assert "# 0.9" in (ws / "submission.csv").read_text()
    assert "Best node: 3, validation accuracy 0.9" in result.final_answer
    assert "node 3 (improve)" in result.final_answer and "node 2 (draft)" in result.final_answer
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["strategy"] == "tree" and run["offered_actions"] == ["Write File", "Execute Script", "Final Answer"]
    tree = run["tree"]
    assert tree["best_node"] == 3 and tree["best_metric"] == 0.9 and tree["nodes"] == 4
    assert tree["stages"] == {"draft": 2, "improve": 2, "debug": 0} and tree["best_depth"] == 1
    assert run["totals"]["steps"] == 9
    # The source workspace is never touched.
    assert (root / "workspaces" / "toy" / "train.py").read_text() == STARTER


def test_debug_picks_buggy_leaves_within_the_depth_limit(tmp_path):
    root = make_project(tmp_path)
    m = models([failing("1 / 0"), failing("x = undefined_name"), failing("import no_such_module_xyz"),
                good(0.7), good(0.75)])
    result = run_experiment(options(root, max_steps=5, tree_drafts=1, tree_debug_prob=1.0, tree_max_debug_depth=2),
                            models=m, feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    nodes = nodes_of(result.run_dir)
    assert [(n["stage"], n["parent"], n["debug_depth"], n["buggy"]) for n in nodes] == [
        ("draft", None, 0, True), ("debug", 1, 1, True), ("debug", 2, 2, True),
        ("draft", None, 0, False),  # node 3 is at the depth limit and no node works: draft
        ("improve", 4, 0, False)]  # no buggy leaf left to debug: improve the best
    p = prompts(m)
    assert "The script of node 1 failed" in p[1] and "ZeroDivisionError" in p[1]
    assert "NameError" in p[2] and "Exit code: 1" in p[2]
    assert not re.search(r"after [0-9.]+ s", p[2])  # run times stay out of prompts (resume, replay)
    assert "Node 1 (draft): bad. -> failed: ZeroDivisionError: division by zero" in p[1]


def test_repeated_code_is_asked_again_once_warmer_then_skipped(tmp_path):
    root = make_project(tmp_path)
    m = models([good(0.6), good(0.6), good(0.6), good(0.7)])
    result = run_experiment(options(root, max_steps=3, tree_drafts=3), models=m, feedback=NoFeedback())
    nodes = nodes_of(result.run_dir)
    assert nodes[1]["duplicate_of"] == 1 and nodes[1]["metric"] is None
    assert nodes[1]["code_hash"] == nodes[0]["code_hash"]
    steps = steps_of(result.run_dir)
    assert [s["action"] for s in steps] == [
        "Write File", "Execute Script", "Skip Node", "Write File", "Execute Script", "Final Answer"]
    assert steps[2]["parse_attempts"] == 2
    p, calls = prompts(m), [c for c in m.main.calls if c["purpose"] == "tree_node"]
    assert "repeated the script of node 1 exactly, which scored validation accuracy 0.6" in p[2]
    assert calls[2]["temperature"] > calls[1]["temperature"]  # at the same temperature it would copy again
    assert "same code as node 1, not run again" in p[3]
    assert json.loads((result.run_dir / "run.json").read_text())["tree"]["duplicates"] == 1


def test_a_retry_that_changes_the_code_is_run_as_the_node(tmp_path):
    root = make_project(tmp_path)
    m = models([good(0.6), good(0.6), good(0.8)])
    result = run_experiment(options(root, max_steps=2, tree_drafts=2), models=m, feedback=NoFeedback())
    nodes = nodes_of(result.run_dir)
    assert [(n["metric"], n["duplicate_of"]) for n in nodes] == [(0.6, None), (0.8, None)]
    assert steps_of(result.run_dir)[2]["parse_attempts"] == 2


def test_an_answer_without_code_is_asked_again_once(tmp_path):
    root = make_project(tmp_path)
    m = models(["Plan: a forest.\n2. The complete file train.py in ONE code block.", good(0.7),
                "still no code", "no code again"])
    result = run_experiment(options(root, max_steps=2, tree_drafts=2), models=m, feedback=NoFeedback())
    nodes = nodes_of(result.run_dir)
    assert [(n["metric"], n["buggy"]) for n in nodes] == [(0.7, False), (None, True)]
    assert "held no ```python code block" in prompts(m)[1]
    steps = steps_of(result.run_dir)
    assert [s["action"] for s in steps] == ["Write File", "Execute Script", "Skip Node", "Final Answer"]
    assert steps[2]["parse_attempts"] == 2


def test_an_answer_that_ends_after_its_sentence_is_continued_where_the_backend_can(tmp_path):
    """On the local backend the answer goes on from an opened ```python block: one answer, the
    same prompt and plan, no second ask (each was 10-20 s of new prompt on two cores)."""
    root = make_project(tmp_path)
    m = models(["I replace the starter's tree with a forest.", f"{script(0.8)}```\n"], continues_answers=True)
    result = run_experiment(options(root, max_steps=1, tree_drafts=1), models=m, feedback=NoFeedback())
    first, second = [c for c in m.main.calls if c["purpose"] == "tree_node"]
    assert second["messages"][:-1] == first["messages"]
    assert second["messages"][-1] == {"role": "assistant",
                                      "content": "I replace the starter's tree with a forest.\n\n```python\n"}
    assert second["temperature"] == first["temperature"] and second["stop"] == ["\n```\n"]
    node, step = nodes_of(result.run_dir)[0], steps_of(result.run_dir)[0]
    assert node["metric"] == 0.8 and not node["buggy"]
    assert step["entries"]["Thought"] == "I replace the starter's tree with a forest."
    assert step["response"].startswith("I replace the starter's tree with a forest.\n\n```python\n# 0.8\n")
    assert step["parse_attempts"] == 2 and "continued" in step["parse_errors"][0]


def test_a_run_with_continued_answers_replays_the_same_tree(tmp_path, monkeypatch):
    from mlr_copilot.cli import main
    from mlr_copilot.llm.scripted import ScriptedLLM

    scripted = ScriptedLLM.from_file.__func__

    def continuing(cls, path, role="main"):  # a scripted backend that continues, as the local one
        llm = scripted(cls, path, role)
        llm.continues_answers = True
        return llm

    monkeypatch.setattr(ScriptedLLM, "from_file", classmethod(continuing))
    root = make_project(tmp_path)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"main": ["I use a forest.", f"{script(0.8)}```\n", good(0.9)]}))
    common = ["--root", str(root), "--log-root", str(root / "logs"), "--sandbox", "none", "--feedback", "none",
              "--strategy", "tree", "--max-steps", "2", "--tree-drafts", "2"]
    assert main(["run", "toy", "--llm", f"scripted:{answers}", *common]) == 0
    first = sorted((root / "logs" / "toy").iterdir())[-1]
    assert main(["run", "toy", "--llm", f"replay:{first}", *common]) == 0
    second = [d for d in sorted((root / "logs" / "toy").iterdir()) if d != first][-1]
    assert shape(second) == shape(first) and [n["metric"] for n in nodes_of(second)] == [0.8, 0.9]
    assert steps_of(second)[0]["parse_attempts"] == 2


def test_a_continuation_without_code_is_asked_again(tmp_path):
    root = make_project(tmp_path)
    m = models(["I use a forest.", "", good(0.7)], continues_answers=True)
    result = run_experiment(options(root, max_steps=1, tree_drafts=1), models=m, feedback=NoFeedback())
    calls = [c for c in m.main.calls if c["purpose"] == "tree_node"]
    assert [c["messages"][-1]["role"] for c in calls] == ["user", "assistant", "user"]
    assert "held no ```python code block" in prompts(m)[2]
    assert nodes_of(result.run_dir)[0]["metric"] == 0.7
    assert steps_of(result.run_dir)[0]["parse_attempts"] == 3


def test_the_answer_ends_where_its_code_block_closes(tmp_path):
    """Text after the block is never used, so the model is not left to write it (on two CPU
    cores an explanation after the script costs seconds per node)."""
    root = make_project(tmp_path)
    m = models([good(0.7) + "This script uses a forest, which should help.\n"])
    result = run_experiment(options(root, max_steps=1, tree_drafts=1), models=m, feedback=NoFeedback())
    call = [c for c in m.main.calls if c["purpose"] == "tree_node"][0]
    assert call["stop"] == ["\n```\n"]
    assert nodes_of(result.run_dir)[0]["metric"] == 0.7
    assert "should help" not in steps_of(result.run_dir)[0]["response"]


def test_an_answer_cut_at_another_block_is_asked_again_without_the_cut(tmp_path):
    root = make_project(tmp_path)
    echoed = f"The error was:\n```\nZeroDivisionError\n```\nFixed:\n```python\n{script(0.9)}```\n"
    m = models([echoed, echoed])
    result = run_experiment(options(root, max_steps=1, tree_drafts=1), models=m, feedback=NoFeedback())
    calls = [c for c in m.main.calls if c["purpose"] == "tree_node"]
    assert [c["stop"] for c in calls] == [["\n```\n"], []]
    assert nodes_of(result.run_dir)[0]["metric"] == 0.9  # not the echoed error run as a script


def test_a_debug_that_gives_back_the_same_code_is_not_chosen_again(tmp_path):
    root = make_project(tmp_path)
    bad = failing("1 / 0")
    m = models([bad, bad, bad, good(0.5), good(0.6)])
    result = run_experiment(options(root, max_steps=3, tree_drafts=1, tree_debug_prob=1.0), models=m,
                            feedback=NoFeedback())
    nodes = nodes_of(result.run_dir)
    # node 2 debugged node 1 and copied it twice; node 1 then has a child, so node 3 is a new draft
    assert [(n["stage"], n["parent"], n["duplicate_of"]) for n in nodes] == [
        ("draft", None, None), ("debug", 1, 1), ("draft", None, None)]
    p = prompts(m)
    assert "failed with: ZeroDivisionError: division by zero" in p[1]
    assert "The error was raised at line 4: 1 / 0" in p[1]


def test_missing_metric_nan_and_failed_exit_are_buggy_and_nothing_is_kept(tmp_path):
    root = make_project(tmp_path)
    m = models([good(None), good("nan"), answer(script(0.9, extra="") + "raise SystemExit(3)\n"),
                "I would use a random forest.", "A forest, really."])  # asked again once: still no code
    result = run_experiment(options(root, max_steps=4, tree_drafts=4), models=m, feedback=NoFeedback())
    nodes = nodes_of(result.run_dir)
    assert [n["buggy"] for n in nodes] == [True, True, True, True]
    assert all(n["metric"] is None for n in nodes)
    assert "no line 'Validation accuracy: <number>'" in nodes[0]["error"]
    assert "nan, not a finite number" in nodes[1]["error"]
    assert "Exit code: 3" in nodes[2]["error"]
    assert "no ```python code block" in nodes[3]["error"]
    assert result.status == "final_answer" and "No node produced a valid validation accuracy" in result.final_answer
    ws = result.run_dir / "workspace"
    assert (ws / "train.py").read_text() == STARTER and not (ws / "submission.csv").exists()


def test_a_node_that_keeps_its_own_held_out_line_is_measured_and_the_record_says_so(tmp_path):
    root = make_project(tmp_path)
    own_line = script(None, tag="cv", extra="print('Cross-validated accuracy: 0.8')\n")
    m = models([answer(own_line), good(0.7)])
    result = run_experiment(options(root, max_steps=2, tree_drafts=2), models=m, feedback=NoFeedback())
    assert [(n["metric"], n["buggy"]) for n in nodes_of(result.run_dir)] == [(0.8, False), (0.7, False)]
    run = [s for s in steps_of(result.run_dir) if s["action"] == "Execute Script"]
    assert run[0]["normalised"] == ["metric: read from the line 'Cross-validated accuracy: 0.8' "
                                    "(no 'Validation accuracy: <number>' line)"]
    assert not run[1].get("normalised")
    assert "Best node: 1, validation accuracy 0.8" in result.final_answer
    assert "# cv" in (result.run_dir / "workspace" / "submission.csv").read_text()


def test_without_a_measured_node_the_last_nodes_files_are_not_left_for_grading(tmp_path):
    root = make_project(tmp_path)
    m = models([good(None), failing(), good(None, tag="last")])  # the last one runs and writes submission.csv, unmeasured
    result = run_experiment(options(root, max_steps=3, tree_drafts=3), models=m, feedback=NoFeedback())
    assert [n["buggy"] for n in nodes_of(result.run_dir)] == [True, True, True]
    assert "The workspace is as the run began" in result.final_answer
    ws = result.run_dir / "workspace"
    assert (ws / "train.py").read_text() == STARTER and not (ws / "submission.csv").exists()


def test_a_syntax_error_is_a_buggy_node_written_but_not_run(tmp_path):
    root = make_project(tmp_path)
    m = models([answer("print('Validation accuracy: 0.9'\n"), good(0.8)])
    result = run_experiment(options(root, max_steps=2, tree_drafts=1, tree_debug_prob=1.0), models=m,
                            feedback=NoFeedback())
    steps = steps_of(result.run_dir)
    assert [s["action"] for s in steps] == ["Write File", "Write File", "Execute Script", "Final Answer"]
    first = nodes_of(result.run_dir)[0]
    assert first["buggy"] is True and "SyntaxError" in first["error"] and "not run" in first["error"]
    assert "SyntaxError" in prompts(m)[1] and "The script of node 1 failed" in prompts(m)[1]
    assert nodes_of(result.run_dir)[1]["parent"] == 1 and nodes_of(result.run_dir)[1]["stage"] == "debug"


def test_lower_is_better_from_task_json_and_from_the_problem(tmp_path):
    root = make_project(tmp_path / "a", direction="lower", metric="rmse")
    m = models([good(5.0, metric="rmse"), good(3.0, metric="rmse"), good(4.0, metric="rmse")])
    result = run_experiment(options(root, max_steps=3, tree_drafts=3), models=m, feedback=NoFeedback())
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["tree"]["direction"] == "lower" and run["tree"]["best_node"] == 2
    assert "`Validation rmse: <number>` (lower is better)" in prompts(m)[0]
    # No direction in task.json: the problem text decides.
    root = make_project(tmp_path / "b", direction=None, metric="rmse")
    (root / "problems" / "toy").write_text("Predict x. Lower is better.\n")
    m = models([good(5.0, metric="rmse"), good(3.0, metric="rmse")])
    result = run_experiment(options(root, max_steps=2, tree_drafts=2), models=m, feedback=NoFeedback())
    assert json.loads((result.run_dir / "run.json").read_text())["tree"]["best_node"] == 2


class StopAfter(FeedbackChannel):
    """Says /stop after the given number of nodes (a person typing /stop at that point)."""

    def __init__(self, nodes):
        self.left = nodes

    def after_step(self, view):
        self.left -= 1
        return FeedbackResult(stop=self.left == 0)


RESPONSES = [good(0.6), failing(), good(0.8), good(0.85), good(0.9), good(0.7)]


def _compare_prompts(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x == y


@pytest.mark.parametrize("cut_execute", [False, True])
def test_resume_mid_tree_gives_the_same_tree_as_an_uninterrupted_run(tmp_path, cut_execute):
    opts = dict(max_steps=6, tree_drafts=2, tree_debug_prob=0.5)
    root = make_project(tmp_path / "whole")
    m_whole = models(RESPONSES)
    whole = run_experiment(options(root, **opts), models=m_whole, feedback=NoFeedback())
    assert whole.status == "final_answer"

    root2 = make_project(tmp_path / "parts")
    m_first = models(RESPONSES[:3])
    first = run_experiment(options(root2, **opts), models=m_first, feedback=StopAfter(3))
    assert first.status == "interrupted" and "/stop" in first.message
    if cut_execute:  # as if killed after node 3 was written, before it ran
        log = first.run_dir / "agent_log" / "full_log.jsonl"
        lines = log.read_text().splitlines(keepends=True)
        assert json.loads(lines[-2])["action"] == "Execute Script"
        log.write_text("".join(lines[:-2] + lines[-1:]))
    m_rest = models(RESPONSES[3:])
    resumed = resume_run(first.run_dir, feedback_mode="none", models=m_rest, feedback=NoFeedback())
    assert resumed.status == "final_answer", resumed.message
    assert shape(resumed.run_dir) == shape(whole.run_dir)
    assert [s["action"] for s in steps_of(resumed.run_dir)] == [s["action"] for s in steps_of(whole.run_dir)]
    _compare_prompts(prompts(m_first) + prompts(m_rest), prompts(m_whole))
    assert resumed.final_answer == whole.final_answer
    assert (resumed.run_dir / "workspace" / "train.py").read_text() == \
        (whole.run_dir / "workspace" / "train.py").read_text()


def test_feedback_after_a_node_reaches_the_next_prompt_and_auto_stops_asking(tmp_path):
    root = make_project(tmp_path)
    m = models([good(0.6), good(0.7), good(0.8)])
    typed = iter(["use a random forest please", "/auto"])
    out = io.StringIO()
    console = ConsoleFeedback(input_fn=lambda prompt: next(typed), output=out)
    result = run_experiment(options(root, max_steps=3, tree_drafts=3), models=m, feedback=console)
    p = prompts(m)
    assert "use a random forest please" not in p[0]
    assert "# Human feedback (follow it in this version)\nuse a random forest please" in p[1]
    assert "Human feedback" not in p[2]
    assert "Node 1: validation accuracy 0.6" in out.getvalue()
    steps = steps_of(result.run_dir)
    assert steps[1]["feedback"] == "use a random forest please"
    assert steps[2]["human_feedback_used"] == "use a random forest please"


def test_bad_tree_options_are_refused_before_a_run_starts(tmp_path):
    root = make_project(tmp_path)
    for bad in (dict(tree_debug_prob=1.5), dict(tree_drafts=0), dict(tree_max_debug_depth=-1),
                dict(strategy="beam")):
        with pytest.raises(ConfigError):
            run_experiment(options(root, **bad), models=models([good(1)]), feedback=NoFeedback())
    assert not (root / "logs").exists()


def test_cli_runs_a_tree_with_a_scripted_file_and_replay_gives_the_same_tree(tmp_path, capsys):
    from mlr_copilot.cli import main
    from mlr_copilot.show import render_run
    from rich.console import Console

    root = make_project(tmp_path)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"main": [good(0.6), good(0.8), good(0.9)]}))
    common = ["--root", str(root), "--log-root", str(root / "logs"), "--sandbox", "none", "--feedback", "none",
              "--strategy", "tree", "--max-steps", "3", "--tree-drafts", "2", "--tree-debug-prob", "0"]
    assert main(["run", "toy", "--llm", f"scripted:{answers}", *common]) == 0
    first = sorted((root / "logs" / "toy").iterdir())[-1]
    assert main(["run", "toy", "--llm", f"replay:{first}", *common]) == 0
    second = [d for d in sorted((root / "logs" / "toy").iterdir()) if d != first][-1]
    assert shape(second) == shape(first) and nodes_of(first)[2]["metric"] == 0.9
    out = io.StringIO()
    render_run(first, console=Console(file=out, width=160))
    text = out.getvalue()
    assert "Solution tree: 3 nodes, validation accuracy (higher is better)" in text
    assert "★ 3" in text and "improve" in text and "Strategy" in text


def test_a_budget_stop_still_leaves_the_best_node_in_the_workspace(tmp_path):
    root = make_project(tmp_path)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"main": [good(0.6), good(0.8), good(0.9)]}))
    result = run_experiment(options(root, llm=f"scripted:{answers}", max_steps=5, max_llm_calls=2,
                                    tree_drafts=3), feedback=NoFeedback())
    assert result.status == "budget", result.message
    assert result.final_answer.startswith("Best node: 2, validation accuracy 0.8")
    assert "The tree has 2 nodes" in result.final_answer
    assert (result.run_dir / "workspace" / "train.py").read_text() == script(0.8)
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["final_answer"] == result.final_answer and run["tree"]["nodes"] == 2


def test_a_tree_killed_after_its_final_answer_step_is_finished_by_the_resume(tmp_path):
    """Killed after the Final Answer's record, before the run's end was saved: the search had
    ended, so the resume finishes the run as it would have, with no second Final Answer."""
    root = make_project(tmp_path)
    whole = run_experiment(options(root, max_steps=2, tree_drafts=2), models=models([good(0.6), good(0.8)]),
                           feedback=NoFeedback())
    run_dir = whole.run_dir
    log = run_dir / "agent_log" / "full_log.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["type"] == "run_end" and json.loads(lines[-2])["action"] == "Final Answer"
    log.write_text("".join(lines[:-1]))  # what the kill leaves: no run_end, run.json still running
    info = json.loads((run_dir / "run.json").read_text())
    info.update(status="running", end=None, message=None)
    del info["tree"]  # a kill between the record and run.json's save loses it
    (run_dir / "run.json").write_text(json.dumps(info))
    before = steps_of(run_dir)
    m = models([])  # any model call would fail: nothing is left to ask
    resumed = resume_run(run_dir, feedback_mode="none", models=m, feedback=NoFeedback())
    assert (resumed.status, resumed.message, resumed.final_answer) == (whole.status, whole.message,
                                                                       whole.final_answer)
    assert steps_of(run_dir) == before and not prompts(m)
    assert json.loads((run_dir / "run.json").read_text())["tree"]["best_node"] == 2


def test_a_node_past_its_time_limit_is_stopped_buggy_and_the_prompts_state_the_limit(tmp_path):
    root = make_project(tmp_path)
    slow = failing("import time\nprint('fitting', flush=True)\ntime.sleep(600)", tag="slow")
    m = models([slow, good(0.7), good(0.8)])
    result = run_experiment(options(root, max_steps=3, tree_drafts=3, tree_debug_prob=0.0, tree_node_timeout_s=2.0),
                            models=m, feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    nodes = nodes_of(result.run_dir)
    assert nodes[0]["buggy"] is True and nodes[0]["metric"] is None
    assert nodes[0]["error"].endswith("TimeoutError: the script did not finish within 2 seconds and was stopped; "
                                      "make it faster (a smaller or simpler model, fewer trees or iterations, "
                                      "less data per fit).")
    assert "fitting" in nodes[0]["error"]  # the output so far, for a debug
    run = steps_of(result.run_dir)[1]
    assert run["action"] == "Execute Script" and run["duration_s"] < 300  # killed, not waited out
    assert "(the time limit for one node's script)" in run["observation"]
    p = prompts(m)
    assert "finish within 2 seconds on a CPU (it is stopped then" in p[0]
    assert "- Node 1 (draft): slow. -> failed: TimeoutError: the script did not finish within 2 seconds" in p[1]
    assert [n["metric"] for n in nodes[1:]] == [0.7, 0.8]
    tree = json.loads((result.run_dir / "run.json").read_text())["tree"]
    assert tree["node_timeout_s"] == 2.0 and tree["best_node"] == 3


@pytest.mark.parametrize("runtime,given,script_timeout,expected", [
    (9.13, None, 3600.0, 91.3),  # ten times the starter's measured run time
    (1.0, None, 3600.0, 60.0),  # never below the minimum
    (9.13, None, 50.0, 50.0),  # never above --script-timeout
    (9.13, 30.0, 3600.0, 30.0),  # --tree-node-timeout wins
    (9.13, 7200.0, 3600.0, 3600.0),  # ... but cannot lengthen --script-timeout
    (None, None, 3600.0, 3600.0),  # nothing measured: only --script-timeout
])
def test_the_node_time_limit_comes_from_the_starters_measured_run_time(tmp_path, runtime, given, script_timeout,
                                                                       expected):
    from mlr_copilot.agents.tree_options import node_time_limit
    from mlr_copilot.tasks import load_task

    root = make_project(tmp_path)
    if runtime is not None:
        (root / "tasks" / "toy" / "baseline.json").write_text(json.dumps({"score": 0.5, "runtime_s": runtime}))
    task = load_task(root, "toy")
    assert task.baseline_runtime_s == runtime
    opts = options(root, tree_node_timeout_s=given, script_timeout_s=script_timeout)
    assert node_time_limit(opts, task) == pytest.approx(expected)


@pytest.mark.parametrize("runtime", ["9", -1, True, float("inf"), None])
def test_a_baseline_without_a_usable_run_time_gives_none(tmp_path, runtime):
    from mlr_copilot.tasks import load_task

    root = make_project(tmp_path)
    (root / "tasks" / "toy" / "baseline.json").write_text(json.dumps({"score": 0.5, "runtime_s": runtime}))
    task = load_task(root, "toy")
    assert task.baseline == 0.5 and task.baseline_runtime_s is None


def test_a_node_that_forgot_an_import_gets_it_and_runs_and_the_record_says_so(tmp_path):
    root = make_project(tmp_path)
    m = models([good(0.6, extra="half = math.sqrt(0.25)\n"), good(0.8)])
    result = run_experiment(options(root, max_steps=2, tree_drafts=2, tree_debug_prob=0.0), models=m,
                            feedback=NoFeedback())
    nodes = nodes_of(result.run_dir)
    assert [(n["buggy"], n["metric"]) for n in nodes] == [(False, 0.6), (False, 0.8)]
    write = steps_of(result.run_dir)[0]
    assert write["action_input"]["content"].startswith("# 0.6\nimport math\nimport csv\n")
    assert write["normalised"] == ["content: added `import math` (the script used the name without importing it)"]
    assert steps_of(result.run_dir)[2]["normalised"] == []  # nothing missing, nothing added


def test_an_improvement_that_dropped_a_line_of_its_parent_gets_it_back_and_is_measured(tmp_path):
    root = make_project(tmp_path)
    write = "open('submission.csv', 'w').write('id,label\\n')\n"
    parent = f"import csv\nrate = 0.6\nprint(f'Validation accuracy: {{rate}}')\n{write}"
    child = f"import csv\nprint(f'Validation accuracy: {{rate + 0.2:.1f}}')\n{write}"
    m = models([answer(parent), answer(child)])
    result = run_experiment(options(root, max_steps=2, tree_drafts=1, tree_debug_prob=0.0), models=m,
                            feedback=NoFeedback())
    nodes = nodes_of(result.run_dir)
    assert [(n["stage"], n["parent"], n["buggy"], n["metric"]) for n in nodes] == [
        ("draft", None, False, 0.6), ("improve", 1, False, 0.8)]
    write_step = steps_of(result.run_dir)[2]
    assert write_step["action_input"]["content"].startswith("import csv\nrate = 0.6\nprint(")
    assert write_step["normalised"] == ["content: put back `rate = 0.6` (line 2 of the script it rewrote): "
                                        "the new script reads rate but defines it nowhere"]
