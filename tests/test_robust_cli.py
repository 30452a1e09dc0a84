"""Issue 13, second half: what a flag, a file or a damaged run directory does must end in a
clear message with the run intact (eval of huge submissions, numbers on the command line,
problem files, --resume checks and rebuilds, idea warnings, models missing before a run
directory is made). One test per row of the issue's table."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pandas  # noqa: F401  (imported here, so the memory measured below is the grading's own)
import pytest

from fakes import idea_answers as A
from fakes.llm_servers import FakeLLMServer, openai_text
from fakes.minipdf import make_pdf
from fakes.wires import FAKE_OPENAI_KEY
from mlr_copilot.agents.resume import resume_run
from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.cli import main
from mlr_copilot.errors import ConfigError
from mlr_copilot.grading import InvalidSubmission, read_submission
from mlr_copilot.tasks import describe_tasks, discover_tasks

from reliability_project import make_project, options, step
from robust_helpers import GUARD_S, scripted_models, toy_run, within


# ------------------------------------------------------------------------------- eval
@pytest.mark.parametrize("kind", ["sparse 400 MB", "20 MB of zero rows"])
def test_an_oversized_submission_is_refused_in_bounded_memory(tmp_path, kind):
    path = tmp_path / "submission.csv"
    with open(path, "wb") as f:
        f.write(b"id,a,b\n")
        if kind.startswith("sparse"):
            f.truncate(400 << 20)
        else:
            f.write(b"0\n" * (10 << 20))
    tracemalloc.start()
    with pytest.raises(InvalidSubmission, match="far more than a submission of 1,000 rows needs"):
        within(10, lambda: read_submission(tmp_path, id_column="id", columns=["a", "b"],
                                           expected_ids=[str(i) for i in range(1000)]))
    assert tracemalloc.get_traced_memory()[1] < 4 << 20
    tracemalloc.stop()


def test_too_many_rows_are_refused_while_streaming(tmp_path):
    rows = "".join(f"{i},0.5\n" for i in range(60))
    (tmp_path / "submission.csv").write_text("id,a\n" + rows)
    with pytest.raises(InvalidSubmission, match="far more rows than the 10 expected"):
        read_submission(tmp_path, id_column="id", columns=["a"], expected_ids=[str(i) for i in range(10)])
    (tmp_path / "submission.csv").write_text("id,wrong\n0,1\n")
    with pytest.raises(InvalidSubmission, match="lacks the column"):
        read_submission(tmp_path, id_column="id", columns=["a"], expected_ids=["0"])


# ---------------------------------------------------------------------- problem files
@pytest.mark.parametrize("content,message", [(b"\xff\xfe bad \x80", "is not UTF-8 text"),
                                             (b"  \n", "is empty")])
def test_a_bad_problem_file_gets_a_clear_message_before_any_run_dir(tmp_path, content, message):
    root = make_project(tmp_path / "project")
    (root / "problems" / "toy").write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        run_experiment(options(root), models=scripted_models([]))
    assert not (root / "logs").exists()


# ------------------------------------------------------------------------ CLI numbers
@pytest.mark.parametrize("flag,value", [("--script-timeout", "nan"), ("--max-steps", "-1"), ("--max-steps", "0"),
                                        ("--max-time", "nan"), ("--max-time", "inf"), ("--memory-limit", "0"),
                                        ("--memory-limit", "-5"), ("--history-steps", "-2"),
                                        ("--max-cost", "-1"), ("--max-llm-calls", "0"),
                                        ("--tree-drafts", "0"), ("--tree-drafts", "1.5"),
                                        ("--tree-debug-prob", "nan"), ("--tree-debug-prob", "1.5"),
                                        ("--tree-debug-prob", "-0.1"), ("--tree-max-debug-depth", "-1"),
                                        ("--tree-max-debug-depth", "inf")])
def test_every_cli_number_is_checked_with_the_option_named(tmp_path, capsys, flag, value):
    root = make_project(tmp_path / "project")
    with pytest.raises(SystemExit) as exc:
        main(["run", "toy", "--root", str(root), "--log-root", str(tmp_path / "logs"), f"{flag}={value}"])
    assert exc.value.code == 2
    assert f"argument {flag}:" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


def test_tree_numbers_at_their_bounds_are_accepted():
    from mlr_copilot.cli import build_parser
    args = build_parser().parse_args(["run", "toy", "--tree-drafts", "1", "--tree-debug-prob", "0",
                                      "--tree-max-debug-depth", "0"])
    assert (args.tree_drafts, args.tree_debug_prob, args.tree_max_debug_depth) == (1, 0.0, 0)
    assert build_parser().parse_args(["run", "toy", "--tree-debug-prob", "1"]).tree_debug_prob == 1.0


@pytest.mark.parametrize("flag,value", [("--tree-drafts", "0"), ("--tree-debug-prob", "nan"),
                                        ("--tree-max-debug-depth", "-1"), ("--steps", "0"), ("--trials", "0")])
def test_the_agent_suite_refuses_bad_numbers_as_the_cli_does(tmp_path, capsys, flag, value):
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(repo / "benchmarks" / "agent_suite.py"), f"{flag}={value}"],
                          capture_output=True, text=True, timeout=GUARD_S,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert f"argument {flag}" in message
    cli = (["batch", "--tasks", "toy", f"{flag}={value}"] if flag == "--trials"
           else ["run", "toy", f"{'--max-steps' if flag == '--steps' else flag}={value}"])
    with pytest.raises(SystemExit):
        main(cli)
    assert message.rsplit(": ", 1)[1] in capsys.readouterr().err  # the same reason, word for word


# ----------------------------------------------------------------------------- resume
def _dead_run(tmp_path: Path) -> Path:
    """A finished toy run made to look killed after its step 2 (run_end removed)."""
    result = toy_run(tmp_path, [("List Files", {"dir_path": "."}), ("Read File", {"file_name": "notes.txt"})])
    assert result.status == "final_answer", result.message
    run_dir = result.run_dir
    log = run_dir / "agent_log" / "full_log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    keep = [r for r in records if r["type"] != "run_end" and not (r["type"] == "step" and r["step"] == 3)]
    log.write_text("".join(json.dumps(r) + "\n" for r in keep))
    info = json.loads((run_dir / "run.json").read_text())
    info.update(status="running", final_answer=None)
    (run_dir / "run.json").write_text(json.dumps(info))
    return run_dir


def _orphan(workspace: Path) -> subprocess.Popen:
    from mlr_copilot.env.process import MARKER_VAR
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=workspace,
                            env={**os.environ, MARKER_VAR: "dead-run"}, start_new_session=True)


def test_resume_checks_before_repairing_and_always_stops_leftover_scripts(tmp_path):
    run_dir = _dead_run(tmp_path)
    log = run_dir / "agent_log" / "full_log.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[1] = lines[1][: len(lines[1]) // 2] + "\n"  # a damaged line in the middle
    log.write_text("".join(lines))
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    orphan = _orphan(run_dir / "workspace")
    try:
        with pytest.raises(ConfigError, match="damaged record at line 2"):
            within(GUARD_S, lambda: resume_run(run_dir, feedback_mode="none", models=scripted_models([])))
        assert orphan.wait(timeout=10) == -9  # stopped even though the resume was refused
    finally:
        orphan.kill()
        orphan.wait()
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before and not list(run_dir.rglob("*.torn"))


def test_resume_rebuilds_a_deleted_run_json(tmp_path):
    run_dir = _dead_run(tmp_path)
    (run_dir / "run.json").unlink()
    main_model = [step("done", "Final Answer", {"final_answer": "again"})]
    result = within(GUARD_S, lambda: resume_run(run_dir, feedback_mode="none", models=scripted_models(main_model)))
    assert result.status == "final_answer", result.message
    info = json.loads((run_dir / "run.json").read_text())
    assert info["rebuilt_run_json"] and info["task"] == "toy" and info["resumes"][-1]["from_step"] == 2


# ------------------------------------------------------------------------------- idea
def _paper_project(tmp_path: Path, workspace: bool) -> Path:
    (tmp_path / "paper.pdf").write_bytes(make_pdf(["Shifted Digits", "Abstract", "Shifts help tiny images.",
                                                   "1 Introduction", "Digits move by a pixel."]))
    if workspace:
        (tmp_path / "workspaces" / "digits").mkdir(parents=True)
    return tmp_path


def _idea(tmp_path, server, *extra):
    return main(["idea", str(tmp_path / "paper.pdf"), "--task", "digits", "--llm", "openai:test-model",
                 "--llm-base-url", server.url + "/v1", "--yes", "--offline", "--root", str(tmp_path),
                 "--log-root", str(tmp_path / "logs"), *extra])


def test_idea_warns_when_the_task_has_no_workspace(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    project = _paper_project(tmp_path, workspace=False)
    with FakeLLMServer() as server:
        server.queue(*[openai_text(a, prompt_tokens=10, completion_tokens=2) for a in A.full_run()])
        assert _idea(project, server) == 0
    out = capsys.readouterr()
    assert "has no workspace" in out.out and "has no workspace" in out.err
    assert "no workspace" in describe_tasks(discover_tasks(project))  # `tasks` no longer says ready
    with pytest.raises(ConfigError, match="has no workspace"):  # and `run` says so before a run dir
        run_experiment(RunOptions(task="digits", root=str(project), sandbox="none", feedback="none",
                                  log_root=str(tmp_path / "runs")), models=scripted_models([]))
    assert not (tmp_path / "runs").exists()


def test_idea_hint_names_a_real_option(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    project = _paper_project(tmp_path, workspace=True)
    (project / "problems").mkdir()
    (project / "problems" / "digits").write_text("hand-written\n")
    with FakeLLMServer() as server:
        assert _idea(project, server) == 1
        assert "--problem-name NAME" in capsys.readouterr().err
        server.queue(*[openai_text(a, prompt_tokens=10, completion_tokens=2) for a in A.full_run()])
        assert _idea(project, server, "--problem-name", "digits_shifts") == 0  # the hint works
    assert (project / "problems" / "digits").read_text() == "hand-written\n"
    assert (project / "problems" / "digits_shifts").read_text().strip()


# ------------------------------------------------------------------ models before runs
def test_an_uncached_llama_fails_before_a_run_dir_is_made(tmp_path, monkeypatch):
    root = make_project(tmp_path / "project")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf" / "hub"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="Llama-3.1-8B-Instruct|needs torch|needs transformers"):
        run_experiment(options(root, llm="llama"))
    assert not (root / "logs").exists()
