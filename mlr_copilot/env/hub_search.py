"""Search the Hugging Face Hub for models and datasets, for Retrieve Model / Retrieve Dataset.

The search goes through ``huggingface_hub.HfApi`` (its endpoint, token and parsing), but
that client retries refused connections and 5xx answers with back-off and, in recent
versions, sets no request timeout. An agent step must not hang on a dead Hub, so:

- one cheap probe request (``limit=1``, short timeout, no retries) first tells a down or
  unreachable Hub apart from a working one, and says which it was;
- the real searches then run in a daemon thread with an overall deadline.

Every failure becomes ``HubUnavailableError`` with a plain message; nothing here crashes.
No LLM is used here: choosing keywords and explaining results is ``hub_retrieve``'s job.
"""
from __future__ import annotations

import inspect
import logging
import threading
from dataclasses import dataclass, field
from typing import Iterable, Literal

from ..config import hub_endpoint  # noqa: F401  (re-exported for the hub actions)
from ..errors import HubUnavailableError

logger = logging.getLogger(__name__)

HUB_TIMEOUT_S = 20.0  # overall deadline for one Retrieve Model/Dataset search
PROBE_TIMEOUT_S = 5.0  # connect/read timeout of the reachability probe
RESULTS_PER_QUERY = 10  # items fetched per search query
MAX_QUERIES = 4

Kind = Literal["model", "dataset"]


@dataclass
class HubItem:
    """One model or dataset found on the Hub, with what an agent needs to pick it."""

    id: str
    kind: str
    downloads: int = 0
    likes: int = 0
    pipeline_tag: str | None = None
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    matched: list[str] = field(default_factory=list)  # the queries that found it


@dataclass
class HubSearchResult:
    endpoint: str
    kind: str
    queries: list[str]
    items: list[HubItem]  # best first: most downloads


def search_hub(kind: Kind, queries: Iterable[str], *, endpoint: str | None = None,
               limit: int = 8, timeout_s: float = HUB_TIMEOUT_S,
               per_query: int = RESULTS_PER_QUERY) -> HubSearchResult:
    """Run each query against the Hub, merge by id and return the ``limit`` most downloaded.

    Raises ``HubUnavailableError`` when the Hub cannot be searched.
    """
    if kind not in ("model", "dataset"):
        raise ValueError(f"kind must be 'model' or 'dataset', not {kind!r}")
    queries = _clean_queries(queries)
    if not queries:
        raise HubUnavailableError("No search keywords were given, so the Hub was not searched.")
    endpoint = hub_endpoint(endpoint)
    timeout_s = max(0.1, float(timeout_s))

    _check_offline_mode()
    _probe(endpoint, kind, queries[0], min(PROBE_TIMEOUT_S, timeout_s))

    outcome: dict = {}

    def work() -> None:
        try:
            outcome["items"] = _search_all(kind, queries, endpoint, per_query)
        except BaseException as exc:  # reported to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="hub-search", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        # The thread is abandoned (daemon): huggingface_hub gives no way to cancel it.
        raise HubUnavailableError(
            f"The Hugging Face Hub at {endpoint} did not finish answering within {timeout_s:g} s.")
    if "error" in outcome:
        raise HubUnavailableError(_describe_failure(endpoint, outcome["error"])) from outcome["error"]
    merged: dict[str, HubItem] = {}
    for query, found in outcome["items"]:
        for item in found:
            known = merged.setdefault(item.id, item)
            if query not in known.matched:
                known.matched.append(query)
    ranked = sorted(merged.values(), key=lambda it: (-it.downloads, -it.likes, it.id))
    return HubSearchResult(endpoint=endpoint, kind=kind, queries=queries, items=ranked[:max(0, limit)])


def _clean_queries(queries: Iterable[str]) -> list[str]:
    out: list[str] = []
    for q in queries:
        q = " ".join(str(q).split())
        if q and q.lower() not in (o.lower() for o in out):
            out.append(q[:100])
    return out[:MAX_QUERIES]


