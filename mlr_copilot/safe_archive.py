"""Download an archive with a size cap, and unpack it member by member, refusing what is unsafe.

Nothing in an archive is executed, and nothing is handed to ``tarfile.extract``: every member
is checked, then regular files are copied out byte by byte (at most their declared size) and
directories created. Refused, each with its reason: absolute paths, paths with ``..``, links
of any kind (a link inside the tree could be re-pointed outside later; the files they name
are in the archive anyway), device files, FIFOs and other special members, files over the
per-file cap, and everything once the total-size or file-count cap is reached. A single
top-level folder (``repo-<sha>/`` in GitHub archives) is stripped.
"""
from __future__ import annotations

import logging
import re
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from .errors import ArchiveError

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_MAX_DOWNLOAD_BYTES = 100 * MiB
DEFAULT_MAX_TOTAL_BYTES = 200 * MiB  # unpacked
DEFAULT_MAX_FILES = 2_000
DEFAULT_MAX_FILE_BYTES = 20 * MiB
MAX_MEMBERS_SCANNED = 50_000  # members looked at at most (a huge archive is cut short)
MAX_REFUSED_KEPT = 50  # refused members listed one by one; the rest are counted
_CHUNK = 1 << 16


@dataclass
class Limits:
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_files: int = DEFAULT_MAX_FILES
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


@dataclass
class Unpacked:
    files: list[str] = field(default_factory=list)  # relative POSIX paths, in archive order
    total_bytes: int = 0
    refused: list[dict] = field(default_factory=list)  # {"name", "reason"}, the first MAX_REFUSED_KEPT
    refused_count: int = 0
    top_dir: str = ""  # the stripped top-level folder, "" when none
    comment: str = ""  # a tar's global pax comment (``git archive`` puts the commit id there)

    def refuse(self, name: str, reason: str) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REFUSED_KEPT:
            self.refused.append({"name": name, "reason": reason})
        logger.info("archive member %r refused: %s", name, reason)


