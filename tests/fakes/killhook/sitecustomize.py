"""Test-only hook: SIGKILL this process at a chosen point of a run (issue 8's kill-and-resume tests).

Loaded by child processes through PYTHONPATH; it does nothing unless ``MLR_TEST_KILL_AT`` is set:

- ``llm:N``       during the N-th model call (the answer is in hand, not yet logged)
- ``script:N``    while the N-th script runs (``MLR_TEST_KILL_DELAY`` seconds after it started)
- ``snapshot:N``  inside the N-th snapshot; ``MLR_TEST_KILL_VARIANT`` = ``blob`` (after the first
                  blob is stored), ``manifest`` (manifest written, not yet renamed) or ``after``
- ``log:N``       in the middle of the N-th JSONL line written (half of it reaches the disk)
- ``step:N``      between steps, as step N is about to start
- ``entry:N``     just after the N-th research-log entry is written (before that step's snapshot
                  and record)
- ``record:N``    just after the N-th step record is written (and run.json saved)
- ``end:1``       just after the ``run_end`` record is logged, before run.json is saved
- ``count``       kill nothing; write how many of each event happened to ``MLR_TEST_KILL_COUNTS``

It patches our code in the child only, to choose the moment of a kill; it never changes
what the run does up to that moment.
"""
import atexit
import json
import os
import signal
import threading
import time

_SPEC = os.environ.get("MLR_TEST_KILL_AT")


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def _install(spec):
    from mlr_copilot.agents import experiment, research_log
    from mlr_copilot.env import sandbox, snapshots
    from mlr_copilot.llm import replay
    from mlr_copilot import logs
    from mlr_copilot.records import recorder as run_record

    phase, _, n = spec.partition(":")
    target = int(n) if n else -1
    variant = os.environ.get("MLR_TEST_KILL_VARIANT", "manifest")
    delay = float(os.environ.get("MLR_TEST_KILL_DELAY", "0.1"))
    counts = {"llm": 0, "script": 0, "snapshot": 0, "log": 0, "step": 0, "entry": 0, "record": 0, "end": 0}

    def hit(name):
        counts[name] += 1
        return phase == name and counts[name] == target

    if phase == "count":
        def dump():
            with open(os.environ["MLR_TEST_KILL_COUNTS"], "w") as f:
                json.dump(counts, f)
        atexit.register(dump)

    complete = replay.ReplayLLM.complete

    def llm_complete(self, *a, **kw):
        now = hit("llm")
        result = complete(self, *a, **kw)
        if now:
            _die()
        return result
    replay.ReplayLLM.complete = llm_complete

    run_process = sandbox.run_process

    def children():
        me = str(os.getpid())
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:
                        return True
            except (OSError, IndexError):
                continue
        return False

    def kill_while_the_script_runs():
        deadline = time.monotonic() + 10
        while not children() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        _die()

    def script_run(*a, **kw):
        if hit("script"):
            threading.Thread(target=kill_while_the_script_runs, daemon=True).start()
        return run_process(*a, **kw)
    sandbox.run_process = script_run

    take, store, write_manifest = (snapshots.SnapshotStore.take, snapshots.SnapshotStore._store,
                                   snapshots.SnapshotStore._write_manifest)
    armed = {"on": False}

    def snap_take(self, step):
        armed["on"] = hit("snapshot")
        manifest = take(self, step)
        if armed["on"]:
            _die()  # variant "after", or nothing new to store
        return manifest

    def snap_store(self, path, size):
        result = store(self, path, size)
        if armed["on"] and variant == "blob":
            _die()
        return result

    def snap_manifest(self, step, manifest, *rest):
        if armed["on"] and variant == "manifest":
            tmp = self._tmp_path()
            tmp.write_text(json.dumps(manifest), encoding="utf-8")
            _die()
        return write_manifest(self, step, manifest, *rest)
    snapshots.SnapshotStore.take = snap_take
    snapshots.SnapshotStore._store = snap_store
    snapshots.SnapshotStore._write_manifest = snap_manifest

    write = logs.JsonlWriter.write

    def log_write(self, record):
        if hit("log"):
            data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(fd, data[: max(1, len(data) // 2)])
            os.fsync(fd)
            _die()
        write(self, record)
        if record.get("type") == "run_end" and hit("end"):
            _die()
    logs.JsonlWriter.write = log_write

    add_step = research_log.ResearchLog.add_step

    def research_log_entry(self, *a, **kw):
        add_step(self, *a, **kw)
        if hit("entry"):
            _die()
    research_log.ResearchLog.add_step = research_log_entry

    write_step = run_record.RunRecorder.write_step

    def step_record(self, record):
        write_step(self, record)
        if hit("record"):
            _die()
    run_record.RunRecorder.write_step = step_record

    run_step = experiment.ExperimentAgent.run_step

    def agent_step(self, step):
        if hit("step"):
            _die()
        return run_step(self, step)
    experiment.ExperimentAgent.run_step = agent_step


if _SPEC:
    _install(_SPEC)
