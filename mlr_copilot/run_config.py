"""The run configuration: every option of an experiment run, declared once.

Each field of :class:`RunConfig` carries its default and, in its metadata, how the command
line spells it (:class:`Flag`: flag, help, type) and what ``--resume`` does with it
(``resume``: ``KEEP``, ``OVERRIDE`` or ``THIS_PROCESS``). The options of ``mlr-copilot run``,
``pipeline``, ``batch`` and ``idea`` are generated from these declarations (``run_args``),
and a resume checks its overrides against them, so a default, a help text or the set of
options a resume may change is written here and nowhere else.

It imports only ``config`` (the defaults the engine shares), ``errors`` and ``cli_types``, so
the CLI, the agents, the environment and batch all import it without an upward import.
"""
from __future__ import annotations

import shlex
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Callable, Mapping, Sequence

from . import cli_types as T
from .config import (DEFAULT_DEBUG_PROB, DEFAULT_DRAFTS, DEFAULT_HISTORY_STEPS, DEFAULT_MAX_DEBUG_DEPTH,
                     DEFAULT_MAX_STEPS, DEFAULT_PARSE_ATTEMPTS, DEFAULT_REVALIDATION_SPLITS,
                     DEFAULT_SCRIPT_TIMEOUT_S, MIN_NODE_TIMEOUT_S, NODE_TIMEOUT_STARTER_FACTOR)
from .errors import ConfigError

STRATEGIES = ("loop", "tree")
FEEDBACK_MODES = ("auto", "console", "none")
SANDBOX_MODES = ("auto", "bwrap", "none")
ENTRY_MODES = ("llm", "brief")  # research-log entries: written by the fast model, or built from the step
PROMPT_STYLES = ("full", "compact")

# What ``--resume`` does with an option:
KEEP = "keep"  # the run keeps the value it started with
OVERRIDE = "override"  # a value typed with --resume applies from then on and is recorded with the resume
THIS_PROCESS = "this process"  # each process's own (feedback): resume_run takes it as its own argument

LLM = "llm"  # the group of options ``idea`` shares with ``run`` (add_llm_options)


@dataclass(frozen=True)
class Flag:
    """How the command line spells one option. ``kind`` says how argparse reads it and how its
    value becomes the field's: ``value`` (as parsed), ``switch`` (store_true), ``negated``
    (``--no-x`` sets the field False), ``names`` (comma-separated), ``repeat`` (repeatable),
    ``command`` (split like a shell) and ``optional`` (the flag alone gives ``""``)."""

    name: str
    help: str | None = None
    kind: str = "value"
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        """The attribute argparse stores it under."""
        return self.name.lstrip("-").replace("-", "_")

    def parser_default(self, default: Any) -> Any:
        """What argparse holds when the flag is not typed (``value(parser_default) == default``)."""
        return {"switch": False, "negated": False, "names": "", "repeat": None, "command": None}.get(
            self.kind, default)

    def add_to(self, parser, default: Any) -> None:
        kwargs: dict[str, Any] = {"help": self.help}
        if self.kind in ("switch", "negated"):
            kwargs["action"] = "store_true"
        else:
            kwargs["default"] = self.parser_default(default)
            if self.kind == "repeat":
                kwargs["action"] = "append"
            if self.kind == "optional":
                kwargs.update(nargs="?", const="")
            kwargs.update({k: v for k, v in (("type", self.type), ("choices", self.choices),
                                             ("metavar", self.metavar)) if v is not None})
        parser.add_argument(self.name, **kwargs)

    def value(self, parsed: Any) -> Any:
        """The field's value for what argparse parsed."""
        if self.kind == "negated":
            return not parsed
        if self.kind == "names":
            return split_list(parsed)
        if self.kind == "repeat":
            return tuple(parsed or ())
        if self.kind == "command":
            return tuple(shlex.split(parsed)) if parsed else ()
        return parsed


