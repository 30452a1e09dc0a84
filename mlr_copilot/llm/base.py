"""The one contract every LLM backend fulfils, and the types it returns.

A backend converts to and from its provider's format and classifies its errors into
``mlr_copilot.errors``; retries, budgets, cost, caching and call logging live in
``llm.client.LLMClient``, which wraps any backend and has the same ``complete``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, asdict
from typing import Mapping, Protocol, Sequence, runtime_checkable

Message = Mapping[str, str]  # {"role": "system"|"user"|"assistant", "content": str}

#: Optional message key: ``True`` marks the message as the end of a stable prefix worth a
#: provider prompt cache (the IdeaAgent's paper prompt). System messages are stable by
#: definition, so they need no mark. Backends without explicit caching ignore the key.
STABLE = "stable"


def stable(message: Mapping[str, str]) -> dict:
    """``message`` marked as the end of a stable, cacheable prefix (see ``STABLE``)."""
    return {**message, STABLE: True}


@dataclass(frozen=True)
class ResponseSpec:
    """The ExperimentAgent's response format, for backends that can constrain decoding.

    ``entries`` are the section names in order (Reflection, ..., Action, Action Input is
    implied last); ``actions`` maps each offered action name to its argument keys
    (required first, then optional). Backends that cannot constrain ignore it.
    """

    entries: tuple[str, ...]
    actions: Mapping[str, tuple[str, ...]]
    required_args: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Optional JSON type per argument: action -> {key: "string"|"integer"|"number"|"boolean"};
    # keys not listed are strings. Lets a grammar emit integers where the action wants one.
    arg_types: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass
class Usage:
    """Tokens of one call. ``input_tokens`` counts every prompt token, including those read
    from (``cached_tokens``) or written to (``cache_write_tokens``) a provider prompt cache."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens,
                     self.cached_tokens + other.cached_tokens,
                     self.cache_write_tokens + other.cache_write_tokens)


STOP_REPEATED = "repetition"
"""The local backend's stop reason for a reply it cut because the reply kept repeating itself."""


@dataclass
class Completion:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cost_usd: float | None = 0.0  # None: the model's price is unknown
    stop_reason: str | None = None
    cached: bool = False  # served from the response cache

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class LLM(Protocol):
    """``complete`` is all an agent or an LLM-backed action needs."""

    model: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 2000,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        response_spec: ResponseSpec | None = None,
        purpose: str = "agent",
    ) -> Completion:
        ...


def continues_answers(llm: object) -> bool:
    """Whether ``llm`` continues a trailing assistant message (a prefill) rather than answering
    it afresh. Backends that can say so with a ``continues_answers`` attribute; chat APIs that
    take a trailing assistant message as a finished turn must not, so the default is False."""
    return bool(getattr(llm, "continues_answers", False))


def as_messages(prompt_or_messages: str | Sequence[Message], system: str | None = None) -> list[dict]:
    """Accept a plain prompt or chat messages; always return a list of message dicts."""
    if isinstance(prompt_or_messages, str):
        messages = [{"role": "user", "content": prompt_or_messages}]
    else:
        messages = [dict(m) for m in prompt_or_messages]
    if system and not (messages and messages[0].get("role") == "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


@dataclass
class Models:
    """The models of one run, by role (as in MLR-Copilot: main, fast, edit)."""

    main: LLM
    fast: LLM
    edit: LLM

    @classmethod
    def single(cls, llm: LLM) -> "Models":
        return cls(main=llm, fast=llm, edit=llm)

    def load_weights(self) -> float:
        """Load the weights of every model that runs on this machine now, before the first step,
        so that the first step's time is the step's own; remote APIs have none. Returns seconds."""
        started = time.monotonic()
        for llm in (self.main, self.fast, self.edit):
            load = getattr(getattr(llm, "backend", llm), "load", None)  # a client's backend, or a bare one
            if callable(load):
                load()  # each backend keeps its loaded model for the process: roles sharing one load it once
        return time.monotonic() - started
