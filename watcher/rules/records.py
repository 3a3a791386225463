"""Light records (rule examples, JSON lines) -> Paper, so one matcher serves all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watcher.errors import RuleError
from watcher.models import MeshHeading, Paper
from watcher.rules.rule import Example

_LIST_KEYS = ("mesh", "pubtypes", "keywords")
_TEXT_KEYS = ("title", "abstract", "journal")


def paper_from_example(example: Example, source_id: str) -> Paper:
    return Paper(
        source="example",
        source_id=source_id,
        title=example.title,
        abstract=example.abstract,
        journal=example.journal,
        mesh=tuple(MeshHeading(d) for d in example.mesh),
        keywords=example.keywords,
        publication_types=example.pubtypes,
    )


def paper_from_json(obj: Any) -> Paper:
    """``{"id","title","abstract"?,"journal"?,"mesh"?,"pubtypes"?,"keywords"?}``; other keys ignored."""
    if not isinstance(obj, Mapping):
        raise RuleError("expected a JSON object")
    rid = obj.get("id")
    if not isinstance(rid, str | int) or isinstance(rid, bool) or rid == "":
        raise RuleError('"id" must be a non-empty string or number')
    for key in _TEXT_KEYS:
        if key in obj and not isinstance(obj[key], str):
            raise RuleError(f'"{key}" must be a string')
    if not obj.get("title"):
        raise RuleError('"title" is required')
    lists: dict[str, tuple[str, ...]] = {}
    for key in _LIST_KEYS:
        value = obj.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RuleError(f'"{key}" must be a list of strings')
        lists[key] = tuple(value)
    return Paper(
        source="example",
        source_id=str(rid),
        title=obj["title"],
        abstract=obj.get("abstract", ""),
        journal=obj.get("journal", ""),
        mesh=tuple(MeshHeading(d) for d in lists["mesh"]),
        keywords=lists["keywords"],
        publication_types=lists["pubtypes"],
    )