def option(default: Any = MISSING, *, flag: str | None = None, help: str | None = None, kind: str = "value",
           resume: str = KEEP, group: str = "run", factory: Callable[[], Any] | None = None, **spelling) -> Any:
    """A RunConfig field: its default, its flag (None: set through the API only) and its resume rule."""
    metadata = {"flag": Flag(flag, help, kind, **spelling) if flag else None, "resume": resume, "group": group}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class RunConfig:
    """Every option of ``mlr-copilot run``, in the order ``--help`` lists them."""

    task: str = option(resume=KEEP)
    llm: str | None = option(None, flag="--llm", group=LLM, resume=OVERRIDE,  # None: the embedded local model
                             help="claude, gpt4, llama, local (default), or anthropic:<model>, openai:<model>, "
                                  "hf:<repo or path>, gguf:<file>, replay:<run dir>")
    llm_base_url: str | None = option(None, flag="--llm-base-url", group=LLM, resume=OVERRIDE,
                                      help="base URL of an OpenAI-compatible server (vLLM, Ollama, ...)")
    max_cost: float | None = option(None, flag="--max-cost", group=LLM, resume=OVERRIDE, type=T.COST_USD,
                                    help="stop the run cleanly when LLM cost reaches this (USD)")
    max_llm_calls: int | None = option(None, flag="--max-llm-calls", group=LLM, resume=OVERRIDE, type=T.COUNT,
                                       help="stop the run cleanly after this many LLM calls")
    # None: no cache; "": the default cache file; else its path
    llm_cache: str | None = option(None, flag="--llm-cache", group=LLM, resume=OVERRIDE, kind="optional",
                                   metavar="PATH",
                                   help="reuse answers to identical LLM calls (SQLite; default in the user cache)")
    # cache breakpoints on the stable prompt prefix (Claude)
    prompt_cache: bool = option(True, flag="--no-prompt-cache", group=LLM, resume=OVERRIDE, kind="negated",
                                help="send Claude no prompt-cache breakpoints (OpenAI caches identical "
                                     "prefixes itself)")
    max_steps: int = option(DEFAULT_MAX_STEPS, flag="--max-steps", resume=OVERRIDE, type=T.STEPS,
                            help=f"agent actions allowed (default {DEFAULT_MAX_STEPS})")
    max_time_s: float | None = option(None, flag="--max-time", resume=OVERRIDE, type=T.SECONDS,
                                      help="wall-clock limit of the run in seconds")
    device: str | None = option(None, flag="--device", resume=OVERRIDE,
                                help="CUDA_VISIBLE_DEVICES for scripts, e.g. 0 or 0,1")
    feedback: str = option("auto", flag="--feedback", resume=THIS_PROCESS, choices=FEEDBACK_MODES,
                           help="human feedback after each step (auto: ask when run in a terminal)")
    feedback_file: str | None = option(None, flag="--feedback-file", resume=THIS_PROCESS,
                                       help="file whose appended lines become feedback")
    sandbox: str = option("auto", flag="--sandbox", resume=OVERRIDE, choices=SANDBOX_MODES, help="script isolation")
    allow_network: bool = option(False, flag="--allow-network", resume=OVERRIDE, kind="switch",
                                 help="let scripts use the network (bwrap mode)")
    # variables scripts get beyond the allowlist
    pass_env: Sequence[str] = option(flag="--pass-env", resume=OVERRIDE, kind="repeat", factory=tuple,
                                     metavar="NAME", help="pass this environment variable to scripts (repeatable; "
                                     "scripts get only an allowlist otherwise)")
    pass_secret_env: bool = option(False, flag="--pass-secret-env", resume=OVERRIDE, kind="switch",
                                   help="let --pass-env name a variable the secret rule matches (a key reaches "
                                        "scripts)")
    log_root: str = option("logs", flag="--log-root", help="where run directories are created (default logs/)")
    # work_dir is not an option a resume changes: the run's workspace is where it is
    work_dir: str | None = option(None, flag="--work-dir", help="use this directory as the run's workspace")
    root: str = option(".", flag="--root", help="project root holding problems/, workspaces/, tasks/")
    actions_add: Sequence[str] = option(flag="--actions-add", kind="names", factory=tuple,
                                        help="comma-separated actions to offer in addition")
    actions_remove: Sequence[str] = option(flag="--actions-remove", kind="names", factory=tuple,
                                           help="comma-separated actions not to offer")
    history_steps: int = option(DEFAULT_HISTORY_STEPS, flag="--history-steps", resume=OVERRIDE, type=T.HISTORY,
                                help="recent steps shown in full in the prompt (the compact prompt folds older "
                                     "steps into one line this many at a time, so it shows N to 2N-1)")
    script_timeout_s: float = option(DEFAULT_SCRIPT_TIMEOUT_S, flag="--script-timeout", resume=OVERRIDE,
                                     type=T.SECONDS, help="seconds before a script is killed")
    # RLIMIT_DATA for scripts (CUDA-safe: not the address space); a resume keeps the run's limit
    memory_limit_mb: int | None = option(None, flag="--memory-limit", type=T.MEMORY_MB, metavar="MB",
                                         help="data-segment limit for scripts (GPU memory is not counted)")
    # empty: the engine's default (this Python, unbuffered)
    python: Sequence[str] = option((), flag="--python", kind="command",
                                   help="interpreter for Execute Script, e.g. 'python3 -u' "
                                        "(default: the Python running mlr-copilot)")
    hf_endpoint: str | None = option(None, flag="--hf-endpoint", resume=OVERRIDE,
                                     help="Hugging Face Hub endpoint for Retrieve Model/Dataset")
    research_log: bool = option(True, flag="--no-research-log", kind="negated",
                                help="skip the research-log entries")
    # None: brief with the compact prompt, else llm
    research_log_entries: str | None = option(
        None, flag="--research-log-entries", choices=ENTRY_MODES,
        help="llm: the fast model summarises each step; brief: built from the step, no model call (default: "
             "brief with the compact prompt, which never shows the log to the model; llm otherwise)")
    # None: compact on local models, else full
    prompt_style: str | None = option(
        None, flag="--prompt-style", choices=PROMPT_STYLES,
        help="full: MLAgentBench's history of whole responses; compact (for small models): actions, "
             "observations, the latest plan and where the research stands, and a Final Answer or a second edit "
             "before the last change was measured is asked again once (default: compact for local models)")
    strategy: str = option("loop", flag="--strategy", choices=STRATEGIES,
                           help="loop: the MLAgentBench action loop (default); tree: AIDE-style draft/debug/improve "
                                "search over whole scripts (--max-steps then counts nodes)")
    tree_drafts: int = option(DEFAULT_DRAFTS, flag="--tree-drafts", type=T.TREE_DRAFTS,
                              help="tree: drafts written before debugging/improving")
    tree_debug_prob: float = option(DEFAULT_DEBUG_PROB, flag="--tree-debug-prob", type=T.PROBABILITY,
                                    help="tree: chance of debugging a buggy leaf instead of improving the best node")
    tree_max_debug_depth: int = option(DEFAULT_MAX_DEBUG_DEPTH, flag="--tree-max-debug-depth",
                                       type=T.TREE_DEBUG_DEPTH, help="tree: debug attempts in a row on one branch")
    # None: from the starter's measured run time (config.NODE_TIMEOUT_STARTER_FACTOR), else --script-timeout
    tree_node_timeout_s: float | None = option(
        None, flag="--tree-node-timeout", resume=OVERRIDE, type=T.SECONDS,
        help="tree: seconds one node's script may run before it is stopped and the node counts as buggy "
             f"(default: {NODE_TIMEOUT_STARTER_FACTOR}x the starter's run time recorded by prepare, at least "
             f"{MIN_NODE_TIMEOUT_S:.0f} s; --script-timeout when none is recorded)")
    tree_prediction_check: bool = option(
        True, flag="--no-tree-prediction-check", resume=OVERRIDE, kind="negated",
        help="tree: keep nodes whose test predictions look nothing like the training targets (by default "
             "such a node is buggy: its test rows were prepared differently from its validation rows; turn "
             "the check off when the test rows really are distributed unlike the training rows)")
    tree_revalidate_splits: int = option(
        DEFAULT_REVALIDATION_SPLITS, flag="--tree-revalidate-splits", resume=OVERRIDE, type=T.SPLITS,
        metavar="N", help="tree: at the end, run the best nodes again with N other seeds of their train_test_split "
                          "and keep the best mean (a metric from one small split is mostly luck; 0: keep the best "
                          "single metric)")
    max_parse_attempts: int = option(DEFAULT_PARSE_ATTEMPTS)
    # re-ask a Final Answer or an edit before the change or the baseline ran (None: with the compact prompt)
    measure_first: bool | None = option(None)


