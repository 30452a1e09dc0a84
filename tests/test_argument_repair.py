"""A setting copied from the model a script replaced (``LogisticRegression(n_estimators=300)``)
is dropped before the script runs, so it fits instead of stopping with a TypeError."""
import subprocess
import sys

from mlr_copilot.env.argument_repair import drop_unknown_keywords
from mlr_copilot.env.definition_repair import repair_script

SWAPPED = '''from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression as LR
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = make_classification(n_samples=60, random_state=0)
model = VotingClassifier(estimators=[("linear", make_pipeline(StandardScaler(), LR(n_estimators=300, C=2.0))),
                                     ("forest", RandomForestClassifier(n_estimators=5, learning_rate=0.1))],
                         voting="soft")
print("Validation accuracy:", accuracy_score(y, model.fit(X, y).predict(X), average="macro") > 0.5)
'''


def test_settings_of_another_model_are_dropped_and_the_script_then_runs(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(SWAPPED)
    first = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert "got an unexpected keyword argument 'n_estimators'" in first.stderr
    fixed, notes = drop_unknown_keywords(SWAPPED)
    assert 'LR(C=2.0)' in fixed and 'RandomForestClassifier(n_estimators=5)' in fixed
    assert sorted(notes) == [
        "dropped `average=` from `accuracy_score(...)`, which does not take it",
        "dropped `learning_rate=` from `RandomForestClassifier(...)`, which does not take it",
        "dropped `n_estimators=` from `LR(...)`, which does not take it"]
    script.write_text(fixed)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Validation accuracy: True" in done.stdout


def test_valid_calls_other_libraries_and_broken_code_are_left_alone():
    fine = ("from sklearn.linear_model import Ridge\nfrom mylib import Ridge2\n"
            "a = Ridge(alpha=1.0, **extra)\nb = Ridge2(n_estimators=3)\nc = dict(n_estimators=3)\n")
    assert drop_unknown_keywords(fine) == (fine, [])
    assert drop_unknown_keywords("x = (\n") == ("x = (\n", [])


def test_repair_script_drops_them_after_adding_a_forgotten_import():
    repair = repair_script(None, "model = LogisticRegression(max_depth=1, C=0.5)\n")
    assert repair.code == "from sklearn.linear_model import LogisticRegression\nmodel = LogisticRegression(C=0.5)\n"
    assert [n.split(" (")[0] for n in repair.notes] == [
        "added `from sklearn.linear_model import LogisticRegression`",
        "dropped `max_depth=` from `LogisticRegression(...)`, which does not take it"]
