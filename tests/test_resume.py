"""`mlr-copilot run --resume`: a run killed at any point goes on as if it never stopped (issue 8).

A reference run is recorded once with a scripted model; every other run replays it
(`--llm replay:<ref>`) in a child process. The kill loop SIGKILLs runs at random points of
each phase (model call, script, snapshot, log write, between steps, or after a random
delay) through the test-only hook in tests/fakes/killhook, resumes them (sometimes killing
the resume too), and checks that the final log, the workspace and the undo history equal
those of a run that was never killed.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from mlr_copilot.agents.resume import drop_torn_lines, resume_run
from mlr_copilot.errors import ConfigError, ReplayDivergedError
from mlr_copilot.llm.replay import ReplayLLM
from mlr_copilot.logs import JsonlWriter, read_jsonl
from mlr_copilot.records.recorder import RunRecorder

from reliability_project import (Reference, assert_jsonl_valid, cli, only_run_dir, replay_args, step_views,
                                 undo_history, workspace_files)

LOGS = ("agent_log/full_log.jsonl", "agent_log/llm_calls.jsonl", "env_log/trace.jsonl")
KILL_CASES = int(os.environ.get("MLR_KILL_CASES", "36"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    return Reference(tmp_path_factory.mktemp("resume"))


@pytest.fixture
def fresh(reference):
    shutil.rmtree(reference.ws, ignore_errors=True)
    yield reference
    shutil.rmtree(reference.ws, ignore_errors=True)


def leftover_scripts(ws: Path) -> list[int]:
    from mlr_copilot.env.process import MARKER_VAR
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if MARKER_VAR.encode() in env and cwd.startswith(str(ws)):
            found.append(pid)
    return found


def check_same_as_never_killed(ref: Reference, run_dir: Path, kills: int) -> None:
    for name in LOGS:
        assert_jsonl_valid(run_dir / name)
    assert step_views(run_dir) == ref.steps
    assert workspace_files(ref.ws) == ref.files
    assert undo_history(run_dir) == ref.undo
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "final_answer" and info["totals"]["steps"] == len(ref.steps)
    assert len(info["resumes"]) == kills
    records = read_jsonl(run_dir / "agent_log" / "full_log.jsonl")
    assert [r["type"] for r in records].count("resume") == kills
    assert [r["type"] for r in records if r["type"] != "resume"].count("run_start") == 1
    assert not leftover_scripts(ref.ws)


# ------------------------------------------------------------------ resume, case by case
def test_the_replayed_reference_is_the_recorded_run(reference):
    recorded = only_run_dir(reference.ref / "logs")
    assert reference.steps == step_views(recorded)
    assert [s["action"] for s in reference.steps][-1] == "Final Answer"
    assert reference.counts["script"] == 3 and reference.counts["llm"] >= 20


@pytest.mark.parametrize("phase", ["llm:7", "script:2", "snapshot:9", "log:33", "step:6"])
def test_a_run_killed_in_each_phase_resumes_to_the_same_result(fresh, tmp_path, phase):
    _kill_and_resume(fresh, tmp_path, phase)


@pytest.mark.parametrize("point", ["entry:7", "record:7", "entry:10", "record:10"])
def test_a_run_killed_between_the_writes_of_a_step_resumes_to_the_same_result(fresh, tmp_path, point):
    """Killed after a step's research-log entry (before its snapshot and record): the entry goes
    with the restore and the step is redone. Killed after its record: the step stays. After the
    record of the Final Answer (step 10), before the run's end was saved, the run had ended: the
    resume finishes it and asks for no step 11 (it used to, and the replay diverged)."""
    run_dir = _kill_and_resume(fresh, tmp_path, point)
    if point == "record:10":  # the run had ended: the resume asks the model nothing
        last = read_jsonl(run_dir / "agent_log" / "llm_calls.jsonl")[-1]
        assert last["type"] == "resume" and last["from_step"] == 10


def test_a_run_killed_after_logging_its_end_is_finished_not_resumed(fresh, tmp_path):
    r = fresh.start(tmp_path, kill={"MLR_TEST_KILL_AT": "end:1"})
    assert r.returncode == -9, r.stdout + r.stderr
    run_dir = only_run_dir(tmp_path)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # its end never saved
    r = cli(["run", "--resume", str(run_dir)], cwd=fresh.base)
    assert r.returncode == 0 and "already finished (final_answer)" in r.stdout, r.stdout + r.stderr
    check_same_as_never_killed(fresh, run_dir, kills=0)  # no step 11, no second run_end
    records = read_jsonl(run_dir / "agent_log" / "full_log.jsonl")
    assert [r["type"] for r in records].count("run_end") == 1
    assert json.loads((run_dir / "run.json").read_text())["final_answer"] == "The mean of 1..4 is 2.5."


def _kill_and_resume(fresh, tmp_path, point: str) -> Path:
    r = fresh.start(tmp_path, kill={"MLR_TEST_KILL_AT": point, "MLR_TEST_KILL_DELAY": "0.1"})
    assert r.returncode == -9, r.stdout + r.stderr
    run_dir = only_run_dir(tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "running" and info["end"] is None  # what a killed run leaves
    r = cli(["run", "--resume", str(run_dir)], cwd=fresh.base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "final_answer" in r.stdout
    check_same_as_never_killed(fresh, run_dir, kills=1)
    info = json.loads((run_dir / "run.json").read_text())
    entry = info["resumes"][0]
    assert entry["previous_status"] == "running" and entry["from_step"] >= 0
    assert entry["mlr_copilot_commit"] == info["mlr_copilot_commit"]  # the same code ran on
    return run_dir


def test_scripts_of_the_dead_run_are_stopped_before_the_workspace_is_restored(fresh, tmp_path):
    import subprocess
    import sys
    from mlr_copilot.env.process import MARKER_VAR
    fresh.start(tmp_path, kill={"MLR_TEST_KILL_AT": "step:5"})
    run_dir = only_run_dir(tmp_path)
    # what a script of the dead run looks like: started in the workspace, marked, still writing
    orphan = subprocess.Popen([sys.executable, "-c", "import time\nwhile True:\n"
                               "    open('orphan.txt', 'a').write('x')\n    time.sleep(0.01)\n"],
                              cwd=fresh.ws, env={**os.environ, MARKER_VAR: "dead-run"}, start_new_session=True)
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path,
                                 env={**os.environ, MARKER_VAR: "another-run"}, start_new_session=True)
    try:
        r = cli(["run", "--resume", str(run_dir)], cwd=fresh.base)
        assert r.returncode == 0, r.stdout + r.stderr
        assert orphan.wait(timeout=10) == -9 and unrelated.poll() is None
    finally:
        for p in (orphan, unrelated):
            p.kill()
            p.wait()
    assert json.loads((run_dir / "run.json").read_text())["resumes"][0]["leftover_processes_stopped"] == 1
    check_same_as_never_killed(fresh, run_dir, kills=1)  # orphan.txt is gone with the restore


def test_resuming_a_finished_run_says_so_and_changes_nothing(fresh):
    run_dir = fresh.run
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    r = cli(["run", "--resume", str(run_dir)], cwd=fresh.base)
    assert r.returncode == 0 and "already finished (final_answer)" in r.stdout and "nothing to resume" in r.stdout
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_a_run_still_in_use_is_not_resumed(fresh, tmp_path):
    fresh.start(tmp_path, kill={"MLR_TEST_KILL_AT": "step:3"})
    run_dir = only_run_dir(tmp_path)
    holder = RunRecorder(run_dir)  # another process (here: this one) works on the run
    try:
        with pytest.raises(ConfigError, match="in use by another process"):
            resume_run(run_dir, feedback_mode="none")
    finally:
        holder.close()
    assert json.loads((run_dir / "run.json").read_text())["resumes"] == []


def test_a_run_resumed_twice_keeps_one_numbering(fresh, tmp_path, record_property):
    fresh.start(tmp_path, kill={"MLR_TEST_KILL_AT": "step:4"})
    run_dir = only_run_dir(tmp_path)
    r = cli(["run", "--resume", str(run_dir)], cwd=fresh.base, kill={"MLR_TEST_KILL_AT": "step:3"})
    assert r.returncode == -9
    r = cli(["run", "--resume", str(run_dir)], cwd=fresh.base)
    assert r.returncode == 0, r.stdout + r.stderr
    check_same_as_never_killed(fresh, run_dir, kills=2)
    resumes = json.loads((run_dir / "run.json").read_text())["resumes"]
    assert [e["from_step"] for e in resumes] == [3, 5]
    record_property("cases", 2)
    # the totals count every call made, those of the lost steps included (they were paid)
    calls = [r for r in read_jsonl(run_dir / "agent_log" / "llm_calls.jsonl") if r.get("type") == "llm_call"]
    assert len(calls) >= fresh.counts["llm"]


def test_the_call_budget_counts_calls_made_before_the_kill(fresh, tmp_path):
    limit = 12
    fresh.start(tmp_path, kill={"MLR_TEST_KILL_AT": "step:4"})
    run_dir = only_run_dir(tmp_path)
    with pytest.raises(ConfigError, match="cannot be changed when resuming: task"):
        resume_run(run_dir, overrides={"task": "other"})
    result = resume_run(run_dir, feedback_mode="none", overrides={"max_llm_calls": limit})
    assert result.status == "budget", result.message
    calls = [c for c in read_jsonl(run_dir / "agent_log" / "llm_calls.jsonl") if c.get("type") == "llm_call"]
    assert len(calls) == limit  # the calls made before the kill counted against the limit
    assert len({c["call"] for c in calls}) == limit  # call numbers go on across the resume
    info = json.loads((run_dir / "run.json").read_text())
    assert info["resumes"][0]["overrides"] == {"max_llm_calls": limit}
    assert info["options"]["max_llm_calls"] == limit


def test_torn_lines_are_set_aside_and_the_rest_kept(tmp_path):
    log = tmp_path / "full_log.jsonl"
    damaged = b'{"type": "step", "step": 1}\n{"type": "step", "st\n{"type": "step", "step": 2}\n{"type": "st'
    log.write_bytes(damaged)  # a line damaged before the last: refused, nothing changed (issue 13)
    with pytest.raises(ConfigError, match="damaged record at line 2"):
        drop_torn_lines(log)
    assert log.read_bytes() == damaged and not (tmp_path / "full_log.jsonl.torn").exists()
    log.write_bytes(damaged.replace(b'{"type": "step", "st\n', b""))
    assert drop_torn_lines(log) == 1  # a kill tears only the last line
    assert [r["step"] for r in read_jsonl(log)] == [1, 2]
    assert_jsonl_valid(log)
    assert (tmp_path / "full_log.jsonl.torn").read_bytes() == b'{"type": "st\n'
    assert drop_torn_lines(log) == 0
    with open(log, "ab") as f:
        f.write(b'{"type": "step", "step": 3}')  # whole, only its newline was cut
    assert drop_torn_lines(log) == 0 and [r["step"] for r in read_jsonl(log)] == [1, 2, 3]
    assert_jsonl_valid(log)


def test_unresumable_directories_get_a_clear_message(fresh, tmp_path):
    with pytest.raises(ConfigError, match="not a run directory"):
        resume_run(tmp_path)
    fresh.start(tmp_path / "a", kill={"MLR_TEST_KILL_AT": "step:5"})
    run_dir = only_run_dir(tmp_path / "a")
    log = run_dir / "agent_log" / "full_log.jsonl"
    good = log.read_text()
    lines = good.splitlines(keepends=True)
    log.write_text("".join(line for line in lines if '"step": 2,' not in line or '"type": "step"' not in line))
    with pytest.raises(ConfigError, match="step 3 where step 2 was expected"):
        resume_run(run_dir, feedback_mode="none")
    log.write_text(good)
    manifest = run_dir / "env_log" / "snapshots" / "manifests" / "step_0004.json"
    manifest.unlink()
    with pytest.raises(ConfigError, match="snapshot of step 4, the last complete step, is missing"):
        resume_run(run_dir, feedback_mode="none")
    (run_dir / "run.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        resume_run(run_dir)


# -------------------------------------------------------------- replay after a resume
def _ask(text):
    return [{"role": "user", "content": text}]


@pytest.fixture
def recording(tmp_path):
    w = JsonlWriter(tmp_path / "llm_calls.jsonl", fsync=False)
    from mlr_copilot.llm.cache import messages_sha256
    for call, (step, purpose, prompt, answer) in enumerate([
            (1, "agent_step", "step 1", "A1"), (1, "research_log_entry", "log 1", "L1"),
            (2, "agent_step", "step 2 took 0.3 s", "A2"), (2, "research_log_entry", "log 2", "L2"),
            (3, "agent_step", "same", "A3"), (3, "research_log_entry", "same", "L3"),
            (4, "agent_step", "same", "A4-lost"),
    ], 1):
        w.write({"type": "llm_call", "call": call, "step": step, "purpose": purpose, "messages": _ask(prompt),
                 "messages_sha256": messages_sha256(_ask(prompt)), "completion": answer})
    w.write({"type": "resume", "step": 3, "from_step": 3})  # step 4 was cut short and redone
    w.write({"type": "llm_call", "call": 8, "step": 4, "purpose": "agent_step", "messages": _ask("same"),
             "messages_sha256": messages_sha256(_ask("same")), "completion": "A4"})
    return tmp_path


def test_a_fresh_replay_picks_up_in_the_middle_by_matching_the_request(recording):
    replay = ReplayLLM(recording)  # a resumed process starts a new one
    assert replay.complete(_ask("step 2 took 0.4 s"), purpose="agent_step").text == "A2"  # numbers may differ
    assert replay.complete(_ask("log 2"), purpose="research_log_entry").text == "L2"
    # the same request twice: position decides, and the lost step's answer is never served
    assert replay.complete(_ask("same"), purpose="agent_step").text == "A3"
    assert replay.complete(_ask("same"), purpose="agent_step").text == "A4"
    with pytest.raises(ReplayDivergedError, match="'research_log_entry' call that is not in the recording"):
        replay.complete(_ask("log 4"), purpose="research_log_entry")
    assert replay.complete(_ask("step 1"), purpose="agent_step").text == "A1"
    with pytest.raises(ReplayDivergedError, match="holds only 4 such calls"):
        replay.complete(_ask("step 5"), purpose="agent_step")


def test_strict_replay_refuses_requests_that_differ_in_numbers(recording):
    replay = ReplayLLM(recording, strict=True)
    assert replay.complete(_ask("step 1"), purpose="agent_step").text == "A1"
    with pytest.raises(ReplayDivergedError, match="'agent_step' call 2 .* differs at character 14: recorded '3 s'"):
        replay.complete(_ask("step 2 took 0.4 s"), purpose="agent_step")


# ------------------------------------------------------------------------ the kill loop
def _kill_plan(ref: Reference, rng: random.Random) -> dict:
    phase = rng.choice(["llm", "script", "snapshot", "log", "step", "delay"])
    if phase == "delay":
        return {"phase": "delay", "seconds": rng.uniform(0.4, max(0.5, ref.seconds - 0.2))}
    kill = {"MLR_TEST_KILL_AT": f"{phase}:{rng.randint(1, ref.counts[phase])}",
            "MLR_TEST_KILL_DELAY": f"{rng.uniform(0.0, 0.35):.2f}",
            "MLR_TEST_KILL_VARIANT": rng.choice(["blob", "manifest", "after"])}
    return {"phase": phase, "kill": kill}


def _run_killed(ref: Reference, args: list[str], plan: dict):
    if plan["phase"] != "delay":
        return cli(args, cwd=ref.base, kill=plan["kill"]).returncode
    import signal
    import subprocess
    import sys
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1])])}
    proc = subprocess.Popen([sys.executable, "-m", "mlr_copilot", *args], cwd=ref.base, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=plan["seconds"])
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=60)


def _logged(kind: str, run_dir: Path) -> bool:
    """Whether the run log holds a whole ``run_start`` record, or ends with a whole ``run_end``."""
    records = read_jsonl(run_dir / "agent_log" / "full_log.jsonl")
    if kind == "run_start":
        return any(r.get("type") == "run_start" for r in records)
    return bool(records) and records[-1].get("type") == "run_end"


@pytest.mark.slow
def test_kill_and_resume_loop(reference, tmp_path, record_property):
    """Kill runs at random points of every phase, resume, and compare with the run never killed."""
    rng = random.Random(int(os.environ.get("MLR_KILL_SEED", "8")))
    by_phase: dict[str, int] = {}
    t0 = time.monotonic()
    for case in range(KILL_CASES):
        shutil.rmtree(reference.ws, ignore_errors=True)
        log_root = tmp_path / f"case{case:02d}"
        plan = _kill_plan(reference, rng)
        rc = _run_killed(reference, replay_args(reference.root, reference.ref, log_root, reference.ws), plan)
        started = sorted(log_root.glob("toy/*"))
        if not started or not _logged("run_start", started[0]):  # killed before the run logged its start:
            assert plan["phase"] == "delay" and rc == -9  # nothing to resume (with it, run.json is rebuilt)
            with pytest.raises(ConfigError, match="not a run directory"):
                resume_run(started[0] if started else log_root)
            continue
        run_dir = only_run_dir(log_root)
        killed = rc == -9
        kills = int(killed and not _logged("run_end", run_dir))  # a kill after the run's end: nothing to resume
        phases = [plan["phase"]] * kills
        if kills and case % 4 == 3:  # kill the resume as well
            again = _kill_plan(reference, rng)
            if again["phase"] != "delay" and _run_killed(reference, ["run", "--resume", str(run_dir)], again) == -9:
                killed = True
                if not _logged("run_end", run_dir):
                    kills += 1
                    phases.append(again["phase"])
        for phase in phases:
            by_phase[phase] = by_phase.get(phase, 0) + 1
        if killed:
            r = cli(["run", "--resume", str(run_dir)], cwd=reference.base)
            assert r.returncode == 0, f"case {case} {plan}: {r.stdout}{r.stderr}"
        try:
            check_same_as_never_killed(reference, run_dir, kills)
        except AssertionError as exc:
            raise AssertionError(f"case {case} {plan}: {exc}") from exc
    total = sum(by_phase.values())
    record_property("cases", total)
    record_property("by_phase", json.dumps(by_phase, sort_keys=True))
    assert total >= KILL_CASES * 0.8 and set(by_phase) >= {"llm", "script", "snapshot", "log", "step"}
    print(f"{total} kills resumed in {time.monotonic() - t0:.0f} s: {by_phase}")
