"""The numbers an agent claims, read deterministically from its text.

A *claim* is a number in the Final Answer (or in a "confirmed" line of the Research Plan
and Status) that states a result: it has a decimal point or a percent sign, or a metric
word names it ("RMSE of 51"). Settings are not claims: a number named by a setting word
("learning rate 0.001", "10 epochs", "batch size 64") or an integer with no metric word is
skipped. Each claim gets:

- ``metric``: the canonical metric named next to it ("93% accuracy", "RMSE of 51.2"), or
  the nearest word before it when that is no known metric; None when nothing names it;
- ``kind``: ``improvement`` when it states a change ("improved accuracy by 9.4%", "a 2-point
  gain", "+0.08"), else ``value``;
- ``quantum``: the precision it was printed with (0.93 → 0.01), used by ``verify``.

No LLM decides anything here; ``verify`` matches the claims against the measurements ledger.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy", "acc"), "mcrmse": ("mcrmse",),
    "rmse": ("rmse", "root mean squared error", "root mean square error", "root-mean-square error"),
    "mse": ("mse", "mean squared error", "mean square error"), "mae": ("mae", "mean absolute error"),
    "smape": ("smape",), "f1": ("f1", "f1-score", "f1 score"), "auc": ("auc", "roc-auc", "auroc"),
    "precision": ("precision",), "recall": ("recall",), "r2": ("r2", "r^2", "r²", "r-squared"),
    "perplexity": ("perplexity", "ppl"), "bleu": ("bleu",), "rouge": ("rouge",), "loss": ("loss",),
    "error": ("error rate", "error"), "score": ("score",),
}
_ALIAS_TO_METRIC = {a: m for m, aliases in METRIC_ALIASES.items() for a in aliases}
_ALIAS_ALT = "|".join(re.escape(a) for a in sorted(_ALIAS_TO_METRIC, key=len, reverse=True))
_METRIC_RE = re.compile(r"(?<![a-z0-9])(" + _ALIAS_ALT + r")(?![a-z0-9])", re.I)
_SETTING_RE = re.compile(
    r"(?<![a-z])(learning[ _-]rate|lr|epochs?|steps?|batch(?:[ _-]size)?|dropout|seed|layers?|hidden|"
    r"estimators|n_estimators|trees|max[ _-]depth|depth|folds?|weight[ _-]decay|momentum|temperature|"
    r"warmup|patience|iterations?|iters?|version|rank|alpha|lambda|gamma|kernel|units|neurons|heads|"
    r"k|n|c|dim(?:ension)?s?|size|line|row|column|split|ratio|threshold|top)(?![a-z])", re.I)
_UNIT_AFTER = re.compile(
    r"^\s*(?:epochs?|steps?|layers?|samples|examples|features|images|rows|columns|parameters|params|"
    r"seconds?|secs?|s|ms|minutes?|mins?|hours?|h|gb|mb|kb|iterations?|trees|estimators|folds?|tokens|"
    r"characters|words|lines|files|times|x|classes|neurons|units|heads|dimensions?|bits?|hz|cores?|gpus?)\b",
    re.I)
_NUMBER = re.compile(
    r"(?<![\w.\-/])(?P<sign>[-+\u2212])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\.\d+|\d+)"
    r"(?:[eE](?P<exp>[-+]?\d+))?(?P<pct>\s?(?:%|percent\b))?(?![\w/]|\.\d|,\d{3})")
_CHANGE_BY = re.compile(
    r"(?:improv\w*|increas\w*|gain\w*|boost\w*|reduc\w*|decreas\w*|lower\w*|rais\w*|drop\w*|cut|"
    r"outperform\w*|beat\w*|better|fell|rose|went (?:up|down))\b[^.;\n]{0,50}?\bby\s*"
    r"(?:about|approximately|roughly|around|nearly|almost|~|\u2248)?\s*$", re.I)
_CHANGE_OF = re.compile(r"(?:improvement|gain|increase|reduction|decrease|drop|boost|uplift)\s+of\s*"
                        r"(?:about|approximately|roughly|around|~|\u2248)?\s*$", re.I)
_CHANGE_AFTER = re.compile(
    r"^\s*(?P<unit>percentage[ -]points?|points?|pts|pp|p\.p\.)?\s*(?:\(?(?:relative|absolute)\)?\s*)?"
    r"(?:-\s*)?(?:improvement|increase|gain|reduction|decrease|drop|boost|uplift|better|higher|lower|worse|"
    r"above|below|over|relative|more|less)\b", re.I)
_POINTS_AFTER = re.compile(r"^\s*(?:percentage[ -]points?|points?|pts|pp|p\.p\.)(?![a-z])", re.I)
_QUALIFIER = r"(?:(?:final|test|validation|val|valid|train|training|mean|average|avg|macro|micro|weighted|" \
             r"top-1|overall|the|a|an|of|in)\s+)*"
_AFTER_METRIC = re.compile(r"^\s*\(?" + _QUALIFIER + r"(" + _ALIAS_ALT + r")(?![a-z0-9])", re.I)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z(])|[;\n]")  # "i.e. 93%" stays one sentence
_STOPWORDS = {"of", "is", "was", "were", "are", "be", "been", "at", "to", "from", "by", "a", "an", "the", "and",
              "with", "which", "that", "it", "its", "got", "gets", "reached", "reaches", "achieved", "achieves",
              "scored", "gave", "gives", "yielded", "yields", "obtained", "about", "approximately", "around",
              "roughly", "nearly", "than", "vs", "versus", "on", "for", "as", "in", "final", "new", "our", "my",
              "now", "value", "result", "results", "baseline", "model", "then", "only", "this", "these", "while",
              "over", "under", "above", "below", "improvement", "relative", "absolute", "change", "up", "down",
              "i", "e", "ie", "or", "we", "had", "has", "have", "reaching", "getting", "giving", "into"}
CONFIRMED = re.compile(r"confirm", re.I)
NOT_CONFIRMED = re.compile(r"(?:not|un|to be|yet to be|be)\s*confirm", re.I)
CONTEXT_CHARS = 60


@dataclass
class Claim:
    text: str  # the number as written, e.g. "93.1 %"
    value: float
    percent: bool
    quantum: float  # the printed precision: 0.93 -> 0.01, 51 -> 1
    metric: str | None
    kind: str  # value | improvement
    points: bool  # "2 points", "2 pp"
    source: str  # final_answer | plan
    step: int | None  # for plan claims: the step whose plan stated it
    context: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_of(name: str) -> set[str]:
    """The canonical metrics a name mentions: "val_acc" -> {"accuracy"}, "Test RMSE" -> {"rmse"}."""
    spaced = re.sub(r"[_/]+", " ", name.lower())
    return {_ALIAS_TO_METRIC[m.group(1).lower()] for m in _METRIC_RE.finditer(spaced)}


def name_tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if t}


def _sentence_before(text: str, start: int) -> str:
    window = text[max(0, start - CONTEXT_CHARS):start]
    ends = list(_SENTENCE_END.finditer(window))
    return window[ends[-1].end():] if ends else window


def _sentence_after(text: str, end: int) -> str:
    window = text[end:end + CONTEXT_CHARS]
    m = _SENTENCE_END.search(window)
    return window[:m.start()] if m else window


def _quantum(num: str, exp: str | None) -> float:
    try:
        d = Decimal(num.replace(",", "") + (f"e{exp}" if exp else ""))
    except InvalidOperation:
        return 1.0
    return float(Decimal(1).scaleb(d.as_tuple().exponent))


def _name_before(before: str) -> tuple[str | None, int]:
    """(the metric or content word nearest before the number, its distance); settings count too."""
    best: tuple[str | None, int, bool] = (None, 10 ** 6, False)
    for m in _METRIC_RE.finditer(before.lower()):
        best = (_ALIAS_TO_METRIC[m.group(1).lower()], len(before) - m.end(), False)
    for m in _SETTING_RE.finditer(before):
        dist = len(before) - m.end()
        if dist < best[1]:
            best = ("__setting__", dist, True)
    if best[0] is not None:
        return best[0], best[1]
    words = re.findall(r"[A-Za-z][A-Za-z0-9_\-]*", before)[-3:]  # a name right before the number
    words = [w for w in words if w.lower() not in _STOPWORDS]
    return (words[-1].lower(), 0) if words else (None, 0)


def extract_claims(text: str, *, source: str = "final_answer", step: int | None = None) -> list[Claim]:
    """Every result number stated in ``text``, in order."""
    claims: list[Claim] = []
    text = text or ""
    for m in _NUMBER.finditer(text):
        before, after = _sentence_before(text, m.start()), _sentence_after(text, m.end())
        pct = bool(m.group("pct"))
        has_point = "." in m.group("num") or bool(m.group("exp"))
        if _UNIT_AFTER.match(after) and not pct:
            continue
        after_metric = _AFTER_METRIC.match(after)
        metric: str | None
        if after_metric:
            metric = _ALIAS_TO_METRIC[after_metric.group(1).lower()]
        else:
            metric, _ = _name_before(before)
        if metric == "__setting__":
            continue
        known = metric in METRIC_ALIASES
        if not (has_point or pct or known):
            continue  # an integer with no metric word: a count, an index, a year
        sign = m.group("sign") or ""
        improvement = bool(_CHANGE_BY.search(before) or _CHANGE_OF.search(before) or _CHANGE_AFTER.match(after)
                           or sign == "+")
        points = bool(_POINTS_AFTER.match(after))
        value = float(m.group("num").replace(",", "") + (f"e{m.group('exp')}" if m.group("exp") else ""))
        if sign in ("-", "\u2212"):
            value = -value
        ctx_start = max(0, m.start() - 40)
        claims.append(Claim(text=m.group(0).strip(), value=value, percent=pct,
                            quantum=_quantum(m.group("num"), m.group("exp")), metric=metric,
                            kind="improvement" if improvement else "value", points=points, source=source,
                            step=step, context=" ".join(text[ctx_start:m.end() + 30].split())))
    return claims


def plan_claims(steps: Iterable[dict[str, Any]]) -> list[Claim]:
    """Claims on the "confirmed" lines of the last Research Plan and Status."""
    last = None
    for s in steps:
        entries = s.get("entries") if isinstance(s.get("entries"), dict) else {}
        if str(entries.get("Research Plan and Status") or "").strip():
            last = s
    if last is None:
        return []
    plan = str(last["entries"]["Research Plan and Status"])
    out: list[Claim] = []
    for line in plan.splitlines():
        if CONFIRMED.search(line) and not NOT_CONFIRMED.search(line):
            out += extract_claims(line, source="plan", step=last.get("step"))
    return out
