"""The research log file in the workspace (``research_log.log``), kept safe from scripts.

The agent owns its research log (``agents.research_log``); the Environment hands it this
file as :class:`ResearchLogFile`, and the Reflection and Retrieval actions read it.

Scripts run in the workspace and may replace the log with anything: a directory, a FIFO
(an open for append would block forever), a device, or a symbolic link leading outside
the workspace (path confinement would refuse it on every later step, resume included).
Every access here opens the log without following links and without blocking, and
checks it is a regular file; when it is not, :func:`repair` moves a directory aside,
removes anything else (a link's target is never touched), recreates the log from the
last snapshot that held it, and returns a note the step's observation carries.
"""
from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from ..errors import ActionError
from ..records import EnvLog
from .actions import Arg, action
from .context import ActionContext
from .file_io import kind_of

logger = logging.getLogger(__name__)

RESEARCH_LOG_NAME = "research_log.log"
READ_MAX_BYTES = 1 << 20  # the newest part of a longer log is read (prompts use far less)
_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def _path(ctx: ActionContext) -> Path:
    return Path(ctx.workspace) / RESEARCH_LOG_NAME


def repair(ctx: ActionContext) -> str | None:
    """Put back a research log that is no longer a regular file; a note saying so, else None."""
    path = _path(ctx)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        logger.warning("Cannot inspect %s: %s", RESEARCH_LOG_NAME, e.strerror)
        return None
    if stat.S_ISREG(st.st_mode):
        return None
    kind, moved = kind_of(st.st_mode), ""
    try:
        if stat.S_ISDIR(st.st_mode):
            aside = _free_name(path)
            os.rename(path, aside)
            moved = f" (the directory was moved to {aside.name})"
        else:
            os.unlink(path)
        restored = _restore_from_snapshot(ctx, path)
    except OSError as e:
        logger.warning("Could not recreate %s: %s", RESEARCH_LOG_NAME, e.strerror)
        return (f"Note: {RESEARCH_LOG_NAME} had been replaced by {kind} and could not be recreated "
                f"({e.strerror}); research-log entries are skipped until it is a regular file again.")
    how = "from the last snapshot" if restored else "empty"
    logger.warning("%s had been replaced by %s; recreated %s", RESEARCH_LOG_NAME, kind, how)
    return (f"Note: {RESEARCH_LOG_NAME} had been replaced by {kind}{moved}; it was recreated {how}. "
            f"The agent keeps its research log in that file: scripts must not write it.")


def _free_name(path: Path) -> Path:
    for i in range(1, 1000):
        cand = path.with_name(f"{path.name}.moved-{i}")
        if not os.path.lexists(cand):
            return cand
    raise OSError(errno.EEXIST, "no free name to move it to")


def _restore_from_snapshot(ctx: ActionContext, path: Path) -> bool:
    """Write the log as the newest snapshot holds it; an empty log when none does."""
    from .snapshots import SnapshotError, list_steps, load_manifest

    info = None
    steps = list_steps(ctx.env_log_dir)
    if steps:
        try:
            info = load_manifest(ctx.env_log_dir, steps[-1])["files"].get(RESEARCH_LOG_NAME)
        except SnapshotError:
            info = None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FLAGS, 0o644)
    with os.fdopen(fd, "wb") as out:
        if info is None:
            return False
        try:
            with open(EnvLog(ctx.env_log_dir).blob(info["sha256"]), "rb") as blob:
                out.write(blob.read(READ_MAX_BYTES * 8))
        except OSError:
            return False
    return True


def _open(ctx: ActionContext, flags: int) -> int:
    """A descriptor on the log as a regular file (repaired first if need be); OSError if not."""
    path = _path(ctx)
    for attempt in (1, 2):
        try:
            fd = os.open(path, flags | _FLAGS, 0o644)
        except OSError as e:
            if attempt == 2 or e.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EWOULDBLOCK):
                raise
            repair(ctx)
            continue
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.set_blocking(fd, True)
            return fd
        os.close(fd)
        if attempt == 2:
            break
        repair(ctx)
    raise OSError(errno.EINVAL, f"{RESEARCH_LOG_NAME} is not a regular file")


def append(ctx: ActionContext, content: str) -> None:
    """Add ``content`` at the end of the log (a newline first if the log lacks one)."""
    ctx.sandbox.check_writable(RESEARCH_LOG_NAME)  # ReadOnlyError when the task protects it
    try:
        fd = _open(ctx, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "r+b", buffering=0) as f:
            size = os.fstat(fd).st_size
            last = os.pread(fd, 1, size - 1) if size else b"\n"
            sep = "\n" if last != b"\n" and not content.startswith("\n") else ""
            f.write((sep + content).encode("utf-8"))
    except OSError as e:
        raise ActionError(f"The research log cannot be written: {e.strerror or e}.") from None


def read(ctx: ActionContext) -> str:
    """The log's text (its newest ``READ_MAX_BYTES``); '' when it is missing or unreadable."""
    if not os.path.lexists(_path(ctx)):
        return ""
    try:
        fd = _open(ctx, os.O_RDONLY)
    except OSError as e:
        logger.warning("The research log cannot be read: %s", e.strerror or e)
        return ""
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd).st_size
        if size > READ_MAX_BYTES:
            f.seek(size - READ_MAX_BYTES)
        return f.read(READ_MAX_BYTES).decode("utf-8", errors="replace")


@action("Append Summary to Research Log",
        "Add a summary of the latest step to the research log.",
        [Arg("content", "the summary to add, a few hundred characters")],
        "A success message, or an error message if the log cannot be written.", bookkeeping=True)
def append_summary_to_research_log(ctx: ActionContext, content: str) -> str:
    append(ctx, content)  # never follows a link, never blocks on a FIFO
    return "Successfully appended to research log"



class ResearchLogFile:
    """The research log's file, as the Environment hands it to the agent: appended and read
    through the guarded functions above (the task's read-only rules apply)."""

    name = RESEARCH_LOG_NAME

    def __init__(self, ctx: ActionContext):
        self._ctx = ctx

    def append(self, content: str) -> None:
        """Add an entry; ActionError (ReadOnlyError) when it cannot be written."""
        append(self._ctx, content)

    def read(self) -> str:
        return read(self._ctx)