def _check_offline_mode() -> None:
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub is a hard requirement
        raise HubUnavailableError("Searching the Hub needs the package 'huggingface_hub' "
                                  "(pip install huggingface_hub).") from None
    if getattr(constants, "HF_HUB_OFFLINE", False):
        raise HubUnavailableError("The Hugging Face Hub was not searched: offline mode is on "
                                  "(HF_HUB_OFFLINE is set).")


def _probe(endpoint: str, kind: Kind, query: str, timeout_s: float) -> None:
    """One quick request without retries, so a dead Hub is reported at once and exactly."""
    import httpx

    url = f"{endpoint}/api/{kind}s"
    try:
        response = httpx.get(url, params={"search": query, "limit": 1}, timeout=timeout_s,
                             follow_redirects=True)
    except httpx.TimeoutException:
        raise HubUnavailableError(
            f"The Hugging Face Hub at {endpoint} is unreachable: no answer within {timeout_s:g} s.") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise HubUnavailableError(
            f"The Hugging Face Hub endpoint {endpoint!r} is not a valid URL ({exc}).") from None
    except httpx.HTTPError as exc:
        raise HubUnavailableError(
            f"The Hugging Face Hub at {endpoint} is unreachable ({_short(exc)}).") from None
    if response.status_code >= 500:
        raise HubUnavailableError(
            f"The Hugging Face Hub at {endpoint} is unavailable: it answered HTTP {response.status_code}.")
    if response.status_code == 429:
        raise HubUnavailableError(
            f"The Hugging Face Hub at {endpoint} refused the search: too many requests (HTTP 429).")
    logger.debug("hub probe %s -> HTTP %s", url, response.status_code)


def _search_all(kind: Kind, queries: list[str], endpoint: str,
                per_query: int) -> list[tuple[str, list[HubItem]]]:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint)
    lister = api.list_models if kind == "model" else api.list_datasets
    kwargs = {"sort": "downloads", "limit": per_query}
    if "direction" in inspect.signature(lister).parameters:
        kwargs["direction"] = -1  # older huggingface_hub: ask for most downloads first
    results = []
    for query in queries:
        found = [_to_item(info, kind) for info in lister(search=query, **kwargs)]
        logger.debug("hub %s search %r -> %d results", kind, query, len(found))
        results.append((query, found))
    return results


def _to_item(info: object, kind: str) -> HubItem:
    tags = getattr(info, "tags", None) or []
    description = getattr(info, "description", None)
    return HubItem(
        id=str(getattr(info, "id")),
        kind=kind,
        downloads=_as_int(getattr(info, "downloads", 0)),
        likes=_as_int(getattr(info, "likes", 0)),
        pipeline_tag=getattr(info, "pipeline_tag", None),
        tags=[str(t) for t in tags if isinstance(t, (str, int, float))],
        description=" ".join(str(description).split()) if description else None,
    )


def _as_int(value: object) -> int:
    try:
        return int(value or 0)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _describe_failure(endpoint: str, exc: BaseException) -> str:
    """A plain sentence for any error from huggingface_hub (requests, httpx or httpx2 based)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return f"The Hugging Face Hub at {endpoint} answered the search with HTTP {status}."
    names = " ".join(c.__name__ for c in type(exc).__mro__).lower()
    if "offline" in names:
        return "The Hugging Face Hub was not searched: offline mode is on (HF_HUB_OFFLINE is set)."
    if "timeout" in names:
        return f"The Hugging Face Hub at {endpoint} is unreachable: the search timed out."
    if any(word in names for word in ("connect", "network", "transport", "protocol")):
        return f"The Hugging Face Hub at {endpoint} is unreachable ({_short(exc)})."
    return f"The Hugging Face Hub at {endpoint} gave an answer that could not be read ({_short(exc)})."


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