RunOptions = RunConfig
"""The name the agents, tests and benchmarks have always used."""


def flags(group: str | None = None) -> list[tuple[str, Flag]]:
    """(field name, flag) of every option the command line spells, in ``--help`` order."""
    return [(f.name, f.metadata["flag"]) for f in fields(RunConfig)
            if f.metadata.get("flag") is not None and (group is None or f.metadata["group"] == group)]


def flag_of(name: str, **changes: Any) -> Flag:
    """The flag of field ``name``; ``changes`` respell it for another command (e.g. its own help)."""
    flag = _field(name).metadata["flag"]
    return replace(flag, **changes) if changes else flag


def default_of(name: str) -> Any:
    """The default of field ``name`` (for the commands that share it, e.g. batch's ``--sandbox``)."""
    f = _field(name)
    return f.default_factory() if f.default is MISSING else f.default


def resumable(rule: str = OVERRIDE) -> tuple[str, ...]:
    """The fields a resume treats by ``rule``: OVERRIDE, those ``--resume`` may change."""
    return tuple(f.name for f in fields(RunConfig) if f.metadata.get("resume") == rule)


def from_args(args: Any, *, group: str | None = None, **values: Any) -> RunConfig:
    """The config of parsed command-line ``args`` (the options of ``group``, or all of them);
    ``values`` give the fields the command spells its own way (``task``)."""
    return RunConfig(**values, **{name: flag.value(getattr(args, flag.dest)) for name, flag in flags(group)})


