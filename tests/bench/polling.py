"""Polling cost: E-utilities requests to fetch N new records, against the local server.

The server (tests/servers/eutils.py) behaves like NCBI: ESearch lists at most
9,999 PMIDs, and more than 3 requests in any second get a 429. Time is a
fake clock shared by client and server, as in tests/sources/conftest.py: the
client's rate-limit waits cost nothing, yet the server still judges the
spacing the client chose. The records are spread evenly over 30 days of
create dates, so 25,000 of them (over the 9,999 cap) make the client split
the range into windows.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from tests.servers.eutils import EutilsServer, synthetic_corpus
from tests.sources.conftest import FakeClock
from watcher.config import PubmedSettings
from watcher.sources.http import RateLimiter, make_client
from watcher.sources.pubmed import PubMedClient

START, END = date(2025, 1, 1), date(2025, 1, 30)
TERM = '"chimeric antigen receptor"[tiab]'


def poll(n: int) -> dict[str, Any]:
    clock = FakeClock()
    with (
        EutilsServer(synthetic_corpus(n, START, END), clock=clock.now) as server,
        make_client(timeout=30.0) as http,
    ):
        settings = PubmedSettings(base_url=server.url, email="lab@example.org", timeout=30.0)
        limiter = RateLimiter(3.0, clock=clock.now, sleep=clock.sleep)
        client = PubMedClient(settings, http, limiter, clock.sleep, clock=clock.now, random=lambda: 0.5)
        windows = client.plan_windows(TERM, START, END)
        fetched = 0
        for window in windows:
            for batch in client.fetch(window.pmids, window=window):
                fetched += len(batch)
        hits = server.hits
        searches = sum(1 for h in hits if h.utility == "esearch")
        fetches = sum(1 for h in hits if h.utility == "efetch")
        # per window: its EFetch batches plus two (its ESearch, and one split or retry)
        bound = sum(math.ceil(w.count / settings.batch_size) + 2 for w in windows)
        return {
            "records": n,
            "fetched": fetched,
            "windows": len(windows),
            "esearch": searches,
            "efetch": fetches,
            "requests": len(hits),
            "bound": bound,
            "rate_violations": len(server.rate_violations()),
            "simulated_seconds": round(clock.t - 10_000.0, 1),
            "ok": fetched == n and len(hits) <= bound and not server.rate_violations(),
        }
