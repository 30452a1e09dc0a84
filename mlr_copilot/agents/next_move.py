"""Where the research stands, read from the steps so far, and the usual next move.

Small models lose track of a run: they copy their previous Thought and go back to listing
files after the baseline ran. The compact prompt (``AgentConfig.prompt_style``) therefore
states, from the step records alone, what was measured and which of the five moves of the
system prompt usually comes next (measure the baseline, change the script, run the change,
fix an error, compare and answer). It is advice in the prompt, never a constraint: the model
still chooses the action. Nothing here knows about any task.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Protocol, Sequence

from ..env.llm_actions import EDIT_CHANGED_NOTHING
from .error_hints import error_hint, error_line
from .goal import Goal, progress
from .research_log import key_lines

EDIT_ACTIONS = frozenset({"Edit Script (AI)", "Edit Script Segment (AI)", "Write File", "Copy File",
                          "Undo Edit Script", "Append File"})
REWRITE_ACTIONS = frozenset({"Edit Script (AI)", "Edit Script Segment (AI)", "Write File", "Append File"})
RUN_ACTION = "Execute Script"
UNDO_ACTION = "Undo Edit Script"
_EXIT = re.compile(r"Exit code: (-?\d+)")
_NUMBER_LINE = re.compile(r"[A-Za-z][\w .()/-]*[:=]\s*-?\d")
MAX_MEASURED = 4
FIRST_CHANGE = "a stronger model, feature scaling or better settings"  # tabular data's examples


class StepLike(Protocol):
    step: int
    action: str
    action_input: dict
    observation: str


def failed(memory: StepLike) -> bool:
    """Whether the action failed: an environment error, or a script that exited non-zero."""
    if memory.observation.startswith("EnvError"):
        return True
    m = _EXIT.search(memory.observation)
    return bool(m and m.group(1) != "0")


def changed_files(memory: StepLike) -> bool:
    """Whether the step changed the agent's files (a successful edit, write, copy or undo)."""
    return (memory.action in EDIT_ACTIONS and not failed(memory)
            and EDIT_CHANGED_NOTHING not in memory.observation[:300])


def target_file(action: str, action_input: dict) -> str | None:
    """The file an edit action writes (its save name), None for other actions."""
    if action not in EDIT_ACTIONS:
        return None
    name = (action_input.get("save_name") or action_input.get("file_name") or action_input.get("destination")
            or action_input.get("script_name"))
    return str(PurePosixPath(name.strip())) if isinstance(name, str) and name.strip() else None


def unrun_change(action: str, action_input: dict, history: Sequence[StepLike]) -> StepLike | None:
    """The earlier change to the file this rewrite would write, when no script has run since:
    editing it again would stack a second unmeasured change on the first (small models
    otherwise rewrite the same script step after step and never measure any version). An undo
    of a rewrite nobody ran counts too: on a rentals probe the agent undid the right edit
    before running it, reading the baseline's number as the edit's result."""
    target = target_file(action, action_input) if action in REWRITE_ACTIONS | {UNDO_ACTION} else None
    if target is None:
        return None
    for memory in reversed(history):
        if memory.action == RUN_ACTION:
            return None
        if changed_files(memory) and target_file(memory.action, memory.action_input) == target:
            return memory if action != UNDO_ACTION or memory.action in REWRITE_ACTIONS else None
    return None


def measured(memory: StepLike) -> str:
    """The lines of a script run that carry a named number ("Validation accuracy: 0.93")."""
    lines = [ln.strip() for ln in memory.observation.splitlines() if _NUMBER_LINE.search(ln)]
    lines = [ln for ln in lines if not ln.startswith("Exit code")]
    return "; ".join(lines[:3])


def where_we_are(history: Sequence[StepLike], ideas: str | None = None, goal: Goal | None = None,
                 columns: Sequence[str] = ()) -> str:
    """A few lines: what the scripts measured so far, and the usual next move; ``ideas`` are
    the examples of a first change the data calls for (``worked_example.first_change``): the
    agent follows this line more than the system prompt's example. With the task's ``goal``,
    a result is compared with it; ``columns`` (the data's column names) sharpen error hints."""
    runs = [m for m in history if m.action == RUN_ACTION]
    good = [m for m in runs if not failed(m) and measured(m)]
    lines = []
    if good:
        shown = good[:1] + good[1:][-(MAX_MEASURED - 1):]
        lines.append("Measured so far: " + " | ".join(f"step {m.step}: {measured(m)}" for m in shown))
    lines.append("Usual next move: " + _next_move(history, runs, good, ideas or FIRST_CHANGE, goal, columns))
    return "\n".join(lines)


