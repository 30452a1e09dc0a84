"""The IdeaAgent: from a research paper to a research problem, hypothesis and experiment plan.

Stages, each its own prompt template (``prompts/idea_*.txt``) and LLM call, each answer
parsed into labelled fields and retried with a corrective message when fields are missing:

1. understanding: research tasks, research gaps, keywords;
2. related work: recent papers by keyword (Semantic Scholar, then OpenAlex), summarised;
3. research problem with rationale;
4. hypothesis: the proposed method with rationale (``ideas`` candidates, each different);
5. experiment plan with rationale, grounded in ``workspaces/NAME/`` when it exists;
6. review: 1-5 scores for clarity, validity, rigor, feasibility and novelty; candidates ranked.

A person reviews stages 3-5 (``idea_review``). Everything goes to ``idea_log.jsonl``;
the result to ``problems/NAME`` and ``problems/NAME.idea.json`` (``idea_output``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ConfigError, IdeaFormatError, LLMContextTooLongError, ReviewQuit, RunStopped
from ..llm.base import LLM, Models, Usage, stable
from ..logs import JsonlWriter, utc_now
from ..records import SCHEMA_VERSION, RunDir, RunStatus, create_run_dir, idea_json_path
from ..records.schema import (IDEA_ATTEMPT, IDEA_END, IDEA_PAPER, IDEA_PAPER_TOO_LONG, IDEA_PROTOTYPE, IDEA_RANKING,
                              IDEA_RELATED_WORK, IDEA_STAGE, IDEA_START)
from ..paper import PaperDigest, digest_paper, load_paper
from ..related_work import format_papers, search_related
from ..templates import render
from .idea_fields import LIST, SCORE, Field, format_fields, format_template, parse_fields
from .idea_prototype import PrototypeOutcome, PrototypeRequest, gather_prototype
from .idea_output import (Candidate, IdeaRecord, PaperInfo, existing_task_statement, problem_variants,
                          write_outputs)
from .idea_review import ACCEPT, EDIT, QUIT, Decision, ReviewPolicy
from .idea_workspace import describe_workspace

logger = logging.getLogger(__name__)

STAGE_FIELDS: dict[str, tuple[Field, ...]] = {
    "understanding": (Field("Research Tasks", LIST), Field("Research Gaps", LIST), Field("Keywords", LIST)),
    "related_work": (Field("Summary"), Field("Opportunities", LIST)),
    "problem": (Field("Research Problem"), Field("Rationale")),
    "hypothesis": (Field("Hypothesis"), Field("Rationale")),
    "plan": (Field("Datasets", LIST), Field("Baselines", LIST), Field("Metrics", LIST),
             Field("Files to Change", LIST), Field("Steps", LIST), Field("Rationale")),
    "review": tuple(Field(name, SCORE) for name in ("Clarity", "Validity", "Rigor", "Feasibility", "Novelty")),
}
STAGE_TITLES = {"problem": "Research problem", "hypothesis": "Hypothesis", "plan": "Experiment plan"}
PAPER_STAGES = ("understanding",)  # stages whose prompt holds the paper text
MAX_TOKENS = {"understanding": 500, "related_work": 400, "problem": 400, "hypothesis": 400,
              "plan": 700, "review": 400}
DEFAULT_MAX_ATTEMPTS = 3  # answers per stage call before the stage fails with format_error
RETRY_TEMPERATURE = 0.4  # corrective retries sample a little, so they can differ from the first answer
DEFAULT_PAPER_CHARS = 16_000  # paper text shown to a model whose context size is unknown
CHARS_PER_TOKEN = 3.5
PROMPT_RESERVE_TOKENS = 1_600  # template, workspace excerpt and the answer, around the paper
PAPER_SHRINKS = 2  # times the paper budget is halved when the model says the prompt is too long


@dataclass
class IdeaResult:
    problem_path: Path
    idea_path: Path
    run_dir: Path
    log_path: Path
    record: IdeaRecord
    usage: Usage
    llm_calls: int


def paper_budget_chars(llm: LLM, default: int = DEFAULT_PAPER_CHARS) -> int:
    """How much paper text fits the model: from its context size (``n_ctx``) when the backend says."""
    ctx = None
    for obj in (llm, getattr(llm, "backend", None)):  # a backend, or an LLMClient wrapping one
        ctx = ctx or getattr(obj, "context_tokens", None) or getattr(obj, "n_ctx", None)
    if isinstance(ctx, int) and ctx > 0:
        return max(1_500, min(default, int((ctx - PROMPT_RESERVE_TOKENS) * CHARS_PER_TOKEN)))
    return default


class IdeaAgent:
    """Runs the stages; one instance per idea generation."""

    def __init__(self, models: Models, log: JsonlWriter, review: ReviewPolicy, *,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, temperature: float = 0.0):
        self.models = models
        self.log = log
        self.review = review
        self.max_attempts = max(1, max_attempts)
        self.temperature = temperature
        self.decisions: list[dict[str, Any]] = []
        self.usage = Usage()
        self.calls = 0
        self.system = render("agents.prompts", "idea_system")

    def _record(self, type_: str, **data: Any) -> None:
        self.log.write({"type": type_, "timestamp": utc_now(), **data})

    def on_condense(self, call: dict) -> None:
        self.calls += 1
        self.usage = self.usage + call["usage"]
        self._record(IDEA_ATTEMPT, stage="condense", **call)

    # -- one LLM call with validation and corrective retries ------------------------------

    def ask(self, stage: str, prompt: str, *, candidate: int | None = None) -> dict[str, Any]:
        fields = STAGE_FIELDS[stage]
        # The paper prompt is marked stable: a corrective retry re-sends it, and a provider
        # prompt cache then serves it (see llm/prompt_cache.py).
        user = {"role": "user", "content": prompt}
        messages = [{"role": "system", "content": self.system}, stable(user) if stage in PAPER_STAGES else user]
        problems: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            # a retry at temperature 0 tends to repeat the same answer word for word
            temperature = self.temperature if attempt == 1 else max(self.temperature, RETRY_TEMPERATURE)
            completion = self.models.main.complete(messages, max_tokens=MAX_TOKENS[stage],
                                                   temperature=temperature, purpose=f"idea_{stage}")
            self.calls += 1
            self.usage = self.usage + completion.usage
            parsed = parse_fields(completion.text, fields)
            self._record(IDEA_ATTEMPT, stage=stage, candidate=candidate, attempt=attempt,
                         prompt=messages[-1]["content"], messages=len(messages), output=completion.text,
                         fields=parsed.values, missing=parsed.missing, model=completion.model,
                         usage=completion.usage, latency_s=completion.latency_s, cost_usd=completion.cost_usd)
            if parsed.ok:
                return parsed.values
            problems = parsed.problems
            logger.info("idea %s: attempt %d missed %s", stage, attempt, ", ".join(parsed.missing))
            messages += [{"role": "assistant", "content": completion.text},
                         {"role": "user", "content": render("agents.prompts", "idea_fix", problems="; ".join(problems),
                                                            format=format_template(fields))}]
        self._record(IDEA_STAGE, stage=stage, candidate=candidate, status="format_error", problems=problems)
        raise IdeaFormatError(stage, problems, self.max_attempts)

    def stage(self, stage: str, build: Callable[[str], str], *, candidate: int | None = None,
              reviewed: bool = False) -> dict[str, Any]:
        """Ask, then (for reviewed stages) let the person accept, edit, regenerate or quit."""
        fields = STAGE_FIELDS[stage]
        feedback_block, regenerations = "", 0
        while True:
            values = self.ask(stage, build(feedback_block), candidate=candidate)
            if not reviewed:
                self._record(IDEA_STAGE, stage=stage, candidate=candidate, status="ok", fields=values,
                             decision={"action": ACCEPT, "auto": True, "reviewed": False})
                return values
            title = STAGE_TITLES[stage] + (f" (candidate {candidate + 1})" if candidate is not None else "")
            decision: Decision = self.review.review(stage, fields, values, title=title,
                                                    regenerations=regenerations)
            self.decisions.append({"stage": stage, "candidate": candidate, "timestamp": utc_now(),
                                   **decision.to_dict()})
            final = decision.values if decision.action == EDIT else values
            self._record(IDEA_STAGE, stage=stage, candidate=candidate, status="ok", fields=values,
                         decision=decision.to_dict(), final_fields=final)
            if decision.action == QUIT:
                raise ReviewQuit(stage, decision.feedback or "the reviewer chose to quit")
            if decision.action in (ACCEPT, EDIT):
                return final
            regenerations += 1
            feedback_block = render("agents.prompts", "idea_feedback", previous=format_fields(values, fields),
                                    feedback=decision.feedback)


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {i}" for i in items)


def _check_name(name: str, what: str) -> str:
    if not name or name != Path(name).name or name.startswith(".") or "/" in name or "\\" in name:
        raise ConfigError(f"{what} {name!r} must be a plain name (letters, digits, '-', '_'), not a path")
    return name


def generate_idea(paper: str, task: str, models: Models, *, problems_dir: str | Path = "problems",
                  workspaces_dir: str | Path = "workspaces", log_root: str | Path = "logs",
                  run_dir: str | Path | None = None, ideas: int = 1, review: ReviewPolicy | None = None,
                  online: bool = True, force: bool = False, problem_name: str | None = None,
                  s2_base_url: str | None = None, openalex_base_url: str | None = None,
                  arxiv_base_url: str | None = None, max_paper_chars: int | None = None,
                  max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                  prototype: PrototypeRequest | None = None) -> IdeaResult:
    """Turn ``paper`` into ``problems/<problem_name or task>`` (+ ``.idea.json``) for ``task``.

    ``run_dir``: where ``idea_log.jsonl`` goes (the pipeline passes the experiment's run
    directory); by default a new ``log_root/task/<timestamp>``. Raises ``ConfigError`` for
    bad input (existing problem without ``force``, unreadable paper), ``ReviewQuit`` when the
    reviewer quits, ``IdeaFormatError`` when a stage never yields its fields. ``prototype``:
    find the paper's code and bring it into ``workspaces/<task>/prototype/`` (``idea_prototype``).
    """
    task = _check_name(task, "task name")
    name = _check_name(problem_name or task, "problem name")
    if not 1 <= ideas <= 10:
        raise ConfigError(f"--ideas must be between 1 and 10, not {ideas}")
    review = review or ReviewPolicy.auto()
    problem_path = Path(problems_dir) / name
    existing = [p for p in problem_variants(problem_path) + [idea_json_path(problem_path)] if p.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} already exists; pass --force to replace it, or "
                          "--problem-name NAME (mlr-copilot idea) to write a new problem beside it")
    task_statement = existing_task_statement(problem_path)
    source = load_paper(paper, online=online, arxiv_base_url=arxiv_base_url)
    run_dir = Path(run_dir) if run_dir is not None else create_run_dir(Path(log_root), task)
    log_path = RunDir(run_dir).idea_log
    log = JsonlWriter(log_path)
    agent = IdeaAgent(models, log, review, max_attempts=max_attempts)
    proto = (gather_prototype(prototype, source, Path(workspaces_dir) / task, online=online)
             if prototype is not None else None)
    ws = describe_workspace(Path(workspaces_dir) / task, task, task_root=Path(problems_dir).parent)
    agent._record(IDEA_START, schema_version=SCHEMA_VERSION, task=task, problem_name=name, paper=paper,
                  ideas=ideas, online=online, force=force, interactive=review.interactive,
                  models={"main": models.main.model, "fast": models.fast.model},
                  workspace=ws.files, paper_info=source.summary())
    if proto is not None:
        agent._record(IDEA_PROTOTYPE, **proto.record)
    try:
        return _run(agent, source, task, name, ideas, ws, task_statement, problem_path, run_dir, log_path,
                    online=online, proto=proto, s2_base_url=s2_base_url, openalex_base_url=openalex_base_url,
                    max_paper_chars=max_paper_chars or paper_budget_chars(models.main))
    except RunStopped as exc:
        agent._record(IDEA_END, status=exc.status, message=str(exc), llm_calls=agent.calls, usage=agent.usage)
        raise
    except BaseException as exc:
        status = RunStatus.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else RunStatus.ERROR
        agent._record(IDEA_END, status=status,
                      message=f"{type(exc).__name__}: {exc}", llm_calls=agent.calls, usage=agent.usage)
        raise


def _run(agent: IdeaAgent, source, task: str, name: str, ideas: int, ws, task_statement: str,
         problem_path: Path, run_dir: Path, log_path: Path, *, online: bool, s2_base_url: str | None,
         openalex_base_url: str | None, max_paper_chars: int,
         proto: PrototypeOutcome | None = None) -> IdeaResult:
    fmt = {s: format_template(f) for s, f in STAGE_FIELDS.items()}
    # 1. understanding; a model that finds the paper too long gets it condensed harder
    budget = max_paper_chars
    for shrink in range(PAPER_SHRINKS + 1):
        try:
            digest: PaperDigest = digest_paper(source, agent.models.fast, budget, on_call=agent.on_condense)
            agent._record(IDEA_PAPER, title=source.title, chars=digest.original_chars, prompt_chars=len(digest.text),
                          budget_chars=budget, condensed_sections=digest.condensed_sections,
                          truncated_sections=digest.truncated_sections)
            und = agent.stage("understanding", lambda fb: render(
                "agents.prompts", "idea_understanding", paper=digest.text, format=fmt["understanding"]))
            break
        except LLMContextTooLongError as exc:
            if shrink == PAPER_SHRINKS or budget <= 1_500:
                raise
            budget = max(1_500, budget // 2)
            agent._record(IDEA_PAPER_TOO_LONG, message=str(exc), new_budget_chars=budget)
            logger.info("paper too long for the model; condensing to %d characters", budget)

    # 2. related work
    found = search_related(und["keywords"], online=online, s2_base_url=s2_base_url,
                           openalex_base_url=openalex_base_url)
    related = found.to_dict() | {"summary": "", "opportunities": []}
    agent._record(IDEA_RELATED_WORK, **found.to_dict())
    if found.papers:
        rw = agent.stage("related_work", lambda fb: render(
            "agents.prompts", "idea_related_work", title=source.title, tasks=_bullets(und["research_tasks"]),
            papers=format_papers(found.papers), format=fmt["related_work"]))
        related.update(rw)
    else:
        agent._record(IDEA_STAGE, stage="related_work", status="skipped", notes=found.notes,
                      decision={"action": ACCEPT, "auto": True, "reviewed": False})
    related_block = ""
    if related["summary"]:
        related_block = (f"\nRelated recent work: {related['summary']}\nOpen directions:\n"
                         f"{_bullets(related['opportunities'])}\n")
    abstract = source.abstract or digest.text[:1200]

    # 3. research problem (reviewed)
    problem = agent.stage("problem", lambda fb: render(
        "agents.prompts", "idea_problem", title=source.title, abstract=abstract,
        tasks=_bullets(und["research_tasks"]), gaps=_bullets(und["research_gaps"]), related=related_block,
        task_context=ws.brief(task_statement), feedback=fb, format=fmt["problem"]), reviewed=True)

    # 4-5. candidates: hypothesis then plan, each reviewed
    drafts: list[tuple[dict, dict]] = []
    for i in range(ideas):
        previous = ""
        if drafts:
            previous = ("\nHypotheses already proposed (propose a clearly different one):\n"
                        + "\n".join(f"{k}. {h['hypothesis']}" for k, (h, _) in enumerate(drafts, 1)) + "\n")
        hyp = agent.stage("hypothesis", lambda fb: render(
            "agents.prompts", "idea_hypothesis", problem=problem["research_problem"], title=source.title,
            abstract=abstract, task_context=ws.brief(task_statement), previous=previous, feedback=fb,
            format=fmt["hypothesis"]),
            candidate=i, reviewed=True)
        plan = agent.stage("plan", lambda fb: render(
            "agents.prompts", "idea_plan", problem=problem["research_problem"], hypothesis=hyp["hypothesis"],
            workspace=ws.grounding(task_statement) + (f"\n{proto.brief}\n" if proto else ""), feedback=fb, format=fmt["plan"]), candidate=i, reviewed=True)
        drafts.append((hyp, plan))

    # 6. review and ranking
    scored = []
    for i, (hyp, plan) in enumerate(drafts):
        try:
            scores = agent.stage("review", lambda fb: render(
                "agents.prompts", "idea_review", problem=problem["research_problem"], hypothesis=hyp["hypothesis"],
                plan=format_fields(plan, STAGE_FIELDS["plan"]), format=fmt["review"]), candidate=i)
            scored.append((i, hyp, plan, scores, sum(s["score"] for s in scores.values()), ""))
        except IdeaFormatError as exc:
            # The reviewed problem, hypothesis and plan are worth keeping: the candidate stays,
            # unscored and ranked last, and idea.json says why.
            logger.warning("candidate %d left unscored: %s", i + 1, exc)
            scored.append((i, hyp, plan, None, None, str(exc)))
    ranking = sorted(scored, key=lambda c: (c[4] is None, -(c[4] or 0), c[0]))
    ranks = {c[0]: r for r, c in enumerate(ranking, 1)}
    candidates = [Candidate(index=i, hypothesis=hyp, plan=plan, review=scores, total_score=total, rank=ranks[i],
                            review_error=error)
                  for i, hyp, plan, scores, total, error in scored]
    agent._record(IDEA_RANKING, order=[c[0] for c in ranking], totals={c[0]: c[4] for c in ranking})

    record = IdeaRecord(
        task=task, problem_name=name, created=utc_now(),
        source_paper=PaperInfo(source=source.source, kind=source.kind, title=source.title, abstract=source.abstract,
                               sections=[s.heading for s in source.sections], chars=digest.original_chars,
                               condensed_sections=digest.condensed_sections,
                               truncated_sections=digest.truncated_sections),
        understanding=und, related_work=related, problem=problem, candidates=candidates,
        selected=ranking[0][0], decisions=agent.decisions,
        models={"main": agent.models.main.model, "fast": agent.models.fast.model},
        run_dir=str(run_dir), workspace_files=ws.files, task_statement=task_statement,
        task_info=ws.task_info, prototype=proto.record if proto else {},
        prototype_brief=proto.brief if proto else "")
    idea_path = write_outputs(record, problem_path, saves_submission=ws.saves_submission)
    agent._record(IDEA_END, status="done", problem_path=str(problem_path), idea_path=str(idea_path),
                  selected=record.selected, llm_calls=agent.calls, usage=agent.usage)
    logger.info("idea for %s written to %s", task, problem_path)
    return IdeaResult(problem_path=problem_path, idea_path=idea_path, run_dir=run_dir, log_path=log_path,
                      record=record, usage=agent.usage, llm_calls=agent.calls)
