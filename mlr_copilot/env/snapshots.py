"""Content-addressed snapshots of the workspace after every step.

Layout under ``env_log/snapshots/``::

    manifests/step_0003.json   {"files": {path: {sha256, size, mode, mtime_ns}},
                                "dirs": {path: {mode}}, "symlinks": {path: {target}}, ...}
    blobs/ab/ab12…ef           each distinct file content once, read-only

A file whose size, mtime, ctime and inode match the previous snapshot is not re-read, so
the cost of a snapshot grows with what changed, not with the workspace size. Blobs are
copies, never hard links: a hard link would let a script rewriting a workspace file in
place corrupt the history. Step 0 is the workspace as the run began.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MLRError
from ..logs import SCHEMA_VERSION, utc_now

logger = logging.getLogger(__name__)

SMALL_FILE = 1 << 20  # read small files whole; stream larger ones
# A file changed this close to the moment we stat it could change again within the same
# timestamp tick, unseen; such files are re-read at the next snapshot. Filesystems with
# whole-second timestamps (ctime a multiple of 1 s) get the wider window.
RACY_WINDOW_NS = 100_000_000
RACY_WINDOW_COARSE_NS = 1_000_000_000


class SnapshotError(MLRError):
    """A snapshot is missing, damaged, or cannot be restored where asked."""


@dataclass
class _Cached:
    key: tuple  # (size, mtime_ns, ctime_ns, ino)
    sha256: str


def _env_log(path: Path) -> Path:
    """Accept a run dir, its env_log, or the snapshots folder itself."""
    p = Path(path)
    for cand in (p / "env_log", p, p.parent):
        if (cand / "snapshots" / "manifests").is_dir():
            return cand
    raise SnapshotError(f"No snapshots found under {p} (expected env_log/snapshots/manifests)")


def manifest_path(env_log: Path, step: int) -> Path:
    return Path(env_log) / "snapshots" / "manifests" / f"step_{step:04d}.json"


def list_steps(log_dir: Path) -> list[int]:
    """Steps that have a snapshot, ascending."""
    try:
        d = _env_log(log_dir) / "snapshots" / "manifests"
    except SnapshotError:
        return []
    steps = []
    for f in d.glob("step_*.json"):
        try:
            steps.append(int(f.stem.split("_", 1)[1]))
        except ValueError:
            continue
    return sorted(steps)


def last_complete_step(log_dir: Path) -> int | None:
    """The newest step whose manifest reads and whose every blob is present (for resume)."""
    try:
        env_log = _env_log(log_dir)
    except SnapshotError:
        return None
    blobs = env_log / "snapshots" / "blobs"
    for step in reversed(list_steps(env_log)):
        try:
            m = load_manifest(env_log, step)
        except SnapshotError:
            continue
        if all((blobs / i["sha256"][:2] / i["sha256"]).is_file() for i in m.get("files", {}).values()):
            return step
    return None


def load_manifest(log_dir: Path, step: int) -> dict[str, Any]:
    env_log = _env_log(log_dir)
    p = manifest_path(env_log, step)
    if not p.is_file():
        have = list_steps(env_log)
        raise SnapshotError(f"There is no snapshot of step {step} in {env_log} "
                            f"(steps available: {_ranges(have) or 'none'})")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SnapshotError(f"The manifest {p} is damaged: {e}") from e


def _ranges(steps: list[int]) -> str:
    if not steps:
        return ""
    return f"{steps[0]}..{steps[-1]}" if len(steps) > 1 else str(steps[0])


class SnapshotStore:
    """Takes snapshots of one workspace into one env_log; restores and syncs it back."""

    def __init__(self, env_log_dir: Path, workspace: Path, *, max_blob_bytes: int | None = None):
        self.env_log = Path(env_log_dir)
        self.workspace = Path(os.path.realpath(workspace))
        self.root = self.env_log / "snapshots"
        self.blobs = self.root / "blobs"
        self.manifests = self.root / "manifests"
        self.tmp = self.root / "tmp"
        for d in (self.blobs, self.manifests, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.iterdir():  # left by a process killed mid-snapshot
            stale.unlink(missing_ok=True)
        self.max_blob_bytes = max_blob_bytes
        self._cache: dict[str, _Cached] = {}
        self._tmp_n = 0
        self._exclude = {os.path.realpath(self.env_log)}

    # ----------------------------------------------------------------- taking
    def take(self, step: int) -> dict[str, Any]:
        """Record the workspace as it is now as ``step``; return the manifest."""
        t0 = time.perf_counter()
        files, dirs, links, skipped = {}, {}, {}, {}
        new_bytes = hashed = 0
        new_cache: dict[str, _Cached] = {}
        for rel, st, kind in self._walk():
            mode = stat.S_IMODE(st.st_mode)
            if kind == "dir":
                dirs[rel] = {"mode": mode}
            elif kind == "link":
                links[rel] = {"target": os.readlink(self.workspace / rel)}
            elif kind == "other":
                skipped[rel] = "not a regular file, folder or symbolic link"
            else:
                key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                cached = self._cache.get(rel)
                if cached is not None and cached.key == key and self._blob(cached.sha256).exists():
                    digest = cached.sha256
                else:
                    digest, stored = self._store(self.workspace / rel, st.st_size)
                    new_bytes += stored
                    hashed += st.st_size if digest else 0
                    if digest is None:
                        skipped[rel] = f"larger than the snapshot limit ({self.max_blob_bytes} bytes)"
                        continue
                if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _racy_window(st):
                    new_cache[rel] = _Cached(key, digest)
                files[rel] = {"sha256": digest, "size": st.st_size, "mode": mode,
                              "mtime_ns": st.st_mtime_ns}
        self._cache = new_cache
        manifest = {"schema_version": SCHEMA_VERSION, "type": "snapshot", "step": step,
                    "timestamp": utc_now(), "files": files, "dirs": dirs, "symlinks": links,
                    "skipped": skipped,
                    "totals": {"files": len(files), "bytes": sum(f["size"] for f in files.values()),
                               "new_blob_bytes": new_bytes, "hashed_bytes": hashed,
                               "seconds": round(time.perf_counter() - t0, 4)}}
        self._write_manifest(step, manifest)
        return manifest

    def _write_manifest(self, step: int, manifest: dict) -> None:
        """Atomic (temp + rename) but not fsynced: a killed process never leaves half a
        manifest; after a power loss, ``last_complete_step`` finds the newest intact one."""
        tmp = self._tmp_path()
        tmp.write_text(json.dumps(manifest, separators=(",", ":"), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, manifest_path(self.env_log, step))

    def _walk(self):
        """(relative path, lstat, kind) for everything below the workspace, parents first."""
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            try:
                entries = sorted(os.scandir(self.workspace / rel_dir if rel_dir else self.workspace),
                                 key=lambda e: e.name)
            except OSError as e:
                logger.warning("Snapshot cannot list %s: %s", rel_dir or ".", e)
                continue
            for e in entries:
                rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    yield rel, st, "link"
                elif stat.S_ISDIR(st.st_mode):
                    if os.path.realpath(e.path) in self._exclude:
                        continue
                    yield rel, st, "dir"
                    stack.append(rel)
                elif stat.S_ISREG(st.st_mode):
                    yield rel, st, "file"
                else:
                    yield rel, st, "other"

    def _blob(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    def _store(self, path: Path, size: int) -> tuple[str | None, int]:
        """Hash a file and keep its content as a blob (once); (digest, bytes newly stored)."""
        if self.max_blob_bytes is not None and size > self.max_blob_bytes:
            return None, 0
        if size <= SMALL_FILE:
            with open(path, "rb") as f:
                data = f.read()
            digest = hashlib.sha256(data).hexdigest()
            blob = self._blob(digest)
            if blob.exists():
                return digest, 0
            tmp = self._tmp_path()
            with open(tmp, "wb") as out:
                out.write(data)
            return digest, self._commit(tmp, blob)
        h = hashlib.sha256()
        tmp = self._tmp_path()
        with open(path, "rb") as f, open(tmp, "wb") as out:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
        digest = h.hexdigest()
        return digest, self._commit(tmp, self._blob(digest))

    def _tmp_path(self) -> Path:
        self._tmp_n += 1
        return self.tmp / f"{os.getpid()}-{self._tmp_n}"

    def _commit(self, tmp: Path, blob: Path) -> int:
        if blob.exists():
            tmp.unlink()
            return 0
        blob.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        size = tmp.stat().st_size
        os.replace(tmp, blob)
        return size

    # --------------------------------------------------------------- restoring
    def sync_workspace(self, step: int) -> dict[str, list[str]]:
        """Make the live workspace equal to ``step``'s snapshot, touching only what differs."""
        target = load_manifest(self.env_log, step)
        current = self.take_scan()
        changes = diff_manifests(current, target)
        want_files, want_links = target["files"], target["symlinks"]
        for rel, _, kind in sorted(self._walk(), key=lambda t: t[0].count("/"), reverse=True):
            p = self.workspace / rel
            keep = ((kind == "file" and rel in want_files) or (kind == "link" and rel in want_links)
                    or (kind == "dir" and rel in target["dirs"]))
            if not keep:
                if kind == "dir":
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        for rel, info in sorted(target["dirs"].items()):
            (self.workspace / rel).mkdir(parents=True, exist_ok=True)
        for rel, info in want_files.items():
            cur = current["files"].get(rel)
            if cur and cur["sha256"] == info["sha256"] and cur["mode"] == info["mode"]:
                continue
            self.restore_file(rel, info)
        for rel, info in want_links.items():
            p = self.workspace / rel
            if p.is_symlink() and os.readlink(p) == info["target"]:
                continue
            p.unlink(missing_ok=True)
            os.symlink(info["target"], p)
        for rel, info in sorted(target["dirs"].items(), reverse=True):
            os.chmod(self.workspace / rel, info["mode"])
        return changes

    def take_scan(self) -> dict[str, Any]:
        """The current workspace as a manifest-like dict, hashing only what may have changed."""
        files, dirs, links = {}, {}, {}
        for rel, st, kind in self._walk():
            if kind == "dir":
                dirs[rel] = {"mode": stat.S_IMODE(st.st_mode)}
            elif kind == "link":
                links[rel] = {"target": os.readlink(self.workspace / rel)}
            elif kind == "file":
                key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                c = self._cache.get(rel)
                digest = c.sha256 if c and c.key == key else _hash_file(self.workspace / rel)
                files[rel] = {"sha256": digest, "size": st.st_size, "mode": stat.S_IMODE(st.st_mode)}
        return {"files": files, "dirs": dirs, "symlinks": links}

    def restore_file(self, rel: str, info: dict) -> None:
        """Write one manifest entry (``files[rel]``) back into the workspace."""
        _write_from_blob(self.blobs, self.workspace / rel, info)


