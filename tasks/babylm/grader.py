"""Share of BLiMP pairs in which the grammatical sentence gets the higher log-probability.

submission.csv: id, logprob_a, logprob_b (the model's total log-probability of each sentence).
A tie counts as wrong, so a model that gives every sentence the same score gets 0.
"""
import numpy as np

from mlr_copilot.grading import read_answers, read_submission


def grade(workspace, answers):
    truth = read_answers(answers / "pair_labels.csv")
    scores = read_submission(workspace, id_column="id", columns=["logprob_a", "logprob_b"],
                             expected_ids=truth["id"])
    a, b = scores["logprob_a"].to_numpy(), scores["logprob_b"].to_numpy()
    good_is_a = truth["good"].to_numpy() == "a"
    correct = np.where(good_is_a, a > b, b > a)
    return float(correct.mean())
