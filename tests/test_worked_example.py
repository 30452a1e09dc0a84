"""The loop's worked example follows the data: a text task's (TF-IDF and a linear model of the
target's kind) when the input is free text, the tabular one otherwise."""
import ast
import json
import re

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


def test_tables_with_text_categories_get_an_example_that_encodes_this_tasks_columns():
    """A churn probe's loop run never used its plan, region and payment columns: the example
    asked for a stronger model, and the agent copied it."""
    from mlr_copilot.agents.tree_preview import InputColumns
    from mlr_copilot.agents.worked_example import change_ideas

    columns = InputColumns(categories=("plan", "region"), numbers=("fee", "age"), gaps=("fee",))
    text = worked_example("churn.py", None, "classes", columns)
    assert "the tables hold text categories (plan, region) and missing values (fee); encoded and filled" in text
    actions = [json.loads(m) for m in re.findall(r"^Action Input: (\{.*\})$", text, re.MULTILINE)]
    edit = next(a for a in actions if "edit_instruction" in a)  # every Action Input stays valid JSON
    assert edit["edit_instruction"].startswith(
        "Use every input column, plan, region, fee, age: where the script makes its model, make it make_pipeline("
        "ColumnTransformer([('categories', make_pipeline(SimpleImputer(strategy='most_frequent'), "
        "OneHotEncoder(handle_unknown='ignore')), ['plan', 'region']), ('numbers', SimpleImputer(), ['fee', 'age'])]), "
        "LogisticRegression(max_iter=1000)), and where it picks its input columns, pick those")
    assert edit["edit_instruction"].endswith("Change nothing else: the validation split, the printed validation "
                                             "metric and the output file stay as they are.")
    assert ", Ridge()), and where" in worked_example("churn.py", None, "numeric", columns)
    assert "$" not in text and "sklearn.ensemble" not in text
    assert change_ideas(None, columns).startswith("every input column (text categories one-hot encoded")
    from mlr_copilot.agents.next_move import where_we_are
    from mlr_copilot.agents.worked_example import first_change
    from test_next_move import RUN_OK, mem
    measured = [mem(1, "Execute Script", RUN_OK, script_name="churn.py")]
    assert f'(for example the edit instruction "{edit["edit_instruction"]}")' in where_we_are(
        measured, first_change(None, columns, "classes"))
    plain = first_change(None, InputColumns(numbers=("fee",), gaps=("fee",)))
    assert plain is None
    assert "(for example a stronger model, feature scaling or better settings)" in where_we_are(measured, plain)
    # numbers with gaps but no categories, and free text, keep their own examples word for word
    gaps_only = InputColumns(numbers=("fee", "age"), gaps=("fee",))
    assert worked_example("churn.py", None, "classes", gaps_only) == worked_example("churn.py")
    assert change_ideas(None, gaps_only) == change_ideas()
    assert worked_example("churn.py", "review", "classes", columns) == worked_example("churn.py", "review", "classes")


def test_a_starter_keeping_some_numeric_columns_gets_a_first_change_that_keeps_them_all():
    from mlr_copilot.agents.tree_preview import InputColumns
    from mlr_copilot.agents.worked_example import TABULAR_INSTRUCTION, first_change

    columns = InputColumns(numbers=("mean_radius", "mean_texture", "mean_area"))
    starter = 'import pandas as pd\ncols = ["mean_texture"]\nprint(len(cols))\n'
    change = first_change(None, columns, "classes", starter)
    assert change == ("the edit instruction \"Use every input column: make it `cols = ['mean_radius', "
                      "'mean_texture', 'mean_area']` (it keeps 1 of the 3 now). " + TABULAR_INSTRUCTION + '"')
    assert TABULAR_INSTRUCTION in worked_example("train.py")  # the example's own edit, after that line
    every = 'cols = ["mean_radius", "mean_texture", "mean_area"]\n'
    for code in (every, None, "cols = [c for c in train.columns if c != 'id']\n", "cols = ["):
        assert first_change(None, columns, "classes", code) is None  # all kept, or no list to widen
    many = InputColumns(numbers=tuple(f"x{i}" for i in range(30)))  # a long list is copied wrong: a line builds it
    starter = 'import pandas as pd\nlabelled = pd.read_csv("inputs/labelled.csv")\ncols = ["x1", "x2"]\n'
    assert ("make it `cols = [c for c in labelled.columns if c not in ('patient', 'diagnosis')]` (it keeps 2 of "
            "the 30 now).") in first_change(None, InputColumns(numbers=many.numbers, names=("patient", *many.numbers,
                                                                                          "diagnosis")),
                                            "classes", starter)
    assert "make it `cols = ['x0', 'x1', " in first_change(None, many, "classes", starter)  # other columns unknown


