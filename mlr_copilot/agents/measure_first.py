"""The measure-first guard: moves a small model makes before anything backs them (with the
compact prompt, or ``--measure-first``).

Where the main script is what is left unmeasured (an edit of it before its baseline ran; an
edit, undo or Final Answer while its last change was never run), the one right move is to run
it, and the step does so (``run_instead``). Other moves are asked again once: a Final Answer
nothing measured could back, an edit stacked on an unrun change of another file. Each refusal
is (the error recorded in the step's ``parse_errors``, the correction the model reads, the
actions its retry leaves out).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Sequence

from ..templates import render
from .goal import Goal
from .parsing import ParsedResponse
from .next_move import (REWRITE_ACTIONS, RUN_ACTION, UNDO_ACTION, StepLike, last_unrun_change, target_file,
                        unfinished_work, unrun_change)

Refusal = tuple[str, str, frozenset]


def unmeasured_refusal(action: str, args: dict, history: Sequence[StepLike], goal: Goal | None) -> Refusal | None:
    """Why this move comes before what would back it, or None."""
    if action == "Final Answer":
        reason = unfinished_work(history, goal)
        return None if reason is None else (f"premature final answer: {reason}",
                                            render("agents.prompts", "premature_final", reason=reason), frozenset())
    target, unrun = target_file(action, args), unrun_change(action, args, history)
    if unrun is not None:
        return (f"unmeasured change: {action} of {target} before the change of step {unrun.step} was run",
                render("agents.prompts", "unrun_undo" if action == UNDO_ACTION else "unrun_change",
                       action=action, step=unrun.step, file=target), REWRITE_ACTIONS)
    return None


@dataclass(frozen=True)
class RunInstead:
    """The run of the main script a step makes instead of a move that would leave it unmeasured."""

    action_input: dict  # of the Execute Script run instead
    error: str  # for the step's parse_errors
    note: str  # put after the observation: the agent learns its move was not made, and why

    def applied_to(self, parsed: ParsedResponse) -> ParsedResponse:
        """The model's answer with this run as its action, its narrative entries kept."""
        return dataclasses.replace(parsed, action=RUN_ACTION, action_input=self.action_input,
                                   entries={**parsed.entries, "Action": RUN_ACTION,
                                            "Action Input": json.dumps(self.action_input)})


def run_instead(action: str, args: dict, history: Sequence[StepLike], starter: str | None) -> RunInstead | None:
    """The run of the main script ``starter`` that must come before this move, or None: an edit
    of it before its baseline ran, or an edit, undo or Final Answer while its last change was
    never run. Each has one right move, so the step makes it rather than asking again (a second
    answer costs 6-12 s on two cores, and small models often give the refused one again)."""
    if starter is None:
        return None
    starter = str(PurePosixPath(starter))
    if unmeasured_baseline(action, args, history, starter):
        return RunInstead({"script_name": starter},
                          f"unmeasured baseline: {action} of {starter} before any script ran; "
                          f"{starter} was run unchanged instead",
                          render("agents.prompts", "baseline_first", action=action, script=starter))
    unrun = (last_unrun_change(history) if action == "Final Answer" else
             unrun_change(action, args, history) if target_file(action, args) == starter else None)
    if unrun is None or target_file(unrun.action, unrun.action_input) != starter:
        return None
    return RunInstead({"script_name": starter},
                      f"unmeasured change: {action} before the change of step {unrun.step} to {starter} was run; "
                      f"{starter} was run instead",
                      render("agents.prompts", "run_change_first", action=action, step=unrun.step, script=starter))


def unmeasured_baseline(action: str, action_input: dict, history: Sequence[StepLike], script: str) -> bool:
    """Whether this rewrite would change the main ``script`` before any script ran: with no
    baseline, no result can be compared and the goal check has nothing to go on. On probes the
    agent edited first in three runs of five (an energy probe's at step 2), and two of them
    then answered without ever knowing what the starter scored."""
    if action not in REWRITE_ACTIONS or any(m.action == RUN_ACTION for m in history):
        return False
    named = {target_file(action, action_input), action_input.get("script_name")}
    return str(PurePosixPath(script)) in {str(PurePosixPath(n.strip())) for n in named if isinstance(n, str)}
