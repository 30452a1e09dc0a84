"""``problems/NAME.idea.json``: the idea the IdeaAgent chose, typed and versioned.

``IdeaRecord`` is the file's one reader and writer: the IdeaAgent writes it, ``idea`` and
``run`` read the task's own statement back from it, and hypothesis verdicts are appended to
it (``hypothesis.py``). It is validated on write and on read; ``read`` refuses a file of a
newer schema version with a message (``check_schema``), and fields it does not know are
kept and written back untouched. The file sits beside the problem text it belongs to
(``idea_json_path``).

Built on pydantic, so it is imported where an idea is read or written, not by
``records/__init__`` (the CLI starts without it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigError
from ..logs import write_json_atomic
from .schema import SCHEMA_VERSION, check_schema


class PaperInfo(BaseModel):
    source: str
    kind: str = "text"
    title: str = ""
    abstract: str = ""
    sections: list[str] = []
    chars: int = 0
    condensed_sections: list[str] = []
    truncated_sections: list[str] = []


class Understanding(BaseModel):
    research_tasks: list[str] = Field(min_length=1)
    research_gaps: list[str] = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)


class RelatedPaperModel(BaseModel):
    title: str
    abstract: str = ""
    year: Optional[int] = None
    authors: list[str] = []
    url: str = ""
    venue: str = ""
    source: str = ""
    keyword: str = ""


class RelatedWork(BaseModel):
    papers: list[RelatedPaperModel] = []
    source: Optional[str] = None
    notes: list[str] = []
    queries: list[str] = []
    summary: str = ""
    opportunities: list[str] = []


class Problem(BaseModel):
    research_problem: str = Field(min_length=1)
    rationale: str = Field(min_length=1)


class Hypothesis(BaseModel):
    hypothesis: str = Field(min_length=1)
    rationale: str = Field(min_length=1)


class Plan(BaseModel):
    datasets: list[str] = Field(min_length=1)
    baselines: list[str] = Field(min_length=1)
    metrics: list[str] = Field(min_length=1)
    files_to_change: list[str] = Field(min_length=1)
    steps: list[str] = Field(min_length=1)
    rationale: str = Field(min_length=1)
    acceptance_criterion: str = ""  # e.g. "accuracy improves by at least 2 points"; judged by hypothesis.py


class Score(BaseModel):
    score: int = Field(ge=1, le=5)
    justification: str = ""


class Review(BaseModel):
    clarity: Score
    validity: Score
    rigor: Score
    feasibility: Score
    novelty: Score

    @property
    def total(self) -> int:
        return sum(s.score for s in (self.clarity, self.validity, self.rigor, self.feasibility, self.novelty))


class Candidate(BaseModel):
    index: int
    hypothesis: Hypothesis
    plan: Plan
    review: Optional[Review] = None  # None: the review stage gave no usable scores (review_error says why)
    total_score: Optional[int] = None
    rank: int
    review_error: str = ""


class DecisionRecord(BaseModel):
    stage: str
    candidate: Optional[int] = None
    action: str
    feedback: str = ""
    auto: bool = False
    timestamp: str = ""

    @field_validator("action")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ("accept", "edit", "regenerate", "quit"):
            raise ValueError(f"unknown decision {v!r}")
        return v


class IdeaRecord(BaseModel):
    model_config = ConfigDict(extra="allow")  # a field this version does not know round-trips

    schema_version: int = SCHEMA_VERSION
    task: str
    problem_name: str
    created: str
    source_paper: PaperInfo
    understanding: Understanding
    related_work: RelatedWork
    problem: Problem
    candidates: list[Candidate] = Field(min_length=1)
    selected: int  # index of the chosen candidate (the best ranked)
    decisions: list[DecisionRecord] = []
    models: dict[str, str] = {}
    run_dir: str = ""
    workspace_files: list[str] = []
    task_statement: str = ""  # the task's own problem text, kept under "What to deliver"
    task_info: dict[str, Any] = {}  # metric, direction, submission, read_only from tasks/NAME/
    prototype: dict[str, Any] = {}  # idea --prototype: artefacts found, what was retrieved or skipped
    prototype_brief: str = ""  # its section of the problem text
    results: list[dict[str, Any]] = []  # hypothesis verdicts on graded runs (hypothesis.py)

    @field_validator("selected")
    @classmethod
    def _selected_exists(cls, v: int, info) -> int:
        indices = {c.index for c in info.data.get("candidates", [])}
        if indices and v not in indices:
            raise ValueError(f"selected candidate {v} is not among the candidates {sorted(indices)}")
        return v

    def best(self) -> Candidate:
        return next(c for c in self.candidates if c.index == self.selected)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "IdeaRecord":
        """Read and validate an idea file; a ConfigError saying why it cannot be used (missing,
        not JSON, not an idea record, or a newer schema: ``NewerSchemaError``)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no idea file at {p}") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{p} is not a valid idea file: {exc}") from exc
        if isinstance(data, dict):
            check_schema(data, p)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{p} is not a valid idea file: {exc}") from exc

    def write(self, path: str | os.PathLike) -> "IdeaRecord":
        """Validate, then replace the file atomically (readers never see half of it); returns
        the record as validated (what the file now holds)."""
        checked = type(self).model_validate(self.model_dump())
        write_json_atomic(path, checked.model_dump(mode="json"))
        return checked
