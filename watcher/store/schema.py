"""Named schema migrations. Never edit an applied migration: add a new one."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("watcher")


@migrations(name="001_initial")
def _initial(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE works (
            id INTEGER PRIMARY KEY,
            pmid TEXT,
            doi TEXT,
            pmcid TEXT,
            title_key TEXT,
            title TEXT NOT NULL,
            abstract TEXT NOT NULL DEFAULT '',
            journal TEXT NOT NULL DEFAULT '',
            journal_abbrev TEXT NOT NULL DEFAULT '',
            pub_date TEXT,
            pub_date_raw TEXT NOT NULL DEFAULT '',
            article_date TEXT,
            pmid_version INTEGER NOT NULL DEFAULT 1,
            publication_status TEXT,
            citation_status TEXT,
            is_preprint INTEGER NOT NULL DEFAULT 0,
            is_book INTEGER NOT NULL DEFAULT 0,
            retracted INTEGER NOT NULL DEFAULT 0,
            url TEXT,
            date_revised TEXT,
            -- JSON-encoded lists: authors, MeSH, keywords, types, languages, history, links
            data TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL,
            has_pubmed INTEGER NOT NULL DEFAULT 0,
            first_seen_at TEXT NOT NULL,
            first_seen_source TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX works_title_key ON works(title_key)")
    db.execute("CREATE INDEX works_pmid ON works(pmid)")
    # Every identifier ever seen for a work (a preprint keeps its DOI after the
    # journal version's DOI becomes the one shown), so any of them finds it.
    db.execute(
        """
        CREATE TABLE identifiers (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            work_id INTEGER NOT NULL REFERENCES works(id),
            PRIMARY KEY (kind, value)
        )
        """
    )
    db.execute("CREATE INDEX identifiers_work ON identifiers(work_id)")
    db.execute("CREATE INDEX works_first_seen ON works(first_seen_at)")
    db.execute(
        """
        CREATE TABLE sightings (
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            work_id INTEGER NOT NULL REFERENCES works(id),
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            PRIMARY KEY (source, source_id)
        )
        """
    )
    db.execute("CREATE INDEX sightings_work ON sightings(work_id)")
    db.execute(
        """
        CREATE TABLE changes (
            id INTEGER PRIMARY KEY,
            work_id INTEGER NOT NULL REFERENCES works(id),
            run_id TEXT,
            at TEXT NOT NULL,
            source TEXT NOT NULL,
            fields TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            work_id INTEGER NOT NULL REFERENCES works(id),
            kind TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            related_work_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (work_id, kind, detail)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE matches (
            work_id INTEGER NOT NULL REFERENCES works(id),
            rule_id TEXT NOT NULL,
            score REAL NOT NULL,
            in_scope INTEGER NOT NULL,
            terms TEXT NOT NULL DEFAULT '[]',
            clauses TEXT NOT NULL DEFAULT '[]',
            spans TEXT NOT NULL DEFAULT '[]',
            matched_at TEXT NOT NULL,
            PRIMARY KEY (work_id, rule_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE cursors (
            source TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            counts TEXT NOT NULL DEFAULT '{}',
            errors TEXT NOT NULL DEFAULT '[]'
        )
        """
    )
    db.execute(
        """
        CREATE TABLE source_health (
            source TEXT PRIMARY KEY,
            last_success_at TEXT,
            last_error_at TEXT,
            last_error TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_items INTEGER NOT NULL DEFAULT 0,
            last_new_at TEXT,
            alerted INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        """
        CREATE TABLE feed_state (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            disabled INTEGER NOT NULL DEFAULT 0,
            disabled_reason TEXT
        )
        """
    )
    # The delivery ledger: a digest row is written (pending) with its items
    # before sending and marked sent with the sink's external id afterwards.
    db.execute(
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            sink TEXT NOT NULL,
            digest_key TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            external_id TEXT,
            error TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE digest_items (
            digest_id INTEGER NOT NULL REFERENCES digests(id),
            kind TEXT NOT NULL,
            ref_id INTEGER NOT NULL,
            PRIMARY KEY (digest_id, kind, ref_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE deliveries (
            sink TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref_id INTEGER NOT NULL,
            digest_id INTEGER NOT NULL REFERENCES digests(id),
            channel TEXT,
            ts TEXT,
            delivered_at TEXT NOT NULL,
            PRIMARY KEY (sink, kind, ref_id)
        )
        """
    )


@migrations(name="002_feed_state_configured_url")
def _feed_state_configured_url(db: Database) -> None:
    # Validators belong to the URL the operator configured; editing it resets them.
    db.execute("ALTER TABLE feed_state ADD COLUMN configured_url TEXT")


@migrations(name="003_job_runs_and_first_success")
def _job_runs(db: Database) -> None:
    # When each scheduled job last ran, so a digest missed during downtime is sent once on restart.
    db.execute("CREATE TABLE job_runs (job TEXT PRIMARY KEY, last_run_at TEXT NOT NULL)")
    # A source that never had a new item is "silent" only after this long.
    db.execute("ALTER TABLE source_health ADD COLUMN first_success_at TEXT")


@migrations(name="004_pending_pmids")
def _pending_pmids(db: Database) -> None:
    # PMIDs ESearch listed but EFetch did not return: asked for again by later runs,
    # so a record PubMed briefly failed to serve is not lost once the cursor moves on.
    db.execute(
        "CREATE TABLE pending_pmids (pmid TEXT PRIMARY KEY, first_missing_at TEXT NOT NULL, attempts INTEGER NOT NULL)"
    )


@migrations(name="005_digest_payload")
def _digest_payload(db: Database) -> None:
    # The digest as first built, so a pending one is re-sent exactly as it was.
    db.execute("ALTER TABLE digests ADD COLUMN payload TEXT")


@migrations(name="006_title_key_covering_index")
def _title_key_covering_index(db: Database) -> None:
    # The title fallback filters candidates by identifiers; with them in the index
    # a common title costs index entries, not a table row each.
    db.execute("CREATE INDEX works_title_key_ids ON works(title_key, pmid, doi, is_preprint)")
    db.execute("DROP INDEX works_title_key")
