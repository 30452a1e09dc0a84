"""The parts of the tree strategy on their own: metric parsing, code extraction, preview, policy."""
from dataclasses import replace

import pytest

from mlr_copilot.agents.metric import MetricSpec, direction_from_problem, metric_spec_for, parse_metric
from mlr_copilot.agents.tree import Tree, TreePolicy, code_hash, tree_nodes_from_steps
from mlr_copilot.agents.tree_models import columns_note, draft_idea, ensemble_example, fitted_model, model_name, target_kind
from mlr_copilot.agents.tree_preview import InputColumns, data_preview, mixed_columns, text_column
from mlr_copilot.agents.tree_prompts import (compile_error, error_excerpt, extract_code, last_error_line, memory_text,
                                             node_prompt, outcome_text, plan_text)
from mlr_copilot.errors import ConfigError

ACC = MetricSpec("accuracy", "higher")


@pytest.mark.parametrize("output, value", [
    ("Validation accuracy: 0.9312\n", 0.9312),
    ("epoch 1\nValidation accuracy: 0.5\nValidation accuracy: 0.75\ndone\n", 0.75),  # the last line wins
    ("validation ACCURACY = 93.5%\n", 0.935),
    ("  Validation accuracy: 1e-1\n", 0.1),
    ("Validation loss: 0.2\nValidation accuracy: 0.8\n", 0.8),
])
def test_metric_lines_are_parsed(output, value):
    assert parse_metric(output, ACC).value == pytest.approx(value)


@pytest.mark.parametrize("output, problem", [
    ("Accuracy: 0.9\n", "no line 'Validation accuracy: <number>'"),
    ("Validation loss: 0.2\n", "no line"),  # another metric does not count
    ("Validation accuracy: nan\n", "not a finite number"),
    ("Validation accuracy: inf\n", "not a finite number"),
    ("", "no line"),
])
def test_missing_or_non_finite_metrics_give_no_value(output, problem):
    reading = parse_metric(output, ACC)
    assert reading.value is None and problem in reading.problem


@pytest.mark.parametrize("name, output, value", [
    ("rmse", "Validation rmse: -57.1\n", None),  # neg_root_mean_squared_error printed as it is
    ("accuracy", "Validation accuracy: -0.9\n", None),
    ("r2", "Validation r2: -0.3\n", -0.3),  # a worse-than-the-mean model really scores below 0
    ("rmse", "Validation rmse: 0\n", 0.0),
])
def test_a_negative_value_of_a_metric_that_cannot_be_negative_is_refused(name, output, value):
    reading = parse_metric(output, MetricSpec(name, "lower" if name == "rmse" else "higher"))
    assert reading.value == value
    if value is None:
        assert "cannot be negative" in reading.problem and "neg_* scorers" in reading.problem


@pytest.mark.parametrize("name, output, value, line", [
    # the starter's own print line, kept by the model: read, and the reading names the line
    ("rmse", "Cross-validated RMSE: 2.0685\nWrote predictions.csv with 500 rows\n", 2.0685,
     "Cross-validated RMSE: 2.0685"),
    ("rmse", "epoch 3 val_rmse=1.5\n", 1.5, "epoch 3 val_rmse=1.5"),
    ("rmse", "Fold 1 RMSE: 2.0\nFold 2 RMSE: 2.2\nMean CV RMSE: 2.1 +/- 0.1\n", 2.1, "Mean CV RMSE: 2.1 +/- 0.1"),
    ("rmse", "Held-out root mean squared error: 2.2\n", 2.2, "Held-out root mean squared error: 2.2"),
    ("accuracy", "Train accuracy: 0.99\nTest accuracy: 93.1%\n", 0.931, "Test accuracy: 93.1%"),
    ("accuracy", "test accuracy : 0.81, train accuracy: 0.99\n", 0.81, "test accuracy : 0.81, train accuracy: 0.99"),
    ("accuracy", "Validation accuracy 0.93\n", 0.93, "Validation accuracy 0.93"),  # print("...", acc)
    ("accuracy", "8/8 - loss: 0.3 - accuracy: 0.95 - val_loss: 0.4 - val_accuracy: 0.88\n", 0.88,
     "8/8 - loss: 0.3 - accuracy: 0.95 - val_loss: 0.4 - val_accuracy: 0.88"),  # Keras' epoch line
    ("accuracy", "Accuracy on the hold-out set: 0.9\nval acc 0.91\n", 0.91, "val acc 0.91"),
    # a Validation line wins over the others, wherever they are
    ("accuracy", "Validation accuracy: 0.8\nTest accuracy: 0.9\n", 0.8, None),
    # not read: no held-out word (it may be a training score), training, or another metric
    ("accuracy", "Accuracy: 0.9\n", None, None),
    ("rmse", "Train RMSE: 0.5\nIn-sample RMSE: 0.4\n", None, None),
    ("rmse", "Test MSE: 4.0\nCV MAE: 1.2\n", None, None),
    ("accuracy", "Balanced accuracy (validation): 0.7\n", None, None),
    ("accuracy", "Validation accuracy went up by 0.05 after 3 epochs\n", None, None),
])
def test_a_held_out_line_that_names_the_metric_is_read_without_a_validation_line(name, output, value, line):
    reading = parse_metric(output, MetricSpec(name, "lower" if name == "rmse" else "higher"))
    assert reading.value == (None if value is None else pytest.approx(value))
    assert reading.line == line
    if value is None:
        assert f"no line 'Validation {name}: <number>'" in reading.problem