def download(url: str, dest: Path, *, max_bytes: int, timeout_s: float, headers: dict | None = None) -> int:
    """Stream ``url`` into ``dest``; refuse (and delete) beyond ``max_bytes``. Returns the size."""
    import httpx

    size = 0
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=True,
                          headers={"User-Agent": "mlr-copilot (prototype code)", **(headers or {})}) as client:
            with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise ArchiveError(f"downloading {url} failed: HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ArchiveError(f"the archive at {url} is {int(declared) // MiB} MiB, over the "
                                       f"{max_bytes // MiB} MiB download cap; it was not downloaded")
                with open(dest, "wb") as out:
                    for chunk in response.iter_bytes(_CHUNK):
                        size += len(chunk)
                        if size > max_bytes:
                            raise ArchiveError(f"the archive at {url} is larger than the {max_bytes // MiB} MiB "
                                               "download cap; the download was stopped")
                        out.write(chunk)
    except httpx.TimeoutException:
        dest.unlink(missing_ok=True)
        raise ArchiveError(f"downloading {url} timed out after {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        dest.unlink(missing_ok=True)
        raise ArchiveError(f"downloading {url} failed: {type(exc).__name__}: {exc}") from None
    except ArchiveError:
        dest.unlink(missing_ok=True)
        raise
    return size


# --- members, whatever the archive format ------------------------------------------------

@dataclass
class _Member:
    name: str
    kind: str  # file | dir | link | special
    size: int
    open: object = None  # () -> binary stream, for files
    link_target: str = ""


def _tar_members(tf: tarfile.TarFile) -> Iterator[_Member]:
    for m in tf:
        if m.isreg():
            yield _Member(m.name, "file", m.size, open=lambda m=m: tf.extractfile(m))
        elif m.isdir():
            yield _Member(m.name, "dir", 0)
        elif m.issym() or m.islnk():
            yield _Member(m.name, "link", 0, link_target=m.linkname)
        else:
            yield _Member(m.name, "special", 0)


def _zip_members(zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            yield _Member(info.filename, "link", 0, link_target=zf.read(info)[:200].decode("utf-8", "replace"))
        elif info.is_dir():
            yield _Member(info.filename, "dir", 0)
        elif mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            yield _Member(info.filename, "special", 0)
        else:
            yield _Member(info.filename, "file", info.file_size, open=lambda i=info: zf.open(i))


def unsafe_reason(name: str) -> str | None:
    """Why a member's path is unsafe, or None."""
    if not name or "\x00" in name:
        return "empty or invalid name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if "\\" in name:
        return "backslash in the path"
    if ".." in PurePosixPath(name).parts:
        return "path goes up a folder (..)"
    return None


def _top_dir(names: list[str]) -> str:
    firsts = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    if len(firsts) != 1:
        return ""
    top = firsts.pop()
    # strip it only when it is a folder holding everything (not a single file at the root)
    return top if all(n.rstrip("/") == top or n.startswith(top + "/") for n in names) and \
        any(n.startswith(top + "/") and n.rstrip("/") != top for n in names) else ""


def unpack(archive: Path, dest: Path, limits: Limits) -> Unpacked:
    """Unpack ``archive`` (tar, tar.gz, tar.bz2, tar.xz or zip) into the new folder ``dest``."""
    dest.mkdir(parents=True, exist_ok=False)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                return _unpack(list(_limited(_zip_members(zf))), dest, limits, "")
        with tarfile.open(archive, "r:*") as tf:
            members = list(_limited(_tar_members(tf)))
            comment = str(tf.pax_headers.get("comment", "")) if tf.pax_headers else ""
            return _unpack(members, dest, limits, comment)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveError(f"the archive could not be read ({type(exc).__name__}: {exc})") from None


def _limited(members: Iterator[_Member]) -> Iterator[_Member]:
    for n, m in enumerate(members):
        if n >= MAX_MEMBERS_SCANNED:
            logger.warning("archive has more than %d members; the rest were not read", MAX_MEMBERS_SCANNED)
            return
        yield m


def _unpack(members: list[_Member], dest: Path, limits: Limits, comment: str) -> Unpacked:
    out = Unpacked(comment=comment)
    safe = []
    for m in members:
        why = unsafe_reason(m.name)
        if why:
            out.refuse(m.name, why)
        else:
            safe.append(m)
    out.top_dir = _top_dir([m.name for m in safe])
    root = dest.resolve()
    seen: set[str] = set()
    for m in safe:
        rel = PurePosixPath(m.name)
        if out.top_dir:
            rel = PurePosixPath(*rel.parts[1:]) if len(rel.parts) > 1 else PurePosixPath(".")
        rel_s = rel.as_posix()
        if m.kind == "link":
            out.refuse(m.name, f"link to {m.link_target!r} (links are not unpacked)")
            continue
        if m.kind == "special":
            out.refuse(m.name, "device file, FIFO or other special member")
            continue
        if rel_s == ".":
            continue
        target = dest / rel_s
        if not target.resolve().is_relative_to(root):  # belt and braces after the name check
            out.refuse(m.name, "path leaves the destination folder")
            continue
        if m.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        if rel_s in seen:
            out.refuse(m.name, "duplicate member")
            continue
        if m.size > limits.max_file_bytes:
            out.refuse(m.name, f"file of {m.size:,} bytes is over the per-file cap of {limits.max_file_bytes:,}")
            continue
        if len(out.files) >= limits.max_files:
            out.refuse(m.name, f"file-count cap of {limits.max_files} reached")
            continue
        if out.total_bytes + m.size > limits.max_total_bytes:
            out.refuse(m.name, f"total-size cap of {limits.max_total_bytes:,} bytes reached")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        written = _copy_out(m.open(), target, m.size)  # type: ignore[operator]
        if written is None:
            target.unlink(missing_ok=True)
            out.refuse(m.name, "holds more bytes than its header declares")
            continue
        seen.add(rel_s)
        out.files.append(rel_s)
        out.total_bytes += written
    return out


def _copy_out(src: IO[bytes] | None, target: Path, declared: int) -> int | None:
    """Copy at most ``declared`` bytes; None when the member holds more (a lying header)."""
    written = 0
    with open(target, "wb") as f:
        if src is None:
            return 0
        with src:
            while True:
                chunk = src.read(min(_CHUNK, declared - written + 1))
                if not chunk:
                    break
                written += len(chunk)
                if written > declared:
                    return None
                f.write(chunk)
    target.chmod(0o644)
    return written
