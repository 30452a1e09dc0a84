"""The file actions: list, read, write, append, copy, inspect, undo; and Final Answer, Request Help.

Names and argument keys are those of MLAgentBench / MLR-Copilot. Every path goes through
``ctx.sandbox.resolve``; every overwrite first pushes the old version on a per-file backup
stack (``env_log/backups/``) so Undo Edit Script can restore it, whoever made the edit.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from ..errors import ActionError
from ..records import EnvLog
from .actions import Arg, action
from .context import ActionContext
from .file_io import existing_file, open_regular, os_error, read_bytes_bounded, write_text_atomic

INSPECT_MAX_LINES = 100
INSPECT_LINE_MAX_CHARS = 4_000  # a longer line is shown cut, and never held whole in memory
LINE_COUNT_MAX_BYTES = 64 << 20  # Inspect Script Lines counts a file's lines up to this far
READ_MAX_CHARS = 60_000  # Read File beyond this shows the start and says how to see the rest
READ_MAX_BYTES = 4 * READ_MAX_CHARS + 4  # what Read File reads at most (UTF-8: <= 4 bytes a character)
BINARY_SNIFF_BYTES = 8192
LIST_MAX_ENTRIES = 1_000
UNDONE_DIR = "undone"  # backups already used by Undo Edit Script, kept for resume

_FILE = "a file name, relative to the workspace root (e.g. \"train.py\" or \"data/notes.txt\")"
_SCRIPT = "a python script name, relative to the workspace root (e.g. \"train.py\")"


# --------------------------------------------------------------------- helpers
def _decode(data: bytes, name: str, size: int) -> str:
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise ActionError(f"{name!r} is a binary file ({size:,} bytes); it cannot be shown as text.")
    return data.decode("utf-8", errors="replace")


def read_text(path: Path, name: str, max_bytes: int = READ_MAX_BYTES) -> str:
    """The start of a regular file's text (at most ``max_bytes``); binary files are refused."""
    data, size = read_bytes_bounded(path, name, max_bytes)
    return _decode(data, name, size)


def _writable_file(ctx: ActionContext, name: str) -> Path:
    if not name.strip():
        raise ActionError("No file name was given.")
    path = ctx.sandbox.resolve(name, for_write=True)
    if path.is_dir():
        raise ActionError(f"{name!r} is a directory; give a file name.")
    return path


# ---------------------------------------------------------------- backups
def _backup_dir(ctx: ActionContext, path: Path, create: bool = True) -> Path:
    rel = ctx.sandbox.rel(path)
    d = EnvLog(ctx.env_log_dir).backups / hashlib.sha256(rel.encode()).hexdigest()[:20]
    if create and not d.is_dir():
        d.mkdir(parents=True, exist_ok=True)
        (d / "PATH").write_text(rel + "\n", encoding="utf-8")
    return d


def _versions(d: Path) -> list[Path]:
    return sorted((p for p in d.iterdir() if p.name[:6].isdigit()), key=lambda p: int(p.name[:6]))


def backup_before_write(ctx: ActionContext, path: Path) -> None:
    """Push the current version of ``path`` (a resolved workspace path) on its undo stack.

    Call it just before overwriting or creating a file. A file that does not exist yet is
    recorded as absent, so undoing its creation removes it. Versions are numbered, never
    timestamped, so two edits in the same second never collide.
    """
    d = _backup_dir(ctx, path)
    have = _versions(d)
    n = int(have[-1].name[:6]) + 1 if have else 1
    tag = f"{n:06d}.s{ctx.step:04d}"  # the step that pushed it: resume drops those of a lost step
    if path.is_file():
        target = d / f"{tag}.bak"
        shutil.copy2(path, target)
    else:
        target = d / f"{tag}.absent"
        target.touch(exist_ok=False)


def undo_last_write(ctx: ActionContext, path: Path, name: str) -> str:
    """Restore the newest backup of ``path``; return what the file now holds ('' if removed)."""
    d = _backup_dir(ctx, path, create=False)
    have = _versions(d) if d.is_dir() else []
    if not have:
        raise ActionError(f"There is no edit of {name!r} to undo.")
    last = have[-1]
    # A used backup moves to undone/ tagged with this step, so resume can put it back on the
    # stack when the step that used it is lost (agents/resume.py).
    used = d / UNDONE_DIR / f"{last.name}.u{ctx.step:04d}"
    used.parent.mkdir(exist_ok=True)
    if last.suffix == ".absent":
        path.unlink(missing_ok=True)
        os.replace(last, used)
        return ""
    write_text_atomic(path, last.read_bytes())
    os.chmod(path, last.stat().st_mode & 0o7777)
    os.replace(last, used)
    return read_text(path, name)


