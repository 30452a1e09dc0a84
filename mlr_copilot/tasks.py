"""Research tasks: where they live, how their data are prepared, how a workspace is graded.

A task named ``NAME`` is made of up to three parts under one root directory:

* ``problems/NAME`` (or ``NAME.txt`` / ``NAME.md``): the research problem the agent reads;
* ``workspaces/NAME/``: starter code and the data the agent may see (copied into each run);
* ``tasks/NAME/``: what the agent never sees: ``task.json`` (metric, direction, script,
  read-only globs), ``prepare.py`` (builds the data), ``grader.py`` (scores a workspace
  against ``answers/``), ``baseline.json`` (the score of the unchanged starter code).

A task with a problem but no ``tasks/NAME/grader.py`` still runs; it is just not scored.
See the README section "Adding a task" for the file formats. The helpers a ``prepare.py``
uses are in ``task_prepare``, those a ``grader.py`` uses in ``grading``; the baseline is
measured by ``task_baseline``.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

from .config import DEFAULT_SCRIPT_TIMEOUT_S
from .errors import ConfigError
from .grading import Grade, InvalidSubmission
from .logs import utc_now, write_json_atomic
from .records.layout import IDEA_JSON_SUFFIX
from .task_prepare import DataUnavailable, PrepareContext, PrepareResult, data_cache_dir

__all__ = ["Task", "Grade", "InvalidSubmission", "DataUnavailable", "PrepareContext", "PrepareResult",
           "discover_tasks", "find_task", "load_task", "describe_tasks", "data_cache_dir"]

log = logging.getLogger(__name__)

DIRECTIONS = ("higher", "lower")
DEFAULT_SCRIPT = "train.py"
DEFAULT_SUBMISSION = "submission.csv"
DEFAULT_BASELINE_TIMEOUT_S = DEFAULT_SCRIPT_TIMEOUT_S  # the starter gets as long as an agent's script
PREPARED_STAMP = ".prepared.json"
_PROBLEM_SUFFIXES = ("", ".txt", ".md")
_TASK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_TASK_KEYS = {"name", "title", "metric", "direction", "script", "submission", "read_only",
              "timeout_s", "offline", "data_version", "description", "baseline"}


def _load_module(path: Path, label: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mlr_copilot_task_{label}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files_under(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@dataclass
class Task:
    """One research task; see the module docstring for where each part lives."""

    name: str
    problem_path: Path
    workspace_path: Path
    definition_dir: Path | None = None
    metric: str | None = None
    direction: str = "higher"
    read_only: tuple[str, ...] = ()
    baseline: float | None = None
    baseline_runtime_s: float | None = None  # how long the starter ran when its baseline was measured
    script: str = DEFAULT_SCRIPT
    submission: str = DEFAULT_SUBMISSION
    timeout_s: float = DEFAULT_BASELINE_TIMEOUT_S
    offline: bool = False  # True: prepare needs no network
    title: str = ""
    config: dict[str, Any] = field(default_factory=dict, repr=False)

    # --- paths ---------------------------------------------------------------------
    @property
    def answers_dir(self) -> Path | None:
        return self.definition_dir / "answers" if self.definition_dir else None

    @property
    def grader_path(self) -> Path | None:
        p = self.definition_dir / "grader.py" if self.definition_dir else None
        return p if p is not None and p.is_file() else None

    @property
    def prepare_path(self) -> Path | None:
        p = self.definition_dir / "prepare.py" if self.definition_dir else None
        return p if p is not None and p.is_file() else None

    @property
    def baseline_path(self) -> Path | None:
        return self.definition_dir / "baseline.json" if self.definition_dir else None

    @property
    def gradable(self) -> bool:
        return self.grader_path is not None

    def problem_text(self) -> str:
        """The problem statement; ConfigError when it is not readable UTF-8 text or is empty."""
        try:
            data = self.problem_path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"The problem file {self.problem_path} cannot be read: {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"The problem file {self.problem_path} is not UTF-8 text (byte {exc.start} "
                              f"cannot be decoded); save it as UTF-8.") from None
        if not text.strip():
            raise ConfigError(f"The problem file {self.problem_path} is empty; write the research problem "
                              "in it (or generate one with `mlr-copilot idea`).")
        return text

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b`` under this task's direction."""
        return a > b if self.direction == "higher" else a < b

    # --- prepare -------------------------------------------------------------------
    def _stamp_path(self) -> Path | None:
        return self.answers_dir / PREPARED_STAMP if self.answers_dir else None

    def is_prepared(self) -> bool:
        """True when prepare ran and every file it left is still there (or nothing to prepare)."""
        if self.prepare_path is None:
            return True
        stamp = self._stamp_path()
        try:
            data = json.loads(stamp.read_text(encoding="utf-8"))
        except (OSError, ValueError, AttributeError):
            return False
        if data.get("data_version") != self.config.get("data_version"):
            return False
        return all((self.workspace_path / f).is_file() for f in data.get("workspace_files", [])) and \
            all((self.answers_dir / f).is_file() for f in data.get("answer_files", []))

    def prepare(self, online: bool = False, *, force: bool = False, cache: Path | None = None,
                hf_cache: Path | None = None) -> PrepareResult:
        """Build the task's data (visible part in the workspace, answers outside it).

        Never raises for missing data: the result says what is missing and how to get it.
        """
        if self.prepare_path is None:
            return PrepareResult(True, f"task '{self.name}' has no prepare step", skipped=True)
        from filelock import FileLock

        # Two runs starting at once must not both write the data: the second waits, then
        # finds the task prepared.
        self.answers_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.answers_dir / ".prepare.lock")):
            return self._prepare_locked(online, force, cache, hf_cache)

    def _prepare_locked(self, online: bool, force: bool, cache: Path | None,
                        hf_cache: Path | None) -> PrepareResult:
        if not force and self.is_prepared():
            return PrepareResult(True, f"task '{self.name}' is already prepared", skipped=True)
        answers = self.answers_dir
        answers.mkdir(parents=True, exist_ok=True)
        self._stamp_path().unlink(missing_ok=True)
        (answers / ".gitignore").write_text("# generated by prepare; never commit hidden answers\n*\n")
        self.workspace_path.mkdir(parents=True, exist_ok=True)
        ctx = PrepareContext(self.name, self.workspace_path, answers, Path(cache or data_cache_dir()), online,
                             Path(hf_cache) if hf_cache else None)
        started = time.monotonic()
        try:
            module = _load_module(self.prepare_path, f"{self.name}_prepare")
            module.prepare(ctx)
        except DataUnavailable as exc:
            log.info("task %s: data unavailable: %s", self.name, exc)
            return PrepareResult(False, str(exc))
        except ImportError as exc:
            return PrepareResult(False, f"preparing task '{self.name}' needs a missing package: {exc}")
        except Exception as exc:  # noqa: BLE001 - a failed prepare is reported, never a crash
            log.warning("prepare of task %s failed", self.name, exc_info=True)
            return PrepareResult(False, f"preparing task '{self.name}' failed: {type(exc).__name__}: {exc}")
        seconds = time.monotonic() - started
        self.record_prepared(online=online, seconds=seconds,
                             sources=[ctx.cache / self.name, *ctx.sources])
        return PrepareResult(True, f"task '{self.name}' prepared in {seconds:.1f}s")

    def record_prepared(self, *, online: bool = False, seconds: float = 0.0,
                        sources: Sequence[Path] = ()) -> None:
        """Note that the data are in place (prepare does this; also for data placed by hand).

        The stamp lists the files then present in ``workspace/data`` and ``answers/``, so a
        deleted file makes the task unprepared again.
        """
        answers = self.answers_dir
        answers.mkdir(parents=True, exist_ok=True)
        stamp = {"task": self.name, "prepared_at": utc_now(), "online": online,
                 "data_version": self.config.get("data_version"), "seconds": round(seconds, 3),
                 "workspace_files": [f"data/{f}" for f in _files_under(self.workspace_path / "data")],
                 "answer_files": [f for f in _files_under(answers)
                                  if f not in (PREPARED_STAMP, ".gitignore", ".prepare.lock")],
                 "sources": sorted({str(Path(p).resolve()) for p in sources})}
        write_json_atomic(self._stamp_path(), stamp)

    def hidden_paths(self) -> list[Path]:
        """Folders agent scripts must not read: this task's definition (answers, grader) and the
        raw data prepare used (which hold the test labels). For EnvConfig.hidden_paths."""
        paths = [self.definition_dir] if self.definition_dir else []
        try:
            stamp = json.loads(self._stamp_path().read_text(encoding="utf-8"))
            paths += [Path(p) for p in stamp.get("sources", [])]
        except (OSError, ValueError, AttributeError):
            pass
        paths.append(data_cache_dir() / self.name)
        out: list[Path] = []
        for p in paths:
            p = Path(p).resolve()
            if p.exists() and p not in out:
                out.append(p)
        return out

    # --- grading -------------------------------------------------------------------
    def _grade_function(self) -> Callable[[Path, Path], float]:
        return _load_module(self.grader_path, f"{self.name}_grader").grade

    def grade(self, workspace_dir: str | Path) -> Grade:
        """Score a finished workspace; bad submissions and grader failures give invalid Grades."""
        if not self.gradable:
            return Grade.invalid(f"task '{self.name}' has no grader; runs of it are not scored")
        ws = Path(workspace_dir)
        if not ws.is_dir():
            return Grade.invalid(f"workspace {ws} does not exist")
        answers = self.answers_dir
        if not self.is_prepared():
            return Grade.invalid(f"task '{self.name}' is not prepared (hidden answers missing); "
                                 f"run `mlr-copilot prepare {self.name}` first")
        try:
            score = float(self._grade_function()(ws, answers))
        except InvalidSubmission as exc:
            return Grade.invalid(str(exc))
        except Exception as exc:  # noqa: BLE001 - a grader bug must not stop an evaluation of many runs
            log.warning("grader of task %s failed on %s", self.name, ws, exc_info=True)
            return Grade.invalid(f"grader failed: {type(exc).__name__}: {exc}")
        if score != score or score in (float("inf"), float("-inf")):
            return Grade.invalid(f"grader returned a non-finite score ({score})")
        return Grade.ok(score)


