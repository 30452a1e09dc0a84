"""The command line as a user meets it: help, errors, a scripted run, resume flags, run_demo.sh."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlr_copilot.cli import _typed_overrides, build_parser, main

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("anthropic", "openai", "torch", "transformers", "llama_cpp")


def mlr(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "mlr_copilot", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, timeout=300)


def test_help_loads_no_sdk_and_lists_the_commands():
    code = ("import sys; from mlr_copilot.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in proc.stdout
    for command in ("run", "tasks", "show", "import-log", "restore", "eval", "batch", "idea", "pipeline", "doctor"):
        assert command in proc.stdout


def test_tasks_lists_the_offline_tasks():
    proc = mlr("tasks", "--root", str(REPO))
    assert proc.returncode == 0
    for name in ("digits", "wine", "diabetes"):
        assert name in proc.stdout


def test_unknown_task_and_unknown_llm_are_clear_errors(tmp_path):
    proc = mlr("run", "nope", "--root", str(REPO), "--log-root", str(tmp_path))
    assert proc.returncode == 1 and "nope" in proc.stderr and "digits" in proc.stderr
    proc = mlr("run", "digits", "--llm", "gpt5000", "--root", str(REPO), "--log-root", str(tmp_path),
               "--feedback", "none")
    assert proc.returncode == 1 and "gpt5000" in (proc.stdout + proc.stderr)


def test_a_scripted_run_from_the_command_line_then_resume_says_it_is_finished(tmp_path):
    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "toy").write_text("Print hello.\n")
    (tmp_path / "workspaces" / "toy").mkdir(parents=True)
    (tmp_path / "workspaces" / "toy" / "hello.py").write_text("print('hello')\n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"main": [
        'Thought: run it\nAction: Execute Script\nAction Input: {"script_name": "hello.py"}',
        'Thought: done\nAction: Final Answer\nAction Input: {"final_answer": "It printed hello."}',
    ]}))
    proc = mlr("run", "toy", "--llm", f"scripted:{script}", "--root", str(tmp_path), "--log-root",
               str(tmp_path / "logs"), "--feedback", "none", "--sandbox", "none")
    assert proc.returncode == 0, proc.stderr
    assert "final_answer" in proc.stdout and "It printed hello." in proc.stdout
    log_dir = Path(proc.stdout.split("Log: ")[1].strip())
    steps = [json.loads(line) for line in (log_dir / "agent_log" / "full_log.jsonl").read_text().splitlines()]
    assert "hello" in [s for s in steps if s.get("type") == "step"][0]["full_observation"]
    again = mlr("run", "--resume", str(log_dir))
    assert "already finished" in again.stdout
    shown = mlr("show", str(log_dir))
    assert shown.returncode == 0 and "Execute Script" in shown.stdout


def test_flags_typed_with_resume_become_overrides():
    args = build_parser().parse_args(["run", "--resume", "logs/x/y", "--max-steps", "80", "--llm", "claude"])
    assert _typed_overrides(args) == {"max_steps": 80, "llm": "claude"}
    assert _typed_overrides(build_parser().parse_args(["run", "--resume", "d"])) == {}


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


@pytest.mark.parametrize("args,expected,valid", [(["nope"], "unknown task 'nope'", "digits"),
                                                 (["digits", "gpt5"], "unknown LLM 'gpt5'", "claude"),
                                                 ([], "usage", "digits")])
def test_run_demo_refuses_bad_arguments_with_the_valid_ones(args, expected, valid, tmp_path):
    proc = subprocess.run(["bash", str(REPO / "run_demo.sh"), *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)  # from another directory: paths are relative to the script
    assert proc.returncode != 0
    assert expected in proc.stderr
    assert valid in proc.stderr


@pytest.mark.slow
def test_prepare_model_reports_the_ready_model():
    proc = mlr("prepare-model")
    assert proc.returncode == 0, proc.stderr
    assert "Embedded model ready:" in proc.stdout and proc.stdout.strip().endswith(".gguf")


def test_ctrl_c_stops_the_script_and_marks_the_run_interrupted(tmp_path):
    import signal
    import time

    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "toy").write_text("Wait.\n")
    ws = tmp_path / "workspaces" / "toy"
    ws.mkdir(parents=True)
    (ws / "slow.py").write_text("import os, time\nopen('started.txt', 'w').write(str(os.getpid()))\n"
                                "time.sleep(600)\n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps(['Thought: run\nAction: Execute Script\nAction Input: {"script_name": "slow.py"}']))
    proc = subprocess.Popen([sys.executable, "-m", "mlr_copilot", "run", "toy", "--llm", f"scripted:{script}",
                             "--root", str(tmp_path), "--log-root", str(tmp_path / "logs"), "--feedback", "none",
                             "--sandbox", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    marker = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "logs").glob("toy/*/workspace/started.txt"))
        if found and found[0].read_text():
            marker = found[0]
            break
        time.sleep(0.05)  # polling for the script to start, not timing a result
    assert marker is not None, proc.stderr.read() if proc.poll() is not None else "script never started"
    script_pid = int(marker.read_text())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    run = json.loads((marker.parent.parent / "run.json").read_text())
    assert run["status"] == "interrupted", (out, err)
    assert "interrupted" in out
    with pytest.raises(ProcessLookupError):  # the running script was stopped with the run
        for _ in range(100):
            os.kill(script_pid, 0)
            time.sleep(0.05)


def test_a_missing_key_is_reported_before_any_run_dir_is_made(tmp_path):
    env = {k: "" for k in ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY")}
    proc = mlr("run", "digits", "--llm", "claude", "--root", str(REPO), "--log-root", str(tmp_path / "logs"),
               "--feedback", "none", env=env, cwd=tmp_path)
    assert proc.returncode == 1
    assert "ANTHROPIC_API_KEY" in proc.stderr
    assert not (tmp_path / "logs").exists()
