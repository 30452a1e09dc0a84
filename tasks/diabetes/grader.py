"""Root mean squared error of the "progression" column of submission.csv (lower is better)."""
from mlr_copilot.grading import read_answers, read_submission, rmse


def grade(workspace, answers):
    truth = read_answers(answers / "test_targets.csv")
    pred = read_submission(workspace, id_column="id", columns=["progression"], expected_ids=truth["id"])
    return rmse(pred["progression"], truth["progression"])
