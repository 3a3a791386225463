"""Text and date helpers for the PubMed XML parser: flatten markup, read PubMed dates.

Pure functions over lxml elements and strings. Text comes out clean: inline
markup (<i>, <sup>, MathML, ...) flattened to its characters, whitespace runs
collapsed to one space, control characters removed; nothing is HTML-escaped
(renderers escape for their medium).
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any

MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"

# C0 and C1 control characters other than whitespace; XML 1.0 admits
# U+007F-U+009F, so a record can carry them though no reader wants them.
# (NEL, U+0085, is whitespace and is collapsed like a newline.)
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
# A season stands for its first month, so "2000 Spring" sorts as 2000-03.
_SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
_SEASON_SPLIT = re.compile(r"[-/\s]+")
_MEDLINE_DATE = re.compile(r"(\d{4})(?:\s+([A-Za-z]+)\.?(?:\s+(\d{1,2})(?!\d))?)?")


def clean(value: str) -> str:
    """Collapse whitespace to single spaces and drop control characters."""
    # isprintable() is a cheap C scan that is False for every control
    # character (and for newlines and exotic spaces, which split() handles)
    if not value.isprintable() and _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    return " ".join(value.split())


def text_of(elem: Any) -> str:
    """The element's text with inline markup flattened, cleaned."""
    if elem is None:
        return ""
    if not len(elem):
        # the common leaf case, with clean() inlined: this runs ~40 times a record
        raw = elem.text
        if not raw:
            return ""
        if not raw.isprintable() and _CONTROL.search(raw):
            raw = _CONTROL.sub("", raw)
        return " ".join(raw.split())
    parts: list[str] = []
    _flatten(elem, parts)
    return clean("".join(parts))


def _flatten(elem: Any, parts: list[str]) -> None:
    if elem.text:
        parts.append(elem.text)
    for child in elem:
        tag = child.tag
        if isinstance(tag, str):
            if tag.startswith(MATHML_NS):
                parts.append(_mathml_text(child))
            else:
                _flatten(child, parts)
        # comments, processing instructions and unexpanded entity references
        # contribute nothing of their own, only the text after them
        if child.tail:
            parts.append(child.tail)


def _mathml_text(elem: Any) -> str:
    """MathML as its characters: "V̇O2max", not the indentation between tokens.

    Pretty-printed MathML puts whitespace between every token element; that
    whitespace is layout, not content, so each text node is stripped.
    """
    return "".join(piece.strip() for piece in elem.itertext())


@lru_cache(maxsize=4096)
def iso_date(year: str | None, month: str | None = None, day: str | None = None) -> str | None:
    """ "YYYY", "YYYY-MM" or "YYYY-MM-DD" from PubMed date parts; as much as is valid."""
    if not year:
        return None
    year = year.strip()
    if len(year) != 4 or not year.isdigit():
        return None
    month_number = month_of(month)
    if month_number is None:
        return year
    result = f"{year}-{month_number:02d}"
    if day:
        day = day.strip()
        if day.isdigit():
            try:
                date(int(year), month_number, int(day))
            except ValueError:
                return result
            return f"{result}-{int(day):02d}"
    return result


def month_of(month: str | None) -> int | None:
    """1-12 from "Jan", "January", "01" or "1"; None for anything else."""
    if not month:
        return None
    month = month.strip()
    if month.isdigit():
        number = int(month)
        return number if 1 <= number <= 12 else None
    return _MONTHS.get(month[:3].lower())


def date_of(elem: Any) -> str | None:
    """ISO date of an element with Year/Month/Day children (DateRevised, PubMedPubDate, ...)."""
    if elem is None:
        return None
    # one pass over the children: far cheaper than three findtext() calls
    parts = {child.tag: child.text for child in elem}
    return iso_date(parts.get("Year"), parts.get("Month"), parts.get("Day"))


def pub_date(elem: Any) -> tuple[str | None, str]:
    """(ISO prefix, text as given) of a JournalIssue/PubDate or Book/PubDate."""
    if elem is None:
        return None, ""
    parts = {child.tag: child.text for child in elem}
    medline = parts.get("MedlineDate")
    if medline is not None:
        raw = clean(medline)
        return medline_date(raw), raw
    year = parts.get("Year")
    month = parts.get("Month")
    day = parts.get("Day")
    season = parts.get("Season")
    raw = clean(" ".join(part for part in (year, month, day, season) if part))
    if season and not month:
        # Seasons are words ("Spring") or month ranges ("Apr-Jun"); both start
        # the period.
        first = _SEASON_SPLIT.split(season.strip(), maxsplit=1)[0]
        number = _SEASONS.get(first.lower()) or (None if first.isdigit() else month_of(first))
        return iso_date(year, str(number) if number else None), raw
    return iso_date(year, month, day), raw


def medline_date(raw: str) -> str | None:
    """Best ISO prefix of a free-text MedlineDate: "1998 Dec-1999 Jan" -> "1998-12"."""
    found = _MEDLINE_DATE.search(raw)
    if found is None:
        return None
    year, word, day = found.groups()
    if word:
        season = _SEASONS.get(word.lower())
        if season is not None:
            return f"{year}-{season:02d}"
        if month_of(word) is not None and not word.isdigit():
            return iso_date(year, word, day)
    return year
