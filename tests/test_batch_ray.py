"""`mlr-copilot batch --ray`: runs as Ray tasks on a real Ray head started on 127.0.0.1.

The head (`ray start --head`, 2 CPUs, no dashboard) is started once for this module in its own
process group and stopped at the end by ending that group. The runs are real `mlr-copilot run`
processes driven by a scripted researcher, as in test_batch.py.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mlr_copilot.batch import BatchOptions, run_batch
from mlr_copilot.batch_ray import check_address, place_run
from mlr_copilot.cli import main
from mlr_copilot.errors import ConfigError
from task_helpers import copy_task_tree
from test_batch import respond

SECRET = "sk-test-never-in-task-args-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).with_name("ray")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = {**os.environ, "OPENAI_API_KEY": SECRET}  # what workers may see: the head's environment
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--port", str(port), "--num-cpus", "2",
                             "--include-dashboard=false", "--node-ip-address", "127.0.0.1", "--temp-dir", temp,
                             "--disable-usage-stats"], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = head.communicate(timeout=120)
    try:
        assert head.returncode == 0, out
        yield f"127.0.0.1:{port}"
    finally:  # stop the head: every process `ray start` left behind is in its process group
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def project(tmp_path):
    root = copy_task_tree(tmp_path / "project")
    script = tmp_path / "researcher.json"
    script.write_text(json.dumps({"main": [
        respond("measure the baseline", "Execute Script", {"script_name": "train.py"}),
        respond("report", "Final Answer", {"final_answer": "Baseline measured."}),
    ]}))
    return root, script


def _runs(log_root: Path) -> dict[str, list[list[str]]]:
    """Per task, the sorted file lists of its run directories (the batch folder left out)."""
    runs: dict[str, list[list[str]]] = {}
    for task_dir in sorted(p for p in log_root.iterdir() if p.is_dir() and not p.name.startswith("batch")):
        for run in sorted(task_dir.iterdir()):
            files = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()
                           and "__pycache__" not in p.parts)
            runs.setdefault(task_dir.name, []).append(files)
    return runs


def _evals(out: Path) -> list[tuple]:
    jobs = json.loads((out / "batch.json").read_text())["jobs"]
    rows = []
    for j in jobs:
        ev = json.loads((Path(j["run_dir"]) / "eval.json").read_text())
        rows.append((ev["task"], ev["status"], ev["valid"], ev["final_answer_given"], round(ev["score"], 6),
                     ev["success"]))
    return sorted(rows)


def test_ray_batch_looks_exactly_like_a_local_batch(ray_head, project, tmp_path, monkeypatch, capsys):
    root, script = project
    common = dict(tasks=("digits", "wine"), llms=(f"scripted:{script}",), trials=2, max_steps=4,
                  sandbox="none", root=str(root))
    run_batch(BatchOptions(**common, workers=2, log_root=str(tmp_path / "local"), out=str(tmp_path / "local" / "batch")))
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    seen = []
    run_batch(BatchOptions(**common, ray="auto", ray_files="ship", log_root=str(tmp_path / "ray"),
                           out=str(tmp_path / "ray" / "batch")), progress=lambda job, counts: seen.append(counts))
    local, ray = tmp_path / "local", tmp_path / "ray"
    assert _runs(ray) == _runs(local) and len(_runs(ray)["digits"]) == 2
    assert sorted(os.listdir(ray / "batch")) == sorted(os.listdir(local / "batch"))
    assert _evals(ray / "batch") == _evals(local / "batch")
    assert not (ray / ".ray-attempts").exists()  # the shipped runs were unpacked and moved into place
    batch = json.loads((ray / "batch" / "batch.json").read_text())
    assert not batch["crashed"] and all(j["node"] for j in batch["jobs"])
    assert seen[-1] == {"finished": 4, "running": 0, "queued": 0}
    assert all(sum(c.values()) == 4 for c in seen)
    run_dir = Path(batch["jobs"][0]["run_dir"])
    info = json.loads((run_dir / "run.json").read_text())
    assert info["workspace"] == str(run_dir / "workspace") and info["options"]["log_root"] == str(ray)
    assert SECRET not in (ray / "batch" / "batch.json").read_text()
    assert main(["show", str(run_dir)]) == 0 and "Final Answer" in capsys.readouterr().out
    assert main(["eval", str(run_dir), "--root", str(root)]) == 0


HANG = """import os, time
open({started!r}, "w").close()
deadline = time.time() + 150
while not os.path.exists({release!r}) and time.time() < deadline:
    time.sleep(0.2)