def test_a_held_out_line_is_checked_like_a_validation_line():
    rmse = MetricSpec("rmse", "lower")
    assert "cannot be negative" in parse_metric("Cross-validated RMSE: -2.06\n", rmse).problem
    assert "not a finite number" in parse_metric("CV RMSE: nan\n", rmse).problem
    assert parse_metric("Cross-validated RMSE: 2.0\n", MetricSpec(None)).value is None  # no name, no guess


def test_any_metric_name_counts_when_the_task_names_none():
    assert parse_metric("Validation f1: 0.4\n", MetricSpec(None)).value == 0.4


def test_direction_comes_from_the_task_then_the_problem_then_the_metric_name():
    lower = MetricSpec("rmse", "lower")
    assert lower.better(1.0, 2.0) and not lower.better(2.0, 1.0) and ACC.better(2.0, 1.0)
    assert direction_from_problem("Report RMSE (lower is better).") == "lower"
    assert direction_from_problem("Maximize the F1 score.") == "higher"
    assert direction_from_problem("Improve it.", "rmse") == "lower"
    assert direction_from_problem("Improve it.", "accuracy") == "higher"

    class Task:
        metric, config = "mae", {}
    assert metric_spec_for(Task, "Predict things; higher is better.") == MetricSpec("mae", "higher")
    Task.config = {"direction": "lower"}
    assert metric_spec_for(Task, "higher is better") == MetricSpec("mae", "lower")


def test_code_comes_from_the_longest_python_block():
    text = "Plan: use an SVM.\n```\npip install x\n```\n```python\nimport os\nprint(1)\n```\nThat's it."
    assert extract_code(text) == "import os\nprint(1)\n"
    assert plan_text(text) == "use an SVM."
    listed = ("### Plan\n1. **Model**: a random forest with 300 trees (max_depth=12).\n2. Load the data.\n"
              "```python\nprint(1)\n```\nThis script uses 300 trees.")
    assert plan_text(listed) == "Model: a random forest with 300 trees (max_depth=12)."
    assert plan_text("Use an SVM with C=3.5 on scaled pixels") == "Use an SVM with C=3.5 on scaled pixels"
    assert extract_code("Sure:\n```python\nprint(2)\n") == "print(2)\n"  # cut off before the fence closed
    assert extract_code("```py\nprint(3)```") == "print(3)\n"
    assert extract_code("no code here") is None and extract_code("```python\n\n```") is None
    assert extract_code("- Plan: use a deep network.\n- Complete script: ```python\n```") is None
    echo = "Scale the pixels. Then train.py in ONE ```python code block, with nothing after it.\n\n"
    assert extract_code(echo + "```python\nprint(4)\n```") == "print(4)\n"  # backticks inside a line
    assert plan_text(echo + "```python\nprint(4)\n```") == "Scale the pixels."
    assert extract_code(echo + "The script must:\n- run") is None  # the format echoed, no code
    assert extract_code("Here: ```python\nprint(5)\n```") == "print(5)\n"  # a fence ending a line opens
    assert extract_code("```python\n```python\nprint(6)\n```") == "print(6)\n"  # an opening given twice
    echoed = "Your plan in ONE short sentence: Scale the pixels.\n```python\nprint(1)\n```"
    assert plan_text(echoed) == "Scale the pixels."
    for label in ("Change: ", "First change: ", "First one sentence that names the change you make: "):
        assert plan_text(label + "Replace `SVC` with `RandomForestClassifier`.\n```python\nprint(1)\n```") == \
            "Replace `SVC` with `RandomForestClassifier`."
    assert plan_text("Change the model to an SVM. Then the code.") == "Change the model to an SVM."


