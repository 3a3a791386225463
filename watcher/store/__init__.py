"""The only owner of the SQLite database.

Every multi-row write is one transaction. A source cursor is written in the
same transaction as the papers it covers, so a crash can never leave a cursor
past data that was not stored. See ``schema.py`` for the tables.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watcher import lifecycle
from watcher.errors import StoreError
from watcher.models import MatchResult, Paper, RunReport
from watcher.paths import private_dir
from watcher.store.codec import as_work, merge_rows, paper_to_row, row_to_paper
from watcher.store.ledger import Ledger

if TYPE_CHECKING:
    from sqlite_utils import Database

# How many migrations schema.py defines; a read-only open needs a database that has them all.
SCHEMA_MIGRATIONS = 6

# Columns whose change is worth recording in `changes` (what a reader would notice).
_TRACKED = (
    "title",
    "abstract",
    "doi",
    "pmcid",
    "journal",
    "pub_date",
    "pmid_version",
    "publication_status",
    "citation_status",
    "is_preprint",
    "retracted",
    "data",
)


@dataclass
class IngestResult:
    new: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: int = 0
    events: list[int] = field(default_factory=list)
    # works folded into another one (they no longer exist)
    merged_away: list[int] = field(default_factory=list)

    @property
    def touched(self) -> list[int]:
        return [*self.new, *self.updated]


class Store(Ledger):
    def __init__(self, db: Database, path: Path | None = None) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating with owner-only permissions) and migrate the database."""
        try:
            private_dir(path.parent)
            if not path.exists():
                # Create the file ourselves so it is never world-readable, even briefly.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            from sqlite_utils import Database

            from watcher.store.schema import migrations

            conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
            db = Database(conn)
            db.execute("PRAGMA busy_timeout = 30000")
            if db.journal_mode != "wal":
                db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            migrations.apply(db)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open the database {path}: {e}") from e
        return cls(db, path)

    @classmethod
    def open_readonly(cls, path: Path) -> Store | None:
        """For commands that only read (watcher status): plain sqlite3, no migrations, no writes.

        Returns None when there is no database yet. A database from an older
        version is opened (and migrated) the normal way instead.
        """
        if not path.exists():
            return None
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            applied = conn.execute(
                "SELECT count(*) FROM _sqlite_migrations WHERE migration_set = 'watcher'"
            ).fetchone()[0]
        except sqlite3.Error:
            return cls.open(path)
        if applied < SCHEMA_MIGRATIONS:
            conn.close()
            return cls.open(path)
        return cls(_ReadOnly(conn), path)  # type: ignore[arg-type]

    @classmethod
    def memory(cls) -> Store:
        from sqlite_utils import Database

        from watcher.store.schema import migrations

        db = Database(memory=True)
        migrations.apply(db)
        return cls(db)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = list(self.db.query(sql, params))
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """First column of the first row; the ingest hot path avoids building dicts."""
        row = self.db.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def _work(self, work_id: int) -> dict[str, Any] | None:
        cur = self.db.conn.execute("SELECT * FROM works WHERE id = ?", [work_id])
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    def _update_work(self, work_id: int, values: dict[str, Any]) -> None:
        columns = [k for k in values if k != "id"]
        # Column names come from the works row itself, never from input.
        sql = f"UPDATE works SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"  # noqa: S608
        self.db.conn.execute(sql, [values[c] for c in columns] + [work_id])

    # --- papers and works ------------------------------------------------

    def ingest(
        self,
        papers: Iterable[Paper],
        now: str,
        run_id: str = "",
        cursor: tuple[str, str] | None = None,
        feed_state: tuple[str, dict[str, Any]] | None = None,
        match: Callable[[Paper], MatchResult] | None = None,
        missing: Sequence[str] = (),
    ) -> IngestResult:
        """Store a batch of records as works, in one transaction with the cursor or feed validators.

        With ``match``, every new or changed work is matched in the same transaction:
        a crash can never leave a work stored but unmatched (an unchanged re-fetch
        would not match it again, so it would never be delivered).
        """
        result = IngestResult()
        papers_seen: list[Paper] = []
        # New works made of one record of this batch: the record is the work, no need to read it back.
        fresh: dict[int, Paper] = {}
        with self.db.atomic():
            for paper in papers:
                work_id, row = self._ingest_one(paper, now, run_id, result)
                if row is not None:
                    fresh[work_id] = as_work(paper, work_id, row)
                else:
                    fresh.pop(work_id, None)
                papers_seen.append(paper)
            for gone in result.merged_away:
                fresh.pop(gone, None)
            if match is not None and result.touched:
                stored = self.work_papers([w for w in dict.fromkeys(result.touched) if w not in fresh])
                works = sorted([*stored, *fresh.items()], key=lambda pair: pair[0])
                self.save_matches([(wid, match(p)) for wid, p in works], now)
            arrived = [(p.pmid,) for p in papers_seen if p.pmid]
            if arrived:
                self.db.conn.executemany("DELETE FROM pending_pmids WHERE pmid = ?", arrived)
            for pmid in missing:
                self.db.conn.execute(
                    """INSERT INTO pending_pmids (pmid, first_missing_at, attempts) VALUES (?, ?, 1)
                       ON CONFLICT (pmid) DO UPDATE SET attempts = attempts + 1""",
                    [pmid, now],
                )
            if cursor is not None:
                self.set_cursor(cursor[0], cursor[1], now)
            if feed_state is not None:
                self.save_feed_state(*feed_state)
        return result

    def _find_candidates(self, paper: Paper, row: dict[str, Any]) -> list[int]:
        # One query for the sighting and every identifier: this runs once per record polled.
        sql = ["SELECT work_id FROM sightings WHERE source = ? AND source_id = ?"]
        params: list[Any] = [paper.source, paper.source_id]
        for kind in ("pmid", "doi", "pmcid"):
            if row[kind]:
                sql.append("SELECT work_id FROM identifiers WHERE kind = ? AND value = ?")
                params += [kind, row[kind]]
        found = {r[0] for r in self.db.conn.execute(" UNION ALL ".join(sql), params)}
        if not found and row["title_key"]:
            # A work whose PMID or DOI contradicts is another paper (see _same_paper_by_title;
            # a preprint and its journal version differ in DOI). The SQL leaves those out, on
            # the covering index, so a common title does not cost a row per paper.
            for work_id, pmid, doi, is_preprint in self.db.conn.execute(
                """SELECT id, pmid, doi, is_preprint FROM works
                   WHERE title_key = ? AND (pmid IS NULL OR pmid = '' OR ? IS NULL OR pmid = ?)
                     AND (doi IS NULL OR ? IS NULL OR doi = ? OR is_preprint != ?)""",
                [
                    row["title_key"],
                    row["pmid"] or None,
                    row["pmid"],
                    row["doi"],
                    row["doi"],
                    row["is_preprint"],
                ],
            ):
                if _same_paper_by_title(row, {"pmid": pmid, "doi": doi, "is_preprint": is_preprint}):
                    found.add(work_id)
        return sorted(found)

    def _ingest_one(
        self, paper: Paper, now: str, run_id: str, result: IngestResult
    ) -> tuple[int, dict[str, Any] | None]:
        """Store one record; its work's id, and the row when the record made a new work."""
        conn = self.db.conn
        row = paper_to_row(paper)
        authoritative = paper.source == "pubmed"
        candidates = self._find_candidates(paper, row)
        created = not candidates
        if created:
            work_id = self._insert_work(row, paper, now, authoritative)
            result.new.append(work_id)
        else:
            work_id = candidates[0]
            for loser in candidates[1:]:
                self._merge_works(work_id, loser)
                result.merged_away.append(loser)
            old = self._work(work_id)
            assert old is not None
            merged = merge_rows(old, row, authoritative)
            if old["is_preprint"] and not paper.is_preprint:
                # The journal version supersedes the preprint as what readers see.
                merged.update(is_preprint=0, doi=row["doi"] or old["doi"])
                for key in ("title", "journal", "journal_abbrev", "pub_date", "url"):
                    merged[key] = row[key] or old[key]
            events = lifecycle.detect(_before(old), paper)
            changed = [k for k in _TRACKED if merged.get(k) != old.get(k)]
            if changed or merged != old:
                merged["updated_at"] = now
                self._update_work(work_id, merged)
            if changed:
                conn.execute(
                    "INSERT INTO changes (work_id, run_id, at, source, fields) VALUES (?, ?, ?, ?, ?)",
                    [work_id, run_id, now, paper.source, json.dumps(changed)],
                )
                result.updated.append(work_id)
            else:
                result.unchanged += 1
            for kind, detail in events:
                self._add_event(work_id, kind, detail, None, now, result)
        ids = [(kind, row[kind], work_id) for kind in ("pmid", "doi", "pmcid") if row[kind]]
        if ids:
            conn.executemany("INSERT OR IGNORE INTO identifiers (kind, value, work_id) VALUES (?, ?, ?)", ids)
        conn.execute(
            """INSERT INTO sightings (source, source_id, work_id, first_seen_at, last_seen_at, content_hash)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (source, source_id) DO UPDATE SET
                 work_id = excluded.work_id, last_seen_at = excluded.last_seen_at,
                 content_hash = excluded.content_hash""",
            [paper.source, paper.source_id, work_id, now, now, row["content_hash"]],
        )
        for kind, target_pmid in lifecycle.notice_targets(paper):
            target = self._scalar(
                "SELECT work_id FROM identifiers WHERE kind = 'pmid' AND value = ?", [target_pmid]
            )
            if target is not None and target != work_id:
                self._add_event(target, kind, paper.title, work_id, now, result)
                if kind == "retracted":
                    conn.execute("UPDATE works SET retracted = 1 WHERE id = ?", [target])
        return work_id, row if created else None

    def _insert_work(self, row: dict[str, Any], paper: Paper, now: str, authoritative: bool) -> int:
        record = {
            **row,
            "has_pubmed": int(authoritative),
            "first_seen_at": now,
            "first_seen_source": paper.source,
            "updated_at": now,
        }
        cur = self.db.conn.execute(
            # Column names come from paper_to_row, never from input.
            f"INSERT INTO works ({', '.join(record)}) VALUES ({', '.join('?' for _ in record)})",  # noqa: S608
            list(record.values()),
        )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def _add_event(
        self, work_id: int, kind: str, detail: str, related: int | None, now: str, result: IngestResult
    ) -> None:
        cur = self.db.execute(
            """INSERT OR IGNORE INTO events (work_id, kind, detail, related_work_id, created_at)
               VALUES (?, ?, ?, ?, ?)""",
            [work_id, kind, detail, related, now],
        )
        if cur.rowcount and cur.lastrowid:
            result.events.append(int(cur.lastrowid))

    def _merge_works(self, keep: int, lose: int) -> None:
        """Two works turned out to be one paper: fold ``lose`` into ``keep``."""
        kept = self._work(keep)
        gone = self._work(lose)
        if kept is None or gone is None:
            return
        for table, column in (
            ("sightings", "work_id"),
            ("identifiers", "work_id"),
            ("matches", "work_id"),
            ("events", "work_id"),
            ("changes", "work_id"),
        ):
            self.db.execute(f"UPDATE OR IGNORE {table} SET {column} = ? WHERE {column} = ?", [keep, lose])  # noqa: S608
            self.db.execute(f"DELETE FROM {table} WHERE {column} = ?", [lose])  # noqa: S608
        self.db.execute("UPDATE events SET related_work_id = ? WHERE related_work_id = ?", [keep, lose])
        for kind in ("paper",):
            self.db.execute(
                "UPDATE OR IGNORE deliveries SET ref_id = ? WHERE kind = ? AND ref_id = ?", [keep, kind, lose]
            )
            self.db.execute("DELETE FROM deliveries WHERE kind = ? AND ref_id = ?", [kind, lose])
            self.db.execute(
                "UPDATE OR IGNORE digest_items SET ref_id = ? WHERE kind = ? AND ref_id = ?",
                [keep, kind, lose],
            )
        merged = merge_rows(kept, gone, bool(gone["has_pubmed"]) and not kept["has_pubmed"])
        if gone["first_seen_at"] < kept["first_seen_at"]:
            merged.update(first_seen_at=gone["first_seen_at"], first_seen_source=gone["first_seen_source"])
        self.db.execute("DELETE FROM works WHERE id = ?", [lose])
        self._update_work(keep, merged)

    def work_papers(self, work_ids: Sequence[int]) -> list[tuple[int, Paper]]:
        out: list[tuple[int, Paper]] = []
        for chunk_start in range(0, len(work_ids), 500):
            chunk = list(work_ids[chunk_start : chunk_start + 500])
            marks = ",".join("?" for _ in chunk)
            for row in self.db.query(f"SELECT * FROM works WHERE id IN ({marks}) ORDER BY id", chunk):  # noqa: S608
                out.append((row["id"], row_to_paper(row)))
        return out

    def all_work_ids(self) -> list[int]:
        return [r["id"] for r in self.db.query("SELECT id FROM works ORDER BY id")]

    def work_row(self, work_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM works WHERE id = ?", [work_id])

    def sightings(self, work_id: int) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT * FROM sightings WHERE work_id = ? ORDER BY first_seen_at, source", [work_id]
            )
        )

    def events(self, work_id: int | None = None) -> list[dict[str, Any]]:
        if work_id is None:
            return list(self.db.query("SELECT * FROM events ORDER BY id"))
        return list(self.db.query("SELECT * FROM events WHERE work_id = ? ORDER BY id", [work_id]))

    # --- matches ---------------------------------------------------------

    def save_matches(self, results: Iterable[tuple[int, MatchResult]], now: str) -> None:
        with self.db.atomic():
            for work_id, match in results:
                self.db.execute("DELETE FROM matches WHERE work_id = ?", [work_id])
                for hit in match.hits:
                    self.db.execute(
                        """INSERT INTO matches (work_id, rule_id, score, in_scope, terms, clauses, spans, matched_at)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                        [
                            work_id,
                            hit.rule_id,
                            hit.score,
                            int(match.in_scope),
                            json.dumps(list(hit.terms), ensure_ascii=False),
                            json.dumps(list(hit.clauses), ensure_ascii=False),
                            json.dumps(
                                [[s.field, s.start, s.end, s.text] for s in hit.spans], ensure_ascii=False
                            ),
                            now,
                        ],
                    )

    def matched_rules(self, work_id: int) -> list[str]:
        return [
            r["rule_id"] for r in self.db.query("SELECT rule_id FROM matches WHERE work_id = ?", [work_id])
        ]

    # --- cursors, runs, health -------------------------------------------

    def get_cursor(self, source: str) -> str | None:
        row = self._one("SELECT value FROM cursors WHERE source = ?", [source])
        return row["value"] if row else None

    def set_cursor(self, source: str, value: str, now: str) -> None:
        self.db.execute(
            """INSERT INTO cursors (source, value, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (source) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at""",
            [source, value, now],
        )

    def cursors(self) -> dict[str, str]:
        return {r["source"]: r["value"] for r in self.db.query("SELECT source, value FROM cursors")}

    def start_run(self, run_id: str, command: str, now: str) -> None:
        self.db.execute(
            "INSERT INTO runs (id, command, started_at, status) VALUES (?, ?, ?, 'running')",
            [run_id, command, now],
        )

    def finish_run(self, report: RunReport, now: str) -> None:
        counts = {
            name: {"fetched": s.fetched, "new": s.new, "updated": s.updated, "errors": len(s.errors)}
            for name, s in report.sources.items()
        }
        errors = [f"{name}: {e}" for name, s in report.sources.items() for e in s.errors]
        self.db.execute(
            "UPDATE runs SET finished_at = ?, status = ?, counts = ?, errors = ? WHERE id = ?",
            [now, "ok" if report.ok else "errors", json.dumps(counts), json.dumps(errors), report.run_id],
        )

    def recent_runs(self, limit: int = 5) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", [limit]))

    def record_health(self, source: str, ok: bool, items: int, new: int, error: str | None, now: str) -> None:
        if ok:
            self.db.execute(
                """INSERT INTO source_health
                     (source, last_success_at, first_success_at, consecutive_failures, last_items, last_new_at)
                   VALUES (?, ?, ?, 0, ?, CASE WHEN ? > 0 THEN ? END)
                   ON CONFLICT (source) DO UPDATE SET last_success_at = excluded.last_success_at,
                     first_success_at = COALESCE(source_health.first_success_at, excluded.first_success_at),
                     consecutive_failures = 0, last_items = excluded.last_items,
                     last_new_at = COALESCE(excluded.last_new_at, source_health.last_new_at)""",
                [source, now, now, items, new, now],
            )
        else:
            self.db.execute(
                """INSERT INTO source_health (source, last_error_at, last_error, consecutive_failures)
                   VALUES (?, ?, ?, 1)
                   ON CONFLICT (source) DO UPDATE SET last_error_at = excluded.last_error_at,
                     last_error = excluded.last_error,
                     consecutive_failures = source_health.consecutive_failures + 1""",
                [source, now, error],
            )

    def pending_pmids(self) -> list[str]:
        return [r[0] for r in self.db.conn.execute("SELECT pmid FROM pending_pmids ORDER BY pmid")]

    def give_up_pending(self, max_attempts: int) -> list[str]:
        """Drop PMIDs missing for ``max_attempts`` runs (deleted or withdrawn); returns them."""
        gone = [
            r[0]
            for r in self.db.conn.execute(
                "SELECT pmid FROM pending_pmids WHERE attempts >= ?", [max_attempts]
            )
        ]
        with self.db.atomic():
            self.db.conn.executemany("DELETE FROM pending_pmids WHERE pmid = ?", [(p,) for p in gone])
        return gone

    def job_last_run(self, job: str) -> str | None:
        return self._scalar("SELECT last_run_at FROM job_runs WHERE job = ?", [job])  # type: ignore[no-any-return]

    def record_job_run(self, job: str, now: str) -> None:
        self.db.execute(
            """INSERT INTO job_runs (job, last_run_at) VALUES (?, ?)
               ON CONFLICT (job) DO UPDATE SET last_run_at = excluded.last_run_at""",
            [job, now],
        )

    def health(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM source_health ORDER BY source"))

    def set_health_alerted(self, source: str, alerted: bool) -> None:
        self.db.execute("UPDATE source_health SET alerted = ? WHERE source = ?", [int(alerted), source])

    def counts(self) -> dict[str, int]:
        def count(sql: str) -> int:
            row = self._one(sql)
            return int(row["n"]) if row else 0

        return {
            "works": count("SELECT count(*) AS n FROM works"),
            "sightings": count("SELECT count(*) AS n FROM sightings"),
            "matched_works": count("SELECT count(DISTINCT work_id) AS n FROM matches"),
            "in_scope_works": count("SELECT count(DISTINCT work_id) AS n FROM matches WHERE in_scope = 1"),
            "events": count("SELECT count(*) AS n FROM events"),
            "retracted": count("SELECT count(*) AS n FROM works WHERE retracted = 1"),
        }

    # --- feed validators -------------------------------------------------

    def feed_state(self, name: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM feed_state WHERE name = ?", [name])

    def save_feed_state(self, name: str, state: dict[str, Any]) -> None:
        self.db.table("feed_state").upsert({"name": name, **state}, pk="name")

    def integrity_ok(self) -> bool:
        row = self._one("PRAGMA integrity_check")
        return row is not None and next(iter(row.values())) == "ok"


def _same_paper_by_title(row: dict[str, Any], other: dict[str, Any]) -> bool:
    """A title-key match only links records whose identifiers do not contradict."""
    if row["pmid"] and other["pmid"] and row["pmid"] != other["pmid"]:
        return False
    if row["doi"] and other["doi"] and row["doi"] != other["doi"]:
        # Different DOIs are different papers, except a preprint and its journal version.
        return bool(row["is_preprint"]) != bool(other["is_preprint"])
    return True


def _before(row: dict[str, Any]) -> lifecycle.Before:
    data = json.loads(row["data"] or "{}")
    return lifecycle.Before(
        publication_status=row["publication_status"],
        publication_types=tuple(data.get("publication_types", [])),
        ref_types=tuple((c[0], c[2]) for c in data.get("comments_corrections", [])),
        is_preprint=bool(row["is_preprint"]),
    )


class _ReadOnly:
    """The slice of sqlite-utils' Database that read-only queries use, over plain sqlite3.

    Importing sqlite-utils (and, when installed, numpy through it) costs more
    than the whole of `watcher status`; reading needs none of it.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def close(self) -> None:
        self.conn.close()
