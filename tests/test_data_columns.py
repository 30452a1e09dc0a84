"""The edit model is told the columns of the workspace's tables, so it stops guessing them."""
import os

from mlr_copilot.agents.runner import run_experiment
from mlr_copilot.env.data_columns import tables_note
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


def test_the_agents_column_names_are_every_tables_but_the_submission_formats(tmp_path):
    from mlr_copilot.agents.tree_preview import table_columns
    write(tmp_path / "data" / "train.csv", "id,size,label\n1,2,0\n")
    write(tmp_path / "data" / "test.csv", "id,size\n3,4\n")
    write(tmp_path / "data" / "sample_submission.csv", "id,prob_0,prob_1\n3,0.5,0.5\n")
    assert table_columns(tmp_path) == ("id", "size", "label")  # the hints' known columns: no output format
    assert "sample_submission.csv: id, prob_0, prob_1" in tables_note(tmp_path)  # the edit model sees it all
