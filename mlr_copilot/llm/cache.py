"""An optional on-disk response cache, so an identical rerun costs nothing.

Entries live in one SQLite file in the user cache
(``$XDG_CACHE_HOME/mlr_copilot/llm_cache.sqlite``, default ``~/.cache/...``), keyed by the
sha256 of a canonical JSON of (backend identity, model, messages, max_tokens,
temperature, stop, response spec) plus an occurrence number: the n-th identical request
made through one ``ResponseCache`` object (one per run) gets the n-th stored answer. A rerun therefore sees exactly the answers of
the first run, while a run that asks the same thing twice (say, at temperature 0.7)
is not stuck with one answer. Only successful completions are stored.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..errors import ConfigError
from .base import Completion, Message, ResponseSpec, Usage

log = logging.getLogger(__name__)

CACHE_FILE_NAME = "llm_cache.sqlite"
SQLITE_TIMEOUT_S = 30.0


def user_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/mlr_copilot`` or ``~/.cache/mlr_copilot``."""
    source = os.environ if env is None else env
    base = source.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlr_copilot"


def default_cache_path(env: Mapping[str, str] | None = None) -> Path:
    return user_cache_dir(env) / CACHE_FILE_NAME


def _plain(obj: Any) -> Any:
    """Mappings, dataclasses and tuples as plain JSON values, for a canonical dump."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return _plain(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def canonical_json(obj: Any) -> str:
    return json.dumps(_plain(obj), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def messages_sha256(messages: Sequence[Message]) -> str:
    """The hash of a request's messages; the call log records it and replay compares it."""
    plain = [{"role": m.get("role", ""), "content": m.get("content", "")} for m in messages]
    return hashlib.sha256(canonical_json(plain).encode("utf-8")).hexdigest()


# How long a script ran ("Exit code: 0, after 1.8 s.", "stopped after 30 s") differs on every
# rerun: the model still reads it, but the cache key leaves it out, so a rerun hits the cache.
_TIMING = re.compile(r"\bafter \d+(?:\.\d+)? s\b")


def _without_timings(content: Any) -> Any:
    return _TIMING.sub("after <time> s", content) if isinstance(content, str) else content


def request_key(identity: str, model: str, messages: Sequence[Message], *, max_tokens: int,
                temperature: float, stop: Sequence[str],
                response_spec: ResponseSpec | None) -> str:
    """The sha256 that identifies one request (without the occurrence number); script timings
    in the messages are left out (``_TIMING``)."""
    payload = {
        "identity": identity, "model": model,
        "messages": [{"role": m.get("role", ""), "content": _without_timings(m.get("content", ""))}
                     for m in messages],
        "max_tokens": max_tokens, "temperature": temperature, "stop": list(stop),
        "response_spec": response_spec,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


class ResponseCache:
    """SQLite-backed store of completions by request key.

    One connection per operation keeps it safe across threads and processes (SQLite
    locks the file); a corrupt or unwritable cache is reported as a ``ConfigError``.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS responses ("
                    " key TEXT PRIMARY KEY, model TEXT NOT NULL, created REAL NOT NULL,"
                    " completion TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"Cannot open the LLM response cache at {self.path}: {exc}") from exc

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        db = sqlite3.connect(self.path, timeout=SQLITE_TIMEOUT_S)
        try:
            with db:
                yield db
        finally:
            db.close()

    def occurrence_key(self, request_key: str) -> str:
        """``request_key`` numbered by how often this cache object has seen it (1, 2, ...).

        Shared by every client using this cache, so two roles asking the same thing get
        distinct entries, in the same order on a rerun.
        """
        with self._lock:
            self._seen[request_key] += 1
            return f"{request_key}#{self._seen[request_key]}"

    def get(self, key: str) -> Completion | None:
        try:
            with self._lock, self._connect() as db:
                row = db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("LLM cache read failed (%s); calling the model instead", exc)
            return None
        if row is None:
            return None
        try:
            data = json.loads(row[0])
            usage = Usage(**data.pop("usage", {}))
            return Completion(usage=usage, **data)
        except (TypeError, ValueError) as exc:
            log.warning("LLM cache entry %s is unreadable (%s); ignoring it", key[:12], exc)
            return None

    def put(self, key: str, completion: Completion) -> None:
        data = completion.to_dict()
        data["cached"] = False
        try:
            with self._lock, self._connect() as db:
                db.execute("INSERT OR REPLACE INTO responses (key, model, created, completion) "
                           "VALUES (?, ?, ?, ?)", (key, completion.model, time.time(), json.dumps(data)))
        except sqlite3.Error as exc:
            log.warning("LLM cache write failed (%s); the answer is not cached", exc)

    def __len__(self) -> int:
        with self._lock, self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        with self._lock, self._connect() as db:
            db.execute("DELETE FROM responses")
