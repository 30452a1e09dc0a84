"""Pieces of the HTML report: workspace diffs between snapshots, the score chart, the node tree.

Everything returns HTML text in which every string from the run is escaped; nothing here
reaches the network, and no script is emitted (the report is static HTML and CSS).
"""
from __future__ import annotations

import difflib
import html
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..records import EnvLog

logger = logging.getLogger(__name__)

DIFF_FILE_BYTES = 256 * 1024  # larger files are listed, not diffed
DIFF_LINES = 400  # per file
CHART_W, CHART_H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 260, 64, 16, 16, 40
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# ---------------------------------------------------------------- workspace diffs
@dataclass
class FileChange:
    path: str
    kind: str  # added | removed | changed
    lines: list[str] = field(default_factory=list)  # unified diff lines; empty for binary/large
    note: str = ""


def _text(env_log: Path, info: Mapping[str, Any] | None) -> tuple[list[str] | None, str]:
    """A snapshot file's lines, or None with the reason it is not shown as text."""
    if not info:
        return [], ""
    if info.get("size", 0) > DIFF_FILE_BYTES:
        return None, f"{info['size']:,} bytes, too large to show"
    try:
        data = EnvLog(env_log).blob(info["sha256"]).read_bytes()
    except OSError as exc:
        return None, f"content not readable: {exc}"
    if b"\0" in data[:8192]:
        return None, f"binary, {len(data):,} bytes"
    try:
        return data.decode("utf-8").splitlines(), ""
    except UnicodeDecodeError:
        return None, f"not UTF-8 text, {len(data):,} bytes"


def step_changes(env_log: Path, before: int, after: int) -> list[FileChange]:
    """What changed in the workspace from snapshot ``before`` to ``after``, with text diffs."""
    from ..env.snapshots import diff_manifests, load_manifest

    a, b = load_manifest(env_log, before), load_manifest(env_log, after)
    diff = diff_manifests(a, b)
    out = []
    for kind in ("changed", "added", "removed"):
        for path in diff[kind]:
            old_info, new_info = a.get("files", {}).get(path), b.get("files", {}).get(path)
            if (old_info is None and path in a.get("symlinks", {})) or (new_info is None and path in b.get("symlinks", {})):
                out.append(FileChange(path, kind, note="symbolic link"))
                continue
            old, why_old = _text(env_log, old_info)
            new, why_new = _text(env_log, new_info)
            if old is None or new is None:
                out.append(FileChange(path, kind, note=why_new or why_old))
                continue
            lines = list(difflib.unified_diff(old, new, f"step {before}/{path}", f"step {after}/{path}",
                                              lineterm="", n=2))
            note = ""
            if len(lines) > DIFF_LINES:
                note = f"{len(lines) - DIFF_LINES} more diff lines not shown"
                lines = lines[:DIFF_LINES]
            out.append(FileChange(path, kind, lines, note))
    return out


def changes_html(changes: Sequence[FileChange], before: int) -> str:
    if not changes:
        return f'<p class="muted">No file changed since step {before}.</p>'
    parts = []
    for c in changes:
        head = f'<div class="file"><span class="tag {c.kind}">{c.kind}</span> <code>{esc(c.path)}</code>'
        if c.note:
            head += f' <span class="muted">({esc(c.note)})</span>'
        body = "".join(f'<span class="{_line_class(line)}">{esc(line)}</span>\n' for line in c.lines)
        parts.append(head + (f'<pre class="diff">{body}</pre>' if body else "") + "</div>")
    return "".join(parts)


def _line_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "dh"
    if line.startswith("@@"):
        return "dhunk"
    return {"+": "dadd", "-": "ddel"}.get(line[:1], "dctx")


# ---------------------------------------------------------------- score chart (SVG)
def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) between ``lo`` and ``hi``."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step) + 1)]


