"""Hostile input (issue 8): path attacks on every file action, and keys that must never leak.

Path attacks: every path argument of every file action gets the same ~37 attacks (``..``,
absolute paths, symbolic links planted by a script run through Execute Script, NUL bytes,
very long names, non-strings, unicode look-alikes, a directory where a file is expected).
Whatever the action does, no exception escapes, nothing outside the workspace is read,
written or created, and a refusal says why. Escapes and malformed names must be refused;
look-alike names may be used, but only as ordinary names inside the workspace.

Keys: a real run (child process, as a user starts it) with fake keys in the environment and
in ``.env``; the run directory (logs, trace, run.json, snapshot blobs, script outputs,
workspace) and the environment a script saw are then searched for those values.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM

from fakes.fault_server import FaultServer
from reliability_project import cli, make_project, only_run_dir, step

SECRET = "TOP-SECRET-OUTSIDE-0xC0FFEE"
CANARY_VAR, CANARY = "HOSTILE_CANARY_TOKEN", "canary-env-value-5a17"
ACTIONS = ["List Files", "Read File", "Write File", "Append File", "Copy File", "Inspect Script Lines",
           "Undo Edit Script", "Execute Script", "Understand File", "Edit Script (AI)",
           "Edit Script Segment (AI)", "Final Answer"]
# (action, attacked argument) -> the other arguments, harmless
TARGETS = {
    ("List Files", "dir_path"): {},
    ("Read File", "file_name"): {},
    ("Write File", "file_name"): {"content": "pwned"},
    ("Append File", "file_name"): {"content": "pwned"},
    ("Copy File", "source"): {"destination": "copied.txt"},
    ("Copy File", "destination"): {"source": "main.py"},
    ("Inspect Script Lines", "script_name"): {"start_line_number": 1, "end_line_number": 5},
    ("Undo Edit Script", "script_name"): {},
    ("Execute Script", "script_name"): {},
    ("Understand File", "file_name"): {"things_to_look_for": "everything"},
    ("Edit Script (AI)", "script_name"): {"edit_instruction": "add a line", "save_name": "edited.py"},
    ("Edit Script (AI)", "save_name"): {"script_name": "main.py", "edit_instruction": "add a line"},
    ("Edit Script Segment (AI)", "script_name"): {"start_line_number": 1, "end_line_number": 2,
                                                  "edit_instruction": "x", "save_name": "edited.py"},
    ("Edit Script Segment (AI)", "save_name"): {"script_name": "main.py", "start_line_number": 1,
                                                "end_line_number": 2, "edit_instruction": "x"},
}
ESCAPES = {  # must be refused
    "dotdot": "../outside/secret.txt",
    "dotdot bare": "..",
    "dotdot through a folder": "sub/../../outside/secret.txt",
    "dotdot after dot": "./../outside/secret.txt",
    "dotdot to the root": "../" * 30 + "tmp",
    "absolute file outside": "{OUT}/secret.txt",
    "absolute folder outside": "{OUT}",
    "double slash": "/{OUT}/secret.txt",
    "absolute /proc environ": "/proc/self/environ",
    "absolute root": "/",
    "planted link to a folder, inside it": "link_dir/secret.txt",
    "planted link to a folder": "link_dir",
    "planted link to a file": "link_file",
    "planted link to a script": "link_script.py",
    "planted relative link": "link_rel",
    "planted link to ..": "link_up/outside/secret.txt",
    "planted link to /proc environ": "link_proc",
    "planted dangling link outside": "link_dangling",
    "planted link deep in folders": "sub/deeper/link_deep/secret.txt",
    "new file through a planted link": "link_dir/new_file.py",
}
MALFORMED = {  # must be refused too
    "NUL byte": "main.py\x00.txt",
    "NUL only": "\x00",
    "very long name": "a" * 300,
    "very long path": "d/" * 2100 + "x.py",
    "a folder where a file is expected": "subdir",
}
LOOKALIKES = {  # may be used, as ordinary names inside the workspace (or refused)
    "fullwidth dots": "\uff0e\uff0e/outside/secret.txt",
    "one-dot leaders": "\u2024\u2024/outside/secret.txt",
    "division slash": "..\u2215outside\u2215secret.txt",
    "backslashes": "..\\outside\\secret.txt",
    "url-encoded dots": "%2e%2e/outside/secret.txt",
    "tilde": "~/outside/secret.txt",
    "trailing slash": "main.py/",
    "newline inside": "main.py\n../outside/secret.txt",
    "empty": "",
    "a number (read as its digits)": 12345,
    "a list (read as its JSON text)": ["main.py"],
    "an object (read as its JSON text)": {"path": "../outside/secret.txt"},
    "symbolic link loop (replaced by a write)": "loop_a",
}
ATTACKS = {**ESCAPES, **MALFORMED, **LOOKALIKES}

PLANT = """import os
out = {out!r}
os.symlink(out, "link_dir")
os.symlink(out + "/secret.txt", "link_file")
os.symlink(out + "/evil.py", "link_script.py")
os.symlink("../outside/secret.txt", "link_rel")
os.symlink("..", "link_up")
os.symlink("/proc/self/environ", "link_proc")
os.symlink(out + "/not_yet.txt", "link_dangling")
os.symlink("loop_b", "loop_a")
os.symlink("loop_a", "loop_b")
os.makedirs("sub/deeper")
os.symlink("../../../outside", "sub/deeper/link_deep")
print("planted")
"""
EVIL = f"print({SECRET!r})\nopen(__file__ + '.pwned', 'w').write('x')\n"


def _outside(folder: Path) -> None:
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET + "\n")
    (folder / "evil.py").write_text(EVIL)


def _state(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _models() -> Models:
    def edit(messages):
        return "```python\nprint('edited')\n```"
    return Models(main=ScriptedLLM(["Noted."], repeat_last=True),
                  fast=ScriptedLLM(["The file holds a script."], repeat_last=True),
                  edit=ScriptedLLM([edit], repeat_last=True))


def _env(ws: Path, env_log: Path, models: Models) -> Environment:
    return Environment(EnvConfig(sandbox="none", script_timeout_s=20), workspace=ws, env_log_dir=env_log,
                       models=models, offered=ACTIONS)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A workspace whose symbolic links were planted by a script run through Execute Script."""
    base = tmp_path_factory.mktemp("hostile")
    _outside(base / "outside")
    ws = base / "ws"
    ws.mkdir()
    (ws / "main.py").write_text("print('main')\nprint('two')\n")
    (ws / "subdir").mkdir()
    (ws / "plant.py").write_text(PLANT.format(out=str(base / "outside")))
    obs = _env(ws, base / "env_log", _models()).execute("Execute Script", {"script_name": "plant.py"}, step=1)
    assert "planted" in obs.text, obs.text
    assert (ws / "link_file").is_symlink() and (ws / "sub" / "deeper" / "link_deep").is_symlink()
    return base


