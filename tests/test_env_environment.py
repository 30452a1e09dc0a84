"""Environment: offered actions, dispatch, trace, snapshots per step, limits, crash safety."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlr_copilot.env.actions import (ACTION_MODULES, DEFAULT_OFFERED, REGISTRY, ActionResult, Arg, action,
                                     choose_offered)
from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
from mlr_copilot.env.snapshots import diff_steps, list_steps, restore
from mlr_copilot.errors import ConfigError, RunStopped
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import read_jsonl

REPO = Path(__file__).resolve().parents[1]


def make(tmp_path, **kw) -> Environment:
    ws = tmp_path / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "train.py").write_text("print('hello')\n")
    cfg = kw.pop("config", EnvConfig(sandbox="none"))
    return Environment(cfg, workspace=ws, env_log_dir=tmp_path / "env_log", **kw)


def test_default_offer_without_models_or_human(tmp_path):
    env = make(tmp_path)
    names = env.offered_names
    assert {"List Files", "Copy File", "Undo Edit Script", "Execute Script", "Final Answer",
            "Inspect Script Lines"} <= set(names)
    assert "Request Help" not in names and "Read File" not in names
    assert all(not i.uses_llm for i in env.action_infos)
    assert names == [n for n in REGISTRY.names() if n in names]  # registry order


def test_default_offer_with_models_includes_llm_actions(tmp_path):
    pytest.importorskip("mlr_copilot.env.llm_actions")
    env = make(tmp_path, models=Models.single(ScriptedLLM([])))
    assert "Edit Script (AI)" in env.offered_names and "Understand File" in env.offered_names


def test_bad_offers_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="Unknown action 'Teleport'"):
        make(tmp_path, offered=["List Files", "Teleport"])
    if "Understand File" in REGISTRY:
        with pytest.raises(ConfigError, match="needs a model"):
            make(tmp_path, offered=["Understand File"])


def test_the_run_and_the_environment_share_one_offer(tmp_path):
    """Issue 11: the offer is decided once (choose_offered), for the run and the Environment."""
    env = make(tmp_path, models=Models.single(ScriptedLLM([])), human=object())
    assert choose_offered(human=True) == list(DEFAULT_OFFERED) + ["Request Help"]
    assert set(env.offered_names) == set(choose_offered(human=True))
    offer = choose_offered(add=["read file", "Retrieve Model"], remove=["reflection"])
    assert offer[-1] == "Read File" and "Reflection" not in offer and offer.count("Retrieve Model") == 1
    with pytest.raises(ConfigError, match="--actions-add: unknown action 'Append Summary"):
        choose_offered(add=["Append Summary to Research Log"])  # bookkeeping, never offered
    with pytest.raises(ConfigError, match="Final Answer cannot be removed"):
        choose_offered(remove=["final answer"])
    with pytest.raises(ConfigError, match="is not offered"):
        choose_offered(remove=["Read File"])


def test_an_action_not_offered_is_refused_with_the_list(tmp_path):
    env = make(tmp_path, offered=["List Files", "Final Answer"])
    obs = env.execute("Write File", {"file_name": "x", "content": "y"}, step=1)
    assert not obs.ok and "List Files, Final Answer" in obs.text
    assert not (env.workspace / "x").exists()
    assert not env.execute("Fly Away", {}, step=2).ok


def test_action_names_are_matched_forgivingly(tmp_path):
    env = make(tmp_path)
    obs = env.execute("list files", {"dir_path": "."}, step=1)
    assert obs.ok and obs.action == "List Files"


def test_trace_records_every_action(tmp_path):
    env = make(tmp_path)
    env.execute("List Files", {"dir_path": "."}, step=1)
    env.execute("Execute Script", {"script_name": "train.py"}, step=2)
    env.execute("Inspect Script Lines", {"script_name": "nope.py", "start_line_number": 1,
                                         "end_line_number": 2}, step=3)
    recs = read_jsonl(tmp_path / "env_log" / "trace.jsonl")
    assert recs[0]["type"] == "trace_start" and recs[0]["schema_version"] >= 1
    acts = [r for r in recs if r["type"] == "action"]
    assert [(r["step"], r["action"]) for r in acts] == [(1, "List Files"), (2, "Execute Script"),
                                                        (3, "Inspect Script Lines")]
    ex = acts[1]
    assert ex["exit_code"] == 0 and "hello" in ex["observation"] and ex["duration_s"] > 0
    assert ex["args"] == {"script_name": "train.py"} and ex["timestamp"].endswith("Z")
    assert Path(ex["full_text_path"]).read_text() == "hello\n"
    assert acts[2]["ok"] is False and acts[2]["observation"].startswith("EnvError: ")


def test_a_snapshot_after_every_step(tmp_path):
    env = make(tmp_path, offered=["Write File", "List Files"])
    assert list_steps(env.env_log_dir) == [0]  # the workspace as the run began
    env.execute("Write File", {"file_name": "a.py", "content": "a"}, step=1)
    env.execute("List Files", {"dir_path": "."}, step=2)
    env.execute("Write File", {"file_name": "train.py", "content": "changed"}, step=3)
    assert list_steps(env.env_log_dir) == [0, 1, 2, 3]
    assert diff_steps(env.env_log_dir, 0, 3) == {"added": ["a.py"], "removed": [], "changed": ["train.py"]}
    assert diff_steps(env.env_log_dir, 1, 2) == {"added": [], "removed": [], "changed": []}
    out = restore(env.env_log_dir, 0, tmp_path / "r")
    assert (out / "train.py").read_text() == "print('hello')\n" and not (out / "a.py").exists()


def test_restore_to_rewinds_the_live_workspace(tmp_path):
    env = make(tmp_path, offered=["Write File"])
    env.execute("Write File", {"file_name": "train.py", "content": "v1"}, step=1)
    env.execute("Write File", {"file_name": "extra.py", "content": "v2"}, step=2)
    env.restore_to(1)
    assert (env.workspace / "train.py").read_text() == "v1" and not (env.workspace / "extra.py").exists()
    assert env.last_snapshot_step() == 2


def test_internal_actions_use_no_step_and_no_snapshot(tmp_path):
    env = make(tmp_path, offered=["List Files"])
    obs = env.execute_internal("Append File", {"file_name": "research_log.log", "content": "entry"}, step=0)
    assert obs.ok and obs.internal
    assert list_steps(env.env_log_dir) == [0]
    rec = read_jsonl(tmp_path / "env_log" / "trace.jsonl")[-1]
    assert rec["internal"] is True and rec["action"] == "Append File"
    with pytest.raises(ConfigError):
        env.execute_internal("No Such Action", {}, step=0)


def test_steps_start_at_one(tmp_path):
    with pytest.raises(ValueError):
        make(tmp_path).execute("List Files", {}, step=0)


def test_time_limit_ends_the_run_between_steps(tmp_path):
    env = make(tmp_path, config=EnvConfig(sandbox="none", max_time_s=3600))
    assert 3590 < env.time_left() <= 3600
    env.deadline = time.monotonic() - 1
    with pytest.raises(RunStopped) as e:
        env.execute("List Files", {}, step=1)
    assert e.value.status == "time_limit"
    assert make(tmp_path / "b").time_left() is None


def test_final_answer_is_marked(tmp_path):
    obs = make(tmp_path).execute("Final Answer", {"final_answer": "done"}, step=1)
    assert obs.is_final and obs.ok


def test_bad_action_input_becomes_an_observation(tmp_path):
    env = make(tmp_path)
    obs = env.execute("Inspect Script Lines", "not a dict", step=1)
    assert not obs.ok and "must be a JSON object" in obs.text
    obs = env.execute("Copy File", {"source": "train.py", "destinaton": "x.py"}, step=2)
    assert not obs.ok and "'destination'" in obs.text and "'destinaton'" in obs.text


def test_an_action_returns_its_result_typed():
    """Issue 11: exit code and output file come back in the ActionResult, not on the context."""
    assert ActionResult.of("listed", "List Files") == ActionResult("listed")
    ran = ActionResult("ran", exit_code=3, output_path="out.log")
    assert ActionResult.of(ran, "Execute Script") is ran
    with pytest.raises(TypeError, match="returned dict"):
        ActionResult.of({"observation": "x"}, "Odd Action")


@pytest.fixture
def buggy_action():
    @action("Buggy Test Action", "raises a bug", [Arg("x", "anything")], "nothing", registry=REGISTRY)
    def buggy(ctx, x):
        raise KeyError("our own bug")
    yield "Buggy Test Action"
    del REGISTRY._actions["Buggy Test Action"]


def test_our_own_bugs_propagate(tmp_path, buggy_action):
    env = make(tmp_path, offered=[buggy_action])
    with pytest.raises(KeyError):
        env.execute(buggy_action, {"x": 1}, step=1)


KILLER = """
import sys
from pathlib import Path
from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
root = Path(sys.argv[1])
env = Environment(EnvConfig(sandbox="none"), workspace=root / "ws", env_log_dir=root / "env_log",
                  offered=["List Files", "Execute Script", "Write File"])
