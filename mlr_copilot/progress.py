"""Progress of long operations, for whoever listens (the CLI draws it; the library stays silent).

Library code calls ``report(kind, **info)``; the CLI registers a listener per kind with
``listen``. Kinds: ``run`` (run_dir, task, resumed), ``step`` (step, max_steps, phase, action),
``tokens`` (generated: tokens so far of the current LLM answer), ``step_done`` (view,
max_steps, seconds, usage, cost_usd, and node: the tree node the step ends, when
max_steps counts nodes), ``script`` (elapsed_s, last_line).
A failing listener never breaks the operation it watches.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

logger = logging.getLogger(__name__)
_listeners: dict[str, Callable[..., None]] = {}


def listen(kind: str, fn: Callable[..., None] | None) -> None:
    if fn is None:
        _listeners.pop(kind, None)
    else:
        _listeners[kind] = fn


def listening(kind: str) -> bool:
    """Whether someone shows ``kind`` (a channel that would show the same thing can stay quiet)."""
    return kind in _listeners


def report(kind: str, **info: Any) -> None:
    fn = _listeners.get(kind)
    if fn is None:
        return
    try:
        fn(**info)
    except Exception as exc:  # progress display is never worth a failed action
        logger.debug("progress listener for %s failed: %s", kind, exc)
