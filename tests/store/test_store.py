"""The store: one work per paper, changes recorded, cursors atomic with data, files private."""

from __future__ import annotations

import sqlite3
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from watcher.models import Author, CommentCorrection, Paper
from watcher.store import Store

T0 = "2025-01-01T00:00:00Z"
T1 = "2025-01-02T00:00:00Z"


def pubmed(pmid: str, title: str = "CD19 CAR T cells for relapsed B-ALL in children", **kw: object) -> Paper:
    return Paper(
        source="pubmed",
        source_id=pmid,
        pmid=pmid,
        title=title,
        authors=(Author("Maude", "Shannon", "SL"),),
        pub_date="2025",
        **kw,
    )  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "state" / "watcher.db")
    yield s  # type: ignore[misc]
    s.close()


def test_database_file_is_owner_only_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state" / "w.db"
    s = Store.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert s.db.journal_mode == "wal"
    s.close()


def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    Store.open(path).close()
    s = Store.open(path)
    names = [r["name"] for r in s.db.query("SELECT name FROM _sqlite_migrations")]
    assert names == sorted(set(names))
    s.close()


def test_same_pmid_twice_is_one_work_and_unchanged(store: Store) -> None:
    first = store.ingest([pubmed("1")], T0)
    again = store.ingest([pubmed("1")], T1)
    assert len(first.new) == 1 and again.new == [] and again.updated == [] and again.unchanged == 1
    assert store.counts()["works"] == 1


def test_changed_record_updates_the_row_and_records_what_changed(store: Store) -> None:
    store.ingest([pubmed("1", publication_status="aheadofprint")], T0)
    result = store.ingest([pubmed("1", publication_status="ppublish", abstract="Now with an abstract.")], T1)
    assert result.updated == [1]
    (row,) = store.db.query("SELECT fields FROM changes")
    assert "abstract" in row["fields"] and "publication_status" in row["fields"]
    assert store.work_row(1)["abstract"] == "Now with an abstract."  # type: ignore[index]
    assert [e["kind"] for e in store.events(1)] == ["issue_assigned"]


def test_feed_item_then_pubmed_record_with_doi_in_other_case_is_one_work(store: Store) -> None:
    feed = Paper(
        source="feed:blood",
        source_id="guid-1",
        title="CD19 CAR T cells for relapsed B-ALL in children",
        doi="https://doi.org/10.1182/BLOOD.2025.1",
    )
    store.ingest([feed], T0)
    result = store.ingest([pubmed("9", doi="10.1182/blood.2025.1", abstract="PubMed abstract", mesh=())], T1)
    assert result.new == [] and store.counts()["works"] == 1
    work = store.work_row(1)
    assert work is not None
    assert work["abstract"] == "PubMed abstract" and work["pmid"] == "9"
    assert work["first_seen_source"] == "feed:blood" and work["first_seen_at"] == T0
    assert [s["source"] for s in store.sightings(1)] == ["feed:blood", "pubmed"]


def test_feed_sighting_after_pubmed_never_overwrites_pubmed_metadata(store: Store) -> None:
    store.ingest([pubmed("9", doi="10.1000/x", abstract="Full PubMed abstract")], T0)
    store.ingest(
        [
            Paper(
                source="feed:j",
                source_id="g",
                title="Different feed title",
                doi="10.1000/X",
                abstract="teaser",
            )
        ],
        T1,
    )
    work = store.work_row(1)
    assert work is not None and work["abstract"] == "Full PubMed abstract"


def test_records_without_identifiers_merge_on_title_author_year(store: Store) -> None:
    a = Paper(
        source="feed:a",
        source_id="x",
        title="Obecabtagene autoleucel in adult B-ALL",
        authors=(Author("Roddie", "Claire"),),
        pub_date="2024-11-07",
    )
    b = Paper(
        source="feed:b",
        source_id="y",
        title="Obecabtagene Autoleucel in Adult B-ALL.",
        authors=(Author("Roddie", "C"),),
        pub_date="2024",
    )
    store.ingest([a], T0)
    store.ingest([b], T1)
    assert store.counts()["works"] == 1


