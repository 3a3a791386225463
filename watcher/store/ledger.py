"""The delivery ledger: what each sink was sent, so nothing is sent twice.

A digest row is written as ``pending`` together with its items before the
sink is called, and marked ``sent`` with the sink's external id (Slack
channel:ts, email Message-ID) afterwards. While a digest is pending its items
belong to it: a restart resolves the pending digest (was it delivered?)
instead of building a new one with the same papers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

# Notices are announced as follow-ups on the work they name, not as papers.
NOTICE_TYPES = ("Retraction of Publication", "Published Erratum", "Expression of Concern")


class Ledger:
    db: Database

    def undelivered_work_ids(self, sink: str, rule_filter: Iterable[str] | None = None) -> list[int]:
        """Matched works this sink has neither received nor holds in a pending digest."""
        rules = None if rule_filter is None or "*" in rule_filter else sorted(set(rule_filter))
        sql = """
            SELECT DISTINCT m.work_id FROM matches m JOIN works w ON w.id = m.work_id
            WHERE NOT EXISTS (SELECT 1 FROM deliveries d
                              WHERE d.sink = ? AND d.kind = 'paper' AND d.ref_id = m.work_id)
              AND NOT EXISTS (SELECT 1 FROM digest_items i JOIN digests g ON g.id = i.digest_id
                              WHERE g.sink = ? AND g.status = 'pending'
                                AND i.kind = 'paper' AND i.ref_id = m.work_id)
        """
        params: list[Any] = [sink, sink]
        if rules is not None:
            sql += f" AND m.rule_id IN ({', '.join('?' for _ in rules)})"
            params.extend(rules)
        ids = [r[0] for r in self.db.conn.execute(sql + " ORDER BY m.work_id", params)]
        return [i for i in ids if not self._is_notice(i)]

    def _is_notice(self, work_id: int) -> bool:
        row = self.db.conn.execute("SELECT data FROM works WHERE id = ?", [work_id]).fetchone()
        types = json.loads(row[0]).get("publication_types", []) if row else []
        return any(t in NOTICE_TYPES for t in types)

    def undelivered_events(self, sink: str) -> list[dict[str, Any]]:
        """Events on works this sink announced, not yet followed up, with the announcement's thread."""
        return list(
            self.db.query(
                """
                SELECT e.*, d.channel AS thread_channel, d.ts AS thread_ts
                FROM events e JOIN deliveries d
                  ON d.sink = ? AND d.kind = 'paper' AND d.ref_id = e.work_id
                WHERE NOT EXISTS (SELECT 1 FROM deliveries x
                                  WHERE x.sink = ? AND x.kind = 'event' AND x.ref_id = e.id)
                  AND NOT EXISTS (SELECT 1 FROM digest_items i JOIN digests g ON g.id = i.digest_id
                                  WHERE g.sink = ? AND g.status = 'pending'
                                    AND i.kind = 'event' AND i.ref_id = e.id)
                ORDER BY e.id
                """,
                [sink, sink, sink],
            )
        )

    def create_digest(
        self,
        sink: str,
        digest_key: str,
        now: str,
        work_ids: Iterable[int],
        event_ids: Iterable[int],
        payload: str | None = None,
    ) -> int:
        with self.db.atomic():
            cur = self.db.execute(
                "INSERT INTO digests (sink, digest_key, status, created_at, payload) VALUES (?, ?, 'pending', ?, ?)",
                [sink, digest_key, now, payload],
            )
            digest_id = int(cur.lastrowid or 0)
            self.db.conn.executemany(
                "INSERT INTO digest_items (digest_id, kind, ref_id) VALUES (?, ?, ?)",
                [(digest_id, "paper", w) for w in work_ids] + [(digest_id, "event", e) for e in event_ids],
            )
        return digest_id

    def pending_digests(self, sink: str) -> list[dict[str, Any]]:
        return list(
            self.db.query("SELECT * FROM digests WHERE sink = ? AND status = 'pending' ORDER BY id", [sink])
        )

    def digest_items(self, digest_id: int) -> tuple[list[int], list[int]]:
        papers: list[int] = []
        events: list[int] = []
        for kind, ref in self.db.conn.execute(
            "SELECT kind, ref_id FROM digest_items WHERE digest_id = ? ORDER BY rowid", [digest_id]
        ):
            (papers if kind == "paper" else events).append(ref)
        return papers, events

    def mark_sent(
        self,
        digest_id: int,
        external_id: str,
        now: str,
        placements: Mapping[tuple[str, int], tuple[str | None, str | None]] | None = None,
    ) -> None:
        """Mark a digest delivered and record every item's delivery (with its Slack channel/ts)."""
        placements = placements or {}
        with self.db.atomic():
            row = self.db.conn.execute("SELECT sink FROM digests WHERE id = ?", [digest_id]).fetchone()
            sink = row[0]
            self.db.execute(
                "UPDATE digests SET status = 'sent', sent_at = ?, external_id = ?, error = NULL WHERE id = ?",
                [now, external_id, digest_id],
            )
            for kind, ref in self.db.conn.execute(
                "SELECT kind, ref_id FROM digest_items WHERE digest_id = ?", [digest_id]
            ).fetchall():
                channel, ts = placements.get((kind, ref), (None, None))
                self.db.execute(
                    """INSERT OR IGNORE INTO deliveries (sink, kind, ref_id, digest_id, channel, ts, delivered_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    [sink, kind, ref, digest_id, channel, ts, now],
                )

    def note_digest_error(self, digest_id: int, error: str) -> None:
        self.db.execute("UPDATE digests SET error = ? WHERE id = ?", [error, digest_id])

    def last_sent_digest(self, sink: str) -> dict[str, Any] | None:
        rows = list(
            self.db.query(
                "SELECT * FROM digests WHERE sink = ? AND status = 'sent' ORDER BY sent_at DESC, id DESC LIMIT 1",
                [sink],
            )
        )
        return rows[0] if rows else None

    def match_rows(self, work_id: int) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM matches WHERE work_id = ? ORDER BY score DESC", [work_id]))

    def new_records_since(self, since: str | None) -> dict[str, int]:
        """Sightings first seen after ``since``, per source: the digest's coverage footer."""
        sql = "SELECT source, count(*) FROM sightings"
        params: list[Any] = []
        if since:
            sql += " WHERE first_seen_at > ?"
            params.append(since)
        return {source: n for source, n in self.db.conn.execute(sql + " GROUP BY source", params)}

    def deliveries(self, sink: str | None = None) -> list[dict[str, Any]]:
        if sink is None:
            return list(self.db.query("SELECT * FROM deliveries ORDER BY digest_id, kind, ref_id"))
        return list(
            self.db.query("SELECT * FROM deliveries WHERE sink = ? ORDER BY digest_id, kind, ref_id", [sink])
        )
