"""Read the JSON object of an Action Input the way models actually write it.

Tried in order, the first that gives a JSON object wins:

1. strict JSON from the first ``{`` (raw newlines and tabs inside strings allowed;
   anything after the object — a closing fence, prose, a hallucinated Observation — is
   left for the caller to discard);
2. a rewrite into JSON: single-quoted strings with JSON or Python escapes,
   True/False/None, trailing commas, unquoted keys, ``//`` comments, missing closers;
3. a Python literal (tuples, implicit string concatenation), read with
   ``ast.literal_eval`` (which evaluates nothing);
4. with the action's argument names known, key by key (a string holding unescaped
   double quotes, the commonest real failure).

Anything else raises ``FormatError`` with the JSON error position of step 1.
"""
from __future__ import annotations

import ast
import json
import logging
import re
from typing import Any

from ..errors import FormatError

logger = logging.getLogger(__name__)

_DECODER = json.JSONDecoder(strict=False)
_LITERAL_EVAL_MAX_CHARS = 100_000  # bigger inputs skip the Python-literal attempt
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PY_LITERAL_HINT = re.compile(r"'|\"\"\"|\b(?:True|False|None)\b")  # else literal_eval adds nothing
_OBSERVATION_LINE = re.compile(r"^[ \t*#]*observation\s*[:：]", re.IGNORECASE | re.MULTILINE)
_TRUNCATION_LINE = re.compile(r"^[ \t*#]*(?:```|observation\s*[:：])", re.IGNORECASE | re.MULTILINE)
_WORD_RE = re.compile(r"[^\W\d][\w-]*")
_PY_NAMES = {"True": "true", "False": "false", "None": "null",
             "true": "true", "false": "false", "null": "null"}


def extract_action_input(region: str, arg_names: tuple[str, ...] = (),
                         required: tuple[str, ...] = ()) -> tuple[dict[str, Any], int]:
    """Parse the object at the start of ``region`` (the text after 'Action Input:').

    ``arg_names``/``required``: the action's arguments, for the key-by-key last resort
    (used only when every required key is found). Returns the object and the index in
    ``region`` where it ends."""
    start = region.find("{")
    if start < 0:
        return _without_braces(region, arg_names, required), len(region)
    first_error: str | None = None
    try:
        obj, length = _DECODER.raw_decode(region[start:])
        if isinstance(obj, dict):
            return _finish(obj), start + length
        first_error = f"it is a JSON {type(obj).__name__}, not an object"
    except json.JSONDecodeError as exc:
        first_error = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except (ValueError, RecursionError) as exc:
        first_error = str(exc) or type(exc).__name__

    end, closers = _scan_object(region, start)
    candidates: list[tuple[str, int]] = []
    if end is not None:
        candidates.append((region[start:end], end))
    else:
        body_end = _truncation_point(region, start)
        candidates.append((region[start:body_end] + closers, body_end))
    last_brace = region.rfind("}", 0, _truncation_point(region, start))
    if last_brace > start and (end is None or last_brace + 1 != end):
        candidates.append((region[start:last_brace + 1], last_brace + 1))
    for body, stop in candidates:
        obj = _loads_lenient(body)
        if obj is not None:
            logger.debug("Action Input repaired into JSON")
            return _finish(obj), stop
    if arg_names:
        for body, stop in candidates:
            obj = _by_keys(body, arg_names)
            if obj is not None and all(name in obj for name in required):
                logger.info("Action Input read key by key (it is not valid JSON: %s)", first_error)
                return _finish(obj), stop
    raise FormatError(f"Action Input is not valid JSON: {first_error}", kind="bad_json")


def _without_braces(region: str, arg_names: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    m = _OBSERVATION_LINE.search(region)
    stripped = _strip_fence(region[:m.start()] if m else region)
    if not stripped:
        raise FormatError("Action Input is empty; it must be a JSON object", kind="missing_entry")
    only = arg_names if len(arg_names) == 1 else required if len(required) == 1 else ()
    if only:
        # "Action Input: train.py" for an action with one (required) argument
        value = stripped.strip("'\"`").strip()
        if value:
            return {only[0]: value}
    head = stripped.splitlines()[0][:60]
    raise FormatError(f"Action Input is not a JSON object: it starts with {head!r} and has no '{{'",
                      kind="bad_json")


def _finish(obj: dict[str, Any]) -> dict[str, Any]:
    try:
        return _jsonable(obj)
    except RecursionError:
        raise FormatError("Action Input is nested too deeply", kind="bad_json") from None


def _strip_fence(text: str) -> str:
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("```")]
    return "\n".join(lines).strip()


def _truncation_point(region: str, start: int) -> int:
    """Where an unterminated object must stop at the latest: a closing code fence or a
    hallucinated 'Observation:' line."""
    m = _TRUNCATION_LINE.search(region, start)
    return m.start() if m else len(region)


