"""Imports a node's script forgot are added before it runs, and scikit-learn names imported from
the wrong module are moved to the module that defines them; nothing else is touched."""
import subprocess
import sys

from mlr_copilot.env.import_repair import add_missing_imports, fix_misplaced_imports, repair_imports

FORGETFUL = '''"""Fit a ridge pipeline."""
from __future__ import annotations
import pandas as pd
from sklearn.linear_model import Ridge

train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "y": [1.0, 2.1, 2.9, 4.2, 5.1]})
x_fit, x_val, y_fit, y_val = train_test_split(train[["a"]], train["y"], test_size=0.4, random_state=0)
model = make_pipeline(StandardScaler(), Ridge())
model.fit(x_fit, y_fit)
print(f"Validation rmse: {np.sqrt(mean_squared_error(y_val, model.predict(x_val))):.3f}")
'''


def test_forgotten_imports_are_added_after_the_docstring_and_the_script_then_runs(tmp_path):
    fixed, added = add_missing_imports(FORGETFUL)
    assert added == ["from sklearn.model_selection import train_test_split",
                     "from sklearn.pipeline import make_pipeline",
                     "from sklearn.preprocessing import StandardScaler", "import numpy as np",
                     "from sklearn.metrics import mean_squared_error"]  # in the order first used
    lines = fixed.splitlines()
    assert lines[:2] == ['"""Fit a ridge pipeline."""', "from __future__ import annotations"]  # still first
    assert set(lines[2:7]) == set(added) and lines[7] == "import pandas as pd"
    script = tmp_path / "train.py"
    script.write_text(fixed)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Validation rmse: ")
    broken = tmp_path / "broken.py"
    broken.write_text(FORGETFUL)
    before = subprocess.run([sys.executable, str(broken)], capture_output=True, text=True, timeout=120)
    assert "NameError: name 'train_test_split' is not defined" in before.stderr  # what the fix saves a node from


def test_names_bound_anywhere_unknown_names_and_star_imports_are_left_alone():
    code = ("import numpy\n"
            "def fit(model, data):\n    return model.fit(data)\n"
            "for make_pipeline in range(2):\n    pass\n"
            "try:\n    pass\nexcept ValueError as np:\n    pass\n"
            "print(fit, make_pipeline, np, numpy, len, undefined_thing, __name__)\n")
    assert add_missing_imports(code) == (code, [])  # bound somewhere, a builtin, or not a known name
    star = "from sklearn.pipeline import *\nmodel = make_pipeline(StandardScaler())\n"
    assert add_missing_imports(star) == (star, [])
    assert add_missing_imports("def broken(:\n") == ("def broken(:\n", [])


def test_a_script_with_no_imports_gets_them_at_the_top():
    fixed, added = add_missing_imports("print(math.pi)\nx = Path('.')\n")
    assert added == ["import math", "from pathlib import Path"]
    assert fixed == "import math\nfrom pathlib import Path\nprint(math.pi)\nx = Path('.')\n"


MISPLACED = """import pandas as pd
from sklearn.ensemble import VotingRegressor, GradientBoostingRegressor, Ridge  # the ensemble
from sklearn.ensemble import (RandomForestRegressor,
                              SVR as Kernel)

train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "y": [1.0, 2.1, 2.9, 4.2, 5.1, 5.8]})
model = VotingRegressor([("gb", GradientBoostingRegressor(n_estimators=5)), ("ridge", make_pipeline(Ridge())),
                         ("rf", RandomForestRegressor(n_estimators=5)), ("svr", Kernel())])
model.fit(train[["a"]], train["y"])
print(f"Validation rmse: {abs(model.predict(train[['a']]) - train['y']).mean():.3f}")
"""


def test_names_imported_from_the_wrong_sklearn_module_are_moved_and_the_script_then_runs(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text(MISPLACED)
    before = subprocess.run([sys.executable, str(broken)], capture_output=True, text=True, timeout=120)
    assert "cannot import name 'Ridge' from 'sklearn.ensemble'" in before.stderr  # a node lost (suite of 2026-12-02)
    fixed, notes = repair_imports(MISPLACED)
    lines = fixed.splitlines()
    assert lines[:2] == ["from sklearn.pipeline import make_pipeline",  # added: used, never imported
                         "import pandas as pd"]
    assert lines[2:6] == ["from sklearn.ensemble import VotingRegressor, GradientBoostingRegressor  # the ensemble",
                          "from sklearn.linear_model import Ridge",
                          "from sklearn.ensemble import RandomForestRegressor",
                          "from sklearn.svm import SVR as Kernel"]
    assert notes == ["`Ridge` was imported from sklearn.ensemble, which does not define it: now "
                     "`from sklearn.linear_model import Ridge`",
                     "`SVR` was imported from sklearn.ensemble, which does not define it: now "
                     "`from sklearn.svm import SVR as Kernel`",
                     "added `from sklearn.pipeline import make_pipeline` (the script used the name without importing it)"]
    script = tmp_path / "train.py"
    script.write_text(fixed)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Validation rmse: ")


def test_imports_that_are_right_unknown_or_share_a_line_are_left_alone():
    right = "from sklearn.linear_model import Ridge\nfrom sklearn.ensemble import RandomForestRegressor as RF\n"
    assert fix_misplaced_imports(right) == (right, [])
    unknown = "from sklearn.ensemble import NoSuchModel\n"  # no module defines it: the error stays the model's
    assert fix_misplaced_imports(unknown) == (unknown, [])
    shared = "import os; from sklearn.ensemble import Ridge\n"
    assert fix_misplaced_imports(shared) == (shared, [])
    inside = "try:\n    from sklearn.ensemble import SVR\nexcept ImportError:\n    SVR = None\n"
    assert fix_misplaced_imports(inside)[0] == "try:\n    from sklearn.svm import SVR\nexcept ImportError:\n    SVR = None\n"
    assert fix_misplaced_imports("def broken(:\n") == ("def broken(:\n", [])
