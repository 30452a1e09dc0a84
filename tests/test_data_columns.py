"""The edit model is told the columns of the workspace's tables, so it stops guessing them."""
import os

from mlr_copilot.agents.runner import run_experiment
from mlr_copilot.env.data_columns import date_parts_note, tables_note, tables_paragraph
from mlr_copilot.feedback import NoFeedback

from reliability_project import make_project, options, step
from robust_helpers import scripted_models


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_test_table_is_said_to_be_its_training_tables_columns_without_the_target(tmp_path):
    write(tmp_path / "data" / "flats_train.csv", "listing_id,area_m2,district,rent\n1,50,north,900\n")
    write(tmp_path / "data" / "flats_test.csv", "listing_id,area_m2,district\n2,60,east\n")
    assert tables_note(tmp_path).splitlines()[1:] == [
        "- data/flats_test.csv: listing_id, area_m2, district",
        "- data/flats_train.csv: the columns of data/flats_test.csv and rent"]


def test_wide_tables_are_shortened_and_what_is_not_a_table_is_left_out(tmp_path):
    write(tmp_path / "data" / "wide.csv", ",".join(f"pixel_{i}" for i in range(64)) + "\n")
    write(tmp_path / "notes.txt", "a,b,c\n")
    write(tmp_path / ".git" / "x.csv", "secret,columns\n")
    outside = tmp_path.parent / "outside.csv"
    outside.write_text("host_only,column\n")
    os.symlink(outside, tmp_path / "data" / "link.csv")  # a link out of the workspace is not read
    note = tables_note(tmp_path)
    assert "- data/wide.csv: pixel_0, pixel_1," in note and "..., pixel_60, pixel_61, pixel_62, pixel_63 (64 columns)" \
        in note
    assert "secret" not in note and "host_only" not in note and "notes.txt" not in note
    assert tables_note(tmp_path / "data" / "missing") == ""


def test_an_ai_edit_prompt_holds_the_tables_columns(tmp_path):
    root = make_project(tmp_path)
    write(root / "workspaces" / "toy" / "data" / "train.csv", "id,size,label\n1,2,0\n")
    edit = step("edit", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "use size",
                                             "save_name": "main.py"})
    models = scripted_models([edit, step("done", "Final Answer", {"final_answer": "x"})])
    run_experiment(options(root), models=models, feedback=NoFeedback())
    prompt = models.edit.backend.calls[0]["messages"][0]["content"]
    assert "and their columns (a column a file does not list is not in it: a test file has no target column):\n" \
           "- data/train.csv: id, size, label\n\nEdit it by following this instruction:\nuse size" in prompt


def test_the_edit_model_is_told_how_to_make_the_date_parts_an_instruction_names(tmp_path):
    """On an office-energy probe the agent asked for "the features 'timestamp_weekday',
    'timestamp_month', 'timestamp_year'" without saying how to make them, the edit model put
    the names in the script's column list, and the script failed with a KeyError."""
    write(tmp_path / "data" / "train.csv", "id,timestamp,building,energy,start_year\n")
    instruction = "Add the features 'timestamp_weekday', timestamp_hour and start_year. Use a forest."
    assert date_parts_note(instruction, ["id", "timestamp", "building", "energy", "start_year"]) == (
        "No table has the date parts the instruction names: make each in every table the script reads, before it "
        "selects its columns: timestamp_weekday = pd.to_datetime(table['timestamp']).dt.day_of_week; "
        "timestamp_hour = pd.to_datetime(table['timestamp']).dt.hour.")  # start_year is a column already
    assert tables_paragraph(tmp_path, instruction).endswith(
        "timestamp_hour = pd.to_datetime(table['timestamp']).dt.hour.\n")
    assert date_parts_note("Use a stronger model; keep the timestamp_hours column", ["timestamp"]) == ""
    assert tables_paragraph(tmp_path, "Use a forest.") == f"\n{tables_note(tmp_path)}\n"


def test_the_agents_column_names_are_every_tables_but_the_submission_formats(tmp_path):
    from mlr_copilot.agents.tree_preview import table_columns
    write(tmp_path / "data" / "train.csv", "id,size,label\n1,2,0\n")
    write(tmp_path / "data" / "test.csv", "id,size\n3,4\n")
    write(tmp_path / "data" / "sample_submission.csv", "id,prob_0,prob_1\n3,0.5,0.5\n")
    assert table_columns(tmp_path) == ("id", "size", "label")  # the hints' known columns: no output format
    assert "sample_submission.csv: id, prob_0, prob_1" in tables_note(tmp_path)  # the edit model sees it all


def test_json_lines_and_parquet_tables_are_read_like_csv_ones(tmp_path):
    """Hugging Face ships Parquet and JSON lines: a review task in train.jsonl gets the text task's
    advice, and the edit model and the error hints know its columns, as with train.csv."""
    import json

    import pandas as pd

    from mlr_copilot.agents.tree_preview import data_preview, mixed_columns, table_columns, text_column
    reviews = [{"review_id": f"r{i}", "shop": ["north", "south"][i % 2],
                "text": "The kettle arrived broken and the refund took three weeks to come", "stars": i % 5}
               for i in range(20)]
    write(tmp_path / "data" / "train.jsonl", "".join(json.dumps(r) + "\n" for r in reviews))
    pd.DataFrame(reviews).drop(columns="stars").to_parquet(tmp_path / "data" / "test.parquet")
    assert text_column(tmp_path) == "text"
    assert table_columns(tmp_path) == ("review_id", "shop", "text", "stars")
    assert mixed_columns(tmp_path).categories == ("shop",)  # the columns both tables share, by kind
    assert tables_note(tmp_path).splitlines()[1:] == [
        "- data/test.parquet: review_id, shop, text",
        "- data/train.jsonl: the columns of data/test.parquet and stars"]
    preview = data_preview(tmp_path)
    assert "- data/test.parquet" in preview and "shape: 20 rows x 3 columns" in preview
    assert "- data/train.jsonl" in preview and "shape: 20 rows x 4 columns" in preview


def test_unreadable_tables_of_each_format_are_skipped_not_fatal(tmp_path):
    from mlr_copilot.agents.tree_preview import data_preview, table_columns, text_column
    write(tmp_path / "data" / "broken.parquet", "not parquet at all")
    write(tmp_path / "data" / "broken.jsonl", "[1, 2, 3]\n{not json\n")
    assert table_columns(tmp_path) == () and tables_note(tmp_path) == "" and text_column(tmp_path) is None
    assert data_preview(tmp_path).count("(could not be read as a table") == 2
