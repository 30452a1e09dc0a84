"""Run the reliability tests (issue 8) and print the README's reliability table from their results.

    python benchmarks/reliability_table.py           # every test, the kill-and-resume loop included
    python benchmarks/reliability_table.py --fast    # without the tests marked slow

Pytest runs in a child process with this file loaded as a plugin (``-p reliability_table``):
for each test it records the outcome, the time and how many cases the test tried — the
examples hypothesis ran, the ``cases`` a test reported with ``record_property`` (kills,
injected faults, keys), else 1 — into a JSON file. The table is built from that file only,
so its figures are those of the run that printed it. The exit status is pytest's.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_VAR = "MLR_RELIABILITY_RESULTS"

# (fault or attack class, test file, regex on the test name, what one case is)
ROWS = [
    ("SIGKILL at a random point (LLM call, script, snapshot, log write, between steps, random delay), "
     "then `--resume`; final log and workspace equal a run never killed", "test_resume.py",
     r"kill_and_resume_loop|killed_in_each_phase|resumed_twice", "kills"),
    ("Resume edge cases: finished run, run in use, torn lines, damaged log or snapshot, scripts of the dead "
     "run still running, budget carried over, replay picking up after a resume", "test_resume.py",
     r"finished_run|still_in_use|torn_lines|unresumable|budget|fresh_replay|strict_replay|replayed_reference|"
     r"scripts_of_the_dead_run",
     "tests"),
    ("LLM server drops the connection mid-response, or resets it", "test_faults.py",
     r"(passing_fault|does_not_pass).*(dropped|reset)", "runs"),
    ("LLM server storm of 429s and 5xx", "test_faults.py", r"(passing_fault|does_not_pass).*storm of", "runs"),
    ("LLM server hangs until the timeout", "test_faults.py", r"(passing_fault|does_not_pass).*hang", "runs"),
    ("LLM server returns empty or malformed completions", "test_faults.py",
     r"(passing_fault|does_not_pass).*(empty|malformed)", "runs"),
    ("Random storms of all the LLM faults above", "test_faults.py", r"random_fault_storms", "faults injected"),
    ("Log disk full (file-size limit): clear error, earlier records intact, resumable", "test_faults.py",
     r"full_log_disk", "runs"),
    ("Hostile scripts: gigabytes of output, daemons and forks, endless loops, closed pipes, file-size and "
     "memory limits", "test_faults.py|test_env_sandbox.py",
     r"hostile_script|infinite_loop|sigterm|children|gigabyte|long_output|file_size_and_memory|"
     r"timeout_is_bounded", "scripts"),
    ("Fuzzing the response parser (hypothesis)", "test_parsing_fuzz.py",
     r"arbitrary_text|response_like_text|generated_response", "examples"),
    ("Fuzzing the Action Input parser (hypothesis)", "test_parsing_fuzz.py", r"action_input_repair", "examples"),
    ("Path attacks on every file action (`..`, absolute, planted symlinks, NUL, long names, look-alikes, "
     "folder for file)", "test_hostile.py|test_env_sandbox.py",
     r"path_attack|every_file_action|dotdot|absolute|symlink|nul_and_overlong|lookalike", "attacks"),
    ("Fake keys in the environment and `.env`: logs, trace, run.json, snapshots and script environment "
     "scanned", "test_hostile.py|test_env_sandbox.py", r"keys_never_reach|secrets_never_reach", "keys"),
    # issue 13: what a script, a file or a flag does never hangs, crashes or corrupts a run
    ("A script replaces `research_log.log` with a FIFO, a directory or a link out of the workspace: "
     "reported in the observation, recreated, run goes on", "test_robust_files.py", r"research_log_", "runs"),
    ("FIFOs and devices given to Inspect Script Lines, Understand File, Edit Script (AI), Read File, Copy "
     "File: refused at once, relative names only", "test_robust_files.py",
     r"refuse_a_fifo|character_device", "attacks"),
    ("Huge, sparse and very deep files: bounded line windows, snapshot size limits, sparse copies, "
     "paths too long listed as skipped, incremental manifests", "test_robust_files.py",
     r"bounded_window|huge_sparse|too_long|incremental", "tests"),
    ("Random changes between snapshots (writes, same-size rewrites keeping the mtime, deletions, renames, "
     "file/folder swaps, links, modes, FIFOs): each incremental snapshot equals one taken from scratch, "
     "every step restores byte for byte", "test_snapshot_incremental.py", r"equal_snapshots_from_scratch",
     "snapshots compared"),
    ("Oversized or overlong `submission.csv` (400 MB sparse, 20 MB of rows) refused in bounded memory",
     "test_robust_cli.py", r"oversized_submission|too_many_rows", "files"),
    ("Bad numbers on the command line (nan, inf, 0, negative), non-UTF-8 or empty problem files, models "
     "not available: clear message before a run directory exists", "test_robust_cli.py",
     r"cli_number|bad_problem_file|uncached_llama", "inputs"),
    ("`--resume` on a damaged log (refused, nothing changed, leftover scripts stopped) or without "
     "`run.json` (rebuilt from the logs)", "test_robust_cli.py", r"resume_", "tests"),
    ("`idea` on a task without a workspace (warned) or an existing problem (hint names a real option)",
     "test_robust_cli.py", r"idea_", "tests"),
    # issue 12: the sandbox by allowlist, one row per attempt of the table
    ("Exported `KAGGLE_KEY`, `AWS_ACCESS_KEY_ID`, `GH_PAT`, `DATABASE_URL` with a password, a webhook and "
     "`.env` values, under bwrap and `--sandbox none`: script environment, every file of the run and every "
     "request the LLM server received scanned", "test_sandbox_allowlist.py", r"exported_keys_never_reach", "keys"),
    ("Reading credential files of the home (`~/.pgpass`, `~/.npmrc`, `~/.vault-token`, `rclone.conf`, "
     "`$HF_HOME/token`, ...) under bwrap", "test_sandbox_allowlist.py", r"credential_files", "files"),
    ("Reading another checkout's hidden answers, `tasks/`, the rest of the run directory, `/home`, `/root` "
     "under bwrap", "test_sandbox_allowlist.py", r"other_checkouts", "paths"),
    ("Fork bomb of 5,000 forks against a limit of 64 processes (a pids cgroup: holds for root)",
     "test_sandbox_allowlist.py", r"fork_bomb", "fork bombs"),
    ("A venv reached through a symlink runs under bwrap; an interpreter that cannot start ends the run "
     "with the fix", "test_sandbox_allowlist.py", r"venv_reached|cannot_start", "layouts"),
]
FILES = sorted({f for _, files, _, _ in ROWS for f in files.split("|")})


# ------------------------------------------------------------------ the pytest plugin side
_results: list[dict] = []


def _cases(properties: list, hypothesis_statistics: str | None) -> int:
    for name, value in properties:
        if name == "cases":
            return int(value)
    if hypothesis_statistics:
        found = re.findall(r"(\d+) passing, (\d+) failing", hypothesis_statistics)
        if found:
            return sum(int(p) + int(f) for p, f in found)
    return 1


def pytest_runtest_logreport(report):  # pytest hook
    if not os.environ.get(RESULTS_VAR):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _results.append({"nodeid": report.nodeid, "outcome": report.outcome, "duration": report.duration,
                         "properties": [list(p) for p in report.user_properties]})


def pytest_runtest_teardown(item):  # pytest hook: hypothesis statistics exist once the call is over
    if not os.environ.get(RESULTS_VAR):
        return
    for r in reversed(_results):
        if r["nodeid"] == item.nodeid:
            r["cases"] = _cases(r["properties"], getattr(item, "hypothesis_statistics", None))
            break


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(RESULTS_VAR)
    if path:
        Path(path).write_text(json.dumps(_results, indent=1))


# ------------------------------------------------------------------------- the table side
def _row(results: list[dict], files: str, pattern: str) -> list[dict]:
    wanted = set(files.split("|"))
    rx = re.compile(pattern)
    out = []
    for r in results:
        path, _, name = r["nodeid"].partition("::")
        if Path(path).name in wanted and rx.search(name):
            out.append(r)
    return out


def table(results: list[dict]) -> str:
    lines = ["| Fault or attack class | Cases tried | Tests | Result |", "|---|---:|---:|---|"]
    for label, files, pattern, unit in ROWS:
        rows = _row(results, files, pattern)
        ran = [r for r in rows if r["outcome"] != "skipped"]
        failed = [r for r in ran if r["outcome"] != "passed"]
        cases = sum(r.get("cases", 1) for r in ran)
        skipped = len(rows) - len(ran)
        if not ran:
            result = "not run" + (f" ({skipped} skipped)" if skipped else "")
        elif failed:
            result = f"**{len(failed)} of {len(ran)} tests failed**"
        else:
            result = "all passed" + (f" ({skipped} skipped here)" if skipped else "")
        unit = unit[:-1] if cases == 1 and unit.endswith("s") else unit
        lines.append(f"| {label} | {cases:,} {unit} | {len(ran)} | {result} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="leave out the tests marked slow")
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results_path = Path(tmp) / "results.json"
        cmd = [sys.executable, "-m", "pytest", *[f"tests/{f}" for f in FILES], "-q", "-p", "no:cacheprovider",
               "-p", "reliability_table", *(["-m", "not slow"] if args.fast else []), *args.pytest_args]
        env = {**os.environ, RESULTS_VAR: str(results_path),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=sys.stderr)  # pytest's own report to stderr
        seconds = time.monotonic() - t0
        if not results_path.exists():
            print("pytest did not run the tests (see above)", file=sys.stderr)
            return proc.returncode or 1
        results = json.loads(results_path.read_text())
    print(table(results))
    print(f"\nFrom `python benchmarks/reliability_table.py{' --fast' if args.fast else ''}`: "
          f"{len(results)} tests in {seconds:.0f} s, pytest exit status {proc.returncode}.")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
