"""One experiment run in one process, with two ways in.

``RunSession.start`` makes a new run (task checked and prepared, run directory, workspace,
recorder); ``RunSession.resume`` takes over a run that ``agents.resume`` has checked and
repaired, with its recorder, memory and the LLM calls it already made. From there both are
the same: ``run`` builds the models and their budget, the environment and the agent, drives
the agent, and turns every way a run can end into a recorded status, so no run ends without
saying why. This is the one place that assembles the three roles (model, environment, agent).
"""
from __future__ import annotations

import errno
import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import progress
from ..config import watch_folder
from ..errors import ConfigError, LLMError, RunStopped
from ..feedback import FeedbackChannel, make_feedback
from ..llm.base import Models
from ..measurements import Ledger
from ..prototype import READ_ONLY_PATTERN as PROTOTYPE_READ_ONLY
from ..records import RunDir, RunStatus
from ..records.recorder import RunRecorder
from ..redact import scrub
from ..run_config import STRATEGIES, RunConfig
from .experiment import COMPACT_AGENT_MAX_TOKENS, DEFAULT_AGENT_MAX_TOKENS, AgentConfig, AgentState, ExperimentAgent
from .run_repair import call_usage
from .goal import goal_from_problem
from .metric import metric_spec_for
from .tree_models import target_kind
from .tree_preview import mixed_columns, starter_code, text_column
from .worked_example import first_change

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    status: str
    message: str
    final_answer: str | None = None
    result: dict | None = None  # the end-of-run grade (view.result.grade_at_end); None: no grader
    info: dict = field(default_factory=dict)  # run.json as the run ended


def check_llm(options: RunConfig) -> None:
    """Names, keys and local model files of ``options.llm``: ConfigError with the fix if wrong."""
    from ..llm.availability import check_models_available
    from ..llm.registry import resolve_models

    check_models_available(resolve_models(options.llm, base_url=options.llm_base_url))


def build_run_models(options: RunConfig, run_dir: Path):
    """The models of a run (or an idea generation) in ``run_dir``: one budget for every role
    (``--max-cost``, ``--max-llm-calls``), the response cache (``--llm-cache``) and the call log.
    Returns (models, budget, the resolved model names)."""
    from ..llm.cache import ResponseCache
    from ..llm.client import Budget
    from ..llm.registry import build_models, resolve_models
    from ..logs import JsonlWriter

    budget = Budget(max_cost_usd=options.max_cost, max_llm_calls=options.max_llm_calls)
    cache = None if options.llm_cache is None else ResponseCache(options.llm_cache or None)
    resolved = resolve_models(options.llm, base_url=options.llm_base_url)
    models = build_models(options.llm, base_url=options.llm_base_url, budget=budget, cache=cache,
                          call_log=JsonlWriter(RunDir(run_dir).llm_calls), prompt_cache=options.prompt_cache)
    return models, budget, resolved


