"""Import a PubMed XML file (an export, a baseline or update file) into the store.

Parsing is the largest cost of ingest, and it is independent of storing and
matching, so on a machine with a second core the file is parsed in a worker
process while this process stores and matches the previous batch. A bounded
queue keeps memory flat however large the file is.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from watcher.errors import ParseError
from watcher.models import DeletedCitation, MatchResult, Paper, RecordError
from watcher.store import Store

BATCH = 500
# Batches parsed ahead of the store: enough to keep both processes busy, few enough for flat memory.
QUEUE_DEPTH = 4


@dataclass
class ImportReport:
    records: int = 0
    new: int = 0
    updated: int = 0
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Failed:
    message: str


def import_pubmed_xml(
    path: Path,
    store: Store,
    now: str,
    run_id: str = "import",
    match: Callable[[Paper], MatchResult] | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Store (and match) every record of ``path``; ParseError if the file itself is broken.

    Records stored before a broken part stay stored: each batch is its own transaction.
    """
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1
    report = ImportReport()
    batches = _parallel_batches(path) if parallel else _batches(str(path))
    for batch in batches:
        papers: list[Paper] = []
        for item in batch:
            if isinstance(item, Paper):
                papers.append(item)
            elif isinstance(item, RecordError):
                report.skipped.append(f"PMID {item.pmid or '?'}: {item.message}")
            elif isinstance(item, DeletedCitation):
                report.deleted.extend(item.pmids)
        result = store.ingest(papers, now, run_id, match=match)
        report.records += len(papers)
        report.new += len(result.new)
        report.updated += len(result.updated)
    return report


def _batches(path: str) -> Any:
    from watcher.sources.pubmed_xml import iter_pubmed_xml

    batch: list[Any] = []
    for item in iter_pubmed_xml(path):
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _worker(path: str, queue: Any) -> None:
    """In the child process: parse and hand over batches; a broken file ends with _Failed."""
    try:
        for batch in _batches(path):
            queue.put(batch)
    except ParseError as e:
        queue.put(_Failed(str(e)))
    except Exception as e:  # an unexpected parser bug must still end the import, not hang it
        queue.put(_Failed(f"{type(e).__name__}: {e}"))
    queue.put(None)


def _parallel_batches(path: Path) -> Any:
    # spawn, not fork: the parent may hold an SQLite connection and (under serve) threads.
    context = multiprocessing.get_context("spawn")
    queue = context.Queue(maxsize=QUEUE_DEPTH)
    process = context.Process(target=_worker, args=(str(path), queue), daemon=True)
    process.start()
    try:
        while True:
            try:
                item = queue.get(timeout=1.0)
            except Empty:
                if not process.is_alive():
                    raise ParseError(
                        f"{path}: the parser process stopped (exit code {process.exitcode})"
                    ) from None
                continue
            if item is None:
                break
            if isinstance(item, _Failed):
                raise ParseError(f"{path}: {item.message}")
            yield item
    finally:
        if process.is_alive():
            process.terminate()
        process.join()
        queue.close()
        queue.join_thread()
