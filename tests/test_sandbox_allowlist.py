"""Issue 12: scripts see only what they need, and no secret reaches a script, a log or an LLM request.

One test per row of the issue's table, each trying the attempt as a hostile script would and
asserting that it now fails; the same secret set is then searched for in every file of the
run directory and in every request the fake LLM server received.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
from mlr_copilot.env.isolation import ALLOWED_NAMES, ALLOWED_PREFIXES
from mlr_copilot.env.proclimit import cgroup_parent, describe
from mlr_copilot.env.sandbox import probe_bwrap
from mlr_copilot.errors import ConfigError, SandboxStartError

from fakes.fault_server import FaultServer
from reliability_project import cli, make_project, only_run_dir, step

BWRAP_OK, BWRAP_WHY = probe_bwrap()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap unusable here: {BWRAP_WHY}")
MODES = ["none", pytest.param("bwrap", marks=needs_bwrap)]

EXPORTED = {  # the issue's first row
    "KAGGLE_KEY": "kaggle-exported-key-8c1f2e90",
    "AWS_ACCESS_KEY_ID": "AKIAFAKEEXPORTED12345",
    "GH_PAT": "ghp_fakeExportedPat0987654321",
    "DATABASE_URL": "postgresql://u:pw@h/db",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/fakeWebhookSecret77",
}
OPENAI_KEY = "sk-fake-openai-key-for-the-run-123456"
DOTENV = {"CUSTOM_THING": "custom-dotenv-value-not-a-key-name-9090"}
SECRETS = {**EXPORTED, "OPENAI_API_KEY": OPENAI_KEY, **DOTENV}
MARKER = "MLR_COPILOT_RUN_MARKER"


def halves(value: str) -> str:
    """Python source that prints ``value`` without holding it whole (so the script file, its
    snapshots and the agent's own Action Input do not contain it; only the output does)."""
    cut = len(value) // 2
    return f"print('found: ' + {value[:cut]!r} + {value[cut:]!r})\n"


LEAK = ("import json, os\n"
        "open('script_env.json', 'w').write(json.dumps(dict(os.environ), indent=1))\n"
        + "".join(halves(v) for v in SECRETS.values()))


def _agent(body: dict) -> str:
    if not (body.get("system") or any(m.get("role") == "system" for m in body.get("messages", []))):
        return "Noted: the step went as planned."  # the fast model, summarising for the research log
    if "Step 1:" in body["messages"][-1]["content"]:
        return step("done", "Final Answer", {"final_answer": "nothing found"})
    return step("dump the environment", "Execute Script", {"script_name": "leak.py"})


@pytest.mark.parametrize("mode", MODES)
def test_exported_keys_never_reach_scripts_logs_or_requests(tmp_path, mode, record_property):
    """Rows 1 and 2: exported keys (and .env values), under bwrap and under --sandbox none."""
    root = make_project(tmp_path / "project")
    (root / "workspaces" / "toy" / "leak.py").write_text(LEAK)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".env").write_text("".join(f"{k}={v}\n" for k, v in DOTENV.items()))
    with FaultServer(_agent) as server:
        r = cli(["run", "toy", "--llm", "openai:gpt-test", "--llm-base-url", server.url, "--root", str(root),
                 "--log-root", str(tmp_path / "logs"), "--sandbox", mode, "--feedback", "none"],
                cwd=home, env={**EXPORTED, "OPENAI_API_KEY": OPENAI_KEY, "HOME": str(home),
                               "SOME_HARMLESS_SETTING": "not on the allowlist"})
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = only_run_dir(tmp_path / "logs")
    script_env = json.loads((run_dir / "workspace" / "script_env.json").read_text())
    unexpected = {k for k in script_env
                  if k not in ALLOWED_NAMES and not k.startswith(ALLOWED_PREFIXES)
                  and k not in ("HOME", "PWD", MARKER)}  # bwrap sets PWD to the workspace
    assert not unexpected, f"variables outside the allowlist reached the script: {unexpected}"
    assert not set(script_env) & set(SECRETS) and script_env["HOME"] != str(home)
    outputs = list((run_dir / "env_log" / "outputs").glob("*.log"))
    assert outputs and "found: [REDACTED]" in outputs[0].read_text()  # the values were printed, then scrubbed
    leaks, scanned = [], 0
    for p in run_dir.rglob("*"):  # logs, trace, run.json, llm_calls, snapshots, outputs, workspace
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            scanned += 1
            leaks += [f"{k} in {p.relative_to(run_dir)}" for k, v in SECRETS.items() if v.encode() in data]
    assert scanned > 20 and not leaks, leaks
    sent = [json.dumps(q["body"]) for q in server.requests]
    assert len(sent) >= 3  # agent steps and the fast model's summaries of the observation
    assert any("[REDACTED]" in body for body in sent)
    leaks = [k for body in sent for k, v in SECRETS.items() if v in body or json.dumps(v)[1:-1] in body]
    assert not leaks, f"secret values sent to the LLM: {leaks}"
    auth = {v for q in server.requests for k, v in q["headers"].items() if k.lower() == "authorization"}
    assert auth == {f"Bearer {OPENAI_KEY}"}  # the key itself went where it belongs, and only there
    assert not any(v in r.stdout + r.stderr for v in SECRETS.values())
    record_property("cases", len(SECRETS))


