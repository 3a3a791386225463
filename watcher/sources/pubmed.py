"""PubMed through NCBI E-utilities: search a create-date window, then fetch records in batches.

The pipeline drives it like this, writing each batch and advancing its cursor
only after a window's last batch is stored::

    for window in client.plan_windows(query, start, end):
        for batch in client.fetch(window.pmids, window=window):
            store(batch)          # batch.missing: PMIDs PubMed did not return
        advance_cursor(window.end)

Windows are on ``[crdt]`` (create date), not ``[edat]``: records added late
get an old entry date and an ``[edat]`` poll never sees them.

ESearch returns at most 9,999 PMIDs per query, so ``plan_windows`` halves a
date range until each half fits. A single day can still exceed the cap (the
create date has day resolution): that window comes back with ``capped=True``
and only its first 9,999 PMIDs; a warning is logged. In PubMed that takes a
very broad query (a day adds ~5,000 records in total).

Request budget for N records in one window: 1 ESearch + ceil(N / batch_size)
EFetch + at most ceil(missing / batch_size) follow-ups (normally 1) -- so
``ceil(N/500) + 2``. Splitting costs one extra ESearch per split.
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from lxml import etree

from watcher.config import PubmedSettings
from watcher.errors import ParseError, SourceError
from watcher.models import Paper, ParsedItem, RecordError
from watcher.sources.http import RateLimiter, RetryPolicy, TransientError, limiter_for, send
from watcher.sources.pubmed_xml import iter_pubmed_xml

T = TypeVar("T")

# ESearch serves only the first 9,999 records of any query (retmax is clamped).
ESEARCH_CAP = 9999
# EFetch's HTTP 400 when none of the requested PMIDs exists (any more).
NO_VALID_IDS = b"ID list is empty"
# The reason given for a body that does not parse; a batch that keeps failing with it is split.
UNUSABLE_BODY = "unusable EFetch body"
BACKEND_FAILED = "Search Backend failed"

log = logging.getLogger("watcher.pubmed")

Parser = Callable[[bytes], Iterable[ParsedItem]]

# NCBI bodies are untrusted: no DTD loading, no entities, no network.
_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class SearchResult:
    count: int
    pmids: list[str]
    webenv: str | None = None
    query_key: str | None = None


@dataclass(frozen=True)
class Window:
    """An inclusive create-date range and the PMIDs ESearch found in it."""

    start: date
    end: date
    count: int
    pmids: tuple[str, ...]
    # True when even one day holds more than ESearch can list: only the first
    # ESEARCH_CAP PMIDs are here, the rest cannot be reached by create date.
    capped: bool = False

    @property
    def label(self) -> str:
        return f"{self.start:%Y/%m/%d}-{self.end:%Y/%m/%d}"


@dataclass(frozen=True)
class FetchBatch:
    """One EFetch batch, ready to store; iterating it yields the parsed items.

    ``missing`` lists requested PMIDs that did not come back even when asked a
    second time (deleted or withdrawn records vanish like this). It is filled
    only on the follow-up batch that re-requests them.
    """

    items: tuple[ParsedItem, ...]
    requested: tuple[str, ...]
    missing: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[ParsedItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def crdt_term(term: str, start: date, end: date) -> str:
    """The rule query limited to an inclusive create-date range (an empty query: the range alone)."""
    dates = f'("{start:%Y/%m/%d}"[crdt] : "{end:%Y/%m/%d}"[crdt])'
    return f"({term}) AND {dates}" if term.strip() else dates


class PubMedClient:
    """ESearch + EFetch for one PubMed endpoint, paced by a shared rate limiter.

    Every request is a POST carrying ``tool``, ``email`` (if set) and
    ``api_key`` (if set) in the form body, so the key never shows up in a
    URL, a log line or an error message. ``parse`` is the EFetch body parser
    (``iter_pubmed_xml``); ``sleep``/``clock``/``random`` drive the waits.
    """

    def __init__(
        self,
        settings: PubmedSettings,
        http: httpx.Client,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        parse: Parser = iter_pubmed_xml,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.settings = settings
        self.http = http
        rate = settings.rate_limit or (10.0 if settings.api_key else 3.0)
        self.limiter = limiter or limiter_for(f"eutils:{urlsplit(settings.base_url).netloc}", rate)
        self.base_url = settings.base_url.rstrip("/") + "/"
        self.policy = policy or RetryPolicy(max_attempts=settings.max_retries + 1)
        self._sleep = sleep
        self._clock = clock
        self._random = random
        self._parse = parse
        self._secrets = (settings.api_key,) if settings.api_key else ()

    # --- ESearch ------------------------------------------------------------------

    def search(self, term: str, start: date, end: date) -> SearchResult:
        """PMIDs created in ``[start, end]`` (inclusive) that match ``term``, newest first."""
        full = crdt_term(term, start, end)
        what = f"PubMed ESearch for window {start:%Y/%m/%d}-{end:%Y/%m/%d}"
        form = {"db": "pubmed", "term": full, "usehistory": "y", "retmax": str(ESEARCH_CAP)}
        return self._post("esearch.fcgi", form, what, lambda r: _read_esearch(r.content, term))

    def plan_windows(self, term: str, start: date, end: date) -> list[Window]:
        """Date windows covering ``[start, end]`` whose hits ESearch can list in full.

        A window at or over the cap is halved and each half searched again; a
        window that fits reuses its search result, so nothing is searched twice.
        """
        if end < start:
            raise ValueError(f"window ends ({end}) before it starts ({start})")
        windows: list[Window] = []
        pending = [(start, end)]
        while pending:
            lo, hi = pending.pop()
            result = self.search(term, lo, hi)
            if result.count < ESEARCH_CAP:
                windows.append(Window(lo, hi, result.count, tuple(result.pmids)))
            elif lo == hi:
                log.warning(
                    "PubMed lists %d records created on %s for one query but ESearch returns only "
                    "the first %d; narrow the query to see the rest",
                    result.count,
                    f"{lo:%Y/%m/%d}",
                    len(result.pmids),
                )
                windows.append(Window(lo, hi, result.count, tuple(result.pmids), capped=True))
            else:
                mid = lo + timedelta(days=(hi - lo).days // 2)
                # pushed so the earlier half pops first: windows come out in date order
                pending += [(mid + timedelta(days=1), hi), (lo, mid)]
        return windows

    # --- EFetch -------------------------------------------------------------------

    def fetch(self, pmids: Sequence[str], *, window: Window | None = None) -> Iterator[FetchBatch]:
        """PubMed XML for ``pmids`` parsed, one batch of at most ``batch_size`` at a time.

        PMIDs absent from a batch's answer are asked for once more in a
        follow-up batch after the others; those still absent end up in that
        batch's ``missing``.
        """
        size = self.settings.batch_size
        unique = list(dict.fromkeys(pmids))
        absent: list[str] = []
        for i in range(0, len(unique), size):
            chunk = unique[i : i + size]
            items = self._fetch_batch(chunk, window)
            absent += _absent(chunk, items)
            yield FetchBatch(tuple(items), tuple(chunk))
        for i in range(0, len(absent), size):
            chunk = absent[i : i + size]
            items = self._fetch_batch(chunk, window)
            still = _absent(chunk, items)
            if still:
                log.info("PubMed returned no record for %d PMIDs (deleted or withdrawn?)", len(still))
            yield FetchBatch(tuple(items), tuple(chunk), tuple(still))

    def _fetch_batch(
        self, pmids: list[str], window: Window | None, policy: RetryPolicy | None = None
    ) -> list[ParsedItem]:
        scope = f" for window {window.label}" if window else ""
        what = f"PubMed EFetch of {len(pmids)} PMIDs ({pmids[0]}..){scope}"
        form = {"db": "pubmed", "retmode": "xml", "id": ",".join(pmids)}
        try:
            return self._post(
                "efetch.fcgi", form, what, self._read_efetch, pass_statuses=frozenset({400}), policy=policy
            )
        except SourceError as e:
            if UNUSABLE_BODY not in str(e):
                raise
            # One record PubMed serves as broken XML spoils every body it is in, on every
            # retry and every run. Split the batch to isolate it, so the others are stored
            # and the window (and its cursor) can complete.
            if len(pmids) == 1:
                log.warning("PMID %s: PubMed's XML for it cannot be parsed; skipping it", pmids[0])
                return [RecordError(pmids[0], f"PubMed's XML for this record cannot be parsed: {e}")]
            half = len(pmids) // 2
            quick = RetryPolicy(max_attempts=2, base_delay=self.policy.base_delay)
            return self._fetch_batch(pmids[:half], window, quick) + self._fetch_batch(
                pmids[half:], window, quick
            )

    def _read_efetch(self, response: httpx.Response) -> list[ParsedItem]:
        if response.status_code == 400:
            if NO_VALID_IDS in response.content:
                return []  # all of them deleted or unknown: reported as missing, not an error
            raise SourceError(f"PubMed EFetch refused the request: {response.content[:200]!r}")
        try:
            return list(self._parse(response.content))
        except ParseError as exc:
            # truncated body, HTML error page, <eFetchResult><ERROR>: all worth a retry
            raise TransientError(f"{UNUSABLE_BODY}: {exc}") from exc

    # --- plumbing -----------------------------------------------------------------

    def _post(
        self,
        utility: str,
        form: dict[str, str],
        what: str,
        check: Callable[[httpx.Response], T],
        pass_statuses: frozenset[int] = frozenset(),
        policy: RetryPolicy | None = None,
    ) -> T:
        form = {**form, "tool": self.settings.tool}
        if self.settings.email:
            form["email"] = self.settings.email
        if self.settings.api_key:
            form["api_key"] = self.settings.api_key
        return send(
            self.http,
            "POST",
            self.base_url + utility,
            data=form,
            check=check,
            what=what,
            timeout=self.settings.timeout,
            pass_statuses=pass_statuses,
            limiter=self.limiter,
            policy=policy or self.policy,
            secrets=self._secrets,
            sleep=self._sleep,
            clock=self._clock,
            random=self._random,
        )


def _absent(requested: list[str], items: list[ParsedItem]) -> list[str]:
    returned = set()
    for item in items:
        if isinstance(item, Paper):
            returned.add(item.pmid or item.source_id)
        elif isinstance(item, RecordError) and item.pmid:
            # it came back, just unreadable: asking again would not help
            returned.add(item.pmid)
    return [p for p in requested if p not in returned]


def _read_esearch(body: bytes, term: str) -> SearchResult:
    try:
        root = etree.fromstring(body, _XML)
    except etree.XMLSyntaxError as exc:
        raise TransientError(f"unparseable ESearch body ({exc})") from exc
    if root.tag != "eSearchResult":
        raise TransientError(f"ESearch answered <{root.tag}>, not <eSearchResult>")
    error = (root.findtext("ERROR") or "").strip()
    if error:
        if error.startswith(BACKEND_FAILED) and "retstart" not in error:
            raise TransientError(f"ESearch: {error[:200]}")
        raise SourceError(f"PubMed ESearch rejected the query {_short(term)!r}: {error[:300]}")
    _log_messages(root, term)
    count_text = root.findtext("Count")
    if count_text is None or not count_text.strip().isdigit():
        raise TransientError("ESearch answer has no Count")
    pmids = [(el.text or "").strip() for el in root.iterfind("IdList/Id")]
    return SearchResult(
        count=int(count_text),
        pmids=[p for p in pmids if p],
        webenv=root.findtext("WebEnv"),
        query_key=root.findtext("QueryKey"),
    )


def _log_messages(root: etree._Element, term: str) -> None:
    """ErrorList/WarningList entries: a misspelt rule must not pass for a quiet day."""
    for section in ("ErrorList", "WarningList"):
        for el in root.iterfind(f"{section}/*"):
            text = (el.text or "").strip()
            if el.tag == "OutputMessage" and text == "No items found.":
                continue  # every zero-hit answer carries it
            log.warning("PubMed %s %s: %r in query %r", section, el.tag, text, _short(term))


def _short(term: str, limit: int = 160) -> str:
    return term if len(term) <= limit else term[: limit - 3] + "..."
