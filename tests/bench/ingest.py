"""Ingest throughput and peak memory: watcher side by side with the alternatives.

Each variant reads the same gzip PubmedArticleSet in a fresh interpreter
(``python -m tests.bench.ingest VARIANT PATH``), so its peak RSS is its own
(``ru_maxrss`` of the worker process, read by the worker at its end):

  (a) bare lxml iterparse: touch each PubmedArticle and clear it, no
      processing; the practical limit of any streaming parser;
  (b) Biopython ``Bio.Entrez.read(handle, validate=False)``: what a user would
      otherwise write; it builds the whole file in memory;
  (c) pubmed_parser ``parse_medline_xml``: dicts of the main fields;
  (d) watcher's parser alone (``iter_pubmed_xml``): full Paper records;
  (e) watcher's full ingest as a poll does it (``pipeline._store``): parse,
      store batches of 500 in SQLite and match every new work against the
      shipped rules in the same transaction, saving the matches.
"""

from __future__ import annotations

import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VARIANTS = {
    "a": "lxml iterparse + clear (no processing)",
    "b": "Biopython Entrez.read(validate=False)",
    "c": "pubmed_parser parse_medline_xml",
    "d": "watcher parser (iter_pubmed_xml)",
    "e": "watcher import: parse + SQLite + 13 rules",
    "e1": "  same, on one core (no parse worker)",
}
BATCH = 500
NOW = "2025-01-01T00:00:00Z"


def _bare(path: Path) -> int:
    from lxml import etree

    count = 0
    with gzip.open(path, "rb") as raw:
        context = etree.iterparse(
            raw,
            events=("end",),
            tag=("PubmedArticle", "PubmedBookArticle"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
        )
        for _event, elem in context:
            count += 1
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            while elem.getprevious() is not None:
                del parent[0]
    return count


def _biopython(path: Path) -> int:
    from Bio import Entrez

    with gzip.open(path, "rb") as handle:
        record = Entrez.read(handle, validate=False)
    return len(record["PubmedArticle"]) + len(record["PubmedBookArticle"])


def _pubmed_parser(path: Path) -> int:
    import pubmed_parser

    # it yields PubmedArticle records only (the base has one book record per 195)
    return sum(1 for _ in pubmed_parser.parse_medline_xml(str(path)))


def _watcher_parser(path: Path) -> int:
    from watcher.sources.pubmed_xml import iter_pubmed_xml

    return sum(1 for _ in iter_pubmed_xml(path))


def _watcher_ingest(path: Path, parallel: bool = True) -> int:
    """``watcher import``: parse (in a worker process when ``parallel``), store and match."""
    from watcher.importer import import_pubmed_xml
    from watcher.rules.evaluate import Matcher
    from watcher.rules.ruleset import load_ruleset
    from watcher.store import Store

    matcher = Matcher(load_ruleset(REPO / "rules"))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "w.db")
        report = import_pubmed_xml(path, store, NOW, "bench", match=matcher.match, parallel=parallel)
        works = store.counts()["works"]
        store.close()
    if works != report.records:
        raise SystemExit(f"the store holds {works} works for {report.records} records: the input merges")
    return report.records


def _watcher_ingest_one_core(path: Path) -> int:
    return _watcher_ingest(path, parallel=False)


RUNNERS: dict[str, Callable[[Path], int]] = {
    "a": _bare,
    "b": _biopython,
    "c": _pubmed_parser,
    "d": _watcher_parser,
    "e": _watcher_ingest,
    "e1": _watcher_ingest_one_core,
}


def skip_reason(variant: str) -> str | None:
    """Why a variant cannot run in this environment (None: it can)."""
    module = {"b": "Bio", "c": "pubmed_parser"}.get(variant)
    if module is None:
        return None
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, check=False)
    if probe.returncode:
        return f"skipped: {'biopython' if module == 'Bio' else module} not installed"
    return None


def worker(variant: str, path: Path) -> None:
    """One measurement, printed as JSON (runs in its own process)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    count = RUNNERS[variant](path)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    # KiB on Linux. A parse worker is a child process: its peak counts too (summed, to be safe).
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + children.ru_maxrss
    cpu_seconds += children.ru_utime + children.ru_stime
    print(
        json.dumps(
            {"records": count, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": peak_kib / 1024}
        )
    )


def measure(variant: str, path: Path) -> dict[str, Any]:
    """Run ``variant`` on ``path`` in a fresh interpreter; records/s, seconds and peak RSS."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.ingest", variant, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["records_per_s"] = result["records"] / result["seconds"]
    return result


if __name__ == "__main__":
    worker(sys.argv[1], Path(sys.argv[2]))
