"""Per-step snapshots: exact restore, diff, dedup, and not re-reading unchanged files."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from mlr_copilot.env.snapshots import (SnapshotError, SnapshotStore, diff_steps, list_steps, load_manifest,
                                       restore)


def tree(root: Path) -> dict[str, tuple]:
    """Everything a restore must reproduce: kinds, bytes, modes, link targets."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode & 0o7777)
            else:
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode & 0o7777,
                            st.st_mtime_ns)
    return out


@pytest.fixture
def ws(tmp_path):
    ws = tmp_path / "ws"
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "empty_dir").mkdir()
    (ws / "train.py").write_text("print('v0')\n")
    (ws / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (ws / "data.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # streamed path (> 1 MiB)
    (ws / "copy_of_mod.py").write_text("x = 1\n")  # same content as mod.py: stored once
    (ws / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(ws / "run.sh", 0o755)
    os.chmod(ws / "src" / "pkg", 0o750)
    os.symlink("src/pkg/mod.py", ws / "link_to_mod")
    return ws


def test_restore_is_byte_for_byte_with_modes_and_links(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    before = tree(ws)
    (ws / "train.py").write_text("print('v1')\n")
    (ws / "new.txt").write_text("new")
    (ws / "src" / "pkg" / "mod.py").unlink()
    store.take(1)
    out0 = restore(tmp_path / "env_log", 0, tmp_path / "r0")
    assert tree(out0) == before
    out1 = restore(tmp_path, 1, tmp_path / "r1")  # a run dir holding env_log/ works too
    assert tree(out1) == tree(ws)


def test_identical_content_is_stored_once(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    m0 = store.take(0)
    blobs = [p for p in (tmp_path / "env_log/snapshots/blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 4  # 5 files, two of which share their content
    assert m0["totals"]["new_blob_bytes"] == sum(p.stat().st_size for p in blobs)
    m1 = store.take(1)
    assert m1["totals"]["new_blob_bytes"] == 0
    assert all(p.stat().st_mode & 0o222 == 0 for p in blobs)  # blobs are read-only


def test_unchanged_files_are_not_reread(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    coarse = (ws / "train.py").stat().st_ctime_ns % 10**9 == 0
    time.sleep(1.1 if coarse else 0.15)  # files age past the window where a rewrite could go unseen
    store.take(1)  # files seen within the window are re-read once
    m2 = store.take(2)
    assert m2["totals"]["hashed_bytes"] == 0
    (ws / "train.py").write_text("print('v2')\n")
    m3 = store.take(3)
    assert m3["totals"]["hashed_bytes"] == len("print('v2')\n")


def test_same_size_rewrite_within_the_same_tick_is_seen(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    st = (ws / "train.py").stat()
    (ws / "train.py").write_text("print('XX')\n")  # same size, maybe the same mtime
    os.utime(ws / "train.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    store.take(1)
    assert diff_steps(tmp_path / "env_log", 0, 1) == {"added": [], "removed": [], "changed": ["train.py"]}


def test_in_place_modification_cannot_corrupt_history(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    with open(ws / "data.bin", "r+b") as f:  # a script rewriting data in place
        f.write(b"CORRUPT")
    store.take(1)
    original = restore(tmp_path / "env_log", 0, tmp_path / "r")
    assert (original / "data.bin").read_bytes()[:7] != b"CORRUPT"
    assert diff_steps(tmp_path / "env_log", 0, 1)["changed"] == ["data.bin"]


def test_diff_steps(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    (ws / "train.py").write_text("changed\n")
    (ws / "added.py").write_text("")
    (ws / "copy_of_mod.py").unlink()
    os.chmod(ws / "src" / "pkg" / "mod.py", 0o600)
    store.take(1)
    assert diff_steps(tmp_path / "env_log", 0, 1) == {
        "added": ["added.py"], "removed": ["copy_of_mod.py"], "changed": ["src/pkg/mod.py", "train.py"]}
    assert diff_steps(tmp_path / "env_log", 1, 1) == {"added": [], "removed": [], "changed": []}


def test_sync_workspace_goes_back_to_a_step(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    before = tree(ws)
    (ws / "train.py").write_text("broken\n")
    (ws / "junk").mkdir()
    (ws / "junk" / "x").write_text("x")
    (ws / "empty_dir").rmdir()
    (ws / "link_to_mod").unlink()
    (ws / "link_to_mod").write_text("now a file")
    changes = store.sync_workspace(0)
    assert tree(ws) == before
    assert "train.py" in changes["changed"] and "junk/x" in changes["removed"]


def test_restore_refuses_bad_requests(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    with pytest.raises(SnapshotError, match="no snapshot of step 7.*steps available: 0"):
        restore(tmp_path / "env_log", 7, tmp_path / "r")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(SnapshotError, match="not an empty folder"):
        restore(tmp_path / "env_log", 0, tmp_path / "full")
    with pytest.raises(SnapshotError, match="No snapshots found"):
        restore(tmp_path / "nowhere", 0, tmp_path / "r")


def test_damaged_blob_is_detected(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    m = store.take(0)
    blob = tmp_path / "env_log/snapshots/blobs" / m["files"]["train.py"]["sha256"][:2] / m["files"]["train.py"]["sha256"]
    os.chmod(blob, 0o644)
    blob.write_text("tampered")
    with pytest.raises(SnapshotError, match="damaged"):
        restore(tmp_path / "env_log", 0, tmp_path / "r")


def test_special_files_are_skipped_and_listed(tmp_path, ws):
    os.mkfifo(ws / "pipe")
    store = SnapshotStore(tmp_path / "env_log", ws)
    m = store.take(0)
    assert "pipe" in m["skipped"] and "pipe" not in m["files"]
    assert list_steps(tmp_path / "env_log") == [0]
    assert load_manifest(tmp_path / "env_log", 0)["step"] == 0


def test_env_log_inside_the_workspace_is_not_snapshotted(tmp_path, ws):
    store = SnapshotStore(ws / "logs" / "env_log", ws)
    m = store.take(0)
    assert not any(p.startswith("logs/env_log") for p in m["files"])


def test_files_over_the_size_limit_are_listed_not_stored(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws, max_blob_bytes=1024 * 1024)
    m = store.take(0)
    assert "data.bin" in m["skipped"] and "data.bin" not in m["files"]


def test_last_complete_step_skips_a_damaged_manifest(tmp_path, ws):
    from mlr_copilot.env.snapshots import last_complete_step, manifest_path
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    (ws / "train.py").write_text("v1\n")
    m1 = store.take(1)
    assert last_complete_step(tmp_path) == 1
    manifest_path(tmp_path / "env_log", 1).write_text('{"files": {"train.py": {"sha')  # torn by a power cut
    assert last_complete_step(tmp_path) == 0
    store.take(2)
    blob = tmp_path / "env_log/snapshots/blobs" / m1["files"]["train.py"]["sha256"][:2] / m1["files"]["train.py"]["sha256"]
    blob.unlink()  # content of step 2 lost
    assert last_complete_step(tmp_path) == 0
    assert last_complete_step(tmp_path / "nowhere") is None


def test_restoring_a_file_over_a_directory_replaces_the_directory(tmp_path, ws):
    store = SnapshotStore(tmp_path / "env_log", ws)
    info = store.take(0)["files"]["train.py"]
    (ws / "train.py").unlink()
    (ws / "train.py").mkdir()
    (ws / "train.py" / "inner.txt").write_text("x")
    store.restore_file("train.py", info)
    assert (ws / "train.py").read_text() == "print('v0')\n"
