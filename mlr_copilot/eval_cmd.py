"""``mlr-copilot eval``: grade runs, print their scores, claims and hypothesis verdicts, and
write the summary of many runs."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .evaluation import (claim_lines, evaluate_run, find_run_dirs, format_run_line, format_step_scores,
                         is_run_dir, summarize, summary_markdown, write_summary)
from .hypothesis import describe as describe_hypothesis, evaluate_hypotheses


def evaluate_cli(paths: Sequence[Path], *, root: Path = Path("."), all_steps: bool = False,
                 out: Path | None = None) -> int:
    """``mlr-copilot eval``: grade runs, print one line each, write the summary for many runs."""
    from .tasks import discover_tasks

    run_dirs = find_run_dirs(paths)
    if not run_dirs:
        print("No run directories found under: " + ", ".join(str(p) for p in paths))
        return 1
    tasks = discover_tasks(root)
    evals = [evaluate_run(d, tasks, all_steps=all_steps) for d in run_dirs]
    for e in evals:
        print(format_run_line(e))
        for line in format_step_scores(e):
            print(line)
        for line in claim_lines(e):
            print("  " + line)
    for verdict in evaluate_hypotheses(evals, root):
        print(describe_hypothesis(verdict))
    if len(evals) > 1 or out is not None:
        written = write_summary(evals, out or _default_out(list(paths), run_dirs))
        print()
        print(summary_markdown(summarize(evals)))
        print("Written: " + ", ".join(str(p) for p in written.values()))
    return 0


def _default_out(paths: Sequence[Path], run_dirs: Sequence[Path]) -> Path:
    if len(paths) == 1 and not is_run_dir(paths[0]):
        return paths[0]
    return Path(os.path.commonpath([str(d.resolve().parent) for d in run_dirs]))
