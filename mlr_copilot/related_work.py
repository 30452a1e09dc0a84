"""Recent related papers by keyword: Semantic Scholar first, OpenAlex as the fallback.

Related work is a help, not a requirement: offline, on a rate limit (HTTP 429), a server
error, a timeout or an unreachable host, the search gives up on that source, records why
in ``notes`` and tries the next; when none answers the idea stage goes on without papers.
Base URLs are configurable (``MLR_S2_BASE_URL``, ``MLR_OPENALEX_BASE_URL`` or arguments),
so tests and mirrors can stand in for the real services.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

logger = logging.getLogger(__name__)

DEFAULT_S2_BASE_URL = "https://api.semanticscholar.org"
DEFAULT_OPENALEX_BASE_URL = "https://api.openalex.org"
DEFAULT_TIMEOUT_S = 15.0
DEFAULT_LIMIT = 6  # papers kept in all
DEFAULT_PER_KEYWORD = 3
DEFAULT_MAX_KEYWORDS = 3
DEFAULT_RECENT_YEARS = 6  # "recent": published in the last N years
S2_FIELDS = "title,abstract,year,authors,url,venue,externalIds"


@dataclass
class RelatedPaper:
    title: str
    abstract: str = ""
    year: int | None = None
    authors: list[str] = field(default_factory=list)
    url: str = ""
    venue: str = ""
    source: str = ""  # semantic_scholar | openalex
    keyword: str = ""  # the query that found it

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RelatedWorkResult:
    papers: list[RelatedPaper] = field(default_factory=list)
    source: str | None = None  # the service that answered
    notes: list[str] = field(default_factory=list)  # why a source gave nothing
    queries: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"papers": [p.to_dict() for p in self.papers], "source": self.source,
                "notes": list(self.notes), "queries": list(self.queries)}


class _SourceFailed(Exception):
    """This source cannot answer now (rate limit, error, unreachable): try the next one."""


def _get(client, url: str, params: dict, name: str) -> Any:
    import httpx

    try:
        response = client.get(url, params=params)
    except httpx.TimeoutException as exc:
        raise _SourceFailed(f"{name} timed out ({exc.__class__.__name__})") from exc
    except httpx.HTTPError as exc:
        raise _SourceFailed(f"{name} unreachable ({exc.__class__.__name__}: {exc})") from exc
    if response.status_code == 429:
        after = response.headers.get("retry-after")
        raise _SourceFailed(f"{name} rate-limited the search (HTTP 429"
                            + (f", retry after {after} s" if after else "") + ")")
    if response.status_code >= 400:
        raise _SourceFailed(f"{name} answered HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise _SourceFailed(f"{name} answered something that is not JSON") from exc


def _s2_search(client, base: str, keyword: str, limit: int, since: int) -> list[RelatedPaper]:
    data = _get(client, f"{base}/graph/v1/paper/search",
                {"query": keyword, "limit": limit, "fields": S2_FIELDS, "year": f"{since}-"}, "Semantic Scholar")
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _SourceFailed("Semantic Scholar answered without a 'data' list")
    papers = []
    for item in items:
        if not isinstance(item, dict) or not item.get("title"):
            continue
        papers.append(RelatedPaper(
            title=str(item["title"]).strip(), abstract=str(item.get("abstract") or "").strip(),
            year=item.get("year") if isinstance(item.get("year"), int) else None,
            authors=[str(a.get("name")) for a in item.get("authors") or [] if isinstance(a, dict) and a.get("name")],
            url=str(item.get("url") or ""), venue=str(item.get("venue") or ""),
            source="semantic_scholar", keyword=keyword))
    return papers


def openalex_abstract(inverted: Any) -> str:
    """OpenAlex ships abstracts as {word: [positions]}; put the words back in order."""
    if not isinstance(inverted, dict):
        return ""
    positions = [(pos, word) for word, where in inverted.items() if isinstance(where, list)
                 for pos in where if isinstance(pos, int)]
    return " ".join(word for _, word in sorted(positions))


def _openalex_search(client, base: str, keyword: str, limit: int, since: int) -> list[RelatedPaper]:
    params: dict[str, Any] = {"search": keyword, "per-page": limit,
                              "filter": f"from_publication_date:{since}-01-01"}
    if os.environ.get("OPENALEX_MAILTO"):
        params["mailto"] = os.environ["OPENALEX_MAILTO"]
    if os.environ.get("OPENALEX_API_KEY"):
        params["api_key"] = os.environ["OPENALEX_API_KEY"]
    data = _get(client, f"{base}/works", params, "OpenAlex")
    items = data.get("results") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _SourceFailed("OpenAlex answered without a 'results' list")
    papers = []
    for item in items:
        title = isinstance(item, dict) and (item.get("display_name") or item.get("title"))
        if not title:
            continue
        location = item.get("primary_location") or {}
        venue = ((location.get("source") or {}).get("display_name") or "") if isinstance(location, dict) else ""
        papers.append(RelatedPaper(
            title=str(title).strip(), abstract=openalex_abstract(item.get("abstract_inverted_index")),
            year=item.get("publication_year") if isinstance(item.get("publication_year"), int) else None,
            authors=[str((a.get("author") or {}).get("display_name")) for a in item.get("authorships") or []
                     if isinstance(a, dict) and (a.get("author") or {}).get("display_name")],
            url=str(item.get("doi") or item.get("id") or ""), venue=str(venue),
            source="openalex", keyword=keyword))
    return papers


def search_related(keywords: Sequence[str], *, online: bool = True, limit: int = DEFAULT_LIMIT,
                   per_keyword: int = DEFAULT_PER_KEYWORD, max_keywords: int = DEFAULT_MAX_KEYWORDS,
                   since_year: int | None = None, s2_base_url: str | None = None,
                   openalex_base_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> RelatedWorkResult:
    """Up to ``limit`` recent papers for the first ``max_keywords`` keywords; never raises for
    network trouble: the reasons land in ``result.notes``."""
    queries = [k.strip() for k in keywords if k and k.strip()][:max_keywords]
    result = RelatedWorkResult(queries=queries)
    if not online:
        result.notes.append("offline: related-work search skipped")
        return result
    if not queries:
        result.notes.append("no keywords to search for")
        return result
    import httpx

    since = since_year or (_dt.date.today().year - DEFAULT_RECENT_YEARS)
    headers = {"User-Agent": "mlr-copilot (related-work search)"}
    if os.environ.get("S2_API_KEY"):
        headers["x-api-key"] = os.environ["S2_API_KEY"]
    sources = [
        ("semantic_scholar", _s2_search,
         (s2_base_url or os.environ.get("MLR_S2_BASE_URL") or DEFAULT_S2_BASE_URL).rstrip("/")),
        ("openalex", _openalex_search,
         (openalex_base_url or os.environ.get("MLR_OPENALEX_BASE_URL") or DEFAULT_OPENALEX_BASE_URL).rstrip("/")),
    ]
    with httpx.Client(timeout=timeout_s, headers=headers, follow_redirects=True) as client:
        for name, search, base in sources:
            found: list[RelatedPaper] = []
            try:
                for keyword in queries:
                    found.extend(search(client, base, keyword, per_keyword, since))
            except _SourceFailed as exc:
                logger.info("related work: %s", exc)
                last = name == sources[-1][0]
                result.notes.append(str(exc) + ("" if found else "; no papers from it" if last
                                                else "; falling back to OpenAlex"))
                if not found:
                    continue
            seen: set[str] = set()
            for paper in found:
                key = " ".join(paper.title.lower().split())
                if key not in seen:
                    seen.add(key)
                    result.papers.append(paper)
            result.papers = result.papers[:limit]
            if result.papers:
                result.source = name
                break
            result.notes.append(f"{name.replace('_', ' ')} found no papers for {', '.join(queries)}")
    if not result.papers:
        result.notes.append("continuing without related work")
    return result


def format_papers(papers: Sequence[RelatedPaper], abstract_chars: int = 500) -> str:
    """Numbered titles with short abstracts, for a prompt."""
    lines = []
    for i, p in enumerate(papers, 1):
        meta = ", ".join(x for x in (str(p.year) if p.year else "", p.venue) if x)
        abstract = p.abstract if len(p.abstract) <= abstract_chars else p.abstract[:abstract_chars].rsplit(" ", 1)[0] + " …"
        lines.append(f"[{i}] {p.title}" + (f" ({meta})" if meta else "") + (f"\n    {abstract}" if abstract else ""))
    return "\n".join(lines)
