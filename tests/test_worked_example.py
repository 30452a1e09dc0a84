"""The loop's worked example follows the data: a text task's (TF-IDF and a linear model of the
target's kind) when the input is free text, the tabular one otherwise."""
from mlr_copilot.agents.worked_example import worked_example


def test_the_text_example_uses_the_model_the_target_needs_and_names_the_main_script():
    numeric = worked_example("fit.py", "essay", "numeric")
    assert "and the model by Ridge(alpha=1.0). Keep the data loading" in numeric
    assert "MAE fell from 0.642 to 0.517" in numeric and "LogisticRegression" not in numeric
    classes = worked_example("fit.py", "essay", "classes")
    assert "and the model by LogisticRegression(C=10, max_iter=1000). Keep" in classes
    assert "accuracy rose from 0.712 to 0.861" in classes
    unknown = worked_example("fit.py", "essay", None)
    assert "LogisticRegression(C=10, max_iter=1000) for classes, Ridge(alpha=1.0) for numbers" in unknown
    for text in (numeric, classes, unknown):
        assert '{"script_name": "fit.py"}' in text and "$" not in text and "train.py" not in text


def test_tabular_data_keeps_the_ensemble_example():
    tabular = worked_example("fit.py")
    assert "a stronger model of the same kind (regressor or classifier) from sklearn.ensemble" in tabular
    assert "Validation MAE: 3.21" in tabular and "Tfidf" not in tabular
