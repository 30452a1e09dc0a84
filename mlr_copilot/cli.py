"""Command line: argument parsing and subcommands only; the work is done elsewhere.

Every subcommand imports what it needs when it runs, so ``mlr-copilot --help`` loads no
SDK, no torch and no transformers.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from . import cli_types as T
from .errors import MLRError
from .records.layout import AGENT_LOG, FULL_LOG, ORIGINAL_FULL_LOG, REPORT_HTML, RUN_JSON
from .run_args import (add_llm_options, add_run_option, add_run_options, resume_overrides_from_args,
                       run_options_from_args)
from .run_config import split_list
from .view.live import ProgressPrinter

logger = logging.getLogger("mlr_copilot")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlr-copilot", description="Autonomous ML research with LLM agents.")
    parser.add_argument("--version", action="version", version=f"mlr-copilot {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the ExperimentAgent on a task")
    p.add_argument("task", nargs="?", help="task name (see `mlr-copilot tasks`)")
    p.add_argument("--resume", metavar="LOGDIR", default=None, help="continue a run that died")
    add_run_options(p)

    add_run_option(sub.add_parser("tasks", help="list available tasks"), "root", help=None)

    p = sub.add_parser("show", help="print a run step by step (also original MLR-Copilot logs)")
    p.add_argument("logdir", help=f"run folder logs/<task>/<ts>, its {FULL_LOG}, or an original {ORIGINAL_FULL_LOG}")
    p.add_argument("--max-chars", type=T.whole(0), default=800, help="observation characters shown per step (0: all)")
    p.add_argument("--entries", action="store_true", help="also show Reflection, Research Plan and Status, Fact Check")

    p = sub.add_parser("import-log", help=f"convert an original MLR-Copilot {ORIGINAL_FULL_LOG}")
    p.add_argument("original", help=f"the original {ORIGINAL_FULL_LOG}, or the folder holding it")
    p.add_argument("--out", required=True, help=f"run folder to create ({AGENT_LOG}/{FULL_LOG} and {RUN_JSON})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing import in --out")

    p = sub.add_parser("restore", help="rebuild a step's workspace from the snapshots")
    p.add_argument("logdir")
    p.add_argument("--step", type=T.whole(0), required=True)
    p.add_argument("--to", required=True)

    p = sub.add_parser("prepare", help="build a task's data and hidden answers (offline tasks need no network)")
    p.add_argument("tasks", nargs="+", help="task names, or 'all'")
    p.add_argument("--online", action="store_true", help="allow downloads (cifar10, imdb, feedback, babylm)")
    p.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    add_run_option(p, "root", help=None)

    p = sub.add_parser("baseline", help="run a task's unchanged starter code and record its score")
    p.add_argument("task")
    add_run_option(p, "root", help=None)
    p.add_argument("--online", action="store_true", help="let prepare download the data")
    p.add_argument("--timeout", type=T.SECONDS, default=None, help="seconds before the starter is stopped")
    p.add_argument("--record", action="store_true", help="also write tasks/<task>/baseline.json, the baseline "
                   "runs are graded against (a tracked file; by default only <log-root>/baselines/ is written)")
    p.add_argument("--no-record", action="store_true", help=argparse.SUPPRESS)  # the old default; kept working
    add_run_option(p, "log_root", help="where the measurement is kept (default logs/)")
    add_run_option(p, "sandbox", help="isolation of the starter script, as for agent scripts")

    p = sub.add_parser("eval", help="grade finished runs")
    p.add_argument("logdirs", nargs="+")
    p.add_argument("--all-steps", action="store_true", help="also grade every step's snapshot")
    add_run_option(p, "root", help=None)
    p.add_argument("--out", default=None, help="folder for the summary table and plot (many runs)")

    p = sub.add_parser("report", help="write a self-contained HTML report of runs (several: a summary page too)")
    p.add_argument("logdirs", nargs="+", help="run folders, folders holding runs, or a batch folder")
    p.add_argument("--out", default=None, help=f"HTML file to write (default: {REPORT_HTML} in the run/batch folder)")

    p = sub.add_parser("batch", help="run tasks x LLMs x trials in parallel, then evaluate")
    p.add_argument("--tasks", required=True, help="comma-separated task names")
    p.add_argument("--llm", default="local", help="comma-separated LLM names")
    p.add_argument("--trials", type=T.whole(1, 1000), default=1)
    p.add_argument("--workers", type=T.whole(1, 1024), default=1)
    for name in ("max_steps", "max_time_s", "sandbox", "log_root", "root"):
        add_run_option(p, name, help=None)
    p.add_argument("--out", default=None, help="folder for the summary (default: <log-root>/batch-<ts>)")
    from .batch_ray import CLI_OPTIONS as RAY_OPTIONS  # no Ray import: the options only
    g = p.add_argument_group("Ray cluster (pip install 'mlr-copilot[ray]')")
    for flag, kwargs in RAY_OPTIONS:
        g.add_argument(flag, **kwargs)

    for name, helptext in (("idea", "generate a research problem, hypothesis and plan from a paper"),
                           ("pipeline", "idea generation, then the experiment, in one go")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("paper", help="PDF, .txt/.md file, arXiv id or URL")
        p.add_argument("--task", required=True, help="task name: writes problems/<task>")
        p.add_argument("--ideas", type=T.whole(1, 10), default=1, help="candidate ideas to generate and rank")
        p.add_argument("--yes", action="store_true", help="accept every stage without review")
        p.add_argument("--force", action="store_true", help="overwrite an existing problem")
        p.add_argument("--offline", action="store_true", help="do not search related work online")
        p.add_argument("--prototype", action="store_true",
                       help="find the paper's code repository and Hub models; put the code in "
                            "workspaces/<task>/prototype/ (read-only to the agent)")
        p.add_argument("--prototype-repo", default=None, metavar="URL|OWNER/NAME",
                       help="retrieve this repository as the prototype (implies --prototype)")
        p.add_argument("--prototype-model", default=None, metavar="ORG/NAME",
                       help="also fetch this Hub model into workspaces/<task>/prototype/models/ (implies --prototype)")
        if name == "pipeline":
            add_run_options(p)
        else:
            p.add_argument("--problem-name", default=None, metavar="NAME",
                           help="write problems/NAME instead of problems/<task> (keeps an existing problem)")
            add_llm_options(p)
            add_run_option(p, "hf_endpoint", help="Hugging Face Hub endpoint (default: HF_ENDPOINT)")
            add_run_option(p, "log_root", help=None)
            add_run_option(p, "root", help=None)

    p = sub.add_parser("prepare-model", help="join and verify the embedded model (done on first use otherwise)")
    p.add_argument("--verify", action="store_true", help="re-hash an already joined model")

    p = sub.add_parser("doctor", help="check the installation: packages, keys, model, sandbox, GPUs")
    add_run_option(p, "log_root", help=None)
    return parser


def _print_run_result(result) -> int:
    from .view.result import run_end_lines

    lines = run_end_lines(result)  # the last line is "Log: <run dir>" (batch reads it)
    from .claim_check import run_claims_line
    if claims := run_claims_line(result.run_dir):
        lines.insert(len(lines) - 1, claims)
    print("\n".join(lines))
    from .records import RunStatus
    status = RunStatus.parse(result.status)
    return EXIT_OK if status is not None and status.completed else EXIT_FAILED


def cmd_run(args) -> int:
    if args.resume:
        from .agents.resume import resume_run
        with ProgressPrinter(quiet=args.quiet):
            return _print_run_result(resume_run(Path(args.resume), feedback_mode=args.feedback,
                                                feedback_file=args.feedback_file,
                                                overrides=_typed_overrides(args) or None))
    if not args.task:
        raise SystemExit("mlr-copilot run: a task name is required (see `mlr-copilot tasks`), or --resume LOGDIR")
    _prepare_model_if_local(args.llm)
    from .agents.runner import run_experiment
    with ProgressPrinter(quiet=args.quiet):
        return _print_run_result(run_experiment(run_options_from_args(args, args.task)))


def _prepare_model_if_local(llm: str | None) -> None:
    """The first run of the default model joins 1.1 GB: show it, rather than a silent wait."""
    from .llm.registry import resolve_models
    try:
        if resolve_models(llm).main.kind == "local":
            prepare_embedded_model()
    except MLRError:
        pass  # the run itself reports the problem with its full context


def _typed_overrides(args) -> dict:
    """The run options the user typed along with --resume (run_config says which a resume may change)."""
    return resume_overrides_from_args(args)


def cmd_tasks(args) -> int:
    from .tasks import discover_tasks, describe_tasks
    print(describe_tasks(discover_tasks(Path(args.root))))
    return EXIT_OK


def cmd_show(args) -> int:
    from .show import render_run
    render_run(args.logdir, max_observation_chars=args.max_chars, entries=args.entries)
    return EXIT_OK


def cmd_import_log(args) -> int:
    from .log_import import import_original_log, load_steps
    out = import_original_log(args.original, args.out, overwrite=args.overwrite)
    print(f"Imported {len(load_steps(out))} steps into {out}")
    return EXIT_OK


def cmd_restore(args) -> int:
    from .env.snapshots import restore
    restore(Path(args.logdir), args.step, Path(args.to))
    print(f"Workspace of step {args.step} restored to {args.to}")
    return EXIT_OK


def cmd_prepare(args) -> int:
    from .tasks import discover_tasks, find_task
    root = Path(args.root)
    names = list(discover_tasks(root)) if args.tasks == ["all"] else args.tasks
    failed = 0
    for name in names:
        result = find_task(root, name).prepare(online=args.online, force=args.force)
        print(f"{name}: {result.message}")
        failed += not result.ready
    return EXIT_OK if not failed else EXIT_FAILED


def cmd_baseline(args) -> int:
    from .baseline_cmd import measure_baseline
    ok = measure_baseline(Path(args.root), args.task, online=args.online, timeout_s=args.timeout,
                          record=args.record and not args.no_record, log_root=Path(args.log_root), out=print,
                          sandbox=args.sandbox)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_eval(args) -> int:
    from .eval_cmd import evaluate_cli
    from .evaluation import find_run_dirs
    code = evaluate_cli([Path(p) for p in args.logdirs], root=Path(args.root), all_steps=args.all_steps,
                        out=Path(args.out) if args.out else None)
    from .records import RunDir
    from .view.report import write_report
    for run_dir in find_run_dirs(args.logdirs):  # a run's report shows the new scores
        report = RunDir(run_dir).report
        if report.is_file():
            try:
                write_report(run_dir)
            except Exception as exc:  # noqa: BLE001 - the grades are written; the view can wait
                logger.warning("could not refresh %s: %s", report, exc)
    return code


def cmd_report(args) -> int:
    from .view.report import report_cli
    written = report_cli(args.logdirs, args.out)
    print(f"Report: {written[0]}" + (f" (and {REPORT_HTML} in each of {len(written) - 1} run folders)"
                                      if len(written) > 1 else ""))
    return EXIT_OK


def cmd_batch(args) -> int:
    from .batch import BatchOptions, run_batch
    from .batch_ray import RAY_FIELDS
    summary = run_batch(BatchOptions(tasks=split_list(args.tasks), llms=split_list(args.llm), trials=args.trials,
                                     workers=args.workers, max_steps=args.max_steps, max_time_s=args.max_time,
                                     sandbox=args.sandbox, log_root=args.log_root, root=args.root, out=args.out,
                                     **{k: getattr(args, k) for k in RAY_FIELDS}),
                        progress=ProgressPrinter().batch)
    print(summary)
    return EXIT_OK


def cmd_idea(args, then_run: bool = False) -> int:
    from .agents.idea_cli import idea_command
    code = idea_command(args)
    if code or not then_run:
        return code
    # pipeline: the experiment on workspaces/<task>, reading the problem just written
    from .agents.runner import run_experiment
    with ProgressPrinter(quiet=args.quiet):
        result = run_experiment(run_options_from_args(args, args.task))
    code = _print_run_result(result)
    from .hypothesis import judge_pipeline_run  # grades the run, judges the idea's acceptance criterion
    for line in judge_pipeline_run(result.run_dir, Path(args.root)):
        print(line)
    return code


def prepare_embedded_model(verify: bool = False) -> Path:
    """Join/verify the embedded model with a progress bar (1.1 GB: a user should see it move)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from .llm.local_model import ensure_embedded_model

    with Progress(TextColumn("embedded model"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("model", total=None)
        path = ensure_embedded_model(lambda done, total: bar.update(task, completed=done, total=total),
                                     verify=verify)
    return path


def cmd_prepare_model(args) -> int:
    path = prepare_embedded_model(verify=args.verify)
    print(f"Embedded model ready: {path}")
    return EXIT_OK


def cmd_doctor(args) -> int:
    from .doctor import run_doctor
    return run_doctor(log_root=Path(args.log_root))


COMMANDS = {"run": cmd_run, "tasks": cmd_tasks, "show": cmd_show, "import-log": cmd_import_log,
            "restore": cmd_restore, "prepare": cmd_prepare, "baseline": cmd_baseline, "eval": cmd_eval, "report": cmd_report, "batch": cmd_batch,
            "idea": cmd_idea, "pipeline": lambda a: cmd_idea(a, then_run=True),
            "prepare-model": cmd_prepare_model, "doctor": cmd_doctor}


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    try:
        from rich.logging import RichHandler
        from rich.console import Console
        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False,
                                               rich_tracebacks=False)
    except ImportError:  # rich is a dependency; keep the CLI usable without it
        handler = logging.StreamHandler()
    from .redact import ScrubFilter

    handler.addFilter(ScrubFilter())  # no secret value reaches the terminal or a captured log
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    _configure_logging(args.verbose)
    try:
        from .config import load_env_file
        load_env_file()
        return COMMANDS[args.command](args)
    except MLRError as exc:
        print(f"mlr-copilot {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"mlr-copilot {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
