"""The typed records of a run's logs: their names, fields and schema version.

Writers build these types and readers parse them with the same classes, so a field cannot
be written under one name and read under another. Readers are tolerant of older records:
a field added later reads as its default, an unknown field is kept (``extra``) and written
back untouched. A log of a newer schema version than this code knows is refused with
a message, never misread.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Iterable, Mapping

from ..errors import NewerSchemaError, RunRecordError

SCHEMA_VERSION = 1
"""Version of every JSON record a run writes; bumped when a reader could misread older ones."""

# Record types ("type" of a JSONL line).
RUN_START, STEP, RUN_END, RESUME = "run_start", "step", "run_end", "resume"
TRACE_START, ACTION = "trace_start", "action"
LLM_CALL = "llm_call"
IDEA_START, IDEA_ATTEMPT, IDEA_END = "idea_start", "idea_attempt", "idea_end"
# idea_log.jsonl between its start and end: a stage's outcome, the paper as the prompt holds it,
# a prompt too long for the model, related work found, the prototype gathered, the ranking
IDEA_STAGE, IDEA_PAPER, IDEA_PAPER_TOO_LONG = "stage", "paper", "paper_too_long"
IDEA_RELATED_WORK, IDEA_PROTOTYPE, IDEA_RANKING = "related_work", "prototype", "ranking"
LEGACY_IDEA_ATTEMPT = "llm_call"  # an idea log's attempt record before it had its own name


def check_schema(data: Mapping[str, Any], source: object) -> None:
    """Refuse a record of a newer schema than this code reads (an older one is read as is)."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RunRecordError(source, f"schema_version {version!r} is not a version this mlr-copilot knows")
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(source, f"written with schema version {version}, newer than this mlr-copilot "
                                     f"reads ({SCHEMA_VERSION}): upgrade mlr-copilot to read it")


class RunStatus(enum.StrEnum):
    """How a run stands or ended (run.json ``status``); a str, so JSON and comparisons see the value."""

    RUNNING = "running"              # going, or killed (nothing recorded its end)
    FINAL_ANSWER = "final_answer"
    STEP_LIMIT = "step_limit"
    TIME_LIMIT = "time_limit"
    BUDGET = "budget"                # --max-cost or --max-llm-calls reached
    FORMAT_ERROR = "format_error"    # the model's answers could not be used
    INTERRUPTED = "interrupted"      # Ctrl-C, or the human said stop
    LLM_ERROR = "llm_error"
    ERROR = "error"
    IMPORTED = "imported"            # an original MLR-Copilot log converted by import-log

    @property
    def finished(self) -> bool:
        """Ended on its own terms: nothing left to resume."""
        return self in _FINISHED

    @property
    def completed(self) -> bool:
        """Ended as a run should (an answer, or a limit the user set on steps or time): exit 0."""
        return self in (RunStatus.FINAL_ANSWER, RunStatus.STEP_LIMIT, RunStatus.TIME_LIMIT)

    @classmethod
    def parse(cls, value: Any) -> "RunStatus | None":
        """The status named ``value``; None when it is not one (a damaged or foreign run.json)."""
        try:
            return cls(value)
        except ValueError:
            return None


_FINISHED = frozenset({RunStatus.FINAL_ANSWER, RunStatus.STEP_LIMIT, RunStatus.TIME_LIMIT,
                       RunStatus.BUDGET, RunStatus.FORMAT_ERROR})
END_STATUSES = tuple(s for s in RunStatus if s not in (RunStatus.RUNNING, RunStatus.IMPORTED))
"""Statuses a run can end with (``RunRecorder.finish``)."""


class _Record:
    """Shared by the record dataclasses: ``to_dict`` in field order, ``extra`` after;
    ``from_dict`` tolerant of missing fields (older records) and unknown ones (kept)."""

    TYPE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name != "extra":
                out[f.name] = getattr(self, f.name)
        return {**out, **self.extra}  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        names = {f.name for f in fields(cls) if f.name != "extra"}  # type: ignore[arg-type]
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "type"}
        return cls(**known, extra=extra)  # type: ignore[call-arg]

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys every record of this type has, in the order written."""
        return ("type", *(f.name for f in fields(cls) if f.name != "extra"))  # type: ignore[arg-type]


@dataclass
class StepRecord(_Record):
    """One agent step in ``full_log.jsonl``. ``action_input`` holds the arguments the action
    ran with: validated against its declaration, with the repairs listed in ``normalised``.
    ``extra`` carries what a strategy adds (the tree's ``node``) and the step's ``llm`` figures."""

    TYPE: ClassVar[str] = STEP
    step: int = 0
    timestamp: str | None = None
    start_time: str | None = None
    duration_s: float | None = None
    human_wait_s: float | None = None
    prompt: str = ""
    response: str = ""
    entries: dict[str, Any] = field(default_factory=dict)
    action: str = ""
    action_input: dict[str, Any] = field(default_factory=dict)
    observation: str = ""
    full_observation: str = ""
    full_observation_path: str | None = None
    exit_code: int | None = None
    feedback: str | None = None
    parse_attempts: int = 1
    parse_errors: list[str] = field(default_factory=list)
    normalised: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


STEP_KEYS = StepRecord.keys()


@dataclass
class ActionRecord(_Record):
    """One action in the environment's ``trace.jsonl`` (agent and bookkeeping actions alike)."""

    TYPE: ClassVar[str] = ACTION
    step: int = 0
    timestamp: str | None = None
    action: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    observation: str = ""
    ok: bool = True
    is_final: bool = False
    internal: bool = False
    duration_s: float = 0.0
    exit_code: int | None = None
    full_text_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LLMCallRecord(_Record):
    """One logical model call in ``llm_calls.jsonl`` (retries included), with its answer or error."""

    TYPE: ClassVar[str] = LLM_CALL
    timestamp: str | None = None
    step: int | None = None
    call: int = 0
    role: str = "main"
    purpose: str = "agent"
    model: str = ""
    backend: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    messages_sha256: str = ""
    response_model: str | None = None
    completion: str | None = None
    stop_reason: str | None = None
    usage: dict[str, int] | None = None
    latency_s: float | None = None
    cost_usd: float | None = None
    cached: bool = False
    error: str | None = None
    error_type: str | None = None
    attempts: int = 0
    elapsed_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def llm_calls(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The call records of a call log (older logs wrote some without a type), markers left out."""
    return [dict(r) for r in records if r.get("type", LLM_CALL) == LLM_CALL]


def idea_attempts(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The attempt records of an idea log (one per model answer to a stage), older logs included."""
    return [{**r, "type": IDEA_ATTEMPT} for r in records
            if r.get("type") == IDEA_ATTEMPT or (r.get("type") == LEGACY_IDEA_ATTEMPT and "stage" in r)]


def usage_figures(usage: Any, cost_usd: float, unpriced_calls: int = 0) -> dict[str, Any]:
    """Token and cost figures as records carry them (run.json totals, budget, step ``llm``).

    ``cost_usd`` is None (unknown) when any call had no known price, never a partial sum
    shown as the cost; ``priced_cost_usd`` keeps the known part. ``cache_read_share`` is
    the share of input tokens served from a provider prompt cache (None without input).
    """
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens, "cache_write_tokens": usage.cache_write_tokens,
            "cache_read_share": (round(usage.cached_tokens / usage.input_tokens, 4)
                                 if usage.input_tokens else None),
            "cost_usd": None if unpriced_calls else round(cost_usd, 6),
            "priced_cost_usd": round(cost_usd, 6), "unpriced_calls": unpriced_calls}
