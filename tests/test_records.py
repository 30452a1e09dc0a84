"""The run directory and its records: one home for every path, typed records read and written
by the same code, schema versions checked on read, and run.json's budget kept current."""
from __future__ import annotations

import json

import pytest

from mlr_copilot.agents.idea_output import existing_task_statement
from mlr_copilot.errors import ConfigError, NewerSchemaError, RunRecordError
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.log_import import load_run
from mlr_copilot.logs import JsonlWriter, read_jsonl
from mlr_copilot.records import (STEP_KEYS, EnvLog, RunDir, RunInfo, RunStatus, StepRecord, find_call_log,
                                 find_full_log, idea_attempts, idea_json_path, llm_calls)
from mlr_copilot.records.idea import IdeaRecord
from mlr_copilot.records.recorder import RunRecorder

from reliability_project import make_project, options, step


def test_every_path_of_a_run_comes_from_its_run_dir(tmp_path):
    run = RunDir(tmp_path / "logs" / "toy" / "2024-01-01T00-00-00Z")
    rel = {name: str(getattr(run, name).relative_to(run.root)) for name in
           ("run_json", "own_workspace", "full_log", "llm_calls", "idea_log", "eval_json", "report", "error_file",
            "lock")}
    assert rel == {"run_json": "run.json", "own_workspace": "workspace", "full_log": "agent_log/full_log.jsonl",
                   "llm_calls": "agent_log/llm_calls.jsonl", "idea_log": "idea_log.jsonl", "eval_json": "eval.json",
                   "report": "report.html", "error_file": "error.txt", "lock": ".lock"}
    env = run.env_log
    assert env.root == run.root / "env_log"
    assert env.trace.name == "trace.jsonl" and env.outputs.name == "outputs" and env.home.name == "home"
    assert env.measurements.name == "measurements.jsonl" and env.backups.name == "backups"
    assert env.manifest(3).relative_to(env.root).as_posix() == "snapshots/manifests/step_0003.json"
    assert env.blob("ab12ef").relative_to(env.root).as_posix() == "snapshots/blobs/ab/ab12ef"
    assert EnvLog.output_name(7, "train.py") == "step_0007_train.py"
    assert run.logs == (run.full_log, run.llm_calls, env.trace)


def test_the_workspace_is_the_runs_own_copy_unless_work_dir_was_given(tmp_path):
    run = RunDir(tmp_path / "run")
    moved = {"workspace": "/somewhere/else/workspace", "options": {"work_dir": None}}
    assert run.workspace_for(moved) == run.own_workspace  # found from the run dir, wherever it moved
    assert RunInfo(moved).workspace(run) == run.own_workspace
    assert run.workspace_for({"workspace": "/w", "options": {"work_dir": "/w"}}).as_posix() == "/w"


def test_logs_are_found_from_a_run_dir_its_agent_log_or_the_file(tmp_path):
    run = RunDir(tmp_path / "run")
    JsonlWriter(run.full_log).write({"type": "run_start", "step": 0})
    JsonlWriter(run.llm_calls).write({"type": "llm_call", "call": 1})
    for where in (run.root, run.agent_log, run.full_log):
        assert find_full_log(where) == run.full_log
        assert RunDir.of_log(find_full_log(where)).root == run.root
    for where in (run.root, run.agent_log, run.llm_calls):
        assert find_call_log(where) == run.llm_calls
    assert find_full_log(tmp_path / "nothing") is None and find_call_log(tmp_path / "nothing") is None


