"""Real idea generation with the embedded local model on the shipped example paper (slow)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from mlr_copilot.agents.idea import generate_idea
from mlr_copilot.agents.idea_output import load_idea
from mlr_copilot.agents.idea_review import ReviewPolicy
from mlr_copilot.logs import read_jsonl

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "shift_augmentation_digits.md"


@pytest.mark.slow
def test_embedded_model_turns_the_example_paper_into_a_digits_problem(tmp_path):
    from mlr_copilot.llm.registry import build_models

    # a private copy of the digits task, so the repository's problems/ is never touched
    (tmp_path / "problems").mkdir()
    shutil.copy(REPO / "problems" / "digits", tmp_path / "problems" / "digits")
    (tmp_path / "tasks" / "digits").mkdir(parents=True)
    shutil.copy(REPO / "tasks" / "digits" / "task.json", tmp_path / "tasks" / "digits" / "task.json")
    (tmp_path / "workspaces" / "digits").mkdir(parents=True)
    shutil.copy(REPO / "workspaces" / "digits" / "train.py", tmp_path / "workspaces" / "digits" / "train.py")

    models = build_models("local")
    started = time.monotonic()
    result = generate_idea(str(EXAMPLE), "digits", models, problems_dir=tmp_path / "problems",
                           workspaces_dir=tmp_path / "workspaces", run_dir=tmp_path / "run", online=False,
                           force=True, ideas=1, review=ReviewPolicy.auto())
    wall = time.monotonic() - started

    text = result.problem_path.read_text()
    for part in ("Research problem", "Hypothesis:", "Experiment plan:", "Files to change:", "What to deliver:"):
        assert part in text
    assert "Improve the classifier of handwritten digit images." in text  # the task's own statement is kept
    record = load_idea(result.idea_path)
    assert record.source_paper.title.startswith("Shift Augmentation")
    assert record.candidates[0].plan.files_to_change and record.candidates[0].plan.steps
    calls = [r for r in read_jsonl(result.log_path) if r["type"] == "idea_attempt"]
    first_try = sum(1 for r in calls if r["attempt"] == 1 and not r["missing"])
    stages = sum(1 for r in calls if r["attempt"] == 1)
    print(f"\nidea generation with the embedded model: {wall:.0f} s wall, {len(calls)} calls, "
          f"{first_try}/{stages} stages parsed on the first try, "
          f"{result.usage.input_tokens} prompt + {result.usage.output_tokens} output tokens\n{text}")
