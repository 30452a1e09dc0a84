"""Find the code and artefacts that come with a paper: repositories, and Hub models, datasets, Spaces.

Three sources, each recorded as the provenance of what it found:

- repository URLs written in the paper's text (GitHub, GitLab, Bitbucket), ranked by where
  they stand: "our code is available at …" in the abstract or body beats a bare mention, and a
  repository cited only in the references is most likely someone else's;
- the paper page on the Hugging Face Hub (``/api/papers/<arXiv id>``), whose ``githubRepo``
  the authors or the community linked;
- models, datasets and Spaces on the Hub tagged ``arxiv:<id>`` (the Hub adds the tag when a
  card cites the paper); the top models get their size and license.

Every network request goes through ``httpx`` with a short timeout and no retries, to the Hub
endpoint of the run (``--hf-endpoint``, else ``HF_ENDPOINT``, as huggingface_hub reads it).
A source that cannot be asked (offline, unreachable, HTTP error) is skipped with a note
saying why; nothing here raises for network trouble.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 15.0
MAX_HUB_ITEMS = 10  # per kind (models, datasets, Spaces)
MAX_SIZED_MODELS = 5  # models whose files are listed to learn their size
CUE_WINDOW = 160  # characters around a URL searched for words like "code" or "available"

# Scores: the rank of a repository candidate; more sources that agree add a little.
SCORE_TEXT_CUED = 0.9  # "code is available at <url>" outside the references
SCORE_PAPERS_API = 0.85
SCORE_TEXT_BODY = 0.6
SCORE_TEXT_REFERENCES = 0.2
SCORE_AGREEMENT = 0.1

_HOSTS = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}
_URL = re.compile(r"(?:https?://)?(?:www\.)?(?P<host>github\.com|gitlab\.com|bitbucket\.org)/"
                  r"(?P<owner>[A-Za-z0-9][A-Za-z0-9_.-]*)/(?P<name>[A-Za-z0-9_.-]+)", re.IGNORECASE)
_NOT_OWNERS = {"orgs", "topics", "features", "sponsors", "about", "settings", "marketplace", "explore",
               "login", "join", "pricing", "collections", "trending", "site", "help", "users", "apps"}
_CUES = re.compile(r"\b(code|codes|implementation|available|release[ds]?|open[- ]?sourced?|repository|"
                   r"github|reproduce|our)\b", re.IGNORECASE)
_REFERENCES = re.compile(r"references|bibliography", re.IGNORECASE)
_ARXIV_IN_TEXT = re.compile(r"arxiv[:\s./]*(?:abs/)?(\d{4}\.\d{4,5})(?:v\d+)?", re.IGNORECASE)
_OWNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")


@dataclass
class RepoCandidate:
    """One repository that may hold the paper's code; ``provenance`` says who named it."""

    host: str  # github | gitlab | bitbucket
    owner: str
    name: str
    score: float = 0.0
    provenance: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.host, self.owner.lower(), self.name.lower())

    @property
    def url(self) -> str:
        host = next(h for h, k in _HOSTS.items() if k == self.host)
        return f"https://{host}/{self.owner}/{self.name}"

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class HubArtefact:
    """A model, dataset or Space on the Hub that cites the paper."""

    kind: str  # model | dataset | space
    id: str
    downloads: int = 0
    likes: int = 0
    license: str | None = None
    size_bytes: int | None = None  # models only, when their files could be listed
    provenance: str = ""