def test_compile_errors_are_found_without_running():
    assert compile_error("print(1)\n", "train.py") is None
    err = compile_error("def f(:\n    pass\n", "train.py")
    assert err.startswith("SyntaxError") and "line 1" in err
    assert compile_error("x = 1\0\n", "train.py") is not None  # null bytes: SyntaxError or ValueError


def test_error_excerpt_keeps_head_and_tail_without_run_times():
    long = "start\n" + "x" * 5000 + "\nValueError: bad shape\nExit code: 1 (the script failed), after 2.5 s."
    text = error_excerpt(long)
    assert text.startswith("start") and text.endswith("Exit code: 1 (the script failed).")
    assert "characters ..." in text and len(text) < 2200
    assert last_error_line(text) == "ValueError: bad shape"
    assert last_error_line("Traceback ...\nImportError: cannot import name 'GBTree' from 'sklearn.ensemble' "
                           "(/opt/venv/lib/python3.11/site-packages/sklearn/ensemble/__init__.py)\n") == \
        "ImportError: cannot import name 'GBTree' from 'sklearn.ensemble'"


def test_data_preview_is_small_and_deterministic(tmp_path):
    (tmp_path / "data").mkdir()
    cols = ",".join(f"p{i}" for i in range(30))
    rows = "\n".join(",".join(str(i + j) for j in range(30)) for i in range(50))
    (tmp_path / "data" / "train.csv").write_text(f"{cols}\n{rows}\n")
    (tmp_path / "README.md").write_text("Some notes.\n")
    (tmp_path / "train.py").write_text("print(1)\nprint(2)\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"\0")
    text = data_preview(tmp_path)
    assert text == data_preview(tmp_path)
    assert "- data/train.csv" in text and "shape: 50 rows x 30 columns" in text
    assert "p0 (int64)" in text and "... 22 more ..." in text and "p29 (int64)" in text
    assert "Some notes." in text and "train.py (18 B), a Python script of 2 lines" in text
    assert "pycache" not in text and len(text) < 1500


def _tree(policy, nodes):
    tree = Tree(ACC, policy)
    for stage, parent, buggy, metric in nodes:
        node = tree.new_node(stage, tree.get(parent))
        node.buggy, node.metric, node.code = buggy, metric, f"# node {node.id}\n"
    return tree


def test_memory_shows_the_model_each_node_fits_and_the_plan_only_without_one():
    script = ("from sklearn.ensemble import RandomForestRegressor\nimport pandas as pd\n"
              "scaler = pd.Series([1])\nmodel = RandomForestRegressor(\n    n_estimators=300,  max_depth=8)\n"
              "model.fit(x, y)\nmodel = RandomForestRegressor(n_estimators=50)\nmodel.fit(x, y)\n")
    assert fitted_model(script) == "RandomForestRegressor(n_estimators=50)"  # the last one fitted
    assert fitted_model("model = make_pipeline(StandardScaler(), SVC(C=3))\nmodel.fit(x, y)\n") == \
        "make_pipeline(StandardScaler(), SVC(C=3))"
    assert fitted_model("print(1)\n") is None and fitted_model("def f(:\n") is None and fitted_model(None) is None
    tree = Tree(ACC, TreePolicy())
    for code, metric in ((script, 0.9), ("print(1)\n", 0.8)):
        node = tree.new_node("draft", None)
        node.code, node.buggy, node.metric, node.plan = code, False, metric, "Use a stronger model."
        node.outcome = outcome_text(node, ACC)
    lines = memory_text(tree).splitlines()
    assert lines[2] == "- Node 1 (draft): fits RandomForestRegressor(n_estimators=50) -> validation accuracy 0.9"
    assert lines[3] == "- Node 2 (draft): Use a stronger model. -> validation accuracy 0.8"


def test_memory_lines_stay_in_place_so_the_cached_prompt_prefix_still_holds():
    """A 10-node run lists every earlier node; a longer one drops old lines in blocks, so the
    memory of one node begins with the previous node's lines far more often than not."""
    tree = Tree(ACC, TreePolicy())
    memories, texts = [], []
    for i in range(30):
        node = tree.new_node("draft", None)
        node.code, node.buggy, node.metric, node.plan = f"# node {node.id}\n", False, 0.5 + i / 100, f"Try {i}."
        node.outcome = outcome_text(node, ACC)
        texts.append(memory_text(tree))
        memories.append([ln for ln in texts[-1].splitlines() if ln.startswith("- Node")])
    assert [len(m) for m in memories[:12]] == list(range(1, 13))  # nothing dropped up to 12 nodes
    assert all(len(m) <= 12 for m in memories) and memories[-1][-1].startswith("- Node 30 ")
    kept = sum(new[:len(old)] == old for old, new in zip(memories, memories[1:]))
    assert kept >= 26, kept  # the prefix broke at 3 of 29 new nodes (dropping one line a node: 18)
    assert "(13 attempts so far, the last 7 shown)" in texts[12] and memories[12][0].startswith("- Node 7 ")


def test_drafts_try_model_families_in_turn_and_are_told_what_was_fitted():
    starter = "from sklearn.tree import DecisionTreeRegressor\nm = DecisionTreeRegressor(max_depth=5)\nm.fit(x, y)\n"
    tree = Tree(ACC, TreePolicy(drafts=3))
    first = tree.new_node("draft", None)
    text = node_prompt(tree, first, script="train.py", starter_code=starter, feedback=None)
    assert ("this one: a regularised linear model with standardised features "
            "(make_pipeline(StandardScaler(), LogisticRegression())), if") in text
    assert "The starter fits DecisionTreeRegressor." in text
    assert "Earlier drafts" not in text
    first.code = "model = make_pipeline(StandardScaler(), SVC(C=3))\nmodel.fit(x, y)\n"
    first.buggy, first.metric = False, 0.8
    second = tree.new_node("draft", None)
    assert "this one: a tree ensemble" in node_prompt(tree, second, script="train.py", starter_code=None,
                                                      feedback=None)
    second.code = "import sklearn.ensemble as e\nclf = e.RandomForestClassifier(n_estimators=9)\nclf.fit(x, y)\n"
    second.buggy, second.metric = False, 0.9
    third = tree.new_node("draft", None)
    text = node_prompt(tree, third, script="train.py", starter_code=starter, feedback=None)
    assert "this one: a kernel method or a small neural network" in text
    assert "Earlier drafts fit SVC, RandomForestClassifier." in text
    assert model_name(None) is None and model_name("GridSearchCV(SVC(), grid)") == "GridSearchCV"


def test_draft_ideas_name_classes_for_the_task_kind_of_target():
    assert target_kind(MetricSpec("rmse", "lower")) == "numeric" == target_kind(MetricSpec("mcrmse", "lower"))
    assert target_kind(MetricSpec("blimp_accuracy", "higher")) == "classes"
    assert target_kind(MetricSpec("score", "higher")) is None and target_kind(MetricSpec(None)) is None
    assert draft_idea(0, MetricSpec("rmse", "lower")).endswith("(make_pipeline(StandardScaler(), Ridge()))")
    assert draft_idea(4, MetricSpec("f1", "higher")) == ("a tree ensemble (RandomForestClassifier or "
                                                         "HistGradientBoostingClassifier)")
    assert "MLPRegressor() for a numeric target, make_pipeline(StandardScaler(), SVC(probability=True))" in \
        draft_idea(2, MetricSpec("score", "higher"))


@pytest.mark.parametrize("metric, stronger, ensemble", [
    (MetricSpec("rmse", "lower"), "for example GradientBoostingRegressor, RandomForestRegressor, or SVR or "
                                  "MLPRegressor after a StandardScaler, whichever",
     'for example model = VotingRegressor([("current", Lasso()), ("other", RandomForestRegressor(random_state=0))])'),
    (ACC, "for example HistGradientBoostingClassifier, RandomForestClassifier, or SVC",
     'VotingClassifier([("current", Lasso()), ("other", RandomForestClassifier(random_state=0))], voting="soft")'),
    (MetricSpec("score", "higher"), "for example a gradient-boosted or random-forest ensemble",
     "VotingRegressor or VotingClassifier over the two"),
])
def test_improvements_name_stronger_models_then_an_ensemble_as_scikit_learn_spells_them(metric, stronger, ensemble):
    tree = Tree(metric, TreePolicy(drafts=1))
    draft = tree.new_node("draft", None)
    draft.code, draft.buggy, draft.metric = "m = Ridge()\nm.fit(x, y)\n", False, 0.5
    first = tree.new_node("improve", draft)
    assert f"a stronger model ({stronger}" in node_prompt(tree, first, script="train.py", starter_code=None,
                                                          feedback=None)
    first.code, first.buggy, first.metric = "m = Lasso()\nm.fit(x, y)\n", False, 0.6
    text = node_prompt(tree, tree.new_node("improve", first), script="train.py", starter_code=None, feedback=None)
    assert "an ensemble that averages the current model with a different kind of model" in text and ensemble in text


def test_the_ensemble_line_names_the_current_model_and_a_different_kind():
    rmse = MetricSpec("rmse", "lower")
    gb = "GradientBoostingRegressor(max_depth=3, random_state=0)"
    assert ensemble_example(rmse, gb) == ('for example model = VotingRegressor([("current", ' + gb + '), ("other", '
                                          'make_pipeline(StandardScaler(), Ridge()))])')
    linear = "make_pipeline(StandardScaler(), LogisticRegression(C=2))"
    assert f'("current", {linear}), ("other", RandomForestClassifier(random_state=0))' in ensemble_example(ACC, linear)
    cut = "RandomForestRegressor(n_estimators=300, " + "x" * 120 + "…"  # shortened for the memory: not code
    assert '("current", <the current model>)' in ensemble_example(rmse, cut)
    compile(ensemble_example(rmse, gb).removeprefix("for example "), "line", "exec")


def test_a_free_text_column_is_found_and_tabular_data_has_none(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text(
        "id,city,text,label\n" + "".join(f"{i},Paris,the screen broke after a week of use {i},neg\n" for i in range(5)))
    (tmp_path / "data" / "meta.csv").write_text("id,x\n1,2\n")
    assert text_column(tmp_path) == "text"
    (tmp_path / "data" / "train.csv").write_text("id,city,x,label\n1,New York City,0.5,a\n2,Rome,1.5,b\n")
    assert text_column(tmp_path) is None  # short names are categories, not text
    (tmp_path / "data" / "train.csv").write_text("id,pixels,label\n" + "".join(
        f"{i},{' '.join(str(v) for v in range(i, i + 30))},a\n" for i in range(5)))
    assert text_column(tmp_path) is None  # numbers written as one string are not text
    assert text_column(tmp_path / "missing") is None


def test_categories_and_gaps_of_the_input_columns_are_found_and_the_drafts_told_to_use_them(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [(i, ["basic", "plus", "premium"][i % 3], "" if i % 4 == 0 else str(20 + i), f"Customer {i}", i * 5 % 12,
             "yes") for i in range(12)]
    (data / "past.csv").write_text("id,plan,fee,name,visits,churned\n" + "".join(",".join(map(str, r)) + "\n"
                                                                              for r in rows))
    (data / "new.csv").write_text("id,plan,fee,name,visits\n" + "".join(",".join(map(str, r[:5])) + "\n"
                                                                        for r in rows))
    (data / "sample_submission.csv").write_text("id,churned\n1,no\n")
    # the target (only in one input table), ids and names (one per row) are not input categories or numbers
    columns = mixed_columns(tmp_path)
    assert columns == InputColumns(categories=("plan",), numbers=("fee", "visits"), gaps=("fee",),
                                   names=("id", "plan", "fee", "name", "visits", "churned"))  # not the submission's
    (data / "new.csv").unlink()
    # one table: its target cannot be told apart; its column names still can be
    assert mixed_columns(tmp_path) == InputColumns(names=("id", "plan", "fee", "name", "visits", "churned"))
    tree = Tree(ACC, TreePolicy(drafts=1))
    draft = tree.new_node("draft", None)
    prompt = node_prompt(tree, draft, script="train.py", starter_code=None, feedback=None, columns=columns)
    assert ("The input column plan holds text categories and the input column fee has missing values: use every "
            "input column, not only those the starter picks: make ColumnTransformer([(\"categories\", make_pipeline("
            "SimpleImputer(strategy=\"most_frequent\"), OneHotEncoder(handle_unknown=\"ignore\")), ['plan']), "
            "(\"numbers\", SimpleImputer(), ['fee', 'visits'])]) the first step of the pipeline and give it the whole "
            "table") in prompt
    wide = columns_note(InputColumns(numbers=tuple(f"x{i}" for i in range(40)), gaps=("x1",)))
    assert '("numbers", SimpleImputer(), make_column_selector(dtype_include="number"))' in wide
    draft.code, draft.buggy, draft.metric = "m = make_pipeline(OneHotEncoder(), SimpleImputer(), Ridge())\n", False, 0.5
    improve = tree.new_node("improve", draft)
    assert "ColumnTransformer" not in node_prompt(tree, improve, script="train.py", starter_code=None, feedback=None,
                                                  columns=columns)  # it encodes and fills already
    plain = node_prompt(tree, tree.new_node("draft", None), script="train.py", starter_code=None, feedback=None)
    assert "ColumnTransformer" not in plain and "categories" not in plain


def test_a_starter_that_keeps_some_input_columns_by_name_is_told_the_line_that_keeps_them_all():
    """Churn tree runs: drafts kept the starter's `columns = ["tenure_months", "age"]` and gave the
    ColumnTransformer of the note that table, which raised "Some column names are not columns of the
    dataframe"; the starter's .fillna(0) would then put a 0 among the plan names."""
    columns = InputColumns(categories=("plan",), numbers=("fee", "visits"), gaps=("fee",))
    starter = ('import pandas as pd\npast = pd.read_csv("data/past.csv")\ncolumns = ["fee", "visits"]\n'
               'X = past[columns].fillna(0)\n')
    tree = Tree(ACC, TreePolicy(drafts=1))
    draft = tree.new_node("draft", None)
    prompt = node_prompt(tree, draft, script="train.py", starter_code=starter, feedback=None, columns=columns)
    assert ("`columns = [\"fee\", \"visits\"]` keeps 2 of the 3 input columns: make it "
            "`columns = ['plan', 'fee', 'visits']`, and take out .fillna(...)") in prompt
    every = starter.replace('["fee", "visits"]', '["plan", "fee", "visits"]')
    assert "keeps 2" not in node_prompt(tree, draft, script="train.py", starter_code=every, feedback=None,
                                        columns=columns)
    # a debug of the error that names a column the list leaves out is told the same line
    draft.code, draft.buggy = starter.replace(".fillna(0)", ""), True
    draft.error = ("Traceback (most recent call last):\nValueError: Some column names are not columns of the "
                   "dataframe: {'plan'}")
    debug = tree.new_node("debug", draft)
    prompt = node_prompt(tree, debug, script="train.py", starter_code=starter, feedback=None, columns=columns)
    assert ("The error names input columns the script leaves out: `columns = [\"fee\", \"visits\"]` keeps 2 of the "
            "3 input columns: make it `columns = ['plan', 'fee', 'visits']`.") in prompt
    draft.error = "Traceback (most recent call last):\nNameError: name 'x' is not defined"
    assert "leaves out" not in node_prompt(tree, tree.new_node("debug", draft), script="train.py",
                                           starter_code=starter, feedback=None, columns=columns)
    # other errors get what they usually mean
    draft.error = "Traceback (most recent call last):\nValueError: could not convert string to float: 'basic'"
    assert ("\nWhat this error usually means: a column of text reached a step that needs numbers: encode text "
            "categories with OneHotEncoder") in node_prompt(tree, tree.new_node("debug", draft), script="train.py",
                                                             starter_code=starter, feedback=None, columns=columns)
    # a missing column is looked up in the data's column names: the target asked of the test table
    draft.error = "Traceback (most recent call last):\n  File \"pandas/core/frame.py\"\nKeyError: 'churned'"
    named = replace(columns, names=("id", "plan", "fee", "visits", "churned"))
    assert "What this error usually means: 'churned' is a column of one data table but not of the table" in \
        node_prompt(tree, tree.new_node("debug", draft), script="train.py", starter_code=starter, feedback=None,
                    columns=named)


def test_text_data_gets_text_model_families_without_scaling():
    rmse = MetricSpec("rmse", "lower")
    idea = draft_idea(0, ACC, "review")
    assert idea.startswith("word and word-pair TF-IDF features with a linear model (make_pipeline(TfidfVectorizer(")
    assert "fit on the text column 'review'" in idea and "no StandardScaler" in idea
    assert "StandardScaler()" not in "".join(draft_idea(i, m, "review") for i in range(3) for m in (ACC, rmse))
    assert draft_idea(1, rmse, "review").startswith("word counts over the whole vocabulary")
    tree = Tree(ACC, TreePolicy(drafts=1))
    draft = tree.new_node("draft", None)
    draft.code, draft.buggy, draft.metric = "m = make_pipeline(TfidfVectorizer(), ComplementNB())\nm.fit(x, y)\n", False, 0.5
    texts, tabular = [], []
    for _ in range(4):  # stronger model, ensemble, hyper-parameters, features: each for text
        node = tree.new_node("improve", draft)
        texts.append(node_prompt(tree, node, script="train.py", starter_code=None, feedback=None, text="review"))
        tabular.append(node_prompt(tree, node, script="train.py", starter_code=None, feedback=None))
        node.code, node.buggy, node.metric = draft.code, False, 0.4
    assert "LogisticRegression(C=10, max_iter=1000) or ComplementNB on TfidfVectorizer" in texts[0]
    assert 'VotingClassifier([("words", make_pipeline(TfidfVectorizer(' in texts[1]
    assert "better text features (for example word pairs" in texts[3] and "scaling" not in texts[3]
    for kind in (ACC, rmse):
        compile(ensemble_example(kind, None, "review").removeprefix("for example ").split(", fit on")[0], "l", "exec")
    # tabular data keeps its ideas word for word
    assert ("better preprocessing or features (for example scaling, or new features computed from the columns), "
            "applied to the test data the same way (a make_pipeline does it)") in tabular[3]
    assert "sublinear_tf" not in "".join(tabular) and "char_wb" not in "".join(tabular)
    assert draft_idea(0, ACC) == draft_idea(0, ACC, None) == ("a regularised linear model with standardised features "
                                                              "(make_pipeline(StandardScaler(), LogisticRegression()))")


def test_policy_drafts_first_then_improves_the_best_greedily():
    tree = _tree(TreePolicy(drafts=2, debug_prob=0.0), [("draft", None, False, 0.5)])
    assert tree.next_parent(2) == ("draft", None)
    tree = _tree(TreePolicy(drafts=2, debug_prob=0.0), [("draft", None, False, 0.5), ("draft", None, False, 0.7),
                                                        ("improve", 2, True, None)])
    stage, parent = tree.next_parent(4)
    assert stage == "improve" and parent.id == 2


def test_policy_debugs_only_buggy_leaves_below_the_depth_limit():
    policy = TreePolicy(drafts=1, debug_prob=1.0, max_debug_depth=1)
    tree = _tree(policy, [("draft", None, True, None)])
    stage, parent = tree.next_parent(2)
    assert (stage, parent.id) == ("debug", 1)
    tree = _tree(policy, [("draft", None, True, None), ("debug", 1, True, None)])
    assert tree.nodes[1].debug_depth == 1
    assert tree.next_parent(3) == ("draft", None)  # at the limit, nothing works: draft again
    tree = _tree(policy, [("draft", None, True, None), ("debug", 1, True, None), ("draft", None, False, 0.3)])
    stage, parent = tree.next_parent(4)
    assert (stage, parent.id) == ("improve", 3)


def test_policy_choices_are_reproducible_per_node():
    policy = TreePolicy(drafts=1, debug_prob=0.5, seed=7)
    spec = [("draft", None, False, 0.5), ("improve", 1, True, None), ("improve", 1, True, None)]
    picks = [_tree(policy, spec).next_parent(n) for n in range(4, 30)]
    again = [_tree(policy, spec).next_parent(n) for n in range(4, 30)]
    assert [(s, p.id) for s, p in picks] == [(s, p.id) for s, p in again]
    assert {s for s, _ in picks} == {"debug", "improve"}  # both branches are taken at 0.5


def test_policy_draws_differ_between_runs_whose_first_drafts_differ():
    """At 0.25, 10-node runs must debug about a quarter of the time, not never (as when every
    run drew the same numbers for the same node ids)."""
    policy = TreePolicy(drafts=1, debug_prob=0.25)
    debugs = 0
    for run in range(200):
        tree = _tree(policy, [("draft", None, True, None), ("draft", None, False, 0.5)])
        tree.nodes[0].code_hash = code_hash(f"print({run})\n")
        for node_id in range(3, 11):
            debugs += tree.next_parent(node_id)[0] == "debug"
    assert 0.18 < debugs / (200 * 8) < 0.32


def test_policy_options_are_checked():
    for bad in (dict(drafts=0), dict(debug_prob=-0.1), dict(debug_prob=2), dict(max_debug_depth=-1)):
        with pytest.raises(ConfigError):
            TreePolicy(**bad).check()


def test_code_hash_ignores_trailing_space_only():
    assert code_hash("print(1)  \n\n") == code_hash("print(1)")
    assert code_hash("print(1)") != code_hash("print(2)")


def test_tree_is_rebuilt_from_records_and_refuses_gaps():
    records = [{"step": 1, "action": "Write File", "action_input": {"content": "print(1)\n"},
                "node": {"id": 1, "parent": None, "stage": "draft", "buggy": None, "code_hash": "h"}},
               {"step": 2, "action": "Execute Script", "feedback": "more trees",
                "node": {"id": 1, "parent": None, "stage": "draft", "buggy": False, "metric": 0.8,
                         "code_hash": "h", "outcome": "validation accuracy 0.8"}}]
    tree = Tree.from_records(records, ACC, TreePolicy())
    node = tree.nodes[0]
    assert node.code == "print(1)\n" and node.metric == 0.8 and node.steps == [1, 2] and node.feedback == "more trees"
    assert tree.pending() is None and tree.best() is node
    assert Tree.from_records(records[:1], ACC, TreePolicy()).pending().id == 1
    assert [n["metric"] for n in tree_nodes_from_steps(records)] == [0.8]
    with pytest.raises(ConfigError):
        Tree.from_records([{"step": 1, "node": {"id": 2, "stage": "draft"}}], ACC, TreePolicy())


def test_the_prompt_says_which_ml_packages_scripts_can_import(monkeypatch):
    import importlib.util

    from mlr_copilot.agents import tree_prompts

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "xgboost" else real(name))
    text = tree_prompts.installed_packages()
    installed, missing = text.split(" Not installed (do not import): ")
    assert "scikit-learn" in installed and "pandas" in installed and "xgboost" not in installed
    assert "xgboost" in missing
    assert text in tree_prompts.system_prompt("Predict y.", "data.csv", text)


def test_tree_nodes_are_told_to_turn_a_date_column_into_weekday_month_and_year_until_a_script_does():
    dated = InputColumns(numbers=("temp_c",), dates=("day",))
    tree = Tree(ACC, TreePolicy(drafts=1))
    draft = tree.new_node("draft", None)
    prompt = node_prompt(tree, draft, script="f.py", starter_code="x = 1\n", feedback=None, columns=dated)
    assert ("The column day holds dates: add to each table its weekday, month and year as input columns "
            "(pd.to_datetime(table['day']).dt.day_of_week, .dt.month, .dt.year) and leave day itself out.") in prompt
    draft.code, draft.buggy, draft.metric = "t['wd'] = pd.to_datetime(t['day']).dt.day_of_week\n", False, 0.5
    improve = tree.new_node("improve", draft)
    assert "holds dates" not in node_prompt(tree, improve, script="f.py", starter_code=None, feedback=None,
                                            columns=dated)  # it takes the weekday already
    assert columns_note(InputColumns(numbers=("temp_c",))) == ""


def test_tree_nodes_are_told_the_hour_of_hourly_dates():
    from mlr_copilot.agents.tree_models import dates_note

    hourly = InputColumns(numbers=("temperature",), dates=("timestamp",), timed=("timestamp",))
    assert dates_note(hourly, None) == (
        " The column timestamp holds dates: add to each table its weekday, month, year and hour as input columns "
        "(pd.to_datetime(table['timestamp']).dt.day_of_week, .dt.month, .dt.year, .dt.hour) and leave timestamp "
        "itself out.")
