"""Resume a run that died: restore the last completed step and go on from there.

A step is complete when its record is in ``full_log.jsonl`` (it is written last, after
the action, the research-log entry and the snapshot). Resuming restores the workspace to
that step's snapshot, rebuilds the agent's memory from the log and continues numbering,
so no step is lost or duplicated.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import ConfigError
from ..feedback import make_feedback
from ..llm.base import Usage
from ..logs import utc_now
from ..run_record import RunRecorder
from .experiment import AgentState, StepMemory
from .runner import RunOptions, RunResult, _drive

logger = logging.getLogger(__name__)

FINISHED = ("final_answer", "step_limit", "time_limit", "budget", "format_error")


def rebuild_state(steps: list[dict], totals: dict) -> AgentState:
    state = AgentState()
    for r in steps:
        state.history.append(StepMemory(step=r["step"], entries=r.get("entries") or {}, action=r["action"],
                                        action_input=r.get("action_input") or {},
                                        observation=r.get("observation", ""), feedback=r.get("feedback")))
    state.feedback = steps[-1].get("feedback") if steps else None
    state.usage = Usage(totals.get("input_tokens", 0), totals.get("output_tokens", 0), totals.get("cached_tokens", 0))
    state.cost_usd = totals.get("cost_usd", 0.0)
    state.llm_calls = totals.get("llm_calls", 0)
    return state


def resume_run(run_dir: Path, *, feedback_mode: str = "auto", feedback_file: str | None = None,
               models=None, feedback=None) -> RunResult:
    from ..env.environment import Environment
    from ..env.snapshots import restore
    from ..tasks import find_task

    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        raise ConfigError(f"{run_dir} is not a run directory (no run.json)")
    recorder = RunRecorder(run_dir)
    info = recorder.info
    if info.get("status") in FINISHED:
        return RunResult(run_dir, info["status"], f"This run already finished ({info['status']}); nothing to resume.",
                         info.get("final_answer"))
    opts = dict(info.get("options") or {})
    if feedback_file is not None:
        opts["feedback_file"] = feedback_file
    opts["feedback"] = feedback_mode
    options = RunOptions(**{k: v for k, v in opts.items() if k in RunOptions.__dataclass_fields__})
    task = find_task(Path(options.root), info["task"])
    steps = recorder.steps()
    last = steps[-1]["step"] if steps else 0
    workspace = Path(info["workspace"])
    restore(run_dir / "env_log", last, workspace)
    state = rebuild_state(steps, info.get("totals") or {})
    info.setdefault("resumes", []).append({"at": utc_now(), "from_step": last, "previous_status": info.get("status")})
    info.update(status="running", end=None)
    recorder.info["totals"]["steps"] = last
    recorder.save()
    recorder.full_log.write({"type": "resume", "step": last, "timestamp": utc_now()})
    logger.info("Resuming %s after step %d", run_dir, last)
    feedback = feedback or make_feedback(options.feedback, options.feedback_file)
    offered = info.get("offered_actions")
    return _drive(options, recorder, run_dir, workspace, task.problem_text(), task, offered, models, feedback,
                  Environment, state=state)
