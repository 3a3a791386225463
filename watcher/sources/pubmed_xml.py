"""Streaming parser for PubMed efetch XML (PubmedArticleSet) and MEDLINE files.

Pure: bytes or a file in, typed records out. One pass with lxml ``iterparse``;
each finished record is turned into a :class:`~watcher.models.Paper` and then
cleared together with its preceding siblings, so memory stays flat however
large the file is.

Every string in a record is hostile. The parser never loads a DTD, never
expands entities and never touches the network or the file system on behalf
of the document; a document whose DOCTYPE declares entities at all (billion
laughs, external entities) is refused, because PubMed never sends one.

Failures come in two sizes:

* one record that cannot become a Paper (no PMID, say) yields a
  :class:`~watcher.models.RecordError` and parsing goes on;
* a body that is not a PubmedArticleSet (an HTML page, an ``<ERROR>`` reply,
  ill-formed or truncated XML) raises :class:`~watcher.errors.ParseError` -
  but only after every complete record before the breakage was yielded.
  Truncation raises the subclass :class:`TruncatedXMLError`, so a poller can
  tell a cut-off download (retry it) from a wrong reply.
"""

from __future__ import annotations

import codecs
import io
import os
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, BinaryIO, Protocol

from lxml import etree

from watcher.errors import ParseError, TruncatedXMLError
from watcher.models import DeletedCitation, ParsedItem, RecordError
from watcher.sources.pubmed_xml_fields import RecordProblem, book_article, citation, deleted

__all__ = ["TruncatedXMLError", "iter_pubmed_xml", "parse_pubmed_xml"]

_ROOTS = frozenset({"PubmedArticleSet", "MedlineCitationSet"})
_EVENT_TAGS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation", "ERROR")
# MedlineCitation is a record only directly under MedlineCitationSet (old MEDLINE
# files). Listening for it in a PubmedArticleSet costs an extra event per
# record, so it is added only when the start of the body names that root.
_MEDLINE_EVENT_TAGS = (*_EVENT_TAGS, "MedlineCitation")
_MEDLINE_ROOT = b"<MedlineCitationSet"
_PEEK_BYTES = 1 << 16
_SAFE_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "strip_cdata": True,
}
# libxml2's "Extra content at the end of the document": junk after a complete
# root, which is ill-formed but not a cut-off download.
_XML_ERR_DOCUMENT_END = 5
_GZIP_MAGIC = b"\x1f\x8b"


def iter_pubmed_xml(source: bytes | BinaryIO | str | os.PathLike[str]) -> Iterator[ParsedItem]:
    """Yield one Paper, DeletedCitation or RecordError per record in ``source``.

    ``source`` is the body itself (bytes; gzip bytes are recognised by their
    magic number), an open binary file, or a path (``.gz`` paths are
    decompressed while streaming). Raises ParseError after the last complete
    record if the body is not a well-formed PubmedArticleSet/MedlineCitationSet.
    """
    with ExitStack() as stack:
        stream, label = _open(source, stack)
        reader = _TrackingReader(stream)
        medline = _MEDLINE_ROOT in reader.peek(_PEEK_BYTES)
        yield from _iterate(reader, label, _MEDLINE_EVENT_TAGS if medline else _EVENT_TAGS)


def parse_pubmed_xml(data: bytes) -> list[ParsedItem]:
    """All records of a small body at once (see :func:`iter_pubmed_xml`)."""
    return list(iter_pubmed_xml(data))


