"""Fetch journal feeds over HTTP: conditional GET, redirects, size cap, politeness.

``FeedFetcher.fetch`` returns a ``FeedFetch`` for every expected outcome --
new items, 304, 410 Gone, HTTP/network errors, an oversized or unparsable
body -- so one bad feed never stops the others. Only bugs raise.

The caller persists ``FeedFetch.new_state`` (validators, permanent URL) only
after the papers are stored; otherwise a crash between the two would make
the next conditional GET answer 304 for items never saved.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Literal
from urllib.parse import urlsplit

import httpx

from watcher.config import FeedOptions, FeedSettings
from watcher.errors import ParseError
from watcher.models import Paper
from watcher.sources.feed_items import parse_feed

FetchStatus = Literal["ok", "not_modified", "gone", "error"]
PERMANENT_REDIRECTS = frozenset({301, 308})
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# A body that trickles in is abandoned after this many read timeouts in total.
BODY_DEADLINE_FACTOR = 3.0
MAX_RETRY_AFTER = 120.0


@dataclass(frozen=True, slots=True)
class FeedState:
    """What must survive between polls of one feed."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    disabled: bool = False
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class FeedFetch:
    feed_name: str
    status: FetchStatus
    new_state: FeedState
    papers: tuple[Paper, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    http_status: int | None = None
    bytes_read: int = 0
    feed_title: str = ""


class HostSpacer:
    """At least ``interval`` seconds between request starts to one host (thread-safe).

    One instance per process is shared by every feed, so ten Elsevier feeds
    are polled one after another, not in a burst.
    """

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + self.interval
        if start > now:
            self._sleep(start - now)


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str
    permanent_url: str


class FeedFetcher:
    def __init__(
        self,
        options: FeedOptions,
        http: httpx.Client,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        spacer: HostSpacer | None = None,
    ) -> None:
        self.options = options
        self.http = http
        self._clock = clock
        self._sleep = sleep
        self.spacer = spacer or HostSpacer(options.min_host_interval, clock, sleep)

    def fetch(self, feed: FeedSettings, state: FeedState | None) -> FeedFetch:
        state = state or FeedState(url=feed.url)
        if state.disabled:
            why = state.disabled_reason or "disabled"
            return FeedFetch(feed.name, "gone", state, warnings=(f"feed {feed.name} is not polled: {why}",))
        url = state.url
        where = f"feed {feed.name} ({url})"
        try:
            resp = self._get_with_retries(url, _conditional_headers(state))
        except _BodyTooLarge:
            return self._error(feed, state, f"{where}: body larger than {self.options.max_bytes} bytes")
        except _BodyTooSlow:
            return self._error(feed, state, f"{where}: body still arriving after {self._deadline():.0f} s")
        except httpx.TimeoutException as e:
            return self._error(feed, state, f"{where}: timed out ({type(e).__name__})")
        except httpx.TooManyRedirects:
            return self._error(feed, state, f"{where}: too many redirects")
        except (httpx.RequestError, httpx.InvalidURL) as e:
            return self._error(feed, state, f"{where}: {type(e).__name__}: {e}")
        moved = replace(state, url=resp.permanent_url)
        size = len(resp.body)
        if resp.status == 304:
            fresh = replace(
                moved,
                etag=resp.headers.get("etag") or state.etag,
                last_modified=resp.headers.get("last-modified") or state.last_modified,
            )
            return FeedFetch(feed.name, "not_modified", fresh, http_status=304)
        if resp.status == 410:
            reason = f"HTTP 410 Gone from {resp.url}"
            gone = replace(moved, disabled=True, disabled_reason=reason)
            msg = f"feed {feed.name} is gone ({reason}); it is disabled until its URL is fixed in the config"
            return FeedFetch(feed.name, "gone", gone, warnings=(msg,), http_status=410, bytes_read=size)
        if not 200 <= resp.status < 300:
            phrase = _reason(resp.status)
            msg = f"{where}: HTTP {resp.status} {phrase}".rstrip()
            return self._error(feed, moved, msg, http_status=resp.status, bytes_read=size)
        try:
            parsed = parse_feed(resp.body, resp.headers, resp.url, feed.name)
        except ParseError as e:
            msg = str(e) if str(e).startswith("feed ") else f"{where}: {e}"
            return self._error(feed, moved, msg, http_status=resp.status, bytes_read=size)
        # An ill-formed body (cut short?) keeps the old validators, so the next
        # fetch gets the whole feed again instead of a 304.
        fresh = (
            replace(moved, etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified"))
            if parsed.well_formed
            else moved
        )
        warnings = parsed.warnings
        if resp.permanent_url != url:
            warnings = (f"feed {feed.name} moved permanently to {resp.permanent_url}", *warnings)
        return FeedFetch(
            feed.name,
            "ok",
            fresh,
            papers=parsed.papers,
            warnings=warnings,
            http_status=resp.status,
            bytes_read=size,
            feed_title=parsed.feed_title,
        )

    def _error(
        self,
        feed: FeedSettings,
        state: FeedState,
        msg: str,
        http_status: int | None = None,
        bytes_read: int = 0,
    ) -> FeedFetch:
        return FeedFetch(feed.name, "error", state, error=msg, http_status=http_status, bytes_read=bytes_read)

    def _deadline(self) -> float:
        return self.options.timeout * BODY_DEADLINE_FACTOR

    def _get_with_retries(self, url: str, headers: dict[str, str]) -> _Response:
        """One GET, retried on transport errors and 429/5xx with capped, jittered backoff."""
        attempts = 1 + max(0, self.options.max_retries)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                resp = self._get_once(url, headers)
            except (httpx.TransportError, _BodyTooSlow):
                if last:
                    raise
                self._sleep(_backoff(attempt))
                continue
            if resp.status in TRANSIENT_STATUSES and not last:
                self._sleep(_retry_after(resp.headers.get("retry-after")) or _backoff(attempt))
                continue
            return resp
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _get_once(self, url: str, headers: dict[str, str]) -> _Response:
        self.spacer.wait(urlsplit(url).hostname or "")
        cap = self.options.max_bytes
        with self.http.stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=self.options.timeout
        ) as resp:
            length = resp.headers.get("content-length", "")
            if length.isdigit() and int(length) > cap:
                raise _BodyTooLarge
            deadline = self._clock() + self._deadline()
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > cap:
                    raise _BodyTooLarge
                if self._clock() > deadline:
                    raise _BodyTooSlow
                chunks.append(chunk)
            return _Response(
                status=resp.status_code,
                headers={k.lower(): v for k, v in resp.headers.items()},
                body=b"".join(chunks),
                url=str(resp.url),
                permanent_url=_permanent_url(url, resp),
            )


def _conditional_headers(state: FeedState) -> dict[str, str]:
    # Echo the server's own strings: servers compare them byte for byte.
    headers: dict[str, str] = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _permanent_url(start: str, resp: httpx.Response) -> str:
    """Where an unbroken run of 301/308s from the start led; a 302/307 ends the run."""
    url = start
    hops = [*resp.history, resp]
    for hop, following in itertools.pairwise(hops):
        if hop.status_code not in PERMANENT_REDIRECTS:
            break
        url = str(following.request.url)
    return url


def _backoff(attempt: int) -> float:
    base: float = min(30.0, 0.5 * 2.0**attempt)
    return base * (0.5 + random.random() / 2)


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return min(float(value.strip()), MAX_RETRY_AFTER)
    return None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
