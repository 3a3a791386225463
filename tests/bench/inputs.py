"""Benchmark inputs built from the recorded fixtures.

``make_repeated_pubmed`` grows the 195-record benchmark base
(fixtures/bench/pubmed_current_195.xml.gz) into one PubmedArticleSet of any
size. Each copy of a record gets a fresh PMID, and copies after the first
also a fresh DOI (``.c<copy>`` appended, in the ArticleIdList and the
ELocationID) and a fresh PMCID: the store merges records that share a DOI or
PMCID into one work, so without them it would measure merges, not inserts.
Everything else in the record is kept byte for byte.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

from tests.paths import FIXTURES

BENCH_BASE = FIXTURES / "bench" / "pubmed_current_195.xml.gz"
# New PMIDs start above every real PMID (8 digits today), so no copy can
# collide with a real record the base also holds.
FIRST_NEW_PMID = 900_000_000

_RECORD = re.compile(rb"<(PubmedArticle|PubmedBookArticle)\b[^>]*>.*?</\1>", re.DOTALL)
# The record's own PMID is the first PMID element in it (MedlineCitation/PMID
# or BookDocument/PMID); later ones belong to CommentsCorrections.
_OWN_PMID = re.compile(rb"<PMID\b([^>]*)>\s*(\d+)\s*</PMID>")
# The record's own identifiers are its first ArticleIdList (PubmedData's, or
# the BookDocument's); later ones belong to cited references.
_OWN_ID_LIST = re.compile(rb"<ArticleIdList>.*?</ArticleIdList>", re.DOTALL)
_ID_DOI = re.compile(rb'(<ArticleId IdType="doi">)([^<]+)(</ArticleId>)')
_ID_PMC = re.compile(rb'(<ArticleId IdType="pmc">)([^<]+)(</ArticleId>)')
_ELOCATION_DOI = re.compile(rb'(<ELocationID EIdType="doi"[^>]*>)([^<]+)(</ELocationID>)')
# New PMCIDs, like new PMIDs, lie above every real one.
FIRST_NEW_PMCID = 900_000_000


def _split(xml: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(text before the first record, the records, text after the last)."""
    records = list(_RECORD.finditer(xml))
    if not records:
        raise ValueError("the base file holds no PubmedArticle or PubmedBookArticle")
    head = xml[: records[0].start()]
    tail = xml[records[-1].end() :]
    return head, [m.group(0) for m in records], tail


def _renumbered(record: bytes, new_pmid: int) -> bytes:
    own = _OWN_PMID.search(record)
    if own is None:
        raise ValueError("a base record has no PMID")
    old = own.group(2)
    new = str(new_pmid).encode()
    record = record[: own.start()] + b"<PMID" + own.group(1) + b">" + new + b"</PMID>" + record[own.end() :]
    # The record's ArticleId of type pubmed repeats its PMID; a reference's
    # ArticleId names another paper and never equals it.
    return record.replace(
        b'<ArticleId IdType="pubmed">' + old + b"</ArticleId>",
        b'<ArticleId IdType="pubmed">' + new + b"</ArticleId>",
    )


def _reidentified(record: bytes, copy: int, serial: int) -> bytes:
    """Copy number ``copy`` of a record: DOIs get ``.c<copy>``, the PMCID a new number."""
    if copy == 0:
        return record
    suffix = b".c" + str(copy).encode()
    pmcid = b"PMC" + str(FIRST_NEW_PMCID + serial).encode()
    record = _ELOCATION_DOI.sub(lambda m: m.group(1) + m.group(2) + suffix + m.group(3), record)
    own = _OWN_ID_LIST.search(record)
    if own is None:
        return record
    ids = _ID_DOI.sub(lambda m: m.group(1) + m.group(2) + suffix + m.group(3), own.group(0))
    ids = _ID_PMC.sub(lambda m: m.group(1) + pmcid + m.group(3), ids)
    return record[: own.start()] + ids + record[own.end() :]


def _copies(records: list[bytes], n_records: int) -> Iterator[bytes]:
    for i in range(n_records):
        copy, n = divmod(i, len(records))
        yield _reidentified(_renumbered(records[n], FIRST_NEW_PMID + i), copy, i)


def make_repeated_pubmed(base: Path, n_records: int, out: Path) -> Path:
    """Write ``n_records`` records (copies of ``base``'s, new PMIDs) as one .xml.gz at ``out``.

    Streams the output: only the base's records are held in memory, never
    the result.
    """
    opener = gzip.open if base.name.endswith(".gz") else open
    with opener(base, "rb") as handle:
        head, records, tail = _split(handle.read())
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wb", compresslevel=6) as sink:
        sink.write(head)
        for record in _copies(records, n_records):
            sink.write(record)
            sink.write(b"\n")
        sink.write(tail)
    return out