print("released")
"""


def _procs():
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            yield int(pid), ppid, [c.decode(errors="replace") for c in cmd]


def _kill_worker_running(task: str, marker: str, skip: set, deadline: float) -> int:
    """SIGKILL the Ray worker whose `mlr-copilot run TASK` child has ``marker`` in its command line."""
    while time.monotonic() < deadline:
        for pid, ppid, cmd in _procs():
            if "mlr_copilot" in cmd and cmd[cmd.index("mlr_copilot") + 1:][:2] == ["run", task] and any(marker in c for c in cmd) and ppid not in skip:
                parent = Path(f"/proc/{ppid}/cmdline").read_bytes()
                assert parent.startswith(b"ray::"), parent  # the run's parent is the Ray worker
                os.kill(ppid, signal.SIGKILL)
                return ppid
        time.sleep(0.2)
    raise AssertionError("the run to kill never started")


def test_a_dead_worker_is_that_runs_failure_and_the_rest_completes(ray_head, project, tmp_path):
    root, script = project
    release = tmp_path / "release"
    started = tmp_path / "started"  # the wine run is in its Execute Script step
    (root / "workspaces" / "wine" / "train.py").write_text(HANG.format(release=str(release), started=str(started)))
    log_root = tmp_path / "logs"
    env = {**os.environ, "RAY_ADDRESS": ray_head}
    batch = subprocess.Popen([sys.executable, "-m", "mlr_copilot", "batch", "--tasks", "digits,wine",
                              "--llm", f"scripted:{script}", "--max-steps", "4", "--sandbox", "none",
                              "--root", str(root), "--log-root", str(log_root), "--out", str(tmp_path / "out"),
                              "--ray", "auto", "--ray-retries", "0"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        _kill_worker_running("wine", f"{log_root}/.ray-attempts", set(), deadline)
        out, err = batch.communicate(timeout=400)
    finally:
        release.touch()  # frees the orphaned training scripts
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 0, err
    result = json.loads((tmp_path / "out" / "batch.json").read_text())
    jobs = {j["task"]: j for j in result["jobs"]}
    assert jobs["digits"]["error"] is None
    assert json.loads((Path(jobs["digits"]["run_dir"]) / "run.json").read_text())["status"] == "final_answer"
    assert [c["task"] for c in result["crashed"]] == ["wine"]
    assert "died" in jobs["wine"]["error"].lower() or "crash" in jobs["wine"]["error"].lower()
    # shared storage: the killed run's directory is kept, once, where a local batch puts it
    wine_runs = list((log_root / "wine").iterdir())
    assert [str(p) for p in wine_runs] == [jobs["wine"]["run_dir"]]
    assert json.loads((wine_runs[0] / "run.json").read_text())["status"] == "running"  # resumable
    assert not (log_root / ".ray-attempts").exists()
    assert "wine" in out and "finished" in err
    assert SECRET not in out + err + (tmp_path / "out" / "batch.json").read_text()


@pytest.mark.parametrize("bad", ["", "cluster", "ray://host", "host:99999", "ray://:80"])
def test_bad_ray_addresses_are_clear_errors(bad):
    with pytest.raises(ConfigError, match="--ray"):
        check_address(bad)


def test_ray_options_are_checked_before_anything_starts(tmp_path, capsys):
    code = main(["batch", "--tasks", "digits", "--llm", "scripted:x", "--ray", "auto", "--run-cpus", "0",
                 "--log-root", str(tmp_path)])
    assert code != 0 and "--run-cpus" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_place_run_never_overwrites_and_points_run_json_at_its_new_home(tmp_path):
    log_root = tmp_path / "logs"
    (log_root / "digits" / "2024-01-01T00-00-00Z").mkdir(parents=True)  # a run of the same second
    src = tmp_path / "attempt" / "digits" / "2024-01-01T00-00-00Z"
    (src / "workspace").mkdir(parents=True)
    (src / "run.json").write_text(json.dumps({"workspace": "/elsewhere/digits/2024-01-01T00-00-00Z/workspace",
                                              "options": {"log_root": str(tmp_path / "attempt")}}))
    dest = place_run(src, log_root)
    assert dest == log_root / "digits" / "2024-01-01T00-00-00Z-1" and not src.exists()
    info = json.loads((dest / "run.json").read_text())
    assert info == {"workspace": str(dest / "workspace"), "options": {"log_root": str(log_root)}}
