"""Accuracy of the most probable class in submission.csv (id + one probability column per class, "0" to "9")."""
from mlr_copilot.grading import accuracy_from_probabilities, read_answers, read_submission

CLASSES = [str(i) for i in range(10)]


def grade(workspace, answers):
    truth = read_answers(answers / "test_labels.csv")
    probs = read_submission(workspace, id_column="id", columns=CLASSES, expected_ids=truth["id"])
    return accuracy_from_probabilities(probs.to_numpy(), truth["label"], CLASSES)
