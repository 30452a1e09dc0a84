"""Serve a finished run's recorded completions, to reproduce it exactly without a model.

``ReplayLLM(run_log_dir)`` reads ``agent_log/llm_calls.jsonl`` (the run directory, its
``agent_log`` folder or the file itself may be given) and answers each request with the
recorded answer to **the same request**: same purpose ("agent_step", "edit_script", ...)
and same messages (compared by sha256). Matching by request rather than by position
is what lets a resumed process, which starts a fresh ``ReplayLLM``, pick up in the middle
of the recording. When several unserved records match (the same request asked twice),
position decides: the first one after the last record served, else the first one.

Requests that differ from a recorded one **only in numbers** (a script's run time in an
observation, "after 0.3 s" against "after 0.4 s") match it too, unless ``strict=True``,
provided it comes after the last record served; exact matches always win. Anything else raises ``ReplayDivergedError`` saying which call
diverged and where it differs from the recorded call expected next.

A recording that was itself resumed holds ``resume`` markers (written by
``agents.resume``): calls of a step that was cut short and redone after the resume are
dropped, so the recording is that of the run's final history. A recorded failure (say,
a context-too-long error the agent reacted to) is raised again, as the same error type,
and is not retried. Completions are served as logged, so a secret scrubbed from the log
stays scrubbed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from .. import errors
from ..errors import ConfigError, ReplayDivergedError
from ..logs import read_jsonl
from ..records import find_call_log as _find_call_log
from ..records.layout import AGENT_LOG, LLM_CALLS
from ..records.schema import LLM_CALL, RESUME
from .base import Completion, Message, ResponseSpec, Usage
from .cache import messages_sha256

log = logging.getLogger(__name__)

_SNIPPET = 120
_NUMBER = re.compile(r"\d+")


def find_call_log(path: str | os.PathLike) -> Path:
    """The call log inside a run directory, an agent_log folder, or the file itself."""
    found = _find_call_log(path)
    if found is None:
        raise ConfigError(f"replay: no {LLM_CALLS} found at {Path(path).expanduser()} (give a run directory "
                          f"such as logs/<task>/<timestamp>, its {AGENT_LOG} folder, or the file itself)")
    return found


def final_history(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The call records of a run's final history: at each ``resume`` marker (from step S),
    the calls made for steps after S, which were cut short and redone, are dropped."""
    kept: list[dict[str, Any]] = []
    for r in records:
        kind = r.get("type", LLM_CALL)
        if kind == RESUME and isinstance(r.get("from_step"), int):
            last = r["from_step"]
            kept = [k for k in kept if not (isinstance(k.get("step"), int) and k["step"] > last)]
        elif kind == LLM_CALL:
            kept.append(r)
    return kept


def loose_sha256(messages: Sequence[Any]) -> str:
    """The hash of the messages with every number replaced by 0 (timings, sizes, scores)."""
    plain = [{"role": m.get("role", ""), "content": _NUMBER.sub("0", str(m.get("content", "")))}
             for m in messages]
    return hashlib.sha256(json.dumps(plain, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


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

    def __init__(self, run_log_dir: str | os.PathLike, *, strict: bool = False):
        self.path = find_call_log(run_log_dir)
        self.strict = strict
        self._records = final_history(read_jsonl(self.path))
        if not self._records:
            raise ConfigError(f"replay: {self.path} holds no recorded LLM calls")
        self._exact = [r.get("messages_sha256") or messages_sha256(r.get("messages") or [])
                       for r in self._records]
        self._loose = [loose_sha256(r.get("messages") or []) for r in self._records]
        self._by_purpose: dict[str, list[int]] = {}
        for i, r in enumerate(self._records):
            self._by_purpose.setdefault(str(r.get("purpose", "agent")), []).append(i)
        self._served: set[int] = set()
        self._last = -1  # index of the record served last
        # a recording that continued answers (a trailing assistant message) is replayed the same way
        self.continues_answers = any((r.get("messages") or [{}])[-1].get("role") == "assistant"
                                     for r in self._records)
        self.model = f"replay:{self.path}"
        self.identity = self.model

    @property
    def remaining(self) -> dict[str, int]:
        """Recorded calls not yet served, by purpose."""
        out = {p: sum(i not in self._served for i in idx) for p, idx in self._by_purpose.items()}
        return {p: n for p, n in out.items() if n}

    def _pick(self, candidates: list[int]) -> int:
        return next((i for i in candidates if i > self._last), candidates[0])

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 2000,
                 temperature: float = 0.0, stop: Sequence[str] = (),
                 response_spec: ResponseSpec | None = None, purpose: str = "agent") -> Completion:
        indices = self._by_purpose.get(purpose, [])
        unserved = [i for i in indices if i not in self._served]
        if not unserved:
            raise ReplayDivergedError(
                f"replay diverged: the new run asks for {purpose!r} call {len(indices) + 1}, but the "
                f"recording in {self.path} holds only {len(indices)} such calls")
        digest = messages_sha256(messages)
        matches = [i for i in unserved if self._exact[i] == digest]
        if not matches and not self.strict:
            loose = loose_sha256(messages)
            # only forward: "log 4" must not take the place of an unused "log 1"
            matches = [i for i in unserved if i > self._last and self._loose[i] == loose]
            if matches:
                log.info("replay: %r call matched the recording up to numbers (timings, sizes)", purpose)
        if not matches:
            expected = next((i for i in unserved if i > self._last), None)
            if expected is None:
                raise ReplayDivergedError(
                    f"replay diverged: the new run asks for a {purpose!r} call that is not in the "
                    f"recording {self.path}: none of its {len(unserved)} unused such call(s) matches, "
                    f"and none comes after the last call served")
            record = self._records[expected]
            where = _first_difference(record.get("messages") or [], messages)
            raise ReplayDivergedError(
                f"replay diverged at {purpose!r} call {indices.index(expected) + 1} (recorded call "
                f"{record.get('call', '?')}, step {record.get('step')}): the request is not in the "
                f"recording {self.path}; against the call expected next, {where}")
        index = self._pick(matches)
        self._served.add(index)
        self._last = index
        record = self._records[index]
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
