"""Accuracy of the most probable sentiment in submission.csv (id + columns "0" negative, "1" positive)."""
from mlr_copilot.grading import accuracy_from_probabilities, read_answers, read_submission

CLASSES = ["0", "1"]


def grade(workspace, answers):
    truth = read_answers(answers / "test_labels.csv")
    probs = read_submission(workspace, id_column="id", columns=CLASSES, expected_ids=truth["id"])
    return accuracy_from_probabilities(probs.to_numpy(), truth["label"], CLASSES)
