"""`watcher serve` as the operator runs it: a real subprocess, real signals, local servers."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.e2e.conftest import Workspace, pubmed_config
from tests.paths import REPO
from tests.servers.eutils import EutilsServer, Fault
from tests.servers.pubmed_records import cart_corpus
from tests.servers.slack import SlackServer

TODAY = date.today()
RULES = str(REPO / "rules")
CHANNEL = "C0DIGEST"


def start_serve(ws: Workspace, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", "serve", "--config", str(ws.config)],
        cwd=ws.root,
        env={**ws.env, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"serve did not stop after SIGTERM:\n{err}") from None
    return proc.returncode, err


def query(db: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def polls_done(db: Path) -> int:
    """Finished polls, 0 while the daemon is still creating or migrating the database."""
    try:
        return int(query(db, "SELECT count(*) FROM job_runs WHERE job = 'poll'")[0][0])
    except sqlite3.OperationalError:
        return 0


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_serve_polls_and_delivers_and_sigterm_mid_job_finishes_the_job_then_exits_cleanly(
    workspace: Workspace,
) -> None:
    corpus = cart_corpus(TODAY, n=4)
    with EutilsServer(corpus) as server:
        # EFetch answers slowly, so the SIGTERM below lands while the poll is in progress.
        server.inject(Fault("slow", target="efetch", delay=3.0))
        workspace.write_config(
            pubmed_config(server.url, rules_dir=RULES, extra='\n[schedule]\npoll = "*/20 * * * * *"\n')
        )
        proc = start_serve(workspace)
        try:
            assert wait_for(lambda: any(h.utility == "efetch" for h in server.hits)), "serve never fetched"
            rc, err = stop(proc)
        finally:
            kill(proc)
    assert rc == 0, err
    assert "stopped cleanly" in err
    # The interrupted job completed: papers stored, cursor set, run recorded as finished, digest shown.
    assert query(workspace.db, "SELECT count(*) FROM works") == [(4,)]
    assert query(workspace.db, "SELECT value FROM cursors WHERE source = 'pubmed'") == [(TODAY.isoformat(),)]
    assert query(workspace.db, "SELECT status FROM runs") == [("ok",)]
    assert len(list((workspace.root / "state" / "digests").glob("*.html"))) == 1
    assert query(workspace.db, "PRAGMA integrity_check") == [("ok",)]


def test_a_digest_missed_while_down_is_sent_once_on_restart_and_not_again(workspace: Workspace) -> None:
    # A daily Slack digest whose time was two minutes ago: the daemon was not running then.
    missed_at = datetime.now(UTC) - timedelta(minutes=2)
    cron = f"{missed_at.minute} {missed_at.hour} * * *"
    with EutilsServer(cart_corpus(TODAY, n=3)) as server, SlackServer(channels=[CHANNEL]) as slack:
        extra = (
            f'\n[slack]\nbase_url = "{slack.base_url}"\nchannel = "{CHANNEL}"\n'
            f'\n[schedule]\ntimezone = "UTC"\npoll = "0 0 1 1 *"\nslack_digest = "{cron}"\n'
        )
        workspace.write_config(pubmed_config(server.url, rules_dir=RULES, extra=extra))
        env = {"SLACK_BOT_TOKEN": slack.token}
        for _ in range(2):
            proc = start_serve(workspace, env)
            try:
                assert wait_for(lambda: polls_done(workspace.db) == 1), "the start-up poll never finished"
                time.sleep(1.0)  # give a (wrong) second digest the chance to appear
                rc, err = stop(proc)
            finally:
                kill(proc)
            assert rc == 0, err
            assert slack.token not in err
            # Forget the poll so the next start's poll can be awaited the same way.
            query(workspace.db, "DELETE FROM job_runs WHERE job = 'poll'")
        top_level = [m for m in slack.messages(CHANNEL) if not m["thread_ts"]]
        assert len(top_level) == 1
        assert query(workspace.db, "SELECT count(*) FROM deliveries WHERE kind = 'paper'") == [(3,)]


def test_serve_refuses_a_bad_cron_expression_with_exit_code_2(workspace: Workspace) -> None:
    workspace.write_config(
        pubmed_config("http://127.0.0.1:9/", extra='\n[schedule]\npoll = "every 5 minutes"\n')
    )
    result = workspace.watcher("serve", timeout=60)
    assert result.returncode == 2
    assert "schedule.poll" in result.stderr
