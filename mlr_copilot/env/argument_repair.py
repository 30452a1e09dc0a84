"""Keyword arguments a scikit-learn class or function does not take, dropped before the script runs.

When the embedded model swaps one model for another it keeps the old one's settings:
``LogisticRegression(n_estimators=300)``, ``RandomForestRegressor(learning_rate=0.1)``,
``MLPClassifier(max_depth=1)``. Each is a certain ``TypeError: ... got an unexpected keyword
argument``: 11 of the 224 tree nodes run in the suites and probes of 2026-12-03 failed so,
each costing a node (and a debug node to find it out); functions get the same
(``accuracy_score(..., average="macro")``). Only calls of a class or function the script
imports from scikit-learn by name are touched, only keywords its signature does not name (one
taking ``**kwargs`` is left alone), and each keyword dropped is reported.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import logging

logger = logging.getLogger(__name__)

MAX_CALLS = 20  # calls rewritten at most: each one is parsed again after the last


def drop_unknown_keywords(code: str) -> tuple[str, list[str]]:
    """(the code without the keyword arguments its scikit-learn classes and functions do not take, a note
    per call changed). Code that does not parse comes back unchanged."""
    notes: list[str] = []
    for _ in range(MAX_CALLS):
        fixed, note = _fix_one_call(code)
        if note is None:
            break
        code = fixed
        notes.append(note)
    if notes:
        logger.info("Dropped keyword arguments the classes do not take: %s", "; ".join(notes))
    return code, notes


def _fix_one_call(code: str) -> tuple[str, str | None]:
    """The code with the first call that passes an unknown keyword rewritten, and a note; the
    code unchanged and None when there is none (one at a time: calls nest)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, None
    classes = _sklearn_callables(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in classes):
            continue
        accepted = _keywords(classes[node.func.id])
        unknown = [k.arg for k in node.keywords if accepted is not None and k.arg is not None and k.arg not in accepted]
        kept = [ast.get_source_segment(code, a) for a in node.args] + \
            [ast.get_source_segment(code, k) for k in node.keywords if k.arg not in unknown]
        if not unknown or any(part is None for part in kept):
            continue
        start, end = _offset(code, node.func.end_lineno, node.func.end_col_offset), \
            _offset(code, node.end_lineno, node.end_col_offset)
        note = (f"dropped {', '.join(f'`{k}=`' for k in unknown)} from `{node.func.id}(...)`, which does not take "
                f"{'it' if len(unknown) == 1 else 'them'}")
        return code[:start] + "(" + ", ".join(kept) + ")" + code[end:], note
    return code, None


def _offset(code: str, lineno: int, col: int) -> int:
    """The character offset of an ast position (whose column counts UTF-8 bytes)."""
    lines = code.splitlines(keepends=True)
    before = sum(len(line) for line in lines[:lineno - 1])
    return before + len(lines[lineno - 1].encode()[:col].decode(errors="replace"))


def _sklearn_callables(tree: ast.Module) -> dict[str, type]:
    """Local name: class or function, for each one the script imports from a scikit-learn module."""
    found: dict[str, type] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and not node.level
                and (node.module == "sklearn" or node.module.startswith("sklearn."))):
            continue
        try:
            module = importlib.import_module(node.module)
        except Exception:  # noqa: BLE001 - a module that fails to import tells us nothing
            continue
        for alias in node.names:
            value = getattr(module, alias.name, None)
            if inspect.isclass(value) or inspect.isfunction(value):
                found[alias.asname or alias.name] = value
    return found


def _keywords(target) -> set[str] | None:
    """The keyword names ``target(...)`` takes; None when it takes any (``**kwargs``) or is unknown."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