def test_same_title_with_different_dois_stays_two_works(store: Store) -> None:
    a = Paper(
        source="feed:a",
        source_id="x",
        title="Management of cytokine release syndrome",
        doi="10.1000/a",
        pub_date="2024",
    )
    b = Paper(
        source="feed:b",
        source_id="y",
        title="Management of cytokine release syndrome",
        doi="10.1000/b",
        pub_date="2024",
    )
    store.ingest([a, b], T0)
    assert store.counts()["works"] == 2


def test_pmid_arriving_later_links_two_works_into_one(store: Store) -> None:
    """A feed work known by DOI and a PubMed work known by PMCID merge when one record carries both."""
    store.ingest(
        [Paper(source="feed:a", source_id="x", title="A paper about CAR T persistence", doi="10.1000/p")], T0
    )
    store.ingest(
        [Paper(source="feed:b", source_id="y", title="Other title form entirely", pmcid="PMC123")], T0
    )
    assert store.counts()["works"] == 2
    store.ingest([pubmed("5", title="A paper about CAR T persistence", doi="10.1000/p", pmcid="PMC123")], T1)
    assert store.counts()["works"] == 1
    assert len(store.sightings(1)) == 3


def test_preprint_then_journal_version_is_one_work_with_an_event(store: Store) -> None:
    pre = Paper(
        source="feed:medrxiv",
        source_id="p",
        title="Dual CD19/CD22 CAR T cells in relapsed B-ALL",
        doi="10.1101/2024.01.01.123",
        is_preprint=True,
        authors=(Author("Lee", "A"),),
        pub_date="2024-01-01",
    )
    pub = Paper(
        source="feed:blood",
        source_id="j",
        title="Dual CD19/CD22 CAR T cells in relapsed B-ALL",
        doi="10.1182/blood.2024.9",
        journal="Blood",
        authors=(Author("Lee", "A"),),
        pub_date="2024-06-01",
    )
    store.ingest([pre], T0)
    result = store.ingest([pub], T1)
    assert store.counts()["works"] == 1
    work = store.work_row(1)
    assert work is not None and work["doi"] == "10.1182/blood.2024.9" and work["is_preprint"] == 0
    assert [e["kind"] for e in store.events(1)] == ["journal_version"]
    assert result.events
    # The preprint DOI still finds the work.
    store.ingest([replace(pre, source_id="p2")], T1)
    assert store.counts()["works"] == 1


def test_retraction_notice_links_an_event_to_the_retracted_work(store: Store) -> None:
    store.ingest([pubmed("100")], T0)
    notice = Paper(
        source="pubmed",
        source_id="200",
        pmid="200",
        title="Retraction Note: CD19 CAR T cells for relapsed B-ALL",
        publication_types=("Retraction of Publication",),
        comments_corrections=(CommentCorrection("RetractionOf", "Blood. 2025;1:1", "100"),),
    )
    store.ingest([notice], T1)
    store.ingest([notice], T1)  # seen again: still one event
    events = store.events(1)
    assert [(e["kind"], e["related_work_id"]) for e in events] == [("retracted", 2)]
    assert store.work_row(1)["retracted"] == 1  # type: ignore[index]


