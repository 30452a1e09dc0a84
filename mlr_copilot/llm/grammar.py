"""A GBNF grammar for the ExperimentAgent's response format, built from a ResponseSpec.

Used by the llama.cpp backend to constrain decoding, so that even a small local model
always answers in a form the parser accepts::

    Reflection: ...
    Research Plan and Status: ...
    Fact Check: ...
    Thought: ...
    Action: <one of the offered action names>
    Action Input: {"key": "JSON value", ...}

The entries come in the order of ``ResponseSpec.entries``; the Action is one of the
offered names; the Action Input is a JSON object with that action's keys, in declared
order (required keys always, optional keys may be left out), strings JSON-escaped and
integers as integers where ``ResponseSpec.arg_types`` says so. Free text is bounded in
lines and characters per line, so a model cannot ramble until it runs out of tokens
before reaching the Action; ``limits_for_max_tokens`` shrinks the bounds to fit a token
budget.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Mapping

from .base import ResponseSpec

LINE_OPENING_SLACK = 24  # a line may run this much past line_chars (see _line_rules)
CHARS_PER_TOKEN = 3.0
"""Conservative average for English prose and code (Qwen/Llama tokenizers give ~3.5-4)."""

ACTION_HEADERS = ("Action", "Action Input")
RESERVED_HEADERS = ("Reflection", "Research Plan and Status", "Fact Check", "Thought", "Questions",
                    "Action", "Action Input", "Observation")
"""No free-text line may open with one of these followed by a colon (see ``_line_rules``)."""

MIN_STRING_CHARS = 640
"""JSON strings get this many characters where the token budget leaves room: an edit instruction that names a task's columns and a
pipeline to build runs to 550-620 characters, and a 409-character bound cut the agent's copy
of it mid-sentence ("... and Ridge(), and 1") on a rentals probe."""

SHORT_KEY = re.compile(r"(name|path|dir|source|destination)$", re.IGNORECASE)
"""Argument keys that hold a file or folder name get a shorter string bound."""

DEFAULT_ENTRY_LINES: Mapping[str, int] = {
    "Reflection": 4,
    "Research Plan and Status": 12,
    "Fact Check": 6,
    "Thought": 3,
    "Questions": 3,
}


@dataclass(frozen=True)
class GrammarLimits:
    """Bounds on the free text the grammar lets a model write.

    ``entry_lines`` maps an entry name to its maximum number of lines (the text on the
    header line counts as the first); entries not listed get ``default_lines``.
    """

    line_chars: int = 320
    entry_lines: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_ENTRY_LINES))
    default_lines: int = 4
    string_chars: int = 800
    short_string_chars: int = 160  # keys naming a file or folder (see SHORT_KEY)
    whitespace_chars: int = 16

    def lines_for(self, entry: str) -> int:
        return max(1, int(self.entry_lines.get(entry, self.default_lines)))


def response_entries(spec: ResponseSpec) -> tuple[str, ...]:
    """The free-text entries of a spec, without the Action / Action Input pair."""
    return tuple(e for e in spec.entries if e.strip() not in ACTION_HEADERS)


def estimate_tokens(spec: ResponseSpec, limits: GrammarLimits = GrammarLimits()) -> int:
    """Upper estimate of the tokens a response allowed by the grammar can take."""
    chars = 0
    for entry in response_entries(spec):
        chars += len(entry) + 2 + limits.lines_for(entry) * (limits.line_chars + 1 + LINE_OPENING_SLACK)
    widest = 0
    for name, keys in spec.actions.items():
        per_key = [len(k) + 8 + _value_chars(_arg_type(spec, name, k), limits) for k in keys]
        widest = max(widest, len(name) + sum(per_key) + 2 * limits.whitespace_chars)
    chars += len("Action: \nAction Input: ") + widest
    return int(chars / CHARS_PER_TOKEN) + 16


def limits_for_max_tokens(spec: ResponseSpec, max_tokens: int,
                          base: GrammarLimits = GrammarLimits()) -> GrammarLimits:
    """Shrink ``base`` until every response the grammar allows fits in ``max_tokens``.

    Lines per entry, characters per line and per JSON string shrink together, down to
    floors (one line per entry, 80 characters per line) that still allow a useful answer.
    What the budget then leaves goes to JSON strings, up to ``MIN_STRING_CHARS``.
    """
    limits = base
    for _ in range(60):
        if estimate_tokens(spec, limits) <= max_tokens:
            break
        shrunk = replace(
            limits,
            entry_lines={e: max(1, limits.lines_for(e) * 3 // 4) for e in response_entries(spec)},
            default_lines=max(1, limits.default_lines * 3 // 4),
            line_chars=max(80, limits.line_chars * 7 // 8),
            string_chars=max(200, limits.string_chars * 7 // 8),
            short_string_chars=max(80, limits.short_string_chars * 7 // 8))
        if shrunk == limits:
            break  # at the floors; the caller's budget is too small to guarantee completion
        limits = shrunk
    wider = replace(limits, string_chars=max(limits.string_chars, min(base.string_chars, MIN_STRING_CHARS)))
    return wider if estimate_tokens(spec, wider) <= max_tokens else limits  # what is left goes to strings


def build_gbnf(spec: ResponseSpec, limits: GrammarLimits = GrammarLimits()) -> str:
    """The GBNF text (llama.cpp grammar syntax) for ``spec`` under ``limits``."""
    if not spec.actions:
        raise ValueError("a response grammar needs at least one action")
    rules: list[tuple[str, str]] = []
    entries = response_entries(spec)
    entry_rules = []
    for index, entry in enumerate(entries):
        rule = f"entry-{index}-{_slug(entry)}"
        entry_rules.append(rule)
        n_lines = limits.lines_for(entry)
        more = f" (line nl){{0,{n_lines - 1}}}" if n_lines > 1 else ""
        rules.append((rule, f'{_lit(entry + ":")} (" " line nl | nl line nl){more}'))
    action_alts = []
    for index, (name, keys) in enumerate(spec.actions.items()):
        rule = f"action-{index}-{_slug(name)}"
        action_alts.append(rule)
        obj_rule = f"input-{index}"
        rules.append((rule, f'{_lit(name)} nl "Action Input:" " "? {obj_rule}'))
        rules.extend(_object_rules(obj_rule, spec, name, keys))
    head = [("root", " ".join(entry_rules + ["action"])),
            ("action", '"Action: " (' + " | ".join(action_alts) + ")")]
    common = _line_rules(tuple(dict.fromkeys(entries + RESERVED_HEADERS))) + [
        ("tail", f"[^\\n]{{0,{limits.line_chars - 1}}}"),
        ("nl", '"\\n"'),
        ("ws", f"[ \\t\\n]{{0,{limits.whitespace_chars}}}"),
        ("string", f'"\\"" char{{0,{limits.string_chars}}} "\\""'),
        ("short-string", f'"\\"" char{{0,{limits.short_string_chars}}} "\\""'),
        ("char", '[^"\\\\\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})'),
        ("integer", '"-"? [0-9]{1,15}'),
        ("number", '"-"? [0-9]{1,15} ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})?'),
        ("boolean", '"true" | "false"'),
    ]
    return "\n".join(f"{name} ::= {body}" for name, body in _reachable(head + rules + common)) + "\n"


def _line_rules(headers: tuple[str, ...]) -> list[tuple[str, str]]:
    """``line``: one line of free text that does not open like a header.

    A line may not open with a header name (any case) followed by a colon, also with
    markdown emphasis between them (``Thought:``, ``thought**:``), for the entries, Action,
    Action Input and Observation; nor with markdown decoration or blanks. So free text can
    never be read as the start of another entry or as a second, made-up Action. Written as
    a trie over the header names: at each node the line may end, leave the trie with a
    character no header continues with, or follow the trie further; where a header name is
    complete, a colon (after any ``*``/``_``) is what is refused.
    """
    trie: dict = {}
    for header in headers:
        node = trie
        for ch in header.lower():
            node = node.setdefault(ch, {})
        node[None] = {}  # a header name ends here
    rules: list[tuple[str, str]] = []
    counter = [0]

    def emit(node: dict, name: str, depth: int) -> None:
        chars = [ch for ch in node if ch is not None]
        alts = [] if depth == 0 else ['""']
        excluded = "".join(_class_chars(ch) for ch in chars)
        if depth == 0:
            excluded += "*#>_ \\t"
        if None in node:
            excluded += ":*_"
            alts.append("[*_] line-emph")
        alts.insert(1 if depth else 0, f"[^\\n{excluded}] tail")
        children = []
        for ch in chars:
            counter[0] += 1
            children.append((f"line-{counter[0]}", node[ch]))
            alts.append(f"[{_class_chars(ch)}] {children[-1][0]}")
        rules.append((name, " | ".join(alts)))
        for child_name, child in children:
            emit(child, child_name, depth + 1)

    emit(trie, "line", 0)
    rules.append(("line-emph", '"" | [^\\n:*_] tail | [*_] line-emph'))
    return rules


def _class_chars(ch: str) -> str:
    """``ch`` in both cases, escaped for use inside a GBNF character class."""
    both = dict.fromkeys(ch + ch.upper() + ch.lower())
    return "".join({"\\": "\\\\", "]": "\\]", "[": "\\[", "^": "\\^", "-": "\\-",
                    "\t": "\\t"}.get(c, c) for c in both)


def _reachable(rules: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Only the rules that ``root`` can reach, in their original order."""
    bodies = dict(rules)
    seen, todo = set(), ["root"]
    while todo:
        name = todo.pop()
        if name in seen or name not in bodies:
            continue
        seen.add(name)
        body = re.sub(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]', " ", bodies[name])  # drop literals
        todo.extend(re.findall(r"[a-z][a-z0-9-]*", body))
    return [(name, body) for name, body in rules if name in seen]


