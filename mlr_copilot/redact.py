"""Scrubbing secret values from everything a run writes or sends.

Which values are secret is decided by the secret rule in ``config`` (names, ``.env`` files,
connection strings). This module applies it: ``scrub`` for strings and nested records (every
JSONL line and JSON file of a run, every LLM request), ``StreamScrubber`` for a script's
output streamed to a file, ``ScrubFilter`` for log messages.

``active_secrets()`` is the set in force for this process: the secret variables of
``os.environ`` and every value of ``config.env_files()`` (the ``.env`` files found from the
current folder, from ``~`` and from the folders given to ``watch_folder``).
It is recomputed cheaply on each call (``.env`` files are parsed again only when they change),
so a key exported or a ``.env`` loaded after start-up is scrubbed as well.
"""
from __future__ import annotations

import logging
import os
import re
from typing import Any, Sequence

from .config import URL_PASSWORD, env_files, secret_values

REDACTED = "[REDACTED]"

#: Strings shaped like provider keys, scrubbed even when their value is not configured here
#: (OpenAI echoes a masked key in its 401 message, for instance).
KEY_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-*]{8,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),
)
#: Bytes held back by ``StreamScrubber`` beyond the longest secret, so that a pattern match
#: (a key shape, a URL password) split between two chunks is still seen whole.
PATTERN_MARGIN = 512
_REDACTED_B = REDACTED.encode()
_KEY_PATTERNS_B = tuple(re.compile(p.pattern.encode()) for p in KEY_PATTERNS)
_URL_PASSWORD_B = re.compile(URL_PASSWORD.pattern.encode())

def active_secrets() -> list[str]:
    """The values to scrub now, longest first (see the module docstring)."""
    return secret_values(os.environ, env_files=env_files())


def scrub_text(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value, key-shaped string and URL password replaced."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in KEY_PATTERNS:
        text = pattern.sub(REDACTED, text)
    if "://" in text:
        text = URL_PASSWORD.sub(lambda m: m.group(0).replace(m.group(1), REDACTED), text)
    return text


def scrub(value: Any, secrets: Sequence[str] | None = None) -> Any:
    """``value`` with ``scrub_text`` applied to every nested string (and dictionary key).

    ``secrets`` None: the ``active_secrets()``."""
    if secrets is None:
        secrets = active_secrets()
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, dict):
        return {(scrub_text(k, secrets) if isinstance(k, str) else k): scrub(v, secrets)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    return value


class StreamScrubber:
    """Scrubs a byte stream chunk by chunk; a secret split between two chunks is still caught.

    ``feed`` returns the bytes that are safe to write now; ``flush`` the rest at the end.
    The last ``hold`` bytes stay buffered until more output (or the end) shows how they go on.
    """

    def __init__(self, secrets: Sequence[str]):
        self.secrets = [s.encode("utf-8") for s in secrets if s]
        self.hold = max((len(s) for s in self.secrets), default=0) + PATTERN_MARGIN
        self._buf = bytearray()

    def _literals(self) -> None:
        for s in self.secrets:
            if s in self._buf:
                self._buf = bytearray(bytes(self._buf).replace(s, _REDACTED_B))

    @staticmethod
    def _patterns(data: bytes) -> bytes:
        for pattern in _KEY_PATTERNS_B:
            data = pattern.sub(_REDACTED_B, data)
        return _URL_PASSWORD_B.sub(lambda m: m.group(0).replace(m.group(1), _REDACTED_B), data)

    def feed(self, chunk: bytes) -> bytes:
        self._buf += chunk
        self._literals()
        if len(self._buf) <= self.hold:
            return b""
        cut = len(self._buf) - self.hold
        nl = self._buf.rfind(b"\n", 0, cut)
        if nl >= 0:
            cut = nl + 1
        for pattern in (*_KEY_PATTERNS_B, _URL_PASSWORD_B):  # never cut through a match
            for m in pattern.finditer(self._buf):
                if m.start() < cut < m.end():
                    cut = m.start()
        out = self._patterns(bytes(self._buf[:cut]))
        del self._buf[:cut]
        return out

    def flush(self) -> bytes:
        self._literals()
        out = self._patterns(bytes(self._buf))
        self._buf.clear()
        return out


class ScrubFilter(logging.Filter):
    """Replaces secret values in log messages before any handler writes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: let logging report it as usual
            return True
        clean = scrub_text(message, active_secrets())
        if clean != message:
            record.msg, record.args = clean, None
        return True
