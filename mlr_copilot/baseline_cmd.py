"""``mlr-copilot baseline``: measure a task's unchanged starter code and say what it scored.

The measurement is kept in ``<log-root>/baselines/NAME.json``; the task's own
``tasks/NAME/baseline.json`` (tracked in git, what runs are graded against) is replaced only
when asked (``record``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .logs import utc_now, write_json_atomic
from .task_baseline import run_baseline
from .tasks import find_task
from .view.result import number


def measure_baseline(root: Path, name: str, *, online: bool = False, timeout_s: float | None = None,
                     record: bool = False, log_root: Path = Path("logs"),
                     out: Callable[[str], None] = print, sandbox: str = "auto") -> bool:
    """Run the starter, report the score through ``out``; True when it gave a valid score."""
    task = find_task(root, name)
    recorded = task.baseline
    grade = run_baseline(task, online=online, timeout_s=timeout_s, record=record, sandbox=sandbox)
    if not grade.valid:
        out(f"Baseline of {name}: no valid result: {grade.reason}")
        return False
    out(f"Baseline of {name}: {task.metric or 'score'} {number(grade.score)} ({task.direction} is better)")
    kept = log_root / "baselines" / f"{task.name}.json"
    write_json_atomic(kept, {"task": task.name, "metric": task.metric, "direction": task.direction,
                             "score": grade.score, "measured_at": utc_now()})
    if record:
        out(f"Recorded in {task.baseline_path} (runs are graded against it from now on)")
    else:
        was = (f"the recorded baseline {number(recorded)} is unchanged" if recorded is not None
               else "no baseline is recorded yet")
        out(f"Measurement kept in {kept}; {was} (use --record to replace it)")
    return True
