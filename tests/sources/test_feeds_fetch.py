"""Fetching feeds from a real local HTTP server: validators, redirects, failures, politeness."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from http import HTTPStatus

import httpx
import pytest

from tests.paths import FIXTURES
from tests.servers.feeds import FeedServer
from watcher.config import FeedOptions, FeedSettings
from watcher.sources.feeds import FeedFetcher, FeedState

PUBLISHERS = FIXTURES / "feeds" / "publishers"
WILEY = (PUBLISHERS / "wiley_taxon_toc_2021-11-23.xml").read_bytes()
CAPTCHA = (PUBLISHERS / "MALFORMED_oup_silverchair_captcha_html_instead_of_feed_2021-11-24.html").read_bytes()
ETAG = '"taxon-v1"'
LAST_MODIFIED = "Tue, 23 Nov 2021 09:00:00 GMT"
FAST = FeedOptions(timeout=2.0, max_bytes=1_000_000, min_host_interval=0.0, max_retries=2)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def fetcher(
    http: httpx.Client, options: FeedOptions = FAST, sleeps: list[float] | None = None
) -> FeedFetcher:
    """A fetcher whose backoff waits are recorded instead of slept, so retries cost no time."""
    record = sleeps if sleeps is not None else []
    return FeedFetcher(options, http, sleep=record.append)


def feed(server: FeedServer, path: str, name: str = "taxon") -> FeedSettings:
    return FeedSettings(name=name, url=server.url(path))


def test_second_fetch_sends_validators_and_gets_304_without_papers(
    server: FeedServer, http: httpx.Client
) -> None:
    server.serve("/taxon.xml", WILEY, etag=ETAG, last_modified=LAST_MODIFIED)
    f = fetcher(http)
    first = f.fetch(feed(server, "/taxon.xml"), None)
    assert first.status == "ok" and len(first.papers) == 52 and first.bytes_read == len(WILEY)
    assert (first.new_state.etag, first.new_state.last_modified) == (ETAG, LAST_MODIFIED)

    second = f.fetch(feed(server, "/taxon.xml"), first.new_state)
    assert second.status == "not_modified" and second.papers == () and second.http_status == 304
    assert second.new_state == first.new_state
    sent = server.requests_for("/taxon.xml")[1].headers
    assert sent["if-none-match"] == ETAG and sent["if-modified-since"] == LAST_MODIFIED
    assert "if-none-match" not in server.requests_for("/taxon.xml")[0].headers


def test_validators_come_back_only_in_new_state_and_change_with_the_feed(
    server: FeedServer, http: httpx.Client
) -> None:
    """The caller's old state is never touched; a changed feed answers 200 with new validators."""
    server.serve("/taxon.xml", WILEY, etag='"v2"')
    old = FeedState(url=server.url("/taxon.xml"), etag='"v1"')
    result = fetcher(http).fetch(feed(server, "/taxon.xml"), old)
    assert result.status == "ok" and result.new_state.etag == '"v2"' and old.etag == '"v1"'


def test_feed_without_validators_is_fetched_in_full_every_time(
    server: FeedServer, http: httpx.Client
) -> None:
    server.serve("/taxon.xml", WILEY)
    f = fetcher(http)
    state = f.fetch(feed(server, "/taxon.xml"), None).new_state
    again = f.fetch(feed(server, "/taxon.xml"), state)
    assert again.status == "ok" and len(again.papers) == 52
    assert "if-none-match" not in server.requests_for("/taxon.xml")[1].headers


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_chain_rewrites_the_stored_url(
    server: FeedServer, http: httpx.Client, status: int
) -> None:
    server.redirect("/old.xml", "/older-still.xml", status)
    server.redirect("/older-still.xml", "/new.xml", status)
    server.serve("/new.xml", WILEY)
    result = fetcher(http).fetch(feed(server, "/old.xml"), None)
    assert result.status == "ok" and len(result.papers) == 52
    assert result.new_state.url == server.url("/new.xml")
    assert any("moved permanently" in w for w in result.warnings)


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirect_keeps_the_configured_url(
    server: FeedServer, http: httpx.Client, status: int
) -> None:
    server.redirect("/taxon.xml", "/mirror.xml", status)
    server.serve("/mirror.xml", WILEY)
    result = fetcher(http).fetch(feed(server, "/taxon.xml"), None)
    assert result.status == "ok" and result.new_state.url == server.url("/taxon.xml")


def test_permanent_then_temporary_redirect_stores_only_the_permanent_hop(
    server: FeedServer, http: httpx.Client
) -> None:
    server.redirect("/a.xml", "/b.xml", 301)
    server.redirect("/b.xml", "/c.xml", 302)
    server.serve("/c.xml", WILEY)
    result = fetcher(http).fetch(feed(server, "/a.xml"), None)
    assert result.new_state.url == server.url("/b.xml")


def test_gone_feed_is_disabled_with_a_warning_naming_it(server: FeedServer, http: httpx.Client) -> None:
    server.status("/taxon.xml", 410)
    f = fetcher(http)
    result = f.fetch(feed(server, "/taxon.xml"), None)
    assert result.status == "gone" and result.new_state.disabled
    assert result.warnings and "feed taxon is gone" in result.warnings[0]
    # A disabled feed is not requested again.
    again = f.fetch(feed(server, "/taxon.xml"), result.new_state)
    assert again.status == "gone" and len(server.requests_for("/taxon.xml")) == 1


