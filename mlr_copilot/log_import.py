"""Read run logs — ours and the original MLR-Copilot's — as one list of step records.

The original ``full_log.json`` is not JSON Lines: it holds pretty-printed JSON objects
one after another (``prompt``, ``entries`` with Action Input already parsed,
``full_observation``, ``observation``, ``feedback``). ``import_original_log`` converts it
into this project's ``agent_log/full_log.jsonl`` schema; ``load_run``/``load_steps``
read either kind, for ``show``, the HTML report, ``import-log`` and the claim checks that
``eval`` adds (``resume`` reads only our own logs, through ``records``).

Timing in imported records comes from the original ``trace.json`` when it is found next
to the log (or in ``../env_log/``): ``timestamp`` is when the action finished,
``start_time`` the research-log retrieval that opened the step, so ``duration_s`` covers
the model call and the action. Without a trace these are null.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, NewerSchemaError, RunRecordError
from .logs import JsonlWriter, read_jsonl, utc_now
from .records import SCHEMA_VERSION, STEP_KEYS, RunDir, RunInfo, RunStatus, StepRecord, check_schema, find_full_log
from .records.layout import (AGENT_LOG, FULL_LOG, ORIGINAL_FULL_LOG, ORIGINAL_PROBLEM, ORIGINAL_TRACE,
                             find_original_log, original_sibling)
from .records.schema import RUN_START, STEP

logger = logging.getLogger(__name__)

__all__ = ["STEP_KEYS", "RunLog", "read_original_log", "reconstruct_response", "convert_original",
           "import_original_log", "load_run", "load_steps"]

_RETRY_NOTICE = "Your response was in incorrect format"


@dataclass
class RunLog:
    """A run read from disk: ``info`` (run.json, or what an original log tells), the step
    records in our schema, and where they came from (``"ours"`` or ``"original"``)."""

    info: dict[str, Any]
    steps: list[dict[str, Any]]
    source: str
    log_path: Path


# ------------------------------------------------------------------ original format

def read_original_log(path: str | Path) -> list[dict[str, Any]]:
    """The objects of an original ``full_log.json`` (concatenated pretty-printed JSON).

    A truncated or garbled object is skipped: reading resumes at the next object that
    starts a line; a JSON list of objects is also accepted."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        try:
            obj, i = decoder.raw_decode(text, i)
        except (json.JSONDecodeError, RecursionError):
            nxt = text.find("\n{", i + 1)
            logger.warning("%s: unreadable JSON at character %d%s", path, i,
                           "; skipped to the next object" if nxt >= 0 else " (truncated end); ignored")
            if nxt < 0:
                break
            i = nxt + 1
            continue
        if isinstance(obj, dict):
            objects.append(obj)
        elif isinstance(obj, list):
            objects.extend(o for o in obj if isinstance(o, dict))
    return objects


def reconstruct_response(entries: Mapping[str, Any]) -> str:
    """The raw response as the original agent received it, rebuilt from its parsed entries
    ("Name: text" in order; the Action Input as indented JSON)."""
    parts = []
    for name, value in entries.items():
        if not isinstance(value, str):
            value = " " + json.dumps(value, indent=4, ensure_ascii=False)
        elif not value.startswith((" ", "\n")):
            value = " " + value
        if not value.endswith("\n"):
            value += "\n"
        parts.append(f"{name}:{value}")
    return "".join(parts).rstrip("\n")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _trace_times(trace: Mapping[str, Any] | None, actions: list[str]) -> list[tuple[float | None, float | None]]:
    """(start, end) per agent step, matching the trace's steps to the log's actions in order."""
    out: list[tuple[float | None, float | None]] = [(None, None)] * len(actions)
    steps = (trace or {}).get("steps") or []
    j = 0
    for k, name in enumerate(actions):
        while j < len(steps) and _trace_name(steps[j]) != name:
            j += 1
        if j >= len(steps):
            logger.info("%s does not match the log from step %d on; no timing after it", ORIGINAL_TRACE, k + 1)
            break
        end = steps[j].get("timestamp")
        start = steps[j - 1].get("timestamp") if j > 0 else None
        out[k] = (start if isinstance(start, (int, float)) else None,
                  end if isinstance(end, (int, float)) else None)
        j += 1
    return out


def _trace_name(step: Any) -> str | None:
    action = step.get("action") if isinstance(step, dict) else None
    name = action.get("name") if isinstance(action, dict) else None
    return name.strip() if isinstance(name, str) else None


def _research_problem(log_file: Path, trace: Mapping[str, Any] | None, objects: list[dict]) -> str | None:
    problem_file = original_sibling(log_file, ORIGINAL_PROBLEM)
    if problem_file:
        return problem_file.read_text(encoding="utf-8", errors="replace").strip()
    if trace and isinstance(trace.get("task_description"), str):
        return trace["task_description"].strip()
    for obj in objects[:1]:
        m = re.search(r"Research Problem:(.*?)\n\s*\n(?:You do not know|Follow these)", str(obj.get("prompt", "")), re.S)
        if m:
            return m.group(1).strip()
    return None


