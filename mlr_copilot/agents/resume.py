"""Resume a run that died: restore the last completed step and go on from there.

A step is complete when its record is in ``full_log.jsonl``: it is written last, after the
action, the research-log entry and the snapshot. A run killed at any point (during an LLM
call, a script, a snapshot or a log write) is resumed by:

1. stopping scripts of the dead run still running in the workspace (in every case, even
   when the resume is then refused; never while another process holds the run), and
   rebuilding a deleted ``run.json`` from the run log;
2. refusing a run that finished (it says so and changes nothing), that another process
   still holds (``records.recorder`` locks the run directory while a process works on it), or
   whose logs, snapshots, task or models are not usable: every check comes before any
   repair, so a refused resume leaves the run directory as it was;
3. taking back what the dead process left half-done (``run_repair``): a torn last line of
   each log (kept in ``<log>.torn``), snapshot manifests and undo history of the step that
   was cut short;
4. restoring the workspace (research log included) to the last complete step's snapshot
   and rebuilding the agent's memory from the step records, so the next prompt is the one
   the run would have sent, and numbering goes on from there. When that step is the Final
   Answer (killed after its record, before the run's end was saved), the run ended there: it
   is finished as ``final_answer`` and no further step is asked for. A run killed after its
   ``run_end`` record but before ``run.json`` said so is not resumed: ``run.json`` gets the
   logged end (``record_logged_end``);
5. recording the resume (``run.json`` ``resumes``, a ``resume`` record in the run log, the
   call log and the trace) and carrying totals and budget over, so ``--max-cost``,
   ``--max-llm-calls`` and ``--max-time`` count the whole run, not the last stretch.

The calls of a step that was cut short were made and paid for: they stay in
``llm_calls.jsonl`` and in the totals; a replay of the run skips them (``llm.replay``).
"""
from __future__ import annotations

import calendar
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RunRecordError
from ..llm.base import Usage
from ..logs import JsonlWriter, read_jsonl, utc_now
from ..records import EnvLog, RunDir, RunInfo, RunStatus, llm_calls
from ..records.recorder import RunRecorder
from ..records.schema import ACTION, RESUME
from ..run_config import OVERRIDE, check_resume_overrides, resumable, resumed
from ..source import source_commit
from .experiment import AgentState, StepMemory
from .run_repair import (call_totals, check_log, drop_torn_lines,  # noqa: F401
                         rebuild_run_json, record_logged_end, stop_leftover_scripts)
from .session import RunResult, RunSession, check_llm

logger = logging.getLogger(__name__)

RESUME_OVERRIDES = resumable(OVERRIDE)
"""Run options a resume may change (``resume_run(..., overrides=...)``; ``run_config`` marks them);
the rest are the run's."""
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def resume_run(run_dir: str | os.PathLike, *, feedback_mode: str = "auto", feedback_file: str | None = None,
               overrides: dict[str, Any] | None = None, models=None, feedback=None) -> RunResult:
    """Continue the run in ``run_dir`` after its last complete step (see the module docstring).

    ``overrides`` changes run options from now on (names in ``RESUME_OVERRIDES``, e.g. a
    larger ``max_steps`` or another ``llm``); they are recorded with the resume.
    """
    run_dir = Path(run_dir)
    overrides = dict(overrides or {})
    check_resume_overrides(overrides)
    if not RunDir(run_dir).run_json.exists():
        rebuild_run_json(run_dir)
    info = record_logged_end(run_dir, _read_run_info(run_dir))
    if info.status is not None and info.status.finished:  # running (killed), interrupted and errors resume
        _stop_leftovers(info, run_dir)  # a finished run holds no lock: its scripts are leftovers
        status = info["status"]
        return RunResult(run_dir, status, f"This run already finished ({status}); there is nothing to resume. "
                         f"Start a new run to go further.", info.get("final_answer"))
    recorder = RunRecorder(run_dir)  # locks the run: ConfigError if another process holds it
    try:
        stopped = _stop_leftovers(recorder.info, run_dir)  # in every case, even if the resume is refused
        return _resume_locked(recorder, run_dir, feedback_mode, feedback_file, overrides, models, feedback,
                              stopped)
    finally:
        recorder.close()


