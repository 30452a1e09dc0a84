"""Sandbox: path confinement, read-only rules, script execution in both isolation modes."""
from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mlr_copilot.env import sandbox as sandbox_mod
from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
from mlr_copilot.env.process import run_process
from mlr_copilot.errors import ActionError, ConfigError, PathEscapeError, ReadOnlyError

BWRAP_OK, BWRAP_WHY = sandbox_mod.probe_bwrap()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap unusable here: {BWRAP_WHY}")
MODES = ["none", pytest.param("bwrap", marks=needs_bwrap)]
ALL_ACTIONS = ["List Files", "Read File", "Write File", "Append File", "Copy File", "Inspect Script Lines",
               "Undo Edit Script", "Execute Script", "Final Answer"]


def make_env(root: Path, mode: str = "none", files: dict[str, str] | None = None, **cfg) -> Environment:
    ws = root / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_text(text)
    cfg.setdefault("script_timeout_s", 60)
    return Environment(EnvConfig(sandbox=mode, **cfg), workspace=ws, env_log_dir=root / "env_log",
                       offered=ALL_ACTIONS)


def run_script(env: Environment, code: str, step: int = 1, name: str = "s.py", arguments: str | None = None):
    (env.workspace / name).write_text(textwrap.dedent(code))
    args = {"script_name": name}
    if arguments is not None:
        args["arguments"] = arguments
    return env.execute("Execute Script", args, step=step)


