"""run.json and the benchmark journals name the commit of the code that ran, so a result can
be traced back to it (and a checkout with uncommitted changes says so)."""
import json
import os
import subprocess

from mlr_copilot.agents.runner import run_experiment
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.source import CHECKOUT, source_commit

from test_agent_e2e import make_project, options, scripted_models, step

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}


def _git(root, *args):
    return subprocess.run(["git", "-C", str(root), *args], check=True, env=GIT_ENV, capture_output=True,
                          text=True).stdout.strip()


def test_the_commit_says_when_tracked_files_were_changed(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    clean = source_commit(tmp_path)
    assert clean == _git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "a.py").write_text("x = 2\n")
    assert source_commit(tmp_path) == clean + "+changes"
    (tmp_path / "sub").mkdir()  # a package installed inside someone else's repository has no commit of its own
    assert source_commit(tmp_path / "sub") is None
    assert source_commit(tmp_path / "not-a-repo") is None


def test_a_run_records_the_commit_of_the_code_that_ran(tmp_path):
    root = make_project(tmp_path)
    main = [step("done", "Final Answer", {"final_answer": "It fails with a NameError."})]
    result = run_experiment(options(root), models=scripted_models(main), feedback=NoFeedback())
    recorded = json.loads((result.run_dir / "run.json").read_text())["mlr_copilot_commit"]
    if (CHECKOUT / ".git").exists():
        assert recorded.split("+")[0] == _git(CHECKOUT, "rev-parse", "HEAD")
    else:
        assert recorded is None