def _write_from_blob(blobs: Path, dest: Path, info: dict) -> None:
    """Write one file from its blob, checking the hash on the way, with its mode and mtime."""
    blob = blobs / info["sha256"][:2] / info["sha256"]
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
        while chunk := src.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
    if h.hexdigest() != info["sha256"]:
        raise SnapshotError(f"The snapshot content of {dest.name} is damaged (hash mismatch)")
    os.chmod(dest, info["mode"])
    if "mtime_ns" in info:
        os.utime(dest, ns=(info["mtime_ns"], info["mtime_ns"]))


def _racy_window(st: os.stat_result) -> int:
    return RACY_WINDOW_COARSE_NS if st.st_ctime_ns % 1_000_000_000 == 0 else RACY_WINDOW_NS


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def restore(log_dir: Path, step: int, to_dir: Path) -> Path:
    """Rebuild the workspace of ``step`` in ``to_dir`` (new or empty), byte for byte."""
    env_log = _env_log(log_dir)
    manifest = load_manifest(env_log, step)
    to_dir = Path(to_dir)
    if to_dir.exists() and (not to_dir.is_dir() or any(to_dir.iterdir())):
        raise SnapshotError(f"{to_dir} exists and is not an empty folder; choose a new folder to restore into")
    to_dir.mkdir(parents=True, exist_ok=True)
    blobs = env_log / "snapshots" / "blobs"
    for rel in sorted(manifest["dirs"]):
        (to_dir / rel).mkdir(parents=True, exist_ok=True)
    for rel, info in manifest["files"].items():
        _write_from_blob(blobs, to_dir / rel, info)
    for rel, info in manifest["symlinks"].items():
        (to_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(info["target"], to_dir / rel)
    for rel, info in sorted(manifest["dirs"].items(), reverse=True):
        os.chmod(to_dir / rel, info["mode"])
    if manifest.get("skipped"):
        logger.warning("Step %d's snapshot left out %d path(s): %s", step, len(manifest["skipped"]),
                       ", ".join(sorted(manifest["skipped"])[:5]))
    return to_dir


def diff_manifests(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
    """Files and symbolic links added, removed and changed (content, mode or kind) from a to b."""
    def entries(m: dict) -> dict[str, tuple]:
        out = {p: ("file", i["sha256"], i["mode"]) for p, i in m.get("files", {}).items()}
        out.update({p: ("link", i["target"], 0) for p, i in m.get("symlinks", {}).items()})
        return out

    ea, eb = entries(a), entries(b)
    return {"added": sorted(set(eb) - set(ea)), "removed": sorted(set(ea) - set(eb)),
            "changed": sorted(p for p in set(ea) & set(eb) if ea[p] != eb[p])}


def diff_steps(log_dir: Path, a: int, b: int) -> dict[str, list[str]]:
    """What changed in the workspace between the snapshots of steps ``a`` and ``b``."""
    env_log = _env_log(log_dir)
    return diff_manifests(load_manifest(env_log, a), load_manifest(env_log, b))


def blob_path(log_dir: Path, digest: str) -> Path:
    """Where the content with this sha256 is kept (for viewers that show a file's content)."""
    return _env_log(log_dir) / "snapshots" / "blobs" / digest[:2] / digest
