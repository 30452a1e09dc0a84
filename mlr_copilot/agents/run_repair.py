"""Resume's repairs of a dead run's directory, each safe to call before deciding to resume.

``check_log`` only reads; ``drop_torn_lines`` moves a torn last line aside (and refuses,
changing nothing, when a line before it is damaged); ``rebuild_run_json`` writes a deleted
``run.json`` back from the run log; ``record_logged_end`` saves in ``run.json`` the end a
killed process logged but did not save; ``stop_leftover_scripts`` stops the dead run's scripts.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..llm.base import Usage
from ..logs import read_jsonl, utc_now
from ..records import RunDir, RunInfo, RunStatus, llm_calls, usage_figures
from ..records.layout import RUN_JSON
from ..records.schema import RESUME, RUN_END, RUN_START, STEP

logger = logging.getLogger(__name__)

LEFTOVER_WAIT_S = 5.0  # how long to wait for killed leftover scripts to be gone


def _line_ok(line: bytes) -> bool:
    try:
        return line.strip() == b"" or isinstance(json.loads(line.decode("utf-8")), dict)
    except ValueError:
        return False


def check_log(path: Path) -> None:
    """ConfigError when a line other than the last of a JSONL log is damaged (a kill only ever
    tears the last line: anything else was changed by hand or by the disk). Changes nothing."""
    if not path.is_file():
        return
    with open(path, "rb") as f:
        previous, number = None, 0
        for number, line in enumerate(f, 1):
            if previous is not None and not _line_ok(previous):
                raise ConfigError(f"{path} has a damaged record at line {number - 1}, before its last line; "
                                  "it was changed by hand or damaged on disk, so the run cannot be resumed "
                                  "safely. Nothing was changed.")
            previous = line


def drop_torn_lines(path: Path) -> int:
    """Move a torn last line (a write cut short by a kill) of a JSONL log to ``<name>.torn``;
    returns how many lines were moved (0 or 1). Call ``check_log`` first: a damaged line
    elsewhere raises ConfigError here too, and nothing is changed."""
    check_log(path)
    if not path.is_file():
        return 0
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - (1 << 20)))
        tail = f.read()
    if not tail:
        return 0
    body = tail[:-1] if tail.endswith(b"\n") else tail
    cut = body.rfind(b"\n") + 1
    if cut == 0 and size > len(tail):
        raise ConfigError(f"{path}: its last line is over 1 MiB long; it cannot be checked.")
    last = tail[cut:]
    if _line_ok(last):
        if not tail.endswith(b"\n"):  # a whole record cut before its newline is kept
            with open(path, "ab") as f:
                f.write(b"\n")
        return 0
    with open(path.with_name(path.name + ".torn"), "ab") as f:
        f.write(last if last.endswith(b"\n") else last + b"\n")
    with open(path, "r+b") as f:
        f.truncate(size - len(tail) + cut)
    logger.warning("%s: a torn last line was moved to %s.torn", path, path.name)
    return 1


def rebuild_run_json(run_dir: Path) -> None:
    """Write a ``run.json`` that was deleted, from the run log's ``run_start`` record, its
    ``resume`` and ``run_end`` records and the call log; ConfigError if there is no run log."""
    paths = RunDir(run_dir)
    records = read_jsonl(paths.full_log)
    start = next((r for r in records if r.get("type") == RUN_START), None)
    if start is None or not start.get("task"):
        raise ConfigError(f"{run_dir} is not a run directory (no {RUN_JSON}, and no run log to rebuild it "
                          f"from). Give a folder such as logs/<task>/<timestamp>; a run killed before it "
                          f"wrote {RUN_JSON} never started a step, so start it again instead.")
    info = RunInfo({k: v for k, v in start.items() if k not in ("type", "step", "timestamp")})
    info.setdefault("start", start.get("timestamp"))
    info.update(status=RunStatus.RUNNING.value, end=None, message=None, final_answer=None, resumes=[],
                rebuilt_run_json=utc_now())
    for r in records:
        if r.get("type") == RESUME:
            info["resumes"].append({"at": r.get("timestamp"), "from_step": r.get("from_step"),
                                    "previous_status": r.get("previous_status")})
            info.update(status=RunStatus.RUNNING.value, end=None, message=None)
        elif r.get("type") == RUN_END:
            info.update(status=r.get("status") or RunStatus.ERROR.value, message=r.get("message"), end=r.get("timestamp"),
                        final_answer=r.get("final_answer"))

    calls = llm_calls(read_jsonl(paths.llm_calls))
    steps = [r["step"] for r in records if r.get("type") == STEP and isinstance(r.get("step"), int)]
    info["totals"] = {"steps": max(steps, default=0), **call_totals(calls), "wall_time_s": 0.0}
    info.write(paths)
    logger.warning("%s had no %s: rebuilt it from the run log (status %s, %d steps)", run_dir, RUN_JSON,
                   info["status"], info["totals"]["steps"])


def record_logged_end(run_dir: Path, info: RunInfo) -> RunInfo:
    """``info`` (run.json) with the end the run log holds, when the process was killed after
    writing its ``run_end`` record and before saving run.json (which still says ``running``).

    Without it, a resume would take a run that ended for one that died and ask for one more
    step. Saved under the run's lock: a process still finishing the run is left alone."""
    if info.get("status") != RunStatus.RUNNING:
        return info
    records = read_jsonl(RunDir(run_dir).full_log)
    end = records[-1] if records else {}
    if end.get("type") != RUN_END:
        return info
    from ..records.recorder import RunRecorder

    recorder = RunRecorder(run_dir)  # ConfigError if another process holds the run
    try:
        recorder.info.update(status=end.get("status") or RunStatus.ERROR, message=end.get("message"),
                             end=end.get("timestamp"))
        if end.get("final_answer") is not None:
            recorder.info["final_answer"] = end["final_answer"]
        recorder.save()
    finally:
        recorder.close()
    logger.warning("%s: the run had logged its end (%s) but run.json still said running; run.json "
                   "now says so too", run_dir, recorder.info["status"])
    return recorder.info


