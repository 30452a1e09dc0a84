"""Reading and importing original MLR-Copilot logs; reading our own run logs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlr_copilot.agents.parsing import parse_response
from mlr_copilot.errors import ConfigError
from mlr_copilot.log_import import (STEP_KEYS, import_original_log, load_run, load_steps, read_original_log,
                                    reconstruct_response)
from mlr_copilot.logs import JsonlWriter, read_jsonl

FIXTURE = (Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "mlr-copilot-logs"
           / "feedback-2024-08-06T01-17-04")


def _original_objects(n: int = 3) -> list[dict]:
    objs = []
    for k in range(n):
        objs.append({
            "prompt": f"prompt {k}\nResearch Problem: Train a model.\n\nYou do not know anything about this problem so far.",
            "entries": {"Reflection": f" r{k}\n\n", "Thought": f" t{k}\n\n", "Action": " Execute Script\n\n",
                        "Action Input": {"script_name": f"train{k}.py"}},
            "full_observation": f"full {k} {{with braces}} and \"quotes\"",
            "observation": f"obs {k}",
            "feedback": "continue" if k else "",
        })
    return objs


def _write_original(path: Path, objs: list[dict]) -> Path:
    """The original writer: pretty-printed objects appended one after another."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(o, indent=4) + "\n" for o in objs), encoding="utf-8")
    return path


def test_reads_concatenated_pretty_printed_objects(tmp_path):
    log = _write_original(tmp_path / "full_log.json", _original_objects(3))
    objs = read_original_log(log)
    assert [o["entries"]["Action Input"]["script_name"] for o in objs] == ["train0.py", "train1.py", "train2.py"]


def test_truncated_last_object_is_dropped_the_rest_kept(tmp_path):
    log = _write_original(tmp_path / "full_log.json", _original_objects(3))
    text = log.read_text()
    log.write_text(text[: len(text) - 40])  # killed while writing the third object
    assert len(read_original_log(log)) == 2


def test_garbled_object_in_the_middle_is_skipped(tmp_path):
    objs = _original_objects(3)
    chunks = [json.dumps(o, indent=4) for o in objs]
    chunks[1] = chunks[1][:50]  # half an object, then the next one starts on its own line
    log = tmp_path / "full_log.json"
    log.write_text("\n".join(chunks) + "\n")
    assert [o["observation"] for o in read_original_log(log)] == ["obs 0", "obs 2"]


def test_a_json_list_of_steps_is_accepted(tmp_path):
    log = tmp_path / "full_log.json"
    log.write_text(json.dumps(_original_objects(2)))
    assert len(read_original_log(log)) == 2


def test_import_preserves_steps_actions_arguments_and_observations(tmp_path):
    objs = _original_objects(3)
    log = _write_original(tmp_path / "orig" / "full_log.json", objs)
    out = import_original_log(log, tmp_path / "imported")
    records = read_jsonl(out / "agent_log" / "full_log.jsonl")
    assert records[0]["type"] == "run_start" and records[0]["schema_version"] == 1
    steps = records[1:]
    assert [s["step"] for s in steps] == [1, 2, 3]
    for step, obj in zip(steps, objs):
        assert tuple(step) == STEP_KEYS
        assert step["action"] == "Execute Script"
        assert step["action_input"] == obj["entries"]["Action Input"]
        assert step["observation"] == obj["observation"]
        assert step["full_observation"] == obj["full_observation"]
        assert step["prompt"] == obj["prompt"]
        assert step["entries"]["Thought"] == obj["entries"]["Thought"].strip()
        assert step["timestamp"] is None and step["duration_s"] is None  # no trace.json next to it
    assert steps[0]["feedback"] == "" and steps[1]["feedback"] == "continue"
    info = json.loads((out / "run.json").read_text())
    assert info["schema_version"] == 1 and info["status"] == "imported"
    assert info["research_problem"] == "Train a model."
    assert info["totals"]["steps"] == 3


def test_imported_response_parses_back_to_the_same_action():
    entries = _original_objects(1)[0]["entries"]
    r = parse_response(reconstruct_response(entries), ["Execute Script", "List Files"])
    assert r.action == "Execute Script" and r.action_input == {"script_name": "train0.py"}
    assert r.entries["Reflection"] == "r0"


