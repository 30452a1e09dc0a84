"""The ExperimentAgent: the research action loop in the MLAgentBench / MLR-Copilot style.

One step: render the prompt (stable part first: instructions, tools, problem; then the steps so
far, the research-log summary and the latest human feedback — in that order, so a local backend
reuses the longest possible prefix of the previous prompt), ask the main model, parse the response
(with corrective retries), execute the action in the Environment, take feedback, add the step to
the research log (``research_log``), end the step in the Environment (its one snapshot), write the
step record. The loop never touches subprocesses or SDKs itself.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from .. import progress
from ..config import DEFAULT_HISTORY_STEPS, DEFAULT_MAX_STEPS, DEFAULT_PARSE_ATTEMPTS
from ..errors import LLMContextTooLongError, RunStopped
from ..feedback import FeedbackChannel, StepView
from ..llm.base import Completion, Models, ResponseSpec, Usage
from ..llm.client import set_step
from ..logs import utc_now
from ..records import RunStatus, StepRecord
from ..templates import render
from .guards import check_arguments, repeated_step, spec_without
from .goal import Goal
from .measure_first import Refusal, RunInstead, run_instead, unmeasured_refusal
from .next_move import where_we_are
from .research_log import LogFile, ResearchLog, key_lines
from .script_output import script_output_excerpt
from .tree_preview import InputColumns
from .worked_example import change_ideas, worked_example
from .parsing import FormatError, corrective_message, parse_response

logger = logging.getLogger(__name__)

NARRATIVE_ENTRIES = ("Reflection", "Research Plan and Status", "Fact Check", "Thought")
DEFAULT_OBSERVATION_PROMPT_CHARS = 4000  # longer observations are summarised for the prompt
DEFAULT_AGENT_MAX_TOKENS = 2000
COMPACT_AGENT_MAX_TOKENS = 600
"""With the compact prompt: a grammar then allows one line per entry, so a small model that
starts repeating itself stops within ~500 tokens instead of ~1,500 (a minute on a CPU)."""
SUMMARY_BLOCK_CHARS = 6000
DEFAULT_RETRY_TEMPERATURE = 0.7  # a retry that samples does not repeat a greedy mistake


class ObservationLike(Protocol):
    """What ``Environment.execute`` returns (``env.environment.Observation``)."""

    text: str
    is_final: bool
    exit_code: int | None
    full_text_path: str | None
    duration_s: float  # how long the action ran


class EnvironmentLike(Protocol):
    action_infos: Sequence[Any]
    research_log: LogFile  # where the agent's research log is stored

    def execute(self, name: str, args: dict, *, step: int, end_step: bool = True,
                script_limit_s: float | None = None) -> ObservationLike: ...

    def end_step(self, step: int) -> str: ...

    def workspace_digest(self, step: int) -> str | None: ...

    def time_left(self) -> float | None: ...


class StepRecorder(Protocol):
    def write_step(self, record: StepRecord) -> None: ...


@dataclass
class AgentConfig:
    max_steps: int = DEFAULT_MAX_STEPS
    history_steps: int = DEFAULT_HISTORY_STEPS
    fold_steps: int = 1  # older steps fold into one line this many at a time (see shown_steps)
    max_parse_attempts: int = DEFAULT_PARSE_ATTEMPTS
    observation_prompt_chars: int = DEFAULT_OBSERVATION_PROMPT_CHARS
    max_tokens: int = DEFAULT_AGENT_MAX_TOKENS
    temperature: float = 0.0
    retry_temperature: float = DEFAULT_RETRY_TEMPERATURE
    research_log: bool = True  # write a research-log entry after each step
    research_log_entries: str = "llm"  # "llm": the fast model summarises the step; "brief": no call
    prompt_style: str = "full"  # "full": MLAgentBench's history; "compact": for small models (see build_prompt)
    measure_first: bool = False  # ask once more on a Final Answer or an edit before the change (or baseline) ran
    main_script: str = "train.py"  # the task's main script, named in the prompt's worked example
    text_column: str | None = None  # the data's free-text column: the worked example is a text task's
    target_kind: str | None = None  # "classes" or "numeric" (from the metric), for that example's model
    input_columns: InputColumns = InputColumns()  # of text categories and with gaps: the example encodes them
    first_change: str | None = None  # the data's example of a first change (worked_example.first_change)
    starter_code: str | None = None  # the main script as the run found it: the worked example names its functions
    goal: Goal | None = None  # the improvement the problem asks for: results are compared with it


@dataclass
class StepMemory:
    """What the agent remembers of a finished step (rebuilt from the log on resume)."""

    step: int
    entries: dict[str, str]
    action: str
    action_input: dict
    observation: str  # as shown in the prompt (summarised when long)
    feedback: str | None = None


@dataclass
class AgentState:
    history: list[StepMemory] = field(default_factory=list)
    feedback: str | None = None  # feedback given after the last step, for the next prompt
    final_answer: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    llm_calls: int = 0

    @property
    def next_step(self) -> int:
        return self.history[-1].step + 1 if self.history else 1


class ExperimentAgent:
    def __init__(self, env: EnvironmentLike, models: Models, problem: str, *,
                 feedback: FeedbackChannel, recorder: StepRecorder,
                 config: AgentConfig | None = None, state: AgentState | None = None):
        self.env = env
        self.models = models
        self.problem = problem.strip()
        self.feedback = feedback
        self.recorder = recorder
        self.config = config or AgentConfig()
        self.state = state or AgentState()
        self.research_log = None  # the agent's own; stored in the file the environment hands over
        if self.config.research_log:
            self.research_log = ResearchLog(env.research_log, self._ask_fast, entries=self.config.research_log_entries)
        self.offered = list(env.action_infos)
        self.spec = ResponseSpec(
            entries=NARRATIVE_ENTRIES,
            actions={a.name: a.arg_names for a in self.offered},
            required_args={a.name: a.required_arg_names for a in self.offered},
            arg_types={a.name: {x.name: "integer" for x in a.args if x.type is int} for a in self.offered},
        )
        self.system_prompt = render(
            "agents.prompts", "experiment_system",
            tools="\n".join(a.render_brief() for a in self.offered),
            problem=self.problem,
            example=worked_example(self.config.main_script, self.config.text_column, self.config.target_kind,
                                   self.config.input_columns, self.config.starter_code),
            change_ideas=change_ideas(self.config.text_column, self.config.input_columns),
            action_names=", ".join(a.name for a in self.offered),
        )

    # ------------------------------------------------------------------ loop
    def run(self) -> tuple[RunStatus, str]:
        """Run until a Final Answer or a limit. Returns (status, message).

        Errors the agent cannot fix propagate as ``RunStopped`` (budget, format error,
        LLM failure) or as exceptions (our bugs); the run session (``session.RunSession``) records them.
        """
        while True:
            if self.state.final_answer is not None:  # resumed after the step that gave it
                return RunStatus.FINAL_ANSWER, "The agent gave a Final Answer."
            step = self.state.next_step
            if step > self.config.max_steps:
                return RunStatus.STEP_LIMIT, f"Reached the step limit ({self.config.max_steps} steps)."
            left = self.env.time_left()
            if left is not None and left <= 0:
                return RunStatus.TIME_LIMIT, "Reached the wall-clock limit of the run."
            stop = self.run_step(step)
            if self.state.final_answer is not None:
                return RunStatus.FINAL_ANSWER, "The agent gave a Final Answer."
            if stop:
                return RunStatus.INTERRUPTED, "Stopped by the human (/stop)."

    def run_step(self, step: int) -> bool:
        """One full step. Returns True when the human asked to stop."""
        started, t0 = utc_now(), time.monotonic()
        set_step(self.models, step)
        progress.report("step", step=step, max_steps=self.config.max_steps, phase="thinking", action="")
        completion, parsed, prompt, attempts, errors, normalised, note = self._ask_model(step)
        progress.report("step", step=step, max_steps=self.config.max_steps, phase="acting", action=parsed.action)
        # The step ends (its one snapshot) once the research-log entry is written, so restoring
        # step N (resume) gives the workspace and research log exactly as the step record describes.
        observation = self.env.execute(parsed.action, parsed.action_input, step=step, end_step=False)
        full_text = f"{observation.text}\n\n{note}" if note else observation.text
        prompt_obs = self._observation_for_prompt(parsed.action, full_text)
        if observation.is_final:
            self.state.final_answer = str(parsed.action_input.get("final_answer", full_text))
        view = StepView(step, parsed.entries.get("Thought", ""), parsed.action, parsed.action_input, full_text)
        progress.report("step_done", view=view, max_steps=self.config.max_steps,
                        seconds=time.monotonic() - t0, usage=completion.usage, cost_usd=completion.cost_usd)
        waited = time.monotonic()
        result = self.feedback.after_step(view) if not observation.is_final else None
        human_wait_s = time.monotonic() - waited  # kept out of duration_s: the step's own time
        feedback_text = result.text if result else None
        if self.research_log is not None:
            self.research_log.add_step(step, parsed.entries.get("Thought", ""), parsed.action,
                                       parsed.action_input, prompt_obs, feedback_text)
        note = self.env.end_step(step)  # paths the snapshot had to leave out, said once
        if note:
            full_text, prompt_obs = f"{full_text}\n\n{note}", f"{prompt_obs}\n\n{note}"
        memory = StepMemory(step, parsed.entries, parsed.action, parsed.action_input, prompt_obs, feedback_text)
        self.state.history.append(memory)
        self.state.feedback = feedback_text
        self.recorder.write_step(StepRecord(
            step=step, timestamp=utc_now(), start_time=started,
            duration_s=round(time.monotonic() - t0 - human_wait_s, 3), human_wait_s=round(human_wait_s, 3),
            prompt=f"{self.system_prompt}\n\n{prompt}", response=completion.text, entries=parsed.entries,
            action=parsed.action, action_input=parsed.action_input,  # validated (guards.check_arguments)
            observation=prompt_obs, full_observation=full_text,
            full_observation_path=observation.full_text_path, exit_code=observation.exit_code,
            feedback=feedback_text, parse_attempts=attempts, parse_errors=errors, normalised=normalised,
            usage={"model": completion.model, **completion.usage.__dict__,
                   "cost_usd": completion.cost_usd, "latency_s": completion.latency_s},
        ))
        return bool(result and result.stop)

    # ---------------------------------------------------------------- prompt
    def build_prompt(self, shown: int | None = None) -> str:
        """The changing part of the prompt: the steps so far, the research log, feedback.

        ``full`` (MLAgentBench): the most recent steps with every entry (``shown_steps``, or
        ``shown`` when the prompt had to be shortened), older ones as one line. ``compact``
        (small models, which copy their own earlier entries): steps as action, input and
        observation only, the latest plan, and where the research stands (``next_move``); the
        research log is left out, since the one-line steps carry it."""
        compact = self.config.prompt_style == "compact"
        history = self.state.history
        k = self.shown_steps() if shown is None else shown
        recent = history[-k:] if k > 0 else []
        older = history[: len(history) - len(recent)]
        parts = []
        if older:
            parts.append("Earlier steps (with the key lines of their observations):")
            parts += [f"Step {m.step}: {m.action} {json.dumps(m.action_input, ensure_ascii=False)[:300]}"
                      f" -> {key_lines(m.observation)}" for m in older]
        for m in recent:
            body = "" if compact else "\n".join(f"{name}: {text}" for name, text in m.entries.items()
                                                if name not in ("Action", "Action Input")) + "\n"
            parts.append(f"Step {m.step}:\n{body}Action: {m.action}\n"
                         f"Action Input: {json.dumps(m.action_input, ensure_ascii=False)}\n"
                         f"Observation:\n```\n{m.observation}\n```")
            if m.feedback:
                parts.append(f"Human feedback after step {m.step}: {m.feedback}")
        if compact and history:
            plan = history[-1].entries.get("Research Plan and Status", "").strip()
            if plan:
                parts.append(f"Your plan after step {history[-1].step}: {plan}")
            config = self.config
            parts.append(where_we_are(history, config.first_change, config.goal, config.input_columns.names))
        history_text = ("Here are your previous steps:\n" + "\n\n".join(parts)) if parts else \
            "This is your first step: you know nothing about the files yet."
        feedback = (f"Latest human feedback (take it into account now): {self.state.feedback}"
                    if self.state.feedback else "")
        return render("agents.prompts", "experiment_step",
                      research_log="" if compact else self._research_log_text(),
                      history=history_text, feedback=feedback)

    def shown_steps(self) -> int:
        """How many recent steps the prompt shows in full: ``history_steps``, and with
        ``fold_steps`` > 1 up to ``fold_steps`` - 1 more, older steps folding into their one-line
        form that many at a time. A fold rewrites the prompt from the first folded step on, and
        a local model reads again everything after the first changed token (about 700 tokens,
        10-15 s on a 2-core CPU); folding in blocks keeps the start for several steps."""
        n, k = len(self.state.history), self.config.history_steps
        return n if n <= k else k + (n - k) % max(1, self.config.fold_steps)

    def _ask_model(self, step: int):
        """Ask the main model until the response is usable (bounded), shortening on overflow.

        Usable means: it parses, each argument has its declared type, and it does not repeat
        a recent action with the same input while the workspace is unchanged (the loop
        guard). Each failure is a parse attempt, not a step: the model is told what was
        wrong and asked again; a repeated action is also left out of the retry's grammar,
        and retries sample (``retry_temperature``) so a greedy model does not give the
        same answer twice."""
        shown = self.shown_steps()
        prompt = self.build_prompt(shown)
        messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": prompt}]
        errors: list[str] = []
        excluded: set[str] = set()
        refused = None  # the last answer, when it parsed but a guard asked again
        attempt = 0
        while attempt < self.config.max_parse_attempts:
            attempt += 1
            temperature = self.config.temperature if attempt == 1 else self.config.retry_temperature
            try:
                completion = self._call(self.models.main, messages, purpose="agent_step",
                                        response_spec=spec_without(self.spec, excluded),
                                        max_tokens=self.config.max_tokens, temperature=temperature)
            except LLMContextTooLongError:
                if shown == 0 and len(messages) == 2:
                    raise
                shown = max(0, shown - 1)
                logger.warning("Prompt too long for the model: keeping %d recent steps", shown)
                prompt = self.build_prompt(shown)
                messages = [messages[0], {"role": "user", "content": prompt}]
                attempt -= 1
                continue
            try:
                parsed = parse_response(completion.text, self.offered)
                normalised = check_arguments(parsed, self.offered)
                instead = self._run_instead(parsed)
                if instead is not None:
                    errors.append(instead.error)
                    return completion, instead.applied_to(parsed), prompt, attempt, errors, normalised, instead.note
                repeated = repeated_step(parsed.action, parsed.action_input, self.state.history,
                                         self.env.workspace_digest)
                unmeasured = self._unmeasured(parsed, excluded)
                if repeated is None and unmeasured is None:
                    return completion, parsed, prompt, attempt, errors, normalised, None
                refused = (completion, parsed, normalised)
                excluded.add(parsed.action)
                if unmeasured is not None:  # refused once per step: a second try is the model's call
                    error, correction, leave_out = unmeasured
                    errors.append(error)
                    excluded.update(leave_out)
                elif repeated.action_input != parsed.action_input:  # an edit that changed nothing, other numbers
                    errors.append(f"repeated edit: {parsed.action} as in step {repeated.step}, other numbers only")
                    correction = render("agents.prompts", "repeated_edit", action=parsed.action, step=repeated.step)
                else:
                    errors.append(f"repeated action: {parsed.action} with the input of step {repeated.step}")
                    correction = render("agents.prompts", "repeated_action", action=parsed.action,
                                        action_input=json.dumps(parsed.action_input, ensure_ascii=False)[:300],
                                        step=repeated.step, observation=repeated.observation[:600])
                logger.info("Step %d: %s asked again (attempt %d): %s", step, parsed.action, attempt, errors[-1])
            except FormatError as exc:
                refused = None
                errors.append(str(exc))
                logger.info("Step %d: response not parsed (attempt %d): %s", step, attempt, exc)
                correction = corrective_message(exc, self.offered)
            if self.config.prompt_style == "compact":
                # small models copy their own last answer when it stays in view: say what was
                # wrong in the prompt itself, which also keeps the prompt's cached prefix
                messages = [messages[0], {"role": "user", "content": f"{prompt}\n\n{correction}"}]
            else:
                messages = messages[:2] + [
                    {"role": "assistant", "content": completion.text},
                    {"role": "user", "content": correction},
                ]
        if refused is not None:
            # the model insists on an answer that parses (its retries are spent): running it
            # wastes at most this step, where stopping would end the whole run
            completion, parsed, normalised = refused
            errors.append(f"taken after {attempt} attempts: {parsed.action}")
            logger.warning("Step %d: the model insisted on %s; it is run", step, parsed.action)
            return completion, parsed, prompt, attempt, errors, normalised, None
        raise RunStopped(RunStatus.FORMAT_ERROR,
                         f"The model's response could not be parsed after {attempt} attempts at step {step}: "
                         f"{errors[-1] if errors else 'no response'}")

    def _unmeasured(self, parsed, excluded: set[str]) -> Refusal | None:
        if not self.config.measure_first or parsed.action in excluded:
            return None
        return unmeasured_refusal(parsed.action, parsed.action_input, self.state.history, self.config.goal)

    def _run_instead(self, parsed) -> RunInstead | None:
        starter = self.config.main_script if self.config.starter_code is not None else None
        return run_instead(parsed.action, parsed.action_input, self.state.history, starter) \
            if self.config.measure_first else None

    def _call(self, llm, messages, *, purpose: str, max_tokens: int,
              response_spec: ResponseSpec | None = None, temperature: float | None = None) -> Completion:
        temperature = self.config.temperature if temperature is None else temperature
        completion = llm.complete(messages, max_tokens=max_tokens, temperature=temperature,
                                  response_spec=response_spec, purpose=purpose)
        self.state.usage = self.state.usage + completion.usage
        self.state.cost_usd += completion.cost_usd or 0.0  # None: price unknown (the budget counts it)
        self.state.llm_calls += 1
        return completion

    # -------------------------------------------------- summaries (no steps)
    def _observation_for_prompt(self, action: str, text: str) -> str:
        limit = self.config.observation_prompt_chars
        if len(text) <= limit:
            return text
        if action == "Execute Script":  # exact, and keeps the exception and the exit code
            return script_output_excerpt(text, limit)
        blocks = [text[i:i + SUMMARY_BLOCK_CHARS] for i in range(0, len(text), SUMMARY_BLOCK_CHARS)]
        summaries = []
        for i, block in enumerate(blocks, 1):
            prompt = render("agents.prompts", "summarize_observation", part=i, parts=len(blocks),
                            action=action, text=block)
            summaries.append(self._ask_fast(prompt, "summarize_observation", 400))
        joined = "\n".join(summaries)
        return f"[The observation was {len(text)} characters long; summary:]\n{joined[:limit]}"

    def _ask_fast(self, prompt: str, purpose: str, max_tokens: int) -> str:
        """The fast model's answer to one prompt, counted like every call of the agent."""
        return self._call(self.models.fast, [{"role": "user", "content": prompt}],
                          purpose=purpose, max_tokens=max_tokens).text.strip()

    def _research_log_text(self) -> str:
        if self.research_log is None or not self.state.history:
            return ""
        return self.research_log.for_prompt()
