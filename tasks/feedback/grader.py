"""Mean column-wise RMSE (MCRMSE) of the six essay scores in submission.csv (lower is better)."""
from mlr_copilot.grading import mcrmse, read_answers, read_submission

MEASURES = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]


def grade(workspace, answers):
    truth = read_answers(answers / "test_scores.csv", dtype={"text_id": str})
    pred = read_submission(workspace, id_column="text_id", columns=MEASURES, expected_ids=truth["text_id"])
    return mcrmse(pred[MEASURES].to_numpy(), truth[MEASURES].to_numpy())
