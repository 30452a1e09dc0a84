"""The one wrapper around every backend: retries, budget, cost, call log and cache.

Where retries happen: **here, and only here.** The SDK backends are built with the
SDKs' own ``max_retries`` set to 0 (their ``timeout`` is used as is), so one logical call
makes at most ``max_attempts`` HTTP requests in total; never ``max_attempts`` times the
SDK's own count. Doing it here rather than in the SDK means every attempt is counted in
the call log, the budget is checked before each attempt, a ``retry-after`` longer than the
SDK's 60 s ceiling is still honoured, and local backends get the same policy.

Policy: errors with ``retryable`` true (rate limit, server error, timeout, connection,
malformed or empty answer) are retried with exponential backoff and jitter; a rate
limit's ``retry-after`` is waited instead when given (capped at ``MAX_RETRY_AFTER_S``).
Authentication, permission, context-too-long and other 4xx errors are raised at once.

Accounting: every call (cache hits included, marked ``cached``) is one line in the call log
(``agent_log/llm_calls.jsonl``) with its cost from ``pricing.py`` (cache reads and writes
at their own rates; null when the model's price is unknown, never 0). Secret values
(``redact``: the secret rule of ``config``) are scrubbed from every request before it leaves,
observations sent for summarising included, and from every string of the call log. The
budget also tallies each agent step's calls. One
``Budget`` is shared by all roles of a run; when its cost or call limit is reached the next
call raises ``BudgetExceededError`` (a clean ``RunStopped`` with status ``budget``).
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Callable, Iterable, Sequence

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity import wait_exponential_jitter

from ..errors import BudgetExceededError, ConfigError, LLMEmptyResponseError, LLMError
from ..logs import JsonlWriter, utc_now
from ..records import LLMCallRecord, usage_figures
from ..redact import active_secrets, scrub
from .base import Completion, Message, Models, ResponseSpec, Usage, as_messages, continues_answers
from .cache import ResponseCache, messages_sha256, request_key
from .pricing import Price, find_price

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 60.0
BACKOFF_JITTER_S = 1.0
MAX_RETRY_AFTER_S = 300.0


class Budget:
    """Limits and running totals shared by every client of a run (main, fast, edit).

    ``max_llm_calls`` counts calls that reach a model (a retried call counts once; cache
    hits do not count, being free). ``max_cost_usd`` is compared with the cost spent so
    far; the call that crosses it completes (it is already paid) and the next one stops.
    """

    def __init__(self, max_cost_usd: float | None = None, max_llm_calls: int | None = None):
        if max_cost_usd is not None and not max_cost_usd >= 0:
            raise ConfigError(f"--max-cost must be a non-negative number of USD, not {max_cost_usd!r}")
        if max_llm_calls is not None and (int(max_llm_calls) != max_llm_calls or max_llm_calls < 0):
            raise ConfigError(f"--max-llm-calls must be a non-negative integer, not {max_llm_calls!r}")
        self.max_cost_usd = max_cost_usd
        self.max_llm_calls = max_llm_calls
        self.cost_usd = 0.0     # of the calls with a known price
        self.calls = 0          # calls that reached a model
        self.cached_calls = 0   # calls answered by the response cache
        self.unpriced_calls = 0  # calls whose cost is unknown (not counted in cost_usd)
        self.usage = Usage()
        self.by_step: dict[int, dict[str, Any]] = {}  # agent step -> its calls' tally
        self._seq = 0
        self._lock = threading.Lock()

    def exceeded(self) -> str | None:
        """Why the budget is spent, or None."""
        if self.max_llm_calls is not None and self.calls >= self.max_llm_calls:
            return (f"LLM call budget reached: {self.calls} calls made, --max-llm-calls is "
                    f"{self.max_llm_calls} (cost so far ${self.cost_usd:.4f})")
        if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
            return (f"LLM cost budget reached: ${self.cost_usd:.4f} spent, --max-cost is "
                    f"${self.max_cost_usd:.2f} (after {self.calls} calls)")
        return None

    def check(self) -> None:
        reason = self.exceeded()
        if reason:
            raise BudgetExceededError(reason)

    def carry_over(self, *, calls: int, cached_calls: int, cost_usd: float, unpriced_calls: int, usage: Usage,
                   last_call: int) -> None:
        """Count what a run spent before this process (a resume), so the limits count the whole run;
        call numbers go on after ``last_call``, never repeating one."""
        with self._lock:
            self.calls += calls
            self.cached_calls += cached_calls
            self.cost_usd += cost_usd
            self.unpriced_calls += unpriced_calls
            self.usage = self.usage + usage
            self._seq = max(self._seq, last_call)

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def start_call(self) -> None:
        """Check the limits and count one call, atomically."""
        with self._lock:
            self.check()
            self.calls += 1

    def add(self, cost_usd: float | None, usage: Usage, *, cached: bool = False,
            step: int | None = None) -> None:
        with self._lock:
            tally = self.by_step.setdefault(step, {"calls": 0, "usage": Usage(), "cost_usd": 0.0,
                                                   "unpriced_calls": 0}) if step is not None else None
            if tally is not None:
                tally["calls"] += 1
            if cached:
                self.cached_calls += 1
                return
            self.usage = self.usage + usage
            if tally is not None:
                tally["usage"] = tally["usage"] + usage
            if cost_usd is None:
                self.unpriced_calls += 1
            else:
                self.cost_usd += cost_usd
            if tally is not None:
                if cost_usd is None:
                    tally["unpriced_calls"] += 1
                else:
                    tally["cost_usd"] += cost_usd

    def step_figures(self, step: int) -> dict[str, Any] | None:
        """The LLM figures of one agent step (every role's calls), for its step record."""
        with self._lock:
            tally = self.by_step.get(step)
            if tally is None:
                return None
            return {"calls": tally["calls"], **usage_figures(tally["usage"], tally["cost_usd"],
                                                             tally["unpriced_calls"])}

    def summary(self) -> dict[str, Any]:
        """Totals for run.json and the end-of-run report."""
        return {"calls": self.calls, "cached_calls": self.cached_calls,
                **usage_figures(self.usage, self.cost_usd, self.unpriced_calls),
                "max_cost_usd": self.max_cost_usd, "max_llm_calls": self.max_llm_calls}


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, LLMError) and bool(getattr(exc, "retryable", False))