def test_original_layout_with_env_log_trace_gives_timing(tmp_path):
    run = tmp_path / "logs" / "mytask-2024-01-02T03-04-05"
    log = _write_original(run / "agent_log" / "full_log.json", _original_objects(2))
    trace = {"steps": [
        {"action": {"name": "Retrieval from Research Log", "args": {}}, "observation": "", "timestamp": 1000.0},
        {"action": {"name": "Execute Script", "args": {}}, "observation": "", "timestamp": 1012.5},
        {"action": {"name": "Append Summary to Research Log", "args": {}}, "observation": "", "timestamp": 1020.0},
        {"action": {"name": "Retrieval from Research Log", "args": {}}, "observation": "", "timestamp": 1021.0},
        {"action": {"name": "Execute Script", "args": {}}, "observation": "", "timestamp": 1031.0},
    ], "task_description": "Do the task."}
    (run / "env_log").mkdir()
    (run / "env_log" / "trace.json").write_text(json.dumps(trace))
    loaded = load_run(run / "agent_log")
    assert loaded.source == "original" and loaded.info["task"] == "mytask"
    assert [s["duration_s"] for s in loaded.steps] == [12.5, 10.0]
    assert loaded.steps[0]["start_time"] == "1970-01-01T00:16:40Z"
    assert loaded.info["research_problem"] == "Do the task."
    assert loaded.info["totals"]["wall_time_s"] == 31.0
    assert log.exists()


def test_import_refuses_to_overwrite(tmp_path):
    log = _write_original(tmp_path / "full_log.json", _original_objects(1))
    import_original_log(log, tmp_path / "out")
    with pytest.raises(ConfigError, match="already exists"):
        import_original_log(log, tmp_path / "out")
    import_original_log(log, tmp_path / "out", overwrite=True)
    assert len(load_steps(tmp_path / "out")) == 1


@pytest.mark.parametrize("content,message", [
    (json.dumps({"schema_version": 1, "status": "final_answer"}), "not an MLR-Copilot agent log"),
    ("", "not an MLR-Copilot agent log"),
])
def test_a_json_file_that_is_not_a_log_is_refused(tmp_path, content, message):
    bad = tmp_path / "run.json"
    bad.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_steps(bad)


def test_missing_paths_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_steps(tmp_path / "nope")
    with pytest.raises(ConfigError, match="no run log in"):
        load_steps(tmp_path)


def _our_step(n: int) -> dict:
    return {"type": "step", "step": n, "timestamp": "2025-01-01T00:00:00Z", "start_time": "2025-01-01T00:00:00Z",
            "duration_s": 1.5, "prompt": "p", "response": "r", "entries": {"Thought": "t"},
            "action": "List Files", "action_input": {"dir_path": "."}, "observation": "a.py",
            "full_observation": "a.py", "full_observation_path": None, "feedback": None, "usage": None,
            "parse_attempts": 1}


def test_our_log_is_read_from_the_run_dir_or_the_file_and_survives_a_cut_line(tmp_path):
    run = tmp_path / "logs" / "task" / "20250101-000000"
    writer = JsonlWriter(run / "agent_log" / "full_log.jsonl")
    writer.write({"type": "run_start", "step": 0, "schema_version": 1, "task": "task"})
    writer.write(_our_step(1))
    writer.write(_our_step(2))
    with open(run / "agent_log" / "full_log.jsonl", "a") as f:
        f.write('{"type": "step", "step": 3, "prom')  # killed mid-write
    assert [s["step"] for s in load_steps(run)] == [1, 2]
    assert [s["step"] for s in load_steps(run / "agent_log" / "full_log.jsonl")] == [1, 2]
    loaded = load_run(run)
    assert loaded.source == "ours" and loaded.info["task"] == "task"  # from run_start when run.json is absent


# ------------------------------------------------------------ the recorded MLR-Copilot run

def test_import_of_the_recorded_run_keeps_every_step(tmp_path):
    if not FIXTURE.is_dir():
        pytest.skip(f"recorded MLR-Copilot logs not available ({FIXTURE} is absent)")
    originals = read_original_log(FIXTURE / "full_log.json")
    out = import_original_log(FIXTURE / "full_log.json", tmp_path / "imported")
    steps = load_steps(out)
    assert len(steps) == len(originals) == 17
    for k, (step, obj) in enumerate(zip(steps, originals), 1):
        assert step["step"] == k
        assert step["action"] == obj["entries"]["Action"].strip()
        assert step["action_input"] == obj["entries"]["Action Input"]
        assert step["observation"] == obj["observation"]
        assert step["full_observation"] == obj["full_observation"]
        assert step["feedback"] == obj["feedback"]
        assert step["prompt"] == obj["prompt"]
        assert step["timestamp"] and step["duration_s"] > 0  # timing from trace.json
    assert steps[0]["parse_attempts"] == 2  # its prompt carries one "incorrect format" retry notice
    times = [s["timestamp"] for s in steps]
    assert times == sorted(times)
    info = json.loads((out / "run.json").read_text())
    assert info["task"] == "feedback" and info["status"] == "imported"
    assert info["research_problem"].startswith("Go through the data_description.txt file")
    # reading the original directly gives the same steps as the imported copy
    assert [(s["action"], s["action_input"]) for s in load_steps(FIXTURE)] == \
        [(s["action"], s["action_input"]) for s in steps]
