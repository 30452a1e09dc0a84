"""A toy task and scripted answers for the tree-strategy tests (test data, not stand-ins for code).

The toy task has a small CSV, a starter train.py and a task.json; each scripted answer is a
plan and a whole script that prints a chosen validation line and writes submission.csv,
so every node really runs in the sandbox.
"""
from __future__ import annotations

import json
from pathlib import Path

from mlr_copilot.agents.runner import RunOptions
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM

STARTER = ("import csv\nrows = list(csv.DictReader(open('data/train.csv')))\n"
           "print('Validation accuracy: 0.5')\nopen('submission.csv', 'w').write('id,label\\n')\n")


def make_project(root: Path, *, direction: str | None = "higher", metric: str = "accuracy") -> Path:
    (root / "problems").mkdir(parents=True)
    (root / "problems" / "toy").write_text(
        "Predict the label of each row of data/test.csv from x, using data/train.csv.\n"
        f"Write submission.csv with the columns id and label. The metric is {metric}.\n")
    ws = root / "workspaces" / "toy"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "train.csv").write_text("id,x,label\n1,0.5,a\n2,1.5,b\n3,2.0,b\n")
    (ws / "data" / "test.csv").write_text("id,x\n4,0.1\n5,1.9\n")
    (ws / "train.py").write_text(STARTER)
    definition = {"metric": metric, "script": "train.py", "read_only": ["data/*"]}
    if direction:
        definition["direction"] = direction
    (root / "tasks" / "toy").mkdir(parents=True)
    (root / "tasks" / "toy" / "task.json").write_text(json.dumps(definition))
    return root


def script(value, *, metric: str = "accuracy", tag: str = "", extra: str = "") -> str:
    """The source of a node that prints ``Validation <metric>: <value>`` (``value`` None: no line)."""
    line = "" if value is None else f"print('Validation {metric}: {value}')\n"
    return (f"# {tag or value}\nimport csv\nrows = list(csv.DictReader(open('data/train.csv')))\n{extra}"
            f"{line}open('submission.csv', 'w').write('id,label\\n# {tag or value}\\n')\n")


def answer(code: str, plan: str = "") -> str:
    return f"{plan or 'Plan: try this.'}\n```python\n{code}```\n"


def good(value, **kw) -> str:
    return answer(script(value, **kw), f"Plan: a model scoring {value}.")


def failing(error: str = "1 / 0", tag: str = "bad") -> str:
    return answer(script(None, tag=tag, extra=f"{error}\n"), f"Plan: {tag}.")


def models(responses, *, continues_answers: bool = False) -> Models:
    return Models(main=ScriptedLLM(responses, model="main", continues_answers=continues_answers),
                  fast=ScriptedLLM(["unused"], model="fast", repeat_last=True),
                  edit=ScriptedLLM(["unused"], model="edit", repeat_last=True))


def options(root: Path, **kw) -> RunOptions:
    kw.setdefault("feedback", "none")
    kw.setdefault("strategy", "tree")
    return RunOptions(task="toy", root=str(root), log_root=str(root / "logs"), sandbox="none", **kw)


def prompts(m: Models) -> list[str]:
    return ["\n\n".join(msg["content"] for msg in c["messages"]) for c in m.main.calls if c["purpose"] == "tree_node"]
