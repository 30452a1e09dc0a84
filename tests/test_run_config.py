"""The run configuration (issue 11): the command line's options and defaults are the run
config's, and every option ``--resume`` may change, typed with ``--resume``, reaches the
resumed run (the real CLI, the real OpenAI SDK, a fake server on 127.0.0.1)."""
from __future__ import annotations

import json

from fakes.hosted_run import Script, make_project, openai_server, step
from fakes.wires import FAKE_OPENAI_KEY
from mlr_copilot.batch import BatchOptions
from mlr_copilot.cli import build_parser, main
from mlr_copilot.logs import read_jsonl
from mlr_copilot.run_args import run_options_from_args
from mlr_copilot.run_config import LLM, OVERRIDE, RunConfig, default_of, from_args, resumable

SHOW_ENV = ("import os\nprint('passed:', os.environ.get('MLR_RESUME_PASSED'))\n"
            "print('device:', os.environ.get('CUDA_VISIBLE_DEVICES'))\n")


def test_the_parsers_defaults_are_the_run_configs():
    parser = build_parser()
    for argv in (["run", "toy"], ["pipeline", "paper.pdf", "--task", "toy"]):
        assert run_options_from_args(parser.parse_args(argv), "toy") == RunConfig(task="toy")
    idea = parser.parse_args(["idea", "paper.pdf", "--task", "toy"])
    assert from_args(idea, group=LLM, task="toy") == RunConfig(task="toy")
    assert (idea.root, idea.log_root, idea.hf_endpoint) == (default_of("root"), default_of("log_root"), None)
    batch = parser.parse_args(["batch", "--tasks", "toy"])
    shared = {"max_steps": batch.max_steps, "max_time_s": batch.max_time, "sandbox": batch.sandbox,
              "log_root": batch.log_root, "root": batch.root}
    assert shared == {name: default_of(name) for name in shared}
    assert shared == {name: getattr(BatchOptions(tasks=["toy"]), name) for name in shared}


def test_every_option_typed_with_resume_reaches_the_resumed_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.setenv("MLR_RESUME_PASSED", "reached-the-script")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    root = make_project(tmp_path)
    (root / "workspaces" / "toy" / "show_env.py").write_text(SHOW_ENV)
    cache = tmp_path / "answers.sqlite"
    script = Script([step("see the files", "List Files", {"dir_path": "."}),
                     step("what do scripts get", "Execute Script", {"script_name": "show_env.py"}),
                     step("read it", "Inspect Script Lines", {"script_name": "show_env.py", "start_line_number": 1,
                                                              "end_line_number": 3})], fail_at=2)
    server, _ = openai_server(script)
    with server:
        url = server.url + "/v1"
        # the first run ends on a 401 at step 2 (status llm_error: a run to resume)
        assert main(["run", "toy", "--llm", "openai:first-model", "--llm-base-url", url, "--root", str(root),
                     "--log-root", str(tmp_path / "logs"), "--feedback", "none", "--sandbox", "none",
                     "--no-research-log", "--max-steps", "10"]) == 1
        run_dir = next((tmp_path / "logs" / "toy").iterdir())
        first_requests = len(server.requests)
        # option: (as typed, as the resumed run records it); a value other than the run's for each
        typed = {"llm": (["--llm", "openai:resumed-model"], "openai:resumed-model"),
                 "llm_base_url": (["--llm-base-url", url + "/"], url + "/"),
                 "max_cost": (["--max-cost", "5"], 5.0),
                 "max_llm_calls": (["--max-llm-calls", "40"], 40),
                 "llm_cache": (["--llm-cache", str(cache)], str(cache)),
                 "prompt_cache": (["--no-prompt-cache"], False),
                 "max_steps": (["--max-steps", "3"], 3),
                 "max_time_s": (["--max-time", "900"], 900.0),
                 "device": (["--device", "3"], "3"),
                 "sandbox": (["--sandbox", "none"], "none"),
                 "allow_network": (["--allow-network"], True),
                 "pass_env": (["--pass-env", "MLR_RESUME_PASSED"], ["MLR_RESUME_PASSED"]),
                 "pass_secret_env": (["--pass-secret-env"], True),
                 "script_timeout_s": (["--script-timeout", "77"], 77.0),
                 "tree_node_timeout_s": (["--tree-node-timeout", "45"], 45.0),
                 "tree_prediction_check": (["--no-tree-prediction-check"], False),
                 "tree_revalidate_splits": (["--tree-revalidate-splits", "5"], 5),
                 "history_steps": (["--history-steps", "1"], 1),
                 "hf_endpoint": (["--hf-endpoint", "http://127.0.0.1:9"], "http://127.0.0.1:9")}
        assert set(typed) == set(resumable(OVERRIDE))  # a new option a resume may change needs a case here
        argv = ["run", "--resume", str(run_dir), "--feedback", "none"] + [a for flag, _ in typed.values() for a in flag]
        assert main(argv) == 0, capsys.readouterr()
    expected = {name: value for name, (_, value) in typed.items()}
    info = json.loads((run_dir / "run.json").read_text())
    assert info["resumes"][-1]["overrides"] == expected
    assert {name: info["options"][name] for name in expected} == expected
    # and they took effect: the model and server, the step limit, the budget, the cache, the scripts' environment
    assert info["status"] == "step_limit" and info["totals"]["steps"] == 3
    resumed = server.requests[first_requests:]
    assert resumed and {r.body["model"] for r in resumed} == {"resumed-model"}
    assert (info["budget"]["max_cost_usd"], info["budget"]["max_llm_calls"]) == (5.0, 40)
    assert cache.is_file()
    steps = [r for r in read_jsonl(run_dir / "agent_log" / "full_log.jsonl") if r.get("type") == "step"]
    ran = next(r for r in steps if r["action"] == "Execute Script")["full_observation"]
    assert "passed: reached-the-script" in ran and "device: 3" in ran
