"""The measure-first guard: moves a small model makes before anything backs them, each asked
again once per step (with the compact prompt, or ``--measure-first``).

A Final Answer when nothing measured could back it, an edit stacked on a change nobody ran,
and an edit of the starter before its baseline ran. Each refusal is (the error recorded in the
step's ``parse_errors``, the correction the model reads, the actions its retry leaves out).
"""
from __future__ import annotations

from pathlib import PurePosixPath
from typing import Sequence

from ..templates import render
from .goal import Goal
from .next_move import (REWRITE_ACTIONS, RUN_ACTION, UNDO_ACTION, StepLike, target_file, unfinished_work,
                        unrun_change)

Refusal = tuple[str, str, frozenset]


def unmeasured_refusal(action: str, args: dict, history: Sequence[StepLike], goal: Goal | None,
                       starter: str | None) -> Refusal | None:
    """Why this move comes before what would back it, or None; ``starter`` is the main script's
    name when the run found it in the workspace (an edit of it then waits for its baseline)."""
    if action == "Final Answer":
        reason = unfinished_work(history, goal)
        return None if reason is None else (f"premature final answer: {reason}",
                                            render("agents.prompts", "premature_final", reason=reason), frozenset())
    target, unrun = target_file(action, args), unrun_change(action, args, history)
    if unrun is not None:
        return (f"unmeasured change: {action} of {target} before the change of step {unrun.step} was run",
                render("agents.prompts", "unrun_undo" if action == UNDO_ACTION else "unrun_change",
                       action=action, step=unrun.step, file=target), REWRITE_ACTIONS)
    if starter is not None and unmeasured_baseline(action, args, history, starter):
        return (f"unmeasured baseline: {action} of {starter} before any script ran",
                render("agents.prompts", "baseline_first", action=action, script=starter), REWRITE_ACTIONS)
    return None


def unmeasured_baseline(action: str, action_input: dict, history: Sequence[StepLike], script: str) -> bool:
    """Whether this rewrite would change the main ``script`` before any script ran: with no
    baseline, no result can be compared and the goal check has nothing to go on. On probes the
    agent edited first in three runs of five (an energy probe's at step 2), and two of them
    then answered without ever knowing what the starter scored."""
    if action not in REWRITE_ACTIONS or any(m.action == RUN_ACTION for m in history):
        return False
    named = {target_file(action, action_input), action_input.get("script_name")}
    return str(PurePosixPath(script)) in {str(PurePosixPath(n.strip())) for n in named if isinstance(n, str)}
