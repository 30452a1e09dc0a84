"""Progress of long operations, for whoever listens (the CLI draws it; the library stays silent).

Library code calls ``report(kind, **info)``; the CLI registers a listener per kind with
``listen``. Kinds: ``script`` (elapsed_s, last_line), ``step`` (step, max_steps, action).
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


def report(kind: str, **info: Any) -> None:
    fn = _listeners.get(kind)
    if fn is None:
        return
    try:
        fn(**info)
    except Exception as exc:  # progress display is never worth a failed action
        logger.debug("progress listener for %s failed: %s", kind, exc)
