"""Starting (and resuming) an experiment run: wires task, run dir, models, environment, agent.

This is the one place that assembles the three roles; it also turns every way a run can
end into a recorded status, so no run ends without saying why.
"""
from __future__ import annotations

import errno
import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import progress
from ..config import watch_folder
from ..env.actions import choose_offered
from ..errors import ConfigError, LLMError, RunStopped
from ..feedback import FeedbackChannel, make_feedback
from ..llm.base import Models
from ..measurements import Ledger
from ..prototype import READ_ONLY_PATTERN as PROTOTYPE_READ_ONLY
from ..redact import scrub
from ..records import RunDir, RunStatus
from ..records.recorder import RunRecorder
from ..run_config import STRATEGIES, RunConfig, RunOptions  # noqa: F401 (RunOptions: the name callers use)
from .experiment import COMPACT_AGENT_MAX_TOKENS, DEFAULT_AGENT_MAX_TOKENS, AgentConfig, ExperimentAgent

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    status: str
    message: str
    final_answer: str | None = None
    result: dict | None = None  # the end-of-run grade (view.result.grade_at_end); None: no grader
    info: dict = field(default_factory=dict)  # run.json as the run ended


def run_experiment(options: RunOptions, *, models: Models | None = None,
                   feedback: FeedbackChannel | None = None) -> RunResult:
    """Start a new run of ``options.task``. ``models``/``feedback`` may be injected (tests, pipeline)."""
    from ..env.environment import Environment
    from ..env.hub_prototype import prototype_offer
    from ..env.workspace_copy import prepare_workspace
    from ..records import create_run_dir
    from ..tasks import find_task

    root = Path(options.root)
    watch_folder(root)  # the project's .env values are scrubbed from everything the run writes
    task = find_task(root, options.task)
    problem = task.problem_text()
    if models is None:  # a wrong LLM name, a missing key or model fails here, before any run dir exists
        check_llm(options)
    prep = task.prepare(online=True)  # builds offline data; uses the cache before any download
    if not prep.ready:
        raise ConfigError(prep.message)
    if options.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {options.strategy!r}")
    if not task.workspace_path.is_dir() and not (options.work_dir and Path(options.work_dir).is_dir()):
        raise ConfigError(f"The task {task.name!r} has no workspace: {task.workspace_path} does not exist. "
                          "Put the task's starter code and data there, then run again.")
    feedback = feedback or make_feedback(options.feedback, options.feedback_file)
    if options.strategy == "tree":
        from .tree_search import TREE_ACTIONS, check_tree_options
        check_tree_options(options)
        offered = list(TREE_ACTIONS)
    else:
        offered = choose_offered(add=prototype_offer(problem, task.workspace_path) + tuple(options.actions_add),
                                 remove=options.actions_remove,
                                 human=feedback.interactive or bool(options.feedback_file))
    run_dir = create_run_dir(Path(options.log_root), task.name)
    workspace = prepare_workspace(task.workspace_path, run_dir, work_dir=options.work_dir)
    recorder = RunRecorder(run_dir, info={"task": task.name, "llm": options.llm or "local",
                                          "options": asdict(options), "strategy": options.strategy,
                                          "root": str(root.resolve()),  # resume works from any folder
                                          "workspace": str(workspace.resolve()), "offered_actions": offered})
    return _drive(options, recorder, run_dir, workspace, problem, task, offered, models, feedback,
                  Environment)


def check_llm(options: RunOptions) -> None:
    """Names, keys and local model files of ``options.llm``: ConfigError with the fix if wrong."""
    from ..llm.availability import check_models_available
    from ..llm.registry import resolve_models

    check_models_available(resolve_models(options.llm, base_url=options.llm_base_url))


