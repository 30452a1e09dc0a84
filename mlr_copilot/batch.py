"""Batch runs: tasks x LLMs x trials, in parallel processes, then one evaluation summary.

Each run is its own ``mlr-copilot run`` process, so a run that crashes (or is killed)
cannot stop the others; its status is taken from its run.json, or recorded as a crash.
The processes run in a local pool (the default) or as Ray tasks (``ray``: see batch_ray).
"""
from __future__ import annotations

import logging
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .logs import write_json_atomic
from .records import utc_stamp
from .run_config import default_of

logger = logging.getLogger(__name__)


@dataclass
class BatchOptions:
    tasks: Sequence[str]
    llms: Sequence[str] = ("local",)
    trials: int = 1
    workers: int = 1
    max_steps: int = default_of("max_steps")  # the run options a batch passes on: a run's defaults
    max_time_s: float | None = default_of("max_time_s")
    sandbox: str = default_of("sandbox")
    log_root: str = default_of("log_root")
    root: str = default_of("root")
    out: str | None = None
    extra_args: Sequence[str] = field(default_factory=tuple)
    ray: str | None = None  # None: the local pool; local | auto | ray://host:port
    run_cpus: float = 1.0
    run_gpus: float = 0.0
    ray_retries: int = 1  # Ray retries of a task whose worker died
    ray_files: str = "auto"  # auto | shared | ship: how run directories reach the log root
    ray_runtime_env: str | None = None  # JSON/YAML file: Ray runtime environment (keys go here)


@dataclass
class BatchRun:
    task: str
    llm: str
    trial: int
    run_dir: Path | None = None
    exit_code: int | None = None
    error: str | None = None
    node: str | None = None  # the Ray node's host name


def _command(opts: BatchOptions, task: str, llm: str, *, python: str = sys.executable) -> list[str]:
    """The ``mlr-copilot run`` command of one job, without ``--log-root``."""
    cmd = [python, "-m", "mlr_copilot", "run", task, "--llm", llm, "--feedback", "none",
           "--max-steps", str(opts.max_steps), "--sandbox", opts.sandbox, "--root", opts.root, "--quiet",
           *opts.extra_args]
    if opts.max_time_s:
        cmd += ["--max-time", str(opts.max_time_s)]
    return cmd


def _run_one(opts: BatchOptions, job: BatchRun, started: set | None = None) -> BatchRun:
    if started is not None:
        started.add(id(job))
    proc = subprocess.run([*_command(opts, job.task, job.llm), "--log-root", opts.log_root],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
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


def _local_pool(opts: BatchOptions, jobs: list[BatchRun], progress) -> None:
    _prepare_once(opts)
    started: set[int] = set()
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
        futures = [pool.submit(_run_one, opts, job, started) for job in jobs]
        for future in as_completed(futures):
            job = future.result()
            done += 1
            if progress:
                running = len(started) - done
                progress(job, {"finished": done, "running": running, "queued": len(jobs) - done - running})


def _ray_pool(opts: BatchOptions, jobs: list[BatchRun], progress) -> None:
    """The same runs as Ray tasks; each run prepares its task on its node (under the task's lock)."""
    from dataclasses import replace

    from . import batch_ray

    opts = replace(opts, root=str(Path(opts.root).resolve()), log_root=str(Path(opts.log_root).resolve()))
    batch_ray.run_jobs(opts, jobs, lambda j: _command(opts, j.task, batch_ray.absolute_llm(j.llm),
                                                      python=batch_ray.PYTHON), progress)


def check_options(opts: BatchOptions) -> None:
    """Bad batch options are a clear message before anything starts."""
    from .errors import ConfigError

    if opts.trials < 1 or opts.workers < 1:
        raise ConfigError("--trials and --workers must be at least 1")
    if opts.ray is None:
        return
    from .batch_ray import FILE_MODES, check_address

    check_address(opts.ray)
    if opts.run_cpus < 0 or opts.run_gpus < 0 or opts.run_cpus + opts.run_gpus == 0:
        raise ConfigError("--run-cpus and --run-gpus must not be negative, and a run needs one of them")
    if opts.ray_retries < 0:
        raise ConfigError("--ray-retries must be 0 or more")
    if opts.ray_files not in FILE_MODES:
        raise ConfigError(f"--ray-files must be one of {', '.join(FILE_MODES)}")


def run_batch(opts: BatchOptions, progress: Callable[[BatchRun | None, dict], None] | None = None) -> str:
    """Run every combination; evaluate; write summary files. Returns the Markdown summary.

    ``progress(job, counts)`` is called as runs end (``job``) or start (``None``); ``counts``
    holds ``finished``, ``running`` and ``queued``.
    """
    from .evaluation import evaluate_runs, summarize, summary_markdown, write_summary
    from .tasks import discover_tasks

    check_options(opts)
    jobs = [BatchRun(t, llm, k) for t in opts.tasks for llm in opts.llms for k in range(1, opts.trials + 1)]
    out = Path(opts.out) if opts.out else Path(opts.log_root) / f"batch-{utc_stamp()}"
    out.mkdir(parents=True, exist_ok=True)
    interrupted = False
    try:
        (_ray_pool if opts.ray else _local_pool)(opts, jobs, progress)
    except KeyboardInterrupt:  # the pool has cancelled what was left; record what there is
        interrupted = True
    for job in jobs:
        logger.info("batch: %s %s trial %d -> %s", job.task, job.llm, job.trial, job.run_dir or job.error)
    run_dirs = [j.run_dir for j in jobs if j.run_dir is not None]
    # every step's snapshot is graded, so scores.png shows each run's score over its steps
    evals = evaluate_runs(run_dirs, discover_tasks(Path(opts.root)), all_steps=True)
    crashed = [{"task": j.task, "llm": j.llm, "trial": j.trial, "error": j.error,
                **({"run_dir": str(j.run_dir)} if j.run_dir else {})} for j in jobs if j.error]
    write_json_atomic(out / "batch.json", {"jobs": [{"task": j.task, "llm": j.llm, "trial": j.trial,
                                                     "run_dir": str(j.run_dir) if j.run_dir else None,
                                                     "exit_code": j.exit_code, "error": j.error,
                                                     **({"node": j.node} if j.node else {})} for j in jobs],
                                           "crashed": crashed})
    files = write_summary(evals, out)
    try:  # the HTML summary (and each run's report, now with its score over steps)
        from .view.report import report_cli
        files["report"] = report_cli([out])[0]
    except Exception as exc:  # noqa: BLE001 - the Markdown summary above is the record
        logger.warning("batch: no HTML report: %s", exc)
    if interrupted:
        logger.warning("batch interrupted; what finished is summarised in %s", out)
        raise KeyboardInterrupt
    text = summary_markdown(summarize(evals))
    from .hypothesis import describe as describe_hypothesis, evaluate_hypotheses
    for verdict in evaluate_hypotheses(evals, Path(opts.root)):
        text += "\n" + describe_hypothesis(verdict)
    if crashed:
        text += "\n\nRuns that crashed or failed:\n" + "\n".join(
            f"- {c['task']} / {c['llm']} / trial {c['trial']}: {c['error']}" for c in crashed)
    return text + "\n\nSummary files: " + ", ".join(str(p) for p in files.values())