# --- discovery -------------------------------------------------------------------------

def _problem_file(root: Path, name: str) -> Path | None:
    for suffix in _PROBLEM_SUFFIXES:
        p = root / "problems" / f"{name}{suffix}"
        if p.is_file():
            return p
    return None


def _read_definition(defn: Path, name: str) -> dict[str, Any]:
    path = defn / "task.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    unknown = set(data) - _TASK_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; known: {sorted(_TASK_KEYS)}")
    direction = data.get("direction", "higher")
    if direction not in DIRECTIONS:
        raise ConfigError(f"{path}: direction must be 'higher' or 'lower', not {direction!r}")
    ro = data.get("read_only", [])
    if not isinstance(ro, list) or not all(isinstance(g, str) for g in ro):
        raise ConfigError(f"{path}: read_only must be a list of glob strings")
    return data


def _read_baseline(defn: Path | None, fallback: Any) -> tuple[float | None, float | None]:
    """(the starter's score, its measured run time in seconds) from ``baseline.json``; the
    score falls back to task.json's ``baseline``."""
    if defn is not None and (defn / "baseline.json").exists():
        try:
            data = json.loads((defn / "baseline.json").read_text(encoding="utf-8"))
            if data.get("valid", True) and data.get("score") is not None:
                runtime = data.get("runtime_s")
                ok = isinstance(runtime, (int, float)) and not isinstance(runtime, bool) and 0 < runtime < float("inf")
                return float(data["score"]), (float(runtime) if ok else None)
        except (ValueError, TypeError, AttributeError):
            log.warning("ignoring unreadable %s", defn / "baseline.json")
    return (float(fallback) if isinstance(fallback, (int, float)) else None), None