def _task_name(log_file: Path) -> str | None:
    for part in (log_file.parent.name, log_file.parent.parent.name):
        m = re.match(r"^(.+?)[-_]\d{4}-\d{2}-\d{2}T", part)
        if m:
            return m.group(1)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def convert_original(log_file: str | Path) -> RunLog:
    """Read an original log (file or its folder) into our step schema, without writing."""
    log_file = _original_file(Path(log_file))
    objects = [o for o in read_original_log(log_file) if "entries" in o or "prompt" in o]
    if not objects:
        raise ConfigError(f"{log_file} is not an MLR-Copilot agent log: no object with 'prompt' or 'entries'")
    trace_path = original_sibling(log_file, ORIGINAL_TRACE)
    trace = None
    if trace_path:
        try:
            trace = json.loads(trace_path.read_text(encoding="utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            logger.warning("%s is not readable JSON (%s); imported steps have no timing", trace_path, exc)
    raw_entries = [o.get("entries") if isinstance(o.get("entries"), dict) else {} for o in objects]
    actions = [_text(e.get("Action")).strip() for e in raw_entries]
    times = _trace_times(trace if isinstance(trace, dict) else None, actions)
    steps = []
    for k, (obj, entries, action) in enumerate(zip(objects, raw_entries, actions)):
        raw_input = entries.get("Action Input")
        if isinstance(raw_input, dict):
            action_input = raw_input
        else:
            try:
                action_input = json.loads(raw_input) if isinstance(raw_input, str) else {}
            except json.JSONDecodeError:
                action_input = {}
            if not isinstance(action_input, dict):
                action_input = {}
        start, end = times[k]
        prompt = _text(obj.get("prompt"))
        steps.append(StepRecord(
            step=k + 1, timestamp=_iso(end), start_time=_iso(start),
            duration_s=round(end - start, 3) if start is not None and end is not None else None,
            prompt=prompt,
            response=reconstruct_response(entries),
            entries={name: (_text(v).strip() if name != "Action Input" or isinstance(v, str)
                            else json.dumps(v, indent=4, ensure_ascii=False)) for name, v in entries.items()},
            action=action, action_input=action_input,
            observation=_text(obj.get("observation")),
            full_observation=_text(obj.get("full_observation", obj.get("observation"))),
            feedback=obj.get("feedback") if isinstance(obj.get("feedback"), str) else None,
            parse_attempts=1 + prompt.count(_RETRY_NOTICE),
        ).to_dict())
    final = next((s["action_input"].get("final_answer") for s in reversed(steps)
                  if s["action"] == "Final Answer"), None)
    stamps = [s for s in (t for pair in times for t in pair) if s is not None]
    info = {
        "schema_version": SCHEMA_VERSION, "task": _task_name(log_file), "status": RunStatus.IMPORTED.value,
        "imported_from": str(log_file), "source": f"original MLR-Copilot {ORIGINAL_FULL_LOG}",
        "research_problem": _research_problem(log_file, trace if isinstance(trace, dict) else None, objects),
        "llm": None, "start": _iso(min(stamps)) if stamps else None, "end": _iso(max(stamps)) if stamps else None,
        "final_answer": final if isinstance(final, str) else None,
        "totals": {"steps": len(steps),
                   "wall_time_s": round(max(stamps) - min(stamps), 3) if stamps else None},
    }
    return RunLog(info, steps, "original", log_file)


def _original_file(path: Path) -> Path:
    if path.is_dir():
        found = find_original_log(path)
        if found is None:
            raise ConfigError(f"no {ORIGINAL_FULL_LOG} in {path}")
        return found
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    return path


def import_original_log(path: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Convert an original MLR-Copilot log into a run folder of ours
    (``out_dir/agent_log/full_log.jsonl`` and ``out_dir/run.json``); returns ``out_dir``."""
    run = convert_original(path)
    out = Path(out_dir)
    target = RunDir(out).full_log
    if target.exists():
        if not overwrite:
            raise ConfigError(f"{target} already exists; choose another --out folder")
        target.unlink()
    if not run.steps:
        raise ConfigError(f"{run.log_path} holds no readable step")
    info = RunInfo({**run.info, "imported_at": utc_now()})
    writer = JsonlWriter(target)
    writer.write({"type": RUN_START, "step": 0, "timestamp": info["start"] or info["imported_at"],
                  **{k: v for k, v in info.items() if k != "totals"}})
    for step in run.steps:
        writer.write(step)
    info.write(out)
    logger.info("Imported %d steps from %s into %s", len(run.steps), run.log_path, out)
    return out


# ------------------------------------------------------------------ either format

def load_run(path: str | Path) -> RunLog:
    """Read a run: our run folder (or its full_log.jsonl) or an original full_log.json
    (or its folder). Raises ConfigError when nothing readable is there."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p} does not exist")
    ours = find_full_log(p)
    if ours is not None:
        records = read_jsonl(ours)
        start = next((r for r in records if r.get("type") == RUN_START), {})
        check_schema(start, ours)  # a log of a newer schema is refused, not misread
        steps = [r for r in records if r.get("type") == STEP]
        run_dir = RunDir.of_log(ours)
        info: dict[str, Any] = {}
        if run_dir.run_json.is_file():
            try:
                info = RunInfo.read(run_dir)
            except NewerSchemaError:
                raise
            except RunRecordError as exc:  # damaged: the run_start record tells the same
                logger.warning("%s", exc)
        return RunLog(dict(info or start), steps, "ours", ours)
    if p.is_file():
        return convert_original(p)
    try:
        return convert_original(p)
    except ConfigError:
        raise ConfigError(f"no run log in {p}: looked for {AGENT_LOG}/{FULL_LOG}, {FULL_LOG} "
                          f"and an original {ORIGINAL_FULL_LOG}") from None


def load_steps(log_dir_or_file: str | Path) -> list[dict[str, Any]]:
    """The step records of a run in our schema, whichever format it was written in."""
    return load_run(log_dir_or_file).steps