def _object_rules(rule: str, spec: ResponseSpec, action: str, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """Rules for a JSON object holding ``keys`` in order; optional keys may be absent.

    ``{rule}-k{i}-first`` matches keys i.. when none was written yet (no leading comma),
    ``{rule}-k{i}-more`` when one was (each key then starts with a comma).
    """
    required = set(spec.required_args.get(action, keys))
    keys = tuple(keys)
    if not keys:
        return [(rule, '"{" ws "}"')]
    out: list[tuple[str, str]] = [(rule, f'"{{" ws {rule}-k0-first ws "}}"')]
    for i, key in enumerate(keys):
        pair = f'{_lit(json.dumps(key))} ws ":" ws {_arg_type(spec, action, key)}'
        last = i == len(keys) - 1
        rest_more = "" if last else f" {rule}-k{i + 1}-more"
        rest_first = "" if last else f" {rule}-k{i + 1}-first"
        if key in required:
            first = f"{pair}{rest_more}"
            more = f'"," ws {pair}{rest_more}'
        else:
            first = f"{pair}{rest_more}" + (f" |{rest_first}" if not last else " | \"\"")
            more = f'"," ws {pair}{rest_more}' + (f" |{rest_more}" if not last else " | \"\"")
        out.append((f"{rule}-k{i}-first", first))
        out.append((f"{rule}-k{i}-more", more))
    return out


def _arg_type(spec: ResponseSpec, action: str, key: str) -> str:
    kind = str(spec.arg_types.get(action, {}).get(key, "string")).lower()
    string = "short-string" if SHORT_KEY.search(key) else "string"
    return {"int": "integer", "integer": "integer", "float": "number", "number": "number",
            "bool": "boolean", "boolean": "boolean"}.get(kind, string)


def _value_chars(kind: str, limits: GrammarLimits) -> int:
    return {"integer": 16, "number": 40, "boolean": 5,
            "short-string": limits.short_string_chars + 2}.get(kind, limits.string_chars + 2)


def _lit(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
