"""Configuration: documented defaults, `.env` loading, and THE secret rule.

Environment variables carry only secrets and a few defaults (``.env.example`` lists them).
``load_env_file`` reads a ``.env`` with python-dotenv without overriding variables the
shell already set.

The secret rule lives here and only here; the sandbox (which names ``--pass-env`` may not
pass), the scrubber of logs, outputs and LLM requests (``redact``), ``doctor`` and task
baselines all use it:

* a variable is secret when its name is a known key name or matches ``SECRET_NAME_PATTERN``,
  or when its value is a connection string with an embedded password
  (``postgresql://user:password@host/db``);
* the ``.env`` files that count are ``env_files()``: every ``.env`` in the current folder,
  in the folders given to ``watch_folder`` (a run's project root) and in their parents, and
  ``~/.env``; every value they define is secret, whatever its name. The scrubber, the
  sandbox (which masks them) and ``doctor`` all take this one list, and the ``.env`` that
  is loaded at start-up is the nearest of the same search (``load_env_file``);
* the values to scrub are those of the secret variables and of the ``.env`` files, at least
  ``MIN_SECRET_LENGTH`` characters long (shorter ones would match ordinary text), plus the
  password part of any URL that carries one.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Iterable, Mapping

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
    r"(API_?KEY|_TOKEN$|^TOKEN$|SECRET|PASSWORD|PASSWD|_PASS$|CREDENTIAL|_KEY$|^KEY$|_KEY_ID$"
    r"|_PAT$|^PAT$|WEBHOOK|_DSN$|PRIVATE_KEY|COOKIE|_AUTH$|^AUTH)", re.I)
#: ``scheme://user:password@host``: group 1 is the password.
URL_PASSWORD = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*:([^\s/@]+)@")
#: Values shorter than this are not scrubbed from logs (they would match ordinary text).
MIN_SECRET_LENGTH = 8


def is_secret_name(name: str) -> bool:
    return name in KNOWN_SECRET_VARS or bool(SECRET_NAME_PATTERN.search(name))


def has_url_password(value: str) -> bool:
    """Whether ``value`` holds a connection string or URL with an embedded password."""
    return bool(value) and URL_PASSWORD.search(value) is not None


def is_secret(name: str, value: str | None = None) -> bool:
    """THE rule for one variable: its name says so, or its value embeds a password."""
    return is_secret_name(name) or (value is not None and has_url_password(value))


def find_env_files(*starts: str | os.PathLike, home: bool = True) -> list[Path]:
    """Every ``.env`` in each of ``starts`` (default: the current folder) and their parents,
    then (``home``) ``~/.env``. Nearest first, without repeats: the one search for ``.env``."""
    folders = [Path(s) for s in starts] or [Path.cwd()]
    found: list[Path] = []
    candidates = [f / ".env" for start in folders for f in (start, *start.parents)]
    for candidate in [*candidates, *([Path.home() / ".env"] if home else [])]:
        try:
            if candidate.is_file() and candidate not in found:
                found.append(candidate)
        except OSError:
            continue
    return found


_watched: list[Path] = []
_watched_lock = threading.Lock()


def watch_folder(folder: str | os.PathLike) -> None:
    """Count the ``.env`` files in ``folder`` and its parents from now on (a run's project root)."""
    p = Path(folder).resolve()
    with _watched_lock:
        if p not in _watched:
            _watched.append(p)


def env_files() -> list[Path]:
    """The ``.env`` files whose values are secret now: from the current folder, the watched
    folders and ``~`` (see the module docstring)."""
    with _watched_lock:
        starts = [Path.cwd(), *_watched]
    return find_env_files(*starts)


_dotenv_cache: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}


def env_file_values(path: Path) -> dict[str, str]:
    """The variables one ``.env`` defines (cached while the file is unchanged; {} if unreadable)."""
    try:
        st = path.stat()
    except OSError:
        return {}
    key = (st.st_mtime_ns, st.st_size)
    hit = _dotenv_cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    from dotenv import dotenv_values  # light, but keeps `import mlr_copilot` minimal

    try:
        values = {k: v for k, v in dotenv_values(path).items() if k and v is not None}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("Could not read %s: %s", path, exc)
        values = {}
    _dotenv_cache[path] = (key, values)
    return values