# ------------------------------------------------------------------ the filesystem rows
@pytest.fixture
def outside_tmp():
    """A folder outside /tmp (bwrap hides /tmp entirely, which would make the tests trivial)."""
    for base in ("/var/tmp", str(Path.home())):
        try:
            d = Path(tempfile.mkdtemp(prefix="mlr-allow-", dir=base))
        except OSError:
            continue
        yield d
        shutil.rmtree(d, ignore_errors=True)
        return
    pytest.skip("no writable folder outside /tmp")


def make_env(root: Path, mode: str = "bwrap", **cfg) -> Environment:
    ws = root / "run" / "workspace"
    ws.mkdir(parents=True, exist_ok=True)
    cfg.setdefault("script_timeout_s", 60)
    return Environment(EnvConfig(sandbox=mode, **cfg), workspace=ws, env_log_dir=root / "run" / "env_log",
                       offered=["Execute Script", "Final Answer"])


def run_script(env: Environment, code: str, step_no: int = 1):
    (env.workspace / "probe.py").write_text(textwrap.dedent(code))
    return env.execute("Execute Script", {"script_name": "probe.py"}, step=step_no)


READ_ALL = """
import os, sys
for p in sys.argv[1:] or PATHS:
    try:
        data = open(p).read() if os.path.isfile(p) else os.listdir(p)
        print("READ", p, repr(data)[:80])
    except OSError as e:
        print("DENIED", p, e.strerror)
"""

HOME_SECRETS = [".pgpass", ".npmrc", ".cargo/credentials.toml", ".vault-token", ".s3cfg", ".boto",
                ".config/rclone/rclone.conf", ".m2/settings.xml", ".claude/.credentials.json", ".my.cnf"]


