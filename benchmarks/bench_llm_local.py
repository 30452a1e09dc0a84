"""Benchmark the embedded local model (llama.cpp) the way the ExperimentAgent uses it.

Prints: load time, prompt-processing and generation speed, the speed of a
grammar-constrained agent step, and the latency of a first and a second agent step whose
prompts share a long prefix (~2,200 tokens), which the backend's KV cache should not
re-read. The second step is the first one's conversation continued (its answer as the
assistant turn, then the observation), as prompts that put stable content first are. Targets on a 2-core machine: generation >= 30 tokens/s, prompt processing
>= 120 tokens/s, the second step's prompt processing >= 10x faster than the first's.

It also prints the figures of issue 16: a run's first step in a fresh process with an empty
and with a warm on-disk prefix cache, a whole-file edit of a 100-line script with and without
prompt lookup (tokens/s, same text), and the peak resident memory; noisy CPU figures are the
median of ``--repeat`` runs, with the machine's cores and CPU flags.

    python benchmarks/bench_llm_local.py [--gguf PATH] [--threads N] [--repeat 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlr_copilot.llm.base import ResponseSpec  # noqa: E402
from mlr_copilot.llm.llamacpp import LlamaCppBackend  # noqa: E402
from llm_local_figures import demo_figures, edit_figures, first_step_figures  # noqa: E402

TOOLS = [
    ("List Files", "Use this to navigate the file system.", {"dir_path": "a valid relative path to a folder, such as \".\" or \"data\""},
     "a list of files and folders in dir_path, or an error message if dir_path is not valid"),
    ("Copy File", "Use this to copy a file to a new location with a new name.",
     {"source": "a valid file name with relative path to current directory if needed",
      "destination": "a valid file name with relative path to current directory if needed"},
     "a success message if the file is copied, or an error message if it cannot be copied"),
    ("Undo Edit Script", "Use this to undo the last edit of the python script.",
     {"script_name": "a valid python script name with relative path to current directory if needed"},
     "the content of the script before the last edit, or an error message"),
    ("Execute Script", "Use this to execute the python script. The script must already exist.",
     {"script_name": "a valid python script name with relative path to current directory if needed"},
     "the output of the script, or errors"),
    ("Final Answer", "Use this to provide the final answer to the current task.",
     {"final_answer": "a detailed description on the final answer"}, "nothing"),
    ("Understand File", "Use this to read the whole file and understand certain aspects. Provide a detailed "
     "description of what to look for and what should be returned.",
     {"file_name": "a valid file name with relative path to current directory if needed",
      "things_to_look_for": "a detailed description on what to look for and what should be returned"},
     "a description of the things to look for in the file, or an error message"),
    ("Inspect Script Lines", "Use this to inspect specific part of a python script precisely, or the full "
     "content of a short script. At most 100 lines.",
     {"script_name": "a valid python script name", "start_line_number": "a valid line number",
      "end_line_number": "a valid line number"}, "the content of the script between the given lines"),
    ("Edit Script (AI)", "Use this to do a relatively large but cohesive edit over a python script. Instead of "
     "editing the script directly, you should describe the edit instruction so that another AI can help you do this.",
     {"script_name": "a valid python script name; an empty file is created if it does not exist",
      "edit_instruction": "a detailed step by step description on how to edit it",
      "save_name": "a valid file name with relative path to current directory if needed"},
     "the diff of the edited file, or an error message"),
    ("Reflection", "Use this to look over all the past steps and reflect. Describe what you want to reflect on.",
     {"things_to_reflect_on": "a detailed description on what to reflect on and what should be returned"},
     "the reflection"),
]
INT_ARGS = {"Inspect Script Lines": {"start_line_number": "integer", "end_line_number": "integer"}}
ENTRIES = ("Reflection", "Research Plan and Status", "Fact Check", "Thought")


def agent_spec() -> ResponseSpec:
    return ResponseSpec(entries=ENTRIES, actions={name: tuple(args) for name, _, args, _ in TOOLS},
                        arg_types=INT_ARGS)


def agent_prefix() -> str:
    """The stable part of an agent prompt: role, tools, task, instructions, format."""
    tools = []
    for name, description, args, returns in TOOLS:
        body = ",\n".join(f'            "{k}": [{v}]' for k, v in args.items())
        tools.append(f"- {name}:\n        {description}\n        Usage:\n        ```\n        Action: {name}\n"
                     f"        Action Input: {{\n{body}\n        }}\n        Observation: [{returns}]\n        ```\n")
    task = ("Research Problem: Improve the validation accuracy of the text classifier in train.py on the "
            "provided review sentiment dataset (data/train.csv, data/valid.csv) by at least 5 percentage points "
            "over the baseline, while keeping training under ten minutes on a CPU. The script trains a bag-of-words "
            "logistic regression model and writes predictions to submission.csv. Only edit train.py and files you "
            "create; do not change the data or the evaluation code in evaluate.py.\n")
    rules = "\n".join(f"- {r}" for r in [
        "First, come up with a high level plan based on your understanding of the problem and the available "
        "tools, and record it in the Research Plan and Status. You can revise the plan later.",
        "Research Plan and Status should describe the high level plan, the current status and the confirmed "
        "results of each step, briefly. It must only include progress made by previous steps.",
        "Research Plan and Status must only contain confirmed results; put guesses in Thought.",
        "Follow the plan and try to achieve the goal as straightforwardly as possible.",
        "Highlight the supporting experiment results and reasoning before drawing any conclusions.",
        "Do not try installing any new packages or libraries.",
        "If you believe you have solved the problem, use the Final Answer action to submit your answer. You "
        "can only submit once, so double check that you have achieved the goal before submitting.",
        "Measure the baseline performance before making any change, and compare every change against it.",
        "Keep each edit small and run the script after each edit to confirm it still works.",
        "When a script fails, read the error carefully, inspect the lines it names, and fix the cause.",
    ])
    fmt = ("Always respond in this format exactly:\n"
           "Reflection: What does the observation mean? If there is an error, what caused the error and how to "
           "debug it?\n"
           "Research Plan and Status: The full high level research plan, with the current status and the "
           "confirmed results of each step briefly annotated. If there is an update, enclose the new text in "
           "double asterisks **like this**. If there is no update, copy the previous Research Plan and Status.\n"
           "Fact Check: List every objective statement in the updates to Research Plan and Status one by one and "
           "say whether it is guessed or directly confirmed by the previous observation. Performance numbers can "
           "only be confirmed by running the code and observing the output.\n"
           "Thought: What you are currently doing, which action you take and why.\n"
           "Action: the action to take, one of the names of the tools\n"
           "Action Input: the input to the action as a valid JSON object\n"
           "Observation:\n```\nthe result of the action\n```\n")
    background = ("Background notes from the task description:\n" + "\n".join(
        f"{i}. The dataset has {1000 * i} labelled reviews in the {['train', 'valid', 'test'][i % 3]} split; "
        f"labels are 0 (negative) and 1 (positive), and the classes are roughly balanced. Reviews are plain "
        f"English text of 20 to 400 words; some contain HTML line breaks that should be removed."
        for i in range(1, 13)))
    return ("You are a helpful research assistant. You have access to the following tools:\n"
            + "\n".join(tools) + "\n" + task + "\n" + background + "\n\n"
            "Follow these instructions and do not forget them:\n" + rules + "\n\n" + fmt + "\n")


def agent_messages(history: str) -> list[dict]:
    return [{"role": "user", "content": agent_prefix() + "Steps so far: " + history + "Now let's start!\n"}]


def plain_prompt_messages(n_words: int = 600) -> list[dict]:
    text = " ".join(f"item{i} costs {i % 97} dollars;" for i in range(n_words // 4))
    return [{"role": "user", "content": "Summarise this price list in one sentence:\n" + text}]


def make_backend(args: argparse.Namespace) -> LlamaCppBackend:
    if args.gguf:
        return LlamaCppBackend(args.gguf, n_threads=args.threads, n_ctx=args.n_ctx)
    return LlamaCppBackend.embedded(n_threads=args.threads, n_ctx=args.n_ctx)


def machine() -> str:
    flags, name = set(), "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    wanted = ("avx", "avx2", "avx512f", "avx512_vnni", "amx_int8", "fma", "f16c")
    shown = " ".join(x for x in wanted if x in flags) or "none of " + "/".join(wanted)
    return f"{os.cpu_count()} cores ({name}), CPU flags: {shown}"


def run(args: argparse.Namespace) -> dict:
    backend = make_backend(args)
    out: dict = {"model": backend.model, "threads": backend.n_threads, "n_ctx": backend.n_ctx,
                 "machine": machine(), "repeat": args.repeat, "load_avg_before": os.getloadavg()}
    started = time.monotonic()
    loaded = backend.load()
    out["load_s"] = time.monotonic() - started

    # prompt processing: a ~1,500-token prompt from an empty cache
    loaded.llm.reset()
    backend.complete(plain_prompt_messages(), max_tokens=1)
    s = backend.last_stats
    out["prompt_tokens"] = s["prompt_eval_tokens"]
    out["prompt_tok_per_s"] = s["prompt_eval_tokens"] / s["prompt_eval_s"]

    # generation: free text, measured on the wall clock (includes sampling)
    gen = backend.complete([{"role": "user", "content": "Explain in detail how gradient boosting works, "
                                                        "step by step, with a worked example."}],
                           max_tokens=args.gen_tokens)
    s = backend.last_stats
    out["gen_tokens"] = gen.usage.output_tokens
    out["gen_tok_per_s"] = gen.usage.output_tokens / (s["latency_s"] - s["prompt_eval_s"])
    out["gen_tok_per_s_eval_only"] = s["gen_eval_tokens"] / s["gen_eval_s"]

    # two agent steps as a chat: the stable prefix first, then the model's own answer and
    # the observation appended, so step 2 shares step 1's prompt and answer as its prefix
    spec = agent_spec()
    loaded.llm.reset()
    step1_messages = agent_messages("No steps taken yet.\n")
    first = backend.complete(step1_messages, max_tokens=args.step_tokens, response_spec=spec)
    s1 = dict(backend.last_stats)
    step2_messages = step1_messages + [
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "Observation:\n```\nbackward_compatibility.py  data/  evaluate.py  "
                                    "train.py\n```\nRespond in the same format."}]
    second = backend.complete(step2_messages, max_tokens=args.step_tokens, response_spec=spec)
    s2 = dict(backend.last_stats)
    for name, done, st in (("step1", first, s1), ("step2", second, s2)):
        out[name] = {"latency_s": st["latency_s"], "prompt_tokens": done.usage.input_tokens,
                     "cached_tokens": done.usage.cached_tokens, "prompt_eval_tokens": st["prompt_eval_tokens"],
                     "prompt_eval_s": st["prompt_eval_s"], "output_tokens": done.usage.output_tokens,
                     "gen_tok_per_s": done.usage.output_tokens / max(1e-9, st["latency_s"] - st["prompt_eval_s"]),
                     "stop_reason": done.stop_reason, "text": done.text}
    # step 2's prompt read from an empty cache (no RAM cache either), for comparison
    cache = loaded.llm.cache
    loaded.llm.set_cache(None)
    loaded.llm.reset()
    backend.complete(step2_messages, max_tokens=1)
    loaded.llm.set_cache(cache)
    out["step2_cold_prompt_eval_s"] = backend.last_stats["prompt_eval_s"]
    out["prefix_speedup"] = out["step2_cold_prompt_eval_s"] / max(1e-9, s2["prompt_eval_s"])
    out["edit"] = edit_figures(backend, args.repeat)
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    if "first-step" not in args.skip:
        out["first_step"] = first_step_figures(args.repeat, args.task)
    if "demo" not in args.skip:
        out["demo"] = demo_figures(args.repeat, args.task, args.demo_steps)
    out["load_avg_after"] = os.getloadavg()
    return out


def report(out: dict) -> str:
    lines = [
        f"model: {out['model']}   threads: {out['threads']}   n_ctx: {out['n_ctx']}   {out['machine']}",
        f"load average before/after: {out['load_avg_before'][0]:.2f} / {out['load_avg_after'][0]:.2f}",
        f"load time:               {out['load_s']:.2f} s",
        f"prompt processing:       {out['prompt_tok_per_s']:.1f} tokens/s ({out['prompt_tokens']} tokens)",
        f"generation:              {out['gen_tok_per_s']:.1f} tokens/s wall, "
        f"{out['gen_tok_per_s_eval_only']:.1f} tokens/s decode only ({out['gen_tokens']} tokens)",
    ]
    for name in ("step1", "step2"):
        st = out[name]
        lines.append(f"agent {name}:             {st['latency_s']:.2f} s total; prompt {st['prompt_tokens']} tokens "
                     f"({st['cached_tokens']} reused, {st['prompt_eval_tokens']} read in {st['prompt_eval_s']:.2f} s); "
                     f"answer {st['output_tokens']} tokens at {st['gen_tok_per_s']:.1f} tokens/s (grammar), "
                     f"stop: {st['stop_reason']}")
    lines.append(f"prefix reuse:            step 2's prompt read in {out['step2']['prompt_eval_s']:.2f} s with the "
                 f"cache, {out['step2_cold_prompt_eval_s']:.2f} s without: {out['prefix_speedup']:.1f}x faster")
    fs, ed = out.get("first_step"), out["edit"]
    if fs:
        lines.append(f"first step of a run:     {fs['task']}: {fs['cold_s']:.1f} s with an empty prefix cache, "
                     f"{fs['warm_s']:.1f} s with the cache a previous run saved ({fs['warm_cached_tokens']} of "
                     f"{fs['prompt_tokens']} tokens reused): {fs['speedup']:.1f}x faster (median of {out['repeat']}, "
                     f"fresh processes, real one-step agent runs; the model's load, {fs.get('load_s', 0.0):.1f} s, "
                     f"comes before step 1)")
    lines.append(f"whole-file edit:         {ed['script_lines']}-line script, {ed['plain']['output_tokens']} tokens: "
                 f"{ed['plain']['tok_per_s']:.1f} tokens/s plain, {ed['lookup']['tok_per_s']:.1f} with prompt "
                 f"lookup ({ed['lookup']['accepted']} of {ed['lookup']['drafted']} drafted tokens kept): "
                 f"{ed['speedup']:.2f}x; same text: {'yes' if ed['same_text'] else 'NO'}")
    lines.append(f"peak resident memory:    {out['peak_rss_gb']:.2f} GB (this process, before the first-step runs)")
    demo = out.get("demo")
    if demo:
        b, n = demo["before"], demo["now"]
        lines.append(f"{demo['steps']}-step {demo['task']} run:    median step without the script {n['median_step_s']:.1f} s "
                     f"now vs {b['median_step_s']:.1f} s with the settings before issue 16 (model-written research-log "
                     f"entries, no prefix states on disk, no prompt lookup): {demo['ratio']:.0%} (median of "
                     f"{out['repeat']} runs each, fresh processes, empty prefix caches); same actions: "
                     f"{'yes' if demo['same_actions'] else 'NO'}; steps done {n['steps_done']} / {b['steps_done']}")
        lines.append(f"peak resident memory:    {n['peak_rss_gb']:.2f} GB for a {demo['steps']}-step run now "
                     f"({b['peak_rss_gb']:.2f} GB with the settings before; the run process, scripts not counted)")
        lines.append(f"actions taken now:       {', '.join(str(a) for a in n['actions'])}")
    targets = [("first step with a warm prefix cache >= 4x faster", bool(fs) and fs["speedup"] >= 4),
               ("median step of the demo run <= 60% of before", bool(demo) and demo["ratio"] <= 0.6),
               ("peak resident memory of a local run <= 3 GB", bool(demo) and demo["now"]["peak_rss_gb"] <= 3),
               ("whole-file edit >= 2x tokens/s with prompt lookup", ed["speedup"] >= 2 and ed["same_text"]),
               ("peak resident memory of this process <= 3 GB", out["peak_rss_gb"] <= 3),
               ("generation >= 30 tokens/s", out["gen_tok_per_s"] >= 30),
               ("prompt processing >= 120 tokens/s", out["prompt_tok_per_s"] >= 120),
               ("second step's prompt processing >= 10x faster", out["prefix_speedup"] >= 10)]
    lines += [f"target {name}: {'met' if ok else 'MISSED'}" for name, ok in targets]
    lines.append("\nstep 1 answer:\n" + out["step1"]["text"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", help="a GGUF file instead of the embedded model")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--n-ctx", type=int, default=16384)
    parser.add_argument("--gen-tokens", type=int, default=128)
    parser.add_argument("--step-tokens", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3, help="runs per noisy figure (the median is shown)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--task", default="digits", help="the task whose first agent step is timed (prepared)")
    parser.add_argument("--demo-steps", type=int, default=10, help="steps of the timed demo runs")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: first-step, demo")
    args = parser.parse_args(argv)
    out = run(args)
    print(report(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
