"""The HTTP edge: spacing, retries, Retry-After, timeouts and redaction, against a real local server."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import httpx
import pytest

from tests.servers.eutils import EutilsServer, Fault, Record
from tests.sources.conftest import API_KEY, FakeClock
from watcher.errors import SourceError
from watcher.sources.http import (
    USER_AGENT,
    RateLimiter,
    RetryPolicy,
    limiter_for,
    make_client,
    parse_retry_after,
    redact_url,
    send,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _max_in_any_second(times: list[float]) -> int:
    """The most request starts that fall inside any half-open 1-second window."""
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)


def _get(client: httpx.Client, server: EutilsServer, clock: FakeClock, **kw: object) -> httpx.Response:
    return send(
        client,
        "POST",
        server.url + "esearch.fcgi",
        data={"db": "pubmed", "term": "cart", "api_key": API_KEY},
        check=lambda r: r,
        what="test search",
        sleep=clock.sleep,
        clock=clock.now,
        random=lambda: 0.5,
        **kw,  # type: ignore[arg-type]
    )


# --- RateLimiter ----------------------------------------------------------------------


@pytest.mark.parametrize("rate", [3.0, 10.0])
def test_limiter_never_lets_more_than_rate_requests_start_in_any_second(rate: float) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock.now, sleep=clock.sleep)
    starts = []
    for _ in range(40):
        limiter.acquire()
        starts.append(clock.now())
    assert _max_in_any_second(starts) == int(rate)
    # and it does not dawdle: 40 requests take about 40/rate seconds
    assert starts[-1] - starts[0] < 40 / rate * 1.2


def test_limiter_does_not_wait_when_requests_are_already_spread_out() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock.now, sleep=clock.sleep)
    limiter.acquire()
    clock.t += 5
    limiter.acquire()
    assert clock.sleeps == []


def test_a_threaded_burst_through_one_limiter_never_trips_the_servers_rate_limit(
    fixture_corpus: list[Record],
) -> None:
    """Real time: 3 threads x 2 requests at NCBI's keyless 3/s; the server counts arrivals itself."""
    limiter = RateLimiter(3)
    with EutilsServer(fixture_corpus) as server, make_client(5.0) as client:

        def worker() -> None:
            for _ in range(2):
                send(
                    client,
                    "POST",
                    server.url + "esearch.fcgi",
                    data={"db": "pubmed", "term": "x"},
                    check=lambda r: r,
                    what="burst",
                    limiter=limiter,
                    policy=RetryPolicy(max_attempts=1),
                )

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        hits = server.hits
    assert len(hits) == 6
    assert server.rate_violations() == []
    assert _max_in_any_second([h.at for h in hits]) <= 3


def test_without_spacing_the_server_answers_ncbis_429(fixture_corpus: list[Record]) -> None:
    """The local server really enforces NCBI's limit, so the spacing tests above can fail."""
    with EutilsServer(fixture_corpus) as server, make_client(5.0) as client:
        statuses = [
            client.get(server.url + "esearch.fcgi", params={"term": "x"}).status_code for _ in range(6)
        ]
        body = client.get(server.url + "esearch.fcgi", params={"term": "x"}).json()
    assert 429 in statuses
    assert body == {"error": "API rate limit exceeded", "api-key": "127.0.0.1", "count": "7", "limit": "3"}


def test_limiter_for_shares_one_limiter_per_upstream_and_keeps_the_stricter_rate() -> None:
    a = limiter_for("test-upstream-shared", 10)
    b = limiter_for("test-upstream-shared", 3)
    assert a is b
    assert a.rate == 3
    assert limiter_for("test-upstream-other", 3) is not a


# --- pure helpers -------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", NOW) == 0.0  # already past
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_backoff_is_full_jitter_capped_at_max_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    assert policy.backoff(1, 0.999) < 1.0
    assert policy.backoff(3, 0.5) == 2.0
    assert policy.backoff(10, 1.0) == 8.0
    assert policy.backoff(4, 0.0) == 0.0


def test_redacted_urls_hide_the_api_key_but_keep_the_rest() -> None:
    url = f"https://eutils.example/efetch.fcgi?db=pubmed&api_key={API_KEY}&id=1,2"
    out = redact_url(url)
    assert API_KEY not in out
    assert "api_key=***" in out
    assert "db=pubmed" in out
    assert "id=1,2" in out


# --- send against the server --------------------------------------------------------------


def test_requests_carry_the_watcher_user_agent(eutils: EutilsServer, clock: FakeClock) -> None:
    with make_client(5.0) as client:
        _get(client, eutils, clock)
    assert eutils.hits[0].user_agent == USER_AGENT
    assert USER_AGENT.startswith("watcher/")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_until_the_answer_arrives(
    eutils: EutilsServer, clock: FakeClock, http: httpx.Client, status: int
) -> None:
    eutils.inject(Fault("status", status=status), Fault("status", status=status))
    response = _get(http, eutils, clock)
    assert response.status_code == 200
    assert [h.status for h in eutils.hits] == [status, status, 200]


def test_retry_after_in_seconds_is_waited_exactly(
    eutils: EutilsServer, clock: FakeClock, http: httpx.Client
) -> None:
    eutils.inject(Fault("status", status=429, retry_after="7"), Fault("status", status=503, retry_after="3"))
    _get(http, eutils, clock)
    assert clock.sleeps == [7.0, 3.0]


def test_a_retry_after_beyond_the_time_cap_gives_up_at_once(
    eutils: EutilsServer, clock: FakeClock, http: httpx.Client
) -> None:
    eutils.inject(Fault("status", status=503, retry_after="3600"))
    with pytest.raises(SourceError, match="cap") as err:
        _get(http, eutils, clock, policy=RetryPolicy(max_total=60))
    assert clock.sleeps == []
    assert "HTTP 503" in str(err.value)


def test_retries_stop_after_max_attempts_with_a_message_naming_the_url_without_the_key(
    eutils: EutilsServer, clock: FakeClock, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    eutils.inject(*[Fault("status", status=502)] * 3)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as err:
        _get(http, eutils, clock, policy=RetryPolicy(max_attempts=3), secrets=(API_KEY,))
    message = str(err.value)
    assert "gave up after 3 attempts" in message
    assert eutils.url + "esearch.fcgi" in message
    assert API_KEY not in message
    assert all(API_KEY not in r.getMessage() for r in caplog.records)
    assert len(eutils.hits) == 3


def test_an_api_key_in_the_url_is_refused_because_httpx_would_log_it(http: httpx.Client) -> None:
    with pytest.raises(ValueError, match="request body"):
        send(
            http,
            "GET",
            "http://127.0.0.1:9/esearch.fcgi",
            params={"api_key": API_KEY},
            check=lambda r: r,
            what="x",
            secrets=(API_KEY,),
        )


def test_a_client_error_is_not_retried(eutils: EutilsServer, clock: FakeClock, http: httpx.Client) -> None:
    with pytest.raises(SourceError, match="HTTP 404"):
        send(http, "GET", eutils.url + "nosuch.fcgi", check=lambda r: r, what="x", sleep=clock.sleep)
    assert len(eutils.hits) == 1


def test_a_connection_reset_and_a_timeout_are_retried(
    eutils: EutilsServer, clock: FakeClock, http: httpx.Client
) -> None:
    eutils.inject(Fault("reset"), Fault("slow", delay=2.0))
    response = _get(http, eutils, clock, timeout=0.3)
    assert response.status_code == 200
    assert [h.fault for h in eutils.hits] == ["reset", "slow", None]
