"""The record of one experiment run as it goes: ``full_log.jsonl`` and ``run.json``.

The step log starts with a ``run_start`` record (schema version, task, models, options)
and holds one ``step`` record per step, flushed as written. ``run.json`` is rewritten
atomically after every step with the status, totals and budget, so it is current even when
the process is killed. While a recorder is open it holds an exclusive lock on the run
directory's lock file (released by ``finish``, or by the system when the process dies), so
a run is never continued by two processes at once.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import ConfigError
from ..logs import JsonlWriter, read_jsonl, utc_now
from .layout import RunDir
from .run_info import RunInfo
from .schema import END_STATUSES, RUN_END, RUN_START, STEP, RunStatus, StepRecord, usage_figures


class RunRecorder:
    def __init__(self, run_dir: Path, info: dict[str, Any] | None = None):
        self.paths = RunDir(run_dir)
        self.run_dir = self.paths.root
        self._lock_fd: int | None = None
        #: step -> that step's LLM figures (every role's calls: cost, tokens, cache share);
        #: set by the runner from the run's budget, added to each step record as "llm".
        self.step_llm_figures: Callable[[int], dict[str, Any] | None] | None = None
        #: the run's budget as it stands (limits and what was spent), saved with run.json.
        self.budget_summary: Callable[[], dict[str, Any]] | None = None
        self._lock()
        self.agent_log_dir = self.paths.agent_log
        self.full_log = JsonlWriter(self.paths.full_log)
        self.run_json_path = self.paths.run_json
        if self.run_json_path.exists():
            self.info = RunInfo.read(self.paths)
        else:
            self.info = RunInfo.new(**(info or {}))
            self.full_log.write({"type": RUN_START, "step": 0, "timestamp": self.info["start"],
                                 **{k: v for k, v in self.info.items() if k not in ("totals", "resumes")}})
            self.save()

    def _lock(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(f"The run {self.run_dir} is in use by another process (a run or a resume "
                              f"still going); wait for it to end, or stop it first.") from None
        self._lock_fd = fd

    def close(self) -> None:
        """Release the run's lock (``finish`` does it); harmless when already released."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def save(self) -> None:
        if self.budget_summary is not None:
            self.info["budget"] = self.budget_summary()
        self.info.write(self.paths)

    def write_step(self, record: StepRecord | Mapping[str, Any]) -> None:
        """Append a step record, in the StepRecord schema whoever built it (a field a strategy
        does not fill gets its default), with the step's LLM figures; then save run.json."""
        record = (record if isinstance(record, StepRecord) else StepRecord.from_dict(record)).to_dict()
        if self.step_llm_figures is not None and "llm" not in record:
            figures = self.step_llm_figures(record["step"])
            if figures is not None:
                record = {**record, "llm": figures}
        self.full_log.write(record)
        self.info["totals"]["steps"] = record["step"]
        self.save()

    def update_totals(self, *, llm_calls: int, usage: Any, cost_usd: float, wall_time_s: float,
                      unpriced_calls: int = 0) -> None:
        """Totals of the run; ``cost_usd`` becomes None (unknown) when a call had no price."""
        self.info["totals"].update(llm_calls=llm_calls, **usage_figures(usage, cost_usd, unpriced_calls),
                                   wall_time_s=round(wall_time_s, 3))
        self.save()

    def finish(self, status: str, message: str, final_answer: str | None = None) -> None:
        if status not in END_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        status = RunStatus(status).value
        self.info.update(status=status, message=message, end=utc_now())
        if final_answer is not None:
            self.info["final_answer"] = final_answer
        try:
            self.full_log.write({"type": RUN_END, "step": self.info["totals"]["steps"], "timestamp": utc_now(),
                                 "status": status, "message": message, "final_answer": final_answer})
        finally:  # run.json gets the status even when the log disk is full
            try:
                self.save()
            finally:
                self.close()

    def steps(self) -> list[dict[str, Any]]:
        return [r for r in read_jsonl(self.full_log.path) if r.get("type") == STEP]
