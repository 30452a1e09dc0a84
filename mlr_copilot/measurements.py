"""The measurements ledger of a run: ``env_log/measurements.jsonl``.

Every number the run measured, with where it came from, so that what the agent claims can
be checked against it (``claims``). Four kinds of records, all ``type: "measurement"``:

- ``printed``: a ``name: value`` or ``name=value`` pair in the output of an Execute Script
  (also ``'name': value`` as Python prints dicts, and ``93.1%``), with the step, the script,
  the output line (1-based) and the snapshot (the step's snapshot holds the workspace the
  script left). Written by the Environment as each script ends, so the ledger is current
  even when the run is killed.
- ``grade``: the grader's score of a snapshot (or of the final workspace), written by ``eval``.
- ``baseline``: the task's recorded baseline score, written when the run starts.
- ``mean``: the mean of printed values, computed by the run (``of`` lists them): a tree
  node's validation metric over its own split and the reruns on other splits, whose
  printed values are ledgered too (``snapshot`` null: no snapshot holds what a rerun left).

Runs recorded before the ledger existed, and imported original MLR-Copilot logs, have no
ledger file: ``load_ledger`` then rebuilds the printed measurements from the Execute Script
observations of the step log (``source: "observation"``; line numbers count from the start
of the observation).
"""
from __future__ import annotations

import logging
import re
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .logs import JsonlWriter, read_jsonl, utc_now
from .records import EnvLog, RunDir

logger = logging.getLogger(__name__)

MAX_PER_SCRIPT = 2000  # a script printing more pairs keeps its last ones (final results come last)
MAX_LINE_CHARS = 2000  # longer lines (progress bars, arrays) are not read for pairs

_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(
    r"(?<![\w.])(?P<q>['\"]?)(?P<name>[A-Za-z][A-Za-z0-9_ .\-/@()]{0,59}?)(?P=q)\s*[:=]\s*"
    r"(?P<value>" + _NUMBER + r")(?P<pct>\s*%)?(?![\w]|[-/:.]\d)")
_NOT_A_METRIC = re.compile(r"(?:error|exception|warning|line|file|exit code|pid|port|seed|version)$", re.I)
_OBSERVATION_NOISE = re.compile(r"^(?:Exit code: .*|The script has been executed\. Here is the output:)$")


@dataclass(frozen=True)
class Printed:
    """One ``name: value`` pair read from a line of output."""

    name: str
    value: float
    text: str  # the value as printed, e.g. "0.931" or "93.1%"
    percent: bool
    line: int
    line_text: str


def parse_line(line: str, line_no: int = 1) -> list[Printed]:
    """The ``name: value`` / ``name=value`` pairs of one output line."""
    if len(line) > MAX_LINE_CHARS:
        return []
    out = []
    for m in _PAIR.finditer(line):
        name = " ".join(m.group("name").split()).strip(" .-/")
        if not name or _NOT_A_METRIC.search(name) or name.split()[-1].isdigit():  # "at 10:30"
            continue
        try:
            value = float(m.group("value"))
        except ValueError:
            continue
        if value != value or value in (float("inf"), float("-inf")):
            continue
        out.append(Printed(name, value, m.group("value") + ("%" if m.group("pct") else ""),
                           bool(m.group("pct")), line_no, line.strip()[:300]))
    return out


def parse_output(lines: Iterable[str], limit: int = MAX_PER_SCRIPT) -> tuple[list[Printed], int]:
    """All pairs of an output (the last ``limit``), and how many were left out."""
    kept: deque[Printed] = deque(maxlen=limit)
    total = 0
    for no, line in enumerate(lines, start=1):
        if _OBSERVATION_NOISE.match(line.strip()):
            continue
        for p in parse_line(line.rstrip("\n"), no):
            kept.append(p)
            total += 1
    return list(kept), total - len(kept)


def _output_lines(path: str | None, fallback: str) -> Iterator[str]:
    if path and Path(path).is_file():
        with open(path, encoding="utf-8", errors="replace") as f:
            yield from f
    else:
        yield from fallback.splitlines()


