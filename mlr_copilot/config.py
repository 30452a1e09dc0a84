"""Configuration: documented defaults, `.env` loading, and which variables are secrets.

Environment variables carry only secrets and a few defaults (ARCHITECTURE.md, rule 9).
``load_env_file`` reads a ``.env`` with python-dotenv without overriding variables the
shell already set; ``secret_names`` / ``secret_values`` tell the call log and the sandbox
what must never be written down or handed to a script.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Mapping

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# LLM layer: .env and secrets
# ---------------------------------------------------------------------------

#: Variables that always hold secrets when set.
KNOWN_SECRET_VARS: tuple[str, ...] = (
    "ANTHROPIC_API_KEY", "CLAUDE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "KAGGLE_KEY", "WANDB_API_KEY",
)
#: Any other variable whose name matches this is treated as a secret too.
SECRET_NAME_PATTERN = re.compile(
    r"(API_?KEY|_TOKEN$|^TOKEN$|SECRET|PASSWORD|PASSWD|CREDENTIALS?$|_KEY$|_KEY_ID$)", re.I)
#: Values shorter than this are not scrubbed from logs (they would match ordinary text).
MIN_SECRET_LENGTH = 8


def is_secret_name(name: str) -> bool:
    return name in KNOWN_SECRET_VARS or bool(SECRET_NAME_PATTERN.search(name))


def find_env_file(start: str | os.PathLike | None = None) -> Path | None:
    """The ``.env`` in ``start`` (default: the current directory) or its nearest parent."""
    here = Path(start) if start is not None else Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def load_env_file(path: str | os.PathLike | None = None, *, override: bool = False,
                  env: dict[str, str] | None = None) -> list[str]:
    """Load a ``.env`` file into ``env`` (default ``os.environ``); return the names it defines.

    ``path`` None searches the current directory and its parents; a missing file is not an
    error (returns ``[]``) unless a path was given explicitly. Variables already set in the
    environment win unless ``override``. Values are never logged, only names.
    """
    from dotenv import dotenv_values  # light, but keeps `import mlr_copilot` minimal

    from .errors import ConfigError

    target = os.environ if env is None else env
    if path is None:
        found = find_env_file()
        if found is None:
            return []
        env_path = found
    else:
        env_path = Path(path)
        if not env_path.is_file():
            raise ConfigError(f"No .env file at {env_path}")
    values = dotenv_values(env_path)
    names = []
    for name, value in values.items():
        if value is None:
            continue
        names.append(name)
        if override or name not in target:
            target[name] = value
    log.debug("loaded %d variables from %s: %s", len(names), env_path, ", ".join(sorted(names)))
    return names


def secret_names(env: Mapping[str, str] | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """Names of the set variables in ``env`` that hold secrets (known names, name pattern, ``extra``)."""
    source = os.environ if env is None else env
    return sorted(n for n, v in source.items() if v and (is_secret_name(n) or n in extra))


def secret_values(env: Mapping[str, str] | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """The values of those secrets long enough to be scrubbed safely, longest first."""
    source = os.environ if env is None else env
    values = {source[n] for n in secret_names(source, extra) if len(source[n]) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)
