"""What common scikit-learn and pandas errors mean, told to the model that fixes them: the
messages below are those the libraries really raise (each is produced here, not typed in)."""
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlr_copilot.agents.error_hints import error_hint
from mlr_copilot.agents.next_move import where_we_are
from tests.test_next_move import EDITED, RUN_OK, mem


def raised(action) -> str:
    """The output a script that does ``action`` prints: a traceback ending in the exception."""
    import traceback
    try:
        action()
    except Exception:  # noqa: BLE001 - each case raises what the library raises
        return traceback.format_exc()
    raise AssertionError("the action raised nothing")


REVIEWS = ["good film", "bad plot"]
TABLE = pd.DataFrame({"plan": ["basic", np.nan, "plus", "basic"], "fee": [1.0, np.nan, 3.0, 4.0]})
CASES = [
    (lambda: make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()).fit(
        TABLE[["plan"]].astype(object).fillna(0)), "0s among text categories"),
    (lambda: LogisticRegression().fit(TABLE[["plan"]].fillna("x"), [0, 1, 0, 1]), "encode text categories"),
    (lambda: ColumnTransformer([("n", SimpleImputer(), ["fee", "plan"])]).fit(TABLE), "only numeric columns"),
    (lambda: StandardScaler().fit(TfidfVectorizer().fit_transform(REVIEWS)), "with_mean=False"),
    (lambda: TfidfVectorizer().fit(TfidfVectorizer().fit_transform(REVIEWS)), "already numbers"),
    (lambda: TfidfVectorizer().fit(REVIEWS + [np.nan]), 'fillna("")'),
    (lambda: TfidfVectorizer().fit(np.ones((2, 2))), "already numbers"),  # "'numpy.ndarray' object has no ..."
    (lambda: LogisticRegression().fit(TfidfVectorizer().fit_transform(REVIEWS), [0, 1]).predict(
        TfidfVectorizer().fit_transform(["a good film", "bad"])), "fit it once on the training rows"),
    (lambda: LogisticRegression().fit(TABLE[["fee"]], [0, 1, 0, 1]), "SimpleImputer"),
    (lambda: StandardScaler().fit(np.ones((3, 4))).transform(np.ones((3, 2))), "the same fitted pipeline"),
    (lambda: LogisticRegression().fit(pd.get_dummies(TABLE[["plan"]]), [0, 1, 0, 1]).predict(TABLE[["plan"]]),
     "the same fitted pipeline"),
    (lambda: LogisticRegression().fit(np.ones((3, 2)), [0, 1]), "one train_test_split call"),
    (lambda: pd.DataFrame({"id": pd.Series(range(10)), "y": np.zeros(4)}), "the test table"),
    (lambda: pd.DataFrame({"id": range(10)}).assign(y=np.zeros(4)), "the test table"),
    (lambda: ColumnTransformer([("c", OneHotEncoder(), ["plan", "region"])]).fit(TABLE), "holds every input column"),
    (lambda: ColumnTransformer([("c", OneHotEncoder(), ["plan"])]).fit(TABLE).transform(TABLE[["fee"]]),
     "holds every input column"),
    (lambda: TABLE[["plan", "age"]], "columns the data files hold"),
    (lambda: TABLE["churned"], "never the target in the test table"),
]


@pytest.mark.parametrize("action,meaning", CASES)
def test_each_common_error_gets_what_it_usually_means(action, meaning):
    assert meaning in error_hint(raised(action))


def test_errors_without_a_known_meaning_get_none():
    assert error_hint(raised(lambda: {}["accuracy"])) is None  # a dict's key, not a column
    assert error_hint(raised(lambda: undefined_name)) is None  # noqa: F821
    assert error_hint("Validation accuracy: 0.9\n") is None


def test_the_loop_says_what_a_failed_run_usually_means():
    failed = ("The script has been executed. Here is the output:\n" + raised(lambda: LogisticRegression().fit(
        TABLE[["plan"]].fillna("x"), [0, 1, 0, 1])) + "\nExit code: 1 (the script failed), after 1.2 s.")
    h = [mem(1, "Execute Script", RUN_OK, script_name="train.py"),
         mem(2, "Edit Script (AI)", EDITED, script_name="train.py"),
         mem(3, "Execute Script", failed, script_name="train.py")]
    text = where_we_are(h)
    assert "the run in step 3 failed (" in text
    assert ("this error usually means that a column of text reached a step that needs numbers: encode text "
            "categories with OneHotEncoder") in text
    assert text.endswith("Fix the cause with Edit Script (AI), or take the change back with Undo Edit Script.")


def test_with_the_datas_column_names_a_missing_column_is_a_misspelling_or_another_tables():
    columns = ["id", "mean_concave_points", "concave_points_error", "fee", "plan", "churned"]
    misspelt = error_hint(raised(lambda: TABLE[["fee", "concave_points"]]), columns)
    assert misspelt.startswith("no data file has a column 'concave_points' (the data has 'mean_concave_points' "
                               "and 'concave_points_error'): copy the column names exactly")
    target = error_hint(raised(lambda: TABLE["churned"]), columns)  # a training table's target, asked of another
    assert target.startswith("'churned' is a column of one data table but not of the table the script asked")
    assert "held-out part of the training table" in target
    assert error_hint(raised(lambda: {}["churned"]), columns) is None  # still a dict's key, not a column
    failed = mem(3, "Execute Script", raised(lambda: TABLE[["fee", "concave_points"]]) + "\nExit code: 1",
                 script_name="train.py")
    moves = where_we_are([mem(1, "Execute Script", RUN_OK, script_name="train.py"),
                          mem(2, "Edit Script (AI)", EDITED, script_name="train.py"), failed], columns=columns)
    assert "this error usually means that no data file has a column 'concave_points' (the data has" in moves
