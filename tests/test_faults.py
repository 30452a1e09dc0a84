"""Faults a long run meets (issue 8): a flaky model server, a full log disk, hostile scripts.

Model faults: the real OpenAI and Anthropic SDKs talk to a faulty server on 127.0.0.1
(tests/fakes/fault_server.py) that drops connections mid-response, resets them, answers
429/5xx storms, hangs, or returns empty or malformed completions. Every run must retry
within bounds, then either finish or end with a clear ``llm_error`` — in bounded time,
with every HTTP attempt accounted for in the call log and every log line whole. Backoff
sleeps are recorded instead of slept; the only real waiting is the short SDK timeout of
the "hang" faults.
"""
from __future__ import annotations

import json
import os
import random
import re
import resource
import signal
import time
from pathlib import Path

import pytest

from fakes.fault_server import FAULTS, FaultServer
from mlr_copilot.agents.runner import run_experiment
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.registry import build_models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import JsonlWriter, read_jsonl

from reliability_project import (MAIN, Reference, assert_jsonl_valid, cli, make_project, only_run_dir, options,
                                 replay_args, step, step_views)

PROVIDERS = {
    "openai": ("openai:gpt-test", {"OPENAI_API_KEY": "sk-test-faults-0123456789"}),
    "anthropic": ("anthropic:claude-test", {"ANTHROPIC_API_KEY": "sk-ant-test-faults-0123456789"}),
}
AGENT = [step("see the files", "List Files", {"dir_path": "."}),
         step("long report", "Execute Script", {"script_name": "report.py"}),
         step("done", "Final Answer", {"final_answer": "The report has 120 rows."})]
MAX_ATTEMPTS = 4
TIMEOUT_S = 0.5
RUN_BOUND_S = 30.0  # no faulty run may take longer than this: never a hang


def agent_answer(body: dict) -> str:
    """The scripted researcher, answering from the request: agent prompts carry a system
    prompt, and the history in them tells which step is asked for."""
    messages = body.get("messages") or []
    if not (body.get("system") or any(m.get("role") == "system" for m in messages)):
        return "Noted: the step went as planned."
    prompt = messages[-1]["content"]
    prompt = prompt if isinstance(prompt, str) else " ".join(p.get("text", "") for p in prompt)
    done = [int(n) for n in re.findall(r"^Step (\d+):", prompt, re.M)]
    return AGENT[min(max(done, default=0), len(AGENT) - 1)]


