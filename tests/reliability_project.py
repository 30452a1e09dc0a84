"""A small task project and a recorded reference run, shared by the reliability tests (issue 8).

``make_project`` writes ``problems/toy`` and ``workspaces/toy`` (scripts that take a moment
and leave files behind, one that prints a long report). ``record_reference`` runs the real
agent on it with a scripted model whose every call is logged, giving a run directory that
``--llm replay:<dir>`` reproduces. ``cli`` runs ``python -m mlr_copilot`` in a child
process, optionally with the test-only kill hook of ``tests/fakes/killhook``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.client import Budget, LLMClient
from mlr_copilot.llm.pricing import FREE
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import JsonlWriter, read_jsonl

REPO = Path(__file__).resolve().parents[1]
KILL_HOOK = Path(__file__).resolve().parent / "fakes" / "killhook"

BUGGY = ("import time\nopen('progress.txt', 'w').write('started\\n')\ntime.sleep(0.3)\n"
         "values = [1, 2, 3]\nopen('result.txt', 'w').write(str(sum(values)))\n"
         "print('mean', sum(values) / len(valuez))\n")
HALF = BUGGY.replace("[1, 2, 3]", "[1, 2, 3, 4]")
FIXED = HALF.replace("len(valuez)", "len(values)")
REPORT = ("for i in range(120):\n    print(f'row {i:03d}: ' + 'abcdefghij' * 4)\n"
          "open('report_done.txt', 'w').write('ok')\n")


def step(thought: str, action: str, args: dict) -> str:
    return (f"Reflection: going on\nResearch Plan and Status: 1. baseline 2. fix 3. report\n"
            f"Fact Check: none\nThought: {thought}\nAction: {action}\nAction Input: {json.dumps(args)}")


MAIN = [
    step("see the files", "List Files", {"dir_path": "."}),
    step("read the script", "Inspect Script Lines", {"script_name": "main.py", "start_line_number": 1,
                                                     "end_line_number": 6}),
    step("baseline", "Execute Script", {"script_name": "main.py"}),
    step("keep a copy", "Copy File", {"source": "main.py", "destination": "backup.py"}),
    step("add a value", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "add 4",
                                             "save_name": "main.py"}),
    step("take it back", "Undo Edit Script", {"script_name": "main.py"}),
    step("fix it all", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "add 4, fix valuez",
                                            "save_name": "main.py"}),
    step("run the fix", "Execute Script", {"script_name": "main.py"}),
    step("long report", "Execute Script", {"script_name": "report.py"}),
    step("done", "Final Answer", {"final_answer": "The mean of 1..4 is 2.5."}),
]
EDITS = [f"```python\n{HALF}```", f"```python\n{FIXED}```"]


def fast_answer(messages) -> str:
    """Research-log entries long enough that the log gets summarised after a few steps."""
    prompt = messages[-1]["content"]
    return "Noted: " + prompt.strip().splitlines()[0][:80] + ". " + "The step went as planned. " * 16


def make_project(root: Path) -> Path:
    (root / "problems").mkdir(parents=True)
    (root / "problems" / "toy").write_text("Compute the mean of the values 1, 2, 3 and 4 with main.py.\n")
    ws = root / "workspaces" / "toy"
    ws.mkdir(parents=True)
    (ws / "main.py").write_text(BUGGY)
    (ws / "report.py").write_text(REPORT)
    (ws / "notes.txt").write_text("data notes\n")
    return root


def options(root: Path, **kw) -> RunOptions:
    kw.setdefault("log_root", str(root / "logs"))
    return RunOptions(task="toy", root=str(root), sandbox="none", feedback="none", **kw)


def record_reference(root: Path, dest: Path, work_dir: Path) -> Path:
    """Run the scripted agent once, every call logged to ``dest/agent_log/llm_calls.jsonl``.

    Script tracebacks name the script by its absolute path, so runs that are to send the
    same prompts must use the same workspace path (``--work-dir``)."""
    log = JsonlWriter(dest / "agent_log" / "llm_calls.jsonl", fsync=False)
    budget = Budget()

    def client(llm, role):
        return LLMClient(llm, call_log=log, budget=budget, role=role, price=FREE)

    models = Models(main=client(ScriptedLLM(MAIN, model="scripted-main"), "main"),
                    fast=client(ScriptedLLM([fast_answer], model="scripted-fast", repeat_last=True), "fast"),
                    edit=client(ScriptedLLM(EDITS, model="scripted-edit"), "edit"))
    result = run_experiment(options(root, log_root=str(dest / "logs"), work_dir=str(work_dir)), models=models,
                            feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    return dest


def cli(args: list[str], *, cwd: Path, kill: dict[str, str] | None = None, env: dict[str, str] | None = None,
        timeout: float = 120, preexec_fn=None) -> subprocess.CompletedProcess:
    """``python -m mlr_copilot ARGS`` in a child; ``kill`` sets the MLR_TEST_KILL_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLR_TEST_KILL")}
    paths = [str(KILL_HOOK), str(REPO)] + ([base["PYTHONPATH"]] if base.get("PYTHONPATH") else [])
    full = {**base, "PYTHONPATH": os.pathsep.join(paths), **(env or {}), **(kill or {})}
    return subprocess.run([sys.executable, "-m", "mlr_copilot", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec_fn)


def replay_args(root: Path, ref: Path, log_root: Path, work_dir: Path, *extra: str) -> list[str]:
    return ["run", "toy", "--llm", f"replay:{ref}", "--root", str(root), "--log-root", str(log_root),
            "--work-dir", str(work_dir), "--sandbox", "none", "--feedback", "none", *extra]


def only_run_dir(log_root: Path) -> Path:
    runs = sorted((log_root / "toy").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


_DURATION = re.compile(r"after \d+(\.\d+)? s\.")


def normalise(value):
    """Step content with script run times ("after 0.3 s.") blanked: the one thing that varies."""
    if isinstance(value, str):
        return _DURATION.sub("after N s.", value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


STEP_FIELDS = ("step", "prompt", "action", "action_input", "entries", "response", "observation", "full_observation",
               "feedback", "exit_code", "parse_attempts", "parse_errors")


def step_views(run_dir: Path) -> list[dict]:
    steps = [r for r in read_jsonl(run_dir / "agent_log" / "full_log.jsonl") if r.get("type") == "step"]
    return [normalise({k: s.get(k) for k in STEP_FIELDS}) for s in steps]


def workspace_files(ws: Path) -> dict[str, bytes]:
    return {p.relative_to(ws).as_posix(): p.read_bytes() for p in sorted(ws.rglob("*")) if p.is_file()}


def assert_jsonl_valid(path: Path) -> int:
    """Every line of a JSONL log is a whole JSON object; returns the number of lines."""
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", f"{path} does not end with a newline"
    for i, line in enumerate(lines[:-1], 1):
        assert isinstance(json.loads(line), dict), f"{path}:{i} is not a JSON object"
    return len(lines) - 1


def undo_history(run_dir: Path) -> dict[str, bytes]:
    """The undo stacks (backups not yet used), name and content."""
    root = run_dir / "env_log" / "backups"
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(root.glob("*/*"))
            if p.is_file() and p.name[:6].isdigit()}


class Reference:
    """The project, the recorded reference, and a replayed run that was never killed."""

    def __init__(self, base: Path):
        self.base = base
        self.root = make_project(base / "project")
        self.ws = base / "ws"  # one workspace path for every run: tracebacks name it
        self.ref = record_reference(self.root, base / "ref", self.ws)
        shutil.rmtree(self.ws)
        counts = base / "counts.json"
        t0 = time.monotonic()
        r = cli(replay_args(self.root, self.ref, base / "clean", self.ws), cwd=base,
                kill={"MLR_TEST_KILL_AT": "count", "MLR_TEST_KILL_COUNTS": str(counts)})
        self.seconds = time.monotonic() - t0
        assert r.returncode == 0, r.stdout + r.stderr
        self.counts = json.loads(counts.read_text())
        self.run = only_run_dir(base / "clean")
        self.steps = step_views(self.run)
        self.files = workspace_files(self.ws)
        self.undo = undo_history(self.run)
        shutil.rmtree(self.ws)

    def start(self, log_root: Path, kill: dict | None = None):
        return cli(replay_args(self.root, self.ref, log_root, self.ws), cwd=self.base, kill=kill)