def _drive(options, recorder, run_dir, workspace, problem, task, offered, models, feedback, Environment,
           state=None) -> RunResult:
    t0 = time.monotonic()
    agent = None
    status, message = RunStatus.ERROR, "the run did not start"
    progress.report("run", run_dir=str(run_dir), task=task.name, resumed=state is not None)
    try:
        local = False  # injected models (tests, pipeline) keep the original, full behaviour
        if models is None:
            models = _build_models(options, run_dir, recorder)
            local = _runs_on_this_machine(options)
        prompt_style = options.prompt_style or ("compact" if local else "full")
        # the compact prompt never shows the research log to the model: a model call per entry
        # would cost a step's time for what only the person reads
        log_entries = options.research_log_entries or ("brief" if prompt_style == "compact" else "llm")
        recorder.info["models"] = {role: getattr(getattr(models, role), "model", "?") for role in ("main", "fast", "edit")}
        recorder.save()
        spent = recorder.info["totals"].get("wall_time_s", 0.0) if state is not None else 0.0
        deadline = (time.monotonic() + options.max_time_s - spent) if options.max_time_s else None
        env_log = RunDir(run_dir).env_log.root
        env = Environment(_env_config(options, task), workspace=workspace, env_log_dir=env_log,
                          models=models, human=feedback if "Request Help" in offered else None,
                          research_problem=problem, offered=offered, deadline=deadline)
        Ledger(env_log).record_baseline(task.metric, task.baseline)
        if options.strategy == "tree":
            from .tree_search import make_tree_agent
            agent = make_tree_agent(env, models, problem, task, options, feedback=feedback, recorder=recorder,
                                    state=state)
        else:
            config = AgentConfig(
                max_steps=options.max_steps, history_steps=options.history_steps,
                max_parse_attempts=options.max_parse_attempts, research_log=options.research_log,
                research_log_entries=log_entries, prompt_style=prompt_style,
                max_tokens=COMPACT_AGENT_MAX_TOKENS if prompt_style == "compact" else DEFAULT_AGENT_MAX_TOKENS,
                measure_first=(prompt_style == "compact") if options.measure_first is None else options.measure_first,
                main_script=task.script)
            agent = ExperimentAgent(env, models, problem, feedback=feedback, recorder=recorder, config=config,
                                    state=state)
        status, message = agent.run()
    except RunStopped as exc:
        status, message = exc.status, str(exc)
    except LLMError as exc:
        status, message = RunStatus.LLM_ERROR, f"{type(exc).__name__}: {exc}"
    except ConfigError as exc:
        status, message = RunStatus.ERROR, str(exc)
    except KeyboardInterrupt:
        status, message = RunStatus.INTERRUPTED, "Interrupted (Ctrl-C)."
    except OSError as exc:  # the log disk is full or a file-size limit is reached, most often
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        status, message = RunStatus.ERROR, (f"Cannot write the run's files: {exc}. "
                                    + ("The disk may be full or a file-size limit reached; " if full else "")
                                    + "the records written so far are intact. "
                                    + ("Free some space, then continue" if full else "Fix the cause, then continue")
                                    + f" with: mlr-copilot run --resume {run_dir}")
    except Exception as exc:  # our own bug: record it, keep logs and workspace intact
        error_file = RunDir(run_dir).error_file
        status = RunStatus.ERROR
        message = f"Internal error: {type(exc).__name__}: {exc} (traceback in {error_file.name})"
        error_file.write_text(scrub(traceback.format_exc()), encoding="utf-8")
    finally:
        final = agent.state.final_answer if agent is not None else None
        try:
            if agent is not None:
                # The shared budget counts every call of the run (agent steps, edits, summaries,
                # and before a resume); the agent's own tally is the fallback for bare models.
                budget = getattr(models.main, "budget", None)
                s = agent.state
                calls, usage, cost, unpriced = (
                    (budget.calls + budget.cached_calls, budget.usage, budget.cost_usd, budget.unpriced_calls)
                    if budget is not None else (s.llm_calls, s.usage, s.cost_usd, 0))
                recorder.update_totals(llm_calls=calls, usage=usage, cost_usd=cost, unpriced_calls=unpriced,
                                       wall_time_s=recorder.info["totals"].get("wall_time_s", 0.0)
                                       + time.monotonic() - t0)
            recorder.finish(status, message, final)
        except OSError as exc:  # run.json has what could be saved; the result still says why
            logger.error("Could not record the end of the run in %s: %s", run_dir, exc)
        finally:
            recorder.close()
    result = _finish_views(run_dir, task, recorder)
    return RunResult(run_dir, status, message, final, result=result, info=dict(recorder.info))


def _finish_views(run_dir: Path, task, recorder: RunRecorder) -> dict | None:
    """Grade the final workspace (graded tasks) into run.json, then write report.html.

    Neither may turn a finished run into a failure: a problem is logged and the run stands."""
    from ..view.result import grade_at_end

    result = None
    try:
        result = grade_at_end(run_dir, task)
        if result is not None:
            recorder.info["result"] = result
            recorder.save()
    except Exception as exc:  # noqa: BLE001 - a grader problem is reported, the run is kept
        logger.warning("Could not grade the final workspace of %s: %s", run_dir, exc)
    try:
        from ..view.report import write_report
        write_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the report is a view; the logs are the record
        logger.warning("Could not write %s: %s", RunDir(run_dir).report, exc)
    return result


def _env_config(options: RunOptions, task):
    from ..env.context import EnvConfig

    return EnvConfig(read_only=tuple(task.read_only) + (PROTOTYPE_READ_ONLY,),  # prototype/ is never writable
                     sandbox=options.sandbox, allow_network=options.allow_network,
                     device=options.device, script_timeout_s=options.script_timeout_s,
                     max_time_s=options.max_time_s,
                     pass_env=tuple(options.pass_env), pass_secret_env=options.pass_secret_env,
                     hf_endpoint=options.hf_endpoint,
                     hidden_paths=tuple(str(p) for p in task.hidden_paths()),
                     memory_limit_mb=options.memory_limit_mb,
                     **({"python": tuple(options.python)} if options.python else {}))


def _runs_on_this_machine(options: RunOptions) -> bool:
    """Whether the main model is a small local one (embedded, GGUF, transformers): it then gets
    brief research-log entries (no model call) and the compact prompt by default."""
    from ..llm.registry import resolve_models

    return resolve_models(options.llm, base_url=options.llm_base_url).main.kind in ("local", "gguf", "hf")


def _build_models(options: RunOptions, run_dir: Path, recorder: RunRecorder) -> Models:
    from ..llm.cache import ResponseCache
    from ..llm.client import Budget
    from ..llm.registry import build_models, resolve_models
    from ..logs import JsonlWriter

    budget = Budget(max_cost_usd=options.max_cost, max_llm_calls=options.max_llm_calls)
    cache = None if options.llm_cache is None else ResponseCache(options.llm_cache or None)
    recorder.info["llm_models"] = resolve_models(options.llm, base_url=options.llm_base_url).to_dict()
    recorder.budget_summary = budget.summary  # run.json's budget block follows the spending
    recorder.step_llm_figures = budget.step_figures  # each step record gets its calls' cost and cache share
    return build_models(options.llm, base_url=options.llm_base_url, budget=budget, cache=cache,
                        call_log=JsonlWriter(RunDir(run_dir).llm_calls),
                        prompt_cache=options.prompt_cache)
