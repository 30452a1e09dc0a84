"""Provider prompt caching: where Claude requests get their cache breakpoints.

Every agent step re-sends the same rules, tools and research problem before the part that
changes. The stable part of a prompt is, by the message structure alone (no template is
parsed): every system message, and any message marked ``llm.base.STABLE`` (the IdeaAgent's
paper prompt). The Anthropic backend sends a ``cache_control`` breakpoint at the end of the
system prompt and at the end of each marked message, so the first request writes the
prefix to the cache (1.25 x the input price) and the next ones read it (0.1 x).

Limits of the Messages API ("Prompt caching" page of the Claude docs, 2026-05): at most
``MAX_BREAKPOINTS`` per request, and a prefix shorter than the model's minimum is silently
not cached. A breakpoint is only placed where the estimated prefix reaches that minimum;
the estimate errs high, since a useless breakpoint costs nothing and a missing one costs
the discount. OpenAI and compatible servers cache byte-identical prefixes on their own;
they need no marks (``openai.py`` drops them) and report ``cached_tokens``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

log = logging.getLogger(__name__)

MAX_BREAKPOINTS = 4
EPHEMERAL = {"type": "ephemeral"}  # the default 5-minute time to live
CHARS_PER_TOKEN_LOW = 3.0  # fewer characters per token than usual English: over-estimates tokens
DEFAULT_MIN_CACHEABLE_TOKENS = 1024
#: Minimum cacheable prefix per model family (Claude "Prompt caching" page, 2026-05; sources
#: differ on Sonnet 4.6 (1,024 or 2,048): the lower figure is used, as a spare mark is free).
MIN_CACHEABLE_TOKENS = {
    "claude-opus-4-7": 2048, "claude-opus-4-6": 4096, "claude-opus-4-5": 4096,
    "claude-haiku-4-5": 4096, "claude-3-5-haiku": 2048, "claude-3-haiku": 2048,
}
SEPARATOR = "\n\n"  # between merged messages of one role, as in the plain conversion


def min_cacheable_tokens(model: str) -> int:
    best = max((k for k in MIN_CACHEABLE_TOKENS if model == k or model.startswith(k + "-")),
               key=len, default=None)
    return MIN_CACHEABLE_TOKENS[best] if best else DEFAULT_MIN_CACHEABLE_TOKENS


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN_LOW)


@dataclass
class Turn:
    """One Messages API turn, built from consecutive messages of one role."""

    role: str
    parts: list[tuple[str, bool]] = field(default_factory=list)  # (text, stable)

    def text(self) -> str:
        return SEPARATOR.join(t for t, _ in self.parts)


def place_breakpoints(system: str, turns: Sequence[Turn], model: str) -> tuple[bool, set[tuple[int, int]]]:
    """(breakpoint after the system prompt?, {(turn, part)} breakpoints), within the limits."""
    minimum = min_cacheable_tokens(model)
    candidates: list[tuple[int, int] | None] = []
    tokens = estimate_tokens(system)
    if system and tokens >= minimum:
        candidates.append(None)
    for i, turn in enumerate(turns):
        for j, (text, is_stable) in enumerate(turn.parts):
            tokens += estimate_tokens(text)
            if is_stable and tokens >= minimum:
                candidates.append((i, j))
    if len(candidates) > MAX_BREAKPOINTS:
        log.debug("%d cacheable prefixes; marking the first %d", len(candidates), MAX_BREAKPOINTS)
        candidates = candidates[:MAX_BREAKPOINTS]
    return (None in candidates), {c for c in candidates if c is not None}


def render_request(system: str, turns: Sequence[Turn], model: str, cache: bool
                   ) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``system`` and ``messages`` parameters, with breakpoints when ``cache``.

    Without a breakpoint the plain form is sent (strings), exactly as before caching existed.
    """
    at_system, marks = place_breakpoints(system, turns, model) if cache else (False, set())
    system_param: str | list[dict[str, Any]] = system
    if at_system:
        system_param = [{"type": "text", "text": system, "cache_control": dict(EPHEMERAL)}]
    messages: list[dict[str, Any]] = []
    for i, turn in enumerate(turns):
        ends = [j for j in range(len(turn.parts)) if (i, j) in marks]
        if not ends:
            messages.append({"role": turn.role, "content": turn.text()})
            continue
        blocks, start = [], 0
        for j in ends:
            blocks.append({"type": "text", "text": SEPARATOR.join(t for t, _ in turn.parts[start:j + 1]),
                           "cache_control": dict(EPHEMERAL)})
            start = j + 1
        if start < len(turn.parts):
            blocks.append({"type": "text", "text": SEPARATOR.join(t for t, _ in turn.parts[start:])})
        messages.append({"role": turn.role, "content": blocks})
    return system_param, messages