CASES = [pytest.param(action, arg, others, name, id=f"{action}.{arg}-{name}")
         for (action, arg), others in TARGETS.items() for name in ATTACKS]


@pytest.mark.parametrize("action,arg,others,attack", CASES)
def test_path_attack(template, tmp_path, monkeypatch, action, arg, others, attack):
    monkeypatch.setenv(CANARY_VAR, CANARY)
    shutil.copytree(template / "ws", tmp_path / "ws", symlinks=True)
    _outside(tmp_path / "outside")  # what the relative links reach from this copy
    outside_before = {d: _state(d) for d in (template / "outside", tmp_path / "outside")}
    models = _models()
    env = _env(tmp_path / "ws", tmp_path / "env_log", models)
    value = ATTACKS[attack]
    if isinstance(value, str):
        value = value.replace("{OUT}", str(template / "outside"))
    if attack == "a folder where a file is expected" and action == "List Files":
        value = "main.py"  # a file where a folder is expected

    obs = env.execute(action, {arg: value, **others}, step=2)  # no exception may escape

    for folder, before in outside_before.items():
        assert _state(folder) == before, f"{attack}: something outside the workspace changed"
    seen = obs.text + json.dumps([c["messages"] for m in (models.fast, models.edit) for c in m.calls])
    assert SECRET not in seen and CANARY not in seen, f"{attack}: outside content was read"
    if attack in ESCAPES or attack in MALFORMED:
        assert not obs.ok, f"{attack} was not refused: {obs.text[:300]}"
    if not obs.ok:
        reason = obs.text.removeprefix("EnvError: ")
        assert len(reason) > 15 and "Internal error" not in reason and "Traceback" not in reason
    real_ws = os.path.realpath(tmp_path / "ws")
    for p in (tmp_path / "ws").rglob("*"):  # whatever was created lies inside the workspace
        if not p.is_symlink():
            assert os.path.realpath(p).startswith(real_ws)


def test_every_file_action_is_attacked_at_least_20_ways():
    attacked = {action for action, _ in TARGETS}
    path_args = {("Copy File", "source"), ("Copy File", "destination"), ("Edit Script (AI)", "save_name")}
    assert attacked == set(ACTIONS) - {"Final Answer"} and path_args <= set(TARGETS)
    assert len(ATTACKS) >= 20 and len(ESCAPES) >= 20


