"""Pure helpers that decide when two records are the same paper.

A work is identified by PMID, DOI, PMCID, or, for records with none of those,
by a normalised title + first author + year key. Nothing here touches the
database; the store asks these functions and acts on the answer.
"""

from __future__ import annotations

import re
import unicodedata

from watcher.models import Paper

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_DOI_SHAPE = re.compile(r"^10\.\d{4,9}/\S+$")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_doi(raw: str | None) -> str | None:
    """'https://doi.org/10.1182/Blood.2024.1.' -> '10.1182/blood.2024.1' (DOIs are case-insensitive)."""
    if not raw:
        return None
    doi = _DOI_PREFIX.sub("", raw.strip()).strip().rstrip(".,;)").lower()
    return doi if _DOI_SHAPE.match(doi) else None


def normalize_pmcid(raw: str | None) -> str | None:
    if not raw:
        return None
    value = raw.strip().upper()
    if value.isdigit():
        value = "PMC" + value
    return value if re.fullmatch(r"PMC\d+", value) else None


def fold_text(text: str) -> str:
    """Lowercase ASCII words only: accents, punctuation and markup differences vanish."""
    if isinstance(text, str) and text.isascii():
        ascii_only = text  # NFKD leaves ASCII alone; most titles take this path
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", ascii_only.lower()).strip()


def title_key(paper: Paper) -> str | None:
    """Fallback identity: folded title | first author's surname | year.

    Too-short titles ("Editorial", "Erratum") would collide across papers, so
    they get no key and are never merged on title alone.
    """
    title = fold_text(paper.title)
    if len(title) < 20:
        return None
    author = paper.first_author
    surname = fold_text(author.collective or author.last) if author else ""
    year = (paper.pub_date or paper.article_date or "")[:4]
    return f"{title}|{surname}|{year}"