def score_chart_svg(series: Sequence[tuple[str, Sequence[tuple[int, float]]]], *, baseline: float | None,
                    metric: str, title: str = "") -> str:
    """Inline SVG of score over steps: one polyline per (label, points); the baseline dashed."""
    pts = [p for _, s in series for p in s]
    if not pts:
        return ""
    ys = [y for _, y in pts] + ([baseline] if baseline is not None else [])
    lo, hi = min(ys), max(ys)
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.05 or 0.5), hi + (abs(hi) * 0.05 or 0.5)
    span = hi - lo
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    xmax = max(1, max(x for x, _ in pts))
    plot_w, plot_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B

    def sx(x: float) -> float:
        return PAD_L + plot_w * x / xmax

    def sy(y: float) -> float:
        return PAD_T + plot_h * (1 - (y - lo) / (hi - lo))

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_W} {CHART_H}" '
           f'width="{CHART_W}" height="{CHART_H}" role="img" aria-label="{esc(title or metric)} over steps">',
           f'<rect x="{PAD_L}" y="{PAD_T}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>']
    for t in _ticks(lo, hi):
        out.append(f'<line x1="{PAD_L}" x2="{PAD_L + plot_w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                   f'<text x="{PAD_L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" font-size="11">{t:.4g}</text>')
    step_ticks = sorted({0, xmax, *range(0, xmax + 1, max(1, xmax // 10))})
    for x in step_ticks:
        out.append(f'<text x="{sx(x):.1f}" y="{PAD_T + plot_h + 16}" text-anchor="middle" font-size="11">{x}</text>')
    out.append(f'<text x="{PAD_L + plot_w / 2}" y="{CHART_H - 6}" text-anchor="middle" font-size="12">step</text>')
    out.append(f'<text x="14" y="{PAD_T + plot_h / 2}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 14 {PAD_T + plot_h / 2})">{esc(metric)}</text>')
    if baseline is not None:
        out.append(f'<line class="baseline" x1="{PAD_L}" x2="{PAD_L + plot_w}" y1="{sy(baseline):.1f}" '
                   f'y2="{sy(baseline):.1f}" stroke="#777" stroke-dasharray="6 4"/>'
                   f'<text x="{PAD_L + plot_w - 4}" y="{sy(baseline) - 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="#555">baseline {baseline:.4g}</text>')
    for i, (label, points) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        out.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{coords}">'
                   f'<title>{esc(label)}</title></polyline>')
        for x, y in points:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}">'
                       f'<title>{esc(label)}: step {x}, {esc(metric)} {y:.4g}</title></circle>')
    out.append("</svg>")
    legend = "".join(f'<span class="legend"><span class="swatch" style="background:{COLORS[i % len(COLORS)]}">'
                     f'</span>{esc(label)}</span>' for i, (label, _) in enumerate(series) if label)
    return "".join(out) + (f'<div class="legends">{legend}</div>' if len(series) > 1 else "")


def step_points(step_scores: Sequence[Mapping[str, Any]] | None) -> list[tuple[int, float]]:
    return [(int(s["step"]), float(s["score"])) for s in step_scores or []
            if s.get("valid") and isinstance(s.get("score"), (int, float)) and isinstance(s.get("step"), int)]


# ---------------------------------------------------------------- node tree
def nodes_of(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``node`` objects of step records (tree strategy): a node's last record, with the first
    step that recorded it (a node may take several steps: written, then run)."""
    nodes: dict[str, dict[str, Any]] = {}
    for s in steps:
        node = s.get("node")
        if isinstance(node, Mapping) and node.get("id") is not None:
            first = nodes.get(str(node["id"]), {}).get("step", s.get("step"))
            nodes[str(node["id"])] = {**node, "step": first}
    return list(nodes.values())


def tree_html(nodes: Sequence[Mapping[str, Any]]) -> str:
    """Nested lists, children under parents; a node whose parent is unknown becomes a root."""
    ids = {str(n["id"]) for n in nodes}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for n in nodes:
        parent = n.get("parent")
        key = str(parent) if parent is not None and str(parent) in ids else None
        children.setdefault(key, []).append(n)

    def render(key: str | None, depth: int) -> str:
        items = []
        for n in children.get(key, []):
            metric = n.get("metric")
            shown = f"{metric:.4g}" if isinstance(metric, (int, float)) else ("n/a" if metric is None else metric)
            cls = "node buggy" if n.get("buggy") else "node"
            label = (f'<span class="{cls}"><b>{esc(n["id"])}</b> · {esc(n.get("stage") or "?")} · '
                     f'metric {esc(shown)}{" · buggy" if n.get("buggy") else ""}'
                     f'{" · step " + esc(n["step"]) if n.get("step") is not None else ""}'
                     f'{" · code " + esc(str(n.get("code_hash"))[:10]) if n.get("code_hash") else ""}</span>')
            sub = render(str(n["id"]), depth + 1) if depth < 64 else ""
            items.append(f"<li>{label}{sub}</li>")
        return f'<ul class="tree">{"".join(items)}</ul>' if items else ""

    return render(None, 0)


CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1b1b;background:#f4f5f7}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 12px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #ddd}
table.kv td{padding:2px 12px 2px 0;vertical-align:top}table.kv td:first-child{font-weight:600;color:#345;white-space:nowrap}
table.grid{border-collapse:collapse;background:#fff}table.grid th,table.grid td{border:1px solid #ddd;padding:4px 8px;text-align:left}
table.grid th{background:#eef1f5}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:10px 0;padding:0}
.card>summary{cursor:pointer;padding:8px 12px;font-weight:600;list-style-position:inside}
.card .body{padding:4px 14px 12px}
.meta{color:#666;font-weight:400;font-size:12.5px;margin-left:8px}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f9;border:1px solid #e5e5ea;border-radius:4px;
padding:8px;margin:4px 0;font:12.5px/1.4 ui-monospace,Menlo,Consolas,monospace;max-height:420px;overflow:auto}
.label{font-weight:600;color:#5a2d82}.muted{color:#777}
.ok{color:#17692b;font-weight:600}.bad{color:#a11;font-weight:600}
.tag{display:inline-block;font-size:11px;padding:0 6px;border-radius:8px;color:#fff}
.tag.added{background:#2e7d32}.tag.removed{background:#c62828}.tag.changed{background:#1565c0}
pre.diff .dadd{color:#116329;background:#e6ffec}pre.diff .ddel{color:#82071e;background:#ffebe9}
pre.diff .dhunk{color:#6639ba}pre.diff .dh{color:#555;font-weight:600}
.file{margin:6px 0}.legend{margin-right:14px;font-size:12.5px}
.swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
ul.tree{list-style:none;padding-left:18px;border-left:1px dashed #bbb}.node{font-size:13px}.node.buggy{color:#a11}
"""


def page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>\n")
