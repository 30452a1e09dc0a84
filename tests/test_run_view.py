"""The result at the end of a run and its HTML report, on a real offline task (wine).

A scripted researcher runs the starter, replaces the model, runs it again and gives a Final
Answer; everything else is real. The run ends by grading its final workspace against the
hidden answers and prints the score beside the baseline; ``show`` and run.json carry it; the
report renders in headless Chromium with no console error and no network request.
"""
from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.cli import main as cli_main
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.show import render_run
from mlr_copilot.view.report import render_run_html, report_cli
from mlr_copilot.view.report_parts import nodes_of, score_chart_svg, tree_html
from mlr_copilot.view.result import score_line
from browser import Browser, Page, find_chromium
from task_helpers import IMPROVED, prepared_root

HOSTILE = "<script>document.title='owned'</script><img src=http://127.0.0.1:9/leak.png>"
BETTER = IMPROVED["wine"] + f"print({HOSTILE!r})\n"


def respond(thought, action, args):
    return (f"Reflection: ok\nResearch Plan and Status: 1. baseline 2. better model\nFact Check: none\n"
            f"Thought: {thought}\nAction: {action}\nAction Input: {json.dumps(args)}")


def scripted_run(root: Path, main: list[str], edits: list[str] = ()):
    models = Models(main=ScriptedLLM(main, model="main"),
                    fast=ScriptedLLM(["Entry: did the step."], model="fast", repeat_last=True),
                    edit=ScriptedLLM([f"```python\n{code}```" for code in edits], model="edit"))
    opts = RunOptions(task="wine", root=str(root), log_root=str(root / "logs"), sandbox="none", feedback="none",
                      python=(sys.executable, "-u"), script_timeout_s=120)
    return run_experiment(opts, models=models, feedback=NoFeedback())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = prepared_root(tmp_path_factory, tasks=("wine",))
    improved = scripted_run(root, [
        respond("measure the baseline", "Execute Script", {"script_name": "train.py"}),
        respond("try a better model", "Edit Script (AI)", {"script_name": "train.py", "save_name": "train.py",
                                                           "edit_instruction": "use a better model"}),
        respond("run it", "Execute Script", {"script_name": "train.py"}),
        respond("done", "Final Answer", {"final_answer": "Replaced the model."})], [BETTER])
    idle = scripted_run(root, [respond("nothing to do", "Final Answer", {"final_answer": "I did nothing."})])
    return root, improved, idle


def test_the_run_ends_with_its_score_beside_the_baseline(runs):
    root, improved, idle = runs
    line = score_line(improved.result)
    assert re.fullmatch(r"accuracy 0\.\d{3} vs baseline 0\.722: \+\d+\.\d%, success", line), line
    info = json.loads((improved.run_dir / "run.json").read_text())
    assert info["result"]["success"] is True and info["result"]["improvement_pct"] > 10
    assert info["result"]["baseline"] == pytest.approx(0.7222, abs=1e-3)
    # no submission in the final workspace: the same rule says no success
    assert idle.result["valid"] is False and idle.result["success"] is False
    assert score_line(idle.result).startswith("accuracy: no valid submission (")
    assert score_line(idle.result).endswith("vs baseline 0.722: no success")


def test_show_prints_the_result(runs):
    _, improved, _ = runs
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    render_run(improved.run_dir, console=console)
    assert f"Result  {score_line(improved.result)}" in console.export_text()


def test_eval_all_steps_prints_each_step_score(runs, capsys):
    root, improved, _ = runs
    assert cli_main(["eval", "--all-steps", "--root", str(root), str(improved.run_dir)]) == 0
    out = capsys.readouterr().out
    assert "  step 0: invalid (submission.csv" in out
    assert re.search(r"  step 1: accuracy=0\.7222 \(\+0\.0% vs baseline\)", out)
    assert re.search(r"  step 3: accuracy=0\.\d+ \(\+\d+\.\d% vs baseline\) best", out)


def test_the_report_escapes_run_text_and_holds_timeline_diff_and_chart(runs, capsys):
    root, improved, _ = runs
    cli_main(["eval", "--all-steps", "--root", str(root), str(improved.run_dir)])
    html = render_run_html(improved.run_dir)
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;document.title=&#x27;owned&#x27;&lt;/script&gt;" in html
    assert 'id="timeline"' in html and html.count('class="card step"') == 4
    assert 'id="diff-2"' in html and "LogisticRegression" in html  # the edit's diff
    assert '<polyline class="series"' in html and 'class="baseline"' in html
    assert not re.search(r"""<[a-zA-Z][^<>]*\s(src|href)\s*=\s*["']?[a-z]+:""", html)  # no tag loads anything
    assert (improved.run_dir / "report.html").is_file()  # written when the run ended


