"""What the IdeaAgent shows a model of a task's starter code, so the plan names real files.

Lists ``workspaces/NAME/`` (hidden files and caches skipped) and the first lines of its
main Python files; reads the task's metric and submission file from ``tasks/NAME/`` when
the task defines them. Kept short: the whole excerpt must fit a small local model.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

logger = logging.getLogger(__name__)

MAX_FILES = 40
MAX_HEAD_FILES = 3
HEAD_LINES = 30
HEAD_LINE_CHARS = 160
MAX_HEAD_CHARS = 2_500
MAX_STATEMENT_CHARS = 1_200
_SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", "node_modules", ".venv", "venv"}


@dataclass
class WorkspaceInfo:
    task: str
    exists: bool
    files: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    heads: list[tuple[str, str]] = field(default_factory=list)
    saves_submission: bool = False
    task_info: dict[str, Any] = field(default_factory=dict)

    def _file_list(self) -> str:
        shown = self.files[:MAX_FILES]
        lines = [f"- {f} ({_size(self.sizes.get(f, 0))})" for f in shown]
        if len(self.files) > MAX_FILES:
            lines.append(f"- ... and {len(self.files) - MAX_FILES} more files")
        return "\n".join(lines)

    def _statement(self, statement: str) -> str:
        s = statement.strip()
        return s if len(s) <= MAX_STATEMENT_CHARS else s[:MAX_STATEMENT_CHARS].rsplit(" ", 1)[0] + " …"

    def brief(self, statement: str = "") -> str:
        """A few lines for the problem stage: which task, what it asks, which files exist."""
        parts = [f"\nThe experiment will be run on the task '{self.task}'."]
        if statement.strip():
            parts.append(f"Task description: {self._statement(statement)}")
        if self.task_info.get("metric"):
            parts.append(f"Its metric: {self.task_info['metric']} ({self.task_info.get('direction', 'higher')} is better).")
        if self.exists and self.files:
            parts.append("Starter code files: " + ", ".join(self.files[:15])
                         + (" ..." if len(self.files) > 15 else ""))
        return "\n".join(parts) + "\n"

    def grounding(self, statement: str = "") -> str:
        """The plan stage's view: file list, heads of the main scripts, the task description."""
        if not self.exists or not self.files:
            return (f"There is no starter code for the task '{self.task}' yet: name the files to create "
                    "(for example train.py) in Files to Change.\n")
        parts = [f"Starter code of the task '{self.task}' (the plan must change these files, not invent others):",
                 "Files:\n" + self._file_list()]
        for path, head in self.heads:
            parts.append(f"--- {path} (first lines) ---\n{head}\n--- end of {path} ---")
        if statement.strip():
            parts.append(f"Task description: {self._statement(statement)}")
        if self.task_info.get("metric"):
            parts.append(f"The task is scored by {self.task_info['metric']} "
                         f"({self.task_info.get('direction', 'higher')} is better).")
        return "\n\n".join(parts) + "\n"


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1024 ** 2 else f"{n / 1024 ** 2:.1f} MB"


def _head(path: Path) -> str:
    lines = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f):
                if i >= HEAD_LINES:
                    lines.append("...")
                    break
                line = line.rstrip("\n")
                lines.append(line if len(line) <= HEAD_LINE_CHARS else line[:HEAD_LINE_CHARS] + " …")
    except OSError as exc:
        return f"(unreadable: {exc})"
    return "\n".join(lines)


def _task_info(task_root: Path | None, task: str) -> dict[str, Any]:
    if task_root is None or not (task_root / "tasks" / task).is_dir():
        return {}
    from ..tasks import load_task

    try:
        t = load_task(task_root, task)
    except ConfigError as exc:  # no problem text yet, or a broken task.json: plan without it
        logger.info("task %s: definition not used (%s)", task, exc)
        return {}
    return {"metric": t.metric, "direction": t.direction, "submission": t.submission, "script": t.script,
            "read_only": list(t.read_only)}


def describe_workspace(ws_dir: Path, task: str, *, task_root: Path | None = None) -> WorkspaceInfo:
    info = WorkspaceInfo(task=task, exists=ws_dir.is_dir(), task_info=_task_info(task_root, task))
    if not info.exists:
        return info
    for p in sorted(ws_dir.rglob("*")):
        rel = p.relative_to(ws_dir)
        if any(part.startswith(".") or part in _SKIP_DIRS for part in rel.parts) or not p.is_file() \
                or rel.parts[0] == "prototype":  # retrieved code: the prototype brief describes it
            continue
        if p.suffix in (".pyc", ".pyo"):
            continue
        info.files.append(rel.as_posix())
        info.sizes[rel.as_posix()] = p.stat().st_size
    script = info.task_info.get("script") or "train.py"
    py = [f for f in info.files if f.endswith(".py")]
    py.sort(key=lambda f: (f != script, "/" in f, not Path(f).name.startswith(("train", "main")), f))
    used = 0
    for f in py[:MAX_HEAD_FILES]:
        head = _head(ws_dir / f)
        if used + len(head) > MAX_HEAD_CHARS:
            head = head[: max(0, MAX_HEAD_CHARS - used)].rsplit("\n", 1)[0] + "\n..."
        if head.strip(". \n"):
            info.heads.append((f, head))
            used += len(head)
        if used >= MAX_HEAD_CHARS:
            break
    submission = info.task_info.get("submission") or "submission.csv"
    for f in py:
        try:
            if submission in (ws_dir / f).read_text(encoding="utf-8", errors="replace"):
                info.saves_submission = True
                break
        except OSError:
            continue
    return info
