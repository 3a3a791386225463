"""Digest <-> JSON, so a pending digest is re-sent exactly as it was first built.

A resumed Slack digest must split into the same messages as the first
attempt (parts are found again by their position), so the ledger keeps the
digest itself, not just the ids it was built from.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from watcher.models import (
    Digest,
    DigestEntry,
    DigestSection,
    Event,
    FollowUp,
    SourceCoverage,
    WorkView,
)


def digest_to_json(digest: Digest) -> str:
    return json.dumps(dataclasses.asdict(digest), ensure_ascii=False)


def digest_from_json(text: str) -> Digest:
    data = json.loads(text)
    return Digest(
        title=data["title"],
        created_at=data["created_at"],
        sections=tuple(
            DigestSection(
                s["topic_id"],
                s["topic_title"],
                tuple(
                    DigestEntry(
                        _work(e["work"]), e["score"], tuple(e["topics"]), tuple(e["terms"]), e["badge"]
                    )
                    for e in s["entries"]
                ),
            )
            for s in data["sections"]
        ),
        followups=tuple(
            FollowUp(
                event=Event(**f["event"]),
                work=_work(f["work"]),
                headline=f["headline"],
                thread=(f["thread"][0], f["thread"][1]) if f["thread"] else None,
            )
            for f in data["followups"]
        ),
        coverage=tuple(SourceCoverage(**c) for c in data["coverage"]),
    )


def _work(w: dict[str, Any]) -> WorkView:
    return WorkView(
        **{**w, "authors": tuple(w["authors"]), "publication_types": tuple(w["publication_types"])}
    )
