"""The speed figures of the embedded model that need more than one call: a run's first step
with an empty and with a warm prefix cache (each in a fresh process, as a new run is), a
whole-file edit with and without prompt lookup, and the median step of a 10-step run with the
settings issue 16 started from and with today's. Used by ``bench_llm_local.py``."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from agent_suite import run_figures
from mlr_copilot.records import RunDir
from mlr_copilot.records.layout import FULL_LOG

HERE = Path(__file__).resolve().parent

SCRIPT = '''"""Train a classifier on the digits images and write the test predictions."""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

DATA = Path("data")
SEED = 0


def load(split: str) -> pd.DataFrame:
    """One split of the data, with the pixel columns as floats."""
    frame = pd.read_csv(DATA / f"{split}.csv")
    pixels = [c for c in frame.columns if c.startswith("pixel")]
    frame[pixels] = frame[pixels].astype(float)
    return frame


def features(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("pixel")]


def add_row_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Simple extra features: the mean and spread of each image's pixels."""
    pixels = features(frame)
    frame = frame.copy()
    frame["row_mean"] = frame[pixels].mean(axis=1)
    frame["row_std"] = frame[pixels].std(axis=1)
    return frame


def scale(train: pd.DataFrame, other: pd.DataFrame, columns: list[str]):
    scaler = StandardScaler().fit(train[columns])
    return scaler.transform(train[columns]), scaler.transform(other[columns])


def make_model():
    return DecisionTreeClassifier(max_depth=12, random_state=SEED)


def report(y_true, y_pred) -> dict:
    matrix = confusion_matrix(y_true, y_pred)
    per_class = matrix.diagonal() / matrix.sum(axis=1)
    return {"accuracy": accuracy_score(y_true, y_pred),
            "worst_class": int(np.argmin(per_class)),
            "worst_class_accuracy": float(per_class.min())}


def validate(train: pd.DataFrame) -> dict:
    """Fit on 80% of the training data and score the other 20%."""
    columns = features(train) + ["row_mean", "row_std"]
    fit, val = train_test_split(train, test_size=0.2, stratify=train["label"], random_state=SEED)
    x_fit, x_val = scale(fit, val, columns)
    model = make_model()
    started = time.time()
    model.fit(x_fit, fit["label"])
    result = report(val["label"], model.predict(x_val))
    result["fit_seconds"] = round(time.time() - started, 2)
    return result