def load_env_file(path: str | os.PathLike | None = None, *, override: bool = False,
                  env: dict[str, str] | None = None) -> list[str]:
    """Load a ``.env`` file into ``env`` (default ``os.environ``); return the names it defines.

    ``path`` None: the nearest ``.env`` of the current directory and its parents (the first
    that ``find_env_files`` finds there); a missing file is not an error (returns ``[]``)
    unless a path was given explicitly. Variables already set in the
    environment win unless ``override``. Values are never logged, only names.
    """
    from .errors import ConfigError

    target = os.environ if env is None else env
    if path is None:
        found = find_env_files(home=False)
        if not found:
            return []
        env_path = found[0]
    else:
        env_path = Path(path)
        if not env_path.is_file():
            raise ConfigError(f"No .env file at {env_path}")
    values = env_file_values(env_path)
    names = []
    for name, value in values.items():
        names.append(name)
        if override or name not in target:
            target[name] = value
    log.debug("loaded %d variables from %s: %s", len(names), env_path, ", ".join(sorted(names)))
    return names


def secret_names(env: Mapping[str, str] | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """Names of the set variables in ``env`` that hold secrets (the rule above, or in ``extra``)."""
    source = os.environ if env is None else env
    return sorted(n for n, v in source.items() if v and (is_secret(n, v) or n in extra))


def secret_values(env: Mapping[str, str] | None = None, extra: tuple[str, ...] = (),
                  env_files: Iterable[Path] = ()) -> list[str]:
    """The values to scrub: those of the secret variables of ``env`` and every value of
    ``env_files``, when long enough to be scrubbed safely; longest first."""
    source = os.environ if env is None else env
    values = {source[n] for n in secret_names(source, extra)}
    for f in env_files:
        values |= set(env_file_values(Path(f)).values())
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


# ---------------------------------------------------------------------------
# Run defaults: written here once; run_config.RunConfig, the agent and the engine import them
# ---------------------------------------------------------------------------

DEFAULT_MAX_STEPS = 50  # agent actions a run may take (the tree strategy: nodes); --max-steps
DEFAULT_SCRIPT_TIMEOUT_S = 3600.0  # seconds before Execute Script kills a script; --script-timeout
DEFAULT_HISTORY_STEPS = 3  # recent steps shown in full in the agent's prompt; --history-steps
DEFAULT_PARSE_ATTEMPTS = 5  # responses one agent step may ask for until one parses (corrective retries)
DEFAULT_DRAFTS = 3  # tree strategy: drafts before debugging and improving; --tree-drafts
DEFAULT_DEBUG_PROB = 0.25  # tree strategy: chance of debugging a buggy leaf; --tree-debug-prob
# (AIDE's is 0.5; with the embedded model 7 of 34 debug nodes worked, against 29 of 46 improvements)
DEFAULT_MAX_DEBUG_DEPTH = 3  # tree strategy: debug attempts in a row on one branch; --tree-max-debug-depth
# tree strategy, --tree-node-timeout: by default a node's script may run this many times as long
# as the starter did when its baseline was measured, and never less than the minimum (the best
# nodes of the 2026-12-02 suite ran 2-35 s; two improvements of a digits run fitted 2000-tree
# gradient boosting for 290 s each and took the run past 8 minutes)
NODE_TIMEOUT_STARTER_FACTOR = 10
# tree strategy, --tree-revalidate-splits: the best nodes run again on this many other validation
# splits at the end, and the best mean wins (agents/tree_revalidation.py; 0 turns it off)
DEFAULT_REVALIDATION_SPLITS = 3
MIN_NODE_TIMEOUT_S = 60.0
DEFAULT_HF_ENDPOINT = "https://huggingface.co"


def hub_endpoint(configured: str | None = None) -> str:
    """The Hugging Face Hub endpoint: the run's setting, else ``HF_ENDPOINT``, else huggingface.co."""
    endpoint = configured or os.environ.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT
    return endpoint.rstrip("/")
