"""Walking the workspace for a snapshot, incrementally.

Every file is ``lstat``-ed at every snapshot: nothing cheaper notices a file rewritten in
place. Beyond that, an unchanged file (same size, mtime, ctime and inode as at the last
snapshot, and not changed too recently to tell) costs one tuple and one dict lookup: it is
not re-read nor re-hashed, no path string or entry is built for it, and its manifest entry
is the previous one. A scan reports which paths it ``touched`` (read again or gone), so the
manifest delta is computed from those rather than by comparing two whole manifests. With
100,000 files the stat calls are most of what a step's snapshot costs.
"""
from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from typing import Callable, Iterator, Union

logger = logging.getLogger(__name__)

# A file changed this close to the moment we stat it could change again within the same
# timestamp tick, unseen; such files are re-read at the next snapshot. Filesystems with
# whole-second timestamps (ctime a multiple of 1 s) get the wider window.
RACY_WINDOW_NS = 100_000_000
RACY_WINDOW_COARSE_NS = 1_000_000_000

# read(rel, lstat) -> the file's manifest entry, or why it is left out (a str)
Reader = Callable[[str, os.stat_result], Union[dict, str]]
_EMPTY: dict = {}


@dataclass
class Scan:
    """The workspace as one scan found it. ``files`` is the last scan's dict when nothing
    changed, else a new one: a manifest's ``files`` is never modified once made."""
    files: dict[str, dict]
    dirs: dict[str, dict] = field(default_factory=dict)
    links: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)  # file paths read again, or no longer files
    # folder -> name -> ((size, mtime_ns, ctime_ns, inode), entry); key None: re-read next time
    cache: dict[str, dict[str, tuple]] = field(default_factory=dict)
    total_bytes: int = 0


class Scanner:
    """Remembers, per folder, what the last kept scan saw of each file."""

    def __init__(self, workspace: str, exclude: set[tuple[int, int]]):
        self.workspace = workspace
        self.exclude = exclude  # (st_dev, st_ino) of folders never entered (the run's own logs)
        self.cache: dict[str, dict[str, tuple]] = {}
        self.files: dict[str, dict] = {}
        self.total_bytes = 0

    def keep(self, scan: Scan) -> None:
        """Make ``scan`` the one the next scan compares with (after its snapshot is written)."""
        self.cache, self.files, self.total_bytes = scan.cache, scan.files, scan.total_bytes

    def scan(self, read: Reader, now_ns: int) -> Scan:
        """Walk the workspace; ``read`` is called only for files new or changed since the kept scan."""
        prev, cache_before = self.files, self.cache
        out = Scan(files=prev, total_bytes=self.total_bytes)
        changed: dict[str, dict] = {}
        gone: list[str] = []
        visited: set[str] = set()
        stack = [""]
        is_reg = stat.S_ISREG  # a local name: this loop runs once per file of the workspace
        while stack:
            rel_dir = stack.pop()
            entries = _list(self.workspace, rel_dir, out.skipped)
            if entries is None:
                continue
            visited.add(rel_dir)
            prefix = rel_dir + "/" if rel_dir else ""
            old = cache_before.get(rel_dir, _EMPTY)
            cached = old.get
            same = 0
            redo: list[str] = []  # regular files read again: new, changed, or not to be trusted
            fresh: dict[str, tuple] = {}
            for e in entries:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError as err:
                    out.skipped[prefix + e.name] = f"cannot be examined: {why(err, prefix + e.name)}"
                    continue
                mode = st.st_mode
                if is_reg(mode):
                    key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                    c = cached(e.name)
                    if c is not None and c[0] == key:
                        same += 1
                        continue
                    rel = prefix + e.name
                    redo.append(e.name)
                    got = read(rel, st)
                    out.touched.add(rel)
                    if isinstance(got, str):
                        out.skipped[rel] = got
                        continue
                    racy = now_ns - max(st.st_mtime_ns, st.st_ctime_ns) <= racy_window(st)
                    fresh[e.name] = (None if racy else key, got)
                    changed[rel] = got
                    continue
                rel = prefix + e.name
                if stat.S_ISDIR(mode):
                    if (st.st_dev, st.st_ino) not in self.exclude:
                        out.dirs[rel] = {"mode": stat.S_IMODE(mode)}
                        stack.append(rel)
                elif stat.S_ISLNK(mode):
                    try:
                        out.links[rel] = {"target": os.readlink(os.path.join(self.workspace, rel))}
                    except OSError as err:
                        out.skipped[rel] = f"symbolic link that cannot be read: {err.strerror or err}"
                else:
                    out.skipped[rel] = "not a regular file, folder or symbolic link"
            if not redo and same == len(old):
                if old:
                    out.cache[rel_dir] = old  # nothing in this folder changed: its cache is reused
                continue
            kept = dict(old)
            for name in redo:
                kept.pop(name, None)
            if same != len(kept):  # some files of the last scan are gone, or no longer regular files
                for name in _unmatched(entries, kept):
                    gone.append(prefix + name)
                    del kept[name]
            kept.update(fresh)
            if kept:
                out.cache[rel_dir] = kept
        for rel_dir in cache_before.keys() - visited:  # folders gone or that cannot be listed now
            prefix = rel_dir + "/" if rel_dir else ""
            gone.extend(prefix + name for name in cache_before[rel_dir])
        if changed or gone or out.touched:
            out.files = files = dict(prev)
            out.touched.update(gone)
            for rel in out.touched:
                if rel not in changed and rel in files:  # gone, or read again and left out this time
                    out.total_bytes -= files.pop(rel)["size"]
            for rel, entry in changed.items():
                old_entry = files.get(rel)
                out.total_bytes += entry["size"] - (old_entry["size"] if old_entry is not None else 0)
                files[rel] = entry
        return out