def _next_move(history: Sequence[StepLike], runs: list, good: list, ideas: str, goal: Goal | None = None,
               columns: Sequence[str] = ()) -> str:
    edits = [m for m in history if changed_files(m)]
    last_run = runs[-1] if runs else None
    last_edit = edits[-1] if edits else None
    if last_edit is not None and (last_run is None or last_edit.step > last_run.step):
        return f"run the changed script with Execute Script to measure the change made in step {last_edit.step}."
    if history and history[-1].action in REWRITE_ACTIONS and EDIT_CHANGED_NOTHING in history[-1].observation[:300]:
        # in a digits run the agent then asked for "1500 trees", "2000 trees"... of a decision
        # tree, four edits that changed nothing, and the run ended without another measurement
        return (f"the edit of step {history[-1].step} changed nothing: the script has no such setting, or already "
                "has it. Ask for a different change that names exactly what to replace (for example the model "
                "class and its settings).")
    if last_run is not None and failed(last_run):
        same = _same_error_after_a_fix(runs, edits)
        if same is not None:
            return (f"the run in step {last_run.step} failed with the same error as the run in step {same.step} "
                    f"({error_line(last_run.observation)[:160]}), although the script was changed in between: "
                    "that fix did not work. Take the changes back with Undo Edit Script (one change each time) "
                    "until the script runs as it last did, then try a different change.")
        detail = key_lines(last_run.observation)
        hint = error_hint(last_run.observation, columns)
        return (f"the run in step {last_run.step} failed ({detail[:200]}); "
                + (f"this error usually means that {hint}. Fix" if hint else "fix")
                + " the cause with Edit Script (AI), or take the change back with Undo Edit Script.")
    if not good:
        return "run the main script unchanged with Execute Script to measure the baseline."
    if not edits:
        return ("improve the script with one clear change using Edit Script (AI), saving it under the same "
                f"name (for example {ideas}).")
    if _no_change_measured(runs) is not None:
        return (f"the last result (step {good[-1].step}) is the same as the first (step {good[0].step}): no change "
                f"has improved it yet. Try a different change with Edit Script (AI) (for example {ideas}).")
    made = _progress(runs, edits, goal)
    if made is not None:
        if made.reached:
            return f"{made.describe()}: it is reached. Give the Final Answer with the numbers measured."
        return (f"{made.describe()}: it is not reached yet. Try a further change with Edit Script (AI) that keeps "
                f"what helped (for example {ideas}).")
    baseline = good[0] if good[0].step < edits[0].step else None
    against = (f"the baseline (step {baseline.step})" if baseline is not None
               else "the starting script, whose result this run did not measure")
    return (f"compare the last result (step {good[-1].step}) with {against}: if it is clearly better, give "
            "the Final Answer with the numbers measured; otherwise try another change with Edit Script (AI).")


def _same_error_after_a_fix(runs: list, edits: list) -> StepLike | None:
    """The run before the last one when both failed on the same exception line with a change
    between them: small models then repeat the same fix; taking the change back breaks the loop."""
    if len(runs) < 2 or not failed(runs[-2]):
        return None
    before, last = runs[-2], runs[-1]
    error = error_line(last.observation)
    fixed = any(before.step < m.step < last.step for m in edits)
    return before if fixed and error is not None and error == error_line(before.observation) else None


def last_unrun_change(history: Sequence[StepLike]) -> StepLike | None:
    """The last step that changed a file, when no script has run since."""
    for memory in reversed(history):
        if memory.action == RUN_ACTION:
            return None
        if changed_files(memory):
            return memory
    return None


def unfinished_work(history: Sequence[StepLike], goal: Goal | None = None) -> str | None:
    """Why a Final Answer now would report a result nobody measured, or one short of the task's
    ``goal``; None when it would not."""
    runs = [m for m in history if m.action == RUN_ACTION]
    edits = [m for m in history if changed_files(m)]
    unrun = last_unrun_change(history)
    if unrun is not None:
        return (f"the change made in step {unrun.step} was never run, so its result is unknown: "
                "run the changed script with Execute Script first")
    if not any(not failed(m) for m in runs):
        return "no script has run successfully yet, so there is no measured result to report"
    if not edits:
        return ("nothing has been changed yet, so there is no improvement to report: change the script "
                "with Edit Script (AI), then run it")
    if failed(runs[-1]):
        return (f"the last run (step {runs[-1].step}) failed, so the script as it stands gives no result: "
                "fix it with Edit Script (AI), or take the change back with Undo Edit Script and run it")
    same = _no_change_measured(runs)
    if same is not None:
        return (f"every run so far measured the same as the first ({same}), so nothing has improved yet: "
                "try a different change with Edit Script (AI), then run it")
    made = _progress(runs, edits, goal)
    if made is not None and not made.reached:
        return (f"{made.describe()}, so the goal is not reached yet: try a further change with Edit Script (AI), "
                "then run it")
    return None


def _progress(runs: list, edits: list, goal: Goal | None):
    """The goal's ``Progress`` from the baseline (the first successful run, when it came before
    any change) to the last successful run; None when there is no such pair or no goal."""
    good = [m for m in runs if not failed(m)]
    if not good or not edits:
        return None
    return progress(goal, good[0] if good[0].step < edits[0].step else None, good[-1])


def _no_change_measured(runs: list) -> str | None:
    """The first run's measured line when every later successful run printed exactly the same
    one: the edits since then changed no result (small models undo a failed change, rerun the
    baseline and report it as done)."""
    good = [measured(m) for m in runs if not failed(m) and measured(m)]
    return good[0] if len(good) >= 2 and len(set(good)) == 1 else None
