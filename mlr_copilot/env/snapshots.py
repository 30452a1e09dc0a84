"""Content-addressed snapshots of the workspace after every step.

Layout under ``env_log/snapshots/``::

    manifests/step_0003.json   {"files": {path: {sha256, size, mode, mtime_ns}},
                                "dirs": {path: {mode}}, "symlinks": {path: {target}},
                                "skipped": {path: why}, ...}  (or a delta: see manifests.py)
    blobs/ab/ab12…ef           each distinct file content once, read-only

Size rule: a file larger than ``max_blob_bytes`` (default ``MAX_FILE_BYTES``, 1 GiB) is not
stored, nor read; nor is a file whose new content would take the step past
``max_step_bytes`` (default ``MAX_STEP_BYTES``, 4 GiB of new content per step). Sizes are
apparent sizes, so a sparse 5 GB file counts as 5 GB. Runs of zero bytes are written as
holes, so a sparse file under the limits takes little disk in its blob and when restored.
A folder that cannot be listed (a path longer than the system allows, no permission) and
a file that cannot be read are not stored either. Every path left out is listed with the
reason in the manifest's ``skipped``, reported in the step's observation, left alone by
resume, and named by ``restore``.

A file whose size, mtime, ctime and inode match the previous snapshot is not re-read, and
what a step writes is proportional to what changed (snapshot_scan.py, manifests.py). Blobs
are copies, never hard links (a script rewriting a workspace file in place would corrupt
the history). Step 0 is the workspace as the run began.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from ..logs import utc_now
from ..records import SCHEMA_VERSION, EnvLog
from ..records.layout import ENV_LOG, MANIFESTS, SNAPSHOTS
from . import manifests
from .manifests import diff_manifests, manifest_path  # noqa: F401  (re-exported)
from .snapshot_io import SnapshotError, copy_sparse, hash_file, open_regular, write_from_blob  # noqa: F401
from .snapshot_scan import Scan, Scanner, walk, why

logger = logging.getLogger(__name__)

SMALL_FILE = 1 << 20  # read small files whole; stream larger ones
MAX_FILE_BYTES = 1 << 30  # a larger file is listed in ``skipped``, never read
MAX_STEP_BYTES = 4 << 30  # new content stored per step at most; the rest waits for a later step


def _env_log(path: Path) -> Path:
    """Accept a run dir, its env_log, or the snapshots folder itself."""
    found = EnvLog.find(path)
    if found is None:
        raise SnapshotError(f"No snapshots found under {path} (expected {ENV_LOG}/{SNAPSHOTS}/{MANIFESTS})")
    return found.root


def list_steps(log_dir: Path) -> list[int]:
    """Steps that have a snapshot, ascending."""
    found = EnvLog.find(log_dir)
    return found.manifest_steps() if found is not None else []


def last_complete_step(log_dir: Path) -> int | None:
    """The newest step whose manifest reads and whose every blob is present (for resume)."""
    try:
        env_log = _env_log(log_dir)
    except SnapshotError:
        return None
    paths = EnvLog(env_log)
    for step in reversed(paths.manifest_steps()):
        try:
            m = load_manifest(env_log, step)
        except SnapshotError:
            continue
        if all(paths.blob(i["sha256"]).is_file() for i in m.get("files", {}).values()):
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
        return manifests.read_full(env_log, step)
    except manifests.ManifestError as e:
        raise SnapshotError(f"The snapshot of step {step} cannot be read: {e}") from e


def _ranges(steps: list[int]) -> str:
    if not steps:
        return ""
    return f"{steps[0]}..{steps[-1]}" if len(steps) > 1 else str(steps[0])


class SnapshotStore:
    """Takes snapshots of one workspace into one env_log; restores and syncs it back."""

    def __init__(self, env_log_dir: Path, workspace: Path, *, max_blob_bytes: int | None = MAX_FILE_BYTES,
                 max_step_bytes: int | None = MAX_STEP_BYTES):
        self.env_log = Path(env_log_dir)
        self.workspace = Path(os.path.realpath(workspace))
        self.paths = EnvLog(self.env_log)
        self.tmp = self.paths.snapshot_tmp
        for d in (self.paths.blobs, self.paths.manifests, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.iterdir():  # left by a process killed mid-snapshot
            stale.unlink(missing_ok=True)
        self.max_blob_bytes = max_blob_bytes
        self.max_step_bytes = max_step_bytes
        self._tmp_n = 0
        st = os.stat(self.env_log)
        self._exclude = {(st.st_dev, st.st_ino)}  # the run's own logs, when inside the workspace
        self._scanner = Scanner(str(self.workspace), self._exclude)
        # (step, manifest, deltas since the last full one, file paths that may differ from the
        # step before) of the last two steps written, as bases for the next delta
        self._last: tuple[int, dict, int, set[str]] | None = None
        self._before: tuple[int, dict, int, set[str]] | None = None

    # ----------------------------------------------------------------- taking
    def _too_big(self, size: int, step_bytes: int) -> str | None:
        if self.max_blob_bytes is not None and size > self.max_blob_bytes:
            return f"{size:,} bytes, larger than the snapshot limit per file ({self.max_blob_bytes:,} bytes)"
        if self.max_step_bytes is not None and step_bytes + size > self.max_step_bytes:
            return (f"{size:,} bytes; the step's snapshot limit of new content ({self.max_step_bytes:,} "
                    "bytes) was reached, it is tried again at the next step")
        return None

    def take(self, step: int) -> dict[str, Any]:
        """Record the workspace as it is now as ``step``; return the manifest."""
        t0 = time.perf_counter()
        counts = {"new": 0, "hashed": 0}

        def read(rel: str, st: os.stat_result) -> dict | str:
            why_not = self._too_big(st.st_size, counts["hashed"])
            if why_not:
                return why_not
            try:
                digest, stored = self._store(self.workspace / rel, st.st_size)
            except OSError as e:
                return f"cannot be read: {why(e, rel)}"
            counts["new"] += stored
            counts["hashed"] += st.st_size
            return {"sha256": digest, "size": st.st_size, "mode": stat.S_IMODE(st.st_mode),
                    "mtime_ns": st.st_mtime_ns}

        scan = self._scanner.scan(read, time.time_ns())
        manifest = {"schema_version": SCHEMA_VERSION, "type": "snapshot", "step": step,
                    "timestamp": utc_now(), "files": scan.files, "dirs": scan.dirs, "symlinks": scan.links,
                    "skipped": scan.skipped,
                    "totals": {"files": len(scan.files), "bytes": scan.total_bytes,
                               "new_blob_bytes": counts["new"], "hashed_bytes": counts["hashed"],
                               "seconds": round(time.perf_counter() - t0, 4)}}
        again = self._last is not None and self._last[0] == step  # the same step, taken once more
        base = self._before if again else self._last
        touched = (self._last[3] | scan.touched) if again else scan.touched
        prev_skipped = (base[1].get("skipped") or {}) if base else {}
        chain = self._write_manifest(step, manifest, base, touched)
        self._scanner.keep(scan)  # only now: a failed write leaves the last kept scan as the base
        if not again:
            self._before = self._last
        self._last = (step, manifest, chain, touched)
        return {**manifest, "new_skipped": {p: w for p, w in scan.skipped.items() if prev_skipped.get(p) != w}}

    def manifest(self, step: int) -> dict[str, Any]:
        """The manifest of ``step``: from memory when this store just took it, else from disk."""
        return self._last[1] if self._last is not None and self._last[0] == step else load_manifest(self.env_log, step)

    def _write_manifest(self, step: int, manifest: dict, base: tuple | None, touched: set[str]) -> int:
        """Write the manifest as a delta on ``base`` when that pays; returns the chain length.

        ``touched`` holds every file path that may differ from ``base``: the others are not compared."""
        record: dict[str, Any] = manifest
        chain = 0
        if base is not None and base[0] < step and base[2] + 1 < manifests.FULL_EVERY:
            changes, n = manifests.delta(base[1], manifest, files_touched=touched)
            size = sum(len(manifest[s]) for s in manifests.SECTIONS)
            if 2 * n <= size:
                record = {k: v for k, v in manifest.items() if k not in manifests.SECTIONS}
                record.update(base=base[0], delta=changes)
                chain = base[2] + 1
        self.last_manifest_bytes = manifests.write(self.env_log, step, record, self._tmp_path())
        return chain

    def _walk(self):
        """(relative path, lstat, kind) for everything below the workspace, parents first."""
        return walk(str(self.workspace), self._exclude)

    def _store(self, path: Path, size: int) -> tuple[str, int]:
        """Hash a file and keep its content as a blob (once); (digest, bytes newly stored)."""
        if size <= SMALL_FILE:
            with open_regular(path) as f:
                data = f.read(SMALL_FILE + 1)
            digest = hashlib.sha256(data).hexdigest()
            blob = self.paths.blob(digest)
            if blob.exists():
                return digest, 0
            tmp = self._tmp_path()
            with open(tmp, "wb") as out:
                out.write(data)
            return digest, self._commit(tmp, blob, len(data))
        h = hashlib.sha256()
        tmp = self._tmp_path()
        with open_regular(path) as f, open(tmp, "wb") as out:
            _, written = copy_sparse(f, out, h, limit=size)
        digest = h.hexdigest()
        return digest, self._commit(tmp, self.paths.blob(digest), written)

    def _tmp_path(self) -> Path:
        self._tmp_n += 1
        return self.tmp / f"{os.getpid()}-{self._tmp_n}"

    def _commit(self, tmp: Path, blob: Path, size: int) -> int:
        if blob.exists():
            tmp.unlink()
            return 0
        blob.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, blob)
        return size

    # --------------------------------------------------------------- restoring
    def sync_workspace(self, step: int) -> dict[str, list[str]]:
        """Make the live workspace equal to ``step``'s snapshot, touching only what differs."""
        target = load_manifest(self.env_log, step)
        current = self.take_scan()
        changes = diff_manifests(current, target)
        want_files, want_links = target["files"], target["symlinks"]
        left_out = target.get("skipped") or {}  # not in the snapshot: left as they are
        for rel, _, kind in sorted(self._walk(), key=lambda t: t[0].count("/"), reverse=True):
            p = self.workspace / rel
            keep = ((kind == "file" and rel in want_files) or (kind == "link" and rel in want_links)
                    or (kind == "dir" and rel in target["dirs"]) or rel in left_out
                    or any(rel.startswith(s + "/") for s in left_out))
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
        """The current workspace as a manifest-like dict, hashing only what may have changed
        (and storing nothing: the next snapshot still compares with the last one)."""
        def read(rel: str, st: os.stat_result) -> dict | str:
            if self._too_big(st.st_size, 0):
                return "too big"  # never read: the snapshots leave it out too
            try:
                return {"sha256": hash_file(self.workspace / rel), "size": st.st_size,
                        "mode": stat.S_IMODE(st.st_mode)}
            except OSError:
                return "cannot be read"

        scan: Scan = self._scanner.scan(read, time.time_ns())
        return {"files": scan.files, "dirs": scan.dirs, "symlinks": scan.links}

    def restore_file(self, rel: str, info: dict) -> None:
        """Write one manifest entry (``files[rel]``) back into the workspace."""
        write_from_blob(self.paths.blob(info["sha256"]), self.workspace / rel, info)