def test_a_text_task_is_told_the_text_examples_change_not_the_tabular_ones():
    """On a review probe the usual next move said "a stronger model, feature scaling" while the
    system prompt's example was TF-IDF; the agent asked for more features of a TF-IDF vectorizer
    the script did not have. The line now gives the example's own instruction, of the target's kind."""
    from mlr_copilot.agents.next_move import where_we_are
    from mlr_copilot.agents.worked_example import first_change
    from test_next_move import RUN_OK, mem

    measured = [mem(2, "Execute Script", RUN_OK, script_name="sentiment.py")]
    line = where_we_are(measured, first_change("text", target_kind="classes"))
    example = worked_example("sentiment.py", "text", "classes")
    edit = next(json.loads(m) for m in re.findall(r"^Action Input: (\{.*\})$", example, re.MULTILINE)
                if "edit_instruction" in m)
    assert f'(for example the edit instruction "{edit["edit_instruction"]}")' in line
    assert "TfidfVectorizer(ngram_range=(1, 2)" in line and "LogisticRegression(C=10, max_iter=1000)" in line
    assert "feature scaling" not in line
    assert "Ridge(alpha=1.0)" in first_change("essay", target_kind="numeric")


BIKES_STARTER = '''import pandas as pd
from sklearn.linear_model import LinearRegression


def fit_model(frame):
    return LinearRegression().fit(frame[["temp_c"]], frame["hires"])


def main():
    past = pd.read_csv("history/hires_past.csv")
    future = pd.read_csv("history/days_to_forecast.csv")
    model = fit_model(past)
    pd.DataFrame({"day": future["day"], "hires": model.predict(future[["temp_c"]])}).to_csv("out.csv", index=False)


main()
'''


def test_a_starter_naming_some_columns_inside_functions_is_told_to_use_all_and_the_dates_weekday(tmp_path):
    """A bike-hire probe's starter fitted a line in the temperature, named inside functions; the
    loop fitted forests on it alone (-1.6%). Its "day" column of dates held the weekday, which
    took a forest's validation RMSE from 1,427 to 267."""
    from mlr_copilot.agents.tree_preview import mixed_columns
    from mlr_copilot.agents.worked_example import first_change

    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "hires_past.csv").write_text(
        "day,temp_c,rain_mm,holiday,hires\n" + "".join(f"2023-05-{d:02d},{d * 3 % 31},0.5,0,{100 + d}\n" for d in range(1, 29)))
    (tmp_path / "history" / "days_to_forecast.csv").write_text(
        "day,temp_c,rain_mm,holiday\n" + "".join(f"2023-06-{d:02d},{d * 3 % 31},0.0,1\n" for d in range(1, 29)))
    columns = mixed_columns(tmp_path)
    assert columns.dates == ("day",) and columns.numbers == ("temp_c", "rain_mm", "holiday")
    line = first_change(None, columns, "numeric", BIKES_STARTER)
    instruction = line.removeprefix('the edit instruction "').removesuffix('"')
    assert instruction.startswith("Use every input column: where the script selects 'temp_c' as its input columns, "
                                  "select ['temp_c', 'rain_mm', 'holiday', 'day_weekday', 'day_month', 'day_year'] "
                                  "instead, and add to each table it reads the columns day_weekday, day_month and "
                                  "day_year (pd.to_datetime(table['day']).dt.day_of_week, .dt.month and .dt.year)")
    assert '"' not in instruction and len(instruction) <= 640  # fits a JSON string of the agent's grammar
    # a script that takes every column of its table, or already names them all, is left to the usual ideas
    assert first_change(None, columns, "numeric", BIKES_STARTER.replace('[["temp_c"]]', '.drop(columns=["day"])')) \
        is not None  # the dates are still unused: only their line is given
    every = BIKES_STARTER.replace('[["temp_c"]]', '[["temp_c", "rain_mm", "holiday", "day_weekday", "day_month", '
                                                  '"day_year"]]')
    assert first_change(None, columns, "numeric", every) is None
    no_dates = type(columns)(numbers=columns.numbers)
    assert first_change(None, no_dates, "numeric", BIKES_STARTER.replace('[["temp_c"]]', '.drop(columns=["day"])')) \
        is None