def stop_leftover_scripts(workspace: Path) -> int:
    """Kill scripts of the dead run still running in ``workspace`` (they carry the marker
    variable ``env.process`` sets); with ``--sandbox none`` they outlive the agent. Returns how many."""
    from ..env.process import MARKER_VAR

    needle = f"{MARKER_VAR}=".encode()
    ws = os.path.realpath(workspace)
    me, found = os.getpid(), []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:  # no /proc: nothing we can find
        return 0
    for pid in pids:
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle not in f.read():
                    continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == ws or cwd.startswith(ws + os.sep):
            found.append(pid)
    for pid in found:
        try:
            pgid = os.getpgid(pid)
            if pgid != os.getpgrp():
                os.killpg(pgid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + LEFTOVER_WAIT_S
    while found and time.monotonic() < deadline and any(_alive(p) for p in found):
        time.sleep(0.02)
    if found:
        logger.warning("Stopped %d script process(es) of the dead run still running in %s", len(found), ws)
    return len(found)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def call_usage(calls: list[dict[str, Any]]) -> Usage:
    """The tokens of the recorded LLM calls, summed."""
    usage = [r.get("usage") or {} for r in calls]
    return Usage(*(sum(int(u.get(k, 0) or 0) for u in usage)
                   for k in ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens")))


def call_totals(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """run.json's LLM totals, from the call log (response-cache hits cost nothing)."""
    paid = [r for r in calls if not r.get("cached")]
    return {"llm_calls": len(calls),
            **usage_figures(call_usage(paid), sum(float(r.get("cost_usd") or 0.0) for r in paid),
                            sum(1 for r in paid if r.get("cost_usd") is None and r.get("usage")))}