def restore(log_dir: Path, step: int, to_dir: Path) -> Path:
    """Rebuild the workspace of ``step`` in ``to_dir`` (new or empty), byte for byte."""
    env_log = _env_log(log_dir)
    manifest = load_manifest(env_log, step)
    to_dir = Path(to_dir)
    if to_dir.exists() and (not to_dir.is_dir() or any(to_dir.iterdir())):
        raise SnapshotError(f"{to_dir} exists and is not an empty folder; choose a new folder to restore into")
    to_dir.mkdir(parents=True, exist_ok=True)
    paths = EnvLog(env_log)
    for rel in sorted(manifest["dirs"]):
        (to_dir / rel).mkdir(parents=True, exist_ok=True)
    for rel, info in manifest["files"].items():
        write_from_blob(paths.blob(info["sha256"]), to_dir / rel, info)
    for rel, info in manifest["symlinks"].items():
        (to_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(info["target"], to_dir / rel)
    for rel, info in sorted(manifest["dirs"].items(), reverse=True):
        os.chmod(to_dir / rel, info["mode"])
    if manifest.get("skipped"):
        logger.warning("Step %d's snapshot left out %d path(s): %s", step, len(manifest["skipped"]),
                       ", ".join(sorted(manifest["skipped"])[:5]))
    return to_dir


def diff_steps(log_dir: Path, a: int, b: int) -> dict[str, list[str]]:
    """What changed in the workspace between the snapshots of steps ``a`` and ``b``."""
    env_log = _env_log(log_dir)
    return diff_manifests(load_manifest(env_log, a), load_manifest(env_log, b))
