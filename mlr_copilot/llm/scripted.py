"""A deterministic LLM that returns given responses: for tests and dry runs.

``ScriptedLLM(["resp1", "resp2"])`` answers each call with the next response.
A response may be a callable taking the messages, to answer from the prompt.
Every call's messages are kept in ``calls`` so tests can check what the model saw.

``--llm scripted:<file.json>`` runs a whole experiment on a script, with no model: the
file holds ``{"main": [...], "fast": [...], "edit": [...]}`` (or just the list for main).
A role without responses answers every call with ``DEFAULT_SIDE_RESPONSE``; main repeats
its last response once the list is used up.
"""
from __future__ import annotations

import time
import json
from pathlib import Path
from typing import Callable, Iterable, Sequence, Union

from ..errors import ConfigError, ReplayDivergedError
from .base import Completion, Message, ResponseSpec, Usage

Response = Union[str, Callable[[Sequence[Message]], str], BaseException]


DEFAULT_SIDE_RESPONSE = "Noted."
SCRIPT_ROLES = ("main", "fast", "edit")


def load_script(path: str | Path) -> dict[str, list[str]]:
    """Read a ``scripted:`` file; a clear ConfigError for anything malformed."""
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--llm scripted: no script file at {p}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--llm scripted: {p} is not a readable JSON file: {exc}") from None
    if isinstance(data, list):
        data = {"main": data}
    if not isinstance(data, dict) or not set(data) <= set(SCRIPT_ROLES) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in data.values()):
        raise ConfigError(f"--llm scripted: {p} must hold a list of strings, or an object with lists of "
                          f"strings under {', '.join(SCRIPT_ROLES)}")
    if not data.get("main"):
        raise ConfigError(f"--llm scripted: {p} has no responses for the main model")
    return data


class ScriptedLLM:
    def __init__(self, responses: Iterable[Response], model: str = "scripted", *,
                 repeat_last: bool = False, continues_answers: bool = False):
        self.model = model
        self.continues_answers = continues_answers  # as a backend that continues a prefill
        self._responses = list(responses)
        self._index = 0
        self._repeat_last = repeat_last
        self.calls: list[dict] = []

    @classmethod
    def from_file(cls, path: str | Path, role: str = "main") -> "ScriptedLLM":
        responses = load_script(path).get(role) or [DEFAULT_SIDE_RESPONSE]
        return cls(responses, model=f"scripted:{Path(path).name}#{role}", repeat_last=True)

    @property
    def remaining(self) -> int:
        return len(self._responses) - self._index

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 2000,
                 temperature: float = 0.0, stop: Sequence[str] = (),
                 response_spec: ResponseSpec | None = None, purpose: str = "agent") -> Completion:
        started = time.monotonic()
        self.calls.append({"messages": [dict(m) for m in messages], "max_tokens": max_tokens,
                           "stop": list(stop), "purpose": purpose,
                           "temperature": temperature, "response_spec": response_spec})
        if self._index >= len(self._responses):
            if self._repeat_last and self._responses:
                response = self._responses[-1]
            else:
                raise ReplayDivergedError(
                    f"ScriptedLLM has no response left for call {self._index + 1} (purpose: {purpose})")
        else:
            response = self._responses[self._index]
            self._index += 1
        if isinstance(response, BaseException):
            raise response
        text = response(messages) if callable(response) else response
        for s in stop:
            if s and s in text:
                text = text[: text.index(s)]
        prompt_chars = sum(len(m.get("content", "")) for m in messages)
        return Completion(text=text, model=self.model,
                          usage=Usage(input_tokens=prompt_chars // 4, output_tokens=len(text) // 4),
                          latency_s=time.monotonic() - started, stop_reason="end")
