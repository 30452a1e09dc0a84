"""Parse "Field Name: value" answers into validated fields.

Every IdeaAgent stage asks the model for a few labelled fields. Small local models
wrap labels in markdown (``**Hypothesis:**``, ``## Hypothesis``, ``1. Hypothesis -``),
so only the stage's own labels start a field and everything up to the next label is
its value. The same parser reads a person's edits, so what a reviewer writes is
checked exactly like what the model writes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

TEXT, LIST, SCORE = "text", "list", "score"


@dataclass(frozen=True)
class Field:
    label: str  # what the prompt and the answer call it, e.g. "Research Problem"
    kind: str = TEXT  # text | list | score
    min_items: int = 1  # for lists: fewer items is missing

    @property
    def key(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.label.lower()).strip("_")


@dataclass
class ParseResult:
    values: dict[str, Any]  # key -> str | list[str] | {"score": int, "justification": str}
    missing: list[str]  # labels that are absent, empty or invalid
    problems: list[str]  # one line per missing field saying what was wrong

    @property
    def ok(self) -> bool:
        return not self.missing


_DECOR = r"(?:\*\*|__|\*|_|`)?"


def _label_regex(fields: Sequence[Field]) -> re.Pattern:
    names = "|".join(re.escape(f.label).replace(r"\ ", r"[ \t_-]+") for f in
                     sorted(fields, key=lambda f: -len(f.label)))
    return re.compile(
        r"^[ \t]*(?P<head>#{1,6}[ \t]*)?(?:[-*+•][ \t]+|\d+[.)][ \t]*)?"
        + _DECOR + r"[ \t]*(?P<label>" + names + r")(?:[ \t]*#?\d{1,2}\b)?(?:[ \t]*\([^)\n]{0,40}\))?[ \t]*" + _DECOR
        + r"[ \t]*(?P<sep>[:：=]|[-–—](?=[ \t]))?[ \t]*" + _DECOR + r"[ \t]*(?P<rest>.*)$",
        re.IGNORECASE)


def _clean(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^```[a-zA-Z]*\n?|\n?```$", "", text).strip()
    # A value wrapped whole in bold or quotes loses the wrapper.
    for a, b in (("**", "**"), ("__", "__"), ('"', '"'), ("'", "'")):
        if len(text) > len(a) + len(b) and text.startswith(a) and text.endswith(b) and a not in text[len(a):-len(b)]:
            text = text[len(a):-len(b)].strip()
    if text.lower() in {"", "n/a", "none", "-", "...", "<...>", "tbd"} or re.fullmatch(r"<[^>]*>", text):
        return ""
    return text


def _unwrap(text: str) -> str:
    """Join lines wrapped inside a paragraph; keep paragraph breaks and list items."""
    return re.sub(r"(?<=\S)[ \t]*\n(?![ \t]*(?:\n|[-*+•][ \t]|\d+[.)][ \t]))[ \t]*", " ", text)


def split_list(value: str) -> list[str]:
    """Bulleted or numbered lines become items; a single line splits on commas/semicolons."""
    lines = [ln.strip() for ln in value.splitlines() if ln.strip()]
    bullet = re.compile(r"^(?:[-*+•]|\d+[.)]|\(\d+\)|[a-z][.)])[ \t]+")
    if len(lines) > 1 or (lines and bullet.match(lines[0])):
        items: list[str] = []
        for ln in lines:
            if bullet.match(ln) or not items:
                items.append(bullet.sub("", ln, count=1))
            else:  # a wrapped continuation of the previous item
                items[-1] += " " + ln
    else:
        items = re.split(r"[;,](?![^()]*\))", lines[0]) if lines else []
    out = []
    for item in items:
        item = _clean(item.strip().strip("."))
        if item and item not in out:
            out.append(item)
    return out


def parse_score(value: str) -> tuple[int | None, str]:
    """"4 - clear and specific" → (4, "clear and specific"); also "4/5", "**4**", "Score: 4"."""
    m = re.match(r"^\W*(?:score\W*)?([0-9](?:\.[0-9])?)\s*\**\s*(?:/\s*5|out of 5)?\s*\**\s*[-–—:.,;)]?\s*(.*)$",
                 value.strip(), re.IGNORECASE | re.DOTALL)
    if not m:
        return None, value.strip()
    score = round(float(m.group(1)))
    if not 1 <= score <= 5:
        return None, m.group(2).strip()
    return score, _clean(m.group(2)) or ""


def _split_inline_labels(text: str, fields: Sequence[Field]) -> str:
    """Start a new line where a label follows a finished sentence ("... pixel. Rationale: ...")."""
    names = "|".join(re.escape(f.label).replace(r"\ ", r"[ \t]+") for f in fields)
    return re.sub(r"(?<=[.!?)\]])[ \t]+(?=(?:\*\*|__)?(?:" + names + r")(?:\*\*|__)?[ \t]*:)", "\n", text,
                  flags=re.IGNORECASE)


def parse_fields(text: str, fields: Sequence[Field]) -> ParseResult:
    """Read the labelled fields out of ``text``; a repeated label keeps its first value.

    Labels normally start a line; when fields are missing, a label written inline after a
    finished sentence (small models do this) is accepted too.
    """
    result = _parse(text, fields)
    if not result.ok:
        split = _split_inline_labels(text, fields)
        if split != text:
            again = _parse(split, fields)
            if len(again.missing) < len(result.missing):
                return again
    return result


def _parse(text: str, fields: Sequence[Field]) -> ParseResult:
    by_norm = {re.sub(r"[\s_-]+", " ", f.label.lower()): f for f in fields}
    regex = _label_regex(fields)
    raw: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        m = regex.match(line)
        if m:
            rest = m.group("rest")
            # "Keywords are..." inside a value is prose, not a label: a label needs a separator,
            # a heading mark, or to stand alone on its line.
            if m.group("sep") or m.group("head") or not rest.strip() or rest.strip("*_ ").startswith(":"):
                label = re.sub(r"[\s_-]+", " ", m.group("label").lower())
                field = by_norm[label]
                current = field.key if field.key not in raw else f"__dup_{field.key}"
                raw.setdefault(current, [])
                rest = rest.strip()
                if rest.startswith(":"):
                    rest = rest[1:]
                if rest.strip():
                    raw[current].append(rest)
                continue
        if current is not None:
            raw[current].append(line)
    values: dict[str, Any] = {}
    missing: list[str] = []
    problems: list[str] = []
    for f in fields:
        value = _clean("\n".join(raw.get(f.key, [])))
        if f.kind == LIST:
            items = split_list(value) if value else []
            if len(items) < f.min_items:
                missing.append(f.label)
                problems.append(f"'{f.label}' is missing or empty" if not items else
                                f"'{f.label}' needs at least {f.min_items} items")
            values[f.key] = items
        elif f.kind == SCORE:
            score, why = parse_score(value) if value else (None, "")
            if score is None:
                missing.append(f.label)
                problems.append(f"'{f.label}' needs a whole number from 1 to 5, then a one-line justification"
                                if value else f"'{f.label}' is missing")
            values[f.key] = {"score": score, "justification": why}
        else:
            value = _unwrap(value)
            if not value:
                missing.append(f.label)
                problems.append(f"'{f.label}' is missing or empty")
            values[f.key] = value
    return ParseResult(values=values, missing=missing, problems=problems)


def format_fields(values: dict[str, Any], fields: Sequence[Field]) -> str:
    """The inverse of ``parse_fields``: what a reviewer edits and what later prompts quote."""
    parts = []
    for f in fields:
        v = values.get(f.key)
        if f.kind == LIST:
            items = v or []
            parts.append(f"{f.label}:\n" + "\n".join(f"- {item}" for item in items))
        elif f.kind == SCORE:
            v = v or {}
            parts.append(f"{f.label}: {v.get('score')} - {v.get('justification', '')}".rstrip(" -"))
        else:
            parts.append(f"{f.label}: {v or ''}")
    return "\n".join(parts)


def format_template(fields: Sequence[Field]) -> str:
    """The answer skeleton shown in prompts and corrective messages."""
    lines = []
    for f in fields:
        if f.kind == LIST:
            lines.append(f"{f.label}:\n- <item>\n- <item>")
        elif f.kind == SCORE:
            lines.append(f"{f.label}: <1-5> - <one-line justification>")
        else:
            lines.append(f"{f.label}: <text>")
    return "\n".join(lines)
