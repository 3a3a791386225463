"""DOIs in feed items (from prism:doi, dc:identifier, GUIDs or article URLs), and preprint DOIs. Pure.

Publishers put DOIs in many shapes ("doi:10.1182/BLOOD.2024.1.",
"info:doi/...", doi.org links, /doi/ paths, Nature article slugs); each comes
out as one bare, lower-case DOI, or None. The store normalises once more for
its keys (``watcher.identity.normalize_doi``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit


def is_preprint(doi: str | None, link: str) -> bool:
    """bioRxiv/medRxiv: by host, or by their dated 10.1101 DOIs (CSHL journals share the prefix)."""
    host = urlsplit(link).hostname or ""
    if host == "biorxiv.org" or host.endswith((".biorxiv.org", ".medrxiv.org")) or host == "medrxiv.org":
        return True
    return bool(doi and re.match(r"10\.1101/(?:\d{4}\.\d{2}\.\d{2}\.)?\d{6,}$", doi))


_DOI = re.compile(r"10\.\d{4,9}/\S+")
_URL_SUFFIXES = re.compile(
    r"(?:/(?:full|abstract|abs|pdf|epdf|html|meta|summary|fulltext|epub))+/?$|\.(?:full|abstract|full\.pdf|full-text|short|long)$",
    re.IGNORECASE,
)
_BIORXIV_VERSION = re.compile(r"^(10\.1101/(?:\d{4}\.\d{2}\.\d{2}\.)?\d{6,})v\d+$")


def find_doi(*candidates: str) -> str | None:
    """The first DOI found in the candidates (prism:doi, dc:identifier, GUID, links)."""
    for candidate in candidates:
        if not candidate:
            continue
        doi = doi_from_url(candidate) if candidate.startswith(("http://", "https://")) else None
        doi = doi or normalize_doi(candidate)
        if doi:
            return doi
    return None


def normalize_doi(text: str) -> str | None:
    """'doi:10.1182/BLOOD.2024.1.' -> '10.1182/blood.2024.1'; None when there is no DOI."""
    text = unquote(text.strip())
    text = re.sub(r"^(?:info:)?doi[:/]\s*", "", text, flags=re.IGNORECASE)
    m = _DOI.search(text)
    if not m:
        return None
    doi = m.group(0)
    while doi and doi[-1] in ".,;:'\"]}>":
        doi = doi[:-1]
    while doi.endswith(")") and doi.count("(") < doi.count(")"):
        doi = doi[:-1]
    doi = doi.lower()
    versioned = _BIORXIV_VERSION.match(doi)
    return versioned.group(1) if versioned else doi


def doi_from_url(url: str) -> str | None:
    """DOIs publishers put in article URLs (doi.org, /doi/..., Nature, bioRxiv, PLOS, Frontiers)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    if host.endswith("nature.com"):
        m = re.match(r"/articles/([a-z][a-z0-9.\-]+\d)", path, re.IGNORECASE)
        return f"10.1038/{m.group(1).lower()}" if m else None
    for key in ("id", "doi"):
        for value in parse_qs(parts.query).get(key, []):
            if value.strip().startswith("10."):
                return normalize_doi(value)
    m = re.search(r"10\.\d{4,9}/.+", path)
    if not m:
        return None
    if "/article/doi/" in path:
        # Silverchair (ASH, OUP): /article/doi/<prefix>/<suffix>/<article number>/<slug>
        return normalize_doi("/".join(m.group(0).split("/")[:2]))
    return normalize_doi(_URL_SUFFIXES.sub("", m.group(0)))
