"""Incremental snapshots (issue 13): after any mix of changes, a snapshot built from the last
one's cache equals one taken from scratch, on disk (deltas) as in memory, and every step
still restores byte for byte."""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from mlr_copilot.env.snapshots import SnapshotStore, diff_steps, load_manifest, restore

SECTIONS = ("files", "dirs", "symlinks", "skipped")


def tree(root: Path) -> dict[str, tuple]:
    """What a restore must reproduce: kinds, bytes, modes, mtimes, link targets (FIFOs are
    left out of snapshots, so out of this too)."""
    out = {}
    for p in root.rglob("*"):
        rel, st = p.relative_to(root).as_posix(), p.lstat()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", st.st_mode & 0o7777)
        elif p.is_file():
            out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode & 0o7777, st.st_mtime_ns)
    return out


def _files(ws: Path) -> list[Path]:
    return sorted(p for p in ws.rglob("*") if p.is_file() and not p.is_symlink())


def _dirs(ws: Path) -> list[Path]:
    return sorted(p for p in ws.rglob("*") if p.is_dir() and not p.is_symlink())


def _mutate(ws: Path, rng: random.Random, n: int) -> None:
    """``n`` random changes of the kinds scripts make: writes, in-place rewrites that keep the
    size and mtime, deletions, renames, kind changes, links, modes, FIFOs."""
    for _ in range(n):
        files, dirs = _files(ws), [ws] + _dirs(ws)
        op = rng.choice(["new", "rewrite", "same_size", "delete", "rename", "file_to_dir", "dir_to_file",
                         "link", "chmod", "fifo", "move_dir", "new_dir"])
        where = rng.choice(dirs)
        if op == "new" or not files:
            (where / f"n{rng.randrange(10**6)}.txt").write_text("new " * rng.randrange(5))
        elif op == "rewrite":
            rng.choice(files).write_text(f"rewritten {rng.random()}")
        elif op == "same_size":
            f = rng.choice(files)
            st = f.stat()
            f.write_bytes(bytes(rng.randrange(256) for _ in range(st.st_size)))
            os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        elif op == "delete":
            rng.choice(files).unlink()
        elif op == "rename":
            f = rng.choice(files)
            f.rename(where / f"r{rng.randrange(10**6)}_{f.name}")
        elif op == "file_to_dir":
            f = rng.choice(files)
            f.unlink()
            f.mkdir()
            (f / "inside.txt").write_text("inside")
        elif op == "dir_to_file" and len(dirs) > 1:
            d = rng.choice(dirs[1:])
            shutil.rmtree(d)
            d.write_text("was a folder")
        elif op == "link":
            f = rng.choice(files)
            f.unlink()
            os.symlink("somewhere/else", f)
        elif op == "chmod":
            os.chmod(rng.choice(files), rng.choice([0o600, 0o644, 0o755]))
        elif op == "fifo":
            os.mkfifo(where / f"pipe{rng.randrange(10**6)}")
        elif op == "move_dir" and len(dirs) > 1:
            d = rng.choice(dirs[1:])
            d.rename(ws / f"moved{rng.randrange(10**6)}")
        elif op == "new_dir":
            (where / f"nd{rng.randrange(10**6)}" / "deep").mkdir(parents=True)
            (where / "x.txt").write_text("x")


def _sections(m: dict) -> dict:
    return {s: m[s] for s in SECTIONS}


@pytest.mark.parametrize("seed", range(4))
def test_incremental_snapshots_equal_snapshots_from_scratch(tmp_path, seed, record_property):
    rng = random.Random(seed)
    ws = tmp_path / "ws"
    for i in range(60):
        d = ws / f"d{i % 6}" / f"e{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text(f"file {i}\n" * (i % 4))
    store = SnapshotStore(tmp_path / "env_log", ws)
    trees = {0: tree(ws)}
    store.take(0)
    time.sleep(1.1)  # the first files age past the racy window: later snapshots take them from the cache
    for step in range(1, 16):
        _mutate(ws, rng, rng.randrange(1, 6))
        m = store.take(step)
        if rng.random() < 0.4:  # the agent loop takes a step's snapshot again after its research log
            _mutate(ws, rng, rng.randrange(0, 3))
            m = store.take(step)
        scratch = SnapshotStore(tmp_path / f"scratch_{step}", ws).take(0)
        assert _sections(m) == _sections(scratch), step
        assert _sections(load_manifest(tmp_path / "env_log", step)) == _sections(scratch), step
        assert m["totals"]["bytes"] == sum(f["size"] for f in m["files"].values())
        assert store.take_scan()["files"].keys() == scratch["files"].keys()
        trees[step] = tree(ws)
    for step, expected in trees.items():
        assert tree(restore(tmp_path / "env_log", step, tmp_path / f"restored_{step}")) == expected, step
    assert diff_steps(tmp_path, 15, 15) == {"added": [], "removed": [], "changed": []}
    record_property("cases", len(trees) - 1)  # snapshots compared with one taken from scratch


def test_a_step_that_changes_nothing_reads_nothing_and_writes_a_small_delta(tmp_path):
    ws = tmp_path / "ws"
    for i in range(500):
        (ws / f"d{i // 50}").mkdir(parents=True, exist_ok=True)
        (ws / f"d{i // 50}" / f"f{i}.txt").write_text(str(i))
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    coarse = (ws / "d0" / "f0.txt").stat().st_ctime_ns % 10**9 == 0
    time.sleep(1.1 if coarse else 0.15)  # past the window in which a rewrite could go unseen
    store.take(1)
    m2 = store.take(2)
    assert m2["totals"]["hashed_bytes"] == 0 and store.last_manifest_bytes < 600
    os.rename(ws / "d3", ws / "d3_renamed")  # a folder moved: its 50 files are new paths
    m3 = store.take(3)
    assert m3["totals"]["hashed_bytes"] == sum(len(str(i)) for i in range(150, 200))
    assert diff_steps(tmp_path, 2, 3)["removed"] == sorted(f"d3/f{i}.txt" for i in range(150, 200))