def _resume_locked(recorder: RunRecorder, run_dir: Path, feedback_mode: str, feedback_file: str | None,
                   overrides: dict[str, Any], models, feedback, stopped: int) -> RunResult:
    from ..config import watch_folder
    from ..env.isolation import check_pass_env
    from ..env.snapshots import SnapshotError, list_steps, load_manifest
    from ..tasks import find_task

    info = recorder.info
    paths = RunDir(run_dir)
    env_log, calls_path, trace_path = paths.env_log.root, paths.llm_calls, paths.env_log.trace
    logs = paths.logs
    # 1. checks: whatever is refused here leaves the run directory as it was
    for path in logs:
        check_log(path)
    steps = complete_steps(recorder.steps())
    last = steps[-1]["step"] if steps else 0
    options = resumed(info.get("options") or {}, info["task"], overrides, feedback=feedback_mode,
                      feedback_file=feedback_file)
    check_pass_env(options.pass_env, options.pass_secret_env)  # the names as they stand after the overrides
    workspace = _workspace(info, run_dir)
    task = find_task(Path(info.get("root") or options.root), info["task"])
    watch_folder(Path(info.get("root") or options.root))  # its .env values stay scrubbed
    problem = task.problem_text()
    have = list_steps(env_log)
    if have and last not in have:
        raise ConfigError(f"The snapshot of step {last}, the last complete step, is missing from {env_log}; "
                          f"the run cannot be resumed (`mlr-copilot restore` can still rebuild steps "
                          f"{have[0]}..{have[-1]}).")
    if have:
        try:
            load_manifest(env_log, last)
        except SnapshotError as exc:
            raise ConfigError(f"The snapshot of step {last} cannot be read ({exc}); the run cannot be resumed.") from None
    if models is None:
        check_llm(options)
    # 2. repairs: take back what the dead process left half-done
    for stale in list(paths.stale_temp_files()):
        stale.unlink(missing_ok=True)  # a JSON file the dead process was replacing
    torn = {p.name: n for p in logs if (n := drop_torn_lines(p))}
    restore_workspace(env_log, workspace, last)
    rollback_undo_history(env_log, last)

    calls = llm_calls(read_jsonl(calls_path))
    killed = info.get("status") == RunStatus.RUNNING
    totals = dict(info.get("totals") or {})
    if killed:  # run.json's totals stopped at the last save: rebuild them from the logs
        totals.update(call_totals(calls))
        totals["wall_time_s"] = _killed_wall_time(info, run_dir)
    state = rebuild_state(steps, totals)
    session = RunSession.resume(recorder, options, task=task, problem=problem, workspace=workspace, state=state,
                                earlier_calls=calls, models=models, feedback=feedback)

    abandoned = {"llm_calls": sum(1 for r in calls if isinstance(r.get("step"), int) and r["step"] > last),
                 "actions": sum(1 for r in read_jsonl(trace_path)
                                if r.get("type") == ACTION and isinstance(r.get("step"), int)
                                and r["step"] > last)}
    entry = {"at": utc_now(), "from_step": last, "previous_status": info.get("status"),
             "previous_message": info.get("message"), "abandoned": abandoned,
             "torn_lines_removed": torn, "leftover_processes_stopped": stopped,
             "feedback": feedback_mode, "overrides": overrides,
             "mlr_copilot_commit": source_commit()}  # the code may have changed since the start
    info.setdefault("resumes", []).append(entry)
    info.update(status=RunStatus.RUNNING.value, end=None, message=None)
    if overrides:
        info["options"] = {**(info.get("options") or {}), **overrides}
    totals["steps"] = last
    info["totals"] = totals
    recorder.save()
    marker = {"type": RESUME, "step": last, "from_step": last, "timestamp": entry["at"],
              "resume": len(info["resumes"])}
    recorder.full_log.write({**marker, "previous_status": entry["previous_status"], "abandoned": abandoned})
    JsonlWriter(calls_path).write(marker)  # replay drops the calls of the lost step at this mark
    if trace_path.exists():
        JsonlWriter(trace_path).write(marker)
    logger.info("Resuming %s after step %d (%d LLM call(s) and %d action(s) of the lost step dropped)",
                run_dir, last, abandoned["llm_calls"], abandoned["actions"])
    return session.run()


def _stop_leftovers(info: dict[str, Any], run_dir: Path) -> int:
    """Stop scripts of the dead run still running in its workspace; never fails (0 if none)."""
    workspace = RunDir(run_dir).workspace_for(info)
    try:
        return stop_leftover_scripts(workspace) if workspace.is_dir() else 0
    except OSError as exc:
        logger.warning("Could not look for leftover scripts in %s: %s", workspace, exc)
        return 0


# ------------------------------------------------------------------ reading the run
def _read_run_info(run_dir: Path) -> RunInfo:
    try:
        info = RunInfo.read(run_dir)
    except RunRecordError as exc:
        raise ConfigError(f"{RunDir(run_dir).run_json} cannot be read ({exc.reason}); "
                          f"this run cannot be resumed.") from None
    if not info.task:
        raise ConfigError(f"{RunDir(run_dir).run_json} does not describe an experiment run (no task); "
                          f"it cannot be resumed.")
    return info


