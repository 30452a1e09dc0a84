"""Input cost of a 10-step run with and without prompt caching, for the Claude and GPT-4 defaults.

Runs the real ExperimentAgent, the real SDKs and the real sandboxed scripts on a toy task,
against the fake Anthropic and OpenAI servers on 127.0.0.1 (tests/fakes), which play the
model from a script and emulate the providers' prompt caches (Anthropic: breakpoints,
writes then reads; OpenAI: automatic, 1,024-token minimum, 128-token steps). The fake
tokenizer counts 4 characters per token. Costs come from the call log, priced by
``mlr_copilot/llm/pricing.py``; the input cost is the cost less the output tokens' part.

- Claude (``--llm claude``: Sonnet 4.6 main, Haiku 4.5 fast): with caching (default) and
  with ``--no-prompt-cache``.
- GPT-4 (``--llm gpt4``: GPT-4o main, GPT-4o-mini fast): OpenAI caches identical prefixes
  on its own, so "without" is the same run on a server whose cache never hits.
Goal (issue 20): at least 50% lower input cost with caching.

    python benchmarks/hosted_cost.py [--steps 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.hosted_run import TEN_STEPS, Script, anthropic_server, make_project, openai_server  # noqa: E402
from mlr_copilot.agents.runner import RunOptions, run_experiment  # noqa: E402
from mlr_copilot.feedback import NoFeedback  # noqa: E402
from mlr_copilot.llm.base import Usage  # noqa: E402
from mlr_copilot.llm.pricing import find_price  # noqa: E402
from mlr_copilot.logs import read_jsonl  # noqa: E402
from mlr_copilot.records import RunDir, llm_calls  # noqa: E402

GOAL = 0.50


def run_once(llm: str, prompt_cache: bool, caching_server: bool, steps: int) -> dict:
    script = Script(TEN_STEPS[:steps - 1] + TEN_STEPS[-1:])
    server, _ = (anthropic_server(script) if llm == "claude" else openai_server(script, caching_server))
    with tempfile.TemporaryDirectory() as tmp, server:
        root = make_project(Path(tmp))
        url = server.url + ("" if llm == "claude" else "/v1")
        result = run_experiment(RunOptions(task="toy", root=str(root), log_root=str(root / "logs"), sandbox="none",
                                           feedback="none", llm=llm, llm_base_url=url, max_steps=steps,
                                           prompt_cache=prompt_cache), feedback=NoFeedback())
        if result.status != "final_answer":
            raise SystemExit(f"{llm}: the run ended with {result.status}: {result.message}")
        calls = llm_calls(read_jsonl(RunDir(result.run_dir).llm_calls))
    usage, input_cost, main_input_cost = Usage(), 0.0, 0.0
    for call in calls:
        u = Usage(**call["usage"])
        usage = usage + u
        cost = find_price(call["model"]).input_cost(u)
        input_cost += cost
        if call["role"] == "main" and call["purpose"] == "agent_step":
            main_input_cost += cost
    return {"calls": len(calls), "usage": usage, "input_cost": input_cost, "main_input_cost": main_input_cost}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    for var in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "MLR_CLAUDE_MODEL", "MLR_CLAUDE_FAST_MODEL",
                "MLR_GPT4_MODEL", "MLR_GPT4_FAST_MODEL", "MLR_LLM_PRICES"):
        os.environ.pop(var, None)
    print(f"{args.steps}-step scripted run, fake servers on 127.0.0.1; input cost in USD")
    print("| LLM | without caching | with caching | saving | agent-step calls only: without / with (saving) "
          "| input tokens from cache |")
    print("|---|---|---|---|---|---|")
    ok = True
    for llm in ("claude", "gpt4"):
        without = run_once(llm, prompt_cache=False, caching_server=False, steps=args.steps)
        with_ = run_once(llm, prompt_cache=True, caching_server=True, steps=args.steps)
        saving = 1 - with_["input_cost"] / without["input_cost"]
        main_saving = 1 - with_["main_input_cost"] / without["main_input_cost"]
        share = with_["usage"].cached_tokens / with_["usage"].input_tokens
        ok = ok and saving >= GOAL
        print(f"| {llm} | ${without['input_cost']:.4f} | ${with_['input_cost']:.4f} | {saving:.0%} | "
              f"${without['main_input_cost']:.4f} / ${with_['main_input_cost']:.4f} ({main_saving:.0%}) | "
              f"{share:.0%} of {with_['usage'].input_tokens:,} |")
    print(f"Goal: at least {GOAL:.0%} lower input cost with caching: "
          f"{'met' if ok else 'NOT met'} for every default")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
