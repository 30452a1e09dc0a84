"""The stage-answer parser: what small models write must come out as the right fields."""
from __future__ import annotations

from mlr_copilot.agents.idea import STAGE_FIELDS
from mlr_copilot.agents.idea_fields import format_fields, parse_fields, split_list

PLAN = STAGE_FIELDS["plan"]
PROBLEM = STAGE_FIELDS["problem"]
REVIEW = STAGE_FIELDS["review"]
UNDERSTANDING = STAGE_FIELDS["understanding"]


def test_plain_labels_and_multiline_values():
    r = parse_fields("Research Problem: Digits shift\nby a pixel.\nRationale: It matters.", PROBLEM)
    assert r.ok
    assert r.values == {"research_problem": "Digits shift by a pixel.", "rationale": "It matters."}


def test_markdown_shapes_small_models_produce():
    for text in ("**Research Problem:** P\n**Rationale:** R",
                 "**Research Problem**: P\n\n**Rationale**: R",
                 "## Research Problem\nP\n\n## Rationale\nR",
                 "1. Research Problem - P\n2. Rationale - R",
                 "- research problem: P\n- RATIONALE: R",
                 "Sure! Here is my answer.\n\nResearch Problem: P\nRationale: R\n\nHope this helps."):
        r = parse_fields(text, PROBLEM)
        assert r.ok, text
        assert r.values["research_problem"] == "P", text
        assert r.values["rationale"].startswith("R"), text


def test_prose_starting_with_a_label_word_is_not_a_label():
    r = parse_fields("Keywords: digits, shifts\nResearch Tasks:\n- classify\nResearch Gaps:\n- Keywords are not"
                     " enough here", UNDERSTANDING)
    assert r.values["research_gaps"] == ["Keywords are not enough here"]
    assert r.values["keywords"] == ["digits", "shifts"]


def test_lists_from_bullets_numbers_and_commas():
    assert split_list("- a\n- b\n  continued\n* c") == ["a", "b continued", "c"]
    assert split_list("1. first\n2) second") == ["first", "second"]
    assert split_list("data augmentation, ensembles (bagging, boosting); digits") == [
        "data augmentation", "ensembles (bagging, boosting)", "digits"]


def test_missing_and_placeholder_fields_are_reported():
    r = parse_fields("Datasets: digits\nBaselines: <item>\nMetrics:\nSteps:\n1. run\nRationale: ok", PLAN)
    assert not r.ok
    assert r.missing == ["Baselines", "Metrics", "Files to Change"]
    assert any("Files to Change" in p for p in r.problems)


def test_scores_in_several_shapes_and_out_of_range():
    r = parse_fields("Clarity: 4 - clear\nValidity: **3**/5 - fine\n- Rigor: 5: sound\n"
                     "Feasibility: 6 - too easy\nNovelty: high", REVIEW)
    assert r.values["clarity"] == {"score": 4, "justification": "clear"}
    assert r.values["validity"] == {"score": 3, "justification": "fine"}
    assert r.values["rigor"]["score"] == 5
    assert r.missing == ["Feasibility", "Novelty"]


def test_format_then_parse_round_trips():
    values = {"datasets": ["digits"], "baselines": ["train.py as is"], "metrics": ["accuracy"],
              "files_to_change": ["train.py"], "steps": ["run", "edit", "compare"], "rationale": "because"}
    assert parse_fields(format_fields(values, PLAN), PLAN).values == values


def test_a_label_written_inline_after_a_sentence_is_found():
    text = ("Hypothesis: We shift every image by one pixel. The ensemble averages models. "
            "Rationale: Shifts break the dependence on position.")
    r = parse_fields(text, STAGE_FIELDS["hypothesis"])
    assert r.ok
    assert r.values["hypothesis"] == "We shift every image by one pixel. The ensemble averages models."
    assert r.values["rationale"] == "Shifts break the dependence on position."
    # a complete answer is not split: the word inside a sentence stays prose
    ok = parse_fields("Hypothesis: Use shifts. Rationale: see below.\nRationale: Real one.", STAGE_FIELDS["hypothesis"])
    assert ok.values["hypothesis"] == "Use shifts. Rationale: see below."
