"""Provider prompt caches, emulated for the fake servers as the real APIs document them.

Anthropic (Messages API): only prefixes ending at a ``cache_control`` breakpoint are cached,
and only when at least the model's minimum length; a request whose prefix up to a
breakpoint was cached before reads it (``cache_read_input_tokens``); a new breakpoint
prefix is written (``cache_creation_input_tokens``); ``input_tokens`` is the rest.
OpenAI (Chat Completions): automatic; prompts of 1,024 tokens or more reuse the longest
prefix seen before, counted in 128-token steps from 1,024 (``prompt_tokens_details.cached_tokens``).
Tokens are counted as characters / 4: a fake tokenizer, the same for every request.
"""
from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Callable

from fakes.llm_servers import Reply, _cut_at_stop

CHARS_PER_TOKEN = 4
ANTHROPIC_MINIMUM = {"claude-haiku-4-5": 4096, "claude-opus-4-5": 4096}  # else 1,024
LOOKBACK_BLOCKS = 20
OPENAI_MINIMUM, OPENAI_INCREMENT = 1024, 128


def _tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN


def _blocks(request: dict) -> list[tuple[str, str, bool]]:
    """(role, text, breakpoint) for every content block, in prompt order."""
    out: list[tuple[str, str, bool]] = []

    def add(role: str, content: Any) -> None:
        if isinstance(content, str):
            out.append((role, content, False))
        else:
            for block in content or []:
                out.append((role, block.get("text", ""), "cache_control" in block))

    add("system", request.get("system") or [])
    for message in request.get("messages") or []:
        add(message["role"], message["content"])
    return out


class AnthropicPromptCache:
    """The cache of one fake Anthropic server; ``usage(request)`` reports and updates it."""

    def __init__(self) -> None:
        self.entries: set[str] = set()
        self._lock = threading.Lock()

    def usage(self, request: dict) -> dict[str, int]:
        blocks = _blocks(request)
        minimum = next((n for k, n in ANTHROPIC_MINIMUM.items() if str(request.get("model", "")).startswith(k)), 1024)
        keys, sizes, total = [], [], 0
        digest = hashlib.sha256(str(request.get("model")).encode())
        for role, text, _ in blocks:
            digest.update(json.dumps([role, text]).encode())
            keys.append(digest.hexdigest())
            total += _tokens(text)
            sizes.append(total)
        marks = [i for i, (_, _, bp) in enumerate(blocks) if bp]
        # a breakpoint looks for a cached prefix at itself and up to 20 blocks before it
        looked_at = {j for i in marks for j in range(max(0, i - LOOKBACK_BLOCKS + 1), i + 1)}
        with self._lock:
            read = max((sizes[j] for j in looked_at if keys[j] in self.entries), default=0)
            written = 0
            for i in marks:
                if sizes[i] >= minimum and keys[i] not in self.entries:
                    self.entries.add(keys[i])
                    written = max(written, sizes[i] - read)
        return {"input_tokens": total - read - written, "cache_read_input_tokens": read,
                "cache_creation_input_tokens": written}


def anthropic_cached_text(cache: AnthropicPromptCache, answer: Callable[[dict], str | Reply] | str,
                          output_tokens: int = 50) -> Callable[[dict], dict]:
    """A Messages API answer whose usage comes from ``cache``; ``answer`` may read the request."""
    def body(request: dict) -> dict | Reply:
        text = answer(request) if callable(answer) else answer
        if isinstance(text, Reply):
            return text
        out, hit = _cut_at_stop(text, list(request.get("stop_sequences") or []))
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": request.get("model"),
                "content": [{"type": "text", "text": out}],
                "stop_reason": "stop_sequence" if hit else "end_turn", "stop_sequence": hit,
                "usage": {**cache.usage(request), "output_tokens": output_tokens}}
    return body


class OpenAIPromptCache:
    """Automatic prefix caching of one fake OpenAI server."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def usage(self, request: dict) -> tuple[int, int]:
        """(prompt tokens, cached tokens) of ``request``."""
        text = "".join(f"<{m['role']}>{m['content']}" for m in request.get("messages") or [])
        total = _tokens(text)
        with self._lock:
            common = max((_common_prefix(text, s) for s in self.seen), default=0)
            self.seen.append(text)
        cached = _tokens(text[:common])
        if not self.enabled or total < OPENAI_MINIMUM or cached < OPENAI_MINIMUM:
            return total, 0
        return total, OPENAI_MINIMUM + (cached - OPENAI_MINIMUM) // OPENAI_INCREMENT * OPENAI_INCREMENT


def _common_prefix(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))  # binary search on slice equality: C speed
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def openai_cached_text(cache: OpenAIPromptCache, answer: Callable[[dict], str | Reply] | str,
                       output_tokens: int = 50) -> Callable[[dict], dict]:
    def body(request: dict) -> dict | Reply:
        text = answer(request) if callable(answer) else answer
        if isinstance(text, Reply):
            return text
        stops = request.get("stop") or []
        out, _ = _cut_at_stop(text, [stops] if isinstance(stops, str) else list(stops))
        prompt, cached = cache.usage(request)
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": request.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": out}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": output_tokens,
                          "total_tokens": prompt + output_tokens,
                          "prompt_tokens_details": {"cached_tokens": cached}}}
    return body
