"""PubMed polling against a local E-utilities server: windows, batches, faults, budget, secrets."""

from __future__ import annotations

import itertools
import logging
import math
from datetime import date

import pytest

from tests.servers.eutils import EutilsServer, Fault, synthetic_corpus
from tests.sources.conftest import API_KEY, FakeClock, MakeClient
from watcher.errors import SourceError
from watcher.models import Paper
from watcher.sources.pubmed import ESEARCH_CAP, FetchBatch, PubMedClient, Window, crdt_term

# corpus_from_fixtures() spreads the 195 real records over these 14 days
START, END = date(2024, 3, 1), date(2024, 3, 14)
QUERY = '"chimeric antigen receptor"[tiab] AND "acute lymphoblastic leukemia"[tiab]'


def _backfill(client: PubMedClient, start: date = START, end: date = END) -> list[FetchBatch]:
    """What the pipeline does: plan windows, then fetch every window batch by batch."""
    return [
        batch
        for window in client.plan_windows(QUERY, start, end)
        for batch in client.fetch(window.pmids, window=window)
    ]


def _papers(batches: list[FetchBatch]) -> dict[str, Paper]:
    return {item.source_id: item for batch in batches for item in batch if isinstance(item, Paper)}


# --- ESearch --------------------------------------------------------------------------------


def test_search_finds_exactly_the_records_created_in_the_inclusive_window(
    eutils: EutilsServer, make_pubmed: MakeClient
) -> None:
    result = make_pubmed().search(QUERY, date(2024, 3, 2), date(2024, 3, 3))
    expected = eutils.pmids_between(date(2024, 3, 2), date(2024, 3, 3))
    assert sorted(result.pmids) == sorted(expected)
    assert result.count == len(expected) > 0
    assert result.webenv and result.query_key == "1"


def test_search_posts_the_query_with_a_crdt_range_tool_email_and_api_key(
    eutils: EutilsServer, make_pubmed: MakeClient
) -> None:
    make_pubmed(api_key=API_KEY).search(QUERY, START, END)
    (hit,) = eutils.hits
    assert hit.method == "POST"
    assert hit.term == f'({QUERY}) AND ("2024/03/01"[crdt] : "2024/03/14"[crdt])'
    assert hit.term == crdt_term(QUERY, START, END)
    assert (hit.tool, hit.email, hit.api_key) == ("watcher", "lab@example.org", API_KEY)


def test_an_empty_query_searches_the_date_range_alone() -> None:
    assert crdt_term(" ", START, END) == '("2024/03/01"[crdt] : "2024/03/14"[crdt])'


def test_a_misspelt_rule_is_logged_as_a_warning_not_taken_for_a_quiet_day(
    fixture_corpus: list, clock: FakeClock, make_pubmed: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="watcher.pubmed")
    with EutilsServer(fixture_corpus, clock=clock.now, unknown_phrases=["leukaemiaa"]) as server:
        result = make_pubmed(server).search("leukaemiaa[tiab]", START, END)
    assert result.count == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "watcher.pubmed"]
    assert any("PhraseNotFound" in m and "leukaemiaa" in m for m in warnings)


def test_a_window_without_records_is_quiet(make_pubmed: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="watcher.pubmed")
    windows = make_pubmed().plan_windows(QUERY, date(2023, 1, 1), date(2023, 1, 31))
    assert windows == [Window(date(2023, 1, 1), date(2023, 1, 31), 0, ())]
    assert caplog.records == []


def test_a_rejected_query_raises_naming_the_query(eutils: EutilsServer, make_pubmed: MakeClient) -> None:
    eutils.inject(Fault("backend_error", target="esearch", message="Invalid query: unbalanced parentheses"))
    with pytest.raises(SourceError, match="unbalanced parentheses") as err:
        make_pubmed().search(QUERY, START, END)
    assert "chimeric antigen receptor" in str(err.value)
    assert len(eutils.hits) == 1


# --- windows over the 9,999 cap ------------------------------------------------------------------


def test_windows_tile_the_range_in_date_order_without_gaps_or_overlap(make_pubmed: MakeClient) -> None:
    windows = make_pubmed().plan_windows(QUERY, START, END)
    assert windows[0].start == START and windows[-1].end == END
    for before, after in itertools.pairwise(windows):
        assert (after.start - before.end).days == 1


def test_a_window_over_the_cap_is_split_until_every_part_lists_all_its_records(
    clock: FakeClock, make_pubmed: MakeClient
) -> None:
    corpus = synthetic_corpus(25_000, date(2024, 1, 1), date(2024, 1, 30))
    with EutilsServer(corpus, clock=clock.now) as server:
        windows = make_pubmed(server, api_key=API_KEY).plan_windows(
            QUERY, date(2024, 1, 1), date(2024, 1, 30)
        )
        searches = len(server.hits)
    assert all(w.count < ESEARCH_CAP and len(w.pmids) == w.count and not w.capped for w in windows)
    listed = [p for w in windows for p in w.pmids]
    assert sorted(listed) == sorted(r.pmid for r in corpus)  # every record once, none twice
    assert len(windows) == 4
    assert searches == 7  # 1 + 2 too big, then 4 that fit and are reused