def predict_test(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    columns = features(train) + ["row_mean", "row_std"]
    x_train, x_test = scale(train, test, columns)
    model = make_model()
    model.fit(x_train, train["label"])
    return pd.DataFrame({"id": test["id"], "label": model.predict(x_test)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="submission.csv")
    parser.add_argument("--metrics", default="metrics.json")
    args = parser.parse_args()
    train = add_row_stats(load("train"))
    test = add_row_stats(load("test"))
    result = validate(train)
    print(f"Validation accuracy: {result['accuracy']:.4f}")
    print(f"Worst class: {result['worst_class']} ({result['worst_class_accuracy']:.3f})")
    Path(args.metrics).write_text(json.dumps(result, indent=2))
    submission = predict_test(train, test)
    submission.to_csv(args.out, index=False)
    print(f"Wrote {args.out} with {len(submission)} rows")


if __name__ == "__main__":
    main()
'''
EDIT = ("Replace the decision tree by a random forest: import RandomForestClassifier from sklearn.ensemble "
        "instead of DecisionTreeClassifier, and make make_model return "
        "RandomForestClassifier(n_estimators=300, random_state=SEED). Keep everything else exactly as it is.")


def edit_messages() -> list[dict]:
    return [{"role": "user", "content": f"Edit this Python script as instructed and reply with the whole new "
                                        f"script in one ```python block.\nInstruction: {EDIT}\n```python\n"
                                        f"{SCRIPT}```"}]


def edit_figures(backend, repeat: int) -> dict:
    """Tokens/s of a whole-file edit of a 100-line script, without and with prompt lookup
    (median of ``repeat``), and whether both wrote the same text. Each call starts from the
    same state (the prompt read from scratch, the RAM cache off): llama.cpp's logits depend
    slightly on how the prompt was batched, which can flip a greedy near-tie either way."""
    out: dict = {"script_lines": SCRIPT.count("\n")}
    texts = {}
    llm = backend.load().llm
    cache = llm.cache
    llm.set_cache(None)
    try:
        for lookup in (False, True):
            backend.prompt_lookup = lookup
            rates, stats = [], {}
            for _ in range(repeat):
                llm.reset()
                backend.complete(edit_messages(), max_tokens=1)  # the prompt is read outside the timing
                done = backend.complete(edit_messages(), max_tokens=1500, purpose="edit_script")
                stats = dict(backend.last_stats)
                rates.append(done.usage.output_tokens / max(1e-9, stats["latency_s"]))
                texts.setdefault(lookup, set()).add(done.text)
            out["lookup" if lookup else "plain"] = {
                "tok_per_s": statistics.median(rates), "output_tokens": done.usage.output_tokens,
                "latency_s": stats["latency_s"], "accepted": stats.get("lookup_accepted"),
                "drafted": stats.get("lookup_drafted")}
    finally:
        backend.prompt_lookup = True
        llm.set_cache(cache)
    out["same_text"] = len(texts[False] | texts[True]) == 1
    out["speedup"] = out["lookup"]["tok_per_s"] / max(1e-9, out["plain"]["tok_per_s"])
    return out


def first_step_figures(repeat: int, task: str) -> dict:
    """Step 1 of a real agent run on ``task`` (``mlr-copilot run TASK --max-steps 1``, a fresh
    process each): with an empty prefix cache, then with the cache that run saved (median of
    ``repeat`` each)."""
    cold, warm = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="prefix-cache-") as cache:
            cold.append(_first_step(cache, task))
            warm.append(_first_step(cache, task))
    c = statistics.median(x["duration_s"] for x in cold)
    w = statistics.median(x["duration_s"] for x in warm)
    return {"task": task, "cold_s": c, "warm_s": w, "speedup": c / max(1e-9, w),
            "prompt_tokens": cold[0]["input_tokens"], "warm_cached_tokens": warm[0]["cached_tokens"],
            "load_s": statistics.median(x["load_s"] for x in cold + warm)}


def _first_step(cache_dir: str, task: str) -> dict:
    env = dict(os.environ, MLR_PREFIX_CACHE_DIR=cache_dir)
    with tempfile.TemporaryDirectory(prefix="first-step-") as logs:
        subprocess.run([sys.executable, "-m", "mlr_copilot", "run", task, "--max-steps", "1", "--log-root", logs,
                        "--feedback", "none"], env=env, cwd=HERE.parent, capture_output=True, text=True, check=False)
        found = list(Path(logs).rglob(FULL_LOG))
        steps = [json.loads(line) for line in found[0].read_text().splitlines()] if found else []
        step = next((r for r in steps if r.get("type") == "step"), None)
        if step is None:
            raise SystemExit(f"the one-step run of {task} recorded no step (is the task prepared?)")
        info = json.loads((found[0].parents[1] / "run.json").read_text())
        return {"duration_s": step["duration_s"], "input_tokens": step["llm"]["input_tokens"],
                "cached_tokens": step["llm"]["cached_tokens"], "load_s": info.get("model_load_s", 0.0)}


# The local-model settings issue 16 was measured with: every research-log entry written by a
# second model call, no prefix states kept on disk, no prompt lookup.
BEFORE = {"env": {"MLR_PREFIX_CACHE_MB": "0", "MLR_PROMPT_LOOKUP": "0"},
          "args": ["--research-log-entries", "llm"]}
NOW: dict = {"env": {}, "args": []}


def demo_figures(repeat: int, task: str, steps: int = 10) -> dict:
    """Real ``steps``-step runs of ``task`` (fresh processes, empty prefix caches), ``repeat``
    times with the settings before issue 16 and with today's, alternating: the median over runs
    of each run's median step without the script's run time, each run's peak resident memory,
    and whether both settings took the same actions (greedy answers, so they should)."""
    runs: dict[str, list[dict]] = {"before": [], "now": []}
    for _ in range(repeat):
        for name, setting in (("before", BEFORE), ("now", NOW)):
            runs[name].append(_demo_run(task, steps, setting))
    out: dict = {"task": task, "steps": steps}
    for name, done in runs.items():
        out[name] = {"median_step_s": statistics.median(statistics.median(r["model_s"]) for r in done),
                     "peak_rss_gb": max(r["peak_rss_gb"] for r in done),
                     "steps_done": [r["steps"] for r in done], "actions": done[0]["actions"],
                     "step_s": [[round(x, 1) for x in r["model_s"]] for r in done]}
    keys = {json.dumps(r["action_keys"]) for name in runs for r in runs[name]}
    out["same_actions"] = len(keys) == 1
    out["ratio"] = out["now"]["median_step_s"] / max(1e-9, out["before"]["median_step_s"])
    return out


def _demo_run(task: str, steps: int, setting: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="demo-") as tmp:
        env = dict(os.environ, MLR_PREFIX_CACHE_DIR=str(Path(tmp) / "prefix-states"), **setting["env"])
        logs = Path(tmp) / "logs"
        with open(Path(tmp) / "output.txt", "wb") as output:
            proc = subprocess.Popen([sys.executable, "-m", "mlr_copilot", "run", task, "--max-steps", str(steps),
                                     "--log-root", str(logs), "--feedback", "none", *setting["args"]],
                                    env=env, cwd=HERE.parent, stdout=output, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)  # this run's own peak memory (ru_maxrss, KiB)
            proc.returncode = os.waitstatus_to_exitcode(status)
        found = list(logs.rglob(FULL_LOG))
        if not found:
            tail = (Path(tmp) / "output.txt").read_text(errors="replace")[-2000:]
            raise SystemExit(f"the {steps}-step run of {task} recorded nothing (is the task prepared?)\n{tail}")
        run_dir = found[0].parents[1]  # <run>/agent_log/full_log.jsonl
        assert RunDir(run_dir).full_log == found[0], found[0]
        figures = run_figures(run_dir)
        return {**figures, "peak_rss_gb": usage.ru_maxrss * 1024 / 1e9}
