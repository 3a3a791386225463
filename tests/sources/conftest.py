"""Fixtures for source tests: a local E-utilities server and PubMed clients wired to it.

Time is a ``FakeClock`` shared by the client (rate limiter, retry waits) and
the server (arrival times for its 429 rule): waits cost nothing, yet the
server still judges the spacing the client chose. Tests that need real time
(the threaded burst, timeouts) say so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from tests.servers.eutils import EutilsServer, Record, corpus_from_fixtures
from watcher.config import PubmedSettings
from watcher.sources.http import RateLimiter, make_client
from watcher.sources.pubmed import PubMedClient

API_KEY = "k3y-0f-the-lab-5ecret"


class FakeClock:
    """Monotonic time that moves only when someone sleeps; sleeps are recorded."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.t += max(0.0, seconds)


@pytest.fixture(scope="session")
def fixture_corpus() -> list[Record]:
    return corpus_from_fixtures()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def eutils(fixture_corpus: list[Record], clock: FakeClock) -> Iterator[EutilsServer]:
    """40 real records (full ones run ~25 KB each) over 2024-03-01..14, so each test parses little."""
    with EutilsServer(fixture_corpus[:40], clock=clock.now) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with make_client(timeout=5.0) as client:
        yield client


MakeClient = Callable[..., PubMedClient]


@pytest.fixture
def make_pubmed(eutils: EutilsServer, clock: FakeClock, http: httpx.Client) -> MakeClient:
    """A PubMedClient against ``eutils`` on the fake clock; keyword args override settings."""

    def make(server: EutilsServer | None = None, **overrides: Any) -> PubMedClient:
        target = server or eutils
        settings = replace(
            PubmedSettings(base_url=target.url, email="lab@example.org", timeout=2.0), **overrides
        )
        rate = settings.rate_limit or (10.0 if settings.api_key else 3.0)
        limiter = RateLimiter(rate, clock=clock.now, sleep=clock.sleep)
        return PubMedClient(settings, http, limiter, clock.sleep, clock=clock.now, random=lambda: 0.5)

    return make