# ---------------------------------------------------------------- actions
@action("List Files", "Use this to see which files and folders a directory of the workspace holds.",
        [Arg("dir_path", 'a directory relative to the workspace root, such as "." or "folder1/folder2"',
             required=False)],
        "The observation will be the names in dir_path, one per line, folders ending with '/', "
        "or an error message if dir_path is not a directory of the workspace.")
def list_files(ctx: ActionContext, dir_path: str = ".") -> str:
    path = ctx.sandbox.resolve(dir_path)
    if not path.exists():
        raise ActionError(f"The directory {dir_path!r} does not exist.")
    if not path.is_dir():
        raise ActionError(f"{dir_path!r} is a file, not a directory.")
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as e:
        raise os_error(e, dir_path) from e
    if not entries:
        return f"The directory {dir_path or '.'!r} is empty."
    lines = []
    for e in entries[:LIST_MAX_ENTRIES]:
        suffix = "@" if e.is_symlink() else "/" if e.is_dir() else ""
        lines.append(e.name + suffix)
    if len(entries) > LIST_MAX_ENTRIES:
        lines.append(f"[... and {len(entries) - LIST_MAX_ENTRIES:,} more entries]")
    return "\n".join(lines) + "\n"


@action("Read File", "Use this to read the whole content of an existing text file.", [Arg("file_name", _FILE)],
        "The observation will be the content of the file (the start of it, for very long files).")
def read_file(ctx: ActionContext, file_name: str) -> str:
    data, size = read_bytes_bounded(existing_file(ctx, file_name), file_name, READ_MAX_BYTES)
    text = _decode(data, file_name, size)
    if len(text) > READ_MAX_CHARS or len(data) < size:
        return (text[:READ_MAX_CHARS] + f"\n[... the file has {size:,} bytes; only the first "
                f"{min(len(text), READ_MAX_CHARS):,} characters are shown. Use Inspect Script Lines to "
                "read other parts.]")
    return text


@action("Write File", "Use this to write a file with the given content, replacing the file if it exists.",
        [Arg("file_name", _FILE), Arg("content", "the full text to write into the file")],
        "The observation will say that the file was written, or why it could not be.")
def write_file(ctx: ActionContext, file_name: str, content: str) -> str:
    path = _writable_file(ctx, file_name)
    try:
        backup_before_write(ctx, path)
        write_text_atomic(path, content)
    except OSError as e:
        raise os_error(e, file_name) from e
    return f"File {file_name} written successfully."


@action("Append File", "Use this to add text at the end of a file; the file is created if it does not exist.",
        [Arg("file_name", _FILE), Arg("content", "the text to add at the end of the file")],
        "The observation will say that the text was appended, or why it could not be.")