def load_task(root: str | Path, name: str) -> Task:
    """The task ``name`` under ``root``; ConfigError when it has no problem text."""
    root = Path(root)
    problem = _problem_file(root, name)
    if problem is None:
        raise ConfigError(f"task '{name}' has no problem text: expected {root / 'problems' / name}")
    defn = root / "tasks" / name
    defn = defn if defn.is_dir() else None
    data = _read_definition(defn, name) if defn else {}
    baseline, baseline_runtime = _read_baseline(defn, data.get("baseline"))
    return Task(
        name=name, problem_path=problem, workspace_path=root / "workspaces" / name,
        definition_dir=defn, metric=data.get("metric"), direction=data.get("direction", "higher"),
        read_only=tuple(data.get("read_only", ())), baseline=baseline, baseline_runtime_s=baseline_runtime,
        script=data.get("script", DEFAULT_SCRIPT), submission=data.get("submission", DEFAULT_SUBMISSION),
        timeout_s=float(data.get("timeout_s", DEFAULT_BASELINE_TIMEOUT_S)), offline=bool(data.get("offline", False)),
        title=data.get("title", ""), config=data)


def discover_tasks(root: str | Path = ".") -> dict[str, Task]:
    """Every task under ``root`` that has a problem text, by name (sorted).

    A task whose definition is broken is left out with a warning; ``find_task`` names the error.
    """
    problems = Path(root) / "problems"
    if not problems.is_dir():
        return {}
    names = {p.name[: -len(p.suffix)] if p.suffix in (".txt", ".md") else p.name
             for p in problems.iterdir()
             if p.is_file() and not p.name.startswith(".") and not p.name.endswith(IDEA_JSON_SUFFIX)}
    tasks = {}
    for name in sorted(names):
        try:
            tasks[name] = load_task(root, name)
        except ConfigError as exc:
            log.warning("skipping task %s: %s", name, exc)
    return tasks


def find_task(root: str | Path, name: str) -> Task:
    """A task by name; ConfigError naming the known tasks, or what is wrong with this one."""
    if not _TASK_NAME.fullmatch(name or ""):
        raise ConfigError(f"invalid task name {name!r}: use letters, digits, '.', '_' and '-'")
    if _problem_file(Path(root), name) is None:
        known = ", ".join(discover_tasks(root)) or "none"
        raise ConfigError(f"unknown task '{name}' under {Path(root).resolve()} (no problems/{name}); "
                          f"known tasks: {known}")
    return load_task(root, name)


def describe_tasks(tasks: dict[str, Task]) -> str:
    """A plain-text table of tasks for ``mlr-copilot tasks``."""
    if not tasks:
        return "No tasks found (a task needs a problem text in problems/NAME)."
    rows = [("task", "metric", "better", "baseline", "graded", "data", "title")]
    for t in tasks.values():
        base = f"{t.baseline:.4g}" if t.baseline is not None else "-"
        data = ("no workspace" if not t.workspace_path.is_dir() else "ready" if t.is_prepared()
                else ("not prepared" if t.offline else "not prepared, needs download"))
        rows.append((t.name, t.metric or "-", t.direction if t.metric else "-", base,
                     "yes" if t.gradable else "no", data, t.title))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
