"""Human review of stages 3-5: accept, edit ($EDITOR or inline), regenerate with feedback, quit."""
from __future__ import annotations

import io
import json
import sys

import pytest

from fakes import idea_answers as A
from mlr_copilot.agents.idea import generate_idea
from mlr_copilot.agents.idea_review import ReviewPolicy
from mlr_copilot.errors import ReviewQuit
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import read_jsonl

PAPER = "# Shifted Digits\n\n## Abstract\nShifts help tiny digit images.\n\n## 1 Introduction\nDigits move.\n"


class Person:
    """Answers prompts from a list; runs out like a closed stdin."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.prompts = []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


def _run(tmp_path, answers, responses, *, editor=None, **kw):
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    person = Person(answers)
    shown = io.StringIO()
    policy = ReviewPolicy(interactive=True, input_fn=person, output=shown, editor=editor)
    llm = ScriptedLLM(responses)
    result = generate_idea(str(paper), "digits", Models.single(llm), problems_dir=tmp_path / "problems",
                           workspaces_dir=tmp_path / "workspaces", run_dir=tmp_path / "run", online=False,
                           review=policy, **kw)
    return result, person, llm, shown.getvalue()


def _decisions(result):
    return [(d.stage, d.action) for d in result.record.decisions]


def test_accepting_everything_keeps_the_model_answers(tmp_path):
    result, person, _, shown = _run(tmp_path, ["", "a", "accept"], A.full_run())
    assert _decisions(result) == [("problem", "accept"), ("hypothesis", "accept"), ("plan", "accept")]
    assert "Research Problem: Does adding one-pixel shifted copies" in shown
    assert person.answers == []
    text = result.problem_path.read_text()
    assert "Does adding one-pixel shifted copies" in text


def test_inline_edit_replaces_a_field(tmp_path):
    answers = ["e", "My own research problem about shifts.", "", "", "", ""]
    result, _, _, shown = _run(tmp_path, answers, A.full_run())
    assert _decisions(result)[0] == ("problem", "edit")
    assert result.record.problem.research_problem == "My own research problem about shifts."
    assert result.record.problem.rationale.startswith("Handwriting varies")  # kept
    assert "My own research problem about shifts." in result.problem_path.read_text()
    stage_records = [r for r in read_jsonl(result.log_path) if r["type"] == "stage" and r["stage"] == "problem"]
    assert stage_records[0]["decision"]["action"] == "edit"
    assert stage_records[0]["final_fields"]["research_problem"] == "My own research problem about shifts."


def _editor(tmp_path, body):
    script = tmp_path / "editor.py"
    script.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\n" + body, encoding="utf-8")
    return f"{sys.executable} {script}"


def test_edit_in_editor_is_parsed_like_a_model_answer(tmp_path):
    editor = _editor(tmp_path, "lines = [('Hypothesis: Use rotations instead.' if l.startswith('Hypothesis:') "
                               "else l) for l in p.read_text().splitlines()]\np.write_text('\\n'.join(lines))\n")
    result, _, _, _ = _run(tmp_path, ["", "e", ""], A.full_run(), editor=editor)
    assert _decisions(result) == [("problem", "accept"), ("hypothesis", "edit"), ("plan", "accept")]
    assert result.record.best().hypothesis.hypothesis == "Use rotations instead."
    assert "Use rotations instead." in result.problem_path.read_text()


def test_edit_that_drops_a_field_is_refused(tmp_path):
    editor = _editor(tmp_path, "p.write_text('Research Problem: only this\\n')\n")
    # edit -> incomplete (Rationale missing) -> discard -> back at the menu -> accept
    result, person, _, shown = _run(tmp_path, ["e", "d", "", "", ""], A.full_run(), editor=editor)
    assert "The edit is incomplete: 'Rationale' is missing or empty" in shown
    assert _decisions(result)[0] == ("problem", "accept")
    assert result.record.problem.research_problem.startswith("Does adding")


def test_regenerate_sends_feedback_and_uses_the_new_answer(tmp_path):
    responses = A.full_run()
    responses.insert(3, A.hypothesis(2))  # the regenerated hypothesis
    answers = ["", "r", "Use an ensemble of different models instead.", "", ""]
    result, _, llm, _ = _run(tmp_path, answers, responses)
    assert _decisions(result) == [("problem", "accept"), ("hypothesis", "regenerate"), ("hypothesis", "accept"),
                                  ("plan", "accept")]
    assert result.record.decisions[1].feedback == "Use an ensemble of different models instead."
    regen_prompt = llm.calls[3]["messages"][-1]["content"]
    assert "Use an ensemble of different models instead." in regen_prompt
    assert "shift augmentation with an SVM" in regen_prompt  # the previous answer, shown to revise
    assert "soft-voting ensemble" in result.problem_path.read_text()


def test_quit_stops_without_writing_a_problem(tmp_path):
    with pytest.raises(ReviewQuit, match="plan stage.*nothing was written"):
        _run(tmp_path, ["", "", "q"], A.full_run())
    assert not (tmp_path / "problems" / "digits").exists()
    end = read_jsonl(tmp_path / "run" / "idea_log.jsonl")[-1]
    assert end["type"] == "idea_end" and end["status"] == "interrupted"


def test_closed_input_counts_as_quit(tmp_path):
    with pytest.raises(ReviewQuit, match="problem stage: input closed"):
        _run(tmp_path, [], A.full_run())


def test_unknown_choice_and_help_then_accept(tmp_path):
    result, _, _, shown = _run(tmp_path, ["x", "?", "", "", ""], A.full_run())
    assert "Unknown choice 'x'" in shown and "regenerate: write what should change" in shown
    assert _decisions(result)[0] == ("problem", "accept")


def test_yes_accepts_without_asking(tmp_path):
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER, encoding="utf-8")
    person = Person([])
    result = generate_idea(str(paper), "digits", Models.single(ScriptedLLM(A.full_run())),
                           problems_dir=tmp_path / "problems", workspaces_dir=tmp_path / "ws",
                           run_dir=tmp_path / "run", online=False,
                           review=ReviewPolicy(interactive=False, input_fn=person))
    assert person.prompts == []
    assert all(d.auto and d.action == "accept" for d in result.record.decisions)
    data = json.loads(result.idea_path.read_text())
    assert [d["stage"] for d in data["decisions"]] == ["problem", "hypothesis", "plan"]
