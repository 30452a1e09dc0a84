"""An edited script that reads date parts no table has ("timestamp_hour") gets them made where
it reads its tables, so it runs instead of stopping on a KeyError."""
import subprocess
import sys

from mlr_copilot.env.data_columns import table_headers
from mlr_copilot.env.date_parts_repair import add_date_parts
from mlr_copilot.llm.scripted import ScriptedLLM

from test_llm_actions import fenced, make_ctx, run

SCRIPT = '''import pandas as pd
from sklearn.linear_model import LinearRegression

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
features = ["temperature", "timestamp_weekday", "timestamp_hour"]
model = LinearRegression().fit(train[features], train["energy"])
print(len(model.predict(test[features])), sorted(train.columns))
'''


def write_tables(workspace):
    (workspace / "data").mkdir(parents=True, exist_ok=True)
    rows = [(f"2023-03-{1 + h // 24:02d} {h % 24:02d}:00:00", h * 7 % 30, h % 11, h) for h in range(48)]
    (workspace / "data" / "train.csv").write_text(
        "id,timestamp,temperature,start,energy\n" + "".join(f"{i},{t},{c},{s},{e}\n" for i, (t, c, s, e) in
                                                            enumerate(rows)))
    (workspace / "data" / "test.csv").write_text(
        "id,timestamp,temperature,start\n" + "".join(f"{i},{t},{c},{s}\n" for i, (t, c, s, _) in enumerate(rows)))


def test_date_parts_a_script_reads_are_made_after_each_table_read_and_it_runs(tmp_path):
    write_tables(tmp_path)
    code, notes = add_date_parts(SCRIPT, tmp_path, table_headers(tmp_path))
    assert 'train = pd.read_csv("data/train.csv")\n' \
           'train["timestamp_hour"] = pd.to_datetime(train["timestamp"]).dt.hour\n' \
           'train["timestamp_weekday"] = pd.to_datetime(train["timestamp"]).dt.day_of_week\n' in code
    assert notes == [
        "made timestamp_hour, timestamp_weekday in train (from its dates), right after train is read: the script "
        "reads them and no table has them",
        "made timestamp_hour, timestamp_weekday in test (from its dates), right after test is read: the script "
        "reads them and no table has them"]
    (tmp_path / "s.py").write_text(code)
    done = subprocess.run([sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("48 [") and "'timestamp_hour'" in done.stdout


def test_a_script_that_makes_its_parts_or_names_a_part_of_no_date_is_left_alone(tmp_path):
    write_tables(tmp_path)
    headers = table_headers(tmp_path)
    makes = SCRIPT.replace('features = [', 'train["timestamp_hour"] = 0\ntest = test.assign(timestamp_weekday=1)\n'
                                          'features = [')
    assert add_date_parts(makes, tmp_path, headers) == (makes, [])
    numbers = SCRIPT.replace('"timestamp_weekday", "timestamp_hour"', '"start_year"')  # start holds numbers
    assert add_date_parts(numbers, tmp_path, headers) == (numbers, [])
    elsewhere = SCRIPT.replace("data/", "../data/")  # only the workspace's own tables are read
    assert add_date_parts(elsewhere, tmp_path, headers) == (elsewhere, [])
    assert add_date_parts("print(", tmp_path, headers) == ("print(", [])


def test_an_ai_edit_that_lists_date_parts_without_making_them_saves_a_script_that_makes_them(tmp_path):
    """On an office-energy probe the edit model put the timestamp's parts in the column list and
    made none of them; the script stopped on a KeyError and the agent never recovered."""
    ctx = make_ctx(tmp_path, edit=ScriptedLLM([fenced(SCRIPT)]))
    write_tables(ctx.workspace)
    (ctx.workspace / "train.py").write_text(SCRIPT.replace(', "timestamp_weekday", "timestamp_hour"', ""))
    obs = run(ctx, "Edit Script (AI)", script_name="train.py", save_name="train.py",
              edit_instruction="Add the columns timestamp_weekday and timestamp_hour to features.")
    saved = (ctx.workspace / "train.py").read_text()
    assert 'test["timestamp_hour"] = pd.to_datetime(test["timestamp"]).dt.hour\n' in saved
    assert "Before saving, the edited script was repaired" in obs and "made timestamp_hour, timestamp_weekday" in obs