def test_a_single_day_over_the_cap_is_returned_capped_with_a_warning(
    clock: FakeClock, make_pubmed: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    day = date(2024, 2, 1)
    caplog.set_level(logging.WARNING, logger="watcher.pubmed")
    with EutilsServer(synthetic_corpus(ESEARCH_CAP + 50, day, day), clock=clock.now) as server:
        (window,) = make_pubmed(server, api_key=API_KEY).plan_windows(QUERY, day, day)
    assert window.capped
    assert window.count == ESEARCH_CAP + 50
    assert len(window.pmids) == ESEARCH_CAP
    assert any("2024/02/01" in r.getMessage() for r in caplog.records)


# --- EFetch ---------------------------------------------------------------------------------


def test_fetch_returns_every_record_in_batches_of_at_most_batch_size(
    eutils: EutilsServer, make_pubmed: MakeClient
) -> None:
    batches = _backfill(make_pubmed(batch_size=15))
    assert [len(b.requested) for b in batches] == [15, 15, 10]
    assert set(_papers(batches)) == {r.pmid for r in eutils.records}
    assert all(b.missing == () for b in batches)
    assert eutils.rate_violations() == []
    assert all(h.method == "POST" for h in eutils.hits)


def test_a_pmid_the_server_drops_once_is_asked_for_again_and_arrives(
    eutils: EutilsServer, make_pubmed: MakeClient
) -> None:
    pmids = eutils.pmids_between(START, END)[:20]
    eutils.omit([pmids[3]], times=1)
    batches = list(make_pubmed().fetch(pmids))
    assert set(_papers(batches)) == set(pmids)
    assert batches[-1].requested == (pmids[3],)
    assert all(b.missing == () for b in batches)


def test_a_pmid_that_never_comes_back_is_asked_for_twice_then_reported_missing(
    eutils: EutilsServer, make_pubmed: MakeClient
) -> None:
    pmids = eutils.pmids_between(START, END)[:20]
    gone = pmids[7]
    eutils.omit([gone])
    batches = list(make_pubmed().fetch([*pmids, "99999999"]))
    assert set(_papers(batches)) == set(pmids) - {gone}
    assert [m for b in batches for m in b.missing] == [gone, "99999999"]
    assert sum(gone in h.requested for h in eutils.hits) == 2


def test_a_batch_of_only_deleted_pmids_is_reported_missing_not_as_a_failure(
    eutils: EutilsServer, make_pubmed: MakeClient
) -> None:
    """NCBI answers HTTP 400 "ID list is empty!" when no requested PMID exists."""
    batches = list(make_pubmed().fetch(["99999998", "99999999"]))
    assert [b.missing for b in batches] == [(), ("99999998", "99999999")]
    assert [h.status for h in eutils.hits] == [400, 400]


# --- faults --------------------------------------------------------------------------------

FAULTS = [
    Fault("status", status=429),
    Fault("status", status=429, retry_after="2"),
    Fault("status", status=500),
    Fault("status", status=502),
    Fault("status", status=503, retry_after="1"),
    Fault("status", status=504),
    Fault("backend_error"),
    Fault("truncate"),
    Fault("html"),
    Fault("slow", delay=1.5),
    Fault("reset"),
]


# An empty ESearch answer is indistinguishable from a quiet day, so "empty" targets EFetch only.
CASES = [(f, t) for f in FAULTS for t in ("esearch", "efetch")] + [(Fault("empty"), "efetch")]


CASE_IDS = [
    f"{f.kind}{f.status if f.kind == 'status' else ''}{'+retry-after' if f.retry_after else ''}-{t}"
    for f, t in CASES
]


@pytest.mark.parametrize(("fault", "target"), CASES, ids=CASE_IDS)
def test_each_fault_is_retried_and_the_result_equals_a_fault_free_run(
    eutils: EutilsServer, make_pubmed: MakeClient, fault: Fault, target: str
) -> None:
    client = make_pubmed(timeout=0.5, batch_size=25)
    expected = _papers(_backfill(client))
    before = len(eutils.hits)
    eutils.inject(Fault(fault.kind, target=target, status=fault.status, retry_after=fault.retry_after,
                        delay=fault.delay))  # fmt: skip
    got = _papers(_backfill(client))
    assert got == expected
    assert eutils.pending_faults == 0
    assert len(eutils.hits) - before > before  # the fault cost at least one extra request
    assert eutils.rate_violations() == []


def test_a_seeded_storm_of_faults_still_yields_the_fault_free_result(
    eutils: EutilsServer, make_pubmed: MakeClient
) -> None:
    client = make_pubmed(timeout=0.5, batch_size=5, max_retries=8)
    expected = _papers(_backfill(client))
    before = len(eutils.hits)
    eutils.random_faults(0.4, [f for f in FAULTS if f.kind != "slow"], seed=7)
    assert _papers(_backfill(client)) == expected
    assert sum(h.fault is not None for h in eutils.hits[before:]) >= 3
    assert eutils.rate_violations() == []


def test_retry_after_is_honoured_on_429_and_503(
    eutils: EutilsServer, clock: FakeClock, make_pubmed: MakeClient
) -> None:
    eutils.inject(
        Fault("status", target="esearch", status=429, retry_after="9"),
        Fault("status", target="efetch", status=503, retry_after="4"),
    )
    _backfill(make_pubmed())
    assert 9.0 in clock.sleeps
    assert 4.0 in clock.sleeps


def test_a_window_that_keeps_failing_raises_naming_the_window(
    eutils: EutilsServer, make_pubmed: MakeClient
) -> None:
    client = make_pubmed(max_retries=2)
    (window,) = client.plan_windows(QUERY, START, END)
    eutils.inject(*[Fault("status", target="efetch", status=503)] * 3)
    with pytest.raises(SourceError, match="window 2024/03/01-2024/03/14"):
        list(client.fetch(window.pmids, window=window))

    eutils.inject(*[Fault("backend_error", target="esearch")] * 3)
    with pytest.raises(SourceError, match="window 2024/03/01-2024/03/14"):
        client.plan_windows(QUERY, START, END)


def test_the_api_key_is_sent_but_never_appears_in_errors_or_logs(
    eutils: EutilsServer, make_pubmed: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_pubmed(api_key=API_KEY, max_retries=1)
    eutils.inject(Fault("truncate", target="efetch"), Fault("reset", target="efetch"))
    eutils.inject(*[Fault("html", target="efetch")] * 2)
    with pytest.raises(SourceError) as err:
        _backfill(client)
    assert API_KEY not in str(err.value)
    assert API_KEY not in repr(client.settings)
    assert caplog.records
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
    assert eutils.hits and all(h.api_key == API_KEY for h in eutils.hits)


# --- request budget ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [10, 1_000, 10_200])
def test_a_backfill_fetches_every_record_exactly_once_within_the_request_budget(
    clock: FakeClock, make_pubmed: MakeClient, n: int
) -> None:
    """Budget per window: 1 ESearch + ceil(records/500) EFetch (+1 follow-up if any went missing)."""
    corpus = synthetic_corpus(n, date(2024, 1, 1), date(2024, 1, 30))
    with EutilsServer(corpus, clock=clock.now) as server:
        client = make_pubmed(server, api_key=API_KEY)
        windows = client.plan_windows(QUERY, date(2024, 1, 1), date(2024, 1, 30))
        searches = len(server.hits)
        fetches_per_window = []
        for window in windows:
            before = len(server.hits)
            for _batch in client.fetch(window.pmids, window=window):
                pass
            fetches_per_window.append(len(server.hits) - before)
        efetched = server.efetched
        violations = server.rate_violations()
    assert set(efetched) == {r.pmid for r in corpus}
    assert set(efetched.values()) == {1}
    for window, fetches in zip(windows, fetches_per_window, strict=True):
        assert 1 + fetches <= math.ceil(window.count / 500) + 2
    splits = searches - len(windows)
    assert splits == (0 if n < ESEARCH_CAP else 1)
    assert violations == []


def test_one_record_pubmed_serves_as_broken_xml_is_isolated_and_the_rest_are_fetched(
    make_pubmed: MakeClient, clock: FakeClock
) -> None:
    """A raw control character (forbidden in XML) spoils every body it is in; split to find it."""
    from tests.servers.eutils import Record
    from tests.servers.pubmed_records import article
    from watcher.models import RecordError

    day = date(2024, 3, 1)
    good = [
        Record(str(41_700_000 + i), day, article(str(41_700_000 + i), f"CAR T cells study {i}"))
        for i in range(7)
    ]
    poison = Record("41799999", day, article("41799999", "A title with a raw \x01 control character"))
    with EutilsServer([*good, poison], clock=clock.now) as server:
        client = make_pubmed(server, max_retries=1)
        window = client.plan_windows("", day, day)[0]
        items = [item for batch in client.fetch(window.pmids, window=window) for item in batch]
    papers = {i.pmid for i in items if isinstance(i, Paper)}
    errors = [i for i in items if isinstance(i, RecordError)]
    assert papers == {r.pmid for r in good}
    assert [e.pmid for e in errors] == ["41799999"]
    assert "cannot be parsed" in errors[0].message
