"""Byte-level helpers of the snapshots: safe opens, hashing, sparse-aware copies."""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from pathlib import Path

from ..errors import SnapshotError

CHUNK = 1 << 20
_ZEROS = bytes(CHUNK)


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def open_regular(path: Path):
    """Open for reading without blocking on a FIFO a script swapped in; OSError unless regular."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file any more")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def copy_sparse(src, out, h=None, *, limit: int | None = None) -> int:
    """Copy ``src`` to ``out`` (binary files), writing runs of zero bytes as holes; feeds ``h``.

    Reads at most ``limit`` bytes when given (a file growing meanwhile is cut there).
    Returns the bytes copied and, of those, the bytes written (not holes)."""
    n = written = 0
    while limit is None or n < limit:
        chunk = src.read(CHUNK if limit is None else min(CHUNK, limit - n))
        if not chunk:
            break
        if h is not None:
            h.update(chunk)
        if len(chunk) == CHUNK and chunk == _ZEROS:
            out.seek(CHUNK, os.SEEK_CUR)
        else:
            out.write(chunk)
            written += len(chunk)
        n += len(chunk)
    out.truncate(n)
    return n, written


def write_from_blob(blob: Path, dest: Path, info: dict) -> None:
    """Write one file from its blob (``EnvLog.blob``), checking the hash on the way, with its mode and mtime."""
    if not blob.is_file():
        raise SnapshotError(f"The snapshot content of {dest.name} is missing ({blob})")
    if dest.is_symlink() or dest.exists():
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        else:
            dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(blob, "rb") as src, open(dest, "wb") as out:
        copy_sparse(src, out, h)
    if h.hexdigest() != info["sha256"]:
        raise SnapshotError(f"The snapshot content of {dest.name} is damaged (hash mismatch)")
    os.chmod(dest, info["mode"])
    if "mtime_ns" in info:
        os.utime(dest, ns=(info["mtime_ns"], info["mtime_ns"]))