def test_cursor_is_written_with_the_batch_or_not_at_all(store: Store) -> None:
    bad = Paper(source="pubmed", source_id="2", pmid="2", title=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # a failure mid-batch rolls back the whole batch
        store.ingest([pubmed("1"), bad], T0, cursor=("pubmed", "2025-01-01"))
    assert store.get_cursor("pubmed") is None
    assert store.counts()["works"] == 0
    store.ingest([pubmed("1")], T0, cursor=("pubmed", "2025-01-01"))
    assert store.get_cursor("pubmed") == "2025-01-01"


def test_health_counts_consecutive_failures_and_resets_on_success(store: Store) -> None:
    store.record_health("pubmed", False, 0, 0, "boom", T0)
    store.record_health("pubmed", False, 0, 0, "boom again", T1)
    (h,) = store.health()
    assert h["consecutive_failures"] == 2 and h["last_error"] == "boom again"
    store.record_health("pubmed", True, 5, 2, None, T1)
    (h,) = store.health()
    assert h["consecutive_failures"] == 0 and h["last_items"] == 5 and h["last_new_at"] == T1


def test_integrity_check_passes(store: Store) -> None:
    store.ingest([pubmed(str(i)) for i in range(1, 50)], T0)
    assert store.integrity_ok()


def test_schema_migration_count_matches_the_read_only_check() -> None:
    from watcher.store import SCHEMA_MIGRATIONS
    from watcher.store.schema import migrations

    assert len(migrations.pending(Store.memory().db)) == 0
    assert len(migrations._migrations) == SCHEMA_MIGRATIONS


def test_read_only_open_sees_the_data_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    s = Store.open(path)
    s.ingest([pubmed("1")], T0, cursor=("pubmed", "2025-01-01"))
    s.close()
    ro = Store.open_readonly(path)
    assert ro is not None
    assert ro.counts()["works"] == 1 and ro.cursors() == {"pubmed": "2025-01-01"}
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.db.conn.execute("DELETE FROM works")
    ro.close()


def test_read_only_open_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    assert Store.open_readonly(tmp_path / "absent.db") is None
    assert not (tmp_path / "absent.db").exists()


def test_missing_pmids_are_kept_for_later_runs_until_they_arrive_or_are_given_up(store: Store) -> None:
    store.ingest([pubmed("1")], T0, missing=["2", "3"])
    assert store.pending_pmids() == ["2", "3"]
    store.ingest([pubmed("2")], T1, missing=["3"])
    assert store.pending_pmids() == ["3"]
    assert store.give_up_pending(max_attempts=3) == []
    store.ingest([], T1, missing=["3"])
    assert store.give_up_pending(max_attempts=3) == ["3"]
    assert store.pending_pmids() == []


def _stored_records() -> list[Paper]:
    from tests.paths import FIXTURES
    from watcher.sources.feed_items import parse_feed
    from watcher.sources.pubmed_xml import iter_pubmed_xml

    records = [
        p for p in iter_pubmed_xml(FIXTURES / "bench" / "pubmed_current_195.xml.gz") if isinstance(p, Paper)
    ]
    for feed in sorted((FIXTURES / "feeds" / "publishers").glob("*.xml")):
        records += parse_feed(feed.read_bytes(), {}, f"https://example.org/{feed.name}", feed.stem).papers
    return records


def test_a_new_work_matched_from_memory_is_the_work_read_back() -> None:
    """A new work is matched from the record in hand: it must equal what the store reads back."""
    from watcher.store.codec import as_work, paper_to_row, row_to_paper

    records = _stored_records()
    assert len(records) > 300
    for n, paper in enumerate(records):
        row = paper_to_row(paper)
        assert as_work(paper, n, row) == row_to_paper({**row, "id": n}), paper.source_id


def test_works_merged_inside_one_batch_are_matched_once_as_the_merged_work(store: Store) -> None:
    from tests.rules.helpers import matcher, rule

    m = matcher(rule("persistence", "persistence[tiab]", requires_scope=False))
    store.ingest(
        [
            Paper(source="feed:a", source_id="x", title="A paper about CAR T persistence", doi="10.1000/p"),
            Paper(source="feed:b", source_id="y", title="Persistence, in other words", pmcid="PMC123"),
            pubmed("5", title="A paper about CAR T persistence", doi="10.1000/p", pmcid="PMC123"),
        ],
        T0,
        match=m.match,
    )
    rows = list(store.db.query("SELECT work_id, rule_id FROM matches"))
    assert store.counts()["works"] == 1
    assert rows == [{"work_id": 1, "rule_id": "persistence"}]