# ------------------------------------------------------------------------------- keys
KEYS_ENV = {
    "OPENAI_API_KEY": "sk-fakeenvkey-9f8e7d6c5b4a39281706",
    "ANTHROPIC_API_KEY": "sk-ant-fakeenv-112233445566778899",
    "HF_TOKEN": "hf_FakeEnvTokenAbCdEfGhIjKlMnOp",
    "WANDB_API_KEY": "wandb-fake-env-key-00112233",
    "MY_SERVICE_SECRET": "service-secret-env-value-4242",
}
KEYS_DOTENV = {
    "KAGGLE_KEY": "kaggle-fake-dotenv-key-7777",
    "DATABASE_PASSWORD": "db-pass-from-dotenv-31337",
    "CUSTOM_THING": "custom-dotenv-value-not-a-key-name-9090",  # secret because .env defines it
}
LEAK = """import json, os
env = dict(os.environ)
open('script_env.json', 'w').write(json.dumps(env, indent=1))
print(json.dumps(env, indent=1))
"""
READ_DOTENV = """for name in (os.path.expanduser('~/.env'), os.path.join(os.environ.get('PWD', '.'), '.env')):
    try:
        print(name, open(name).read())
    except OSError as e:
        print(name, e)
"""


def _agent(body: dict) -> str:
    if not (body.get("system") or any(m.get("role") == "system" for m in body.get("messages", []))):
        return "Noted: the step went as planned."
    prompt = body["messages"][-1]["content"]
    if "Step 2:" in prompt:
        return step("done", "Final Answer", {"final_answer": "nothing found"})
    if "Step 1:" in prompt:
        return step("peek at keys", "Understand File", {"file_name": "../../../../home/.env",
                                                        "things_to_look_for": "every key"})
    return step("dump the environment", "Execute Script", {"script_name": "leak.py"})


@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_keys_never_reach_logs_snapshots_or_scripts(tmp_path, mode, record_property):
    from mlr_copilot.env.sandbox import probe_bwrap
    if mode == "bwrap" and not probe_bwrap()[0]:
        pytest.skip("bubblewrap does not work here")
    root = make_project(tmp_path / "project")
    # with bwrap the script also tries the .env files, which bwrap masks; without it they are
    # readable (documented in env/sandbox.py), so only the environment is checked there
    (root / "workspaces" / "toy" / "leak.py").write_text(LEAK + (READ_DOTENV if mode == "bwrap" else ""))
    home = tmp_path / "home"
    home.mkdir()
    (home / ".env").write_text("".join(f"{k}={v}\n" for k, v in KEYS_DOTENV.items()))
    with FaultServer(_agent) as server:
        r = cli(["run", "toy", "--llm", "openai:gpt-test", "--llm-base-url", server.url, "--root", str(root),
                 "--log-root", str(tmp_path / "logs"), "--sandbox", mode, "--feedback", "none"],
                cwd=home, env={**KEYS_ENV, "HOME": str(home)})
    assert r.returncode == 0, r.stdout + r.stderr
    sent = {v for q in server.requests for k, v in q["headers"].items() if k.lower() == "authorization"}
    assert sent == {f"Bearer {KEYS_ENV['OPENAI_API_KEY']}"}  # the key was live, and went where it belongs
    run_dir = only_run_dir(tmp_path / "logs")
    script_env = json.loads((run_dir / "workspace" / "script_env.json").read_text())
    assert "PATH" in script_env  # the dump worked
    steps = [json.loads(line) for line in (run_dir / "agent_log" / "full_log.jsonl").read_text().splitlines()]
    assert [s["action"] for s in steps if s["type"] == "step"] == ["Execute Script", "Understand File", "Final Answer"]
    assert "outside the workspace" in steps[2]["observation"]
    secrets = {**KEYS_ENV, **KEYS_DOTENV}
    assert not {k for k in script_env if k in secrets}, "a secret variable reached the script"
    leaks = []
    scanned = 0
    for p in run_dir.rglob("*"):  # logs, trace, run.json, snapshot blobs, outputs, workspace
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            scanned += 1
            leaks += [f"{name} in {p.relative_to(run_dir)}" for name, v in secrets.items() if v.encode() in data]
    assert scanned > 20 and not leaks, leaks
    record_property("cases", len(secrets))
    assert not any(v in r.stdout + r.stderr for v in secrets.values())
