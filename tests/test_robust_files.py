"""Issue 13, first half: what a script can do to files must never hang, crash or silently
corrupt a run (research log replaced, FIFOs and devices, huge and sparse files, very long
paths, many files). Each test is one row of the issue's table; those that used to hang
run under ``within`` so a regression fails instead of hanging CI."""
from __future__ import annotations

import json
import os
import stat
import tracemalloc
from pathlib import Path

import pytest

from mlr_copilot.env.workspace_copy import copy_workspace
from mlr_copilot.env.snapshots import SnapshotStore, load_manifest, restore
from mlr_copilot.logs import read_jsonl

from robust_helpers import GUARD_S, make_env, toy_run, within


def _observations(run_dir: Path) -> list[str]:
    return [r["full_observation"] for r in read_jsonl(run_dir / "agent_log" / "full_log.jsonl")
            if r.get("type") == "step"]


def _replace_log_with(tmp_path: Path, code: str, note: str):
    (tmp_path / "project").mkdir()
    from reliability_project import make_project
    make_project(tmp_path / "project")
    ws = tmp_path / "project" / "workspaces" / "toy"
    (ws / "hostile.py").write_text("import os, shutil\nlog = 'research_log.log'\n"
                                   "if os.path.isdir(log) and not os.path.islink(log): shutil.rmtree(log)\n"
                                   "elif os.path.lexists(log): os.remove(log)\n" + code)
    steps = [("List Files", {"dir_path": "."}), ("Execute Script", {"script_name": "hostile.py"}),
             ("List Files", {"dir_path": "."})]
    result = within(GUARD_S, lambda: toy_run(tmp_path, steps))
    assert result.status == "final_answer", result.message
    obs = _observations(result.run_dir)
    assert note in obs[1] and "it was recreated from the last snapshot" in obs[1], obs[1]
    log = result.run_dir / "workspace" / "research_log.log"
    assert stat.S_ISREG(os.lstat(log).st_mode)
    text = log.read_text()
    # step 1's entry came back from the snapshot; the entries of the later steps follow
    assert all(f"[Step {n}]" in text for n in (1, 2, 3)), text
    return result


def test_research_log_replaced_by_a_fifo_is_reported_and_recreated(tmp_path):
    _replace_log_with(tmp_path, "os.mkfifo(log)\n", "replaced by a named pipe (FIFO)")


def test_research_log_replaced_by_a_directory_is_moved_aside(tmp_path):
    result = _replace_log_with(tmp_path, "os.mkdir(log)\nopen(log + '/x', 'w').write('x')\n",
                               "replaced by a directory (the directory was moved to research_log.log.moved-1)")
    assert (result.run_dir / "workspace" / "research_log.log.moved-1" / "x").read_text() == "x"