class RunSession:
    """A run being driven by this process; made by ``start`` or ``resume``, then ``run`` once."""

    def __init__(self, options: RunConfig, recorder: RunRecorder, *, task, problem: str, workspace: Path,
                 offered: list[str], models: Models | None = None, feedback: FeedbackChannel | None = None,
                 state: AgentState | None = None):
        self.options = options
        self.recorder = recorder
        self.run_dir = recorder.run_dir
        self.task = task
        self.problem = problem
        self.workspace = workspace
        self.offered = offered
        self.models = models  # None: built by ``run`` (injected ones, in tests and pipelines, are used as given)
        self.feedback = feedback
        self.state = state  # None: a new run; else the memory of the resumed run's complete steps
        self.budget = None  # the budget of the models this session built
        self.local = False  # whether those models run on this machine (the compact defaults)

    # ------------------------------------------------------------------ the two ways in
    @classmethod
    def start(cls, options: RunConfig, *, models: Models | None = None,
              feedback: FeedbackChannel | None = None) -> "RunSession":
        """A new run of ``options.task``: every check comes before the run directory is made."""
        from ..env.actions import choose_offered
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
            from .tree_options import check_tree_options
            from .tree_search import TREE_ACTIONS
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
        return cls(options, recorder, task=task, problem=problem, workspace=workspace, offered=offered,
                   models=models, feedback=feedback)

    @classmethod
    def resume(cls, recorder: RunRecorder, options: RunConfig, *, task, problem: str, workspace: Path,
               state: AgentState, earlier_calls: list[dict[str, Any]], models: Models | None = None,
               feedback: FeedbackChannel | None = None) -> "RunSession":
        """Go on with a checked and repaired run (``agents.resume``) after its last complete step.
        Models are built now, and the calls in ``earlier_calls`` count against their budget."""
        session = cls(options, recorder, task=task, problem=problem, workspace=workspace,
                      offered=recorder.info.get("offered_actions"), models=models, feedback=feedback, state=state)
        if models is None:
            session._build_models()
            session._carry_over(earlier_calls)
        return session

    # ------------------------------------------------------------------ the run
    def run(self) -> RunResult:
        """Drive the agent to the run's end and record how it ended (the run's own failures are a status)."""
        options, recorder = self.options, self.recorder
        if self.feedback is None:
            self.feedback = make_feedback(options.feedback, options.feedback_file)
        t0 = time.monotonic()
        agent = None
        status, message = RunStatus.ERROR, "the run did not start"
        progress.report("run", run_dir=str(self.run_dir), task=self.task.name, resumed=self.state is not None)
        try:
            if self.models is None:
                self._build_models()
            recorder.info["model_load_s"] = round(self.models.load_weights(), 2)  # not counted in step 1
            recorder.info["models"] = {role: getattr(getattr(self.models, role), "model", "?")
                                       for role in ("main", "fast", "edit")}
            recorder.save()
            agent = self._make_agent(self._make_environment())
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
            status, message = RunStatus.ERROR, (
                f"Cannot write the run's files: {exc}. "
                + ("The disk may be full or a file-size limit reached; " if full else "")
                + "the records written so far are intact. "
                + ("Free some space, then continue" if full else "Fix the cause, then continue")
                + f" with: mlr-copilot run --resume {self.run_dir}")
        except Exception as exc:  # our own bug: record it, keep logs and workspace intact
            error_file = RunDir(self.run_dir).error_file
            status = RunStatus.ERROR
            message = f"Internal error: {type(exc).__name__}: {exc} (traceback in {error_file.name})"
            error_file.write_text(scrub(traceback.format_exc()), encoding="utf-8")
        finally:
            final = agent.state.final_answer if agent is not None else None
            self._record_end(agent, status, message, final, time.monotonic() - t0)
        result = self._finish_views()
        return RunResult(self.run_dir, status, message, final, result=result, info=dict(recorder.info))

    def _make_environment(self):
        from ..env.environment import Environment

        options = self.options
        spent = self.recorder.info["totals"].get("wall_time_s", 0.0) if self.state is not None else 0.0
        deadline = (time.monotonic() + options.max_time_s - spent) if options.max_time_s else None
        env_log = RunDir(self.run_dir).env_log.root
        env = Environment(self._env_config(), workspace=self.workspace, env_log_dir=env_log, models=self.models,
                          human=self.feedback if "Request Help" in self.offered else None,
                          research_problem=self.problem, offered=self.offered, deadline=deadline)
        Ledger(env_log).record_baseline(self.task.metric, self.task.baseline)
        return env

    def _make_agent(self, env):
        options = self.options
        if options.strategy == "tree":
            from .tree_options import make_tree_agent
            return make_tree_agent(env, self.models, self.problem, self.task, options, feedback=self.feedback,
                                   recorder=self.recorder, state=self.state)
        # the models this session built decide the defaults; injected ones keep the original, full behaviour
        prompt_style = options.prompt_style or ("compact" if self.local else "full")
        # the compact prompt never shows the research log to the model: a model call per entry
        # would cost a step's time for what only the person reads
        log_entries = options.research_log_entries or ("brief" if prompt_style == "compact" else "llm")
        text, columns = text_column(env.workspace), mixed_columns(env.workspace)
        spec = metric_spec_for(self.task, self.problem)
        kind, starter = target_kind(spec), starter_code(env.workspace, self.task.script)
        config = AgentConfig(
            max_steps=options.max_steps, history_steps=options.history_steps,
            fold_steps=options.history_steps if prompt_style == "compact" else 1,  # a cached prompt start lasts
            max_parse_attempts=options.max_parse_attempts, research_log=options.research_log,
            research_log_entries=log_entries, prompt_style=prompt_style,
            max_tokens=COMPACT_AGENT_MAX_TOKENS if prompt_style == "compact" else DEFAULT_AGENT_MAX_TOKENS,
            measure_first=(prompt_style == "compact") if options.measure_first is None else options.measure_first,
            main_script=self.task.script, text_column=text, input_columns=columns, target_kind=kind,
            first_change=first_change(text, columns, kind, starter), starter_code=starter,
            goal=goal_from_problem(self.problem, spec))
        return ExperimentAgent(env, self.models, self.problem, feedback=self.feedback, recorder=self.recorder,
                               config=config, state=self.state)

    def _record_end(self, agent, status, message: str, final: str | None, elapsed_s: float) -> None:
        recorder = self.recorder
        try:
            if agent is not None:
                # The shared budget counts every call of the run (agent steps, edits, summaries,
                # and before a resume); the agent's own tally is the fallback for bare models.
                budget = getattr(self.models.main, "budget", None)
                s = agent.state
                calls, usage, cost, unpriced = (
                    (budget.calls + budget.cached_calls, budget.usage, budget.cost_usd, budget.unpriced_calls)
                    if budget is not None else (s.llm_calls, s.usage, s.cost_usd, 0))
                recorder.update_totals(llm_calls=calls, usage=usage, cost_usd=cost, unpriced_calls=unpriced,
                                       wall_time_s=recorder.info["totals"].get("wall_time_s", 0.0) + elapsed_s)
            recorder.finish(status, message, final)
        except OSError as exc:  # run.json has what could be saved; the result still says why
            logger.error("Could not record the end of the run in %s: %s", self.run_dir, exc)
        finally:
            recorder.close()

    def _finish_views(self) -> dict | None:
        """Grade the final workspace (graded tasks) into run.json, then write report.html.

        Neither may turn a finished run into a failure: a problem is logged and the run stands."""
        from ..view.result import grade_at_end

        result = None
        try:
            result = grade_at_end(self.run_dir, self.task)
            if result is not None:
                self.recorder.info["result"] = result
                self.recorder.save()
        except Exception as exc:  # noqa: BLE001 - a grader problem is reported, the run is kept
            logger.warning("Could not grade the final workspace of %s: %s", self.run_dir, exc)
        try:
            from ..view.report import write_report
            write_report(self.run_dir)
        except Exception as exc:  # noqa: BLE001 - the report is a view; the logs are the record
            logger.warning("Could not write %s: %s", RunDir(self.run_dir).report, exc)
        return result

    # ------------------------------------------------------------------ models and environment
    def _build_models(self) -> None:
        options, recorder = self.options, self.recorder
        self.models, self.budget, resolved = build_run_models(options, self.run_dir)
        recorder.info["llm_models"] = resolved.to_dict()
        recorder.budget_summary = self.budget.summary  # run.json's budget block follows the spending
        recorder.step_llm_figures = self.budget.step_figures  # each step record gets its calls' cost and cache share
        # a small model on this machine (embedded, GGUF, transformers) gets brief research-log
        # entries (no model call) and the compact prompt by default, on a resume as at the start
        self.local = resolved.main.kind in ("local", "gguf", "hf")

    def _carry_over(self, calls: list[dict[str, Any]]) -> None:
        """Count the calls the run made before this process against the new budget."""
        paid = [r for r in calls if not r.get("cached") and r.get("attempts", 1)]
        self.budget.carry_over(calls=len(paid), cached_calls=len(calls) - len(paid),
                               cost_usd=sum(float(r.get("cost_usd") or 0.0) for r in paid),
                               unpriced_calls=sum(1 for r in paid if r.get("cost_usd") is None),
                               usage=call_usage(paid),
                               last_call=max((r["call"] for r in calls if isinstance(r.get("call"), int)),
                                             default=0))

    def _env_config(self):
        from ..env.context import EnvConfig

        options, task = self.options, self.task
        return EnvConfig(read_only=tuple(task.read_only) + (PROTOTYPE_READ_ONLY,),  # prototype/ is never writable
                         sandbox=options.sandbox, allow_network=options.allow_network,
                         device=options.device, script_timeout_s=options.script_timeout_s,
                         max_time_s=options.max_time_s,
                         pass_env=tuple(options.pass_env), pass_secret_env=options.pass_secret_env,
                         hf_endpoint=options.hf_endpoint,
                         hidden_paths=tuple(str(p) for p in task.hidden_paths()),
                         memory_limit_mb=options.memory_limit_mb,
                         **({"python": tuple(options.python)} if options.python else {}))
