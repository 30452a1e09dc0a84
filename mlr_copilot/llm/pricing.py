"""Prices of the hosted models, so every call's cost can be logged and budgeted.

Prices are USD per million tokens, list prices of the providers' standard (non-batch)
APIs as of ``PRICES_AS_OF``. Anthropic's long-context surcharges and prompt-cache
*write* premiums are not modelled (this package does not request cache writes), so a
cost is a close lower bound, never an over-estimate. Local models cost 0.

A model id is matched to the longest table entry it starts with, followed by the end or
``-`` (so ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini`` and
``claude-haiku-4-5-20251001`` as ``claude-haiku-4-5``). Add or correct prices without
touching code with ``MLR_LLM_PRICES``: the path of a JSON file mapping a model id to
``{"input": .., "output": .., "cached_input": ..}`` (USD per million tokens).
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


@dataclass(frozen=True)
class Price:
    """USD per million tokens. ``cached_input`` applies to prompt tokens read from a provider cache."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, usage: Usage) -> float:
        cached = max(0, min(usage.cached_tokens, usage.input_tokens))
        cached_rate = self.input if self.cached_input is None else self.cached_input
        total = ((usage.input_tokens - cached) * self.input + cached * cached_rate
                 + usage.output_tokens * self.output)
        return total / 1_000_000


FREE = Price(0.0, 0.0, 0.0)

PRICES: dict[str, Price] = {
    # Anthropic (input, output, cache read)
    "claude-opus-4-7": Price(5.0, 25.0, 0.50),
    "claude-opus-4-6": Price(5.0, 25.0, 0.50),
    "claude-opus-4-5": Price(5.0, 25.0, 0.50),
    "claude-opus-4-1": Price(15.0, 75.0, 1.50),
    "claude-opus-4": Price(15.0, 75.0, 1.50),
    "claude-sonnet-4-6": Price(3.0, 15.0, 0.30),
    "claude-sonnet-4-5": Price(3.0, 15.0, 0.30),
    "claude-sonnet-4": Price(3.0, 15.0, 0.30),
    "claude-3-7-sonnet": Price(3.0, 15.0, 0.30),
    "claude-3-5-sonnet": Price(3.0, 15.0, 0.30),
    "claude-haiku-4-5": Price(1.0, 5.0, 0.10),
    "claude-3-5-haiku": Price(0.80, 4.0, 0.08),
    "claude-3-haiku": Price(0.25, 1.25, 0.03),
    "claude-3-opus": Price(15.0, 75.0, 1.50),
    # OpenAI (input, output, cached input)
    "gpt-4o": Price(2.50, 10.0, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.0, 8.0, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4-turbo": Price(10.0, 30.0, None),
    "gpt-4": Price(30.0, 60.0, None),
    "gpt-3.5-turbo": Price(0.50, 1.50, None),
    "gpt-5": Price(1.25, 10.0, 0.125),
    "gpt-5-mini": Price(0.25, 2.0, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "o1": Price(15.0, 60.0, 7.50),
    "o3": Price(2.0, 8.0, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
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


def load_price_overrides(env: Mapping[str, str]) -> dict[str, Price]:
    """Prices from the JSON file named by ``MLR_LLM_PRICES`` (empty when unset)."""
    path = env.get(PRICES_ENV_VAR)
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{PRICES_ENV_VAR}={path}: cannot read the price file ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{PRICES_ENV_VAR}={path}: expected a JSON object mapping model ids to prices")
    prices: dict[str, Price] = {}
    for model, entry in data.items():
        try:
            prices[str(model)] = Price(float(entry["input"]), float(entry["output"]),
                                       None if entry.get("cached_input") is None
                                       else float(entry["cached_input"]))
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"{PRICES_ENV_VAR}={path}: entry {model!r} needs numeric 'input' and 'output' "
                f"(USD per million tokens) and optionally 'cached_input'") from exc
    return prices
