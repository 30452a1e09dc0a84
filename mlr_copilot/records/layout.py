"""Every path of a run directory, named here and nowhere else.

A run directory ``logs/<task>/<YYYY-MM-DDTHH-MM-SSZ>/`` holds::

    run.json                     status, options, models, totals (RunInfo)
    workspace/                   the agent's copy of the task workspace (unless --work-dir)
    agent_log/full_log.jsonl     run_start, one step record per step, run_end
    agent_log/llm_calls.jsonl    every LLM call
    env_log/trace.jsonl          every environment action
    env_log/outputs/             step_NNNN_<script>.log: the whole output of each script
    env_log/snapshots/           manifests/step_NNNN.json and blobs/ab/ab12…: per-step snapshots
    env_log/backups/             versions kept for Undo Edit Script
    env_log/home/                the scripts' private HOME
    env_log/measurements.jsonl   the measurements ledger
    idea_log.jsonl, eval.json, report.html, error.txt, .lock

Beside a problem text the IdeaAgent wrote, ``problems/NAME.idea.json`` holds the idea it
came from (``idea_json_path``; the record itself is ``records.idea.IdeaRecord``).

Keeping the names in one module means a reader and a writer cannot disagree on where a
file lives. Timestamps are UTC with no colons (valid file names everywhere); runs started
in the same second get ``-1``, ``-2``…, each claimed with an atomic ``mkdir``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import ConfigError

RUN_JSON = "run.json"
WORKSPACE = "workspace"
AGENT_LOG = "agent_log"
FULL_LOG = "full_log.jsonl"
LLM_CALLS = "llm_calls.jsonl"
ENV_LOG = "env_log"
IDEA_LOG = "idea_log.jsonl"
EVAL_JSON = "eval.json"
REPORT_HTML = "report.html"
ERROR_TXT = "error.txt"
LOCK = ".lock"
TEMP_GLOB = ".*.tmp"  # what logs.write_json_atomic leaves when killed mid-write

TRACE = "trace.jsonl"
OUTPUTS = "outputs"
OUTPUT_SUFFIX = ".log"
HOME = "home"
BACKUPS = "backups"
MEASUREMENTS = "measurements.jsonl"
SNAPSHOTS = "snapshots"
MANIFESTS = "manifests"
BLOBS = "blobs"
SNAPSHOT_TMP = "tmp"
STEP_PREFIX, MANIFEST_SUFFIX = "step_", ".json"  # step_0003.json, step_0003_train.py.log

# The original MLR-Copilot's layout, read by import-log.
ORIGINAL_FULL_LOG = "full_log.json"
ORIGINAL_TRACE = "trace.json"
ORIGINAL_PROBLEM = "research_problem.txt"

IDEA_JSON_SUFFIX = ".idea.json"  # problems/NAME.idea.json beside problems/NAME

RUN_DIR_FORMAT = "%Y-%m-%dT%H-%M-%SZ"


def idea_json_path(problem_path: str | os.PathLike) -> Path:
    """Where the idea record of the problem text ``problems/NAME`` lives: ``problems/NAME.idea.json``."""
    p = Path(problem_path)
    return p.with_name(p.name + IDEA_JSON_SUFFIX)


class EnvLog:
    """The environment's folder of a run (``env_log/``): trace, outputs, snapshots, backups.

    Takes any folder: baselines and tests give the Environment one outside a run directory."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"EnvLog({str(self.root)!r})"

    @property
    def trace(self) -> Path:
        return self.root / TRACE

    @property
    def outputs(self) -> Path:
        return self.root / OUTPUTS

    @property
    def home(self) -> Path:
        return self.root / HOME

    @property
    def backups(self) -> Path:
        return self.root / BACKUPS

    @property
    def measurements(self) -> Path:
        return self.root / MEASUREMENTS

    @property
    def snapshots(self) -> Path:
        return self.root / SNAPSHOTS

    @property
    def manifests(self) -> Path:
        return self.snapshots / MANIFESTS

    @property
    def blobs(self) -> Path:
        return self.snapshots / BLOBS

    @property
    def snapshot_tmp(self) -> Path:
        return self.snapshots / SNAPSHOT_TMP

    def manifest(self, step: int) -> Path:
        return self.manifests / f"{STEP_PREFIX}{step:04d}{MANIFEST_SUFFIX}"

    def blob(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    def manifest_steps(self) -> list[int]:
        """Steps that have a manifest file, ascending (unreadable names are skipped)."""
        steps = []
        for f in self.manifests.glob(f"{STEP_PREFIX}*{MANIFEST_SUFFIX}"):
            try:
                steps.append(int(f.name[len(STEP_PREFIX):-len(MANIFEST_SUFFIX)]))
            except ValueError:
                continue
        return sorted(steps)

    @staticmethod
    def output_name(step: int, script: str) -> str:
        """The stem of a script's output file (``step_0003_train.py``; the runner adds the suffix)."""
        return f"{STEP_PREFIX}{step:04d}_{script}"

    @classmethod
    def find(cls, path: str | os.PathLike) -> "EnvLog | None":
        """The env_log holding snapshots at ``path``: a run dir, its env_log or its snapshots folder."""
        p = Path(path)
        for cand in (p / ENV_LOG, p, p.parent):
            if (cand / SNAPSHOTS / MANIFESTS).is_dir():
                return cls(cand)
        return None


class RunDir:
    """One run directory and every path in it; nothing here touches the disk unless asked."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    run_json = property(lambda self: self.root / RUN_JSON)
    lock = property(lambda self: self.root / LOCK)
    error_file = property(lambda self: self.root / ERROR_TXT)
    eval_json = property(lambda self: self.root / EVAL_JSON)
    report = property(lambda self: self.root / REPORT_HTML)
    idea_log = property(lambda self: self.root / IDEA_LOG)
    own_workspace = property(lambda self: self.root / WORKSPACE)
    agent_log = property(lambda self: self.root / AGENT_LOG)
    full_log = property(lambda self: self.agent_log / FULL_LOG)
    llm_calls = property(lambda self: self.agent_log / LLM_CALLS)
    env_log = property(lambda self: EnvLog(self.root / ENV_LOG))

    @property
    def logs(self) -> tuple[Path, Path, Path]:
        """The JSONL logs a run appends to: its step log, call log and trace."""
        return self.full_log, self.llm_calls, self.env_log.trace

    def workspace_for(self, info: Mapping[str, Any]) -> Path:
        """Where the run works: its own copy (found from the run directory, wherever it moved),
        or the folder given with ``--work-dir`` as run.json records it."""
        options = info.get("options") if isinstance(info.get("options"), Mapping) else {}
        if options.get("work_dir"):
            return Path(info.get("workspace") or options["work_dir"])
        return self.own_workspace

    def looks_like_run(self) -> bool:
        return self.run_json.is_file() or (self.agent_log.is_dir() and self.own_workspace.is_dir())

    def stale_temp_files(self) -> Iterator[Path]:
        """Half-written JSON files a killed process left (never complete: safe to delete)."""
        for folder in (self.root, self.agent_log, self.env_log.root):
            yield from folder.glob(TEMP_GLOB)

    @classmethod
    def of_log(cls, log_file: str | os.PathLike) -> "RunDir":
        """The run directory of a step log (``<run>/agent_log/full_log.jsonl`` or a bare one)."""
        p = Path(log_file)
        return cls(p.parent.parent if p.parent.name == AGENT_LOG else p.parent)


def find_full_log(path: str | os.PathLike) -> Path | None:
    """Our step log at ``path``: the file itself, or in a run directory or its agent_log."""
    p = Path(path)
    if p.is_file() and p.suffix == Path(FULL_LOG).suffix:
        return p
    if p.is_dir():
        for candidate in (p / AGENT_LOG / FULL_LOG, p / FULL_LOG):
            if candidate.is_file():
                return candidate
    return None


def find_call_log(path: str | os.PathLike) -> Path | None:
    """The call log at ``path``: the file itself, or in a run directory or its agent_log."""
    p = Path(path).expanduser()
    for candidate in (p, p / AGENT_LOG / LLM_CALLS, p / LLM_CALLS):
        if candidate.is_file():
            return candidate
    return None


def find_original_log(path: Path) -> Path | None:
    """An original MLR-Copilot ``full_log.json`` in a folder (or in its agent_log)."""
    for candidate in (path / ORIGINAL_FULL_LOG, path / AGENT_LOG / ORIGINAL_FULL_LOG):
        if candidate.is_file():
            return candidate
    return None


def original_sibling(log_file: Path, name: str) -> Path | None:
    """A file the original layout keeps beside its log or in ``../env_log`` (trace, problem)."""
    for candidate in (log_file.parent / name, log_file.parent.parent / ENV_LOG / name,
                      log_file.parent.parent / name):
        if candidate.is_file():
            return candidate
    return None


# ------------------------------------------------------------------ creating run directories
def utc_stamp(t: float | None = None) -> str:
    return time.strftime(RUN_DIR_FORMAT, time.gmtime(time.time() if t is None else t))


def _check_task_name(task: str) -> None:
    if not task or task in (".", "..") or "/" in task or "\\" in task or "\x00" in task:
        raise ConfigError(f"Invalid task name {task!r}: use a plain folder name such as 'cifar10'")


def create_run_dir(log_root: str | os.PathLike, task: str, *, now: float | None = None) -> Path:
    """Create and return a new, empty ``log_root/task/<ts>[-N]`` directory."""
    _check_task_name(task)
    base = Path(log_root) / task
    base.mkdir(parents=True, exist_ok=True)
    stamp = utc_stamp(now)
    for i in range(100_000):
        cand = base / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            cand.mkdir()
            return cand
        except FileExistsError:
            continue
    raise ConfigError(f"Could not create a new run directory under {base}")