env.execute("List Files", {"dir_path": "."}, step=1)
env.execute("Write File", {"file_name": "a.txt", "content": "a"}, step=2)
env.execute("Execute Script", {"script_name": "kill_parent.py"}, step=3)
print("NOT REACHED")
"""


def test_trace_survives_a_kill_mid_step(tmp_path):
    """The agent process dies in the middle of step 3 (its script kills it): steps 1-2 stay readable,
    and a resumed Environment appends cleanly after a torn last line."""
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "kill_parent.py").write_text("import os, signal\nprint('bye')\nos.kill(os.getppid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == -signal.SIGKILL and "NOT REACHED" not in r.stdout
    trace = tmp_path / "env_log" / "trace.jsonl"
    with open(trace, "a") as f:
        f.write('{"type": "action", "step": 3, "observ')  # a line torn by the kill
    recs = read_jsonl(trace)
    assert [r.get("step") for r in recs if r["type"] == "action"] == [1, 2]
    assert list_steps(tmp_path / "env_log") == [0, 1, 2]
    env = Environment(EnvConfig(sandbox="none"), workspace=tmp_path / "ws", env_log_dir=tmp_path / "env_log",
                      offered=["List Files"])
    env.restore_to(2)
    env.execute("List Files", {}, step=3)
    lines = trace.read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 3
    assert [r.get("step") for r in read_jsonl(trace) if r["type"] == "action"] == [1, 2, 3]
    assert sum(1 for r in read_jsonl(trace) if r["type"] == "trace_start") == 1


def test_importing_environment_registers_every_action():
    code = textwrap.dedent("""
        import sys
        import mlr_copilot.env.environment
        from mlr_copilot.env.actions import REGISTRY, DEFAULT_OFFERED
        missing = [n for n in DEFAULT_OFFERED if n not in REGISTRY]
        print("MISSING", missing)
        print("HEAVY", [m for m in ("torch", "transformers", "anthropic", "openai") if m in sys.modules])
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "HEAVY []" in r.stdout, r.stderr
    try:
        import mlr_copilot.env.llm_actions  # noqa: F401
        assert "MISSING []" in r.stdout, r.stdout + r.stderr
    except ModuleNotFoundError:
        pass