class Outcome:
    def __init__(self, tmp_path: Path, provider: str, faults: list, *, max_attempts: int = MAX_ATTEMPTS):
        name, env = PROVIDERS[provider]
        root = make_project(tmp_path / "project")
        self.waits: list[float] = []
        calls = tmp_path / "calls.jsonl"
        with FaultServer(agent_answer, faults, hang_s=5.0) as server:
            models = build_models(name, base_url=server.url, env=env, max_attempts=max_attempts,
                                  timeout_s=TIMEOUT_S, sleep=self.waits.append, call_log=JsonlWriter(calls))
            t0 = time.monotonic()
            self.result = run_experiment(options(root), models=models, feedback=NoFeedback())
            self.seconds = time.monotonic() - t0
        self.server = server
        self.calls = read_jsonl(calls)
        self.run_dir = self.result.run_dir
        self.steps = [r for r in read_jsonl(self.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]

    def check(self) -> None:
        """What holds whatever the faults: bounded, accounted for, logged whole, ended clearly."""
        assert self.seconds < RUN_BOUND_S
        assert sum(c["attempts"] for c in self.calls) == len(self.server.requests)  # no attempt unlogged
        assert all(c["attempts"] <= MAX_ATTEMPTS for c in self.calls)
        for c in self.calls:
            assert (c["completion"] or "").strip() if c["error_type"] is None else c["error"]
        for name in ("agent_log/full_log.jsonl", "agent_log/llm_calls.jsonl", "env_log/trace.jsonl"):
            if (self.run_dir / name).exists():
                assert_jsonl_valid(self.run_dir / name)
        assert [s["step"] for s in self.steps] == list(range(1, len(self.steps) + 1))
        info = json.loads((self.run_dir / "run.json").read_text())
        end = read_jsonl(self.run_dir / "agent_log" / "full_log.jsonl")[-1]
        assert info["status"] == end["status"] == self.result.status
        assert self.result.status in ("final_answer", "llm_error"), self.result.message
        if self.result.status == "final_answer":
            assert [s["action"] for s in self.steps] == ["List Files", "Execute Script", "Final Answer"]
            assert "row 119" in self.steps[1]["full_observation"]
        else:
            assert info["message"] and f"gave up after {MAX_ATTEMPTS} attempts" in info["message"]


RECOVERED = {
    "connection dropped mid-response": ["drop", "drop"],
    "connection reset": ["reset", "reset", "reset"],
    "storm of 429s": ["429"] * 3,
    "storm of 5xx": ["500", "502", "503"],
    "hang until timeout": ["hang"],
    "empty completions": ["empty", "empty"],
    "malformed body": ["malformed", "drop"],
}
GAVE_UP = {
    "connection dropped mid-response": ("drop", "LLMConnectionError"),
    "storm of 429s": ("429", "LLMRateLimitError"),
    "storm of 5xx": ("503", "LLMServerError"),
    "hang until timeout": ("hang", "LLMTimeoutError"),
    "empty completions": ("empty", "LLMEmptyResponseError"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", RECOVERED)
def test_the_run_retries_through_a_passing_fault_and_goes_on(tmp_path, provider, fault):
    out = Outcome(tmp_path, provider, RECOVERED[fault])
    out.check()
    assert out.result.status == "final_answer"
    assert out.server.faults_served == RECOVERED[fault]
    first = out.calls[0]
    assert first["attempts"] == len(RECOVERED[fault]) + 1 and first["error"] is None
    if fault == "storm of 429s":
        assert out.waits == [0.0, 0.0, 0.0]  # the server's retry-after: 0 was honoured
    else:
        assert len(out.waits) == len(RECOVERED[fault])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", GAVE_UP)
def test_a_fault_that_does_not_pass_ends_the_run_clearly(tmp_path, provider, fault):
    kind, error = GAVE_UP[fault]
    out = Outcome(tmp_path, provider, [kind] * 100)
    out.check()
    assert out.result.status == "llm_error" and error in out.result.message
    assert len(out.server.requests) == MAX_ATTEMPTS and out.steps == []
    assert out.calls[-1]["error_type"] == error and out.calls[-1]["attempts"] == MAX_ATTEMPTS


@pytest.mark.slow
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("seed", range(6))
def test_random_fault_storms_end_cleanly(tmp_path, provider, seed, record_property):
    rng = random.Random(seed)
    kinds = [k for k in FAULTS if k != "hang"] + ["hang"] * (seed % 2)  # some storms hang too
    faults = [rng.choice(kinds) if rng.random() < 0.45 else None for _ in range(300)]
    faults[0] = faults[0] or rng.choice(kinds)  # the storm starts at the first request, however few the run makes
    out = Outcome(tmp_path, provider, faults)
    out.check()
    assert out.server.faults_served  # the storm did hit the run
    record_property("cases", len(out.server.faults_served))


# ---------------------------------------------------------------------- full log disk
FILE_LIMIT = 48_000  # bytes per file: reached by the call log after a few steps


def _small_files() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    return Reference(tmp_path_factory.mktemp("faults"))


def test_a_full_log_disk_stops_the_run_clearly_and_keeps_earlier_records(reference, tmp_path):
    import shutil
    shutil.rmtree(reference.ws, ignore_errors=True)
    r = cli(replay_args(reference.root, reference.ref, tmp_path, reference.ws), cwd=reference.base,
            preexec_fn=_small_files)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Run finished: error — Cannot write the run's files: [Errno 27] File too large" in r.stdout
    assert "mlr-copilot run --resume" in r.stdout and "Traceback" not in r.stdout
    # stderr holds the live view, which shows the agent's script failing; never our own traceback
    assert 'File "' not in r.stderr.replace('File "main.py"', "")
    run_dir = only_run_dir(tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "error" and "disk may be full" in info["message"]
    for name in ("agent_log/full_log.jsonl", "agent_log/llm_calls.jsonl", "env_log/trace.jsonl"):
        assert_jsonl_valid(run_dir / name)  # the failed write was taken back: no half line
    done = step_views(run_dir)
    assert 1 <= len(done) < len(reference.steps) and done == reference.steps[:len(done)]
    # with space again, the run goes on from where it stopped, as if nothing happened
    r = cli(["run", "--resume", str(run_dir)], cwd=reference.base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert step_views(run_dir) == reference.steps
    resumes = json.loads((run_dir / "run.json").read_text())["resumes"]
    assert [e["previous_status"] for e in resumes] == ["error"]
    shutil.rmtree(reference.ws, ignore_errors=True)


# ---------------------------------------------------------------- hostile scripts, in a run
DAEMON = """import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
        open('daemon_was_here.txt', 'w').write('x')
        os._exit(0)
    os._exit(0)
for i in range(20):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
print('parent leaves its children behind')
"""
FLOOD = "import sys\nchunk = b'y' * (1 << 20)\nfor _ in range(64):\n    sys.stdout.buffer.write(chunk)\nprint('end')\n"
ENDLESS = "print('working...', flush=True)\nwhile True:\n    pass\n"
CLOSES_PIPES = ("import os, sys, time\nos.close(1)\nos.close(2)\n"
                "if os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)\ntime.sleep(60)\n")
HOSTILE = {
    "forks daemons": (DAEMON, "parent leaves its children behind"),
    "prints 64 MB": (FLOOD, "bytes of output cut here"),
    "never ends": (ENDLESS, "The script was stopped after 1.0 s"),
    "closes its output and hangs": (CLOSES_PIPES, "The script was stopped after 1.0 s"),
}


def _marked_processes(ws: Path) -> list[int]:
    from mlr_copilot.env.process import MARKER_VAR
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            if MARKER_VAR.encode() in Path(f"/proc/{pid}/environ").read_bytes() and \
                    os.readlink(f"/proc/{pid}/cwd").startswith(str(ws)):
                found.append(pid)
        except OSError:
            continue
    return found


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_script_is_an_observation_and_the_run_goes_on(tmp_path, kind):
    source, expected = HOSTILE[kind]
    root = make_project(tmp_path)
    (root / "workspaces" / "toy" / "hostile.py").write_text(source)
    main = [step("run it", "Execute Script", {"script_name": "hostile.py"}),
            step("look", "List Files", {"dir_path": "."}), MAIN[-1]]
    models = Models(main=ScriptedLLM(main), fast=ScriptedLLM(["Noted."], repeat_last=True),
                    edit=ScriptedLLM([]))
    t0 = time.monotonic()
    result = run_experiment(options(root, script_timeout_s=1.0), models=models, feedback=NoFeedback())
    assert time.monotonic() - t0 < RUN_BOUND_S
    assert result.status == "final_answer", result.message
    steps = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]
    assert expected in steps[0]["full_observation"]
    assert len(steps[0]["observation"]) < 12_000  # what reaches the prompt stays bounded
    ws = result.run_dir / "workspace"
    assert _marked_processes(ws) == []  # nothing the script started outlives its step
    assert not (ws / "daemon_was_here.txt").exists()
