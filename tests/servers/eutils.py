"""A real HTTP server on 127.0.0.1 that speaks enough E-utilities to test PubMed polling.

It serves ``esearch.fcgi`` and ``efetch.fcgi`` (GET and POST) over a corpus of
real PubmedArticle records, each given a create date ([crdt]) by the server:
the records' own history dates are old, the server's index date is what a
``("YYYY/MM/DD"[crdt] : "YYYY/MM/DD"[crdt])`` term selects.

Like NCBI it
* clamps ``retmax`` to 9,999 and refuses ``retstart`` > 9998 with the real error;
* answers zero hits with ``Count`` 0 and the ErrorList/WarningList shape;
* silently leaves unknown PMIDs out of EFetch answers; an empty ``id`` gets
  ``<ERROR>`` (HTTP 200) and a list with no known PMID an HTTP 400 ``<ERROR>``;
* answers 429 with NCBI's JSON body when more than 3 requests (10 with an
  api_key) arrive within any 1-second window, and logs every request so tests
  can check a client never got there.

Faults (``inject``) are applied to upcoming requests in order: HTTP status
codes with or without Retry-After, ``Search Backend failed`` in a 200,
truncated XML, an HTML error page, an empty result set, a slow answer and a
connection reset, and any body a test supplies (``body``). ``add`` indexes
more records while the server runs.

Provenance: record XML comes from the shared fixture
``bench/pubmed_current_195.xml.gz`` (195 real records, see fixtures/README.md);
``synthetic_corpus`` clones the smallest of them under new PMIDs.
"""

from __future__ import annotations

import bisect
import gzip
import html
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from tests.paths import FIXTURES

BENCH_FILE = FIXTURES / "bench" / "pubmed_current_195.xml.gz"
MAX_RETMAX = 9999
RATE_LIMIT = 3
RATE_LIMIT_WITH_KEY = 10

XML_DECL = b'<?xml version="1.0" encoding="UTF-8" ?>\n'
ESEARCH_DOCTYPE = (
    b'<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
PUBMED_DOCTYPE = (
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)
RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch can "
    "only retrieve the first 9,999 records matching the query. To obtain more than 9,999 PubMed records, "
    "consider using EDirect that contains additional logic to batch PubMed search results automatically "
    "so that an arbitrary number can be retrieved. For details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)
BACKEND_ERROR = "Search Backend failed: Exception:\nUnable to obtain query #1 from the search backend"
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head><body>"
    b"<h1>Service unavailable</h1><p>The server is temporarily unable to service your request."
    b"</p></body></html>\n"
)

_RANGE = re.compile(r'"?(\d{4}/\d{2}/\d{2})"?\[crdt\]\s*:\s*"?(\d{4}/\d{2}/\d{2})"?\[crdt\]', re.I)
_RECORD = re.compile(rb"<PubmedArticle>.*?</PubmedArticle>|<PubmedBookArticle>.*?</PubmedBookArticle>", re.S)
_PMID = re.compile(rb"<PMID[^>]*>(\d+)</PMID>")
_OWN_ARTICLE_ID = re.compile(rb'(<PubmedData>.*?<ArticleId IdType="pubmed">)\d+(</ArticleId>)', re.S)


@dataclass(frozen=True)
class Record:
    pmid: str
    crdt: date
    xml: bytes


FaultKind = Literal["status", "backend_error", "truncate", "html", "empty", "slow", "reset", "body"]
Utility = Literal["esearch", "efetch", "any"]


@dataclass(frozen=True)
class Fault:
    """What the server does wrong on one upcoming request to ``target``."""

    kind: FaultKind
    target: Utility = "any"
    status: int = 503
    retry_after: str | None = None
    delay: float = 1.0
    # for "backend_error": the <ERROR> text (not starting "Search Backend failed" = a permanent error)
    message: str = BACKEND_ERROR
    # for "body": the bytes served instead of the real answer (a hostile document, say)
    body: bytes = b""


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    at: float
    utility: str
    method: str
    api_key: str | None
    status: int
    rate_limited: bool = False
    fault: str | None = None
    term: str = ""
    requested: tuple[str, ...] = ()
    returned: tuple[str, ...] = ()
    tool: str | None = None
    email: str | None = None
    user_agent: str = ""


# --- corpora ----------------------------------------------------------------------


def _real_records() -> list[bytes]:
    return _RECORD.findall(gzip.decompress(BENCH_FILE.read_bytes()))


