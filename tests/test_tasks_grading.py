"""Submission checks shared by all graders: what is accepted and what is refused, and why."""
from __future__ import annotations

import pytest

from mlr_copilot.grading import (InvalidSubmission, accuracy_from_probabilities, mcrmse, read_submission,
                                 rmse)

IDS = ["0", "1", "2"]


def _read(tmp_path, text, columns=("a", "b")):
    (tmp_path / "submission.csv").write_text(text)
    return read_submission(tmp_path, id_column="id", columns=list(columns), expected_ids=IDS)


def test_rows_come_back_in_answer_order_and_extra_columns_are_ignored(tmp_path):
    df = _read(tmp_path, "Unnamed: 0,id,b,a\n0,2,0.2,0.8\n1,0,0.9,0.1\n2,1,0.5,0.5\n")
    assert list(df.index) == IDS and list(df.columns) == ["a", "b"]
    assert df.loc["0", "b"] == 0.9


@pytest.mark.parametrize("text, reason", [
    ("id,a,b\n0,1,0\n1,1,0\n2,1,0\n9,1,0\n", "not in the test set ('9')"),
    ("id,a,b\n0.0,1,0\n1.0,1,0\n2.0,1,0\n", "3 of the 3 test ids are missing"),
    ("id,a\n0,1\n1,1\n2,1\n", "lacks the column(s) 'b'"),
    ("id,a,b\n0,1,0\n,1,0\n2,1,0\n", "empty id"),
    ("id,a,b\n0,1,inf\n1,1,0\n2,1,0\n", "not finite numbers (id/column: 0/b)"),
    ('id,a,b\n0,1,0\n1,"unclosed\n', "not a readable CSV file"),
])
def test_bad_submissions_say_what_is_wrong(tmp_path, text, reason):
    with pytest.raises(InvalidSubmission) as err:
        _read(tmp_path, text)
    assert reason in str(err.value)


def test_a_folder_named_like_the_submission_is_refused(tmp_path):
    (tmp_path / "submission.csv").mkdir()
    with pytest.raises(InvalidSubmission, match="not a regular file"):
        read_submission(tmp_path, id_column="id", columns=["a"], expected_ids=IDS)


def test_metrics():
    assert accuracy_from_probabilities([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]], [0, 1, 1], ["0", "1"]) == pytest.approx(2 / 3)
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx((4 / 3) ** 0.5)
    assert mcrmse([[1, 2], [3, 4]], [[1, 2], [3, 6]]) == pytest.approx((0 + 2 ** 0.5) / 2)
