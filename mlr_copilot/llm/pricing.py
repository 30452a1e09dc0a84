"""Prices of the hosted models, so every call's cost matches the provider's bill.

Prices are USD per million tokens, list prices of the providers' standard (non-batch)
APIs as of ``PRICES_AS_OF``, with four rates per model: input, output, cache read (prompt
tokens served from the provider's prompt cache) and cache write (prompt tokens written to
it). Sources, read on the date in ``PRICES_AS_OF``:

- Anthropic, "Pricing" page of the Claude API docs (docs.claude.com/en/docs/about-claude/pricing)
  and "Prompt caching" (…/build-with-claude/prompt-caching): a 5-minute cache write costs
  1.25 x the input price, a cache read 0.1 x. This package only requests 5-minute writes.
- OpenAI, "Pricing" page of the API platform (platform.openai.com/docs/pricing) and the
  "Prompt caching" guide: caching is automatic, writes cost the plain input price, cached
  input is 0.5 x (GPT-4o, o1, o3-mini), 0.25 x (GPT-4.1, o3, o4-mini) or 0.1 x (GPT-5).
Not modelled: Anthropic's long-context (>200k) surcharge, 1-hour cache writes (2 x),
batch and priority tiers. Local models cost 0.

A model id is matched to the longest table entry it starts with, followed by the end or
``-`` (so ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini`` and
``claude-haiku-4-5-20251001`` as ``claude-haiku-4-5``). An unknown model's cost is
``None`` (unknown), never 0. Add or correct prices without touching code with
``MLR_LLM_PRICES``: the path of a JSON file (or the JSON itself) mapping a model id to
``{"input": .., "output": .., "cache_read": .., "cache_write": ..}`` (USD per million
tokens; the two cache rates are optional and default to the input price).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import ConfigError
from .base import Usage

log = logging.getLogger(__name__)

PRICES_AS_OF = "2026-05"
PRICES_ENV_VAR = "MLR_LLM_PRICES"
ANTHROPIC_CACHE_WRITE_FACTOR = 1.25  # 5-minute TTL (Anthropic "Prompt caching", 2026-05)
ANTHROPIC_CACHE_READ_FACTOR = 0.10


@dataclass(frozen=True)
class Price:
    """USD per million tokens. A cache rate of None means the plain input price."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def cost(self, usage: Usage) -> float:
        return self.input_cost(usage) + usage.output_tokens * self.output / 1_000_000

    def input_cost(self, usage: Usage) -> float:
        """The prompt's part of the cost: fresh, cache-read and cache-written tokens."""
        read = max(0, min(usage.cached_tokens, usage.input_tokens))
        written = max(0, min(usage.cache_write_tokens, usage.input_tokens - read))
        fresh = usage.input_tokens - read - written
        read_rate = self.input if self.cache_read is None else self.cache_read
        write_rate = self.input if self.cache_write is None else self.cache_write
        return (fresh * self.input + read * read_rate + written * write_rate) / 1_000_000


def _anthropic(input_: float, output: float) -> Price:
    return Price(input_, output, round(input_ * ANTHROPIC_CACHE_READ_FACTOR, 4),
                 round(input_ * ANTHROPIC_CACHE_WRITE_FACTOR, 4))


def _openai(input_: float, output: float, cached: float | None) -> Price:
    return Price(input_, output, cached, None)  # no premium for writing the cache


FREE = Price(0.0, 0.0, 0.0, 0.0)

PRICES: dict[str, Price] = {
    # Anthropic "Pricing" page, 2026-05: input, output (cache read 0.1 x, 5-min write 1.25 x input)
    "claude-opus-4-7": _anthropic(5.0, 25.0),
    "claude-opus-4-6": _anthropic(5.0, 25.0),
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-opus-4": _anthropic(15.0, 75.0),
    "claude-sonnet-4-6": _anthropic(3.0, 15.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-3-5-sonnet": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-5-haiku": _anthropic(0.80, 4.0),
    "claude-3-haiku": Price(0.25, 1.25, 0.03, 0.30),  # listed rounded on the page
    "claude-3-opus": _anthropic(15.0, 75.0),
    # OpenAI "Pricing" page, 2026-05: input, output, cached input (None: no caching discount)
    "gpt-4o": _openai(2.50, 10.0, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "gpt-4.1": _openai(2.0, 8.0, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4-turbo": _openai(10.0, 30.0, None),
    "gpt-4": _openai(30.0, 60.0, None),
    "gpt-3.5-turbo": _openai(0.50, 1.50, None),
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "o1": _openai(15.0, 60.0, 7.50),
    "o3": _openai(2.0, 8.0, 0.50),
    "o3-mini": _openai(1.10, 4.40, 0.55),
    "o4-mini": _openai(1.10, 4.40, 0.275),
}


def find_price(model: str, extra: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model`` (longest matching table entry), or None when unknown."""
    table = dict(PRICES)
    if extra:
        table.update(extra)
    best: str | None = None
    for key in table:
        if model == key or (model.startswith(key) and model[len(key)] == "-"):
            if best is None or len(key) > len(best):
                best = key
    return table[best] if best is not None else None


def _rate(entry: Mapping, *names: str) -> float | None:
    for name in names:
        if entry.get(name) is not None:
            value = float(entry[name])
            if value < 0:
                raise ValueError(f"{name} is negative")
            return value
    return None


def load_price_overrides(env: Mapping[str, str]) -> dict[str, Price]:
    """Prices from ``MLR_LLM_PRICES`` (a JSON file's path, or JSON text); empty when unset."""
    raw = (env.get(PRICES_ENV_VAR) or "").strip()
    if not raw:
        return {}
    where = f"{PRICES_ENV_VAR}={raw if not raw.startswith('{') else '<JSON>'}"
    try:
        text = raw if raw.startswith("{") else Path(raw).expanduser().read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read the prices ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object mapping model ids to prices")
    prices: dict[str, Price] = {}
    for model, entry in data.items():
        try:
            input_, output = _rate(entry, "input"), _rate(entry, "output")
            if input_ is None or output is None:
                raise KeyError("input/output")
            prices[str(model)] = Price(input_, output, _rate(entry, "cache_read", "cached_input"),
                                       _rate(entry, "cache_write"))
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"{where}: entry {model!r} needs non-negative numeric 'input' and 'output' (USD per "
                f"million tokens) and optionally 'cache_read' and 'cache_write'") from exc
    return prices
