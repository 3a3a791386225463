"""`watcher run` end to end: the real CLI, a real SQLite file, a local E-utilities server."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import pytest

from tests.e2e.conftest import Workspace, pubmed_config
from tests.servers.eutils import EutilsServer, Fault, corpus_from_fixtures, synthetic_corpus

TODAY = date.today()


def stored_pmids(ws: Workspace) -> set[str]:
    with sqlite3.connect(ws.db) as conn:
        return {row[0] for row in conn.execute("SELECT pmid FROM works WHERE pmid IS NOT NULL")}


def cursor(ws: Workspace) -> str | None:
    with sqlite3.connect(ws.db) as conn:
        row = conn.execute("SELECT value FROM cursors WHERE source = 'pubmed'").fetchone()
    return row[0] if row else None


@pytest.fixture
def corpus() -> list:  # type: ignore[type-arg]
    return corpus_from_fixtures(start=TODAY - timedelta(days=9), days=10)


def test_first_run_stores_every_record_and_prints_them_then_a_second_run_adds_nothing(
    workspace: Workspace,
    corpus: list,  # type: ignore[type-arg]
) -> None:
    with EutilsServer(corpus) as server:
        workspace.write_config(pubmed_config(server.url))
        first = workspace.watcher("run")
        assert first.returncode == 0, first.stderr
        assert stored_pmids(workspace) == {r.pmid for r in corpus}
        assert f"{len(corpus)} new paper(s)" in first.stdout
        assert cursor(workspace) == TODAY.isoformat()

        second = workspace.watcher("run", "--json")
        assert second.returncode == 0, second.stderr
        report = second.json()
        assert report["sources"]["pubmed"]["new"] == 0
        assert report["sources"]["pubmed"]["updated"] == 0
        assert report["new_work_ids"] == []
        assert server.rate_violations() == []


def test_fault_injected_run_ends_with_the_same_papers_as_a_clean_run(
    workspace: Workspace,
    corpus: list,  # type: ignore[type-arg]
) -> None:
    with EutilsServer(corpus) as server:
        server.inject(
            Fault("status", target="esearch", status=429, retry_after="1"),
            Fault("backend_error", target="esearch"),
            Fault("status", target="efetch", status=502),
            Fault("truncate", target="efetch"),
            Fault("status", target="efetch", status=429),
            Fault("reset", target="efetch"),
            Fault("html", target="efetch"),
        )
        workspace.write_config(pubmed_config(server.url))
        result = workspace.watcher("run", "--json")
        assert result.returncode == 0, result.stderr
        assert server.pending_faults == 0
        assert stored_pmids(workspace) == {r.pmid for r in corpus}
        assert server.rate_violations() == []


def test_a_window_that_keeps_failing_is_reported_and_the_cursor_stays_before_it(
    workspace: Workspace,
    corpus: list,  # type: ignore[type-arg]
) -> None:
    with EutilsServer(corpus) as server:
        workspace.write_config(pubmed_config(server.url).replace("max_retries = 6", "max_retries = 1"))
        server.inject(*[Fault("status", target="efetch", status=503)] * 2)  # max_retries = 1: two attempts
        failed = workspace.watcher("run", "--json")
        assert failed.returncode == 1
        report = failed.json()
        assert report["sources"]["pubmed"]["failed_windows"]
        assert "503" in " ".join(report["sources"]["pubmed"]["errors"])
        assert cursor(workspace) is None
        assert stored_pmids(workspace) == set()

        retry = workspace.watcher("run", "--json")
        assert retry.returncode == 0, retry.stderr
        assert stored_pmids(workspace) == {r.pmid for r in corpus}
        assert cursor(workspace) == TODAY.isoformat()


def test_dry_run_fetches_and_reports_but_writes_nothing(workspace: Workspace, corpus: list) -> None:  # type: ignore[type-arg]
    with EutilsServer(corpus) as server:
        workspace.write_config(pubmed_config(server.url))
        result = workspace.watcher("run", "--dry-run", "--json")
        assert result.returncode == 0, result.stderr
        assert result.json()["sources"]["pubmed"]["fetched"] == len(corpus)
        assert stored_pmids(workspace) == set()
        assert cursor(workspace) is None


def test_status_json_reports_total_papers_and_pubmed_health(workspace: Workspace, corpus: list) -> None:  # type: ignore[type-arg]
    with EutilsServer(corpus) as server:
        workspace.write_config(pubmed_config(server.url))
        assert workspace.watcher("run").returncode == 0
    status = workspace.watcher("status", "--json")
    assert status.returncode == 0, status.stderr
    data = status.json()
    assert data["papers"] == len(corpus)
    assert data["sources"]["pubmed"]["state"] == "ok"
    assert data["sources"]["pubmed"]["cursor"] == TODAY.isoformat()
    assert data["runs"][0]["status"] == "ok"


@pytest.mark.slow
def test_backfill_over_the_9999_cap_fetches_every_record_exactly_once(workspace: Workspace) -> None:
    """10,200 records in one window: ESearch can list only 9,999, so the window must split."""
    start, end = date(2024, 1, 1), date(2024, 1, 20)
    corpus = synthetic_corpus(10_200, start, end)
    with EutilsServer(corpus) as server:
        workspace.write_config(pubmed_config(server.url))
        result = workspace.watcher(
            "run", "--since", start.isoformat(), "--until", end.isoformat(), "--json", timeout=400
        )
        assert result.returncode == 0, result.stderr
        report = result.json()
        assert report["sources"]["pubmed"]["fetched"] == 10_200
        fetched = server.efetched
        assert len(fetched) == 10_200 and set(fetched.values()) == {1}
        assert server.rate_violations() == []
        # The clones share DOIs, so they fold into fewer works, but every PMID is a stored sighting.
        with sqlite3.connect(workspace.db) as conn:
            (sightings,) = conn.execute("SELECT count(*) FROM sightings WHERE source = 'pubmed'").fetchone()
        assert sightings == 10_200
        # A backfill of old dates does not set the regular poll's cursor.
        assert cursor(workspace) is None
