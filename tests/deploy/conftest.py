"""A real watcher database with a little of everything, for the deployment checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from watcher.models import Author, CommentCorrection, MatchResult, Paper, RuleHit
from watcher.store import Store


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def paper(pmid: str, title: str, **kw: Any) -> Paper:
    return Paper(
        source="pubmed",
        source_id=pmid,
        pmid=pmid,
        title=title,
        authors=(Author("Maude", "Shannon", "SL"),),
        journal="Blood",
        pub_date="2025",
        **kw,
    )


@pytest.fixture
def populated(tmp_path: Path) -> Iterator[Path]:
    """watcher.db with: two papers this week (one matching two topics), one a month
    old, a retraction notice, a Slack and an email delivery, and sources that are
    healthy, failing and silent."""
    now = datetime.now(UTC)
    today, month_ago = stamp(now - timedelta(hours=1)), stamp(now - timedelta(days=30))
    path = tmp_path / "state" / "watcher.db"
    store = Store.open(path)
    try:
        old = store.ingest(
            [paper("100", "Tisagenlecleucel in relapsed B-ALL: long-term follow-up")], month_ago
        )
        new = store.ingest(
            [
                paper("200", "Cytokine release syndrome after CD19/CD22 CAR T cells"),
                paper("300", "Obecabtagene autoleucel in adult B-ALL <script>alert(1)</script>"),
            ],
            today,
        )
        notice = paper(
            "400",
            "Retraction Note: Tisagenlecleucel in relapsed B-ALL",
            publication_types=("Retraction of Publication",),
            comments_corrections=(CommentCorrection("RetractionOf", "Blood. 2025;1:1", "100"),),
        )
        store.ingest([notice], today)
        w100, (w200, w300) = old.new[0], new.new
        store.save_matches(
            [
                (w100, MatchResult(True, (RuleHit("scope", 1.0), RuleHit("relapse-antigen-escape", 2.0)))),
                (w200, MatchResult(True, (RuleHit("toxicity", 3.5), RuleHit("multi-antigen", 2.5)))),
                (w300, MatchResult(True, (RuleHit("toxicity", 1.25),))),
            ],
            today,
        )
        with store.transaction():
            # The delivery ledger has no store API yet: rows as a sink would leave them.
            slack = store.db.execute(
                "INSERT INTO digests (sink, digest_key, status, created_at, sent_at, external_id) "
                "VALUES ('slack', 'slack:C0TOX:2025-W01', 'sent', ?, ?, '1712345678.000100')",
                [today, today],
            ).lastrowid
            email = store.db.execute(
                "INSERT INTO digests (sink, digest_key, status, created_at, sent_at, external_id) "
                "VALUES ('email', 'email:2025-01-06', 'sent', ?, ?, '<abc@example.org>')",
                [today, today],
            ).lastrowid
            retraction = store.events(w100)[0]["id"]
            store.db.execute(
                "INSERT INTO deliveries (sink, kind, ref_id, digest_id, channel, ts, delivered_at) "
                "VALUES ('slack', 'paper', ?, ?, 'C0TOX', '1712345678.000100', ?)",
                [w200, slack, today],
            )
            store.db.execute(
                "INSERT INTO deliveries (sink, kind, ref_id, digest_id, channel, ts, delivered_at) "
                "VALUES ('email', 'event', ?, ?, 'lab@example.org', NULL, ?)",
                [retraction, email, today],
            )
        store.record_health("pubmed", True, 3, 3, None, today)
        store.record_health("feed:Leukemia", True, 20, 1, None, month_ago)
        store.record_health("feed:Leukemia", True, 20, 0, None, today)
        store.record_health("feed:Blood", True, 10, 2, None, month_ago)
        store.record_health("feed:Blood", False, 0, 0, "HTTP 503 from ashpublications.org", today)
    finally:
        store.close()
    yield path


def write_config(tmp_path: Path, db: Path) -> Path:
    config = tmp_path / "watcher.toml"
    config.write_text(
        f'[state]\npath = "{db.as_posix()}"\ndigest_dir = "{(db.parent / "digests").as_posix()}"\n'
        '[pubmed]\nenabled = true\n[[feeds]]\nname = "Blood"\nurl = "https://example.org/blood.xml"\n',
        encoding="utf-8",
    )
    return config