CTRL_C = """
import sys
from pathlib import Path
from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
root = Path(sys.argv[1])
env = Environment(EnvConfig(sandbox="none"), workspace=root / "ws", env_log_dir=root / "env_log",
                  offered=["Execute Script"])
try:
    env.execute("Execute Script", {"script_name": "long.py"}, step=1)
except KeyboardInterrupt:
    print("INTERRUPTED")
"""


def test_ctrl_c_during_a_script_leaves_nothing_running(tmp_path):
    token = f"ctrlc-{os.getpid()}-{time.time_ns()}"
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "long.py").write_text(textwrap.dedent(f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{token}"], start_new_session=True)
        open("ready", "w").close()
        time.sleep(120)
    """))
    p = subprocess.Popen([sys.executable, "-c", CTRL_C, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    limit = time.monotonic() + 30
    while not (tmp_path / "ws" / "ready").exists() and time.monotonic() < limit:
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    assert "INTERRUPTED" in out
    live = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and \
                    Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX":
                live.append(pid)
        except OSError:
            pass
    assert live == []


def test_importing_an_action_module_registers_nothing():
    """Issue 11: actions are collected from ACTION_MODULES when the registry is first used,
    never as a side effect of importing a module; the order is the list's."""
    code = textwrap.dedent("""
        import json
        import mlr_copilot.env.files
        from mlr_copilot.env.actions import REGISTRY
        print("BEFORE", len(REGISTRY._actions))
        print("ORDER", json.dumps([a.function.__module__.rsplit(".", 1)[1] for a in REGISTRY.all()]))
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "BEFORE 0" in r.stdout, r.stdout + r.stderr
    order = json.loads(r.stdout.split("ORDER ", 1)[1])
    assert list(dict.fromkeys(order)) == list(ACTION_MODULES)
