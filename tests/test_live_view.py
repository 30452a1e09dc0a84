"""The live view a person sees in a terminal, the honest numbers behind it, and small fixes
(cache key without timings, doctor's GPU check for llama, plurals)."""
from __future__ import annotations

import io
import json
import os
import pty
import select
import sys
import time
from pathlib import Path

from mlr_copilot import progress
from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.feedback import ConsoleFeedback, StepView
from mlr_copilot.llm.base import Models, Usage
from mlr_copilot.llm.cache import request_key
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import read_jsonl
from mlr_copilot.view.live import PLAIN_EVERY_S, ProgressPrinter
from mlr_copilot.view.result import plural

REPO = Path(__file__).resolve().parents[1]


def respond(thought, action, args):
    return (f"Reflection: ok\nResearch Plan and Status: 1. look\nFact Check: none\nThought: {thought}\n"
            f"Action: {action}\nAction Input: {json.dumps(args)}")


def toy_project(root: Path) -> Path:
    (root / "problems").mkdir(parents=True)
    (root / "problems" / "toy").write_text("Print a greeting with main.py.\n")
    (root / "workspaces" / "toy").mkdir(parents=True)
    (root / "workspaces" / "toy" / "main.py").write_text("print('hello from main')\n")
    script = root / "script.json"
    script.write_text(json.dumps({"main": [
        respond("run the script to see what it prints", "Execute Script", {"script_name": "main.py"}),
        respond("it works", "Final Answer", {"final_answer": "It prints a greeting."})]}))
    return script


