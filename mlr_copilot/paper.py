"""Load a research paper and find its parts: title, abstract, introduction, related work.

Accepts a PDF (text extracted with pypdf), a ``.txt``/``.md`` file, an arXiv id
(``2310.00001``, ``arxiv:2310.00001v2``, ``hep-th/9901001``) or an http(s) URL. Remote
papers are downloaded with httpx only when online; offline, the message says what to do.
A paper too long for the model's context is condensed section by section by the LLM
(``digest_paper``), never cut blindly.
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from .errors import PaperError

logger = logging.getLogger(__name__)

DEFAULT_ARXIV_BASE_URL = "https://arxiv.org"
DEFAULT_DOWNLOAD_TIMEOUT_S = 60.0
MAX_DOWNLOAD_BYTES = 60 * 1024 * 1024
TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ".rst"}

_ARXIV_NEW = r"\d{4}\.\d{4,5}"
_ARXIV_OLD = r"[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7}"
_ARXIV_ID = re.compile(rf"^(?:arxiv:)?(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?P<v>v\d+)?$", re.IGNORECASE)
_ARXIV_URL = re.compile(
    rf"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?P<v>v\d+)?(?:\.pdf)?/?$",
    re.IGNORECASE)

_KNOWN = (r"abstract|introduction|related\s+works?|background|prior\s+work|previous\s+work|literature\s+review"
          r"|preliminaries|related\s+work\s+and\s+background|methods?|methodology|approach|proposed\s+method"
          r"|experiments?|experimental\s+setup|setup|evaluation|results?|discussion|limitations"
          r"|conclusions?(?:\s+and\s+future\s+work)?|future\s+work|references|bibliography"
          r"|acknowledge?ments?|appendix|appendices|data(?:sets?)?|analysis")
_NUM = r"(?:\d+(?:\.\d+)*|[IVX]+|[A-H])\.?"
_HEADING_KNOWN = re.compile(rf"^(?:{_NUM}\s+)?(?P<name>{_KNOWN})\s*:?$", re.IGNORECASE)
_HEADING_NUMBERED = re.compile(r"^(?P<num>\d+(?:\.\d+)*|[IVX]+)\.?\s+(?P<name>[A-Z][^.!?:;]{1,70})$")
_HEADING_MD = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<name>.+?)\s*#*\s*$")
_INLINE_ABSTRACT = re.compile(r"^abstract\s*[—–:.\-]\s*(?P<rest>\S.*)$", re.IGNORECASE)
_ARXIV_STAMP = re.compile(r"arXiv:\S+\s+\[[^\]]+\]", re.IGNORECASE)
_SKIP = re.compile(r"references|bibliography|acknowledge?ments?|appendix|appendices", re.IGNORECASE)


@dataclass
class Section:
    heading: str
    text: str


@dataclass
class Paper:
    source: str
    title: str
    abstract: str
    sections: list[Section] = field(default_factory=list)
    kind: str = "text"  # pdf | text | html
    arxiv_id: str = ""  # from the paper's own arXiv stamp ("arXiv:2310.00001v2 [cs.LG] ..."), if any

    def find(self, *names: str) -> str:
        """The text of the first section whose heading contains one of ``names``."""
        for name in names:
            for s in self.sections:
                if name in s.heading.lower():
                    return s.text
        return ""

    @property
    def introduction(self) -> str:
        return self.find("introduction")

    @property
    def related_work(self) -> str:
        return self.find("related work", "prior work", "previous work", "literature", "background")

    def body_sections(self) -> list[Section]:
        """Sections worth showing a model: no abstract (kept apart), references or appendix."""
        return [s for s in self.sections
                if s.text.strip() and s.heading.lower() != "abstract" and not _SKIP.search(s.heading)]

    def render(self) -> str:
        parts = [f"Title: {self.title}"]
        if self.abstract:
            parts.append(f"Abstract: {self.abstract}")
        for s in self.body_sections():
            parts.append(f"## {s.heading}\n{s.text}" if s.heading else s.text)
        return "\n\n".join(parts)

    def summary(self) -> dict:
        return {"source": self.source, "kind": self.kind, "title": self.title, "abstract": self.abstract,
                "sections": [s.heading for s in self.sections],
                "has_introduction": bool(self.introduction), "has_related_work": bool(self.related_work),
                "chars": sum(len(s.text) for s in self.sections) + len(self.abstract)}


# --- loading --------------------------------------------------------------------------

def arxiv_id(source: str) -> str | None:
    """``2310.00001v2`` for an arXiv id or arxiv.org URL, else None."""
    m = _ARXIV_ID.match(source.strip()) or _ARXIV_URL.match(source.strip())
    return f"{m.group('id')}{m.group('v') or ''}" if m else None


def load_paper(source: str, *, online: bool = True, arxiv_base_url: str | None = None,
               timeout_s: float = DEFAULT_DOWNLOAD_TIMEOUT_S) -> Paper:
    """Read ``source`` (path, arXiv id or URL) into a ``Paper``; raises ``PaperError``."""
    source = str(source).strip()
    if not source:
        raise PaperError("no paper given: pass a PDF, .txt or .md file, an arXiv id or a URL")
    path = Path(source).expanduser()
    if path.is_dir():
        raise PaperError(f"paper '{source}' is a directory; give a PDF, .txt or .md file")
    if path.is_file():
        return _from_bytes(path.read_bytes(), source, suffix=path.suffix.lower())
    aid = arxiv_id(source)
    if aid is None and not re.match(r"^https?://", source, re.IGNORECASE):
        raise PaperError(f"paper '{source}' not found: give a PDF, .txt or .md file, an arXiv id "
                         "(e.g. 2310.00001) or an http(s) URL")
    if not online:
        raise PaperError(f"'{source}' has to be downloaded, but the network is off (offline mode). "
                         "Download the paper yourself and pass the file's path.")
    url = f"{(arxiv_base_url or DEFAULT_ARXIV_BASE_URL).rstrip('/')}/pdf/{aid}" if aid else source
    data, content_type = _download(url, timeout_s)
    suffix = ".pdf" if (aid or "pdf" in content_type or data[:5] == b"%PDF-") else (
        ".html" if "html" in content_type else ".txt")
    return _from_bytes(data, source, suffix=suffix)


def _download(url: str, timeout_s: float) -> tuple[bytes, str]:
    import httpx

    logger.info("downloading %s", url)
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=True,
                          headers={"User-Agent": "mlr-copilot (paper download)"}) as client:
            with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise PaperError(f"downloading {url} failed: HTTP {response.status_code}")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise PaperError(f"downloading {url}: larger than {MAX_DOWNLOAD_BYTES // 2**20} MiB, refused")
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("content-type", "").lower()
    except httpx.HTTPError as exc:
        raise PaperError(f"downloading {url} failed ({type(exc).__name__}: {exc}); "
                         "check the address or download the paper yourself and pass its path") from exc


def _from_bytes(data: bytes, source: str, *, suffix: str) -> Paper:
    if suffix == ".pdf" or data[:5] == b"%PDF-":
        text, meta_title = _pdf_text(data, source)
        return parse_paper(text, source, kind="pdf", title_hint=meta_title)
    if suffix in (".html", ".htm"):
        return parse_paper(_html_text(data.decode("utf-8", errors="replace")), source, kind="html")
    if suffix not in TEXT_SUFFIXES and (b"\x00" in data[:4096]):
        raise PaperError(f"paper '{source}' is neither a PDF nor text; give a PDF, .txt or .md file")
    text = data.decode("utf-8", errors="replace")
    if not text.strip():
        raise PaperError(f"paper '{source}' is empty")
    return parse_paper(text, source, kind="text")


def _pdf_text(data: bytes, source: str) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PaperError(f"PDF '{source}' is encrypted; give an unlocked copy or its text")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
        meta_title = (meta.title or "") if meta else ""
    except PaperError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise PaperError(f"PDF '{source}' could not be read ({type(exc).__name__}: {exc})") from exc
    text = "\n".join(pages)
    if len(text.strip()) < 20:
        raise PaperError(f"no text could be extracted from PDF '{source}' (a scanned PDF?); "
                         "give a .txt or .md version of the paper")
    # Re-join words hyphenated across lines: "classifi-\ncation" -> "classification".
    text = re.sub(r"(?<=[a-z])-\n(?=[a-z])", "", text)
    if re.match(r"^(microsoft word|untitled|\s*$)", meta_title, re.IGNORECASE):
        meta_title = ""
    return text, meta_title.strip()


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "nav", "footer"):
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n" + "#" * int(tag[1]) + " ")
        elif tag in ("p", "br", "div", "li", "section"):
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "nav", "footer"):
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]|p|div|li|section", tag):
            self.out.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def _html_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    return re.sub(r"\n[ \t]+", "\n", "".join(parser.out))


# --- structure ------------------------------------------------------------------------

def _heading(line: str) -> tuple[str, str] | None:
    """(heading, text on the same line) when ``line`` starts a section."""
    s = line.strip()
    if not s or len(s) > 90:
        return None
    m = _HEADING_MD.match(s)
    if m:
        name = re.sub(rf"^{_NUM}\s+", "", m.group("name").strip("*_ ")).strip()
        return (name or m.group("name").strip()), ""
    s = s.strip("*_ ")
    m = _INLINE_ABSTRACT.match(s)
    if m:
        return "Abstract", m.group("rest")
    m = _HEADING_KNOWN.match(s)
    if m:
        return m.group("name").strip().title() if m.group("name").isupper() else m.group("name").strip(), ""
    m = _HEADING_NUMBERED.match(s)
    if m and len(m.group("name").split()) <= 8 and not re.search(r"\d{3,}|[=<>%$]", m.group("name")):
        return m.group("name").strip(), ""
    return None


def parse_paper(text: str, source: str, *, kind: str = "text", title_hint: str = "") -> Paper:
    """Split plain text into sections and find the title and abstract."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    stamp = re.search(rf"arXiv:(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?:v\d+)?\s+\[", text, re.IGNORECASE)
    lines = [ln for ln in text.split("\n") if not _ARXIV_STAMP.fullmatch(ln.strip())]
    sections: list[Section] = [Section("", "")]
    buf: list[str] = []
    title = ""
    for line in lines:
        head = _heading(line)
        md_title = _HEADING_MD.match(line.strip())
        if (head and md_title and len(md_title.group("hashes")) == 1 and not title
                and len(sections) == 1 and head[0].lower() != "abstract"):
            title = head[0]  # a leading "# Title" is the title, not a section
            continue
        if head:
            sections[-1].text = "\n".join(buf).strip()
            sections.append(Section(head[0], ""))
            buf = [head[1]] if head[1] else []
        else:
            buf.append(line)
    sections[-1].text = "\n".join(buf).strip()
    preamble = sections.pop(0).text
    pre_lines = [ln.strip() for ln in preamble.split("\n") if ln.strip()]
    title = title or title_hint or next((ln for ln in pre_lines if len(ln) <= 200), "") or Path(source).stem
    paras = [p.strip() for p in re.split(r"\n\s*\n", preamble) if p.strip()]
    if paras and paras[0].split("\n")[0].strip() == title:
        first_rest = paras[0].split("\n", 1)[1].strip() if "\n" in paras[0] else ""
        paras = ([first_rest] if first_rest else []) + paras[1:]
    abstract = next((s.text for s in sections if s.heading.lower() == "abstract"), "")
    if not abstract and not sections:
        # No structure at all: the first paragraph serves as the abstract, the rest as the body.
        abstract = paras[0] if paras else ""
        sections = [Section("Text", "\n\n".join(paras[1:]))] if len(paras) > 1 else []
    elif not abstract and paras:
        # Unlabelled abstract before the first heading: the longest paragraph (authors are short).
        abstract = max(paras, key=len)
    abstract = re.sub(r"[ \t]*\n[ \t]*", " ", abstract).strip()
    return Paper(source=source, title=re.sub(r"\s+", " ", title).strip("*_# "), abstract=abstract,
                 sections=sections, kind=kind, arxiv_id=stamp.group("id") if stamp else "")


# --- condensing -----------------------------------------------------------------------

@dataclass
class PaperDigest:
    """The paper as the stages see it, and what condensing did to it."""

    text: str
    condensed_sections: list[str] = field(default_factory=list)
    truncated_sections: list[str] = field(default_factory=list)
    original_chars: int = 0

    @property
    def condensed(self) -> bool:
        return bool(self.condensed_sections)


def _cut(text: str, limit: int) -> str:
    """Shorten at a sentence end: a last resort, marked, used only when the model ignores limits."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(". "), head.rfind(".\n"))
    return (head[: end + 1] if end > limit // 2 else head).rstrip() + " […]"


def _chunks(sections: list[Section], chunk_chars: int) -> list[tuple[str, str]]:
    """Consecutive sections grouped up to ``chunk_chars``; a longer section split at paragraphs."""
    groups: list[tuple[list[str], list[str]]] = []
    for s in sections:
        pieces = [s.text]
        if len(s.text) > chunk_chars:
            pieces, cur = [], ""
            for para in re.split(r"\n\s*\n", s.text):
                while len(para) > chunk_chars:  # one enormous paragraph (PDF text without breaks)
                    if cur:
                        pieces.append(cur)
                    pieces.append(para[:chunk_chars])
                    cur, para = "", para[chunk_chars:]
                if cur and len(cur) + len(para) > chunk_chars:
                    pieces.append(cur)
                    cur = ""
                cur = (cur + "\n\n" + para).strip()
            if cur:
                pieces.append(cur)
        for i, piece in enumerate(pieces):
            name = s.heading if len(pieces) == 1 else f"{s.heading} (part {i + 1}/{len(pieces)})"
            block = f"## {name}\n{piece}"
            if groups and len(pieces) == 1 and sum(map(len, groups[-1][1])) + len(block) <= chunk_chars:
                groups[-1][0].append(name)
                groups[-1][1].append(block)
            else:
                groups.append(([name], [block]))
    return [(" / ".join(names), "\n\n".join(blocks)) for names, blocks in groups]


def digest_paper(paper: Paper, llm, max_chars: int, *, on_call=None, chunk_chars: int | None = None,
                 max_tokens: int = 600) -> PaperDigest:
    """The paper's text within ``max_chars``: verbatim when it fits, else condensed by ``llm``.

    Title and abstract stay verbatim; the body is summarised group by group (consecutive
    sections up to ``chunk_chars``), each group's share of the budget in proportion to its
    length. ``on_call(record)`` receives every condensing call (prompt, output, usage).
    """
    from .templates import render

    full = paper.render()
    if len(full) <= max_chars:
        return PaperDigest(full, original_chars=len(full))
    truncated: list[str] = []
    abstract = paper.abstract
    if len(abstract) > max_chars // 4:
        abstract = _cut(abstract, max_chars // 4)
        truncated.append("Abstract")
    head = f"Title: {paper.title}\n\nAbstract: {abstract}"
    groups = _chunks(paper.body_sections(), chunk_chars or max(2000, max_chars))
    budget = max(max_chars - len(head) - sum(len(name) + 6 for name, _ in groups), 150 * max(1, len(groups)))
    total = sum(len(text) for _, text in groups) or 1
    parts, condensed = [head], []
    for name, text in groups:
        target = max(150, int(budget * len(text) / total))
        if len(text) <= target:
            parts.append(text)
            continue
        words = max(20, target // 7)
        prompt = render("agents.prompts", "idea_condense", title=paper.title, heading=name, text=text, words=words)
        completion = llm.complete([{"role": "user", "content": prompt}],
                                  max_tokens=min(max_tokens, max(96, words * 2)), purpose="idea_condense")
        summary = completion.text.strip()
        if on_call is not None:
            on_call({"section": name, "prompt": prompt, "output": completion.text, "target_chars": target,
                     "usage": completion.usage, "model": completion.model, "latency_s": completion.latency_s})
        if not summary:
            summary = _cut(text, target)
            truncated.append(name)
        elif len(summary) > int(target * 1.5):
            summary = _cut(summary, int(target * 1.5))
            truncated.append(name)
        condensed.append(name)
        parts.append(f"## {name} (condensed)\n{summary}")
    return PaperDigest("\n\n".join(parts), condensed, truncated, len(full))
