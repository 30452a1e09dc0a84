"""Code a rewrite dropped but still uses, put back from the script it rewrote.

A small model that rewrites a whole script often loses a line it did not mean to touch and
keeps the lines that use it. In a loop run on review texts, an Edit Script (AI) dropped
``fit_part, val_part = train_test_split(...)``; the next six steps chased
``NameError: name 'fit_part' is not defined`` and the run ended where it began. In the tree
runs of the suite, 2 of the 6 nodes that failed on a NameError read a name their parent's
script defined (``features``, ``x_train``).

So, after a rewrite: a name the new script reads but binds nowhere, which the old script bound
in a top-level assignment, function, class or import, gets that statement back (with the
statements it needs that the new script lost as well): an import among the imports, anything
else just before the new script's first top-level statement that reads it. This happens only
when each such statement can go where all it reads is already bound and it rebinds nothing the
new script binds; otherwise nothing is put back. Where the edit instruction itself gives the
lost line in backticks ("make it `features = ['a', 'b']`"), that line goes in instead of the
old one: on an office-energy probe the edit model dropped the column list it was told to widen,
and putting the old one back ran the new model on the old two columns. Each statement put back
is reported, so nothing changes silently. ``repair_script`` then applies the import repairs
(``import_repair``), drops keyword arguments a scikit-learn class or function does not take
(``argument_repair``) and makes the date-part columns it reads that no table has
(``date_parts_repair``).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from .argument_repair import drop_unknown_keywords
from .data_columns import table_headers
from .date_parts_repair import add_date_parts
from .import_repair import fills_its_lines, import_insert_line, repair_imports, undefined_names

DEFINITIONS = (ast.Assign, ast.AnnAssign, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
IMPORTS = (ast.Import, ast.ImportFrom)
MAX_RESTORED = 8  # statements: a rewrite that lost more than this is a different script


@dataclass
class Repair:
    """What ``repair_script`` did: the code, a note per change, and the names it reads that
    nothing binds (each a NameError waiting to happen)."""
    code: str
    notes: list[str] = field(default_factory=list)
    unbound: list[str] = field(default_factory=list)


def repair_script(old: str | None, new: str, instruction: str = "", workspace: Path | None = None) -> Repair:
    """``new`` with the definitions it dropped from ``old`` (or given by ``instruction``) put
    back, then misplaced and forgotten imports fixed, unknown keywords of scikit-learn calls
    dropped and, with the ``workspace``, the date parts of its tables it reads made
    (``date_parts_repair``). Code that does not parse comes back unchanged."""
    code, notes = restore_dropped_definitions(old, new, instruction) if old else (new, [])
    code, import_notes = repair_imports(code)
    code, keyword_notes = drop_unknown_keywords(code)
    date_notes: list[str] = []
    if workspace is not None:
        code, date_notes = add_date_parts(code, workspace, table_headers(workspace))
    try:
        unbound = undefined_names(ast.parse(code))
    except (SyntaxError, ValueError):
        unbound = []
    return Repair(code, notes + import_notes + keyword_notes + date_notes, unbound)


def restore_dropped_definitions(old: str, new: str, instruction: str = "") -> tuple[str, list[str]]:
    """(``new`` with the top-level statements of ``old`` that bind names ``new`` reads but
    lost put back, or those ``instruction`` gives in backticks for them, a note per statement)."""
    try:
        old_tree, new_tree = ast.parse(old), ast.parse(new)
    except (SyntaxError, ValueError):
        return new, []
    missing = undefined_names(new_tree)
    if not missing:
        return new, []
    old_src = old.splitlines(keepends=True)
    new_bound = {name for stmt in new_tree.body for name in _binds_anywhere(stmt)}
    given = _given_definitions(instruction, missing, new_bound)
    from_old = _statements_to_restore(old_tree, old_src, [n for n in missing if n not in given], new_bound)
    chosen = [stmt for stmt, _ in given.values()] + from_old
    src = new.splitlines(keepends=True)
    if src and not src[-1].endswith("\n"):
        src[-1] += "\n"
    texts = [text for _, text in given.values()] + \
        ["".join(old_src[_first_line(s) - 1:s.end_lineno]).rstrip("\n") + "\n" for s in from_old]
    lines = _placement(chosen, new_tree, src) if chosen else None
    if lines is None:
        return new, []
    inserts: dict[int, list[str]] = {}
    notes = []
    read = set(missing)
    for k, (stmt, line, text) in enumerate(zip(chosen, lines, texts)):
        inserts.setdefault(line, []).append(text)
        names = sorted(_binds(stmt) & read) or sorted(_binds(stmt))
        first = text.strip().splitlines()[0]
        shown = first if len(first) <= 100 else first[:97] + "..."
        source = "as the edit instruction gives it" if k < len(given) else \
            f"(line {_first_line(stmt)} of the script it rewrote)"
        notes.append(f"put back `{shown}` {source}: the new script "
                     f"reads {', '.join(names)} but defines {'it' if len(names) == 1 else 'them'} nowhere")
    out: list[str] = []
    for i, text in enumerate(src + [""]):
        out.extend(inserts.get(i, []))
        out.append(text)
    return "".join(out), notes


def _given_definitions(instruction: str, missing: list[str], new_bound: set[str]) -> dict[str, tuple[ast.stmt, str]]:
    """The one-line assignments in backticks of ``instruction`` that bind a ``missing`` name
    and nothing the new script binds: {name: (statement, its line)}, the first for each name."""
    given: dict[str, tuple[ast.stmt, str]] = {}
    for snippet in re.findall(r"`([^`\n]+)`", instruction or ""):
        try:
            body = ast.parse(snippet.strip()).body
        except (SyntaxError, ValueError):
            continue
        if len(body) != 1 or not isinstance(body[0], (ast.Assign, ast.AnnAssign)):
            continue
        names = _binds(body[0])
        if names & set(missing) and not names & new_bound:
            for name in names & set(missing):
                given.setdefault(name, (body[0], snippet.strip() + "\n"))
    return given


def _statements_to_restore(old_tree: ast.Module, old_src: list[str], missing: list[str],
                           new_bound: set[str]) -> list[ast.stmt]:
    """The old top-level statements that first bound the ``missing`` names, and those they
    read that the new script binds nowhere either, in the old order; [] when one of them
    cannot be put back whole (a loop, a ``with``, a line shared with other code) or would
    rebind a name the new script binds."""
    binder: dict[str, ast.stmt] = {}
    for stmt in old_tree.body:
        for name in _binds(stmt):
            binder.setdefault(name, stmt)  # the first binding: later ones may build on it
    wanted: dict[int, ast.stmt] = {}
    todo = [name for name in missing if name in binder]
    while todo:
        stmt = binder[todo.pop()]
        if id(stmt) in wanted:
            continue
        if not isinstance(stmt, DEFINITIONS + IMPORTS) or len(wanted) >= MAX_RESTORED \
                or not fills_its_lines(old_src, stmt) \
                or (not isinstance(stmt, IMPORTS) and _binds(stmt) & new_bound):
            return []
        wanted[id(stmt)] = stmt
        todo.extend(name for name in _reads(stmt) if name in binder and name not in new_bound)
    return sorted(wanted.values(), key=lambda s: s.lineno)


def _placement(chosen: list[ast.stmt], new_tree: ast.Module, src: list[str]) -> list[int] | None:
    """Per chosen statement, the 0-based line of the new source before which it goes; None
    when one would read a name that is not bound by then."""
    body = new_tree.body
    index = []
    for stmt in chosen:  # imports first; the rest before the first top-level reader
        names = _binds(stmt)
        index.append(-1 if isinstance(stmt, IMPORTS) else
                     next((i for i, top in enumerate(body) if names & _reads(top)), len(body)))
    for k in range(len(chosen) - 1, -1, -1):  # and before the statements put back that read it
        for j in range(k + 1, len(chosen)):
            if _binds(chosen[k]) & _reads(chosen[j]):
                index[k] = min(index[k], index[j])
    placed = []
    for k, stmt in enumerate(chosen):
        bound = {n for top in body[:max(0, index[k])] for n in _binds_anywhere(top)}
        bound |= {n for j in range(len(chosen)) if j != k and (index[j], j) < (index[k], k)
                  for n in _binds(chosen[j])}
        if index[k] >= 0 and not _reads(stmt) <= bound:
            return None
        placed.append(import_insert_line(new_tree) if index[k] < 0 else _line_before(new_tree, src, index[k]))
    return placed


def _line_before(tree: ast.Module, src: list[str], index: int) -> int:
    """0-based source line before top-level statement ``index`` and the comment lines right
    above it (a comment stays with the code it describes); the end when past the last."""
    if index >= len(tree.body):
        return len(src)
    line = _first_line(tree.body[index]) - 1
    floor = tree.body[index - 1].end_lineno if index else 0
    while line > floor and src[line - 1].lstrip().startswith("#"):
        line -= 1
    return line


def _first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])


def _binds(stmt: ast.stmt) -> set[str]:
    """Names a top-level definition or import binds in the module's namespace."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, IMPORTS):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else \
        [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _binds_anywhere(stmt: ast.stmt) -> set[str]:
    """Every name a statement binds at any depth, as ``undefined_names`` counts them."""
    names = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, IMPORTS):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _reads(stmt: ast.stmt) -> set[str]:
    """Names a statement reads from outside itself (for a function or class, what its body
    reads and does not bind), builtins left out."""
    return set(undefined_names(ast.Module(body=[stmt], type_ignores=[])))
