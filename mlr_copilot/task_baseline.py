"""A task's baseline: its unchanged starter script, run through the sandbox as agent scripts
are, then graded; the score runs are compared with (``tasks/NAME/baseline.json``)."""
from __future__ import annotations

import logging
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .errors import MLRError
from .grading import Grade
from .logs import utc_now, write_json_atomic
from .records import RunDir
from .tasks import Task

log = logging.getLogger(__name__)


def _package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "pandas", "scikit-learn", "torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _run_starter(task: Task, ws: Path, python: str, limit: float, sandbox: str) -> tuple[int | None, str]:
    """Run the starter script through the sandbox, as Execute Script runs agent scripts:
    (exit status, None on timeout; the end of its output, secrets scrubbed)."""
    from .env.context import EnvConfig
    from .env.sandbox import Sandbox

    config = EnvConfig(sandbox=sandbox, python=(python, "-u"), read_only=tuple(task.read_only),
                       hidden_paths=tuple(str(p) for p in task.hidden_paths()),
                       set_env=(("PYTHONHASHSEED", "0"),))
    box = Sandbox(ws, config, RunDir(ws.parent).env_log.root)  # laid out as a run directory
    result = box.run(box.command([task.script], box.script_env()), limit, output_name="baseline")
    return (None if result.timed_out else result.exit_code), result.head_tail_text[-2000:]


def run_baseline(task: Task, *, python: str = sys.executable, online: bool = False,
                 timeout_s: float | None = None, record: bool = True, sandbox: str = "auto") -> Grade:
    """Run the unchanged starter script in a temporary copy of the workspace, through the
    sandbox (``sandbox`` mode, as agent scripts), and grade it.

    With ``record`` the result goes to ``tasks/NAME/baseline.json`` and ``task.baseline``.
    """
    if not task.gradable:
        return Grade.invalid(f"task '{task.name}' has no grader, so it has no baseline score")
    prep = task.prepare(online=online)
    if not prep.ready:
        return Grade.invalid(prep.message)
    if not (task.workspace_path / task.script).is_file():
        return Grade.invalid(f"starter script {task.workspace_path / task.script} not found")
    limit = timeout_s if timeout_s is not None else task.timeout_s
    with tempfile.TemporaryDirectory(prefix=f"mlr_baseline_{task.name}_") as tmp:
        ws = RunDir(tmp).own_workspace
        shutil.copytree(task.workspace_path, ws, symlinks=True)
        (ws / task.submission).unlink(missing_ok=True)
        started = time.monotonic()
        try:
            rc, tail = _run_starter(task, ws, python, limit, sandbox)
        except MLRError as exc:  # no sandbox here, or the interpreter cannot start in it
            return Grade.invalid(f"{task.script} could not be run: {exc}")
        runtime = time.monotonic() - started
        if rc is None:
            grade = Grade.invalid(f"{task.script} did not finish within {limit:.0f}s")
        elif rc != 0:
            grade = Grade.invalid(f"{task.script} exited with status {rc}: {tail.strip()[-800:]}")
        else:
            grade = task.grade(ws)
    log.info("baseline of %s: %s (%.1fs)", task.name, grade, runtime)
    if record and grade.valid:
        write_json_atomic(task.baseline_path, {
            "task": task.name, "metric": task.metric, "direction": task.direction,
            "score": grade.score, "valid": grade.valid, "reason": grade.reason,
            "runtime_s": round(runtime, 2), "recorded_at": utc_now(), "versions": _package_versions()})
        task.baseline = grade.score
    return grade