def test_the_tree_of_nodes_and_the_chart_render_as_plain_markup():
    nodes = [{"id": "n0", "parent": None, "stage": "draft", "metric": 0.7, "buggy": False, "code_hash": "abc"},
             {"id": "n1", "parent": "n0", "stage": "improve", "metric": 0.9, "buggy": False},
             {"id": "n2", "parent": "n0", "stage": "debug", "metric": None, "buggy": True},
             {"id": "<b>", "parent": "lost", "stage": "draft", "metric": None, "buggy": False}]
    html = tree_html(nodes)
    assert html.index("n0") < html.index("n1") and html.count('<ul class="tree">') == 2
    assert 'class="node buggy"' in html and "&lt;b&gt;" in html and "<b><b>" not in html
    records = [{"step": 1, "node": {"id": 1, "parent": None, "stage": "draft", "buggy": None}},
               {"step": 2, "node": {"id": 1, "parent": None, "stage": "draft", "metric": 0.8, "buggy": False}}]
    assert nodes_of(records) == [{"id": 1, "parent": None, "stage": "draft", "metric": 0.8, "buggy": False,
                                  "step": 1}]  # one node per id: its last record, its first step
    svg = score_chart_svg([("a", [(1, 0.5), (2, 0.75)])], baseline=0.6, metric="accuracy")
    assert svg.count("<circle") == 2 and "baseline 0.6" in svg
    assert score_chart_svg([("a", [])], baseline=None, metric="x") == ""


def _check_page(browser: Browser, path: Path, selectors: list[str], shot: Path) -> None:
    page = Page(browser, path, width=1200, height=1000)
    for selector in selectors:
        assert page.visible(selector), selector
    assert page.evaluate("document.title") != "owned"
    assert page.errors() == []
    assert page.requests() == []
    page.screenshot(shot)
    assert shot.stat().st_size > 10_000


def test_reports_render_in_headless_chromium(runs, tmp_path):
    root, improved, idle = runs
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed here (apt-get install chromium); CI installs it")
    cli_main(["eval", "--all-steps", "--root", str(root), str(improved.run_dir), str(idle.run_dir)])
    summary, *run_reports = report_cli([root / "logs"], tmp_path / "summary.html")
    assert len(run_reports) == 2
    text = summary.read_text()
    assert "1 of 2 judged runs succeeded (50%)" in text and text.count('href="') == 2
    shots = Path(os.environ.get("MLR_SCREENSHOTS_DIR") or tmp_path)
    browser = Browser(binary)
    try:
        _check_page(browser, improved.run_dir / "report.html",
                    ["#timeline .step", "#chart svg polyline.series", "#diff-2 pre.diff", "pre.observation"],
                    shots / "report-run.png")
        _check_page(browser, summary, ["#summary table", "#chart svg polyline.series", "#runs a"],
                    shots / "report-batch.png")
    finally:
        browser.close()


def test_baseline_prints_a_readable_line_and_leaves_the_tracked_file_alone(runs, tmp_path, capsys):
    root = runs[0]
    tracked = root / "tasks" / "wine" / "baseline.json"
    before = tracked.read_bytes()
    assert cli_main(["baseline", "wine", "--root", str(root), "--log-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Baseline of wine: accuracy 0.722 (higher is better)" in out
    assert "the recorded baseline 0.722 is unchanged (use --record to replace it)" in out
    assert tracked.read_bytes() == before
    assert json.loads((tmp_path / "baselines" / "wine.json").read_text())["score"] == pytest.approx(0.7222, abs=1e-3)


def test_a_tree_run_report_shows_its_nodes(tmp_path):
    from tree_helpers import good, make_project, models, options

    root = make_project(tmp_path)
    result = run_experiment(options(root, max_steps=3, tree_drafts=2, tree_debug_prob=0.0),
                            models=models([good(0.6), good(0.8), good(0.9)]), feedback=NoFeedback())
    html = (result.run_dir / "report.html").read_text()
    tree = html[html.index('<section id="tree">'):html.index('<section id="timeline">')]
    assert tree.count('class="node"') == 3 and tree.count('<ul class="tree">') == 2  # node 3 under node 2
    assert "<b>3</b> · improve · metric 0.9" in tree
