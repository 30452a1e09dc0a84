"""The loop's worked example follows the data: a text task's (TF-IDF and a linear model of the
target's kind) when the input is free text, the tabular one otherwise."""
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