def corpus_from_fixtures(start: date = date(2024, 3, 1), days: int = 14) -> list[Record]:
    """The 195 real records, their create dates spread round-robin over ``days`` days."""
    records = []
    for i, xml in enumerate(_real_records()):
        match = _PMID.search(xml)
        assert match, "every fixture record has a PMID"
        records.append(Record(match.group(1).decode(), start + timedelta(days=i % days), xml))
    return records


def synthetic_corpus(n: int, start: date, end: date, *, first_pmid: int = 90_000_000) -> list[Record]:
    """``n`` clones of small real records under new PMIDs, spread evenly over ``[start, end]``."""
    templates = sorted((x for x in _real_records() if x.startswith(b"<PubmedArticle>")), key=len)[:20]
    days = (end - start).days + 1
    records = []
    for i in range(n):
        pmid = str(first_pmid + i).encode()
        xml = _PMID.sub(rb'<PMID Version="1">' + pmid + rb"</PMID>", templates[i % len(templates)], count=1)
        xml = _OWN_ARTICLE_ID.sub(rb"\g<1>" + pmid + rb"\g<2>", xml, count=1)
        records.append(Record(pmid.decode(), start + timedelta(days=i * days // n), xml))
    return records


# --- the server -------------------------------------------------------------------


@dataclass
class _State:
    faults: deque[Fault] = field(default_factory=deque)
    hits: list[Hit] = field(default_factory=list)
    arrivals: dict[str, deque[float]] = field(default_factory=dict)
    omitted: dict[str, int | None] = field(default_factory=dict)
    efetched: Counter[str] = field(default_factory=Counter)
    chaos: tuple[float, list[Fault], random.Random] | None = None


class EutilsServer:
    """Context manager: ``with EutilsServer(corpus) as server: server.url ...``."""

    def __init__(
        self,
        corpus: Iterable[Record],
        *,
        clock: Callable[[], float] = time.monotonic,
        unknown_phrases: Iterable[str] = (),
    ) -> None:
        self.records = sorted(corpus, key=lambda r: (r.crdt, int(r.pmid)))
        self._dates = [r.crdt for r in self.records]
        self._by_pmid = {r.pmid: r for r in self.records}
        self.clock = clock
        self.unknown_phrases = tuple(unknown_phrases)
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Httpd(("127.0.0.1", 0), _Handler)
        self._httpd.eutils = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="eutils", daemon=True
        )
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/entrez/eutils/"

    def __enter__(self) -> EutilsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # --- test controls --------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each is used up by the next request to its target."""
        with self._lock:
            self._state.faults.extend(faults)

    def random_faults(self, probability: float, kinds: Iterable[Fault], seed: int) -> None:
        """From now on, each request without a queued fault fails with ``probability``.

        The fault is drawn from ``kinds`` by a seeded generator, so a run is reproducible.
        """
        with self._lock:
            self._state.chaos = (probability, list(kinds), random.Random(seed))

    def add(self, records: Iterable[Record]) -> None:
        """Index more records (PubMed grows while a poller runs)."""
        with self._lock:
            self.records = sorted([*self.records, *records], key=lambda r: (r.crdt, int(r.pmid)))
            self._dates = [r.crdt for r in self.records]
            self._by_pmid = {r.pmid: r for r in self.records}

    def omit(self, pmids: Iterable[str], times: int | None = None) -> None:
        """Leave these PMIDs out of the next ``times`` EFetch answers (None: always, like deletions)."""
        with self._lock:
            for pmid in pmids:
                self._state.omitted[pmid] = times

    @property
    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._state.hits)

    @property
    def efetched(self) -> Counter[str]:
        """How often each PMID was served in a complete EFetch answer."""
        with self._lock:
            return Counter(self._state.efetched)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._state.faults)

    def rate_violations(self) -> list[Hit]:
        return [h for h in self.hits if h.rate_limited]

    def pmids_between(self, start: date, end: date) -> list[str]:
        return [r.pmid for r in self.records if start <= r.crdt <= end]

    # --- request handling (server thread) ------------------------------------------------

    def _arrive(self, identity: str, limit: int) -> int | None:
        """Record an arrival; the window count if it broke the limit."""
        now = self.clock()
        with self._lock:
            window = self._state.arrivals.setdefault(identity, deque())
            window.append(now)
            while window and window[0] <= now - 1.0:
                window.popleft()
            return len(window) if len(window) > limit else None

    def _next_fault(self, utility: str) -> Fault | None:
        with self._lock:
            for fault in self._state.faults:
                if fault.target in ("any", utility):
                    self._state.faults.remove(fault)
                    return fault
            if self._state.chaos is not None:
                probability, kinds, rng = self._state.chaos
                if rng.random() < probability:
                    candidates = [f for f in kinds if f.target in ("any", utility)]
                    return rng.choice(candidates) if candidates else None
        return None

    def _record(self, hit: Hit, complete: bool) -> None:
        with self._lock:
            self._state.hits.append(hit)
            if complete:
                self._state.efetched.update(hit.returned)

    def _search(self, params: dict[str, str]) -> tuple[bytes, tuple[str, ...]]:
        term = params.get("term", "")
        retmax = min(int(params.get("retmax", "20") or 20), MAX_RETMAX)
        retstart = int(params.get("retstart", "0") or 0)
        if retstart > MAX_RETMAX - 1:
            return _esearch_error(RETSTART_ERROR), ()
        unknown = [p for p in self.unknown_phrases if p in term]
        match = _RANGE.search(term)
        if unknown:
            hits: list[Record] = []
        elif match:
            lo, hi = (date(*map(int, g.split("/"))) for g in match.groups())
            hits = self.records[_bisect(self._dates, lo, left=True) : _bisect(self._dates, hi, left=False)]
        else:
            hits = list(self.records)
        # newest first, like PubMed's default for these queries
        ids = [r.pmid for r in reversed(hits)]
        page = ids[retstart : min(retstart + retmax, MAX_RETMAX)]
        parts = [
            f"<Count>{len(ids)}</Count><RetMax>{len(page)}</RetMax><RetStart>{retstart}</RetStart>".encode()
        ]
        if params.get("usehistory") == "y":
            parts.append(b"<QueryKey>1</QueryKey><WebEnv>MCID_6650d6a2f0c4b1234567890a</WebEnv>")
        parts.append(b"<IdList>\n" + b"".join(f"<Id>{p}</Id>\n".encode() for p in page) + b"</IdList>")
        if not page:
            parts[-1] = b"<IdList/>"
        parts.append(b"<TranslationSet/><QueryTranslation>" + _esc(term) + b"</QueryTranslation>")
        if unknown:
            parts.append(
                b"<ErrorList>"
                + b"".join(b"<PhraseNotFound>" + _esc(p) + b"</PhraseNotFound>" for p in unknown)
                + b"</ErrorList>"
            )
        if not ids:
            parts.append(b"<WarningList><OutputMessage>No items found.</OutputMessage></WarningList>")
        elif retstart + retmax > MAX_RETMAX and len(ids) > MAX_RETMAX:
            msg = f"Restrictions achieved. start and count adjusted to {retstart}, {len(page)}"
            parts.append(f"<WarningList><OutputMessage>{msg}</OutputMessage></WarningList>".encode())
        body = XML_DECL + ESEARCH_DOCTYPE + b"<eSearchResult>" + b"".join(parts) + b"</eSearchResult>\n"
        return body, tuple(page)

    def _fetch(self, params: dict[str, str]) -> tuple[bytes | None, tuple[str, ...], tuple[str, ...]]:
        requested = tuple(p.strip() for p in params.get("id", "").split(",") if p.strip())
        if not requested:
            return None, (), ()
        out: list[Record] = []
        with self._lock:
            for pmid in requested:
                record = self._by_pmid.get(pmid)
                if record is None:
                    continue
                if pmid in self._state.omitted:
                    left = self._state.omitted[pmid]
                    if left is None:
                        continue
                    if left > 0:
                        self._state.omitted[pmid] = left - 1
                        continue
                out.append(record)
        return _article_set(r.xml for r in out), requested, tuple(r.pmid for r in out)