def test_run_json_is_read_one_way_with_a_clear_reason_when_it_cannot_be(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(RunRecordError) as missing:
        RunInfo.read(run)
    assert missing.value.reason == "run.json is missing" and isinstance(missing.value, ConfigError)
    run.run_json.write_text('{"task": ')
    with pytest.raises(RunRecordError, match="run.json is unreadable"):
        RunInfo.read(run)
    run.run_json.write_text("[1, 2]")
    with pytest.raises(RunRecordError, match="does not hold a JSON object"):
        RunInfo.read(run)
    assert RunInfo.read_or_empty(run) == {}


def test_an_older_run_json_is_read_and_a_newer_one_refused(tmp_path):
    run = RunDir(tmp_path)
    run.run_json.write_text(json.dumps({"task": "toy", "status": "step_limit", "totals": {"steps": 4}}))
    info = RunInfo.read(run)  # no schema_version: the first schema
    assert info.task == "toy" and info.status is RunStatus.STEP_LIMIT and info.totals == {"steps": 4}
    run.run_json.write_text(json.dumps({"schema_version": 99, "task": "toy", "status": "running"}))
    with pytest.raises(NewerSchemaError, match="schema version 99, newer than this mlr-copilot reads"):
        RunInfo.read(run)


def test_a_step_log_of_a_newer_schema_is_refused_not_misread(tmp_path):
    run = RunDir(tmp_path / "run")
    JsonlWriter(run.full_log).write({"type": "run_start", "step": 0, "schema_version": 99, "task": "toy"})
    with pytest.raises(NewerSchemaError, match="upgrade mlr-copilot"):
        load_run(run.root)


def _idea(**fields):
    plan = {"datasets": ["d"], "baselines": ["b"], "metrics": ["m"], "files_to_change": ["f"], "steps": ["s"],
            "rationale": "r"}
    return {"task": "toy", "problem_name": "toy", "created": "2026-01-01T00:00:00Z", "source_paper": {"source": "p"},
            "understanding": {"research_tasks": ["t"], "research_gaps": ["g"], "keywords": ["k"]},
            "related_work": {}, "problem": {"research_problem": "p", "rationale": "r"}, "selected": 0,
            "candidates": [{"index": 0, "rank": 1, "hypothesis": {"hypothesis": "h", "rationale": "r"}, "plan": plan}],
            **fields}


def test_an_idea_file_is_read_one_way_a_newer_one_refused_and_unknown_fields_kept(tmp_path):
    path = idea_json_path(tmp_path / "problems" / "toy")
    assert path == tmp_path / "problems" / "toy.idea.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_idea(note="a field this version does not know")))  # no schema_version: the first
    record = IdeaRecord.read(path)
    record.results = [{"verdict": "supported"}]
    record.write(path)
    saved = json.loads(path.read_text())
    assert saved["note"] == "a field this version does not know" and saved["results"] == [{"verdict": "supported"}]
    path.write_text(json.dumps(_idea(schema_version=99)))
    with pytest.raises(NewerSchemaError, match="schema version 99, newer than this mlr-copilot reads"):
        IdeaRecord.read(path)
    with pytest.raises(NewerSchemaError):  # idea --force would lose the task statement it keeps
        existing_task_statement(tmp_path / "problems" / "toy")
    path.write_text(json.dumps({"task": "toy"}))
    with pytest.raises(ConfigError, match="is not a valid idea file"):
        IdeaRecord.read(path)


def test_step_records_have_one_schema_and_older_ones_read_with_defaults():
    assert "exit_code" in STEP_KEYS and "parse_errors" in STEP_KEYS and STEP_KEYS[0] == "type"
    old = {"type": "step", "step": 2, "action": "List Files", "action_input": {"dir_path": "."},
           "node": {"id": 1}}  # an older record, with a field a strategy added
    record = StepRecord.from_dict(old)
    assert record.exit_code is None and record.parse_errors == [] and record.extra == {"node": {"id": 1}}
    again = record.to_dict()
    assert tuple(again)[:len(STEP_KEYS)] == STEP_KEYS and again["node"] == {"id": 1}
    assert StepRecord.from_dict(again) == record


def test_the_recorder_writes_every_step_in_the_step_schema(tmp_path):
    recorder = RunRecorder(tmp_path / "run", info={"task": "toy"})
    try:
        recorder.write_step({"type": "step", "step": 1, "action": "Execute Script", "node": {"id": 1}})
        recorder.write_step(StepRecord(step=2, action="Final Answer"))
    finally:
        recorder.close()
    steps = recorder.steps()
    assert [tuple(s)[:len(STEP_KEYS)] for s in steps] == [STEP_KEYS, STEP_KEYS]
    assert steps[0]["node"] == {"id": 1} and RunInfo.read(tmp_path / "run").totals["steps"] == 2


def test_statuses_are_one_enum():
    assert RunStatus("budget").finished and not RunStatus("interrupted").finished
    assert RunStatus.TIME_LIMIT.completed and not RunStatus.BUDGET.completed
    assert RunStatus.parse("nonsense") is None
    assert json.dumps({"status": RunStatus.FORMAT_ERROR}) == '{"status": "format_error"}'
    assert f"{RunStatus.LLM_ERROR}" == "llm_error"


def test_the_two_kinds_of_model_call_record_have_their_own_names():
    call_log = [{"type": "llm_call", "call": 1}, {"call": 2}, {"type": "resume", "from_step": 1}]
    assert [r["call"] for r in llm_calls(call_log)] == [1, 2]  # the oldest logs wrote no type
    idea_log = [{"type": "idea_start"}, {"type": "llm_call", "stage": "plan", "attempt": 1},
                {"type": "idea_attempt", "stage": "plan", "attempt": 2}]
    assert [(r["type"], r["attempt"]) for r in idea_attempts(idea_log)] == [("idea_attempt", 1), ("idea_attempt", 2)]


def test_run_json_budget_follows_the_spending_of_a_run_stopped_by_its_budget(tmp_path):
    """The budget block was written once, before the first call, and said 0 calls, $0 for ever."""
    root = make_project(tmp_path / "project")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"main": [step("look", "List Files", {"dir_path": "."}),
                                           step("read", "Inspect Script Lines", {"script_name": "main.py",
                                                                                 "start_line_number": 1,
                                                                                 "end_line_number": 3})]}))
    from mlr_copilot.agents.runner import run_experiment

    result = run_experiment(options(root, llm=f"scripted:{script}", max_llm_calls=3), feedback=NoFeedback())

    assert result.status == "budget", result.message
    info = RunInfo.read(result.run_dir)
    calls = llm_calls(read_jsonl(RunDir(result.run_dir).llm_calls))
    assert info["budget"]["calls"] == 3 == len(calls) == info.totals["llm_calls"]
    assert info["budget"]["max_llm_calls"] == 3
    assert info["budget"]["input_tokens"] == info.totals["input_tokens"] > 0
