"""The options of ``mlr-copilot run`` (shared by ``pipeline`` and ``batch``): declared once
here, and turned into ``RunOptions``."""
from __future__ import annotations

import argparse
import shlex

from . import cli_types as T
from .config import DEFAULT_HISTORY_STEPS, DEFAULT_MAX_STEPS, DEFAULT_SCRIPT_TIMEOUT_S


def add_llm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", default=None, help="claude, gpt4, llama, local (default), or anthropic:<model>, "
                   "openai:<model>, hf:<repo or path>, gguf:<file>, replay:<run dir>")
    p.add_argument("--llm-base-url", default=None, help="base URL of an OpenAI-compatible server (vLLM, Ollama, ...)")
    p.add_argument("--max-cost", type=T.COST_USD, default=None, help="stop the run cleanly when LLM cost reaches this (USD)")
    p.add_argument("--max-llm-calls", type=T.COUNT, default=None, help="stop the run cleanly after this many LLM calls")
    p.add_argument("--llm-cache", nargs="?", const="", default=None, metavar="PATH",
                   help="reuse answers to identical LLM calls (SQLite; default in the user cache)")
    p.add_argument("--no-prompt-cache", action="store_true",
                   help="send Claude no prompt-cache breakpoints (OpenAI caches identical prefixes itself)")


def add_run_options(p: argparse.ArgumentParser) -> None:
    add_llm_options(p)
    p.add_argument("--max-steps", type=T.STEPS, default=DEFAULT_MAX_STEPS,
                   help=f"agent actions allowed (default {DEFAULT_MAX_STEPS})")
    p.add_argument("--max-time", type=T.SECONDS, default=None, help="wall-clock limit of the run in seconds")
    p.add_argument("--device", default=None, help="CUDA_VISIBLE_DEVICES for scripts, e.g. 0 or 0,1")
    p.add_argument("--feedback", choices=("auto", "console", "none"), default="auto",
                   help="human feedback after each step (auto: ask when run in a terminal)")
    p.add_argument("--feedback-file", default=None, help="file whose appended lines become feedback")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto", help="script isolation")
    p.add_argument("--allow-network", action="store_true", help="let scripts use the network (bwrap mode)")
    p.add_argument("--pass-env", action="append", default=None, metavar="NAME",
                   help="pass this environment variable to scripts (repeatable; scripts get only an "
                        "allowlist otherwise)")
    p.add_argument("--pass-secret-env", action="store_true",
                   help="let --pass-env name a variable the secret rule matches (a key reaches scripts)")
    p.add_argument("--log-root", default="logs", help="where run directories are created (default logs/)")
    p.add_argument("--work-dir", default=None, help="use this directory as the run's workspace")
    p.add_argument("--root", default=".", help="project root holding problems/, workspaces/, tasks/")
    p.add_argument("--actions-add", default="", help="comma-separated actions to offer in addition")
    p.add_argument("--actions-remove", default="", help="comma-separated actions not to offer")
    p.add_argument("--history-steps", type=T.HISTORY, default=DEFAULT_HISTORY_STEPS,
                   help="recent steps shown in full in the prompt")
    p.add_argument("--script-timeout", type=T.SECONDS, default=DEFAULT_SCRIPT_TIMEOUT_S,
                   help="seconds before a script is killed")
    p.add_argument("--memory-limit", type=T.MEMORY_MB, default=None, metavar="MB",
                   help="data-segment limit for scripts (GPU memory is not counted)")
    p.add_argument("--python", default=None, help="interpreter for Execute Script, e.g. 'python3 -u' "
                   "(default: the Python running mlr-copilot)")
    p.add_argument("--hf-endpoint", default=None, help="Hugging Face Hub endpoint for Retrieve Model/Dataset")
    p.add_argument("--no-research-log", action="store_true", help="skip the research-log entries")
    from .agents.research_log import ENTRY_MODES

    p.add_argument("--research-log-entries", choices=ENTRY_MODES, default=None,
                   help="llm: the fast model summarises each step; brief: built from the step, no model "
                   "call (default: brief with the compact prompt, which never shows the log to the model; "
                   "llm otherwise)")
    p.add_argument("--prompt-style", choices=("full", "compact"), default=None,
                   help="full: MLAgentBench's history of whole responses; compact (for small models): actions, "
                   "observations, the latest plan and where the research stands, and a Final Answer or a "
                   "second edit before the last change was measured is asked again once (default: compact "
                   "for local models)")
    from .agents.tree import DEFAULT_DEBUG_PROB, DEFAULT_DRAFTS, DEFAULT_MAX_DEBUG_DEPTH

    p.add_argument("--strategy", choices=("loop", "tree"), default="loop",
                   help="loop: the MLAgentBench action loop (default); tree: AIDE-style draft/debug/improve "
                   "search over whole scripts (--max-steps then counts nodes)")
    p.add_argument("--tree-drafts", type=T.TREE_DRAFTS, default=DEFAULT_DRAFTS,
                   help="tree: drafts written before debugging/improving")
    p.add_argument("--tree-debug-prob", type=T.PROBABILITY, default=DEFAULT_DEBUG_PROB,
                   help="tree: chance of debugging a buggy leaf instead of improving the best node")
    p.add_argument("--tree-max-debug-depth", type=T.TREE_DEBUG_DEPTH, default=DEFAULT_MAX_DEBUG_DEPTH,
                   help="tree: debug attempts in a row on one branch")
    p.add_argument("-q", "--quiet", action="store_true", help="live view without the details of each step")


def split_list(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.split(",") if x.strip())


def run_options_from_args(args: argparse.Namespace, task: str):
    from .agents.runner import RunOptions

    return RunOptions(task=task, llm=args.llm, llm_base_url=args.llm_base_url, max_steps=args.max_steps,
                      max_time_s=args.max_time, device=args.device, feedback=args.feedback,
                      feedback_file=args.feedback_file, sandbox=args.sandbox, allow_network=args.allow_network,
                      max_cost=args.max_cost, max_llm_calls=args.max_llm_calls, llm_cache=args.llm_cache,
                      prompt_cache=not args.no_prompt_cache,
                      log_root=args.log_root, work_dir=args.work_dir, root=args.root,
                      actions_add=split_list(args.actions_add), actions_remove=split_list(args.actions_remove),
                      history_steps=args.history_steps, script_timeout_s=args.script_timeout,
                      research_log=not args.no_research_log, hf_endpoint=args.hf_endpoint,
                      research_log_entries=args.research_log_entries, prompt_style=args.prompt_style,
                      python=tuple(shlex.split(args.python)) if args.python else (),
                      memory_limit_mb=args.memory_limit, strategy=args.strategy, tree_drafts=args.tree_drafts,
                      tree_debug_prob=args.tree_debug_prob, tree_max_debug_depth=args.tree_max_debug_depth,
                      pass_env=_pass_env(args), pass_secret_env=args.pass_secret_env)


def _pass_env(args: argparse.Namespace) -> tuple[str, ...]:
    """--pass-env names, refused (ConfigError) for a secret one without --pass-secret-env."""
    from .env.isolation import check_pass_env

    return tuple(check_pass_env(args.pass_env or (), args.pass_secret_env))
