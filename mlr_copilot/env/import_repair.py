"""Imports a rewritten script uses but forgot, added before it runs (tree nodes, and the
loop's AI edits through ``definition_repair.repair_script``).

The embedded model's most common bug: it rewrites a script's imports and then uses a name it
dropped (``make_pipeline``, ``train_test_split``), or names a class it never imported. In four
diabetes tree runs, 7 of 29 nodes failed this way, each costing a whole node to find out; one,
an ensemble written right (``VotingRegressor`` of the current model and a ridge pipeline),
failed on ``make_pipeline`` alone. A name is added only when it is used, bound nowhere in the
script and found in a well-known module; the Write File record lists every line added (in
``normalised``), so nothing is changed silently.

Its second most common import bug: a scikit-learn name imported from the wrong module
(``from sklearn.ensemble import VotingRegressor, Ridge``, ``... RandomForestRegressor, SVR``:
3 of 10 nodes of a diabetes run of 2026-12-02 failed on an ImportError, among them the
ensemble the improvement asked for). A name that the module it is imported from does not
define, but another scikit-learn module does, is imported from that one instead
(``fix_misplaced_imports``), and listed the same way.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import logging

logger = logging.getLogger(__name__)

MODULE_ALIASES = {"np": "import numpy as np", "pd": "import pandas as pd", "plt": "import matplotlib.pyplot as plt",
                  "nn": "import torch.nn as nn", "F": "import torch.nn.functional as F"}
PLAIN_MODULES = ("numpy", "pandas", "torch", "scipy", "sklearn", "os", "sys", "math", "json", "time", "random",
                 "re", "csv", "pickle", "warnings", "collections", "itertools", "pathlib")
# where a scikit-learn name lives: searched in this order, by each module's __all__
SKLEARN_MODULES = ("model_selection", "metrics", "pipeline", "preprocessing", "compose", "impute", "linear_model",
                   "ensemble", "svm", "neighbors", "tree", "neural_network", "naive_bayes", "decomposition",
                   "feature_selection", "feature_extraction.text", "discriminant_analysis", "kernel_ridge",
                   "gaussian_process", "cluster", "dummy", "calibration", "multiclass", "multioutput")
FROM_MODULES = (("pathlib", "Path"), ("collections", "Counter"), ("collections", "defaultdict"))


def undefined_names(tree: ast.Module) -> list[str]:
    """Names the code reads but binds nowhere (any scope) and that are not builtins, in the
    order first read. Conservative: a name bound anywhere counts as defined, and a star import
    may define anything, so then none is reported."""
    bound: set[str] = set(dir(builtins)) | {"__file__", "__name__"}
    used: dict[str, tuple[int, int]] = {}  # name: where it is first read
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return []
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                where = (node.lineno, node.col_offset)
                used[node.id] = min(used.get(node.id, where), where)
            else:
                bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
    return sorted((name for name in used if name not in bound), key=used.__getitem__)


def import_line(name: str) -> str | None:
    """The import that defines ``name`` in a well-known module, or None."""
    if name in MODULE_ALIASES:
        line = MODULE_ALIASES[name]
        return line if _importable(line.split()[1].split(".")[0]) else None
    if name in PLAIN_MODULES:
        return f"import {name}" if _importable(name) else None
    for module, attr in FROM_MODULES:
        if name == attr:
            return f"from {module} import {name}"
    for sub in SKLEARN_MODULES:
        module = _module(f"sklearn.{sub}")
        if module is not None and name in getattr(module, "__all__", ()):
            return f"from sklearn.{sub} import {name}"
    return None


def add_missing_imports(code: str) -> tuple[str, list[str]]:
    """(the code with the imports it lacked, the lines added). Code that does not parse, or
    lacks nothing known, comes back unchanged."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, []
    lines = [line for line in dict.fromkeys(import_line(n) for n in undefined_names(tree)) if line]
    if not lines:
        return code, []
    at = import_insert_line(tree)
    src = code.splitlines(keepends=True)
    added = "".join(f"{line}\n" for line in lines)
    logger.info("Added imports the script used without importing them: %s", "; ".join(lines))
    return "".join(src[:at]) + added + "".join(src[at:]), lines


def fix_misplaced_imports(code: str) -> tuple[str, list[str]]:
    """(the code with scikit-learn names imported from the module that defines them, a note
    per name moved). ``from sklearn.X import a, B`` where sklearn.X has no ``B`` but
    sklearn.Y does becomes ``from sklearn.X import a`` and ``from sklearn.Y import B``. Code
    that does not parse, names no module defines and statements sharing their lines with
    other code are left as they are."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, []
    src = code.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    notes: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or node.module is None \
                or not (node.module == "sklearn" or node.module.startswith("sklearn.")):
            continue
        module = _module(node.module)
        if module is None or not fills_its_lines(src, node):
            continue
        moved = {a.name: line for a in node.names if a.name != "*" and not hasattr(module, a.name)
                 and (line := import_line(a.name)) and line.startswith("from sklearn.")}
        if not moved:
            continue
        indent = " " * node.col_offset
        kept = [_spelled(a) for a in node.names if a.name not in moved]
        new = [f"{indent}from {node.module} import {', '.join(kept)}\n"] if kept else []
        for a in node.names:
            if a.name in moved:
                line = moved[a.name] + (f" as {a.asname}" if a.asname else "")
                new.append(f"{indent}{line}\n")
                notes.append(f"`{a.name}` was imported from {node.module}, which does not define it: now `{line}`")
        comment = src[node.end_lineno - 1][node.end_col_offset:].strip()
        if comment:  # the statement's trailing comment stays on its first line
            new[0] = f"{new[0][:-1]}  {comment}\n"
        edits.append((node.lineno - 1, node.end_lineno, "".join(new)))
    for start, end, text in sorted(edits, reverse=True):
        src[start:end] = [text]
    if notes:
        logger.info("Moved imports to the modules that define them: %s", "; ".join(notes))
    return "".join(src), notes


def repair_imports(code: str) -> tuple[str, list[str]]:
    """(the code with misplaced scikit-learn imports moved and forgotten imports added, a note
    per change, as the Write File record's ``normalised`` lists them)."""
    code, moved = fix_misplaced_imports(code)
    code, added = add_missing_imports(code)
    return code, moved + [f"added `{line}` (the script used the name without importing it)" for line in added]


def fills_its_lines(src: list[str], node: ast.stmt) -> bool:
    """Whether ``node`` fills its lines: nothing but spaces before it, a comment at most after."""
    first, last = src[node.lineno - 1], src[node.end_lineno - 1]
    return not first[:node.col_offset].strip() and last[node.end_col_offset:].strip()[:1] in ("", "#")


def _spelled(alias: ast.alias) -> str:
    return alias.name + (f" as {alias.asname}" if alias.asname else "")


def import_insert_line(tree: ast.Module) -> int:
    """Index of the source line before which imports go: the first import that is not a
    ``__future__`` one, else after the docstring and ``__future__`` imports."""
    after = 0
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            after = stmt.end_lineno
        elif i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                and isinstance(stmt.value.value, str):
            after = stmt.end_lineno
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return stmt.lineno - 1
        else:
            break
    return after


def _module(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a module that fails to import defines nothing for us
        return None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
