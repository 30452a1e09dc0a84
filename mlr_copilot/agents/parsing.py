"""Parse the ExperimentAgent's response: its entries, the Action and the Action Input.

The expected format (MLAgentBench / MLR-Copilot)::

    Reflection: ...
    Research Plan and Status: ...
    Fact Check: ...
    Thought: ...
    Questions: ...            (optional)
    Action: <an offered action name>
    Action Input: {"arg": "value", ...}

Real models bend it: markdown bold or headers around entry names, other cases, code
fences, prose or a hallucinated ``Observation:`` after the JSON, single quotes, raw
newlines, trailing commas, Python literals. This module accepts all of these and raises
``FormatError`` with a precise message (for the corrective retry) for anything else.
The JSON repair itself lives in ``action_input.py``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, NamedTuple

from ..env.actions import normalise_action_name
from ..errors import FormatError
from .action_input import extract_action_input

logger = logging.getLogger(__name__)

__all__ = ["ENTRIES", "REQUIRED_ENTRIES", "FormatError", "ParsedResponse", "parse_response",
           "parse_action_input", "corrective_message"]

ENTRIES = ("Reflection", "Research Plan and Status", "Fact Check", "Thought", "Questions",
           "Action", "Action Input")
REQUIRED_ENTRIES = ("Thought", "Action", "Action Input")
"""The narrative entries before Thought are asked for but not required: a response that
omits them still carries a usable step, and retrying costs a whole LLM call."""

# canonical entry -> forgiving spelling (case-insensitive); "Observation" only cuts text.
_ENTRY_SPELLINGS = (
    ("Research Plan and Status", r"research[ \t_-]*plan(?:[ \t_-]*(?:and|&)[ \t_-]*status)?"),
    ("Reflection", r"reflections?"),
    ("Fact Check", r"facts?[ \t_-]*check(?:s|ing)?"),
    ("Thought", r"thoughts?"),
    ("Questions", r"questions?"),
    ("Action Input", r"action[ \t_-]*input"),
    ("Action", r"action"),
    ("Observation", r"observations?"),
)
_NAMES_RE = "|".join(f"(?P<e{i}>{pat})" for i, (_, pat) in enumerate(_ENTRY_SPELLINGS))
_MARK = r"(?:\*{1,3}|_{1,3}|`)"
_HEADER_RE = re.compile(
    r"^[ \t]*(?:>[ \t]*)*(?P<hash>\#{1,6}[ \t]*)?(?:(?:[-*+]|\d{1,2}[.)])[ \t]+)?"
    rf"(?P<open>{_MARK})?[ \t]*(?:{_NAMES_RE})(?![\w])[ \t]*(?P<close>{_MARK})?[ \t]*"
    rf"(?P<colon>[:：])?(?:[ \t]*{_MARK}(?=\s|$))?[ \t]*",
    re.IGNORECASE | re.MULTILINE)
_INLINE_RE = re.compile(r"(?<![\w])(?:(?P<e0>action[ \t_-]*input)|(?P<e1>action))[ \t]*(?:\*\*)?[ \t]*[:：]"
                        r"(?:[ \t]*\*\*)?[ \t]*", re.IGNORECASE)
_STRIP_NAME = " \t\r\n*_`'\"[]<>.,;:!"


class _Header(NamedTuple):
    start: int
    end: int
    name: str


@dataclass(frozen=True)
class ParsedResponse:
    """A parsed response. ``entries`` holds every entry found (stripped text, in ENTRIES
    order); ``entries["Action"]`` is the canonical action name and
    ``entries["Action Input"]`` the JSON text as written. ``discarded`` is whatever came
    after the Action Input (a hallucinated Observation, closing remarks)."""

    entries: dict[str, str]
    action: str
    action_input: dict[str, Any]
    discarded: str = field(default="", compare=False)


class _Offer(NamedTuple):
    name: str
    arg_names: tuple[str, ...]
    required: tuple[str, ...]
    info: Any


def _offers(registry_or_offered: Any) -> list[_Offer]:
    """Accept an ActionRegistry, a mapping name -> ActionInfo, or a sequence of
    ActionInfo objects or plain names."""
    items: Iterable[Any]
    if hasattr(registry_or_offered, "all") and callable(registry_or_offered.all):
        items = registry_or_offered.all()
    elif isinstance(registry_or_offered, dict):
        items = registry_or_offered.values()
    else:
        items = registry_or_offered or ()
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(_Offer(item, (), (), None))
        else:
            out.append(_Offer(item.name, tuple(getattr(item, "arg_names", ())),
                              tuple(getattr(item, "required_arg_names", ())), item))
    return out


def match_action(text: str, offered: Any) -> _Offer:
    """The offered action meant by ``text``, forgiving case, punctuation, markdown and
    trailing words ("Execute Script now"); raises FormatError naming the offered ones."""
    offers = offered if offered and isinstance(offered, list) and isinstance(offered[0], _Offer) \
        else _offers(offered)
    wanted = text.strip(_STRIP_NAME)
    if not wanted:
        raise FormatError("the 'Action:' entry is empty; it must name one of: "
                          + ", ".join(o.name for o in offers), kind="unknown_action")
    for o in offers:
        if o.name == wanted:
            return o
    key = normalise_action_name(wanted)
    exact = [o for o in offers if normalise_action_name(o.name) == key]
    if exact:
        return exact[0]
    if key:
        # "Execute Script (baseline)", "Execute Script train.py": the longest action whose
        # name starts the text, followed by a remark in brackets or after punctuation, or
        # by one word; "Final Answer is not ready, so ..." names no action.
        prefixed = []
        for o in offers:
            m = _name_pattern(o.name).match(wanted)
            if m and _is_remark(wanted[m.end():]):
                prefixed.append(o)
        if prefixed:
            return max(prefixed, key=lambda o: len(normalise_action_name(o.name)))
        # "Understand" -> the one action whose name starts with the text
        if len(key) >= 4:
            starting = [o for o in offers if normalise_action_name(o.name).startswith(key)]
            if len(starting) == 1:
                return starting[0]
    shown = wanted if len(wanted) <= 80 else wanted[:77] + "..."
    raise FormatError(f"Action '{shown}' is not one of: " + ", ".join(o.name for o in offers),
                      kind="unknown_action")


@lru_cache(maxsize=256)
def _name_pattern(name: str) -> re.Pattern[str]:
    words = re.findall(r"[^\W_]+", name)
    return re.compile(r"[\W_]*".join(map(re.escape, words)) + r"(?![^\W_])", re.IGNORECASE)


def _is_remark(rest: str) -> bool:
    rest = rest.strip(_STRIP_NAME.replace("[", "").replace(",", "").replace(";", "").replace(":", ""))
    return not rest or rest[0] in "([{-–—:,;" or len(rest.split()) == 1


def _find_headers(text: str) -> list[_Header]:
    found = []
    for m in _HEADER_RE.finditer(text):
        name = next(_ENTRY_SPELLINGS[int(k[1:])][0] for k, v in m.groupdict().items()
                    if k.startswith("e") and k[1:].isdigit() and v is not None)
        if not m.group("colon"):
            # without a colon only a markdown header or a bold name alone on its line counts
            line_end = text.find("\n", m.end())
            rest = text[m.end(): len(text) if line_end < 0 else line_end]
            if not (m.group("hash") or (m.group("open") or "`") != "`") or rest.strip():
                continue
        found.append(_Header(m.start(), m.end(), name))
    return found


def _inline_headers(text: str, names: set[str]) -> list[_Header]:
    """Fallback for 'Thought: x Action: y Action Input: {...}' written on one line."""
    out = []
    for m in _INLINE_RE.finditer(text):
        name = "Action Input" if m.group("e0") else "Action"
        if name in names:
            out.append(_Header(m.start(), m.end(), name))
    return out


def _split_entries(text: str) -> tuple[dict[str, tuple[int, int]], int | None]:
    """Map each entry found to its (start, end) span; also return where the Action
    Input region starts (it runs to the end: the JSON decides where it stops)."""
    headers = _find_headers(text)
    have = {h.name for h in headers}
    missing = {"Action", "Action Input"} - have
    if missing:
        inline = [h for h in _inline_headers(text, missing)
                  if not any(h.start < o.end and o.start < h.end for o in headers)]
        if inline:
            headers = sorted(headers + inline)
    ai = next((h for h in headers if h.name == "Action Input"), None)
    before = [h for h in headers if ai is None or h.start < ai.start]
    actions = [h for h in before if h.name == "Action"]
    # with an Action Input, the Action is the last one before it ("1. Action: ..." lines in
    # a Fact Check are text); without one, the first (what follows may be hallucinated)
    chosen = (actions[-1] if ai is not None else actions[0]) if actions else None
    accepted: list[_Header] = []
    seen: set[str] = set()
    cut = len(text)
    for h in before:
        if h.name == "Observation":
            if "Action" in seen:  # a hallucinated observation ends the response
                cut = h.start
                break
            continue
        if h.name in seen or "Action" in seen or (h.name == "Action" and h is not chosen):
            continue  # a repeated name, or a name after the Action (its value), is just text
        accepted.append(h)
        seen.add(h.name)
    spans: dict[str, tuple[int, int]] = {}
    for i, h in enumerate(accepted):
        end = accepted[i + 1].start if i + 1 < len(accepted) else (ai.start if ai else cut)
        spans[h.name] = (h.end, end)
    return spans, (ai.end if ai else None)


def parse_response(text: str, registry_or_offered: Any, *,
                   required: tuple[str, ...] = REQUIRED_ENTRIES) -> ParsedResponse:
    """Parse one model response. ``registry_or_offered``: the offered actions (an
    ActionRegistry, ActionInfo objects or names). Raises FormatError."""
    if not isinstance(text, str) or not text.strip():
        raise FormatError("the response is empty", kind="empty")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    offers = _offers(registry_or_offered)
    spans, ai_start = _split_entries(text)
    entries = {name: text[a:b].strip() for name, (a, b) in spans.items()}

    action_text = entries.get("Action")
    input_region = text[ai_start:] if ai_start is not None else None
    if action_text is not None and input_region is None:
        # "Action: List Files {"dir_path": "."}" or a fenced JSON block under the Action
        first, _, rest = action_text.partition("\n")
        brace = first.find("{")
        if brace >= 0:
            action_text, input_region = first[:brace], first[brace:] + "\n" + rest
        elif "{" in rest:
            action_text, input_region = first, rest
        else:
            action_text = first
    if action_text is not None:
        action_text = next((ln for ln in action_text.splitlines() if ln.strip(_STRIP_NAME)), "")

    missing = [e for e in required if e not in ("Action", "Action Input") and not entries.get(e)]
    if action_text is None:
        missing.append("Action")
    if missing:
        raise FormatError(_missing_message(missing + (["Action Input"] if input_region is None
                                                     and "Action Input" in required else [])),
                          kind="missing_entry")

    offer = match_action(action_text, offers)
    action_input: dict[str, Any]
    discarded = ""
    if input_region is None or not input_region.strip():
        if "Action Input" in required and offer.required:
            problem = (_missing_message(["Action Input"]) if input_region is None else
                       "the 'Action Input:' entry is empty")
            needs = ", ".join(f"'{a}'" for a in offer.required)
            raise FormatError(f"{problem}; {offer.name} needs a JSON object with {needs}",
                              kind="missing_entry", action=offer.name)
        action_input, json_text = {}, ""
    else:
        try:
            action_input, end = extract_action_input(input_region, offer.arg_names, offer.required)
        except FormatError as exc:
            exc.action = offer.name
            raise
        json_text, discarded = input_region[:end].strip(), input_region[end:].strip()
        if discarded:
            logger.debug("Discarded %d characters after the Action Input", len(discarded))
    entries["Action"] = offer.name
    entries["Action Input"] = json_text
    ordered = {name: entries[name] for name in ENTRIES if name in entries}
    return ParsedResponse(ordered, offer.name, action_input, discarded)


def parse_action_input(text: str, arg_names: tuple[str, ...] | list[str] = (),
                       required: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """Parse an Action Input (the text after 'Action Input:'), repairing common JSON
    mistakes; ``arg_names`` enables the last-resort key-by-key reading, accepted only
    when every name in ``required`` is found."""
    if not isinstance(text, str):
        raise FormatError("Action Input is empty; it must be a JSON object", kind="missing_entry")
    return extract_action_input(text.replace("\r\n", "\n"), tuple(arg_names), tuple(required))[0]


def _missing_message(names: list[str]) -> str:
    names = list(dict.fromkeys(names))
    quoted = [f"'{n}:'" for n in names]
    if len(quoted) == 1:
        return f"missing {quoted[0]} entry"
    return f"missing {', '.join(quoted[:-1])} and {quoted[-1]} entries"


_FORMAT_TEMPLATE = """Reflection: what the last observation means
Research Plan and Status: the full high-level plan, with status and confirmed results
Fact Check: each statement above, and whether an observation confirmed it
Thought: what you will do now and why
Action: {actions}
Action Input: {example}"""


def corrective_message(error: FormatError | Exception, offered_actions: Any) -> str:
    """What to tell the model after an unparsable response: the problem and the exact
    format expected (with the usage of the action it meant, when known)."""
    offers = _offers(offered_actions)
    names = ", ".join(o.name for o in offers)
    action = getattr(error, "action", None)
    offer = next((o for o in offers if o.name == action), None)
    lines = [f"Your last response could not be used: {error}.", ""]
    example = '{"argument name": "value"}'
    if offer is not None:
        if offer.arg_names:
            example = "{" + ", ".join(f'"{a}": ...' for a in offer.arg_names) + "}"
        usage = getattr(offer.info, "usage_block", None)
        if callable(usage):
            lines += [f"The usage of {offer.name} is:", usage(), ""]
    if getattr(error, "kind", "") == "unknown_action":
        lines += [f"The Action must be exactly one of: {names}.", ""]
    lines += ["Reply again in exactly this format, each entry starting on a new line "
              "(a 'Questions:' entry before the Action is optional):", "",
              _FORMAT_TEMPLATE.format(actions=f"exactly one of: {names}" if names else "an action name",
                                      example=f"a JSON object, e.g. {example}" if offer is None else example),
              "",
              "The Action Input must be valid JSON: double quotes around keys and strings, "
              "a newline inside a string written as \\n, a double quote as \\\". "
              "Write nothing after the Action Input: the observation will be given to you."]
    return "\n".join(lines)
