"""Retrieve Model / Retrieve Dataset: from an instruction to a short, explained list of Hub ids.

The fast model picks search words and says why each hit fits; the ranking itself is by
downloads (from ``hub_search``), so a model that answers junk costs the explanations,
never the results: keywords then come from the instruction's own words.
"""
from __future__ import annotations

import logging
import re
import time

from ..errors import ActionError, HubUnavailableError
from ..llm.base import LLM
from ..templates import render
from .context import ActionContext
from .hub_search import HUB_TIMEOUT_S, MAX_QUERIES, HubItem, hub_endpoint, search_hub

logger = logging.getLogger(__name__)

HUB_RESULTS = 8  # items listed in the observation
KEYWORD_MAX_TOKENS = 100
RANK_MAX_TOKENS = 800
MAX_TAGS_SHOWN = 8
_STOPWORDS = frozenset("""
a an the and or of for to in on with without from by at as is are be been that this these those
which who what when where how it its into than then there their them we our you your i me my
need needs needed want wants use used using find good best suitable appropriate some any can
could should would will may might like such e.g eg etc also very more most less well
model models dataset datasets data pretrained pre-trained pre trained hugging face hub huggingface
retrieve search look looking task tasks please based small large
""".split())
_DOWNLOAD = re.compile(r"^download\s+(\S+/\S+)$", re.IGNORECASE)  # "download org/name": fetch it
_NOISE_TAGS = ("region:", "arxiv:", "doi:", "base_model:", "endpoints_compatible", "autotrain_compatible")


def retrieve_from_hub(ctx: ActionContext, llm: LLM, kind: str, instruction: str) -> str:
    """The observation of Retrieve Model (``kind="model"``) or Retrieve Dataset (``"dataset"``)."""
    instruction = " ".join(instruction.split())
    wanted = _DOWNLOAD.match(instruction) if kind == "model" else None
    if wanted:
        from .hub_prototype import download_model_step

        return download_model_step(ctx, wanted.group(1))
    if not instruction:
        raise ActionError(f"The instruction is empty: describe the {kind} you need.")
    queries = hub_queries(llm, kind, instruction)
    fallback = [q for q in fallback_queries(instruction) if q.lower() not in {x.lower() for x in queries}]
    if not queries:
        queries, fallback = fallback, []
    if not queries:
        raise ActionError(f"No search words could be taken from the instruction; name the task, "
                          f"the data or a known {kind} family.")
    endpoint = hub_endpoint(ctx.config.hf_endpoint)
    try:
        result = search_hub(kind, queries, endpoint=endpoint, limit=HUB_RESULTS, timeout_s=_timeout(ctx))
        if not result.items and fallback:
            more = search_hub(kind, fallback, endpoint=endpoint, limit=HUB_RESULTS, timeout_s=_timeout(ctx))
            more.queries = result.queries + more.queries
            result = more
    except HubUnavailableError as exc:
        return (f"{exc} No {kind}s were retrieved. Try again later, or use a {kind} you already "
                "know to be available.")
    searched = ", ".join(f'"{q}"' for q in result.queries)
    if not result.items:
        return (f"No {kind}s on the Hugging Face Hub ({result.endpoint}) matched the searches {searched}. "
                f"Try again with other words (a task name, a {kind} family, a benchmark name).")
    reasons = explain(llm, kind, instruction, result.items)
    lines = [f"{kind.capitalize()}s on the Hugging Face Hub ({result.endpoint}) found by the searches "
             f"{searched}, most downloaded first:"]
    for n, item in enumerate(result.items, 1):
        lines.append(f"{n}. {item.id}: {_facts(item)}")
        tags = [t for t in item.tags if not t.startswith(_NOISE_TAGS)][:MAX_TAGS_SHOWN]
        if tags:
            lines.append(f"   tags: {', '.join(tags)}")
        if item.description:
            lines.append(f"   description: {_clip(item.description, 200)}")
        lines.append(f"   why: {reasons.get(item.id) or _default_reason(item)}")
    if kind == "model":
        lines.append('Load a model in a script with, e.g., transformers\' AutoModel.from_pretrained("<id>") '
                     "(its model card names the right class); downloading it needs network access.")
    else:
        lines.append('Load a dataset in a script with datasets.load_dataset("<id>"); downloading it needs '
                     "network access.")
    return "\n".join(lines)


def hub_queries(llm: LLM, kind: str, instruction: str) -> list[str]:
    """Search words chosen by the model; [] when its answer holds nothing usable."""
    prompt = render("env.prompts", "hub_keywords", kind=kind, instruction=instruction,
                    max_queries=MAX_QUERIES - 1)
    reply = llm.complete([{"role": "user", "content": prompt}], max_tokens=KEYWORD_MAX_TOKENS,
                         purpose="hub_keywords").text
    queries: list[str] = []
    for raw in re.split(r"[\n,;]", reply):
        term = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", raw).strip().strip("\"'`*.").strip()
        if not term or ":" in term or len(term) > 40 or len(term.split()) > 3:
            continue
        if term.lower() not in (q.lower() for q in queries):
            queries.append(term)
    if not queries:
        logger.info("hub keyword reply held no usable terms: %r", reply[:200])
    return queries[:MAX_QUERIES - 1]


def fallback_queries(instruction: str, count: int = 3) -> list[str]:
    """Distinctive words of the instruction itself, in order of appearance."""
    words: list[str] = []
    for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9_.+-]*[A-Za-z0-9]", instruction):
        low = word.lower()
        if low in _STOPWORDS or len(low) < 3 or low.isdigit() or low in words:
            continue
        words.append(low)
    return words[:count]


def explain(llm: LLM, kind: str, instruction: str, items: list[HubItem]) -> dict[str, str]:
    """One reason per id from the fast model; ids it skipped or garbled get none."""
    candidates = "\n".join(f"- {it.id} ({_facts(it)}"
                           + (f"; {_clip(it.description, 150)}" if it.description else "") + ")"
                           for it in items)
    prompt = render("env.prompts", "hub_rank", kind=kind, instruction=instruction, candidates=candidates)
    reply = llm.complete([{"role": "user", "content": prompt}], max_tokens=RANK_MAX_TOKENS,
                         purpose="hub_rank").text
    ids = sorted((it.id for it in items), key=len, reverse=True)
    reasons: dict[str, str] = {}
    for line in reply.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip()
        for item_id in ids:
            pos = line.lower().find(item_id.lower())
            if pos != -1 and pos <= 4:
                reason = line[pos + len(item_id):].strip().lstrip("`*\"'").lstrip(":-–— ").strip()
                if reason and item_id not in reasons:
                    reasons[item_id] = _clip(reason, 300)
                break
    return reasons


def _facts(item: HubItem) -> str:
    facts = [f"{item.downloads:,} downloads", f"{item.likes:,} likes"]
    if item.pipeline_tag:
        facts.append(f"task: {item.pipeline_tag}")
    return ", ".join(facts)


def _default_reason(item: HubItem) -> str:
    found = ", ".join(f'"{q}"' for q in item.matched)
    return f"found by the search {found} (no explanation from the model)"


def _timeout(ctx: ActionContext) -> float:
    if ctx.deadline is None:
        return HUB_TIMEOUT_S
    return max(1.0, min(HUB_TIMEOUT_S, ctx.deadline - time.monotonic()))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