def test_dates_are_told_apart_from_numbers_ids_and_categories(tmp_path):
    from mlr_copilot.agents.tree_preview import mixed_columns

    rows = [(f"{d:02d}/03/2024 08:{d:02d}", f"2024-03-{d:02d}", f"r{d}", ["a", "b"][d % 2], d * 7 % 29) for d in range(1, 29)]
    for name in ("train.csv", "test.csv"):
        (tmp_path / name).write_text("stamp,day,code,kind,n\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    columns = mixed_columns(tmp_path)
    assert columns.dates == ("stamp", "day") and columns.categories == ("kind",) and columns.numbers == ("n",)
    assert columns.timed == ()  # every stamp is in the same hour, 08: no hour to learn from


ENERGY_STARTER = '''import pandas as pd
from sklearn.linear_model import LinearRegression

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
features = ["temperature", "humidity"]
model = LinearRegression().fit(train[features], train["energy"])
'''


def test_hourly_readings_are_told_to_make_the_hour_an_input_too(tmp_path):
    """An office-energy probe's rows were hours of buildings: with the timestamp's weekday, month
    and year a forest's validation RMSE was 11.3, with its hour too 2.7 (the starter's line: 15.5)."""
    from mlr_copilot.agents.tree_preview import mixed_columns
    from mlr_copilot.agents.worked_example import first_change

    hours = [f"2023-03-{1 + h // 24:02d} {h % 24:02d}:00:00,{h % 4 + 1},{h * 7 % 30},{h * 3 % 50}" for h in range(72)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("timestamp,building,temperature,humidity,energy\n"
                                                 + "".join(f"{r},{len(r)}\n" for r in hours))
    (tmp_path / "data" / "test.csv").write_text("timestamp,building,temperature,humidity\n"
                                                + "".join(f"{r}\n" for r in hours))
    columns = mixed_columns(tmp_path)
    assert columns.dates == ("timestamp",) and columns.timed == ("timestamp",)
    instruction = first_change(None, columns, "numeric", ENERGY_STARTER).removeprefix('the edit instruction "')[:-1]
    assert "'timestamp_weekday', 'timestamp_month', 'timestamp_year', 'timestamp_hour']" in instruction
    assert "(pd.to_datetime(table['timestamp']).dt.day_of_week, .dt.month, .dt.year and .dt.hour)" in instruction
    assert len(instruction) <= 640  # fits a JSON string of the agent's grammar


def test_the_worked_example_shows_the_change_that_uses_the_columns_a_starter_leaves_out(tmp_path):
    """On an office-energy probe the agent copied the worked example's model change (RMSE 15.45 to
    17.71) and the next move's columns change only two steps later; the example shows that one."""
    from mlr_copilot.agents.tree_preview import InputColumns
    from mlr_copilot.agents.worked_example import TABULAR_INSTRUCTION, first_change, worked_example

    columns = InputColumns(numbers=("building", "temperature", "humidity"), dates=("timestamp",),
                           timed=("timestamp",), names=("id", "timestamp", "building", "temperature", "humidity"))
    instruction = first_change(None, columns, "numeric", ENERGY_STARTER).removeprefix('the edit instruction "')[:-1]
    example = worked_example("train.py", None, "numeric", columns, ENERGY_STARTER)
    assert f'"edit_instruction": "{instruction}"' in example
    assert "Thought: the script keeps only some of its input columns; with every input column and a stronger " \
           "model it should do better." in example
    everything = ENERGY_STARTER.replace('["temperature", "humidity"]', '[c for c in train.columns if c != "energy"]')
    plain = worked_example("train.py", None, "numeric", InputColumns(numbers=columns.numbers), everything)
    assert f'"edit_instruction": "{TABULAR_INSTRUCTION}"' in plain  # nothing left out: the model change


def test_a_pytorch_starter_on_a_table_is_told_a_pytorch_change():
    """With the tabular instruction a sensor probe's edit put a RandomForestClassifier into its
    torch training loop ("object has no attribute 'parameters'"), twice; a starter that imports
    torch and reads a table is told a PyTorch change instead (an MLP, scaled inputs, Adam)."""
    from mlr_copilot.agents.tree_preview import InputColumns
    from mlr_copilot.agents.worked_example import first_change

    table = InputColumns(numbers=("acc_x_mean", "gyro_max"), names=("window", "acc_x_mean", "gyro_max", "activity"))
    starter = "import pandas as pd\nimport torch\nfrom torch import nn\nmodel = nn.Linear(2, 4)\n"
    line = first_change(None, table, "classes", starter)
    assert line.startswith('the edit instruction "Keep PyTorch. Standardize the input columns') and "Adam" in line
    assert "sklearn.ensemble" not in line
    assert first_change(None, table, "classes", starter.replace("torch", "numpy")) is None  # not a torch starter
    assert first_change(None, InputColumns(), "classes", starter) is None  # images, not a table: no advice


TICKETS_STARTER = '''import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

KEYWORDS = ["refund", "login"]


def featurize(texts):
    return np.array([[len(str(t)), *(str(t).count(k) for k in KEYWORDS)] for t in texts], dtype=float)


def make_model():
    return DecisionTreeClassifier(max_depth=3, random_state=0)


train = pd.DataFrame({"text": ["refund my card", "cannot login", "refund please", "login broken"] * 5,
                      "label": ["billing", "account", "billing", "account"] * 5})
model = make_model().fit(featurize(train["text"][:12]), train["label"][:12])
print("Validation accuracy:", (model.predict(featurize(train["text"][12:])) == train["label"][12:]).mean())
'''


def _as_instructed(code: str, found, pipeline: str) -> str:
    """The starter with the two edits the instruction names made by hand."""
    tree = ast.parse(code)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == found.maker:
            node.body = [ast.parse(f"return {pipeline}").body[0]]
        if isinstance(node, ast.FunctionDef) and node.name == found.features:
            node.body = [ast.parse(f"return {found.texts}").body[0]]
    return ("from sklearn.pipeline import make_pipeline\nfrom sklearn.feature_extraction.text import TfidfVectorizer\n"
            "from sklearn.linear_model import LogisticRegression\n" + ast.unparse(tree))


def test_a_text_starter_with_its_own_feature_function_is_told_to_hand_the_texts_to_a_pipeline(capsys):
    """On a tickets probe the edit model, told to "replace the text features by TfidfVectorizer",
    imported the vectorizer and changed only the model (0.514); told to name no function, it kept
    the feature function and the pipeline got numbers. Named, the edit took validation to 0.914.
    The two named changes, made by hand here, give a script that runs and fits on the texts."""
    from mlr_copilot.agents.starter_functions import text_code
    from mlr_copilot.agents.worked_example import first_change

    line = first_change("text", target_kind="classes", script_code=TICKETS_STARTER)
    assert "1. Make make_model() return make_pipeline(TfidfVectorizer(" in line
    assert "2. Replace the body of featurize(texts) by: return [str(t) for t in texts]." in line
    assert '"' not in line.removeprefix('the edit instruction "').removesuffix('"')  # it sits in a JSON string
    example = worked_example("train.py", "text", "classes", script_code=TICKETS_STARTER)
    edit = next(json.loads(m) for m in re.findall(r"^Action Input: (\{.*\})$", example, re.MULTILINE)
                if "edit_instruction" in m)  # the agent copied the example's edit before the next move's
    assert f'the edit instruction "{edit["edit_instruction"]}"' == line
    found = text_code(TICKETS_STARTER, "text")
    pipeline = "make_pipeline(TfidfVectorizer(), LogisticRegression(C=10, max_iter=1000))"
    exec(compile(_as_instructed(TICKETS_STARTER, found, pipeline), "edited.py", "exec"), {})
    assert capsys.readouterr().out.strip() == "Validation accuracy: 1.0"


def test_the_text_instruction_reads_the_column_from_a_table_and_finds_a_model_made_apart():
    """A feature function given the whole table reads the text column from it; a model made in
    one line and fitted in another is still found; a starter that fits on the texts themselves,
    or whose target kind is unknown, keeps the example's general instruction."""
    from mlr_copilot.agents.starter_functions import text_code
    from mlr_copilot.agents.worked_example import first_change, text_instruction

    table_starter = TICKETS_STARTER.replace(
        "def featurize(texts):\n    return np.array([[len(str(t))",
        "def featurize(frame):\n    texts = frame['text']\n    return np.array([[len(str(t))")
    table_starter = table_starter.replace('featurize(train["text"][:12])', "featurize(train[:12])").replace(
        'featurize(train["text"][12:])', "featurize(train[12:])")
    apart = table_starter.replace("model = make_model().fit(", "model = make_model()\nmodel.fit(")
    found = text_code(apart, "text")
    assert (found.features, found.parameter, found.maker) == ("featurize", "frame", "make_model")
    assert found.texts == "frame['text'].astype(str).tolist()"
    inline = TICKETS_STARTER.replace("make_model().fit(", "DecisionTreeClassifier().fit(")
    assert "1. Where the script makes its model, make it make_pipeline(" in first_change("text", target_kind="classes",
                                                                                       script_code=inline)
    raw = TICKETS_STARTER.replace("featurize(train[", "list(train[")
    assert text_code(raw, "text") is None
    assert first_change("text", target_kind="classes", script_code=raw) == \
        f'the edit instruction "{text_instruction("classes")}"'
    assert first_change("text", target_kind=None, script_code=TICKETS_STARTER) == \
        f'the edit instruction "{text_instruction(None)}"'
    assert text_code("def broken(:", "text") is None


CHURN_STARTER = '''import pandas as pd
from sklearn.linear_model import LogisticRegression

train = pd.read_csv("data/train.csv")
features = ["tenure", "age"]


def make_model():
    return LogisticRegression()


model = make_model()
model.fit(train[features], train["churn"])
'''


def test_a_starter_keeping_a_list_of_columns_is_told_both_lines_to_change_and_the_result_fits(tmp_path):
    """On a churn probe the columns instruction said "where it picks its input columns, pick
    those"; the edit model built the ColumnTransformer but left the starter's list of 3 of 12
    columns, and the script stopped on "Some column names are not columns of the dataframe". The
    instruction now names the function that makes the model and gives the list's new line; made
    by hand, the two changes give a model that fits on every input column."""
    import pandas as pd
    from mlr_copilot.agents.tree_preview import mixed_columns
    from mlr_copilot.agents.worked_example import MAX_INSTRUCTION_CHARS, first_change

    (tmp_path / "data").mkdir()
    train = pd.DataFrame({"id": range(8), "tenure": [1, 5, None, 9, 2, 7, 3, 8], "age": [30, 40, 50, 60] * 2,
                          "plan": ["basic", "pro", None, "pro"] * 2, "churn": [1, 0, 1, 0] * 2})
    train.to_csv(tmp_path / "data" / "train.csv", index=False)
    train.drop(columns="churn").to_csv(tmp_path / "data" / "test.csv", index=False)
    columns = mixed_columns(tmp_path)
    line = first_change(None, columns, "classes", CHURN_STARTER)
    instruction = line.removeprefix('the edit instruction "').removesuffix('"')
    assert instruction.startswith(
        "Use every input column: 1. Make make_model() return make_pipeline(ColumnTransformer(")
    assert "2. Make it `features = [c for c in train.columns if c not in ('id', 'churn')]` (it keeps 2 of the 3" \
        in instruction
    assert '"' not in instruction and len(instruction) <= MAX_INSTRUCTION_CHARS
    example = worked_example("train.py", None, "classes", columns, CHURN_STARTER)
    assert json.loads(re.search(r'^Action Input: (\{.*"edit_instruction".*\})$', example, re.MULTILINE).group(1))[
        "edit_instruction"] == instruction
    pipeline = re.search(r"return (make_pipeline\(.*\))\. 2\.", instruction).group(1)
    features = re.search(r"`features = (.*)`", instruction).group(1)
    from sklearn import compose, impute, linear_model, pipeline as pipelines, preprocessing
    sklearn_names = {name: value for module in (compose, impute, linear_model, pipelines, preprocessing)
                     for name, value in vars(module).items()}
    chosen = eval(features, {"train": train})
    model = eval(pipeline, sklearn_names).fit(train[chosen], train["churn"])
    assert chosen == ["tenure", "age", "plan"] and model.n_features_in_ == 3


def test_a_columns_instruction_too_long_for_the_agents_grammar_selects_columns_by_type():
    """The agent's grammar lets an Action Input string run to 640 characters; on a churn probe
    with 12 input columns the instruction listing each of them ran to 706, and the agent's copy
    stopped mid-word. Past the bound the transformer selects columns by type."""
    from mlr_copilot.agents.tree_preview import InputColumns
    from mlr_copilot.agents.worked_example import MAX_INSTRUCTION_CHARS, columns_instruction

    few = InputColumns(categories=("plan",), numbers=("tenure", "age"), names=("id", "tenure", "age", "plan", "y"))
    assert "['tenure', 'age']" in columns_instruction(few, "classes")
    many = InputColumns(categories=("plan_name", "region_name", "payment_method"),
                        numbers=tuple(f"measurement_{i}" for i in range(9)))
    long = columns_instruction(many, "classes")
    assert len(long) <= MAX_INSTRUCTION_CHARS and "measurement_0" not in long
    assert "make_column_selector(dtype_include='number')" in long
    assert "make_column_selector(dtype_include=object)" in long
