"""Imports a node's script forgot are added before it runs, and only those."""
import subprocess
import sys

from mlr_copilot.agents.tree_imports import add_missing_imports

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
