"""Helpers for the task and evaluation tests: a private copy of the task tree, fake runs.

The repository's problems/, tasks/ and workspaces/ are copied (without generated data and
answers) into a temporary root, so tests never write into the checkout. ``make_run`` builds
a run directory with the layout the agent loop writes (workspace/, run.json, agent_log/,
env_log/ snapshots taken by the real SnapshotStore): it is test data, not a stand-in for code.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OFFLINE_TASKS = ("digits", "wine", "diabetes")
SEED_TASKS = ("cifar10", "imdb", "feedback", "babylm")


def copy_task_tree(dest: Path) -> Path:
    """problems/, tasks/ and workspaces/ of the repository, minus generated data and answers."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "problems", dest / "problems")
    shutil.copytree(REPO / "tasks", dest / "tasks", ignore=shutil.ignore_patterns("answers", "__pycache__"))
    shutil.copytree(REPO / "workspaces", dest / "workspaces",
                    ignore=shutil.ignore_patterns("data", "submission.csv", "__pycache__"))
    return dest


def run_script(workspace: Path, source: str, name: str = "train.py", timeout: float = 120) -> None:
    """Write ``source`` as ``name`` in ``workspace`` and run it there, as Execute Script would."""
    (workspace / name).write_text(source, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-u", name], cwd=workspace, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def make_run(log_root: Path, task, *, name: str = "2024-01-01T00-00-00", llm: str = "scripted",
             status: str = "final_answer", final_answer: str | None = "Done: the model improved.",
             steps: list[str] | None = None, totals: dict | None = None, run_json: bool = True) -> Path:
    """A run directory of ``task``: workspace copied from the task, then each script of ``steps``
    run in it and snapshotted as steps 1..n (step 0 is the untouched copy)."""
    from mlr_copilot.env.snapshots import SnapshotStore

    run_dir = log_root / task.name / name
    workspace = run_dir / "workspace"
    shutil.copytree(task.workspace_path, workspace)
    store = SnapshotStore(run_dir / "env_log", workspace)
    store.take(0)
    records = []
    for i, source in enumerate(steps or [], start=1):
        if source is None:
            (workspace / "submission.csv").unlink(missing_ok=True)
        elif source.startswith("#corrupt"):
            (workspace / "submission.csv").write_bytes(source.encode())
        else:
            run_script(workspace, source)
        store.take(i)
        records.append({"type": "step", "step": i, "timestamp": "2024-01-01T00:00:00Z",
                        "action": "Execute Script", "action_input": {"script_name": "train.py"}})
    (run_dir / "agent_log").mkdir(parents=True, exist_ok=True)
    with open(run_dir / "agent_log" / "full_log.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    if run_json:
        info = {"schema_version": 1, "task": task.name, "llm": llm, "status": status,
                "final_answer": final_answer,
                "totals": totals or {"steps": len(records), "llm_calls": len(records), "input_tokens": 1000,
                                     "output_tokens": 200, "cached_tokens": 0, "cost_usd": 0.25,
                                     "wall_time_s": 12.5}}
        (run_dir / "run.json").write_text(json.dumps(info), encoding="utf-8")
    return run_dir


# Better models for the offline tasks: each should beat its baseline by well over 10%.
IMPROVED = {
    "digits": '''
import pandas as pd
from sklearn.svm import SVC
train = pd.read_csv("data/train.csv"); test = pd.read_csv("data/test.csv")
features = [c for c in train.columns if c.startswith("pixel_")]
model = SVC(probability=True, random_state=0).fit(train[features], train["label"])
sub = pd.DataFrame(model.predict_proba(test[features]), columns=[str(c) for c in model.classes_])
sub.insert(0, "id", test["id"]); sub.to_csv("submission.csv", index=False)
''',
    "wine": '''
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
train = pd.read_csv("data/train.csv"); test = pd.read_csv("data/test.csv")
features = [c for c in train.columns if c not in ("id", "cultivar")]
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[features], train["cultivar"])
sub = pd.DataFrame(model.predict_proba(test[features]), columns=[str(c) for c in model.classes_])
sub.insert(0, "id", test["id"]); sub.to_csv("submission.csv", index=False)
''',
    "diabetes": '''
import pandas as pd
from sklearn.linear_model import Ridge
train = pd.read_csv("data/train.csv"); test = pd.read_csv("data/test.csv")
features = [c for c in train.columns if c not in ("id", "progression")]
model = Ridge(alpha=0.1).fit(train[features], train["progression"])
pd.DataFrame({"id": test["id"], "progression": model.predict(test[features])}).to_csv("submission.csv", index=False)
''',
}


def prepared_root(tmp_path_factory, tasks=OFFLINE_TASKS) -> Path:
    """A private task tree with ``tasks`` prepared (offline)."""
    from mlr_copilot.tasks import find_task

    root = copy_task_tree(tmp_path_factory.mktemp("tasks") / "root")
    for name in tasks:
        result = find_task(root, name).prepare(online=False)
        assert result.ready, result.message
    return root