class Ledger:
    """Appends measurement records to ``env_log/measurements.jsonl``."""

    def __init__(self, env_log_dir: str | Path):
        self.path = EnvLog(env_log_dir).measurements
        self._writer: JsonlWriter | None = None

    def _write(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            self._writer = JsonlWriter(self.path)
        self._writer.write({"type": "measurement", "timestamp": utc_now(), **record})

    def record_script(self, *, step: int, script: str, exit_code: int | None, output_path: str | None,
                      observation: str = "", snapshotted: bool = True) -> int:
        """Write what one Execute Script printed; returns how many pairs were recorded.
        ``snapshotted`` False: no snapshot holds what the script left (a tree node's rerun)."""
        printed, dropped = parse_output(_output_lines(output_path, observation))
        if dropped:
            logger.info("step %d: %s printed %d more name/value pairs than the ledger keeps", step, script, dropped)
        for p in printed:
            self._write({"kind": "printed", "step": step, "snapshot": step if snapshotted else None,
                         "script": script, "exit_code": exit_code, **asdict(p)})
        return len(printed)

    def record_mean(self, *, step: int, name: str, value: float, values: list[float]) -> None:
        """The mean of printed values the run computed (a tree node's metric over its splits)."""
        self._write({"kind": "mean", "step": step, "snapshot": None, "name": name, "value": float(value),
                     "text": f"{value:.6g}", "percent": False, "of": [float(v) for v in values]})

    def record_baseline(self, metric: str | None, value: float | None) -> None:
        if value is None or any(r.get("kind") == "baseline" for r in read_jsonl(self.path)):
            return
        self._write(baseline_record(metric, value))

    def record_grades(self, metric: str | None, grades: Iterable[Mapping[str, Any]]) -> None:
        """Grader scores: each ``{"snapshot": step or None (final workspace), "score": float}``.
        A grade already in the ledger (same snapshot and score) is not written again."""
        seen = {(r.get("snapshot"), r.get("value")) for r in read_jsonl(self.path) if r.get("kind") == "grade"}
        for g in grades:
            if g.get("score") is None or (g.get("snapshot"), float(g["score"])) in seen:
                continue
            seen.add((g.get("snapshot"), float(g["score"])))
            self._write(grade_record(metric, g))


def baseline_record(metric: str | None, value: float) -> dict[str, Any]:
    return {"type": "measurement", "kind": "baseline", "step": 0, "snapshot": 0, "name": metric or "score",
            "value": float(value), "text": repr(float(value)), "percent": False}


def grade_record(metric: str | None, g: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "measurement", "kind": "grade", "step": g.get("snapshot"), "snapshot": g.get("snapshot"),
            "final": bool(g.get("final")), "name": metric or "score", "value": float(g["score"]),
            "text": repr(float(g["score"])), "percent": False}


def record_observation(env_log_dir: Path, obs: Any) -> None:
    """The Environment's hook: ledger the pairs an Execute Script observation printed."""
    if obs.action != "Execute Script" or obs.internal or not obs.ok:
        return
    try:
        Ledger(env_log_dir).record_script(step=obs.step, script=str(obs.args.get("script_name", "")),
                                          exit_code=obs.exit_code, output_path=obs.full_text_path,
                                          observation=obs.text)
    except OSError as exc:  # a full disk must not end the run here; the trace has the output
        logger.warning("could not write the measurements of step %d: %s", obs.step, exc)


def ledger_from_steps(steps: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Printed measurements rebuilt from the Execute Script observations of a step log."""
    out = []
    for s in steps:
        if s.get("action") != "Execute Script":
            continue
        text = str(s.get("full_observation") or s.get("observation") or "")
        printed, _ = parse_output(text.splitlines())
        script = (s.get("action_input") or {}).get("script_name") if isinstance(s.get("action_input"), Mapping) else None
        for p in printed:
            out.append({"type": "measurement", "kind": "printed", "source": "observation", "step": s.get("step"),
                        "snapshot": s.get("step"), "script": script, "exit_code": None, **asdict(p)})
    return out


def load_ledger(run_dir: str | Path, steps: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The run's measurements: its ledger file, or (without one) rebuilt from ``steps``.

    A ledger holding only grades and the baseline (written by ``eval`` on an old run) gets
    the printed values rebuilt from the steps as well."""
    records = [r for r in read_jsonl(RunDir(run_dir).env_log.measurements) if r.get("type") == "measurement"]
    if steps is not None and not any(r.get("kind") == "printed" for r in records):
        records = ledger_from_steps(steps) + records
    return records
