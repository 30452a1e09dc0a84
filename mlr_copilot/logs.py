"""JSON Lines records: one writer, one reader, used by every part that reads a run.

Each record is one line, flushed (and fsynced) as soon as it is written, so a run killed
at any point leaves every finished record readable. ``read_jsonl`` tolerates a truncated
last line (a write cut short by a kill). Every string written goes through the secret
scrubber (``redact.scrub``): no secret value reaches a record or a JSON file of a run.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) 


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return repr(obj)


def scrubbed_json(data: Any, indent: int | None = None, separators: tuple[str, str] | None = None) -> str:
    """``data`` as JSON with every secret value replaced (scrubbed after conversion, so values
    reached through ``to_dict`` or ``repr`` are covered too). For every JSON file of a run."""
    from .redact import scrub

    plain = json.loads(json.dumps(data, ensure_ascii=False, default=_default))
    return json.dumps(scrub(plain), ensure_ascii=False, indent=indent, separators=separators)


class JsonlWriter:
    """Appends one JSON object per line; thread-safe; every line flushed and fsynced.

    A write that fails part-way (disk full, file-size limit) is taken back, so the file
    holds only whole lines; the error is raised for the caller to report.
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._repair_tail()

    def _repair_tail(self) -> None:
        """A previous process killed mid-write may have left a partial line: end it."""
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def write(self, record: dict[str, Any]) -> None:
        line = scrubbed_json(record) + "\n"
        data = line.encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                start = os.fstat(fd).st_size
                written = 0
                try:
                    while written < len(data):
                        written += os.write(fd, data[written:])
                except OSError:  # disk full, file-size limit: take back the partial line
                    if written:
                        try:
                            os.ftruncate(fd, start)
                        except OSError:
                            pass
                    raise
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete records of a JSONL file; a truncated or garbled line is skipped."""
    return list(iter_jsonl(path))


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        return
    with open(p, "rb") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = json.loads(raw.decode("utf-8", errors="replace"))
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                yield obj


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write a whole JSON file via a temporary name and rename, so readers never see half."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(scrubbed_json(data, indent=2))
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)