def from_record(values: Mapping[str, Any]) -> RunConfig:
    """The config recorded in ``run.json`` (unknown names, from other versions, left out)."""
    names = {f.name for f in fields(RunConfig)}
    return RunConfig(**{k: v for k, v in values.items() if k in names})


def check_resume_overrides(overrides: Mapping[str, Any]) -> None:
    """ConfigError naming the options in ``overrides`` that a resume may not change."""
    allowed = resumable(OVERRIDE)
    bad = sorted(set(overrides) - set(allowed))
    if bad:
        raise ConfigError(f"These options cannot be changed when resuming: {', '.join(bad)} "
                          f"(allowed: {', '.join(allowed)})")


def resumed(recorded: Mapping[str, Any], task: str, overrides: Mapping[str, Any],
            **this_process: Any) -> RunConfig:
    """The config a resume runs with: the options the run recorded, then ``overrides`` (checked
    with ``check_resume_overrides``), then this process's own values (THIS_PROCESS fields, e.g.
    ``feedback``; None keeps the run's)."""
    unknown = set(this_process) - set(resumable(THIS_PROCESS))
    if unknown:
        raise TypeError(f"not options of the resuming process: {', '.join(sorted(unknown))}")
    values = {**recorded, **overrides}
    values.setdefault("task", task)
    values.update({k: v for k, v in this_process.items() if v is not None})
    return from_record(values)


def split_list(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.split(",") if x.strip())


def _field(name: str):
    for f in fields(RunConfig):
        if f.name == name:
            return f
    raise KeyError(name)
