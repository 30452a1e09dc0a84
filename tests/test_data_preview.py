"""Understand File on data files: an exact, bounded preview that the fast model reads in one
short call, instead of thousands of tokens of raw rows read block by block."""
import json

import pandas as pd
import pytest

from mlr_copilot.env.data_preview import PREVIEW_CHARS, PreviewUnavailable, preview
from mlr_copilot.llm.scripted import ScriptedLLM

from test_llm_actions import make_ctx, run


def _table(n=500):
    return pd.DataFrame({"id": range(n), "age": [20 + i % 50 for i in range(n)],
                         "income": [1000.5 + 3 * i for i in range(n)],
                         "city": ["Oslo", "Lima", "Pune"] * (n // 3) + ["Oslo"] * (n % 3),
                         "label": [i % 2 for i in range(n)]})


def test_csv_preview_gives_shape_types_statistics_and_head(tmp_path):
    path = tmp_path / "train.csv"
    _table().to_csv(path, index=False)
    text = preview(path, "data/train.csv")
    assert text.startswith("data/train.csv: CSV, 500 rows x 5 columns")
    assert "age: int64, min 20, max 69, mean 44.5" in text
    assert "label: int64, 2 distinct values: 0, 1" in text
    assert "city: text, 3 distinct values" in text
    assert "First 3 rows:\nid,age,income,city,label\n0,20,1000.5,Oslo,0" in text


def test_wide_tables_list_some_columns_and_stay_short(tmp_path):
    path = tmp_path / "wide.csv"
    pd.DataFrame({f"pixel_{i}": range(100) for i in range(64)}).to_csv(path, index=False)
    text = preview(path, "wide.csv")
    assert "100 rows x 64 columns" in text and "39 more columns" in text
    assert "pixel_63:" in text and len(text) <= PREVIEW_CHARS + 40


def test_big_files_are_read_with_bounded_rows(tmp_path):
    path = tmp_path / "big.csv"
    _table(30_000).to_csv(path, index=False)
    text = preview(path, "big.csv")
    assert "30,000 rows x 5 columns (statistics from the first 10,000 rows)" in text


def test_json_records_jsonl_and_parquet(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]))
    assert "r.json: JSON (a list of records), 2 rows x 2 columns" in preview(tmp_path / "r.json", "r.json")
    (tmp_path / "cfg.json").write_text(json.dumps({"lr": 0.1, "layers": [64, 32]}))
    text = preview(tmp_path / "cfg.json", "cfg.json")
    assert "an object with 2 keys" in text and "lr: 0.1" in text
    (tmp_path / "r.jsonl").write_text('{"a": 1}\n{"a": 5}\n')
    assert "2 rows x 1 columns" in preview(tmp_path / "r.jsonl", "r.jsonl")
    _table(50).to_parquet(tmp_path / "t.parquet")
    assert "t.parquet: Parquet, 50 rows x 5 columns" in preview(tmp_path / "t.parquet", "t.parquet")


def test_malformed_data_is_reported_as_unavailable(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PreviewUnavailable):
        preview(tmp_path / "bad.json", "bad.json")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(PreviewUnavailable):
        preview(tmp_path / "bad.parquet", "bad.parquet")


def test_understand_file_on_a_csv_makes_one_short_call_on_the_preview(tmp_path):
    fast = ScriptedLLM(["The target is label, with two classes."])
    ctx = make_ctx(tmp_path, fast=fast)
    (ctx.workspace / "data").mkdir()
    _table(2_000).to_csv(ctx.workspace / "data" / "train.csv", index=False)
    obs = run(ctx, "Understand File", file_name="data/train.csv", things_to_look_for="the target column")
    assert len(fast.calls) == 1
    prompt = fast.calls[0]["messages"][0]["content"]
    assert "2,000 rows x 5 columns" in prompt and len(prompt) < 4_000
    assert obs.startswith("The target is label, with two classes.")
    assert "Preview of data/train.csv (computed from the file)" in obs


def test_understand_file_falls_back_to_text_for_a_file_that_is_not_a_table(tmp_path):
    fast = ScriptedLLM(["it is prose"])
    ctx = make_ctx(tmp_path, fast=fast)
    (ctx.workspace / "notes.json").write_text("these are notes, not JSON\n")
    assert run(ctx, "Understand File", file_name="notes.json", things_to_look_for="x") == "it is prose"
    assert "1: these are notes" in fast.calls[0]["messages"][0]["content"]
