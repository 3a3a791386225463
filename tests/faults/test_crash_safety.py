"""SIGKILL at random moments: no lost paper, no second post, no cursor ahead of the data.

Every server is slowed down (each E-utilities answer, each Slack reply after
the post is stored, each SMTP DATA before it is accepted), so a kill after a
seeded random delay lands during a fetch, a store, a match, or between a
send and its "sent" mark. PubMed grows by a record before every run. After
each kill the database must pass ``PRAGMA integrity_check`` and the PubMed
cursor must not be ahead of stored data: every PMID the server holds with a
create date on or before the cursor is stored. Finally runs go on until one
exits 0, and every paper must have reached Slack exactly once and the
mailbox in exactly one digest.

CI kills ``WATCHER_CRASH_RUNS`` times (default 5); the full count:

    WATCHER_CRASH_RUNS=50 .venv/bin/pytest tests/faults/test_crash_safety.py

Replay a failure with the seed in its message: ``WATCHER_CRASH_SEED=<seed>``.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace
from tests.faults.harness import (
    CHANNEL,
    TODAY,
    config,
    emails_per_paper,
    env_count,
    final_state,
    message_ids,
    more_records,
    run_until_ok,
    slack_posts_per_paper,
    spawn,
    stored_pmids,
)
from tests.servers.eutils import EutilsServer, Fault
from tests.servers.pubmed_records import cart_corpus
from tests.servers.slack import Fault as SlackFault
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer

# An uninterrupted run against these slowed servers takes 4-8 s; kills are spread over that.
WINDOW = (0.3, 8.0)
KILLS = env_count("WATCHER_CRASH_RUNS", 5)
SEED = int(os.environ.get("WATCHER_CRASH_SEED", "") or 7)


def cursor_lag_violations(eutils: EutilsServer, cursor: str | None, stored: set[str]) -> list[str]:
    """PMIDs the cursor claims are covered but that are not stored.

    Covered: a create date on or before the cursor, except the records added
    today after a poll (today's window is re-read by the next poll's overlap).
    """
    if cursor is None:
        return []
    limit = date.fromisoformat(cursor)
    return [r.pmid for r in eutils.records if r.crdt <= limit and r.crdt < TODAY and r.pmid not in stored]


def pending_digests(db: Path) -> int:
    """Digests written as pending but not marked sent: the kill came between send and mark."""
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM digests WHERE status = 'pending'").fetchone()[0])


def unmatched_pmids(db: Path) -> list[str]:
    """Stored works with no rule evaluation at all (every paper here is in scope)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT pmid FROM works WHERE id NOT IN (SELECT work_id FROM matches)")
        return sorted(r[0] for r in rows)


@pytest.mark.slow
def test_runs_killed_at_random_moments_lose_nothing_and_send_nothing_twice(workspace: Workspace) -> None:
    rng = random.Random(SEED)
    replay = f"replay: WATCHER_CRASH_SEED={SEED} WATCHER_CRASH_RUNS={KILLS}"
    corpus = [
        record
        for days_ago in (4, 3, 2, 1)
        for record in cart_corpus(
            TODAY - timedelta(days=days_ago), n=3, first_pmid=41_700_000 + 10 * days_ago
        )
    ]
    with (
        EutilsServer(corpus) as eutils,
        SlackServer(channels=[CHANNEL]) as slack,
        SmtpServer() as smtp,
    ):
        eutils.random_faults(1.0, [Fault("slow", delay=0.15)], SEED)
        slack.random_faults(1.0, [SlackFault(kind="slow", delay=0.6)], SEED)
        smtp.random_faults(1.0, ["slow"], SEED, delay=0.6)
        workspace.write_config(config(eutils, slack=slack, smtp=smtp, batch_size=3, timeout=10))
        env = {"SLACK_BOT_TOKEN": slack.token}
        killed_at: list[float] = []
        pending = 0
        for i in range(KILLS):
            eutils.add(more_records(TODAY, 1, 41_800_000 + i))
            proc = spawn(workspace, "run", env=env)
            delay = rng.uniform(*WINDOW)
            try:
                proc.wait(timeout=delay)
            except Exception:  # still running: the moment has come
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                killed_at.append(round(delay, 2))
            if not workspace.db.exists():
                continue
            state = final_state(workspace.db)
            pending += pending_digests(workspace.db)
            assert state.integrity == "ok", f"{replay}; after kill {i}"
            lag = cursor_lag_violations(eutils, state.cursor, stored_pmids(workspace.db))
            assert not lag, f"{replay}; after kill {i} the cursor {state.cursor} is past unstored {lag}"
        print(
            f"seed {SEED}: {len(killed_at)} of {KILLS} runs killed, at {killed_at} s; {pending} kill(s) left a digest pending"
        )

        run_until_ok(workspace, env)
        dois = [f"10.1182/blood.2026.{r.pmid}" for r in eutils.records]
        state = final_state(workspace.db)
        assert state.integrity == "ok", replay
        assert stored_pmids(workspace.db) >= {r.pmid for r in eutils.records}, replay
        unmatched = unmatched_pmids(workspace.db)
        assert not unmatched, f"{replay}: stored but never matched: {unmatched}"
        posts = slack_posts_per_paper(slack, dois)
        wrong = {d: n for d, n in posts.items() if n != 1}
        assert not wrong, f"{replay}\nSlack posts per paper (must be 1): {wrong}"
        mails = emails_per_paper(smtp, dois)
        wrong = {d: n for d, n in mails.items() if n != 1}
        assert not wrong, f"{replay}\ndigests per paper (must be 1): {wrong}"
        # A digest re-sent after a kill between SMTP's "250" and the ledger keeps its Message-ID.
        resent = {m: n for m, n in message_ids(smtp).items() if n > 1}
        print(
            f"seed {SEED}: {len(message_ids(smtp))} digest email(s), re-sent with the same Message-ID: {resent}"
        )


def test_a_crash_while_matching_never_leaves_papers_stored_but_unmatched(workspace: Workspace) -> None:
    corpus = cart_corpus(TODAY - timedelta(days=1), n=3, first_pmid=41_900_000)
    with EutilsServer(corpus) as eutils:
        workspace.write_config(config(eutils))
        assert workspace.watcher("run", "--no-deliver").returncode == 0  # creates the schema
        with sqlite3.connect(workspace.db) as conn:
            conn.execute("DELETE FROM matches")
            conn.execute("DELETE FROM works")
            conn.execute("DELETE FROM identifiers")
            conn.execute("DELETE FROM sightings")
            conn.execute("DELETE FROM cursors")
            # The process dies at its first write of a match, after the papers were committed.
            conn.execute(
                "CREATE TRIGGER crash BEFORE INSERT ON matches BEGIN SELECT RAISE(ABORT, 'crash'); END"
            )
        crashed = workspace.watcher("run", "--no-deliver")
        assert crashed.returncode != 0
        # Papers and their matches are written in one transaction: never one without the other.
        assert unmatched_pmids(workspace.db) == []
        with sqlite3.connect(workspace.db) as conn:
            conn.execute("DROP TRIGGER crash")
        assert workspace.watcher("run", "--no-deliver").returncode == 0
        assert unmatched_pmids(workspace.db) == []