def complete_steps(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The step records, checked to be numbered 1, 2, 3... with none missing or repeated."""
    for i, r in enumerate(records, 1):
        if r.get("step") != i:
            raise ConfigError(f"The run log holds step {r.get('step')!r} where step {i} was expected; "
                              f"it was changed by hand or is damaged, so the run cannot be resumed safely.")
    return records


def _workspace(info: dict[str, Any], run_dir: Path) -> Path:
    workspace = RunDir(run_dir).workspace_for(info)  # work_dir is not an option a resume changes
    if not workspace.is_dir():
        raise ConfigError(f"The run's workspace {workspace} is missing; the run cannot be resumed.")
    return workspace


# --------------------------------------------------------- taking back the lost step
def restore_workspace(env_log: Path, workspace: Path, step: int) -> None:
    """Make the workspace what it was after ``step``; forget snapshots of later steps."""
    from ..env.snapshots import SnapshotError, SnapshotStore, list_steps, manifest_path

    have = list_steps(env_log)
    if not have:
        if step:
            raise ConfigError(f"{env_log} holds no workspace snapshots, so step {step} cannot be restored.")
        return  # killed before the first snapshot: nothing has touched the copy yet
    if step not in have:
        raise ConfigError(f"The snapshot of step {step}, the last complete step, is missing from {env_log}; "
                          f"the run cannot be resumed (`mlr-copilot restore` can still rebuild steps "
                          f"{have[0]}..{have[-1]}).")
    try:
        changes = SnapshotStore(env_log, workspace).sync_workspace(step)
    except (SnapshotError, OSError) as exc:
        raise ConfigError(f"The workspace could not be restored to step {step}: {exc}") from exc
    for later in (s for s in have if s > step):
        manifest_path(env_log, later).unlink(missing_ok=True)
    n = sum(len(v) for v in changes.values())
    if n:
        logger.info("Workspace restored to step %d (%d path(s) put back)", step, n)


_PUSHED = re.compile(r"^\d{6}\.s(\d+)\.")
_UNDONE = re.compile(r"^(.*)\.u(\d+)$")


def rollback_undo_history(env_log: Path, step: int) -> None:
    """Undo stacks as they were after ``step``: backups pushed by later steps are removed,
    backups that later steps used (undone/) go back on the stack (see ``env.files``)."""
    from ..env.files import UNDONE_DIR

    root = EnvLog(env_log).backups
    if not root.is_dir():
        return
    for d in root.iterdir():
        if not d.is_dir():
            continue
        for p in d.iterdir():
            m = _PUSHED.match(p.name)
            if p.is_file() and m and int(m.group(1)) > step:
                p.unlink()
        undone = d / UNDONE_DIR
        if undone.is_dir():
            for p in undone.iterdir():
                m = _UNDONE.match(p.name)
                if m and int(m.group(2)) > step:
                    os.replace(p, d / m.group(1))


# ------------------------------------------------------------- memory and totals
def rebuild_state(steps: list[dict], totals: dict) -> AgentState:
    """The agent's memory after the last complete step, from the step records."""
    state = AgentState()
    for r in steps:
        state.history.append(StepMemory(step=r["step"], entries=r.get("entries") or {}, action=r["action"],
                                        action_input=r.get("action_input") or {},
                                        observation=r.get("observation", ""), feedback=r.get("feedback")))
    state.feedback = steps[-1].get("feedback") if steps else None
    if steps and gave_final_answer(steps[-1]):  # the run ended with that step: nothing more to ask
        state.final_answer = str((steps[-1].get("action_input") or {}).get(
            "final_answer", steps[-1].get("full_observation", "")))
    state.usage = Usage(int(totals.get("input_tokens", 0)), int(totals.get("output_tokens", 0)),
                        int(totals.get("cached_tokens", 0)), int(totals.get("cache_write_tokens", 0)))
    state.cost_usd = float(totals.get("cost_usd") or 0.0)
    state.llm_calls = int(totals.get("llm_calls", 0))
    return state


def gave_final_answer(record: dict[str, Any]) -> bool:
    """Whether a step record is a Final Answer the environment took (an observation that is
    not an error, as ``Environment`` marks them): the step that ends a run."""
    from ..env.environment import ERROR_PREFIX

    text = str(record.get("full_observation") or record.get("observation") or "")
    return record.get("action") == "Final Answer" and not text.startswith(ERROR_PREFIX)


def _seconds(stamp: Any) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(str(stamp), _TIME_FORMAT)))
    except ValueError:
        return None


def _killed_wall_time(info: dict[str, Any], run_dir: Path) -> float:
    """Wall time of a killed run: what was saved, plus its last stretch up to its last record."""
    saved = float((info.get("totals") or {}).get("wall_time_s") or 0.0)
    resumes = info.get("resumes") or []
    start = _seconds(resumes[-1].get("at") if resumes else info.get("start"))
    ends = []
    for path in RunDir(run_dir).logs:
        records = read_jsonl(path)
        if records:
            ends.append(_seconds(records[-1].get("timestamp")))
    ends = [e for e in ends if e is not None]
    if start is None or not ends:
        return saved
    return round(saved + max(0.0, max(ends) - start), 3)


__all__ = ["resume_run", "rebuild_state", "drop_torn_lines", "check_log", "complete_steps",
           "rebuild_run_json", "record_logged_end", "gave_final_answer",
           "stop_leftover_scripts", "restore_workspace", "rollback_undo_history"]