def append_file(ctx: ActionContext, file_name: str, content: str) -> str:
    path = _writable_file(ctx, file_name)
    try:
        backup_before_write(ctx, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8", newline="") as f:
            f.write(content)
    except OSError as e:
        raise os_error(e, file_name) from e
    return f"File {file_name} appended successfully."


@action("Copy File", "Use this to copy a file to another name or folder of the workspace.",
        [Arg("source", _FILE), Arg("destination", _FILE)],
        "The observation will say that the file was copied, or why it could not be.")
def copy_file(ctx: ActionContext, source: str, destination: str) -> str:
    src = existing_file(ctx, source)
    dst = _writable_file(ctx, destination) if destination.strip() else None
    if dst is None:
        raise ActionError("No destination was given.")
    if src == dst:
        raise ActionError(f"{source!r} and {destination!r} are the same file.")
    try:
        backup_before_write(ctx, dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name[:50]}.copy.tmp")
        with open_regular(src, source) as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        shutil.copystat(src, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        raise os_error(e, destination) from e
    return f"File {source} copied to {destination}"


@action("Inspect Script Lines",
        "Use this to look at a precise part of a script, or at all of a short one; at most "
        f"{INSPECT_MAX_LINES} lines are shown at once. Most useful when debugging.",
        [Arg("script_name", _SCRIPT), Arg("start_line_number", "the first line to show, counting from 1", int),
         Arg("end_line_number", "the last line to show", int)],
        "The observation will be the lines from start_line_number to end_line_number and the "
        "number of the file's last line, or an error message if the script does not exist.")
def inspect_script_lines(ctx: ActionContext, script_name: str, start_line_number: int,
                         end_line_number: int) -> str:
    start, end = start_line_number, end_line_number
    if start < 1 or end < 1:
        raise ActionError(f"Line numbers start at 1; got start_line_number={start}, end_line_number={end}.")
    if end < start:
        raise ActionError(f"end_line_number ({end}) is before start_line_number ({start}); "
                          "give the first line, then the last.")
    shown_end = min(end, start + INSPECT_MAX_LINES - 1)
    with open_regular(existing_file(ctx, script_name), script_name) as f:
        if b"\x00" in f.read(BINARY_SNIFF_BYTES):
            raise ActionError(f"{script_name!r} is a binary file; it cannot be shown as text.")
        f.seek(0)
        shown, n, counted = _line_window(f, start, shown_end)
    if n == 0:
        return f"The file {script_name} is empty."
    if start > n and counted:
        raise ActionError(f"start_line_number {start} is past the end of {script_name}, which ends at line {n}.")
    if not shown:
        raise ActionError(f"start_line_number {start} is past the first {n:,} lines of {script_name}, "
                          f"the part read to look for it ({LINE_COUNT_MAX_BYTES >> 20} MB).")
    last = start + len(shown) - 1
    ends = f"the file ends at line {n}" if counted else f"the file has more than {n:,} lines; not all were counted"
    note = ""
    if last < min(end, n if counted else end) and last == shown_end:
        note = (f"\n\n[Only {INSPECT_MAX_LINES} lines are shown at once: these are lines {start}-{last}; "
                f"ask for lines {last + 1}-{min(end, last + INSPECT_MAX_LINES, n if counted else end)} to see more.]")
    return f"Here are the lines ({ends}):\n\n" + "\n".join(shown) + note


def _line_window(f: BinaryIO, start: int, end: int) -> tuple[list[str], int, bool]:
    """Lines ``start``..``end`` of an open file (each cut at ``INSPECT_LINE_MAX_CHARS``), the
    number of lines seen, and whether that is all of them (counting stops after
    ``LINE_COUNT_MAX_BYTES``). Memory stays bounded whatever the file's size or line length."""
    shown: list[str] = []
    n = 0
    read = 0
    limit = INSPECT_LINE_MAX_CHARS * 4
    while read < LINE_COUNT_MAX_BYTES:
        want = start <= n + 1 <= end
        chunk = f.readline(limit if want else 1 << 20)
        if not chunk:
            return shown, n, True
        read += len(chunk)
        complete = chunk.endswith(b"\n")
        cut = 0
        while not complete:  # the rest of a long line: skipped, only counted
            more = f.readline(1 << 20)
            if not more:
                break
            read += len(more)
            cut += len(more)
            complete = more.endswith(b"\n")
        n += 1
        if want:
            text = chunk.rstrip(b"\r\n").decode("utf-8", errors="replace")
            if cut or len(text) > INSPECT_LINE_MAX_CHARS:
                text = text[:INSPECT_LINE_MAX_CHARS] + f" [... line cut: it has {len(chunk) + cut:,} bytes]"
            shown.append(text)
    return shown, n, not f.read(1)


@action("Undo Edit Script", "Use this to take back the most recent change made to a script "
        "(by an edit, a write or a copy), restoring the version before it.",
        [Arg("script_name", _SCRIPT)],
        "The observation will be the content of the script as restored, or an error message if "
        "there is no change to undo.")
def undo_edit_script(ctx: ActionContext, script_name: str) -> str:
    if not script_name.strip():
        raise ActionError("No script name was given.")
    path = ctx.sandbox.resolve(script_name, for_write=True)
    if path.is_dir():
        raise ActionError(f"{script_name!r} is a directory, not a file.")
    try:
        content = undo_last_write(ctx, path, script_name)
    except OSError as e:
        raise os_error(e, script_name) from e
    if not path.exists():
        return f"The last edit created {script_name}; undoing it removed the file."
    if len(content) > READ_MAX_CHARS:
        content = content[:READ_MAX_CHARS] + "\n[... shortened; use Inspect Script Lines to see the rest]"
    return f"Content of {script_name} after undo the most recent edit:\n{content}"


@action("Final Answer", "Use this to give your final answer to the research task; the run ends.",
        [Arg("final_answer", "a detailed account of the final answer and the results behind it")],
        "The observation will be a short confirmation.")
def final_answer(ctx: ActionContext, final_answer: str) -> str:
    return "Final answer submitted; the run ends here."


@action("Request Help",
        "Use this to ask the human for help, only when the tools and files are not enough to go on, "
        "for example to get an API reference or to have a library installed. Check the provided "
        "tools and files first.",
        [Arg("request", "a detailed description of what you need the human to do or tell you")],
        "The observation will be the human's answer, or a note that nobody is available.")
def request_help(ctx: ActionContext, request: str) -> str:
    if ctx.human is None:
        return "Nobody is available to help right now; carry on with the tools and files you have."
    answer = ctx.human.ask(request)
    if answer is None:
        return "Nobody is available to help right now; carry on with the tools and files you have."
    return answer if answer.strip() else "The human read the request but gave no answer."