def _bisect(dates: list[date], value: date, *, left: bool) -> int:
    return bisect.bisect_left(dates, value) if left else bisect.bisect_right(dates, value)


def _esc(text: str) -> bytes:
    return html.escape(text, quote=False).encode()


def _esearch_error(message: str) -> bytes:
    return (
        XML_DECL + ESEARCH_DOCTYPE + b"<eSearchResult><ERROR>" + _esc(message) + b"</ERROR></eSearchResult>\n"
    )


def _article_set(records: Iterable[bytes]) -> bytes:
    return (
        XML_DECL + PUBMED_DOCTYPE + b"<PubmedArticleSet>\n" + b"\n".join(records) + b"\n</PubmedArticleSet>\n"
    )


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    eutils: EutilsServer

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that timed out and hung up is part of the tests, not an error.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Httpd

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve(dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        self._serve(params)

    def _serve(self, params: dict[str, str]) -> None:
        eutils = self.server.eutils
        name = urlsplit(self.path).path.rsplit("/", 1)[-1]
        utility = {"esearch.fcgi": "esearch", "efetch.fcgi": "efetch"}.get(name)
        api_key = params.get("api_key") or None
        base = {
            "utility": utility or name,
            "method": self.command,
            "api_key": api_key,
            "term": params.get("term", ""),
            "tool": params.get("tool"),
            "email": params.get("email"),
            "user_agent": self.headers.get("User-Agent", ""),
        }
        at = eutils.clock()
        if utility is None:
            eutils._record(Hit(at=at, status=404, **base), False)
            self._reply(404, b"Not found", "text/plain")
            return
        identity = api_key or self.client_address[0]
        over = eutils._arrive(identity, RATE_LIMIT_WITH_KEY if api_key else RATE_LIMIT)
        if over is not None:
            limit = RATE_LIMIT_WITH_KEY if api_key else RATE_LIMIT
            body = json.dumps(
                {
                    "error": "API rate limit exceeded",
                    "api-key": identity,
                    "count": str(over),
                    "limit": str(limit),
                },
                separators=(",", ":"),
            ).encode()
            eutils._record(Hit(at=at, status=429, rate_limited=True, **base), False)
            self._reply(429, body, "application/json")
            return
        fault = eutils._next_fault(utility)
        if utility == "esearch":
            body, returned = eutils._search(params)
            requested: tuple[str, ...] = ()
        else:
            fetched, requested, returned = eutils._fetch(params)
            body = fetched if fetched is not None else _empty_id_error()
        status = 200
        if utility == "efetch" and requested and not returned:
            status, body = 400, _efetch_error("ID list is empty! Possibly it has no correct IDs.")
        headers: dict[str, str] = {}
        complete = fault is None and utility == "efetch"
        if fault is not None:
            returned = ()
            if fault.kind == "reset":
                eutils._record(Hit(at=at, status=0, fault="reset", requested=requested, **base), False)
                self._reset()
                return
            if fault.kind == "slow":
                pass  # waits below, after the hit is logged in arrival order
            elif fault.kind == "status":
                status, body = fault.status, _status_body(fault.status)
                if fault.retry_after is not None:
                    headers["Retry-After"] = fault.retry_after
            elif fault.kind == "backend_error":
                error = _esearch_error if utility == "esearch" else _efetch_error
                body = error(fault.message)
            elif fault.kind == "truncate":
                body = body[: max(1, len(body) * 3 // 5)]
            elif fault.kind == "html":
                body = HTML_ERROR_PAGE
            elif fault.kind == "body":
                body = fault.body
            elif fault.kind == "empty":
                body = _article_set(()) if utility == "efetch" else _esearch_empty()
        kind = "text/html" if body is HTML_ERROR_PAGE else "text/xml; charset=UTF-8"
        hit = Hit(
            at=at,
            status=status,
            fault=fault.kind if fault else None,
            requested=requested,
            returned=returned,
            **base,
        )
        eutils._record(hit, complete)
        if fault is not None and fault.kind == "slow":
            eutils._stopping.wait(fault.delay)
        self._reply(status, body, kind, headers)

    def _reply(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER 0 turns close() into a TCP RST: the client sees a reset, no response.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


def _empty_id_error() -> bytes:
    return _efetch_error("Supplied id parameter is empty.")


def _efetch_error(message: str) -> bytes:
    return XML_DECL + b"<eFetchResult>\n\t<ERROR>" + _esc(message) + b"</ERROR>\n</eFetchResult>\n"


def _esearch_empty() -> bytes:
    return (
        XML_DECL
        + ESEARCH_DOCTYPE
        + b"<eSearchResult><Count>0</Count><RetMax>0</RetMax><RetStart>0</RetStart><IdList/>"
        + b"<TranslationSet/><WarningList><OutputMessage>No items found.</OutputMessage></WarningList>"
        + b"</eSearchResult>\n"
    )


def _status_body(status: int) -> bytes:
    if status == 429:
        return b'{"error":"API rate limit exceeded","api-key":"127.0.0.1","count":"4","limit":"3"}'
    return b"<html><body><h1>%d</h1><p>Server error</p></body></html>" % status
