"""Serve a finished run's recorded completions, to reproduce it exactly without a model.

``ReplayLLM(run_log_dir)`` reads ``agent_log/llm_calls.jsonl`` (the run directory, its
``agent_log`` folder or the file itself may be given) and answers each request with the
next recorded answer **for the same purpose** ("agent", "edit", "understand_file", ...),
in the order they were recorded. Queues per purpose, rather than one global queue, keep
a replay working when independent internal calls happen in a different order; within a
purpose the order must match.

Each request's messages are compared (by sha256) with the recorded ones; a different
request, or one more than the recording holds, raises ``ReplayDivergedError`` saying
which call diverged and where. A recorded failure (say, a context-too-long error the agent
reacted to) is raised again, as the same error type, and is not retried.
Completions are served as logged, so a secret scrubbed from the log stays scrubbed.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from pathlib import Path
from typing import Any, Sequence

from .. import errors
from ..errors import ConfigError, ReplayDivergedError
from ..logs import read_jsonl
from .base import Completion, Message, ResponseSpec, Usage
from .cache import messages_sha256

log = logging.getLogger(__name__)

CALL_LOG_NAME = "llm_calls.jsonl"
_SNIPPET = 120


def find_call_log(path: str | os.PathLike) -> Path:
    """The call log inside a run directory, an agent_log folder, or the file itself."""
    p = Path(path).expanduser()
    for candidate in (p, p / "agent_log" / CALL_LOG_NAME, p / CALL_LOG_NAME):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"replay: no {CALL_LOG_NAME} found at {p} (give a run directory such as "
                      f"logs/<task>/<timestamp>, its agent_log folder, or the file itself)")


def _first_difference(old: Sequence[Any], new: Sequence[Message]) -> str:
    """A short human description of where two message lists differ."""
    if len(old) != len(new):
        return f"the recording had {len(old)} messages, the new request has {len(new)}"
    for i, (a, b) in enumerate(zip(old, new)):
        a_role, b_role = a.get("role"), b.get("role")
        if a_role != b_role:
            return f"message {i}: role {a_role!r} was recorded, {b_role!r} is asked"
        a_text, b_text = a.get("content", ""), b.get("content", "")
        if a_text != b_text:
            pos = next((k for k, (x, y) in enumerate(zip(a_text, b_text)) if x != y),
                       min(len(a_text), len(b_text)))
            return (f"message {i} ({b_role}) differs at character {pos}: recorded "
                    f"{a_text[pos:pos + _SNIPPET]!r}, now {b_text[pos:pos + _SNIPPET]!r}")
    return "the message contents hash differently (the recorded messages were scrubbed of secrets)"


class ReplayLLM:
    """A backend answering from a recorded call log (see module docstring)."""

    def __init__(self, run_log_dir: str | os.PathLike):
        self.path = find_call_log(run_log_dir)
        records = [r for r in read_jsonl(self.path) if r.get("type", "llm_call") == "llm_call"]
        if not records:
            raise ConfigError(f"replay: {self.path} holds no recorded LLM calls")
        self._queues: dict[str, deque[dict[str, Any]]] = {}
        for r in records:
            self._queues.setdefault(str(r.get("purpose", "agent")), deque()).append(r)
        self._served: dict[str, int] = {}
        self.model = f"replay:{self.path}"
        self.identity = self.model

    @property
    def remaining(self) -> dict[str, int]:
        """Recorded calls not yet served, by purpose."""
        return {p: len(q) for p, q in self._queues.items() if q}

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 2000,
                 temperature: float = 0.0, stop: Sequence[str] = (),
                 response_spec: ResponseSpec | None = None, purpose: str = "agent") -> Completion:
        queue = self._queues.get(purpose)
        served = self._served.get(purpose, 0)
        if not queue:
            raise ReplayDivergedError(
                f"replay diverged: the new run asks for {purpose!r} call {served + 1}, but the "
                f"recording in {self.path} holds only {served} such calls")
        record = queue[0]
        expected = record.get("messages_sha256") or messages_sha256(record.get("messages") or [])
        if messages_sha256(messages) != expected:
            where = _first_difference(record.get("messages") or [], messages)
            raise ReplayDivergedError(
                f"replay diverged at {purpose!r} call {served + 1} (recorded call "
                f"{record.get('call', '?')}, step {record.get('step')}): the request differs "
                f"from the recording; {where}")
        queue.popleft()
        self._served[purpose] = served + 1
        if record.get("error_type"):
            raise self._recorded_error(record)
        usage = record.get("usage") or {}
        return Completion(
            text=record.get("completion") or "",
            model=record.get("response_model") or record.get("model") or "replay",
            usage=Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)),
                        int(usage.get("cached_tokens", 0))),
            latency_s=0.0, stop_reason=record.get("stop_reason"))

    def _recorded_error(self, record: dict[str, Any]) -> BaseException:
        name, message = record["error_type"], record.get("error") or record["error_type"]
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, errors.LLMError):
            exc = cls(f"(replayed) {message}")
            exc.retryable = False  # the recording already holds the outcome of every retry
            return exc
        return ReplayDivergedError(
            f"replay: the recording ends at {record.get('purpose')!r} call "
            f"{record.get('call', '?')}, where the original run stopped with {name}: {message}")