@needs_bwrap
def test_credential_files_of_the_home_are_not_readable(outside_tmp, monkeypatch, record_property):
    """Row 3: ~/.pgpass, ~/.npmrc, ... and $HF_HOME/token."""
    home = outside_tmp / "userhome"
    paths = []
    for rel in HOME_SECRETS:
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(f"stolen-value-of-{rel}")
        paths.append(str(home / rel))
    hf_home = outside_tmp / "hf"
    hf_home.mkdir()
    (hf_home / "token").write_text("stolen-value-hf_TheHubToken")
    paths.append(str(hf_home / "token"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(hf_home))
    env = make_env(outside_tmp / "r")
    obs = run_script(env, f"PATHS = {paths!r}\n" + READ_ALL + "print('HF_HOME', os.environ.get('HF_HOME'))\n")
    assert obs.exit_code == 0, obs.text
    assert "stolen-value" not in obs.text and "READ" not in obs.text
    assert obs.text.count("DENIED") == len(paths) and "HF_HOME None" in obs.text
    record_property("cases", len(paths))


@needs_bwrap
def test_other_checkouts_tasks_and_the_rest_of_the_run_are_not_visible(outside_tmp, record_property):
    """Row 4: the hidden answers of another checkout, any tasks/ folder, logs beside the workspace,
    and the machine's own private folders."""
    other = outside_tmp / "other-checkout"
    (other / "tasks" / "digits" / "answers").mkdir(parents=True)
    (other / "tasks" / "digits" / "answers" / "test_labels.csv").write_text("hidden-answer-row,7\n")
    env = make_env(outside_tmp / "r")
    (env.env_log_dir / "secret-log.txt").write_text("log content")
    repo_tasks = Path(__file__).resolve().parents[1] / "tasks"
    targets = [str(other / "tasks" / "digits" / "answers" / "test_labels.csv"), str(other),
               str(repo_tasks), str(env.env_log_dir / "trace.jsonl"), str(env.env_log_dir / "secret-log.txt"),
               str(env.env_log_dir / "snapshots"), "/home", "/root", "/srv", "/mnt", "/opt", "/etc/shadow"]
    obs = run_script(env, f"PATHS = {targets!r}\n" + READ_ALL)
    assert obs.exit_code == 0, obs.text
    read = [line for line in obs.text.splitlines() if line.startswith("READ")]
    # an empty file or a listing of mount points bwrap made on the way to a bound folder (such as
    # /root/.pyenv for an interpreter living there) is fine; content is not
    args = env.sandbox.bwrap_prefix()
    bound = [args[i + 2] for i, a in enumerate(args[:-2]) if a in ("--ro-bind", "--bind")]
    on_the_way = {part for b in bound for part in Path(b).parts}
    for line in read:
        listing = line.split(" ", 2)[2]
        assert listing == "''" or set(eval(listing)) <= on_the_way, line  # noqa: S307 (our own repr)
    assert "hidden-answer-row" not in obs.text and "log content" not in obs.text
    record_property("cases", len(targets))


@needs_bwrap
def test_the_workspace_home_and_tmp_still_work(outside_tmp):
    env = make_env(outside_tmp / "r")
    obs = run_script(env, """
        import os, tempfile
        open("out.txt", "w").write("ok")
        open(os.path.expanduser("~/cache.txt"), "w").write("ok")
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"x")
        import json, csv  # the standard library
        print("HOME", os.environ["HOME"])
    """)
    assert obs.exit_code == 0, obs.text
    assert (env.workspace / "out.txt").read_text() == "ok"
    assert (env.env_log_dir / "home" / "cache.txt").read_text() == "ok"


def test_fork_bomb_is_stopped_by_a_limit_even_as_root(tmp_path):
    """Row 5: 5,000 forks with a limit of 64 processes; the limit stops them, not the timeout."""
    if os.geteuid() == 0 and cgroup_parent() is None:
        pytest.skip(f"root without a writable pids cgroup: {describe()}")
    mode = "bwrap" if BWRAP_OK else "none"
    env = make_env(tmp_path, mode, max_processes=64, script_timeout_s=60)
    obs = run_script(env, """
        import os, time
        made = 0
        try:
            for _ in range(5000):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                made += 1
        except OSError as e:
            print("fork refused after", made, e.strerror)
        print("made", made)
    """)
    assert "fork refused" in obs.text and "stopped after" not in obs.text, obs.text
    made = int(obs.text.split("made ")[-1].split()[0])
    assert made < 64


@needs_bwrap
def test_a_venv_reached_through_a_symlink_runs_scripts(tmp_path):
    """Row 6: the project's .venv linked into a checkout (the link is not inside the sandbox)."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    os.symlink(os.path.realpath(sys.prefix), checkout / ".venv")
    py = checkout / ".venv" / "bin" / Path(sys.executable).name
    env = make_env(tmp_path, python=(str(py), "-u"))
    obs = run_script(env, "import sys, dotenv; print('prefix', sys.prefix)")
    assert obs.exit_code == 0, obs.text
    assert f"prefix {os.path.realpath(sys.prefix)}" in obs.text


@needs_bwrap
def test_an_interpreter_that_cannot_start_ends_the_run_with_the_fix(outside_tmp):
    """Row 6, second half: the cause and the fix, at once, instead of steps of failures."""
    hidden = outside_tmp / "hidden"
    hidden.mkdir()
    os.symlink(sys.executable, hidden / "python3")
    wrapper = outside_tmp / "interp" / "bin" / "python"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f"#!/bin/sh\nexec {hidden / 'python3'} \"$@\"\n")
    wrapper.chmod(0o755)
    env = make_env(outside_tmp / "r", python=(str(wrapper),))
    with pytest.raises(SandboxStartError, match="cannot start the interpreter") as info:
        run_script(env, "print('never')")
    assert "Fix:" in str(info.value) and "--python" in str(info.value) and info.value.status == "error"


# ------------------------------------------------------------------ --pass-env
def test_pass_env_passes_named_variables_and_refuses_secrets_without_consent(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MY_SETTING", "on")
    monkeypatch.setenv("GH_PAT", EXPORTED["GH_PAT"])
    code = "import os; print('MY_SETTING', os.environ.get('MY_SETTING'), 'GH_PAT', os.environ.get('GH_PAT'))"
    plain = run_script(make_env(tmp_path / "a", "none"), code)
    assert "MY_SETTING None GH_PAT None" in plain.text
    named = run_script(make_env(tmp_path / "b", "none", pass_env=["MY_SETTING"]), code)
    assert "MY_SETTING on GH_PAT None" in named.text
    with pytest.raises(ConfigError, match="--pass-secret-env"):
        make_env(tmp_path / "c", "none", pass_env=["GH_PAT"])
    with caplog.at_level("WARNING"):
        consented = make_env(tmp_path / "d", "none", pass_env=["GH_PAT"], pass_secret_env=True)
    assert any("GH_PAT" in r.getMessage() for r in caplog.records)
    obs = run_script(consented, code)
    assert "GH_PAT [REDACTED]" in obs.text  # passed, and still never written down


def test_cli_refuses_pass_env_of_a_secret_before_any_run(tmp_path):
    root = make_project(tmp_path / "project")
    r = cli(["run", "toy", "--llm", "scripted:none.json", "--root", str(root), "--log-root", str(tmp_path / "logs"),
             "--pass-env", "DATABASE_URL", "--feedback", "none"], cwd=tmp_path,
            env={"DATABASE_URL": EXPORTED["DATABASE_URL"]})
    assert r.returncode != 0 and "--pass-secret-env" in r.stderr + r.stdout
    assert not (tmp_path / "logs").exists()


# ------------------------------------------------------------------ the secret rule and the scrubber
def test_one_secret_rule_covers_the_issue_names_and_connection_strings(tmp_path, monkeypatch):
    from mlr_copilot.config import find_env_files, is_secret, secret_values

    for name in EXPORTED:
        assert is_secret(name, EXPORTED[name]), name
    assert is_secret("APP_CONFIG", "mysql://admin:hunter2pass@db:3306/x")  # by value
    assert not is_secret("LANG", "C.UTF-8") and not is_secret("HOMEPAGE", "https://example.org/a:b")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("WHATEVER=value-from-dotenv-1\nSHORT=abc\n")
    files = find_env_files()
    assert files[0] == tmp_path / ".env"
    values = secret_values({"GH_PAT": EXPORTED["GH_PAT"], "LANG": "C.UTF-8"}, env_files=files)
    assert EXPORTED["GH_PAT"] in values and "value-from-dotenv-1" in values
    assert "abc" not in values and "C.UTF-8" not in values  # under 8 characters, or not secret


@pytest.mark.parametrize("mode", MODES)
def test_an_exported_kaggle_key_never_reaches_an_agent_script(tmp_path, monkeypatch, mode):
    """Issue 11 part 4: the sandbox applies config's secret rule, even to a variable on the
    allowlist (a PYTHON* name that is a key by the rule)."""
    from mlr_copilot.config import is_secret_name

    assert is_secret_name("KAGGLE_KEY") and is_secret_name("PYTHON_KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_KEY", EXPORTED["KAGGLE_KEY"])
    monkeypatch.setenv("PYTHON_KAGGLE_KEY", EXPORTED["KAGGLE_KEY"])
    monkeypatch.setenv("PYTHONIOENCODING", "utf-8")  # allowlisted and no secret: passed
    obs = run_script(make_env(tmp_path, mode), "import os\nprint('seen', sorted(k for k in os.environ "
                                                "if 'KAGGLE' in k or k == 'PYTHONIOENCODING'))\n")
    assert obs.exit_code == 0 and "seen ['PYTHONIOENCODING']" in obs.text, obs.text


def test_one_search_finds_the_env_files_to_scrub_mask_report_and_load(tmp_path, monkeypatch):
    """Issue 11 part 4: the scrubber, the sandbox's masks, doctor and start-up loading all use
    the same .env search (current folder and parents, watched folders, ~)."""
    from mlr_copilot import config
    from mlr_copilot.doctor import secrets_check
    from mlr_copilot.env.isolation import _masks
    from mlr_copilot.redact import active_secrets

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (project / ".env").write_text("PROJECT_THING=project-dotenv-value-1234\n")
    (project / "sub" / ".env").write_text("NEAR_THING=near-dotenv-value-5678\n")
    (elsewhere / ".env").write_text("WATCHED_THING=watched-dotenv-value-9012\n")
    monkeypatch.chdir(project / "sub")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(config, "_watched", [])
    config.watch_folder(elsewhere)
    files = config.env_files()
    assert files == [project / "sub" / ".env", project / ".env", elsewhere / ".env"]
    assert {"near-dotenv-value-5678", "project-dotenv-value-1234", "watched-dotenv-value-9012"} <= set(active_secrets())
    assert all(str(f) in secrets_check().detail for f in files)
    masks = _masks([str(tmp_path)], [])
    assert all(str(f) in masks for f in files)
    loaded: dict[str, str] = {}
    assert config.load_env_file(env=loaded) == ["NEAR_THING"]  # the nearest of the same search


def test_stream_scrubber_catches_secrets_split_between_chunks():
    from mlr_copilot.redact import StreamScrubber

    secret = "kaggle-exported-key-8c1f2e90"
    data = (f"a {secret} b postgresql://me:pa55word@host/db c sk-abcdefghijklmnop\n" * 40).encode()
    for size in (1, 7, 64, 4096):
        s = StreamScrubber([secret])
        out = b"".join(s.feed(data[i:i + size]) for i in range(0, len(data), size)) + s.flush()
        assert secret.encode() not in out and b"pa55word" not in out and b"sk-abcdef" not in out
        assert out.count(b"[REDACTED]") == 3 * 40


def test_log_messages_are_scrubbed(monkeypatch):
    import logging

    from mlr_copilot.redact import ScrubFilter

    monkeypatch.setenv("GH_PAT", EXPORTED["GH_PAT"])
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "token is %s", (EXPORTED["GH_PAT"],), None)
    assert ScrubFilter().filter(record) and record.getMessage() == "token is [REDACTED]"


@pytest.mark.parametrize("mode", MODES)
def test_baseline_runs_through_the_sandbox(tmp_path, monkeypatch, mode):
    """Issue 11 part 4: the starter script gets the same environment as agent scripts."""
    from task_helpers import copy_task_tree

    from mlr_copilot.task_baseline import run_baseline
    from mlr_copilot.tasks import find_task

    monkeypatch.setenv("KAGGLE_KEY", EXPORTED["KAGGLE_KEY"])
    root = copy_task_tree(tmp_path / "root")
    task = find_task(root, "diabetes")
    (task.workspace_path / "train.py").write_text(
        "import os\nraise SystemExit('seen: ' + str(os.environ.get('KAGGLE_KEY')) + ' ' + os.environ['HOME'])\n")
    grade = run_baseline(task, record=False, sandbox=mode)
    assert not grade.valid and "seen: None" in grade.reason and str(Path.home()) + "\n" not in grade.reason
