"""Safe reads and writes of workspace files, shared by the file actions and the AI edits.

Opens never block on a FIFO and never read anything but a regular file; reads are bounded;
writes replace a file in one step. Errors are ``ActionError`` observations that name the
file as the agent wrote it, never the host path.
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from ..errors import ActionError
from .context import ActionContext


def os_error(e: OSError, name: str) -> ActionError:
    """An ``OSError`` as an observation naming ``name``: its strerror only, since ``str(e)``
    would show the host's absolute path to the model."""
    why = e.strerror or (errno.errorcode.get(e.errno or 0) or type(e).__name__)
    return ActionError(f"Cannot access {name!r}: {why}.")


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ("a named pipe (FIFO)", ...)."""
    return next((k for test, k in _KINDS if test(mode)), "something that is not a regular file")


def _not_regular(mode: int, name: str) -> ActionError:
    return ActionError(f"{name!r} is {kind_of(mode)}, not a regular file; file actions read and copy "
                       "regular files only.")


def open_regular(path: Path, name: str) -> BinaryIO:
    """Open ``path`` for reading (binary), only if it is a regular file: opened non-blocking
    (a FIFO cannot stall the open), then refused after ``fstat`` unless regular, so a file
    swapped for a FIFO or a device after a check cannot hang or flood the engine. Messages
    name ``name`` (workspace-relative), never the host path."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket, or a FIFO nobody writes to (some systems)
            raise ActionError(f"{name!r} is a socket or a named pipe, not a regular file.") from None
        if e.errno == errno.ENOENT:
            raise ActionError(f"The file {name!r} does not exist.") from None
        raise os_error(e, name) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(mode, name)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes_bounded(path: Path, name: str, max_bytes: int) -> tuple[bytes, int]:
    """At most ``max_bytes`` of a regular file, and the file's size (``open_regular`` rules)."""
    with open_regular(path, name) as f:
        try:
            return f.read(max_bytes), os.fstat(f.fileno()).st_size
        except OSError as e:
            raise os_error(e, name) from None


def existing_file(ctx: ActionContext, name: str) -> Path:
    """``name`` resolved in the workspace, if it is a regular file; else an ActionError that
    says what it is (or where files of that name are, when it does not exist)."""
    if not name.strip():
        raise ActionError("No file name was given.")
    path = ctx.sandbox.resolve(name)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ActionError(f"The file {name!r} does not exist.{_near_names(ctx, path)}") from None
    except OSError as e:
        raise os_error(e, name) from None
    if stat.S_ISREG(mode):
        return path
    raise _not_regular(mode, name)


def _near_names(ctx: ActionContext, path: Path) -> str:
    """A hint listing files of the same name elsewhere in the workspace, if any."""
    try:
        hits = [ctx.sandbox.rel(p) for p, _ in zip(ctx.sandbox.workspace.rglob(path.name), range(3))]
    except OSError:
        hits = []
    return f" Files with that name: {', '.join(hits)}." if hits else ""


def write_text_atomic(path: Path, content: str | bytes) -> None:
    """Replace a file's content in one step (temp file + rename), keeping its mode."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:50]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
