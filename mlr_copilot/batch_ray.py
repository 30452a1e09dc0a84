"""Batch runs on a Ray cluster: one Ray task per run, its resources declared.

Ray is optional (``pip install 'mlr-copilot[ray]'``) and imported only here, only when a batch
asks for it. Each task runs ``mlr-copilot run`` as a child process on its worker, exactly as the
local pool does, with ``--log-root`` pointing at a private *attempt root*:

* **shared storage** (the driver's log root is visible on the worker): the attempt root is
  ``<log-root>/.ray-attempts/<batch>/<job>``, so the run writes there directly;
* **otherwise** a temporary folder on the worker, packed (tar.gz) when the run ends and sent
  back with the task's result.

Either way the driver moves the finished run directory to ``<log-root>/<task>/<ts>`` (a name
claimed with an atomic ``mkdir``), so the batch looks exactly like a local one. A retried task
(its worker died; retries are bounded) starts from an empty attempt root, so a run directory is
never duplicated. Secrets never travel in task arguments: the child inherits the worker's
environment, which comes from the runtime environment the user configures.
"""
from __future__ import annotations

import ctypes
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, RunRecordError
from .records import RunDir, RunInfo

logger = logging.getLogger(__name__)

ATTEMPTS_DIR = ".ray-attempts"
POLL_S = 1.0  # how often the driver wakes to update progress
INTERRUPT_GRACE_S = 60.0  # how long a cancelled run may take to record itself as interrupted
FILE_MODES = ("auto", "shared", "ship")
PYTHON = "{python}"  # in a task's command: the worker's own interpreter
_LLM_FILE_PREFIXES = ("scripted", "replay", "gguf", "hf")

# `mlr-copilot batch` options for Ray (the CLI adds them; BatchOptions has a field for each)
CLI_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--ray", dict(metavar="ADDRESS", default=None, help="run on Ray: local (start Ray for this batch), "
                   "auto (the running cluster, or $RAY_ADDRESS) or ray://HOST:PORT")),
    ("--run-cpus", dict(type=float, default=1.0, help="CPUs Ray reserves per run (default 1)")),
    ("--run-gpus", dict(type=float, default=0.0, help="GPUs Ray reserves per run; they become the run's --device")),
    ("--ray-retries", dict(type=int, default=1, help="Ray retries of a run whose worker died (default 1)")),
    ("--ray-files", dict(choices=("auto", "shared", "ship"), default="auto",
                         help="shared: runs write in --log-root (storage all nodes share); ship: run directories "
                              "are sent back to the driver; auto (default): shared when the workers see it")),
    ("--ray-runtime-env", dict(metavar="FILE", default=None, help="Ray runtime environment, JSON or YAML "
                               "(e.g. env_vars with the API keys the workers need)")),
)
RAY_FIELDS = tuple(flag[2:].replace("-", "_") for flag, _ in CLI_OPTIONS)


def check_address(address: str) -> str:
    """``local``, ``auto``, ``ray://host:port`` or ``host:port``; anything else is a clear error."""
    a = address.strip()
    if a in ("local", "auto"):
        return a
    rest = a[len("ray://"):] if a.startswith("ray://") else a
    host, sep, port = rest.rpartition(":")
    if sep and host and port.isdigit() and 0 < int(port) < 65536:
        return a
    raise ConfigError(f"--ray {address!r}: use 'local' (start Ray for this batch), 'auto' (the running "
                      f"cluster, or $RAY_ADDRESS), or ray://HOST:PORT")


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs the package 'ray': pip install 'mlr-copilot[ray]' "
                          "(or pip install ray); the local pool (no --ray) needs nothing more") from None
    return ray


def connect(address: str, runtime_env_file: str | None = None):
    """Connect to (or, for ``local``, start) Ray. The runtime environment file is never logged."""
    ray = import_ray()
    kwargs: dict[str, Any] = {}
    if runtime_env_file:
        kwargs["runtime_env"] = _read_runtime_env(Path(runtime_env_file))
    if not address.startswith("ray://"):  # the Ray client takes fewer options
        kwargs.update(log_to_driver=False, logging_level=logging.WARNING)
    if address == "local":
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
        hint = (" (ray:// needs the Ray client: pip install 'ray[client]')" if address.startswith("ray://")
                else " (is a cluster running? `ray start --head`, or set RAY_ADDRESS)" if address == "auto" else "")
        raise ConfigError(f"could not connect to Ray at {address!r}: {str(exc).splitlines()[0]}{hint}") from None
    return ray


