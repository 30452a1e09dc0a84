"""`mlr-copilot pipeline --prototype` end to end: a paper naming its repository, fake GitHub and
Hub servers, a fake OpenAI server scripted for the idea stages and two agent steps.

The prototype must land in the task workspace and in the run's copy, the problem text must
say where it is, the action must be offered, and the agent's first Inspect Script Lines must
read from it.
"""
from __future__ import annotations

import json

from fakes import idea_answers as A
from fakes.code_hosts import FakeCodeHosts, HubModel, Repo, tar_gz
from fakes.llm_servers import FakeLLMServer, openai_text
from fakes.wires import FAKE_OPENAI_KEY
from mlr_copilot.cli import main
from mlr_copilot.logs import read_jsonl

PAPER = """# Shifted Digits

arXiv:2401.01234v1 [cs.LG]

## Abstract
Shifts help tiny images. Our code is available at https://github.com/acme/shiftaug.

## Introduction
Digits move by a pixel.
"""
PROTO_TRAIN = "def shift(images, dx):\n    return images  # the paper's augmentation\n"


def step(thought, action, args):
    return (f"Reflection: ok\nResearch Plan and Status: 1. read the prototype\nFact Check: none\n"
            f"Thought: {thought}\nAction: {action}\nAction Input: {json.dumps(args)}")


def test_pipeline_brings_the_papers_code_and_the_agent_reads_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.setenv("MLR_S2_BASE_URL", "http://127.0.0.1:9")  # related work: unreachable, skipped
    monkeypatch.setenv("MLR_OPENALEX_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paper.md").write_text(PAPER)
    ws = tmp_path / "workspaces" / "digits"
    ws.mkdir(parents=True)
    (ws / "train.py").write_text("print('accuracy 0.9')\n")
    archive = tar_gz({"README.md": "# shiftaug\nOfficial code.\n", "LICENSE": "MIT\n", "augment.py": PROTO_TRAIN})
    hosts = FakeCodeHosts({"acme/shiftaug": Repo(archive)}, papers={"2401.01234": "https://github.com/acme/shiftaug"},
                          models=[HubModel("acme/shift-svm", "2401.01234", 10, "mit", {"model.bin": 2048})])
    monkeypatch.setenv("HF_ENDPOINT", hosts.hf_endpoint)
    monkeypatch.setenv("MLR_GITHUB_API", hosts.github_api)
    monkeypatch.setenv("MLR_GITHUB_ARCHIVE", hosts.github_archive)
    agent_steps = [
        step("read the paper's code", "Inspect Script Lines",
             {"script_name": "prototype/acme-shiftaug/augment.py", "start_line_number": 1, "end_line_number": 2}),
        step("done", "Final Answer", {"final_answer": "The prototype's shift() is a stub."}),
    ]
    with hosts, FakeLLMServer() as server:
        server.queue(*[openai_text(a) for a in A.full_run() + agent_steps])
        code = main(["pipeline", str(tmp_path / "paper.md"), "--task", "digits", "--prototype", "--yes",
                     "--llm", "openai:test-model", "--llm-base-url", server.url + "/v1", "--root", str(tmp_path),
                     "--log-root", str(tmp_path / "logs"), "--sandbox", "none", "--feedback", "none",
                     "--max-steps", "4", "--no-research-log"])
        captured = capsys.readouterr()
        out = captured.out
        assert code == 0, captured.out + captured.err
        assert any(r.startswith("/codeload/acme/shiftaug/tar.gz/") for r in hosts.requests)

    # the task workspace holds the prototype, with its record
    assert (ws / "prototype" / "acme-shiftaug" / "augment.py").read_text() == PROTO_TRAIN
    record = json.loads((ws / "prototype" / "acme-shiftaug.json").read_text())
    assert record["provenance"][0].startswith("paper text (abstract")
    assert "Prototype code: https://github.com/acme/shiftaug in workspaces/digits/prototype/acme-shiftaug/" in out

    # the problem text says where it is and what it holds; linked models with size and license
    problem = (tmp_path / "problems" / "digits").read_text()
    assert "is in prototype/acme-shiftaug/, 3 files" in problem and "read-only" in problem
    assert "  | # shiftaug" in problem and "prototype/acme-shiftaug/augment.py" in problem
    assert "- acme/shift-svm (2.0 KB, 10 downloads, license mit)" in problem
    idea = json.loads((tmp_path / "problems" / "digits.idea.json").read_text())
    assert idea["prototype"]["retrieved"]["commit"] == record["commit"]

    # the run: offered the action, copied the prototype, and the first step read from it
    run_dir = next(p for p in (tmp_path / "logs" / "digits").iterdir() if (p / "run.json").exists())
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "final_answer", run
    assert "Retrieve Prototype Code" in run["offered_actions"]
    assert (run_dir / "workspace" / "prototype" / "acme-shiftaug" / "augment.py").exists()
    steps = [r for r in read_jsonl(run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]
    assert steps[0]["action"] == "Inspect Script Lines"
    assert "the paper's augmentation" in steps[0]["full_observation"]
    first_prompt = "\n".join(m["content"] for m in server.requests[len(A.full_run())].body["messages"])
    assert "prototype/acme-shiftaug/" in first_prompt and "Retrieve Prototype Code" in first_prompt


def test_idea_prototype_offline_says_what_was_skipped_and_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paper.md").write_text(PAPER)
    (tmp_path / "workspaces" / "digits").mkdir(parents=True)
    with FakeCodeHosts({"acme/shiftaug": Repo(tar_gz({"a.py": "x"}))}) as hosts, FakeLLMServer() as server:
        monkeypatch.setenv("MLR_GITHUB_API", hosts.github_api)
        monkeypatch.setenv("HF_ENDPOINT", hosts.hf_endpoint)
        server.queue(*[openai_text(a) for a in A.full_run()])
        code = main(["idea", str(tmp_path / "paper.md"), "--task", "digits", "--prototype", "--offline", "--yes",
                     "--llm", "openai:test-model", "--llm-base-url", server.url + "/v1", "--root", str(tmp_path),
                     "--log-root", str(tmp_path / "logs")])
        assert code == 0 and hosts.requests == []
    assert "Prototype code: skipped: https://github.com/acme/shiftaug was not retrieved: the network is off" \
        in capsys.readouterr().out
    problem = (tmp_path / "problems" / "digits").read_text()
    assert "Note: The Hugging Face Hub was not asked: the network is off (offline mode)." in problem
    assert "Prototype code: skipped: https://github.com/acme/shiftaug was not retrieved" in problem
    assert not (tmp_path / "workspaces" / "digits" / "prototype").exists()
    idea = json.loads((tmp_path / "problems" / "digits.idea.json").read_text())
    assert idea["prototype"]["retrieved"] is None and "offline" in idea["prototype"]["skipped"]