@dataclass
class PaperArtefacts:
    """Everything found for one paper, best first, with a note for each skipped source."""

    arxiv_id: str | None = None
    repos: list[RepoCandidate] = field(default_factory=list)
    models: list[HubArtefact] = field(default_factory=list)
    datasets: list[HubArtefact] = field(default_factory=list)
    spaces: list[HubArtefact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for r, c in zip(d["repos"], self.repos):
            r["url"] = c.url
        return d


# --- repositories named in text ----------------------------------------------------------

def parse_repo(text: str) -> RepoCandidate | None:
    """``owner/name``, or a GitHub/GitLab/Bitbucket URL, as a candidate; None when it is neither."""
    text = text.strip()
    m = _URL.search(text)
    if m:
        return _candidate(m.group("host"), m.group("owner"), m.group("name"))
    if _OWNER_NAME.match(text):
        owner, name = text.split("/")
        return _candidate("github.com", owner, name)
    return None


def _candidate(host: str, owner: str, name: str) -> RepoCandidate | None:
    name = re.sub(r"\.git$", "", name.rstrip("."), flags=re.IGNORECASE)
    if not name or owner.lower() in _NOT_OWNERS or name in (".", ".."):
        return None
    return RepoCandidate(host=_HOSTS[host.lower()], owner=owner, name=name)


def repos_in_text(parts: Iterable[tuple[str, str]]) -> list[RepoCandidate]:
    """Repository URLs in ``(section heading, text)`` parts, scored by where they stand."""
    found: dict[tuple, RepoCandidate] = {}
    for heading, text in parts:
        in_refs = bool(_REFERENCES.search(heading or ""))
        # PDF text breaks long URLs at line ends ("github.com/owner/\nrepo"): join them back.
        text = re.sub(r"((?:github\.com|gitlab\.com|bitbucket\.org)/(?:[\w.-]+/)?)[ \t]*\n[ \t]*", r"\1",
                      text or "", flags=re.IGNORECASE)
        for m in _URL.finditer(text):
            cand = _candidate(m.group("host"), m.group("owner"), m.group("name"))
            if cand is None:
                continue
            around = text[max(0, m.start() - CUE_WINDOW):m.end() + CUE_WINDOW]
            if in_refs:
                score, where = SCORE_TEXT_REFERENCES, "references"
            elif _CUES.search(_URL.sub(" ", around)):
                score, where = SCORE_TEXT_CUED, (heading or "text") + ", next to words about code"
            else:
                score, where = SCORE_TEXT_BODY, heading or "text"
            known = found.setdefault(cand.key, cand)
            if score > known.score:
                known.score = score
            note = f"paper text ({where})"
            if note not in known.provenance:
                known.provenance.append(note)
    return list(found.values())


def paper_parts(paper) -> list[tuple[str, str]]:
    """A ``paper.Paper`` as (heading, text) parts, title and abstract first."""
    return [("title", paper.title), ("abstract", paper.abstract)] + [
        (s.heading, s.text) for s in paper.sections if s.heading.lower() != "abstract"]


def arxiv_id_of(paper) -> str | None:
    """The paper's own arXiv id: from its source or its arXiv stamp, else the first in its front matter."""
    from .paper import arxiv_id

    own = arxiv_id(paper.source) or getattr(paper, "arxiv_id", None)
    if own:
        return re.sub(r"v\d+$", "", own)
    front = " ".join([paper.title, paper.abstract] + [s.text for s in paper.sections[:1]])
    m = _ARXIV_IN_TEXT.search(front)
    return m.group(1) if m else None


# --- the Hub ---------------------------------------------------------------------------

def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (huggingface_hub's switch) or ``MLR_OFFLINE`` set to a true value."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "MLR_OFFLINE"))


class _Skip(Exception):
    """A source could not be asked; the message says why."""


def _get_json(url: str, params: dict | None = None, timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
    import httpx

    try:
        r = httpx.get(url, params=params, timeout=timeout_s, follow_redirects=True,
                      headers={"User-Agent": "mlr-copilot (paper artefacts)"})
    except httpx.TimeoutException:
        raise _Skip(f"{url} did not answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise _Skip(f"{url} is unreachable ({type(exc).__name__})") from None
    if r.status_code == 404:
        return None
    if r.status_code >= 400:
        raise _Skip(f"{url} answered HTTP {r.status_code}")
    try:
        return r.json()
    except ValueError:
        raise _Skip(f"{url} did not answer JSON") from None


def _license_of(tags: list, card: Any = None) -> str | None:
    if isinstance(card, dict) and isinstance(card.get("license"), str):
        return card["license"]
    for t in tags or []:
        if isinstance(t, str) and t.startswith("license:"):
            return t.split(":", 1)[1]
    return None


def _as_int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def hub_artefacts(arxiv: str, endpoint: str, found: PaperArtefacts) -> None:
    """Fill ``found`` from the Hub: the paper page's repository and what cites ``arxiv:<id>``."""
    try:
        page = _get_json(f"{endpoint}/api/papers/{arxiv}")
    except _Skip as exc:
        found.notes.append(f"Hugging Face paper page skipped: {exc}.")
        return  # the Hub is not answering: the searches below would fail the same way
    repo = page.get("githubRepo") if isinstance(page, dict) else None
    if isinstance(repo, str) and (cand := parse_repo(repo)) is not None:
        cand.score, cand.provenance = SCORE_PAPERS_API, [f"Hugging Face paper page ({endpoint}/papers/{arxiv})"]
        _merge(found.repos, cand)
    elif page is None:
        found.notes.append(f"The Hugging Face Hub has no paper page for arXiv:{arxiv}.")
    for kind, target in (("model", found.models), ("dataset", found.datasets), ("space", found.spaces)):
        try:
            items = _get_json(f"{endpoint}/api/{kind}s", {"filter": f"arxiv:{arxiv}", "sort": "downloads",
                                                          "direction": "-1", "limit": MAX_HUB_ITEMS})
        except _Skip as exc:
            found.notes.append(f"Hub {kind} search skipped: {exc}.")
            continue
        for it in (items or [])[:MAX_HUB_ITEMS]:
            if isinstance(it, dict) and isinstance(it.get("id"), str):
                target.append(HubArtefact(kind=kind, id=it["id"], downloads=_as_int(it.get("downloads")),
                                          likes=_as_int(it.get("likes")),
                                          license=_license_of(it.get("tags"), it.get("cardData")),
                                          provenance=f"Hub {kind}s tagged arxiv:{arxiv}"))
    for m in found.models[:MAX_SIZED_MODELS]:
        _size_model(endpoint, m)


def _size_model(endpoint: str, m: HubArtefact) -> None:
    """Total size of a model's files and its card's license (``model_info(files_metadata=True)``)."""
    try:
        info = _get_json(f"{endpoint}/api/models/{m.id}", {"blobs": "true"})
    except _Skip as exc:
        logger.info("size of %s unknown: %s", m.id, exc)
        return
    if not isinstance(info, dict):
        return
    sizes = [_as_int(s.get("size")) for s in info.get("siblings") or [] if isinstance(s, dict)]
    if sizes and any(sizes):
        m.size_bytes = sum(sizes)
    m.license = _license_of(info.get("tags"), info.get("cardData")) or m.license


def _merge(repos: list[RepoCandidate], cand: RepoCandidate) -> None:
    for known in repos:
        if known.key == cand.key:
            known.score = max(known.score, cand.score) + SCORE_AGREEMENT
            known.provenance += [p for p in cand.provenance if p not in known.provenance]
            return
    repos.append(cand)


def find_artefacts(paper, *, online: bool = True, endpoint: str | None = None) -> PaperArtefacts:
    """Repositories, models, datasets and Spaces for ``paper`` (a ``paper.Paper``), ranked."""
    from .config import hub_endpoint

    found = PaperArtefacts(arxiv_id=arxiv_id_of(paper))
    found.repos = repos_in_text(paper_parts(paper))
    if not found.arxiv_id:
        found.notes.append("The paper's arXiv id is unknown, so the Hugging Face Hub was not asked "
                           "(pass the paper as an arXiv id, or a PDF carrying its arXiv stamp).")
    elif not online:
        found.notes.append("The Hugging Face Hub was not asked: the network is off (offline mode).")
    elif hub_offline():
        found.notes.append("The Hugging Face Hub was not asked: offline mode is on (HF_HUB_OFFLINE).")
    else:
        hub_artefacts(found.arxiv_id, hub_endpoint(endpoint), found)
    found.repos.sort(key=lambda c: (-c.score, c.owner.lower(), c.name.lower()))
    return found


def human_size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def describe_artefacts(found: PaperArtefacts, limit: int = 5) -> str:
    """Lines for a plan or an observation: repositories with provenance, Hub items with size and license."""
    lines = []
    if found.arxiv_id:
        lines.append(f"Paper: arXiv:{found.arxiv_id}")
    if found.repos:
        lines.append("Code repositories named for the paper (best first):")
        lines += [f"- {c.url} (score {c.score:.2f}; from {'; '.join(c.provenance)})" for c in found.repos[:limit]]
    for title, items in (("Models", found.models), ("Datasets", found.datasets), ("Spaces", found.spaces)):
        if items:
            lines.append(f"{title} on the Hub citing the paper:")
            for it in items[:limit]:
                facts = [f"{it.downloads:,} downloads", f"license {it.license or 'not stated'}"]
                if it.kind == "model":
                    facts.insert(0, human_size(it.size_bytes))
                lines.append(f"- {it.id} ({', '.join(facts)})")
    lines += [f"Note: {n}" for n in found.notes]
    return "\n".join(lines)
