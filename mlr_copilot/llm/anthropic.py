"""Claude through the official ``anthropic`` SDK (imported only when a backend is built).

Converts chat messages to the Messages API (system messages become the ``system``
parameter; consecutive turns of one role are merged; empty turns, which the API
refuses, are dropped) and the answer back to a ``Completion``. With ``prompt_cache``
(the default; ``--no-prompt-cache`` turns it off) the stable part of the prompt carries
cache breakpoints (see ``prompt_cache.py``). Usage counts every prompt token:
``input_tokens`` + cache reads + cache writes, with cache reads also reported as
``cached_tokens`` and cache writes as ``cache_write_tokens``. The SDK's own retries are off (``SDK_MAX_RETRIES``);
``LLMClient`` retries. API version 2026-10-21 (anthropic SDK 2.x) rejects sampling
parameters, so ``temperature`` is only sent with an SDK whose ``create`` still takes it.
"""
from __future__ import annotations

import inspect
import json
import logging
import time
from typing import Any, Sequence

from ..errors import LLMBadResponseError, LLMError, MissingDependencyError
from .base import STABLE, Completion, Message, ResponseSpec, Usage
from .prompt_cache import SEPARATOR, Turn, render_request
from .sdk_common import (DEFAULT_TIMEOUT_S, SDK_MAX_RETRIES, CallInfo, classify_sdk_error,
                         truncate_at_stop)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"


def split_messages(messages: Sequence[Message]) -> tuple[str, list[Turn]]:
    """(system text, turns): system messages joined; consecutive turns of one role merged,
    each keeping its parts and whether a part is marked stable (``llm.base.STABLE``)."""
    system_parts: list[str] = []
    turns: list[Turn] = []
    for m in messages:
        role = m.get("role", "user")
        content = m.get("content") or ""
        if role == "system":
            if content.strip():
                system_parts.append(content)
            continue
        role = "assistant" if role == "assistant" else "user"
        if not content.strip():
            continue
        if not turns or turns[-1].role != role:
            turns.append(Turn(role))
        turns[-1].parts.append((content, bool(m.get(STABLE))))
    system = SEPARATOR.join(system_parts)
    if not turns:  # a prompt given only as a system message: send it as the user turn
        turns, system = [Turn("user", [(system or ".", False)])], ""
    if turns[-1].role == "assistant":  # a prefill may not end with whitespace
        text, mark = turns[-1].parts[-1]
        turns[-1].parts[-1] = (text.rstrip(), mark)
    return system, turns


def to_anthropic_messages(messages: Sequence[Message]) -> tuple[str, list[dict[str, str]]]:
    """(system text, Messages API turns) for chat messages, without cache breakpoints."""
    system, turns = split_messages(messages)
    return system, [{"role": t.role, "content": t.text()} for t in turns]


class AnthropicBackend:
    """One Claude model. ``key_hint`` names the variable(s) an auth error tells the user to check."""

    provider = "Anthropic"

    def __init__(self, model: str, *, api_key: str, base_url: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, max_retries: int = SDK_MAX_RETRIES,
                 key_hint: str = "ANTHROPIC_API_KEY", prompt_cache: bool = True):
        try:
            import anthropic
        except ImportError as exc:
            raise MissingDependencyError("anthropic", "The Claude backend") from exc
        self._sdk = anthropic
        self.model = model
        self.prompt_cache = prompt_cache
        self.base_url = base_url or DEFAULT_BASE_URL
        self.timeout_s = timeout_s
        self._client = anthropic.Anthropic(api_key=api_key, base_url=self.base_url,
                                           timeout=timeout_s, max_retries=max_retries)
        self.identity = f"anthropic:{model}" + ("" if base_url is None else f"@{base_url}")
        self._info = CallInfo(self.provider, model, self.base_url, key_hint, timeout_s)
        try:
            params = inspect.signature(self._client.messages.create).parameters
            self._sends_temperature = "temperature" in params
        except (TypeError, ValueError):
            self._sends_temperature = False

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 2000,
                 temperature: float = 0.0, stop: Sequence[str] = (),
                 response_spec: ResponseSpec | None = None, purpose: str = "agent") -> Completion:
        system_text, turns = split_messages(messages)
        system, chat = render_request(system_text, turns, self.model, self.prompt_cache)
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "messages": chat}
        if system:
            kwargs["system"] = system
        stops = [s for s in stop if s and s.strip()]  # the API refuses blank stop sequences
        if stops:
            kwargs["stop_sequences"] = stops
        if self._sends_temperature:
            kwargs["temperature"] = temperature
        started = time.monotonic()
        try:
            response = self._client.messages.create(**kwargs)
        except self._sdk.AnthropicError as exc:
            raise (classify_sdk_error(exc, self._sdk, self._info)
                   or LLMError(f"{self.provider} ({self.model}): {exc}")) from exc
        except json.JSONDecodeError as exc:
            raise LLMBadResponseError(
                f"{self.provider} ({self.model} at {self.base_url}) answered with invalid JSON: {exc}") from exc
        latency = time.monotonic() - started
        return self._to_completion(response, stop, latency)

    def _to_completion(self, response: Any, stop: Sequence[str], latency: float) -> Completion:
        content = getattr(response, "content", None)
        if not isinstance(content, list):
            raise LLMBadResponseError(
                f"{self.provider} ({self.model} at {self.base_url}) answered with something that "
                f"is not a message: {str(response)[:200]!r}")
        text = "".join(getattr(b, "text", "") or "" for b in content
                       if getattr(b, "type", None) == "text")
        usage = getattr(response, "usage", None)
        fresh = int(getattr(usage, "input_tokens", 0) or 0)
        read = int(getattr(usage, "cache_read_input_tokens", 0) or 0)
        written = int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
        text, hit = truncate_at_stop(text, stop)
        stop_reason = getattr(response, "stop_reason", None)
        if hit is not None and stop_reason != "stop_sequence":
            stop_reason = "stop_sequence"
        return Completion(
            text=text, model=str(getattr(response, "model", None) or self.model),
            usage=Usage(input_tokens=fresh + read + written,
                        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
                        cached_tokens=read, cache_write_tokens=written),
            latency_s=latency, stop_reason=stop_reason)
