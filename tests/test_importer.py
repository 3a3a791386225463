"""watcher import: a PubMed XML file into the store, parsed in a worker process."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import FIXTURES, REPO
from watcher.errors import ParseError
from watcher.importer import import_pubmed_xml
from watcher.store import Store

BENCH = FIXTURES / "bench" / "pubmed_current_195.xml.gz"
NOW = "2025-01-01T00:00:00Z"


def test_parallel_and_single_process_imports_store_the_same_works(tmp_path: Path) -> None:
    one = Store.open(tmp_path / "one.db")
    two = Store.open(tmp_path / "two.db")
    a = import_pubmed_xml(BENCH, one, NOW, parallel=False)
    b = import_pubmed_xml(BENCH, two, NOW, parallel=True)
    assert a.records == b.records == 195 and a.new == b.new == 195
    rows = "SELECT pmid, doi, title, abstract, content_hash FROM works ORDER BY pmid"
    assert list(one.db.query(rows)) == list(two.db.query(rows))


def test_a_file_broken_near_its_end_keeps_the_full_batches_before_it_and_says_so(tmp_path: Path) -> None:
    from tests.bench.inputs import make_repeated_pubmed

    source = make_repeated_pubmed(BENCH, 1200, tmp_path / "big.xml.gz")
    xml = gzip.decompress(source.read_bytes())
    cut = tmp_path / "cut.xml"
    cut.write_bytes(xml[: int(len(xml) * 0.95)])  # over 1,000 complete records, then a cut
    store = Store.open(tmp_path / "w.db")
    with pytest.raises(ParseError, match=r"cut\.xml"):
        import_pubmed_xml(cut, store, NOW, parallel=True)
    # Each batch of 500 is its own transaction: the two complete ones stay, nothing half-stored.
    assert store.counts()["works"] == 1000


def test_cli_import_reports_and_a_second_import_adds_nothing(tmp_path: Path) -> None:
    config = tmp_path / "watcher.toml"
    config.write_text(f'[rules]\ndir = "{REPO / "rules"}"\n')

    def run() -> dict[str, object]:
        proc = subprocess.run(
            [sys.executable, "-m", "watcher", "import", str(BENCH), "--json", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    first = run()
    assert first["records"] == 195 and first["new"] == 195
    again = run()
    assert again["new"] == 0 and again["updated"] == 0


def test_cli_import_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "import", str(tmp_path / "nope.xml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "no such file" in proc.stderr


def test_every_kind_of_parsed_item_survives_the_trip_to_the_store_process() -> None:
    import pickle

    from watcher.models import DeletedCitation, Paper, RecordError
    from watcher.sources.pubmed_xml import iter_pubmed_xml

    # a one-field record (DeletedCitation) and nested authors, MeSH and corrections
    items = [*iter_pubmed_xml(BENCH), DeletedCitation(("1", "2")), RecordError(None, "no PMID")]
    assert any(isinstance(p, Paper) and p.mesh and p.authors and p.comments_corrections for p in items)
    back = pickle.loads(pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301 - our own bytes
    assert back == items
    assert [type(x) for x in back] == [type(x) for x in items]
