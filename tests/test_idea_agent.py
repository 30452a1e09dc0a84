"""The IdeaAgent end to end with a scripted model: paper in, problem file and idea.json out."""
from __future__ import annotations

import json

import pytest

from fakes import idea_answers as A
from fakes.minipdf import make_pdf
from fakes.scholar_server import FakeScholar, s2_paper
from mlr_copilot.agents.idea import IdeaFormatError, generate_idea
from mlr_copilot.agents.idea_output import load_idea
from mlr_copilot.errors import ConfigError
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import read_jsonl

PDF_LINES = ["Shift Augmentation for Tiny Digits", "A. Writer", "Abstract",
             "We add one-pixel shifted copies of 8x8 digit images to the training set.",
             "1 Introduction", "Handwritten digits vary by small translations.",
             "2 Related Work", "Virtual support vectors add transformed examples.",
             "3 Method", "Each image is shifted by one pixel in four directions."]
TRAIN_PY = ("import numpy as np\nfrom sklearn.linear_model import LogisticRegression\n"
            "# baseline: logistic regression on raw pixels\n"
            "pd.DataFrame(probs).to_csv('submission.csv')\n")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "paper.pdf").write_bytes(make_pdf(PDF_LINES))
    ws = tmp_path / "workspaces" / "digits"
    (ws / "data").mkdir(parents=True)
    (ws / "train.py").write_text(TRAIN_PY, encoding="utf-8")
    (ws / "data" / "train.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (ws / "__pycache__").mkdir()
    (ws / "__pycache__" / "x.pyc").write_bytes(b"\0")
    return tmp_path


def _generate(project, llm, **kw):
    kw.setdefault("online", False)
    return generate_idea(str(project / "paper.pdf"), "digits", Models.single(llm),
                         problems_dir=project / "problems", workspaces_dir=project / "workspaces",
                         run_dir=project / "run", **kw)


def test_pdf_to_problem_file_and_valid_idea_json(project):
    llm = ScriptedLLM(A.full_run())
    result = _generate(project, llm)
    text = (project / "problems" / "digits").read_text()
    for part in ("Research problem", "Does adding one-pixel shifted copies", "Hypothesis:",
                 "shift augmentation with an SVM", "Experiment plan:", "Files to change: train.py",
                 "1. Run train.py unchanged", "What to deliver:", "submission.csv"):
        assert part in text, part
    record = load_idea(project / "problems" / "digits.idea.json")
    assert record.source_paper.title == "Shift Augmentation for Tiny Digits"
    assert record.source_paper.kind == "pdf"
    assert record.understanding.keywords == ["data augmentation", "digit classification", "ensemble learning"]
    assert record.candidates[0].review.clarity.score == 4 and record.candidates[0].total_score == 18
    assert record.related_work.notes == ["offline: related-work search skipped"]
    assert record.workspace_files == ["data/train.csv", "train.py"]
    assert result.llm_calls == 5 and [c["purpose"] for c in llm.calls] == [
        "idea_understanding", "idea_problem", "idea_hypothesis", "idea_plan", "idea_review"]


def test_plan_prompt_is_grounded_in_the_starter_code(project):
    llm = ScriptedLLM(A.full_run())
    _generate(project, llm)
    plan_prompt = llm.calls[3]["messages"][-1]["content"]
    assert "- train.py (" in plan_prompt and "- data/train.csv (" in plan_prompt
    assert "from sklearn.linear_model import LogisticRegression" in plan_prompt
    assert "__pycache__" not in plan_prompt
    paper_prompt = llm.calls[0]["messages"][-1]["content"]
    assert "Each image is shifted by one pixel" in paper_prompt


def test_missing_field_is_retried_with_a_corrective_message(project):
    answers = A.full_run()
    answers.insert(3, "Datasets: digits\nMetrics: accuracy\nSteps:\n1. run\nRationale: ok")  # no Baselines/Files
    llm = ScriptedLLM(answers)
    result = _generate(project, llm)
    retry = llm.calls[4]["messages"]
    assert retry[-2] == {"role": "assistant", "content": answers[3]}
    assert "'Baselines' is missing" in retry[-1]["content"] and "'Files to Change' is missing" in retry[-1]["content"]
    assert result.record.best().plan.baselines == ["unchanged train.py (logistic regression)"]
    calls = [r for r in read_jsonl(result.log_path) if r["type"] == "idea_attempt" and r["stage"] == "plan"]
    assert [c["attempt"] for c in calls] == [1, 2] and calls[0]["missing"] == ["Baselines", "Files to Change"]


def test_a_stage_that_never_answers_ends_with_format_error(project):
    llm = ScriptedLLM([A.UNDERSTANDING] + ["I think this is a great paper."] * 3)
    with pytest.raises(IdeaFormatError, match="problem stage gave no usable answer after 3 attempts"):
        _generate(project, llm)
    assert not (project / "problems" / "digits").exists()
    end = read_jsonl(project / "run" / "idea_log.jsonl")[-1]
    assert end["type"] == "idea_end" and end["status"] == "format_error"


def test_several_ideas_are_ranked_by_the_review(project):
    llm = ScriptedLLM(A.full_run(ideas=2, scores=[(3, 3, 3, 3, 3), (5, 5, 4, 4, 4)]))
    result = _generate(project, llm, ideas=2)
    record = result.record
    assert [c.total_score for c in record.candidates] == [15, 22]
    assert [c.rank for c in record.candidates] == [2, 1] and record.selected == 1
    assert "soft-voting ensemble" in result.problem_path.read_text()  # the best-ranked hypothesis
    second_prompt = llm.calls[4]["messages"][-1]["content"]
    assert "Hypotheses already proposed" in second_prompt and "shift augmentation with an SVM" in second_prompt


def test_related_work_online_from_a_fake_server(project):
    server = FakeScholar([s2_paper("Data augmentation for digit classification", "Shifts help.", 2023)])
    try:
        llm = ScriptedLLM(A.full_run(related=True))
        result = _generate(project, llm, online=True, s2_base_url=server.url, openalex_base_url=server.url)
    finally:
        server.close()
    rw = result.record.related_work
    assert rw.source == "semantic_scholar" and rw.papers[0].title == "Data augmentation for digit classification"
    assert rw.summary.startswith("Recent work shows") and rw.opportunities == ["Measure both on 8x8 digits",
                                                                              "Combine with test-time augmentation"]
    assert "Data augmentation for digit classification" in llm.calls[1]["messages"][-1]["content"]
    assert "Recent work shows augmentation" in llm.calls[2]["messages"][-1]["content"]  # problem stage sees it


def test_existing_problem_is_kept_without_force(project):
    problems = project / "problems"
    problems.mkdir()
    (problems / "digits").write_text("Improve the accuracy of train.py; save submission.csv.\n")
    llm = ScriptedLLM(A.full_run())
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        _generate(project, llm)
    assert llm.calls == []  # refused before any model call
    _generate(project, llm, force=True)
    text = (problems / "digits").read_text()
    # the task's own statement survives under "What to deliver", and again after a second --force
    assert "Improve the accuracy of train.py; save submission.csv." in text.split("What to deliver:")[1]
    _generate(project, ScriptedLLM(A.full_run()), force=True)
    assert (problems / "digits").read_text().count("Improve the accuracy of train.py") == 1


def test_the_log_holds_every_stage(project):
    result = _generate(project, ScriptedLLM(A.full_run()))
    records = read_jsonl(result.log_path)
    assert records[0]["type"] == "idea_start" and records[0]["schema_version"] >= 1
    stages = [(r["stage"], r["status"]) for r in records if r["type"] == "stage"]
    assert stages == [("understanding", "ok"), ("related_work", "skipped"), ("problem", "ok"),
                      ("hypothesis", "ok"), ("plan", "ok"), ("review", "ok")]
    calls = [r for r in records if r["type"] == "idea_attempt"]
    assert all(c["prompt"] and c["output"] and "usage" in c for c in calls)
    assert records[-1]["type"] == "idea_end" and records[-1]["status"] == "done"
    assert json.loads(result.idea_path.read_text())["run_dir"] == str(project / "run")


def test_bad_arguments_are_refused_clearly(project):
    llm = ScriptedLLM([])
    with pytest.raises(ConfigError, match="plain name"):
        _generate(project, llm, problem_name="../escape")
    with pytest.raises(ConfigError, match="--ideas must be between 1 and 10"):
        _generate(project, llm, ideas=0)
    with pytest.raises(ConfigError, match="not found"):
        generate_idea(str(project / "nope.pdf"), "digits", Models.single(llm), problems_dir=project / "problems",
                      run_dir=project / "run")


def test_problem_name_writes_beside_the_task(project):
    result = _generate(project, ScriptedLLM(A.full_run()), problem_name="digits_shift")
    assert result.problem_path == project / "problems" / "digits_shift"
    assert load_idea(project / "problems" / "digits_shift.idea.json").task == "digits"


def test_a_paper_too_long_for_the_model_is_condensed_harder(project):
    from mlr_copilot.errors import LLMContextTooLongError

    long_pdf = PDF_LINES + [f"Detail sentence number {i} about shifting digit images by a pixel." for i in range(150)]
    (project / "paper.pdf").write_bytes(make_pdf(long_pdf))
    stages = iter(A.full_run())

    def answer(messages):  # condensing calls get a summary, stage calls the next stage answer
        return ("Condensed method: shift images." if "Summarise this part" in messages[-1]["content"]
                else next(stages))

    llm = ScriptedLLM([LLMContextTooLongError("prompt too long")] + [answer] * 30)
    result = _generate(project, llm, max_paper_chars=12_000)
    records = read_jsonl(result.log_path)
    shrink = [r for r in records if r["type"] == "paper_too_long"]
    assert shrink and shrink[0]["new_budget_chars"] == 6_000
    papers = [r for r in records if r["type"] == "paper"]
    assert papers[-1]["prompt_chars"] <= 6_000 and papers[-1]["condensed_sections"]
    understanding = [c for c in llm.calls if c["purpose"] == "idea_understanding"]
    assert len(understanding) == 2  # the refused prompt, then the condensed one
    assert "Condensed method: shift images." in understanding[-1]["messages"][-1]["content"]
    assert result.record.source_paper.condensed_sections


def test_default_run_directory_under_the_log_root(project):
    result = generate_idea(str(project / "paper.pdf"), "digits", Models.single(ScriptedLLM(A.full_run())),
                           problems_dir=project / "problems", workspaces_dir=project / "workspaces",
                           log_root=project / "logs", online=False)
    assert result.run_dir.parent == project / "logs" / "digits"
    assert result.log_path == result.run_dir / "idea_log.jsonl" and result.log_path.exists()


def test_task_definition_sets_metric_submission_and_read_only_files(project):
    (project / "problems").mkdir()
    (project / "problems" / "digits").write_text("Improve train.py; save submission.csv.\n")
    (project / "tasks" / "digits").mkdir(parents=True)
    (project / "tasks" / "digits" / "task.json").write_text(json.dumps(
        {"metric": "accuracy", "direction": "higher", "submission": "submission.csv", "read_only": ["data/*"]}))
    llm = ScriptedLLM(A.full_run())
    result = _generate(project, llm, force=True)
    deliver = result.problem_path.read_text().split("What to deliver:")[1]
    assert "measured by accuracy (higher is better)" in deliver
    assert "Do not modify the read-only files (data/*)" in deliver
    assert result.record.task_info["metric"] == "accuracy"
    assert "scored by accuracy (higher is better)" in llm.calls[3]["messages"][-1]["content"]
    assert "Task description: Improve train.py; save submission.csv." in llm.calls[1]["messages"][-1]["content"]


def test_an_unusable_review_keeps_the_candidate_unscored(project):
    answers = A.full_run(ideas=2, scores=[(3, 3, 3, 3, 3), (5, 5, 5, 5, 5)])
    answers[-1:] = ["Looks good to me!"] * 3  # the second review never gives scores
    result = _generate(project, ScriptedLLM(answers), ideas=2)
    first, second = result.record.candidates
    assert (first.total_score, first.rank) == (15, 1)
    assert second.review is None and second.rank == 2 and "review stage gave no usable answer" in second.review_error
    assert result.problem_path.exists() and load_idea(result.idea_path).selected == 0


def test_a_problem_under_another_suffix_also_counts_as_existing(project):
    (project / "problems").mkdir()
    (project / "problems" / "digits.md").write_text("Task text in markdown.\n")
    with pytest.raises(ConfigError, match=r"digits\.md already exists"):
        _generate(project, ScriptedLLM([]))
    result = _generate(project, ScriptedLLM(A.full_run()), force=True)
    assert "Task text in markdown." in result.problem_path.read_text()