@pytest.mark.parametrize(("status", "attempts"), [(404, 1), (500, 3), (503, 3)])
def test_http_error_is_a_per_feed_error_naming_feed_and_url(
    server: FeedServer, http: httpx.Client, status: int, attempts: int
) -> None:
    """404 is final; 5xx is retried (max_retries=2) before giving up."""
    server.status("/taxon.xml", status)
    sleeps: list[float] = []
    result = fetcher(http, sleeps=sleeps).fetch(feed(server, "/taxon.xml"), None)
    assert result.status == "error" and result.http_status == status
    phrase = HTTPStatus(status).phrase
    assert result.error == f"feed taxon ({server.url('/taxon.xml')}): HTTP {status} {phrase}"
    assert len(server.requests_for("/taxon.xml")) == attempts
    assert len(sleeps) == attempts - 1
    assert result.new_state == FeedState(url=server.url("/taxon.xml"))


def test_retry_after_on_503_is_honoured(server: FeedServer, http: httpx.Client) -> None:
    server.status("/taxon.xml", 503, headers={"Retry-After": "7"})
    sleeps: list[float] = []
    fetcher(http, sleeps=sleeps).fetch(feed(server, "/taxon.xml"), None)
    assert sleeps == [7.0, 7.0]


def test_slow_server_times_out_as_a_per_feed_error(server: FeedServer, http: httpx.Client) -> None:
    server.fault("/taxon.xml", "slow", delay=5.0, body=WILEY)
    options = FeedOptions(timeout=0.3, max_bytes=1_000_000, min_host_interval=0.0, max_retries=1)
    result = fetcher(http, options).fetch(feed(server, "/taxon.xml"), None)
    assert result.status == "error" and result.error is not None
    assert result.error.startswith(f"feed taxon ({server.url('/taxon.xml')}): timed out")
    assert len(server.requests_for("/taxon.xml")) == 2


def test_connection_reset_is_a_per_feed_error(server: FeedServer, http: httpx.Client) -> None:
    server.fault("/taxon.xml", "reset")
    result = fetcher(http).fetch(feed(server, "/taxon.xml"), None)
    assert result.status == "error" and result.error is not None and "feed taxon" in result.error
    assert len(server.requests_for("/taxon.xml")) == 3


def test_refused_connection_is_a_per_feed_error(http: httpx.Client) -> None:
    with FeedServer() as gone:
        url = gone.url("/taxon.xml")
    result = fetcher(http).fetch(FeedSettings(name="taxon", url=url), None)
    assert (
        result.status == "error"
        and result.error is not None
        and result.error.startswith(f"feed taxon ({url})")
    )


@pytest.mark.parametrize("kind", ["huge", "endless"])
def test_body_over_the_size_cap_is_abandoned(server: FeedServer, http: httpx.Client, kind: str) -> None:
    """A declared-too-large body and an endless chunked body both stop at max_bytes."""
    server.fault("/taxon.xml", kind, size=5_000_000)  # type: ignore[arg-type]
    result = fetcher(http).fetch(feed(server, "/taxon.xml"), None)
    assert result.status == "error"
    assert result.error == f"feed taxon ({server.url('/taxon.xml')}): body larger than 1000000 bytes"


def test_captcha_page_is_a_per_feed_error_and_keeps_old_validators(
    server: FeedServer, http: httpx.Client
) -> None:
    server.serve("/taxon.xml", CAPTCHA, content_type="text/html; charset=utf-8", etag='"captcha"')
    old = FeedState(url=server.url("/taxon.xml"), etag='"v1"')
    result = fetcher(http).fetch(feed(server, "/taxon.xml"), old)
    assert result.status == "error" and result.error is not None and "HTML page" in result.error
    assert result.error.startswith("feed taxon (")
    assert result.new_state.etag == '"v1"'


def test_charset_from_the_content_type_header_decodes_the_feed(
    server: FeedServer, http: httpx.Client
) -> None:
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Hématologie</title>'
        "<item><title>Leucémie aiguë lymphoblastique</title><guid>g</guid></item></channel></rss>"
    ).encode("iso-8859-1")
    server.serve("/fr.xml", body, content_type="application/rss+xml; charset=iso-8859-1")
    result = fetcher(http).fetch(feed(server, "/fr.xml"), None)
    assert [p.title for p in result.papers] == ["Leucémie aiguë lymphoblastique"]
    assert result.feed_title == "Hématologie"


def test_external_entity_in_a_fetched_feed_is_never_requested(server: FeedServer, http: httpx.Client) -> None:
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{server.url("/secret")}">\n]>\n'
        '<rss version="2.0"><channel><title>t</title><item><title>a &xxe;</title><guid>g</guid></item>'
        "</channel></rss>"
    ).encode()
    server.serve("/evil.xml", body)
    server.serve("/secret", b"PWNED")
    result = fetcher(http).fetch(feed(server, "/evil.xml"), None)
    assert result.status == "ok" and "PWNED" not in repr(result)
    assert server.paths() == ["/evil.xml"]


def test_two_feeds_on_one_host_are_spaced_by_the_minimum_interval(
    server: FeedServer, http: httpx.Client
) -> None:
    """Measured at the server: request arrivals to one host are at least min_host_interval apart."""
    server.serve("/a.xml", WILEY)
    server.serve("/b.xml", WILEY)
    options = FeedOptions(timeout=2.0, max_bytes=1_000_000, min_host_interval=0.2, max_retries=0)
    f = FeedFetcher(options, http, sleep=time.sleep)
    f.fetch(feed(server, "/a.xml", "a"), None)
    f.fetch(feed(server, "/b.xml", "b"), None)
    f.fetch(feed(server, "/a.xml", "a"), None)
    arrivals = [r.at for r in server.log]
    assert len(arrivals) == 3
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(arrivals))
