"""Batch runs: tasks x LLMs x trials, in parallel processes, then one evaluation summary.

Each run is its own ``mlr-copilot run`` process, so a run that crashes (or is killed)
cannot stop the others; its status is taken from its run.json, or recorded as a crash.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .logs import write_json_atomic

logger = logging.getLogger(__name__)


@dataclass
class BatchOptions:
    tasks: Sequence[str]
    llms: Sequence[str] = ("local",)
    trials: int = 1
    workers: int = 1
    max_steps: int = 50
    max_time_s: float | None = None
    sandbox: str = "auto"
    log_root: str = "logs"
    root: str = "."
    out: str | None = None
    extra_args: Sequence[str] = field(default_factory=tuple)


@dataclass
class BatchRun:
    task: str
    llm: str
    trial: int
    run_dir: Path | None = None
    exit_code: int | None = None
    error: str | None = None


def _command(opts: BatchOptions, task: str, llm: str) -> list[str]:
    cmd = [sys.executable, "-m", "mlr_copilot", "run", task, "--llm", llm, "--feedback", "none",
           "--max-steps", str(opts.max_steps), "--sandbox", opts.sandbox, "--log-root", opts.log_root,
           "--root", opts.root, "--quiet", *opts.extra_args]
    if opts.max_time_s:
        cmd += ["--max-time", str(opts.max_time_s)]
    return cmd


def _run_one(opts: BatchOptions, job: BatchRun) -> BatchRun:
    proc = subprocess.run(_command(opts, job.task, job.llm), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    job.exit_code = proc.returncode
    for line in proc.stdout.splitlines():
        if line.startswith("Log: "):
            job.run_dir = Path(line[len("Log: "):].strip())
    if job.run_dir is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        job.error = f"the run crashed (exit {proc.returncode}): " + " | ".join(tail)
    return job


def _prepare_once(opts: BatchOptions) -> None:
    """Build each task's data before the runs start: parallel runs must not all write it at once."""
    from .errors import MLRError
    from .tasks import find_task

    for name in dict.fromkeys(opts.tasks):
        try:
            result = find_task(Path(opts.root), name).prepare(online=True)
        except MLRError as exc:  # an unknown task: its runs fail and are reported as crashed
            logger.warning("batch: %s", exc)
            continue
        if not result.ready:
            logger.warning("batch: task %s is not ready: %s", name, result.message)


def run_batch(opts: BatchOptions, progress: Callable[[BatchRun, int, int], None] | None = None) -> str:
    """Run every combination; evaluate; write summary files. Returns the Markdown summary."""
    from .evaluation import evaluate_runs, summarize, summary_markdown, write_summary
    from .tasks import discover_tasks

    jobs = [BatchRun(t, llm, k) for t in opts.tasks for llm in opts.llms for k in range(1, opts.trials + 1)]
    _prepare_once(opts)
    out = Path(opts.out) if opts.out else Path(opts.log_root) / f"batch-{time.strftime('%Y-%m-%dT%H-%M-%SZ', time.gmtime())}"
    out.mkdir(parents=True, exist_ok=True)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
        futures = [pool.submit(_run_one, opts, job) for job in jobs]
        for future in as_completed(futures):
            job = future.result()
            done += 1
            if progress:
                progress(job, done, len(jobs))
            logger.info("batch %d/%d: %s %s trial %d -> %s", done, len(jobs), job.task, job.llm, job.trial,
                        job.run_dir or job.error)
    run_dirs = [j.run_dir for j in jobs if j.run_dir is not None]
    # every step's snapshot is graded, so scores.png shows each run's score over its steps
    evals = evaluate_runs(run_dirs, discover_tasks(Path(opts.root)), all_steps=True)
    crashed = [{"task": j.task, "llm": j.llm, "trial": j.trial, "error": j.error} for j in jobs if j.run_dir is None]
    write_json_atomic(out / "batch.json", {"jobs": [{"task": j.task, "llm": j.llm, "trial": j.trial,
                                                     "run_dir": str(j.run_dir) if j.run_dir else None,
                                                     "exit_code": j.exit_code, "error": j.error} for j in jobs],
                                           "crashed": crashed})
    files = write_summary(evals, out)
    try:  # the HTML summary (and each run's report, now with its score over steps)
        from .view.report import report_cli
        files["report"] = report_cli([out])[0]
    except Exception as exc:  # noqa: BLE001 - the Markdown summary above is the record
        logger.warning("batch: no HTML report: %s", exc)
    text = summary_markdown(summarize(evals))
    from .hypothesis import describe as describe_hypothesis, evaluate_hypotheses
    for verdict in evaluate_hypotheses(evals, Path(opts.root)):
        text += "\n" + describe_hypothesis(verdict)
    if crashed:
        text += "\n\nRuns that crashed before writing a log:\n" + "\n".join(
            f"- {c['task']} / {c['llm']} / trial {c['trial']}: {c['error']}" for c in crashed)
    return text + "\n\nSummary files: " + ", ".join(str(p) for p in files.values())