def test_research_log_linked_out_of_the_workspace_never_kills_the_run(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    result = _replace_log_with(tmp_path, f"os.symlink({str(outside)!r}, log)\n", "replaced by a symbolic link")
    assert outside.read_text() == "keep me\n"  # the link's target is never written
    # a resume meeting the link again (restored from a snapshot) does not die on it either
    env = make_env(tmp_path / "again")
    os.symlink(outside, env.workspace / "research_log.log")
    assert env.research_log.read() == "" and outside.read_text() == "keep me\n"
    assert stat.S_ISREG(os.lstat(env.workspace / "research_log.log").st_mode)


@pytest.mark.parametrize("action,args", [
    ("Inspect Script Lines", {"start_line_number": 1, "end_line_number": 5}),
    ("Understand File", {"things_to_look_for": "anything"}),
    ("Edit Script (AI)", {"edit_instruction": "add a line", "save_name": "out.py"}),
    ("Read File", {}), ("Copy File", {"destination": "copy.py"}),
])
def test_file_actions_refuse_a_fifo_without_blocking(tmp_path, action, args):
    env = make_env(tmp_path)
    os.mkfifo(env.workspace / "pipe.py")
    key = "file_name" if action in ("Understand File", "Read File") else \
        "source" if action == "Copy File" else "script_name"
    obs = within(10, lambda: env.execute(action, {key: "pipe.py", **args}, step=1))
    assert not obs.ok and "named pipe" in obs.text, obs.text
    assert str(env.workspace) not in obs.text and str(tmp_path) not in obs.text  # relative names only


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_a_character_device_is_refused_not_read(tmp_path):
    env = make_env(tmp_path)
    os.mknod(env.workspace / "zero.py", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero
    for action in ("Inspect Script Lines", "Read File"):
        key = "script_name" if action.startswith("Inspect") else "file_name"
        extra = {"start_line_number": 1, "end_line_number": 3} if action.startswith("Inspect") else {}
        obs = within(10, lambda: env.execute(action, {key: "zero.py", **extra}, step=1))
        assert not obs.ok and "character device" in obs.text, obs.text


def test_inspect_script_lines_reads_a_bounded_window_of_a_huge_file(tmp_path):
    env = make_env(tmp_path)
    with open(env.workspace / "big.py", "w") as f:
        for i in range(1, 1_000_001):  # about 20 MB
            f.write(f"x_{i} = {i} * 2  # padding\n")
    tracemalloc.start()
    obs = env.execute("Inspect Script Lines", {"script_name": "big.py", "start_line_number": 500_000,
                                               "end_line_number": 500_002}, step=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert obs.ok and "the file ends at line 1000000" in obs.text and "x_500001 = 500001" in obs.text
    assert peak < 8 << 20, f"{peak:,} bytes held to show three lines"


def test_a_huge_sparse_file_is_skipped_listed_and_copied_sparse(tmp_path):
    env = make_env(tmp_path)
    with open(env.workspace / "huge.bin", "wb") as f:
        f.truncate(5 << 30)  # 5 GB apparent, nothing on disk
    obs = within(GUARD_S, lambda: env.execute("List Files", {"dir_path": "."}, step=1))
    assert "left out 1 path(s): huge.bin (5,368,709,120 bytes, larger than the snapshot limit" in obs.text
    manifest = load_manifest(env.env_log_dir, 1)
    assert "huge.bin" in manifest["skipped"] and "huge.bin" not in manifest["files"]
    blobs = sum(p.stat().st_size for p in (env.env_log_dir / "snapshots" / "blobs").rglob("*") if p.is_file())
    assert blobs < 1 << 20
    again = env.execute("List Files", {"dir_path": "."}, step=2)
    assert "left out" not in again.text  # said once, when it appeared
    # a sparse file of the task template stays sparse in the run's copy
    template = tmp_path / "template"
    template.mkdir()
    with open(template / "sparse.bin", "wb") as f:
        f.truncate(2 << 30)
        f.write(b"head")
    copy_workspace(template, tmp_path / "copy")
    st = os.stat(tmp_path / "copy" / "sparse.bin")
    assert st.st_size == 2 << 30 and st.st_blocks * 512 <= 2 << 20  # one 1 MiB chunk holds "head"


def test_a_path_too_long_for_the_system_is_listed_as_skipped(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    fd = os.open(ws, os.O_RDONLY)
    for _ in range(30):  # 30 folders of 200 characters: a path of 6,000+ characters
        os.mkdir("d" * 200, dir_fd=fd)
        inner = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)
    store = SnapshotStore(tmp_path / "env_log", ws)
    manifest = store.take(0)
    (why,) = [w for p, w in manifest["skipped"].items() if p.startswith("d" * 200)]
    assert "longer than the system allows" in why
    restore(tmp_path / "env_log", 0, tmp_path / "restored")  # what it could keep, and a warning


def test_manifests_are_incremental_on_a_many_file_workspace(tmp_path):
    ws = tmp_path / "ws"
    for i in range(3000):
        d = ws / f"d{i // 100:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i % 100:02d}.txt").write_text(str(i))
    store = SnapshotStore(tmp_path / "env_log", ws)
    store.take(0)
    full = store.last_manifest_bytes
    for step in range(1, 6):
        (ws / f"new_{step}.txt").write_text("x")
        (ws / "d00" / "f00.txt").unlink(missing_ok=True)
        store.take(step)
        assert store.last_manifest_bytes < full / 50, (step, store.last_manifest_bytes, full)
    raw = json.loads((tmp_path / "env_log" / "snapshots" / "manifests" / "step_0005.json").read_text())
    assert raw["base"] == 4 and "files" not in raw
    m = load_manifest(tmp_path / "env_log", 5)
    on_disk = {p.relative_to(ws).as_posix() for p in ws.rglob("*") if p.is_file()}
    assert set(m["files"]) == on_disk and len(on_disk) == 3004
    restore(tmp_path / "env_log", 3, tmp_path / "three")
    assert (tmp_path / "three" / "new_3.txt").exists() and not (tmp_path / "three" / "new_4.txt").exists()