def _open(source: bytes | BinaryIO | str | os.PathLike[str], stack: ExitStack) -> tuple[_Readable, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if data.startswith(_GZIP_MAGIC):
            return _Gunzip(io.BytesIO(data)), "response body"
        return io.BytesIO(data), "response body"
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        raw = stack.enter_context(open(path, "rb"))  # noqa: SIM115 - closed by the stack
        return (_Gunzip(raw) if path.endswith(".gz") else raw), path
    return source, getattr(source, "name", None) or "stream"


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _Gunzip:
    """Streaming gzip decompression that hands over every byte it can.

    Unlike gzip.GzipFile, a stream cut short still delivers the data before
    the cut (so complete records are yielded) and only then reports truncation.
    Output per read is bounded, so a compression bomb cannot balloon memory.
    """

    _CHUNK = 1 << 16

    def __init__(self, raw: _Readable) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(wbits=31)
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        limit = size if size > 0 else self._CHUNK
        while True:
            if self._inflate.eof:
                # concatenated gzip members are one stream (as gzip.open reads them)
                rest = self._inflate.unused_data or self._raw.read(self._CHUNK)
                if not rest.strip(b"\0"):
                    return b""
                self._inflate = zlib.decompressobj(wbits=31)
                self._pending = rest
            data = self._inflate.unconsumed_tail or self._pending or self._raw.read(self._CHUNK)
            self._pending = b""
            if not data:
                raise _GzipCut("the gzip stream ended before its end-of-stream marker")
            out = self._inflate.decompress(data, limit)
            if out:
                return out


class _TrackingReader:
    """A file wrapper that remembers where the input ended, to recognise truncation.

    libxml2 reports errors as (line, column-in-characters); an error at or past
    the last character of the input means the body simply stopped.
    """

    __slots__ = (
        "_decoder",
        "_failure",
        "_peeked",
        "_raw",
        "blank",
        "eof",
        "last_line_chars",
        "lines",
        "total",
    )

    def __init__(self, raw: _Readable) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.total = 0
        self.lines = 1
        self.last_line_chars = 0
        self.blank = True
        self.eof = False
        self._peeked = b""
        self._failure: Exception | None = None

    def peek(self, size: int) -> bytes:
        """Up to ``size`` bytes from the start of the body, still to be read."""
        while len(self._peeked) < size:
            try:
                chunk = self._raw.read(size - len(self._peeked))
            except (_GzipCut, zlib.error) as e:
                # raised again by read() once the bytes before it are consumed
                self._failure = e
                break
            if not chunk:
                break
            self._peeked += chunk
        return self._peeked

    def read(self, size: int = -1) -> bytes:
        if self._peeked:
            chunk, self._peeked = self._peeked, b""
        elif self._failure is not None:
            raise self._failure
        else:
            chunk = self._raw.read(size)
        if not chunk:
            self.eof = True
            return chunk
        self.total += len(chunk)
        if self.blank and chunk.strip():
            self.blank = False
        newlines = chunk.count(b"\n")
        if newlines:
            self.lines += newlines
            self._decoder.reset()
            self.last_line_chars = 0
            chunk_tail = chunk[chunk.rindex(b"\n") + 1 :]
        else:
            chunk_tail = chunk
        self.last_line_chars += len(self._decoder.decode(chunk_tail))
        return chunk

    def ends_before(self, line: int, column: int) -> bool:
        """Whether (line, column) lies at or beyond the end of everything read."""
        return self.eof and (line > self.lines or (line == self.lines and column >= self.last_line_chars))


class _GzipCut(Exception):
    pass


def _iterate(reader: _TrackingReader, label: str, tags: tuple[str, ...]) -> Iterator[ParsedItem]:
    context = etree.iterparse(reader, events=("end",), tag=tags, **_SAFE_PARSER_OPTIONS)
    checked = False
    try:
        for _event, elem in context:
            tag = elem.tag
            if tag == "ERROR":
                message = " ".join("".join(elem.itertext()).split()) or "(empty)"
                raise ParseError(f"{label}: E-utilities returned an error instead of records: {message}")
            if not checked:
                _check_document(elem.getroottree(), label, tags)
                checked = True
            parent = elem.getparent()
            if tag == "MedlineCitation" and parent.tag != "MedlineCitationSet":
                continue
            if parent.getparent() is not None:
                raise ParseError(f"{label}: <{tag}> is nested inside <{parent.tag}>, not a record set")
            item = _build(elem, tag)
            # Drop the finished record and everything before it, so the tree
            # never holds more than the record being parsed.
            elem.clear(keep_tail=False)
            while elem.getprevious() is not None:
                del parent[0]
            yield item
    except etree.XMLSyntaxError as e:
        raise _syntax_error(e, reader, label) from e
    except _GzipCut as e:
        raise TruncatedXMLError(f"{label}: truncated gzip stream after {reader.total} bytes: {e}") from e
    except zlib.error as e:
        raise ParseError(f"{label}: not a valid gzip stream: {e}") from e
    if not checked:
        _check_document(context.root.getroottree(), label, tags)


def _check_document(tree: Any, label: str, tags: tuple[str, ...]) -> None:
    dtd = tree.docinfo.internalDTD
    if dtd is not None:
        names = [entity.name for entity in dtd.entities()]
        if names:
            raise ParseError(
                f"{label}: refused a document whose DOCTYPE declares entities ({', '.join(names[:5])});"
                " PubMed never sends one, so this is not a PubMed reply"
            )
    root = tree.getroot()
    if root.tag not in _ROOTS:
        kind = "an HTML page" if str(root.tag).lower() == "html" else f"<{root.tag}>"
        raise ParseError(f"{label}: expected a PubmedArticleSet but the body is {kind}")
    if root.tag == "MedlineCitationSet" and "MedlineCitation" not in tags:
        # only if something pushed the root more than _PEEK_BYTES into the body
        raise ParseError(f"{label}: the MedlineCitationSet root starts too far into the body")


def _syntax_error(e: etree.XMLSyntaxError, reader: _TrackingReader, label: str) -> ParseError:
    line, column = e.position if e.position else (0, 0)
    if reader.blank:
        return ParseError(f"{label}: empty body, expected a PubmedArticleSet")
    # Junk after a complete root is ill-formed, but not a cut-off download.
    if e.code != _XML_ERR_DOCUMENT_END and reader.ends_before(line, column):
        return TruncatedXMLError(
            f"{label}: truncated XML, the body ended after {reader.total} bytes"
            f" inside an open element ({e.msg}, line {line})"
        )
    return ParseError(f"{label}: ill-formed XML at line {line}, column {column}: {e.msg}")


def _build(elem: Any, tag: str) -> ParsedItem:
    try:
        if tag == "DeleteCitation":
            return DeletedCitation(deleted(elem))
        if tag == "PubmedArticle":
            medline = elem.find("MedlineCitation")
            if medline is None:
                raise RecordProblem(None, "PubmedArticle has no MedlineCitation")
            return citation(medline, elem.find("PubmedData"))
        if tag == "PubmedBookArticle":
            return book_article(elem)
        return citation(elem, None)
    except RecordProblem as problem:
        return RecordError(problem.pmid, problem.message)
    except ValueError as problem:
        pmid = elem.findtext(".//PMID")
        return RecordError(pmid.strip() if pmid else None, f"<{tag}> could not be read: {problem}")
