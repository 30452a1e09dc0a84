"""Shared pieces of the issue-13 robustness tests: a time guard, a toy run, an Environment."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.client import Budget, LLMClient
from mlr_copilot.llm.pricing import FREE
from mlr_copilot.llm.scripted import ScriptedLLM

from reliability_project import make_project, options, step

GUARD_S = 60.0


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it has not
    returned after ``seconds``. Exceptions of ``fn`` are raised here."""
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise AssertionError(f"still running after {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def scripted_models(main: list, edit: list | None = None) -> Models:
    budget = Budget()

    def client(llm, role):
        return LLMClient(llm, budget=budget, role=role, price=FREE)

    fast = ScriptedLLM(["Noted: the step went as planned."], model="fast", repeat_last=True)
    return Models(main=client(ScriptedLLM(main, model="main"), "main"), fast=client(fast, "fast"),
                  edit=client(ScriptedLLM(edit or ["```python\nprint(1)\n```"], model="edit",
                                          repeat_last=True), "edit"))


def toy_run(tmp_path: Path, steps: list[tuple[str, dict]], **kw):
    """A real run of the toy task with a scripted agent taking ``steps``, then a Final Answer."""
    from mlr_copilot.agents.runner import run_experiment

    root = tmp_path / "project"
    if not root.exists():
        make_project(root)
    main = [step(f"step {i}", a, args) for i, (a, args) in enumerate(steps, 1)]
    main.append(step("done", "Final Answer", {"final_answer": "done"}))
    return run_experiment(options(root, **kw), models=scripted_models(main), feedback=NoFeedback())


def make_env(tmp_path: Path, offered: list[str] | None = None) -> Environment:
    ws = tmp_path / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "main.py").write_text("print('hello')\n")
    models = scripted_models(["unused"], edit=["```python\nprint(2)\n```"])
    offered = offered or ["List Files", "Read File", "Write File", "Copy File", "Inspect Script Lines",
                          "Understand File", "Edit Script (AI)", "Final Answer"]
    return Environment(EnvConfig(sandbox="none"), workspace=ws, env_log_dir=tmp_path / "env_log",
                       models=models, offered=offered)
