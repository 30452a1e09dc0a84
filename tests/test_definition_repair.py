"""A rewrite that dropped a line it still uses gets that line back from the script it rewrote,
where the script can run it; anything else is left alone and the missing names reported."""
import subprocess
import sys

from mlr_copilot.env.definition_repair import repair_script, restore_dropped_definitions

BEFORE = '''import csv
from helpers_of_this_task import load_rows as load

rows = load("data/train.csv")
features = [k for k in rows[0] if k != "label"]

# Hold out the last row.
fit_part, val_part = rows[:-1], rows[-1:]


def majority(part):
    labels = [r["label"] for r in part]
    return max(set(labels), key=labels.count)


guess = majority(fit_part)
print(f"Validation accuracy: {sum(r['label'] == guess for r in val_part) / len(val_part):.2f}")
print(len(features), "features")
'''
HELPERS = "import csv\n\n\ndef load_rows(path):\n    return list(csv.DictReader(open(path)))\n"


def run_script(tmp_path, code: str) -> subprocess.CompletedProcess:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "train.csv").write_text("x,label\n1,a\n2,a\n3,b\n4,a\n")
    (tmp_path / "helpers_of_this_task.py").write_text(HELPERS)
    (tmp_path / "s.py").write_text(code)
    return subprocess.run([sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_a_dropped_split_line_is_put_back_above_its_first_reader_and_the_script_runs(tmp_path):
    new = BEFORE.replace("# Hold out the last row.\nfit_part, val_part = rows[:-1], rows[-1:]\n", "")
    assert "NameError: name 'fit_part'" in run_script(tmp_path, new).stderr
    repair = repair_script(BEFORE, new)
    assert repair.unbound == []
    assert repair.notes == ["put back `fit_part, val_part = rows[:-1], rows[-1:]` (line 8 of the script it "
                            "rewrote): the new script reads fit_part, val_part but defines them nowhere"]
    # just above the first statement that reads it, the rest untouched
    assert repair.code == new.replace("guess = majority", "fit_part, val_part = rows[:-1], rows[-1:]\n"
                                      "guess = majority", 1)
    done = run_script(tmp_path, repair.code)
    assert done.returncode == 0 and "Validation accuracy: 1.00" in done.stdout


def test_lost_lines_that_need_each_other_each_come_back_before_their_readers(tmp_path):
    new = BEFORE.replace('from helpers_of_this_task import load_rows as load\n', '') \
        .replace('rows = load("data/train.csv")\n', "") \
        .replace('features = [k for k in rows[0] if k != "label"]\n', "") \
        .replace("fit_part, val_part = rows[:-1], rows[-1:]\n", "")
    repair = repair_script(BEFORE, new)
    assert len(repair.notes) == 4 and repair.unbound == []
    code = repair.code
    assert code.index("import load_rows as load") < code.index("import csv") < code.index("rows = load(") \
        < code.index("fit_part, val_part =") < code.index("guess = majority")
    assert code.index("guess = majority") < code.index("features = [") < code.index("print(len(features)")
    done = run_script(tmp_path, code)
    assert done.returncode == 0 and "Validation accuracy: 1.00" in done.stdout and "1 features" in done.stdout


def test_a_line_goes_above_the_comment_over_its_first_reader():
    old = "rows = [1, 2, 3]\nlast = rows[-1]\n# Report the last row.\nprint(last)\n"
    new = "rows = [1, 2, 3]\n# Report the last row.\nprint(last)\n"
    assert restore_dropped_definitions(old, new)[0] == old


def test_a_dropped_function_is_put_back(tmp_path):
    start = BEFORE.index("def majority")
    end = BEFORE.index("guess =")
    new = BEFORE[:start] + BEFORE[end:]
    code, notes = restore_dropped_definitions(BEFORE, new)
    assert notes and notes[0].startswith("put back `def majority(part):` (line 11")
    assert "return max(set(labels), key=labels.count)" in code
    assert run_script(tmp_path, code).returncode == 0


def test_nothing_is_put_back_when_it_would_rebind_or_read_what_is_not_yet_there():
    # the new script binds fit_part itself: the old tuple line would overwrite it
    rebinding = BEFORE.replace("fit_part, val_part = rows[:-1], rows[-1:]", "fit_part = rows[:-1]")
    assert restore_dropped_definitions(BEFORE, rebinding) == (rebinding, [])
    # the first reader comes before `rows` exists in the new script
    early = "def first():\n    return fit_part[0]\n\n\n" + BEFORE.replace(
        "fit_part, val_part = rows[:-1], rows[-1:]\n", "")
    assert restore_dropped_definitions(BEFORE, early) == (early, [])


def test_names_never_defined_before_are_reported_not_invented():
    new = BEFORE.replace("guess = majority(fit_part)", "guess = majority(train_rows)")
    repair = repair_script(BEFORE, new)
    assert repair.code == new and repair.notes == [] and repair.unbound == ["train_rows"]


def test_whole_scripts_and_broken_code_come_back_unchanged():
    assert repair_script(BEFORE, BEFORE).code == BEFORE
    assert repair_script(BEFORE, BEFORE).notes == []
    broken = "def f(:\n    fit_part\n"
    assert restore_dropped_definitions(BEFORE, broken) == (broken, [])
    assert restore_dropped_definitions("def f(:\n", "print(x)\n") == ("print(x)\n", [])
    assert repair_script(None, "print(x)\n").unbound == ["x"]


def test_forgotten_well_known_imports_are_still_added_after_the_restore():
    old = "import numpy as np\nvalues = np.arange(3)\nprint(values)\n"
    new = "values = np.arange(3) * 2\nprint(math.sqrt(values.sum()))\n"
    repair = repair_script(old, new)
    assert sorted(repair.code.splitlines()[:2]) == ["import math", "import numpy as np"]
    assert repair.unbound == [] and len(repair.notes) == 2


def test_a_dropped_line_the_instruction_gives_in_backticks_goes_in_instead_of_the_old_one(tmp_path):
    """On an office-energy probe the edit model was told to make the column list
    `features = [...]` wider, made the new columns, and dropped the list; the old list put back
    ran the new model on the old two columns (no gain). The instruction's own line goes in."""
    old = 'import csv\nrows = list(csv.DictReader(open("data/train.csv")))\nfeatures = ["x"]\nprint(len(features))\n'
    new = ('import csv\nrows = list(csv.DictReader(open("data/train.csv")))\nfor r in rows:\n    r["x2"] = r["x"] * 2\n'
           'print(len(features))\n')
    instruction = "Use every input column: make it `features = ['x', 'x2']` (it keeps 1 of the 2 now), and add x2."
    repair = repair_script(old, new, instruction)
    assert "features = ['x', 'x2']\nprint(len(features))" in repair.code and 'features = ["x"]' not in repair.code
    assert repair.notes == ["put back `features = ['x', 'x2']` as the edit instruction gives it: the new script "
                            "reads features but defines it nowhere"]
    assert run_script(tmp_path, repair.code).stdout == "2\n"
    # without such a line (or with one that binds another name), the old line comes back
    assert 'features = ["x"]' in repair_script(old, new, "Add x2 to the rows; use `x3 = 1`").code
    assert 'features = ["x"]' in repair_script(old, new).code