def alive(token: str) -> list[int]:
    """Host pids of live (non-zombie) processes whose command line holds ``token``."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmd and state not in ("Z", "X"):
            pids.append(int(p))
    return pids


# ------------------------------------------------------------------ paths
@pytest.fixture
def sb(tmp_path):
    env = make_env(tmp_path, files={"train.py": "print(1)\n", "data/train.csv": "a,b\n", "sub/x.txt": "x"},
                   read_only=["data/*", "*.lock"])
    return env.sandbox


@pytest.mark.parametrize("bad", ["../x", "..", "a/../../x", "sub/../../etc/passwd", "./../ws/train.py"])
def test_dotdot_leading_out_is_refused(sb, bad):
    with pytest.raises(PathEscapeError, match="outside the workspace"):
        sb.resolve(bad)


def test_dotdot_staying_inside_is_fine(sb):
    assert sb.resolve("sub/../train.py") == sb.workspace / "train.py"


@pytest.mark.parametrize("bad", ["/etc/passwd", "/", "//etc"])
def test_absolute_paths_are_refused(sb, bad):
    with pytest.raises(PathEscapeError, match="Absolute paths are not allowed"):
        sb.resolve(bad)


def test_absolute_path_inside_workspace_gets_a_relative_hint(sb):
    with pytest.raises(PathEscapeError, match="'train.py' relative to the workspace"):
        sb.resolve(str(sb.workspace / "train.py"))


def test_symlinks_leading_out_are_refused(sb, tmp_path):
    (tmp_path / "secret.txt").write_text("s3cret")
    os.symlink(tmp_path / "secret.txt", sb.workspace / "link.txt")
    os.symlink("/etc", sb.workspace / "etc")
    os.symlink("../..", sb.workspace / "sub" / "up")
    for bad in ("link.txt", "etc/passwd", "sub/up/secret.txt", "etc"):
        with pytest.raises(PathEscapeError, match="symbolic link"):
            sb.resolve(bad)


def test_symlink_inside_workspace_is_followed(sb):
    os.symlink("train.py", sb.workspace / "alias.py")
    assert sb.resolve("alias.py") == sb.workspace / "train.py"


def test_nul_and_overlong_names_are_refused(sb):
    with pytest.raises(ActionError, match="NUL"):
        sb.resolve("train.py\x00.txt")
    with pytest.raises(ActionError, match="too long"):
        sb.resolve("a" * 300)
    with pytest.raises(ActionError, match="too long"):
        sb.resolve("/".join(["abcdefgh"] * 600))


def test_lookalike_dots_are_plain_names_inside(sb):
    p = sb.resolve("\uff0e\uff0e/x")  # fullwidth dots: a folder name, not '..'
    assert p.is_relative_to(sb.workspace)


def test_read_only_globs(sb):
    assert sb.is_read_only("data/train.csv")
    assert sb.is_read_only("data/new/deep.csv")
    assert sb.is_read_only("sub/poetry.lock")
    assert not sb.is_read_only("train.py")
    with pytest.raises(ReadOnlyError, match="read-only"):
        sb.resolve("data/train.csv", for_write=True)
    with pytest.raises(ReadOnlyError):
        sb.resolve("data/created_later.csv", for_write=True)
    os.symlink("data/train.csv", sb.workspace / "innocent.csv")
    with pytest.raises(ReadOnlyError):  # writing through a link to a read-only file
        sb.resolve("innocent.csv", for_write=True)
    assert sb.resolve("data/train.csv") == sb.workspace / "data" / "train.csv"  # reading is fine


# ------------------------------------------------------------ execution
@pytest.mark.parametrize("mode", MODES)
def test_script_output_exit_code_and_arguments(tmp_path, mode):
    env = make_env(tmp_path, mode)
    obs = run_script(env, """
        import sys
        print("args:", sys.argv[1:])
        print("to stderr", file=sys.stderr)
        sys.exit(3)
    """, arguments="--lr 0.1 'two words'")
    assert obs.text.startswith("The script has been executed. Here is the output:\n")
    assert "args: ['--lr', '0.1', 'two words']" in obs.text
    assert "to stderr" in obs.text
    assert "Exit code: 3" in obs.text and obs.exit_code == 3
    assert Path(obs.full_text_path).read_text().count("to stderr") == 1


def test_bad_arguments_string_is_an_observation(tmp_path):
    env = make_env(tmp_path)
    obs = run_script(env, "print(1)", arguments="--name 'unclosed")
    assert not obs.ok and "cannot be split" in obs.text


@pytest.mark.parametrize("mode", MODES)
def test_cwd_is_workspace_and_device_is_set(tmp_path, mode):
    env = make_env(tmp_path, mode, device="1")
    obs = run_script(env, "import os; print(os.getcwd()); print('CVD=' + os.environ['CUDA_VISIBLE_DEVICES'])")
    assert str(env.sandbox.workspace) in obs.text and "CVD=1" in obs.text


@pytest.mark.parametrize("mode", MODES)
def test_secrets_never_reach_the_script(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-123")
    monkeypatch.setenv("HF_TOKEN", "hf_fake")
    monkeypatch.setenv("MY_SECRET_THING", "x")
    monkeypatch.setenv("DB_PASSWORD", "x")
    monkeypatch.setenv("HARMLESS_SETTING", "kept")
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / ".env").write_text("CUSTOM_SERVICE=abc123\nexport OTHER_ONE='q'\n")
    monkeypatch.setenv("CUSTOM_SERVICE", "abc123")
    monkeypatch.setenv("OTHER_ONE", "q")
    monkeypatch.setenv("LISTED_BY_USER", "q")
    monkeypatch.chdir(tmp_path / "cwd")
    env = make_env(tmp_path, mode, pass_env=["HARMLESS_SETTING"])  # allowlist: only named ones pass
    obs = run_script(env, """
        import os
        for k in ["OPENAI_API_KEY", "HF_TOKEN", "MY_SECRET_THING", "DB_PASSWORD", "CUSTOM_SERVICE",
                  "OTHER_ONE", "LISTED_BY_USER", "HARMLESS_SETTING"]:
            print(k, "=", os.environ.get(k))
    """)
    for k in ["OPENAI_API_KEY", "HF_TOKEN", "MY_SECRET_THING", "DB_PASSWORD", "CUSTOM_SERVICE", "OTHER_ONE",
              "LISTED_BY_USER"]:
        assert f"{k} = None" in obs.text
    assert "HARMLESS_SETTING = kept" in obs.text
    assert "sk-fake" not in obs.text


@pytest.mark.parametrize("mode", MODES)
def test_infinite_loop_times_out_with_output_so_far(tmp_path, mode):
    env = make_env(tmp_path, mode, script_timeout_s=2.0)
    t = time.monotonic()
    obs = run_script(env, """
        print("started", flush=True)
        while True:
            pass
    """)
    assert time.monotonic() - t < 2.0 + 60  # stopped, not hung: the bound only catches a hang
    assert "was stopped after 2.0 s" in obs.text and "time limit for one script" in obs.text
    assert "started" in obs.text and obs.timed_out


def test_a_callers_script_limit_only_tightens_the_timeout_for_that_action(tmp_path):
    env = make_env(tmp_path, "none", script_timeout_s=3600)
    (env.workspace / "s.py").write_text("import time\nprint('began', flush=True)\nwhile True: time.sleep(0.05)\n")
    obs = env.execute("Execute Script", {"script_name": "s.py"}, step=1, script_limit_s=1.0)
    assert obs.timed_out and "stopped after 1.0 s (the time limit for one node's script)" in obs.text
    assert "began" in obs.text and env.ctx.script_limit_s is None  # the next action has the usual limit
    (env.workspace / "ok.py").write_text("print('fine')\n")
    done = env.execute("Execute Script", {"script_name": "ok.py"}, step=2, script_limit_s=7200)
    assert not done.timed_out and done.exit_code == 0


def test_script_ignoring_sigterm_is_killed(tmp_path):
    code = textwrap.dedent("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stubborn", flush=True)
        while True:
            time.sleep(0.01)
    """)
    r = run_process([sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ), timeout_s=2,
                    output_dir=tmp_path / "out", output_name="x", budget=1000, limits={}, kill_grace_s=0.3)
    assert r.timed_out and r.exit_code == -9 and "stubborn" in r.head_tail_text