def _unmatched(entries: list[os.DirEntry], kept: dict[str, tuple]) -> list[str]:
    """Names in ``kept`` that the listing no longer holds as that same regular file."""
    by_name = {e.name: e for e in entries}
    out = []
    for name, (key, _) in kept.items():
        e = by_name.get(name)
        try:
            st = e.stat(follow_symlinks=False) if e is not None else None  # cached by the DirEntry
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode) or key != (st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                                                 st.st_ino):
            out.append(name)
    return out


def _list(workspace: str, rel_dir: str, skipped: dict[str, str]) -> list[os.DirEntry] | None:
    """A folder's entries; None, and the folder in ``skipped``, when it cannot be listed
    (path too long, no permission)."""
    try:
        with os.scandir(os.path.join(workspace, rel_dir) if rel_dir else workspace) as it:
            return list(it)
    except OSError as e:
        reason = why(e, rel_dir)
        logger.warning("Snapshot cannot list %s: %s", rel_dir or ".", reason)
        if rel_dir:
            skipped[rel_dir] = f"folder that cannot be listed: {reason}"
        return None


def walk(workspace: str, exclude: set[tuple[int, int]]) -> Iterator[tuple[str, os.stat_result, str]]:
    """(relative path, lstat, kind) for everything below the workspace, parents first."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        prefix = rel_dir + "/" if rel_dir else ""
        for e in _list(workspace, rel_dir, {}) or ():
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            rel, mode = prefix + e.name, st.st_mode
            if stat.S_ISREG(mode):
                yield rel, st, "file"
            elif stat.S_ISDIR(mode):
                if (st.st_dev, st.st_ino) not in exclude:
                    yield rel, st, "dir"
                    stack.append(rel)
            elif stat.S_ISLNK(mode):
                yield rel, st, "link"
            else:
                yield rel, st, "other"


def why(e: OSError, rel: str) -> str:
    if e.errno == errno.ENAMETOOLONG:
        return f"its path ({len(rel):,} characters in the workspace) is longer than the system allows"
    return e.strerror or str(e)


def racy_window(st: os.stat_result) -> int:
    return RACY_WINDOW_COARSE_NS if st.st_ctime_ns % 1_000_000_000 == 0 else RACY_WINDOW_NS