def _read_runtime_env(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--ray-runtime-env {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else _yaml(text)
    except ValueError:  # the message of a parse error may quote a value: say only where
        raise ConfigError(f"--ray-runtime-env {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--ray-runtime-env {path}: must hold a mapping such as {{env_vars: {{...}}}}")
    return data


def _yaml(text: str) -> Any:
    import yaml  # a dependency of ray itself

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError("bad YAML") from None


def absolute_llm(name: str) -> str:
    """An LLM name whose file (``scripted:FILE`` ...) is relative becomes absolute: workers run elsewhere."""
    prefix, sep, rest = name.partition(":")
    if sep and prefix.lower() in _LLM_FILE_PREFIXES and rest and not os.path.isabs(rest) and os.path.exists(rest):
        return f"{prefix}:{os.path.abspath(rest)}"
    return name


# ------------------------------------------------------------------ on the worker
def _libc_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork: the child only calls it
    except (OSError, AttributeError):
        return None


def _die_with_parent(prctl) -> Callable[[], None]:
    """In the child: die with the Ray worker (Linux PR_SET_PDEATHSIG), so a dead worker leaves no run."""
    parent = os.getpid()

    def preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
        if prctl is not None:
            prctl(1, signal.SIGKILL)
        if os.getppid() != parent:  # the worker died before the call above
            os._exit(1)
    return preexec


def run_job(spec: dict[str, Any], tracker=None) -> dict[str, Any]:
    """The body of one Ray task: run ``spec['command']`` with a private log root; report where."""
    import ray

    if tracker is not None:
        tracker.started.remote(spec["index"])
    shared_dir = Path(spec["log_root"]) / ATTEMPTS_DIR / spec["batch"]
    shared = spec["files"] == "shared" or (spec["files"] == "auto" and shared_dir.is_dir())
    result: dict[str, Any] = {"node": socket.gethostname(), "shared": shared, "exit_code": None,
                              "run_rel": None, "tar": None, "error": None}
    if shared and not shared_dir.is_dir():
        result["error"] = f"--ray-files shared, but {shared_dir} is not visible on node {result['node']}"
        return result
    attempt = shared_dir / str(spec["index"]) if shared else Path(tempfile.mkdtemp(prefix="mlr-ray-"))
    shutil.rmtree(attempt, ignore_errors=True)  # an earlier attempt whose worker died: start afresh
    attempt.mkdir(parents=True)
    cmd = [sys.executable if a == PYTHON else a for a in spec["command"]] + ["--log-root", str(attempt)]
    if spec.get("gpus"):
        cmd += ["--device", ",".join(str(g) for g in ray.get_gpu_ids())]
    child = subprocess.Popen(cmd, cwd=spec["root"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent(_libc_prctl()))
    try:
        out, err = child.communicate()
    except KeyboardInterrupt:  # ray.cancel: the run records itself as interrupted, then the task ends
        child.send_signal(signal.SIGINT)
        try:
            child.wait(INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
        raise
    result["exit_code"] = child.returncode
    run_dir = next((Path(line[5:].strip()) for line in out.splitlines() if line.startswith("Log: ")), None)
    if run_dir is None or not run_dir.is_dir():
        tail = (err or out).strip().splitlines()[-3:]
        result["error"] = f"the run crashed (exit {child.returncode}): " + " | ".join(tail)
        run_dir = _partial_run(attempt)  # what it wrote before crashing, if anything
    if run_dir is not None:  # always <log root>/<task>/<timestamp>
        result["run_rel"] = f"{run_dir.parent.name}/{run_dir.name}"
    if not shared:
        if run_dir is not None and run_dir.is_dir():
            result["tar"] = _pack(run_dir)
        shutil.rmtree(attempt, ignore_errors=True)
    return result


def _pack(run_dir: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        tar.add(run_dir, arcname=run_dir.name)
    return buf.getvalue()


class StartTracker:
    """A tiny actor the tasks tell when they start, so progress can tell running from queued."""

    def __init__(self) -> None:
        self._started: set[int] = set()

    def started(self, index: int) -> None:
        self._started.add(index)

    def snapshot(self) -> list[int]:
        return sorted(self._started)


# ------------------------------------------------------------------ on the driver
def place_run(src: Path, log_root: Path) -> Path:
    """Move the run directory ``src`` (``.../<task>/<ts>``) to ``log_root/<task>/<ts>[-N]``."""
    base = log_root / src.parent.name
    base.mkdir(parents=True, exist_ok=True)
    for i in range(100_000):
        dest = base / (src.name if i == 0 else f"{src.name}-{i}")
        try:
            dest.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise ConfigError(f"no free run directory name under {base}")
    os.replace(src, dest)  # onto the empty directory just claimed
    try:
        info = RunInfo.read(dest)
    except RunRecordError:
        return dest
    options = info.options
    if info.get("workspace") and not options.get("work_dir"):  # the run's own copy moved with it
        info["workspace"] = str(RunDir(dest).own_workspace)
    if options:
        options["log_root"] = str(log_root)
    info.write(dest)
    return dest


def _unpack(data: bytes, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        top = {m.name.split("/")[0] for m in tar.getmembers()}
        if len(top) != 1:
            raise ValueError("the archive does not hold one run directory")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - Python without extraction filters
            tar.extractall(into)  # noqa: S202 - made by our own worker
    return into / top.pop()


def _wait_unlocked(run_dir: Path, timeout_s: float) -> None:
    """Wait until no process holds the run's lock (a cancelled run still writing its end)."""
    import fcntl

    lock = RunDir(run_dir).lock
    if not lock.exists():
        return
    deadline = time.monotonic() + timeout_s
    fd = os.open(lock, os.O_RDONLY)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.5)
    finally:
        os.close(fd)


def _partial_run(attempt: Path) -> Path | None:
    """The run directory a dead or cancelled task left in its shared attempt root, if any."""
    runs = [p for p in attempt.glob("*/*") if p.is_dir()] if attempt.is_dir() else []
    return runs[0] if len(runs) == 1 else None


def run_jobs(opts, jobs: list, command: Callable[[Any], list[str]],
             progress: Callable[..., None] | None = None) -> None:
    """Run ``jobs`` (BatchRun) as Ray tasks; fill in each job's run_dir / exit_code / error."""
    ray = connect(check_address(opts.ray), opts.ray_runtime_env)
    log_root = Path(opts.log_root).resolve()
    batch_id = uuid.uuid4().hex[:12]
    attempts = log_root / ATTEMPTS_DIR / batch_id
    refs: dict[Any, int] = {}
    pending: list = []
    try:
        attempts.mkdir(parents=True)  # its presence on a worker says "this log root is shared"
        tracker = ray.remote(num_cpus=0)(StartTracker).remote()
        remote_job = ray.remote(run_job)
        for i, job in enumerate(jobs):
            spec = {"index": i, "batch": batch_id, "command": command(job), "root": str(Path(opts.root).resolve()),
                    "log_root": str(log_root), "files": opts.ray_files, "gpus": opts.run_gpus}
            ref = remote_job.options(num_cpus=opts.run_cpus, num_gpus=opts.run_gpus, max_retries=opts.ray_retries,
                                     retry_exceptions=False, name=f"mlr-copilot {job.task} trial {job.trial}"
                                     ).remote(spec, tracker)
            refs[ref] = i
            pending.append(ref)
        last: dict[str, int] = {}
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
            for ref in ready:
                job = jobs[refs[ref]]
                _finish(ray, ref, job, attempts / str(refs[ref]), log_root)
                if progress:
                    last = _counts(ray, tracker, jobs, pending, refs)
                    progress(job, last)
            if progress and not ready and pending:
                counts = _counts(ray, tracker, jobs, pending, refs)
                if counts != last:  # a run started
                    last = counts
                    progress(None, counts)
    except KeyboardInterrupt:
        logger.warning("batch: interrupted; cancelling %d outstanding runs", len(pending))
        for ref in pending:
            ray.cancel(ref)
        for ref in pending:
            job = jobs[refs[ref]]
            job.error = "interrupted (Ctrl-C on the driver): the run was cancelled"
            partial = _partial_run(attempts / str(refs[ref]))
            if partial is not None:
                _wait_unlocked(partial, INTERRUPT_GRACE_S)
                job.run_dir = place_run(partial, log_root)
        raise
    finally:
        shutil.rmtree(attempts, ignore_errors=True)
        try:
            (log_root / ATTEMPTS_DIR).rmdir()
        except OSError:
            pass  # another batch still uses it
        ray.shutdown()


def _finish(ray, ref, job, attempt: Path, log_root: Path) -> None:
    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as exc:  # the worker or its node died (after the retries)
        job.error = f"the Ray task failed ({type(exc).__name__}): {_first_line(exc)}"
        partial = _partial_run(attempt)  # shared storage: keep what the run wrote, for `run --resume`
        if partial is not None:
            job.run_dir = place_run(partial, log_root)
        return
    job.exit_code, job.node = result["exit_code"], result["node"]
    job.error = result["error"]
    if result["run_rel"] is None:
        return
    try:
        task_dir = attempt / result["run_rel"].split("/")[0]
        src = _unpack(result["tar"], task_dir) if result["tar"] is not None else attempt / result["run_rel"]
        job.run_dir = place_run(src, log_root)
    except (OSError, ValueError, tarfile.TarError) as exc:
        job.error = f"the run finished on {job.node} but its directory could not be placed: {exc}"


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return lines[0][:300] if lines else ""


def _counts(ray, tracker, jobs: list, pending: list, refs: dict) -> dict[str, int]:
    finished = len(jobs) - len(pending)
    try:
        started = set(ray.get(tracker.snapshot.remote(), timeout=10))
    except ray.exceptions.RayError:
        started = set()
    running = sum(1 for ref in pending if refs[ref] in started)
    return {"finished": finished, "running": running, "queued": len(pending) - running}
