"""Progress a user sees while waiting: a running script's elapsed time and last line, steps."""
import io
import sys

from mlr_copilot import progress
from mlr_copilot.cli import ProgressPrinter
from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment


def test_a_running_script_reports_elapsed_time_and_its_last_line(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "train.py").write_text("import time\nprint('epoch 1 loss 0.5', flush=True)\ntime.sleep(1.6)\nprint('done')\n")
    env = Environment(EnvConfig(sandbox="none"), workspace=ws, env_log_dir=tmp_path / "env_log")
    seen = []
    progress.listen("script", lambda elapsed_s, last_line: seen.append((elapsed_s, last_line)))
    try:
        obs = env.execute("Execute Script", {"script_name": "train.py"}, step=1)
    finally:
        progress.listen("script", None)
    assert "done" in obs.text
    assert seen and seen[0][0] >= 1.0
    # the script sleeps 1.6 s after its print, so a report (about one a second) follows it; the
    # first report may come before the print on a loaded machine (a clean-clone run saw it at 1.37 s)
    assert any(line == "epoch 1 loss 0.5" for _, line in seen), seen


def test_the_last_line_shown_while_a_script_runs_has_its_secrets_scrubbed(tmp_path, monkeypatch):
    secret = "not-a-real-key-0123456789abcdef"
    monkeypatch.setenv("EXAMPLE_API_KEY", secret)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "train.py").write_text(f"import time\nprint('key ' + {secret[:6]!r} + {secret[6:]!r}, flush=True)\n"
                                 "time.sleep(1.6)\n")
    env = Environment(EnvConfig(sandbox="none"), workspace=ws, env_log_dir=tmp_path / "env_log")
    seen = []
    progress.listen("script", lambda elapsed_s, last_line: seen.append(last_line))
    try:
        env.execute("Execute Script", {"script_name": "train.py"}, step=1)
    finally:
        progress.listen("script", None)
    assert any(line == "key [REDACTED]" for line in seen) and not any(secret in line for line in seen), seen


def test_the_printer_shows_steps_scripts_and_never_breaks_the_run():
    out = io.StringIO()
    with ProgressPrinter(out):
        progress.report("step", step=2, max_steps=10, phase="acting", action="Execute Script")
        progress.report("script", elapsed_s=3.0, last_line="epoch 3")
        progress.report("script", elapsed_s=4.0, last_line="epoch 4")  # not a terminal: throttled
        progress.report("script", unexpected="argument")  # a bad report is ignored
    text = out.getvalue()
    assert "[step 2/10] acting: Execute Script" in text
    assert "script running 3 s | epoch 3" in text and "epoch 4" not in text
    progress.report("step", step=3, max_steps=10, phase="acting", action="x")  # nobody listens: silent
    assert "[step 3" not in out.getvalue()