def run_in_pty(args: list[str], cwd: Path, timeout_s: float = 120) -> str:
    """Run the CLI with a pseudo-terminal as stdin, stdout and stderr; return what it showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a real terminal, as a person would have
        os.chdir(cwd)
        os.environ["PYTHONPATH"] = str(REPO)
        os.environ["COLUMNS"] = "120"
        os.execv(sys.executable, [sys.executable, "-m", "mlr_copilot", *args])
    chunks, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_the_live_view_in_a_terminal_with_feedback_none(tmp_path):
    script = toy_project(tmp_path)
    args = ["run", "toy", "--llm", f"scripted:{script}", "--feedback", "none", "--sandbox", "none",
            "--root", str(tmp_path), "--log-root", str(tmp_path / "logs"), "--max-steps", "3"]
    shown = run_in_pty(args, tmp_path)
    run_dir = next((tmp_path / "logs" / "toy").iterdir())
    # the log directory comes first, before any step
    assert shown.index(f"log in {run_dir}") < shown.index("Step 1/3")
    assert "[step 1/3] thinking" in shown and "[step 1/3] acting: Execute Script" in shown
    for text in ("── Step 1/3 · Execute Script", "Thought: run the script to see what it prints",
                 "script_name: main.py", "hello from main", "── Step 2/3 · Final Answer"):
        assert text in shown, text
    assert "Run finished: final_answer" in shown and "Totals: 2 steps · " in shown and "LLM: " in shown
    assert "Report: " in shown and (run_dir / "report.html").is_file()

    quiet = run_in_pty(args + ["--quiet"], tmp_path)
    assert "log in" in quiet and "[step 1/3] acting: Execute Script" in quiet
    assert "Thought:" not in quiet and "hello from main" not in quiet


def test_thinking_shows_elapsed_time_and_tokens_and_repeats_rarely_in_a_log_file():
    out = io.StringIO()
    printer = ProgressPrinter(out)
    with printer:
        progress.report("step", step=2, max_steps=5, phase="thinking", action="")
        since = printer._thinking["since"]
        progress.report("tokens", generated=1)
        assert printer.thinking_text(since + 12.4) == "[step 2/5] thinking 12 s · 1 token generated"
        progress.report("tokens", generated=87)
        assert printer.thinking_text(since + 65) == "[step 2/5] thinking 65 s · 87 tokens generated"
        printer.tick(since + 5)  # not a terminal: nothing before PLAIN_EVERY_S
        printer.tick(since + PLAIN_EVERY_S + 1)
        printer.tick(since + PLAIN_EVERY_S + 2)  # not again so soon
        progress.report("step", step=2, max_steps=5, phase="acting", action="List Files")
        assert printer.thinking_text() == ""
    lines = out.getvalue().splitlines()
    assert lines[0] == "[step 2/5] thinking 0 s"
    assert sum("thinking 31 s · 87 tokens generated" in line for line in lines) == 1
    assert lines[-1] == "[step 2/5] acting: List Files"


def test_a_step_block_shows_thought_action_arguments_and_observation_head():
    out = io.StringIO()
    printer = ProgressPrinter(out, observation_lines=2)
    view = StepView(3, "edit   the\nscript", "Edit Script (AI)", {"script_name": "train.py", "n": [1, 2]},
                    "line 1\nline 2\nline 3\n")
    with printer:
        progress.report("step_done", view=view, max_steps=9, seconds=4.25,
                        usage=Usage(input_tokens=1200, output_tokens=34), cost_usd=0.0123)
    assert out.getvalue().splitlines() == [
        "── Step 3/9 · Edit Script (AI) · 4.2 s · 1,200 in / 34 out tokens · $0.0123",
        "Thought: edit the script", "Action: Edit Script (AI)", "  script_name: train.py", "  n: [1, 2]",
        "Observation (first 2 of 3 lines):", "  line 1", "  line 2"]


def test_quiet_shows_how_long_a_script_runs_but_not_what_it_prints():
    shown = {}
    for quiet in (False, True):
        out = io.StringIO()
        with ProgressPrinter(out, quiet=quiet):
            progress.report("script", elapsed_s=3.0, last_line="epoch 3 loss 0.41")
        shown[quiet] = out.getvalue().splitlines()
    assert shown[False] == ["  script running 3 s | epoch 3 loss 0.41"]
    assert shown[True] == ["  script running 3 s"]


def test_a_tree_step_is_headed_by_its_node_of_the_node_limit():
    out = io.StringIO()
    view = StepView(12, "use a forest", "node 6 (improve)", {"parent": 4}, "Node 6: validation rmse 65.7")
    with ProgressPrinter(out):
        progress.report("step_done", view=view, max_steps=10, seconds=2.0, node=6)
    assert out.getvalue().splitlines()[0] == "── Node 6/10 · node 6 (improve) · step 12 · 2.0 s"


class LoadedLLM(ScriptedLLM):
    """A scripted model with weights to load, as the embedded one has."""

    def __init__(self, answers, events):
        super().__init__(answers, model="local-test")
        self.events = events

    def load(self):
        self.events.append("load")


def test_model_weights_load_before_step_one_starts(tmp_path):
    toy_project(tmp_path)
    events: list[str] = []
    main = LoadedLLM([respond("look", "List Files", {"dir_path": "."}),
                      respond("done", "Final Answer", {"final_answer": "x"})], events)
    models = Models(main=main, fast=ScriptedLLM(["ok"], model="f", repeat_last=True), edit=main)
    progress.listen("step", lambda step, phase, **_: events.append(f"step {step} {phase}"))
    try:
        result = run_experiment(RunOptions(task="toy", root=str(tmp_path), log_root=str(tmp_path / "logs"),
                                           sandbox="none", feedback="none"), models=models)
    finally:
        progress.listen("step", None)
    assert events[:3] == ["load", "load", "step 1 thinking"]  # main and edit roles: each asked, before step 1
    assert json.loads((result.run_dir / "run.json").read_text())["model_load_s"] >= 0


def test_duration_excludes_the_time_a_person_takes_to_answer(tmp_path):
    toy_project(tmp_path)

    def slow_person(prompt: str) -> str:
        time.sleep(1.0)  # a person reading the step before pressing Enter
        return ""

    main = [respond("look", "List Files", {"dir_path": "."}), respond("done", "Final Answer", {"final_answer": "x"})]
    models = Models(main=ScriptedLLM(main, model="m"), fast=ScriptedLLM(["ok"], model="f", repeat_last=True),
                    edit=ScriptedLLM([], model="e"))
    shown = io.StringIO()
    result = run_experiment(RunOptions(task="toy", root=str(tmp_path), log_root=str(tmp_path / "logs"),
                                       sandbox="none", feedback="console"),
                            models=models, feedback=ConsoleFeedback(input_fn=slow_person, output=shown))
    step = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"][0]
    assert step["human_wait_s"] >= 1.0
    assert step["duration_s"] < step["human_wait_s"]
    assert "Thought: look" in shown.getvalue()  # no live view listening: the console shows the step


def test_the_cache_key_ignores_script_timings_but_not_the_output():
    def key(text):
        return request_key("b", "m", [{"role": "user", "content": text}], max_tokens=10, temperature=0.0,
                           stop=(), response_spec=None)
    assert key("out 1\nExit code: 0, after 1.8 s.") == key("out 1\nExit code: 0, after 12 s.")
    assert key("The script was stopped after 30 s (x)") == key("The script was stopped after 31.5 s (x)")
    assert key("out 1\nExit code: 0, after 1.8 s.") != key("out 2\nExit code: 0, after 1.8 s.")


def test_doctor_says_llama_needs_a_gpu_when_none_is_visible(tmp_path, monkeypatch):
    from mlr_copilot.doctor import collect

    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi here
    checks = {c.name: c for c in collect(tmp_path, {"PATH": str(tmp_path)})}
    assert not checks["llm llama"].ok and "no NVIDIA GPU" in checks["llm llama"].detail
    assert checks["llm llama"].fix


def test_plurals():
    assert [plural(n, "paper") for n in (0, 1, 2, 1234)] == ["0 papers", "1 paper", "2 papers", "1,234 papers"]
    assert plural(1, "parse retry", "parse retries") == "1 parse retry"
