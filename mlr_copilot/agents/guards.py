"""Checks between a parsed response and its execution: they turn the mistakes small models
really make into a corrective retry of the model (a parse attempt), never a wasted step.

* ``check_arguments``: each argument has its declared type (a list for a string is refused
  with the expected form; a one-element list of a string is read as that string, recorded).
  What runs, is remembered and is recorded is the validated input; a key the action does
  not take is left out, and that is recorded too.
* ``repeated_step``: the loop guard. The same action with the same input as one of the last
  ``REPEAT_WINDOW_STEPS`` steps, while nothing changed since that could change its
  observation, is not run again; nor is an edit that changed nothing, asked again with other
  numbers in its instruction.
* ``spec_without``: the response format without some actions, for the retry's grammar.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Protocol, Sequence

from ..env.llm_actions import EDIT_CHANGED_NOTHING
from ..errors import ActionInputError, FormatError
from ..llm.base import ResponseSpec

REPEAT_WINDOW_STEPS = 5  # the loop guard looks this many steps back for the same action
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Remembered(Protocol):
    step: int
    action: str
    action_input: dict
    observation: str
    feedback: str | None


def check_arguments(parsed: Any, offered: Sequence[Any]) -> list[str]:
    """Validate ``parsed.action_input`` against the action's declared argument types; a wrong
    type raises FormatError (retried). Unambiguous repairs, and keys the action does not take
    (left out), are applied to ``parsed.action_input`` and described in the list returned."""
    info = next((a for a in offered if a.name == parsed.action), None)
    if info is None:
        return []
    normalised: list[str] = []
    try:
        valid = info.validate(parsed.action_input, normalised=normalised)
    except ActionInputError as exc:
        raise FormatError(str(exc), kind="bad_argument", action=parsed.action) from None
    normalised += [f"{key}: not an argument of {info.name}, left out"
                   for key in parsed.action_input if key not in info.arg_names]
    if normalised:
        parsed.action_input.clear()
        parsed.action_input.update(valid)
    return normalised


def repeated_step(action: str, action_input: dict, history: Sequence[Remembered],
                  workspace_digest: Callable[[int], str | None]) -> Remembered | None:
    """The recent step that did the same action with the same input, when nothing has changed
    since that would give a different observation: no file changed except by scripts' own
    runs (their outputs do not make a rerun useful), and no human feedback was given."""
    key = action_key(action, action_input)
    blurred = action_key(action, _numbers_blurred(action_input))
    for memory in reversed(history[-REPEAT_WINDOW_STEPS:]):
        if action_key(memory.action, memory.action_input) == key or (
                EDIT_CHANGED_NOTHING in memory.observation[:300]
                and action_key(memory.action, _numbers_blurred(memory.action_input)) == blurred):
            return None if _changed_since(memory, history, workspace_digest) else memory
    return None


def _numbers_blurred(action_input: dict) -> dict:
    """The input with the numbers of its edit instruction blurred: an edit that changed nothing,
    asked again with other numbers, changes nothing again (a digits run asked for 1500, 2000,
    2500 and 3000 trees of a decision tree, four steps in a row)."""
    instruction = action_input.get("edit_instruction")
    if not isinstance(instruction, str):
        return action_input
    return {**action_input, "edit_instruction": _NUMBER.sub("#", instruction)}


def _changed_since(memory: Remembered, history: Sequence[Remembered],
                   workspace_digest: Callable[[int], str | None]) -> bool:
    later = [m for m in history if m.step >= memory.step]
    if any(m.feedback for m in later):
        return True
    for m in later:
        if m.step == memory.step or m.action == "Execute Script":
            continue
        before, after = workspace_digest(m.step - 1), workspace_digest(m.step)
        if before is None or after is None or before != after:
            return True
    return False


def spec_without(spec: ResponseSpec, excluded: set[str]) -> ResponseSpec:
    names = [name for name in spec.actions if name not in excluded]
    if not excluded or not names:
        return spec
    return ResponseSpec(entries=spec.entries, actions={n: spec.actions[n] for n in names},
                        required_args={n: v for n, v in spec.required_args.items() if n in names},
                        arg_types={n: v for n, v in spec.arg_types.items() if n in names})


def action_key(action: str, action_input: dict) -> str:
    return action + "\n" + json.dumps(action_input, sort_keys=True, ensure_ascii=False)
