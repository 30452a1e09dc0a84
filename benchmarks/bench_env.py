"""Experiment-engine overhead: per-step cost of a cheap action and snapshot storage.

Workspace: 20 small code files plus 100 MB of (incompressible) data. Prints
  1. the median wall time of one List Files step through Environment.execute, which
     includes validation, the trace line (fsynced) and the workspace snapshot;
  2. the bytes the snapshots take on disk after 50 steps that each edit one script,
     against the workspace size.
  3. with --many-files N (issue 13, default 100,000): a workspace of N small files in
     100-file folders; the median time (wall and CPU) of one step and the manifest bytes
     written per step (manifests are incremental: only what changed is written).
Targets (issue 2): median <= 20 ms; snapshot storage <= 1.1 x the workspace size.
Target (issue 13): a 100,000-file workspace costs well under a second per step.

    python benchmarks/bench_env.py [--data-mb 100] [--steps 50] [--many-files 100000] [--many-steps 20]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlr_copilot.env.context import EnvConfig  # noqa: E402
from mlr_copilot.env.environment import Environment  # noqa: E402
from mlr_copilot.records import EnvLog  # noqa: E402


def disk_bytes(root: Path) -> tuple[int, int]:
    """(bytes allocated on disk, apparent size) of every file below root."""
    alloc = size = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            st = os.lstat(os.path.join(dirpath, f))
            alloc += st.st_blocks * 512
            size += st.st_size
    return alloc, size


def make_workspace(ws: Path, data_mb: int) -> None:
    (ws / "data").mkdir(parents=True)
    for i in range(20):
        body = "".join(f"def f{i}_{j}(x):\n    return x * {j} + {i}\n\n" for j in range(40))
        (ws / f"module_{i:02d}.py").write_text(f'"""Module {i}."""\nimport math\n\n{body}')
    with open(ws / "data" / "train.bin", "wb") as f:
        for _ in range(data_mb):
            f.write(os.urandom(1 << 20))


def many_files_case(n_files: int, steps: int) -> None:
    """Median step time and manifest bytes per step on a workspace of ``n_files`` small files."""
    with tempfile.TemporaryDirectory(prefix="bench_env_many_") as tmp:
        root = Path(tmp)
        ws = root / "ws"
        for i in range(n_files):
            d = ws / f"d{i // 100:04d}"
            if i % 100 == 0:
                d.mkdir(parents=True)
            (d / f"f{i % 100:03d}.txt").write_text(f"{i}\n")
        t = time.perf_counter()
        env = Environment(EnvConfig(sandbox="none"), workspace=ws, env_log_dir=root / "env_log",
                          offered=["List Files", "Write File"])
        first = time.perf_counter() - t
        time.sleep(0.2)
        env_log = EnvLog(root / "env_log")
        times, cpu, sizes = [], [], []
        for step in range(1, steps + 1):
            t, c = time.perf_counter(), time.process_time()
            if step % 2:
                env.execute("List Files", {"dir_path": "."}, step=step)
            else:
                env.execute("Write File", {"file_name": f"notes_{step}.txt", "content": "x\n"}, step=step)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)  # CPU time: what a loaded machine distorts least
            sizes.append(env_log.manifest(step).stat().st_size)
        full = env_log.manifest(0).stat().st_size
        print(f"{n_files:,}-file workspace: first snapshot {first:.2f} s (full manifest {full / 1e6:.1f} MB); "
              f"{steps} steps (List Files / Write File alternating): median {statistics.median(times) * 1000:.0f} ms "
              f"per step (CPU time {statistics.median(cpu) * 1000:.0f} ms), max {max(times) * 1000:.0f} ms; "
              f"manifest {statistics.median(sizes) / 1e3:.1f} kB per step (median); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs   [target: well under 1 s per step]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-mb", type=int, default=100)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--many-files", type=int, default=100_000, help="0 skips the many-files case")
    ap.add_argument("--many-steps", type=int, default=20)
    ap.add_argument("--only-many-files", action="store_true")
    a = ap.parse_args()
    if a.many_files:
        many_files_case(a.many_files, a.many_steps)
    if a.only_many_files:
        return
    with tempfile.TemporaryDirectory(prefix="bench_env_") as tmp:
        root = Path(tmp)
        ws = root / "ws"
        make_workspace(ws, a.data_mb)
        ws_alloc, ws_size = disk_bytes(ws)
        t = time.perf_counter()
        env = Environment(EnvConfig(sandbox="none"), workspace=ws, env_log_dir=root / "env_log",
                          offered=["List Files", "Write File"])
        first = time.perf_counter() - t
        time.sleep(0.2)  # let the fresh copy age past the snapshot's 'recently changed' window
        step = 0
        cheap = []
        for _ in range(a.steps):
            step += 1
            t = time.perf_counter()
            env.execute("List Files", {"dir_path": "."}, step=step)
            cheap.append(time.perf_counter() - t)
        edit = []
        for i in range(a.steps):
            step += 1
            name = f"module_{i % 20:02d}.py"
            content = (ws / name).read_text() + f"\n# edit {i}\nVALUE_{i} = {i}\n"
            t = time.perf_counter()
            env.execute("Write File", {"file_name": name, "content": content}, step=step)
            edit.append(time.perf_counter() - t)
        env_log = EnvLog(root / "env_log")
        snap_alloc, snap_size = disk_bytes(env_log.snapshots)
        man_alloc, _ = disk_bytes(env_log.manifests)
        back_alloc, _ = disk_bytes(env_log.backups)
        ms = [x * 1000 for x in cheap]
        print(f"workspace: 20 code files + {a.data_mb} MB data = {ws_size / 1e6:.1f} MB "
              f"({ws_alloc / 1e6:.1f} MB on disk)")
        print(f"initial snapshot (step 0, hashes and stores everything): {first * 1000:.0f} ms")
        print(f"cheap action (List Files) incl. trace + snapshot, {len(ms)} steps: median {statistics.median(ms):.2f} ms, "
              f"p90 {statistics.quantiles(ms, n=10)[-1]:.2f} ms, max {max(ms):.2f} ms   [target median <= 20 ms]")
        print(f"edit step (Write File on one script) incl. backup + snapshot: median "
              f"{statistics.median(edit) * 1000:.2f} ms")
        print(f"snapshot storage after {a.steps} cheap + {a.steps} editing steps: {snap_alloc / 1e6:.1f} MB on disk "
              f"({snap_size / 1e6:.1f} MB apparent; manifests {man_alloc / 1e6:.2f} MB) = "
              f"{snap_alloc / ws_alloc:.3f} x workspace   [target <= 1.1 x]")
        print(f"(undo backups, outside the snapshots: {back_alloc / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
