"""Prompt templates are files, rendered with strict variables.

``render("agents.prompts", "experiment_system", tools=...)`` loads
``mlr_copilot/agents/prompts/experiment_system.txt`` and substitutes ``$name``
placeholders; a missing variable is an error, never a silent blank.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from string import Template


@lru_cache(maxsize=None)
def load_template(package: str, name: str) -> Template:
    text = resources.files(f"mlr_copilot.{package}").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return Template(text)


def render(package: str, name: str, **variables: object) -> str:
    try:
        return load_template(package, name).substitute({k: str(v) for k, v in variables.items()})
    except KeyError as exc:
        raise KeyError(f"prompt template {package}/{name}.txt needs variable {exc.args[0]!r}") from None
