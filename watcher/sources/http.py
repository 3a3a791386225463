"""The HTTP edge shared by every source: polite spacing, retries, timeouts, redaction.

Upstreams such as NCBI count requests per second and answer 429 when a client
is too eager, and they fail transiently (resets, 502s, "Search Backend failed"
inside a 200). This module gives sources three things:

* ``RateLimiter`` -- a thread-safe spacer, one per upstream per process
  (``limiter_for``), so two pollers in one process share NCBI's 3 req/s.
* ``RetryPolicy`` + ``send`` -- one request with retries on *named* transient
  errors only, capped exponential backoff with full jitter, ``Retry-After``
  honoured, and both an attempt cap and a total-time cap.
* ``make_client`` / ``redact_url`` -- a client with a User-Agent and timeouts,
  and URLs safe to put into messages (no ``api_key``).

Everything that waits or rolls dice takes ``sleep``/``clock``/``random`` so
tests run at full speed without patching.
"""

from __future__ import annotations

import email.utils
import logging
import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from watcher import __version__
from watcher.errors import SourceError

USER_AGENT = f"watcher/{__version__} (+https://github.com/watcher-bot/watcher)"
# Query/form keys whose values never appear in messages or logs.
SECRET_KEYS = frozenset({"api_key", "apikey", "key", "token", "access_token", "password"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Added to the 1/rate interval: request *arrival* at the server jitters by a few
# milliseconds, and Biopython found exact 1/3 s spacing "sometimes hit the NCBI
# rate limit"; 10% (0.367 s at 3/s) keeps any 1-second window within the rate.
SPACING_MARGIN = 0.10

log = logging.getLogger("watcher.http")
T = TypeVar("T")


class RateLimiter:
    """Spaces request starts at least ``(1 + SPACING_MARGIN) / rate`` seconds apart.

    Slots are reserved under a lock and slept for outside it, so concurrent
    threads queue up in order instead of all waking at once.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")
        self.rate = rate

    @property
    def interval(self) -> float:
        return (1.0 + SPACING_MARGIN) / self.rate

    def slow_to(self, rate: float) -> None:
        """Lower the rate (never raise it): the strictest user of a shared limiter wins."""
        with self._lock:
            self.rate = min(self.rate, rate)

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: str, rate: float) -> RateLimiter:
    """The process-wide limiter for one upstream (e.g. ``"eutils:eutils.ncbi.nlm.nih.gov"``)."""
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(rate)
        else:
            limiter.slow_to(rate)
        return limiter


class TransientError(Exception):
    """Raised by a response check for a body worth retrying (truncated XML, backend hiccup).

    Control flow inside ``send`` only; it never escapes it.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Total time for one logical request, waits included; beyond it we give up
    # rather than hold a run (and the cursor behind it) for minutes.
    max_total: float = 180.0

    def backoff(self, attempt: int, roll: float) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**(attempt-1)))."""
        return roll * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def redact_url(url: str | httpx.URL) -> str:
    """The URL with secret query values replaced, fit for messages and logs."""
    parts = urlsplit(str(url))
    if not parts.query:
        return str(url)
    query = [(k, "***" if k.lower() in SECRET_KEYS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*/:,")))


def redact_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def make_client(
    timeout: float = 30.0,
    *,
    follow_redirects: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client with our User-Agent and a timeout on every phase."""
    return httpx.Client(
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=follow_redirects,
        transport=transport,
    )


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    check: Callable[[httpx.Response], T],
    what: str,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    timeout: float | None = None,
    pass_statuses: frozenset[int] = frozenset(),
    limiter: RateLimiter | None = None,
    policy: RetryPolicy = RetryPolicy(),
    secrets: tuple[str, ...] = (),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    random: Callable[[], float] = _random.random,
    wallclock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> T:
    """One logical request: retried on transient failures, then ``check(response)``.

    ``check`` turns a 2xx response into the result, raising ``TransientError``
    for bodies worth another try; it also sees the error statuses listed in
    ``pass_statuses`` (an API that explains itself in a 400 body). Secrets go in ``data`` (a form body), never
    in ``params``: httpx logs request URLs. ``what`` names the request for messages
    ("PubMed ESearch for window 2024/01/01-2024/01/07"). Non-retryable HTTP
    errors and exhausted retries raise ``SourceError``; ``secrets`` (an API key)
    are scrubbed from every message.
    """
    if params and any(secret and secret in value for secret in secrets for value in params.values()):
        # httpx logs every request URL at INFO level; a key in the query string would leak there.
        raise ValueError("send secrets in the request body (data=), not in the URL (params=)")
    where = redact_url(url)
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        retry_after: float | None = None
        if limiter is not None:
            limiter.acquire()
        try:
            response = client.request(
                method,
                url,
                params=params,
                data=data,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
            if response.status_code in RETRY_STATUSES:
                if response.status_code in (429, 503):
                    retry_after = parse_retry_after(response.headers.get("Retry-After"), wallclock())
                raise TransientError(f"HTTP {response.status_code}", retry_after)
            if not response.is_success and response.status_code not in pass_statuses:
                raise SourceError(
                    redact_text(
                        f"{what} failed: {method} {where} answered HTTP {response.status_code}: "
                        f"{_snippet(response.content)}",
                        secrets,
                    )
                )
            return check(response)
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except TransientError as exc:
            reason, retry_after = exc.reason, exc.retry_after if exc.retry_after is not None else retry_after
        reason = redact_text(reason, secrets)

        delay = retry_after if retry_after is not None else policy.backoff(attempt, random())
        elapsed = clock() - started
        if attempt >= policy.max_attempts or elapsed + delay > policy.max_total:
            limit = (
                f"{attempt} attempts"
                if attempt >= policy.max_attempts
                else f"{elapsed:.0f}s (next wait {delay:.0f}s would pass the {policy.max_total:.0f}s cap)"
            )
            raise SourceError(f"{what} failed: {method} {where} gave up after {limit}; last error: {reason}")
        log.warning(
            "%s: %s %s attempt %d failed (%s); retrying in %.1fs", what, method, where, attempt, reason, delay
        )
        sleep(delay)


def _snippet(body: bytes, limit: int = 200) -> str:
    """The start of a body for an error message, printable and short."""
    text = body[:limit].decode("utf-8", "replace")
    return " ".join(text.split()) or "(empty body)"
