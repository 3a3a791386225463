"""Two runs at once: one works, the other waits (--wait) or leaves with exit 75; nothing is sent twice."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import Workspace
from tests.faults.harness import (
    CHANNEL,
    TODAY,
    config,
    slack_posts_per_paper,
    spawn,
)
from tests.paths import REPO
from tests.servers.eutils import EutilsServer, Fault
from tests.servers.pubmed_records import cart_corpus
from tests.servers.slack import Fault as SlackFault
from tests.servers.slack import SlackServer


def lock_is_held(ws: Workspace) -> bool:
    lock = ws.db.with_name(ws.db.name + ".lock")
    return lock.exists() and lock.read_text().strip().isdigit()


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_second_run_exits_75_and_a_waiting_run_proceeds_after_without_sending_twice(
    workspace: Workspace,
) -> None:
    corpus = cart_corpus(TODAY, n=4, first_pmid=42_100_000)
    dois = [f"10.1182/blood.2026.{r.pmid}" for r in corpus]
    with EutilsServer(corpus) as eutils, SlackServer(channels=[CHANNEL]) as slack:
        # Slow enough that the first run still holds the lock while the others start.
        eutils.random_faults(1.0, [Fault("slow", delay=0.5)], 1)
        slack.random_faults(1.0, [SlackFault(kind="slow", delay=1.0)], 1)
        workspace.write_config(config(eutils, slack=slack, timeout=10))
        env = {"SLACK_BOT_TOKEN": slack.token}
        first = spawn(workspace, "run", env=env)
        try:
            wait_for(lambda: lock_is_held(workspace))
            waiter = spawn(workspace, "run", "--wait", "120", env=env)
            busy = workspace.watcher("run", env=env)
            assert busy.returncode == 75
            assert "another watcher run is in progress" in busy.stderr
            assert "--wait" in busy.stderr
            assert first.wait(timeout=120) == 0
            assert waiter.wait(timeout=120) == 0
        finally:
            for proc in (first,):
                if proc.poll() is None:
                    proc.kill()
        counts = slack_posts_per_paper(slack, dois)
        assert set(counts.values()) == {1}, counts


def _serve_available() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "serve", "--help"],
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    return proc.returncode == 0


@pytest.mark.skipif(not _serve_available(), reason="watcher serve not available")
def test_a_run_while_serve_is_running_waits_or_exits_75_and_nothing_is_sent_twice(
    workspace: Workspace,
) -> None:
    corpus = cart_corpus(TODAY, n=3, first_pmid=42_200_000)
    dois = [f"10.1182/blood.2026.{r.pmid}" for r in corpus]
    with EutilsServer(corpus) as eutils, SlackServer(channels=[CHANNEL]) as slack:
        eutils.random_faults(1.0, [Fault("slow", delay=0.5)], 1)
        extra = '\n[schedule]\npoll = "* * * * *"\nslack_digest = "* * * * *"\n'
        workspace.write_config(config(eutils, slack=slack, timeout=10, extra=extra))
        env = {"SLACK_BOT_TOKEN": slack.token}
        serve = spawn(workspace, "serve", env=env)
        try:
            wait_for(lambda: lock_is_held(workspace), timeout=120)
            busy = workspace.watcher("run", env=env)
            assert busy.returncode in (0, 75), busy.stderr
            if busy.returncode == 75:
                assert "another watcher run is in progress" in busy.stderr
            waited = workspace.watcher("run", "--wait", "120", env=env)
            assert waited.returncode == 0, waited.stderr
        finally:
            serve.terminate()
            serve.wait(timeout=60)
        counts = slack_posts_per_paper(slack, dois)
        assert set(counts.values()) == {1}, counts