def _scan_object(text: str, start: int) -> tuple[int | None, str]:
    """Find the end of the balanced object at ``start``, aware of both quote styles.

    Returns (end index or None, the closers an unterminated object is missing)."""
    stack: list[str] = []
    quote: str | None = None
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if stack and stack[-1] == ch:
                stack.pop()
                if not stack:
                    return i + 1, ""
            else:
                return None, ""
        i += 1
    return None, (quote or "") + "".join(reversed(stack))


def _loads_lenient(body: str) -> dict[str, Any] | None:
    for attempt in (lambda: _DECODER.decode(body), lambda: _DECODER.decode(_rewrite(body))):
        try:
            obj = attempt()
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            return obj
    if len(body) <= _LITERAL_EVAL_MAX_CHARS and _PY_LITERAL_HINT.search(body):
        try:  # tuples, implicit string concatenation, other Python-only spellings
            obj = ast.literal_eval(body.strip())
        except Exception:  # literal_eval raises many types (ValueError, SyntaxError, MemoryError, ...)
            return None
        if isinstance(obj, dict):
            return obj
    return None


def _jsonable(value: Any) -> Any:
    """Plain JSON values: tuples and sets become lists, bytes text, and split or lone
    UTF-16 surrogates (from ``\\ud83d``-style escapes) whole characters or U+FFFD, so
    the value can always be written as UTF-8."""
    if isinstance(value, dict):
        return {_join_surrogates(k if isinstance(k, str) else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, str):
        return _join_surrogates(value)
    return value


def _join_surrogates(text: str) -> str:
    """'\\ud83d\\ude00' read escape by escape gives two halves; make them one character."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _rewrite(body: str) -> str:
    """Rewrite near-JSON into JSON: quotes, Python names, trailing commas, bare keys, comments."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch in "\"'":
            text, i = _read_string(body, i)
            out.append(json.dumps(_join_surrogates(text), ensure_ascii=False))
            continue
        if ch == ",":
            j = i + 1
            while j < n and body[j] in " \t\r\n":
                j += 1
            if j >= n or body[j] in "}]":
                i = j
                continue
        elif ch == "/" and body.startswith("//", i) or ch == "#":
            nl = body.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif ch.isalpha() or ch == "_":
            m = _WORD_RE.match(body, i)
            word = m.group(0) if m else ch
            j = i + len(word)
            after = body[j:j + 40].lstrip(" \t")
            if word in _PY_NAMES and not after.startswith(":"):
                out.append(_PY_NAMES[word])
            elif after.startswith(":"):
                out.append(json.dumps(word))
            else:
                out.append(word)
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _read_string(body: str, i: int) -> tuple[str, int]:
    """Read a quoted string starting at ``body[i]`` with JSON and Python escapes; an
    unterminated string runs to the end. Returns (text, index after the string)."""
    return _unescape(body, i + 1, body[i])


def _unescape(body: str, j: int, quote: str | None) -> tuple[str, int]:
    """Decode escapes from ``body[j]`` up to the closing ``quote`` (None: to the end)."""
    buf: list[str] = []
    n = len(body)
    while j < n:
        c = body[j]
        if c == quote:
            return "".join(buf), j + 1
        if c == "\\" and j + 1 < n:
            nxt = body[j + 1]
            if nxt in _ESCAPES:
                buf.append(_ESCAPES[nxt])
                j += 2
            elif nxt == "'":
                buf.append("'")
                j += 2
            elif nxt == "\n":
                j += 2
            elif nxt in "uxU":
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = body[j + 2:j + 2 + width]
                if len(digits) == width and all(d in "0123456789abcdefABCDEF" for d in digits):
                    code = int(digits, 16)
                    buf.append(chr(code) if code <= 0x10FFFF else "\ufffd")
                    j += 2 + width
                else:
                    buf.append("\\")
                    j += 1
            else:
                buf.append("\\")
                j += 1
            continue
        buf.append(c)
        j += 1
    return "".join(buf), n


def _by_keys(body: str, arg_names: tuple[str, ...]) -> dict[str, Any] | None:
    """Last resort: find each known key and take everything up to the next known key as
    its value. Handles strings with unescaped double quotes inside."""
    found = []
    for name in arg_names:
        m = re.search(r"""["']?""" + re.escape(name) + r"""["']?\s*[:=]\s*""", body)
        if m:
            found.append((m.start(), m.end(), name))
    if not found:
        return None
    found.sort()
    close = body.rfind("}")
    out: dict[str, Any] = {}
    for k, (_, value_start, name) in enumerate(found):
        stop = found[k + 1][0] if k + 1 < len(found) else (close if close > value_start else len(body))
        raw = body[value_start:stop].strip().rstrip(",").strip()
        out[name] = _loose_value(raw)
    return out


def _loose_value(raw: str) -> Any:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return _unescape(raw[1:-1], 0, None)[0]
    try:
        return _DECODER.decode(raw)
    except (ValueError, RecursionError):
        return json.loads(_PY_NAMES[raw]) if raw in _PY_NAMES else raw