def test_timeout_is_bounded_by_the_run_deadline(tmp_path):
    env = make_env(tmp_path, "none", script_timeout_s=3600)
    env.deadline = env.ctx.deadline = time.monotonic() + 1.5
    obs = run_script(env, "import time\nwhile True: time.sleep(0.05)")
    assert "the run's remaining time" in obs.text


def test_no_script_is_started_when_no_time_is_left(tmp_path):
    env = make_env(tmp_path, "none")
    env.deadline = env.ctx.deadline = time.monotonic() + 0.5
    obs = run_script(env, "print('ran')")
    assert not obs.ok and "not started" in obs.text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["fork", "setsid"])
def test_children_outliving_the_script_are_killed(tmp_path, mode, how):
    token = f"leftover-{os.getpid()}-{mode}-{how}-{time.time_ns()}"
    env = make_env(tmp_path, mode)
    detach = "start_new_session=True" if how == "setsid" else "start_new_session=False"
    obs = run_script(env, f"""
        import subprocess, sys
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{token}"], {detach})
        print("child", p.pid)
    """)
    assert "Exit code: 0" in obs.text
    assert alive(token) == []
    if mode == "none":
        assert "Processes it left running were stopped." in obs.text


@pytest.mark.parametrize("mode", MODES)
def test_children_are_killed_on_timeout(tmp_path, mode):
    token = f"tchild-{os.getpid()}-{mode}-{time.time_ns()}"
    env = make_env(tmp_path, mode, script_timeout_s=1)
    run_script(env, f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{token}"], start_new_session=True)
        while True:
            time.sleep(0.05)
    """)
    assert alive(token) == []


def test_long_output_keeps_head_and_tail_within_budget(tmp_path):
    env = make_env(tmp_path, "none", observation_budget=2000)
    obs = run_script(env, "for i in range(100000): print(f'line {i}')")
    out = obs.text.split("Here is the output:\n", 1)[1]
    assert "line 0\n" in out and "line 99999\n" in out
    assert "bytes of output cut here" in out
    body = out.split("\nExit code")[0]
    assert len(body) < 2000 + 100
    assert Path(obs.full_text_path).read_text().count("\n") == 100000


def test_progress_bars_show_their_last_state(tmp_path):
    env = make_env(tmp_path, "none")
    obs = run_script(env, r"""
        import sys
        for i in range(0, 101, 10):
            sys.stdout.write(f"\rprogress {i}%")
        print()
        print("done")
    """)
    assert "progress 100%\ndone" in obs.text and "progress 50%" not in obs.text


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_gigabyte_of_output_is_streamed(tmp_path, mode):
    env = make_env(tmp_path, mode)
    t = time.monotonic()
    obs = run_script(env, """
        import sys
        block = (b"y" * 1023 + b"\\n") * 1024
        w = sys.stdout.buffer.write
        for _ in range(1024):
            w(block)
        sys.stdout.flush()
        print("the end")
    """)
    elapsed = time.monotonic() - t
    assert "Exit code: 0" in obs.text and "the end" in obs.text
    assert "1,07" in obs.text and "bytes of output cut here" in obs.text
    assert len(obs.text) < env.config.observation_budget + 300
    saved = Path(obs.full_text_path).stat().st_size
    assert saved < 300 * 2**20  # the saved log is capped too
    assert elapsed < 600  # streamed to the end, never stuck; speed is not checked here


@pytest.mark.parametrize("mode", MODES)
def test_file_size_and_memory_limits(tmp_path, mode):
    env = make_env(tmp_path, mode, max_file_size_mb=1, memory_limit_mb=300)
    obs = run_script(env, """
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            with open("big.bin", "wb") as f:
                f.write(b"0" * (3 * 1024 * 1024))
            print("wrote big file")
        except OSError as e:
            print("fsize limit:", e)
        try:
            x = bytearray(800 * 1024 * 1024)
            print("allocated")
        except MemoryError:
            print("memory limit hit")
    """)
    assert "fsize limit" in obs.text and "memory limit hit" in obs.text


def test_missing_interpreter_is_a_clear_observation(tmp_path):
    env = make_env(tmp_path, "none", python=("no-such-python-xyz",))
    obs = run_script(env, "print(1)")
    assert not obs.ok and "not found on PATH" in obs.text


# --------------------------------------------------------------- modes
def test_auto_falls_back_with_one_warning(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap here
    monkeypatch.setattr(sandbox_mod, "_warned_no_bwrap", False)
    with caplog.at_level(logging.WARNING):
        assert sandbox_mod.resolve_mode("auto") == "none"
        assert sandbox_mod.resolve_mode("auto") == "none"
    assert len([r for r in caplog.records if "WITHOUT isolation" in r.message]) == 1
    with pytest.raises(ConfigError, match="bubblewrap"):
        sandbox_mod.resolve_mode("bwrap")
    with pytest.raises(ConfigError, match="Unknown sandbox mode"):
        sandbox_mod.resolve_mode("docker")


@pytest.fixture
def outside_tmp():
    """A folder outside /tmp (bwrap hides /tmp entirely, which would make the tests trivial)."""
    for base in ("/var/tmp", str(Path.home())):
        try:
            d = Path(tempfile.mkdtemp(prefix="mlr-sbx-", dir=base))
        except OSError:
            continue
        yield d
        import shutil
        shutil.rmtree(d, ignore_errors=True)
        return
    pytest.skip("no writable folder outside /tmp")


@needs_bwrap
def test_bwrap_blocks_network(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    port = srv.getsockname()[1]
    threading.Thread(target=lambda: [srv.accept() for _ in range(2)], daemon=True).start()
    code = f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=3)
            print("CONNECTED")
        except OSError as e:
            print("BLOCKED", e)
    """
    control = run_script(make_env(tmp_path / "a", "none"), code)
    assert "CONNECTED" in control.text  # the server is reachable without the sandbox
    obs = run_script(make_env(tmp_path / "b", "bwrap"), code + """
        try:
            socket.getaddrinfo("pypi.org", 443)
            print("DNS OK")
        except OSError as e:
            print("DNS BLOCKED")
    """)
    assert "BLOCKED" in obs.text and "CONNECTED" not in obs.text and "DNS BLOCKED" in obs.text
    allowed = run_script(make_env(tmp_path / "c", "bwrap", allow_network=True), code)
    assert "CONNECTED" in allowed.text
    srv.close()


@needs_bwrap
def test_bwrap_system_is_read_only_and_tmp_private(outside_tmp):
    env = make_env(outside_tmp, "bwrap")
    marker = Path(tempfile.gettempdir()) / f"mlr-sbx-{os.getpid()}-{time.time_ns()}"
    obs = run_script(env, f"""
        import os
        for p in ["{outside_tmp}/escaped.txt", "{marker}", "ok_here.txt"]:
            try:
                open(p, "w").write("x")
                print("WROTE", p)
            except OSError as e:
                print("REFUSED", p, e.strerror)
    """)
    assert f"REFUSED {outside_tmp}/escaped.txt" in obs.text
    assert not (outside_tmp / "escaped.txt").exists()
    assert not marker.exists()  # /tmp inside is private
    assert (env.workspace / "ok_here.txt").read_text() == "x"


@needs_bwrap
def test_bwrap_masks_dotenv_and_home_secrets(outside_tmp, monkeypatch):
    home = outside_tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text("hf_secret_token")
    monkeypatch.setenv("HOME", str(home))
    (outside_tmp / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-fake\n")
    env = make_env(outside_tmp, "bwrap")
    obs = run_script(env, f"""
        import os
        for p in ["{outside_tmp}/.env", "{home}/.ssh/id_rsa", "{home}/.cache/huggingface/token"]:
            try:
                print(p, "->", repr(open(p).read()))
            except OSError as e:
                print(p, "-> error", e.strerror)
        print("ssh dir:", os.listdir("{home}/.ssh") if os.path.isdir("{home}/.ssh") else None)
    """)
    assert "sk-ant-fake" not in obs.text and "PRIVATE KEY" not in obs.text and "hf_secret" not in obs.text
    assert "ssh dir: None" in obs.text  # the home is not in the sandbox at all (issue 12)


@needs_bwrap
def test_bwrap_keeps_read_only_files_read_only(outside_tmp):
    env = make_env(outside_tmp, "bwrap", files={"data/train.csv": "orig\n"}, read_only=["data/*"])
    obs = run_script(env, """
        try:
            open("data/train.csv", "w").write("tampered")
            print("TAMPERED")
        except OSError as e:
            print("REFUSED", e.strerror)
    """)
    assert "REFUSED" in obs.text
    assert (env.workspace / "data" / "train.csv").read_text() == "orig\n"


def test_none_mode_undoes_a_scripts_change_to_read_only_files(tmp_path):
    env = make_env(tmp_path, "none", files={"data/train.csv": "orig\n", "data/test.csv": "t\n"},
                   read_only=["data/*"])
    obs = run_script(env, """
        import os
        open("data/train.csv", "w").write("tampered")
        os.remove("data/test.csv")
    """)
    assert "read-only" in obs.text and "restored" in obs.text
    assert (env.workspace / "data" / "train.csv").read_text() == "orig\n"
    assert (env.workspace / "data" / "test.csv").read_text() == "t\n"


@needs_bwrap
def test_bwrap_pid_namespace_hides_the_agent(tmp_path):
    env = make_env(tmp_path, "bwrap")
    obs = run_script(env, f"""
        import os
        print("parent visible:", os.path.exists("/proc/{os.getpid()}/environ"))
        print("pids:", len([p for p in os.listdir("/proc") if p.isdigit()]))
    """)
    assert "parent visible: False" in obs.text


def test_bwrap_prefix_keeps_gpus_and_drops_capabilities(tmp_path):
    env = make_env(tmp_path, "none")
    args = env.sandbox.bwrap_prefix()
    assert args[0] == "bwrap" and "--dev" in args
    triples = {tuple(args[i:i + 3]) for i in range(len(args) - 2)}
    assert ("--ro-bind", "/", "/") not in triples  # the filesystem is an allowlist (issue 12)
    for dev in Path("/dev").glob("nvidia*"):
        assert ["--dev-bind", str(dev), str(dev)] == args[args.index(str(dev)) - 1:args.index(str(dev)) + 2]
    assert "--unshare-net" in args and "--unshare-pid" in args and "--die-with-parent" in args
    assert args[args.index("--cap-drop") + 1] == "ALL" and args[-1] == "--"
    ws = str(env.sandbox.workspace)
    assert ("--bind", ws, ws) in triples
    assert "--unshare-net" not in make_env(tmp_path / "n", "none", allow_network=True).sandbox.bwrap_prefix()


def test_sys_executable_fallback_runs_this_python(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    env = make_env(tmp_path, "none")
    obs = run_script(env, "import sys; print(sys.version_info[:2])")
    assert str(tuple(sys.version_info[:2])) in obs.text


@needs_bwrap
def test_bwrap_keeps_an_interpreter_living_under_tmp(tmp_path):
    import venv
    venv.create(tmp_path / "venv", with_pip=False, system_site_packages=True)
    py = tmp_path / "venv" / "bin" / "python"
    env = make_env(tmp_path, "bwrap", python=(str(py), "-u"))
    obs = run_script(env, "import sys; print('prefix', sys.prefix)")
    assert f"prefix {tmp_path / 'venv'}" in obs.text and "Exit code: 0" in obs.text


def test_script_names_starting_with_a_dash_are_not_options(tmp_path):
    env = make_env(tmp_path, "none")
    obs = run_script(env, "print('ran as a file')", name="-c")
    assert "ran as a file" in obs.text
