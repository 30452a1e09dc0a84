"""Run directories and the private copy of the task workspace."""
from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

import pytest

from mlr_copilot.env.workspace_copy import copy_workspace, prepare_workspace
from mlr_copilot.records import create_run_dir
from mlr_copilot.errors import ConfigError


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_symlink():
            h.update(os.readlink(p).encode())
        elif p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def task_ws(tmp_path):
    ws = tmp_path / "workspaces" / "cls"
    (ws / "data").mkdir(parents=True)
    (ws / "train.py").write_text("print(1)\n")
    os.chmod(ws / "train.py", 0o755)
    (ws / "data" / "train.csv").write_text("a\n1\n")
    os.symlink("data/train.csv", ws / "inside_link.csv")
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", ws / "outside_link")
    os.symlink(ws / "data", ws / "abs_inside_dir")  # absolute, but pointing inside
    return ws


def test_run_dir_name_is_a_utc_timestamp_without_colons(tmp_path):
    d = create_run_dir(tmp_path / "logs", "cls", now=0)
    assert d == tmp_path / "logs" / "cls" / "1970-01-01T00-00-00Z" and d.is_dir()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", create_run_dir(tmp_path / "logs", "cls").name)


def test_runs_in_the_same_second_get_distinct_dirs(tmp_path):
    made: list[Path] = []
    lock = threading.Lock()

    def one():
        d = create_run_dir(tmp_path / "logs", "cls", now=1_700_000_000)
        with lock:
            made.append(d)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 16
    assert {d.name for d in made} == {"2023-11-14T22-13-20Z"} | {f"2023-11-14T22-13-20Z-{i}" for i in range(1, 16)}


@pytest.mark.parametrize("bad", ["", "..", "a/b", "../x"])
def test_bad_task_names(tmp_path, bad):
    with pytest.raises(ConfigError, match="Invalid task name"):
        create_run_dir(tmp_path, bad)


def test_copy_leaves_the_source_untouched_and_links_inside(tmp_path, task_ws):
    before = digest(task_ws)
    run = create_run_dir(tmp_path / "logs", "cls")
    ws = prepare_workspace(task_ws, run)
    assert ws == run / "workspace"
    assert (ws / "train.py").read_text() == "print(1)\n" and os.stat(ws / "train.py").st_mode & 0o777 == 0o755
    assert os.readlink(ws / "inside_link.csv") == "data/train.csv"
    assert not os.path.lexists(ws / "outside_link")  # would have let the agent out
    assert os.readlink(ws / "abs_inside_dir") == "data"  # made relative: points into the copy
    (ws / "train.py").write_text("changed")
    (ws / "abs_inside_dir" / "train.csv").write_text("changed")
    assert digest(task_ws) == before


def test_work_dir_option(tmp_path, task_ws):
    run = create_run_dir(tmp_path / "logs", "cls")
    wd = tmp_path / "mywork"
    assert prepare_workspace(task_ws, run, wd) == wd and (wd / "train.py").exists()
    (wd / "train.py").write_text("my progress")
    assert prepare_workspace(task_ws, run, wd) == wd  # non-empty: used as it is
    assert (wd / "train.py").read_text() == "my progress"
    with pytest.raises(ConfigError, match="task workspace itself"):
        prepare_workspace(task_ws, run, task_ws)
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        prepare_workspace(task_ws, run, tmp_path / "afile")


def test_copy_errors(tmp_path, task_ws):
    with pytest.raises(ConfigError, match="does not exist"):
        copy_workspace(tmp_path / "missing", tmp_path / "dst")
    with pytest.raises(ConfigError, match="one contains the other"):
        copy_workspace(task_ws, task_ws / "inner")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ConfigError, match="not empty"):
        copy_workspace(task_ws, tmp_path / "full")
