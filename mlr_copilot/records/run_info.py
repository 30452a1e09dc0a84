"""``run.json``: what a run is and how it stands, read and written here only.

``RunInfo`` is the JSON object itself (a dict, so fields a part of the run adds, such as the
tree's summary or the end-of-run grade, round-trip untouched) with typed access to the
fields the code relies on. ``RunInfo.read`` is the one reader: it says clearly why a file
cannot be used (missing, unreadable, not an object, a newer schema); ``read_or_empty`` is
for views that show what they can.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Any

from ..errors import RunRecordError
from ..logs import utc_now, write_json_atomic
from .layout import RUN_JSON, RunDir
from .schema import SCHEMA_VERSION, RunStatus, check_schema

logger = logging.getLogger(__name__)

TOTALS_KEYS = ("steps", "llm_calls", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "wall_time_s")


class RunInfo(dict):
    """The content of run.json; see the module docstring."""

    @classmethod
    def new(cls, **fields: Any) -> "RunInfo":
        """The run.json of a run starting now (``fields``: task, llm, options, workspace...)."""
        from .. import __version__
        from ..source import source_commit

        return cls({"schema_version": SCHEMA_VERSION, "mlr_copilot_version": __version__,
                    "mlr_copilot_commit": source_commit(),
                    "python": sys.version.split()[0], "platform": platform.platform(),
                    "status": RunStatus.RUNNING.value, "start": utc_now(), "end": None, "final_answer": None,
                    "message": None, "resumes": [],
                    "totals": {k: 0.0 if k in ("cost_usd", "wall_time_s") else 0 for k in TOTALS_KEYS},
                    **fields})

    @classmethod
    def read(cls, run_dir: str | os.PathLike | RunDir) -> "RunInfo":
        """run.json of ``run_dir``; RunRecordError (a ConfigError) saying why it cannot be used."""
        path = _run_dir(run_dir).run_json
        if not path.is_file():
            raise RunRecordError(path, f"{RUN_JSON} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunRecordError(path, f"{RUN_JSON} is unreadable: {exc}") from None
        if not isinstance(data, dict):
            raise RunRecordError(path, f"{RUN_JSON} does not hold a JSON object")
        check_schema(data, path)
        return cls(data)

    @classmethod
    def read_or_empty(cls, run_dir: str | os.PathLike | RunDir) -> "RunInfo":
        """run.json, or an empty RunInfo when there is none usable (logged): for views."""
        try:
            return cls.read(run_dir)
        except RunRecordError as exc:
            logger.debug("%s", exc)
            return cls()

    def write(self, run_dir: str | os.PathLike | RunDir) -> None:
        """Replace run.json atomically: readers never see half of it."""
        write_json_atomic(_run_dir(run_dir).run_json, self)

    # -- typed access -------------------------------------------------------------------
    @property
    def task(self) -> str | None:
        return self.get("task") or None

    @property
    def status(self) -> RunStatus | None:
        return RunStatus.parse(self.get("status"))

    @property
    def totals(self) -> dict[str, Any]:
        totals = self.get("totals")
        return totals if isinstance(totals, dict) else {}

    @property
    def options(self) -> dict[str, Any]:
        options = self.get("options")
        return options if isinstance(options, dict) else {}

    @property
    def final_answer(self) -> str | None:
        return self.get("final_answer")

    @property
    def start(self) -> str:
        return str(self.get("start") or "")

    def workspace(self, run_dir: str | os.PathLike | RunDir) -> Path:
        """The folder the run works in (see ``RunDir.workspace_for``)."""
        return _run_dir(run_dir).workspace_for(self)


def _run_dir(run_dir: str | os.PathLike | RunDir) -> RunDir:
    return run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