def _backend_identity(backend: Any) -> str:
    return getattr(backend, "identity", None) or f"{type(backend).__name__}:{backend.model}"


class LLMClient:
    """Wraps one backend for one role; same ``complete`` as any backend (``llm.base.LLM``)."""

    def __init__(self, backend: Any, *, call_log: JsonlWriter | None = None,
                 budget: Budget | None = None, cache: ResponseCache | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, role: str = "main",
                 price: Price | None = None, secrets: Iterable[str] = (),
                 sleep: Callable[[float], None] = time.sleep):
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, not {max_attempts}")
        self.backend = backend
        self.model: str = backend.model
        self.role = role
        self.call_log = call_log
        self.budget = budget if budget is not None else Budget()
        self.cache = cache
        self.max_attempts = max_attempts
        self.price = price if price is not None else find_price(self.model)
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.step: int | None = None  # set by the agent (see set_step) for the call log
        self._sleep = sleep
        self._identity = _backend_identity(backend)

    @property
    def continues_answers(self) -> bool:
        """The backend's (``llm.base.continues_answers``)."""
        return continues_answers(self.backend)

    # -- the call ---------------------------------------------------------------------
    def complete(self, messages: Sequence[Message] | str, *, max_tokens: int = 2000,
                 temperature: float = 0.0, stop: Sequence[str] = (),
                 response_spec: ResponseSpec | None = None, purpose: str = "agent") -> Completion:
        secrets = self._secrets()
        msgs = scrub(as_messages(messages), secrets)  # nothing secret leaves for the provider
        stop = list(stop or ())
        started = time.monotonic()
        record = self._new_record(msgs, purpose, max_tokens, temperature, stop)
        cache_key = self._cache_key(msgs, max_tokens, temperature, stop, response_spec)
        if cache_key is not None:
            hit = self.cache.get(cache_key)  # type: ignore[union-attr]
            if hit is not None:
                hit.cached, hit.cost_usd = True, 0.0
                self.budget.add(0.0, hit.usage, cached=True, step=self.step)
                self._write(record, completion=hit, attempts=0, elapsed=time.monotonic() - started)
                return hit

        attempts = 0
        spent = 0.0
        unpriced = False
        try:
            self.budget.start_call()
            retrying = Retrying(stop=stop_after_attempt(self.max_attempts), wait=self._wait,
                                retry=retry_if_exception(_is_retryable), sleep=self._sleep,
                                reraise=True, before_sleep=self._before_sleep(purpose))
            for attempt in retrying:
                with attempt:
                    if attempts:
                        self.budget.check()
                    attempts += 1
                    completion = self.backend.complete(
                        msgs, max_tokens=max_tokens, temperature=temperature, stop=stop,
                        response_spec=response_spec, purpose=purpose)
                    cost = self._cost(completion.usage)
                    unpriced = unpriced or cost is None
                    spent += cost or 0.0
                    self.budget.add(cost, completion.usage, step=self.step)
                    if not completion.text.strip():
                        raise LLMEmptyResponseError(
                            f"{self.model} returned an empty completion "
                            f"(stop reason: {completion.stop_reason or 'unknown'})")
        except BudgetExceededError:
            if attempts == 0:  # refused before any request: not a call, nothing to log
                raise
            self._write(record, error=sys.exc_info()[1], attempts=attempts,
                        cost=None if unpriced else spent, elapsed=time.monotonic() - started)
            raise
        except BaseException as exc:
            if attempts > 1 and isinstance(exc, LLMError):
                exc.args = (f"{exc} (gave up after {attempts} attempts)",)
            self._write(record, error=exc, attempts=attempts, cost=None if unpriced else spent,
                        elapsed=time.monotonic() - started)
            raise
        completion.cost_usd = None if unpriced else spent
        if cache_key is not None:
            self.cache.put(cache_key, completion)  # type: ignore[union-attr]
        self._write(record, completion=completion, attempts=attempts,
                    elapsed=time.monotonic() - started)
        return completion

    # -- helpers ------------------------------------------------------------------------
    def _secrets(self) -> list[str]:
        """The values given at construction and those in force now (keys exported, .env files)."""
        return sorted({*self.secrets, *active_secrets()}, key=len, reverse=True)

    def _cost(self, usage: Usage) -> float | None:
        return None if self.price is None else self.price.cost(usage)

    def _cache_key(self, msgs, max_tokens, temperature, stop, response_spec) -> str | None:
        if self.cache is None:
            return None
        return self.cache.occurrence_key(request_key(
            self._identity, self.model, msgs, max_tokens=max_tokens, temperature=temperature,
            stop=stop, response_spec=response_spec))

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after >= 0:
            return min(float(retry_after), MAX_RETRY_AFTER_S)
        return wait_exponential_jitter(initial=BACKOFF_INITIAL_S, max=BACKOFF_MAX_S,
                                       jitter=BACKOFF_JITTER_S)(state)

    def _before_sleep(self, purpose: str) -> Callable[[RetryCallState], None]:
        def report(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning("%s call (%s, %s) failed on attempt %d/%d: %s; retrying in %.1fs",
                        self.model, self.role, purpose, state.attempt_number, self.max_attempts,
                        exc, wait)
        return report

    def _new_record(self, msgs, purpose, max_tokens, temperature, stop) -> LLMCallRecord:
        return LLMCallRecord(timestamp=utc_now(), step=self.step, call=self.budget.next_seq(), role=self.role,
                             purpose=purpose, model=self.model, backend=self._identity,
                             params={"max_tokens": max_tokens, "temperature": temperature, "stop": stop},
                             messages=msgs, messages_sha256=messages_sha256(msgs))

    def _write(self, record: LLMCallRecord, *, attempts: int, elapsed: float,
               completion: Completion | None = None, error: BaseException | None = None,
               cost: float | None = 0.0) -> None:
        if completion is not None:
            record.response_model, record.completion = completion.model, completion.text
            record.stop_reason = completion.stop_reason
            record.usage = {"input_tokens": completion.usage.input_tokens,
                            "output_tokens": completion.usage.output_tokens,
                            "cached_tokens": completion.usage.cached_tokens,
                            "cache_write_tokens": completion.usage.cache_write_tokens}
            record.latency_s = round(completion.latency_s, 4)
            record.cost_usd = 0.0 if completion.cached else completion.cost_usd
            record.cached = completion.cached
        else:
            record.cost_usd = cost
            record.error, record.error_type = str(error) or type(error).__name__, type(error).__name__
        record.attempts, record.elapsed_s = attempts, round(elapsed, 4)
        if self.call_log is not None:
            self.call_log.write(scrub(record.to_dict(), self._secrets()))

    def __repr__(self) -> str:
        return f"LLMClient({self._identity}, role={self.role})"


def set_step(models: Models, step: int | None) -> None:
    """Tell every client of a run which agent step its next calls belong to (for the log)."""
    for llm in {id(m): m for m in (models.main, models.fast, models.edit)}.values():
        if isinstance(llm, LLMClient):
            llm.step = step
