"""Faults everywhere, nothing lost and nothing sent twice.

The local E-utilities, feed, Slack and SMTP servers fail requests from a
seeded random schedule: 429 with and without Retry-After, 5xx, "Search
Backend failed", timeouts, connection resets, truncated bodies, HTML error
pages and slow answers. A run that exhausts its retries exits 1; like the
operator's timer, the test reruns until a run exits 0. The end state must
equal a fault-free run's: the same works, the same (work, rule) matches,
every paper posted to Slack exactly once and mailed in exactly one digest,
each digest accepted by the mail server exactly once.

CI runs ``WATCHER_FAULT_RUNS`` seeds (default 3); the full count:

    WATCHER_FAULT_RUNS=50 .venv/bin/pytest tests/faults/test_fault_injection.py

A failing seed is in the test id (``seed=1017``) and the message; replay it
(or several: ``WATCHER_FAULT_SEED=1017,1023``) with

    WATCHER_FAULT_SEED=1017 .venv/bin/pytest tests/faults/test_fault_injection.py
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import Workspace
from tests.faults.harness import (
    CHANNEL,
    FEED_PATH,
    FinalState,
    Scenario,
    config,
    emails_per_paper,
    final_state,
    make_workspace,
    message_ids,
    run_until_ok,
    scenario,
    seeds,
    slack_posts_per_paper,
)
from tests.servers.eutils import EutilsServer, Fault
from tests.servers.feeds import FeedServer, RandomFault
from tests.servers.slack import Fault as SlackFault
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer

SEEDS = seeds("WATCHER_FAULT_RUNS", 3, "WATCHER_FAULT_SEED")
# Client timeouts in these runs are 1.5 s; a 2 s answer is a timeout.
EUTILS_FAULTS = [
    Fault("status", status=429, retry_after="1"),
    Fault("status", status=429),
    Fault("status", status=503, retry_after="1"),
    Fault("status", status=500),
    Fault("status", status=502),
    Fault("backend_error"),
    Fault("truncate"),
    Fault("html"),
    Fault("reset"),
    Fault("slow", delay=0.3),
    Fault("slow", delay=2.0),
]
FEED_FAULTS = [
    RandomFault("status", status=503),
    RandomFault("status", status=429, retry_after="1"),
    RandomFault("status", status=500),
    RandomFault("reset"),
    RandomFault("truncate"),
    RandomFault("slow", delay=0.3),
    RandomFault("slow", delay=2.0),
]
# Only faults after which Slack has not stored the post: the answer-lost case is
# its own test in test_exactly_once.py.
SLACK_FAULTS = [
    SlackFault(429, "ratelimited", retry_after=1),
    SlackFault(503, "service_unavailable"),
    SlackFault(500, "internal_error"),
    SlackFault(kind="reset"),
    SlackFault(kind="slow", delay=0.3),
]


@pytest.fixture(scope="module")
def data() -> Scenario:
    return scenario()


def _run(ws: Workspace, data: Scenario, seed: int | None) -> tuple[FinalState, dict[str, object]]:
    with (
        EutilsServer(data.records) as eutils,
        FeedServer() as feeds,
        SlackServer(channels=[CHANNEL]) as slack,
        SmtpServer() as smtp,
    ):
        feeds.serve(FEED_PATH, data.feed, etag='"v1"')
        if seed is not None:
            eutils.random_faults(0.3, EUTILS_FAULTS, seed)
            feeds.random_faults(0.3, FEED_FAULTS, seed + 1)
            slack.random_faults(0.3, SLACK_FAULTS, seed + 2)
            smtp.random_faults(0.3, ["data_451", "rcpt_451", "slow"], seed + 3)
        ws.write_config(
            config(eutils, feed_url=feeds.url(FEED_PATH), slack=slack, smtp=smtp, batch_size=4, timeout=1.5)
        )
        env = {"SLACK_BOT_TOKEN": slack.token}
        runs = run_until_ok(ws, env)
        # Later that day: PubMed and the feed both have more.
        eutils.add(data.later)
        feeds.serve(FEED_PATH, data.later_feed, etag='"v2"')
        runs += run_until_ok(ws, env)
        outcome: dict[str, object] = {
            "runs": len(runs),
            "slack": slack_posts_per_paper(slack, data.dois),
            "email": emails_per_paper(smtp, data.dois),
            "message_ids": message_ids(smtp),
            "stderr": runs[-1].stderr[-1500:],
            "faults": {
                "eutils": sum(1 for h in eutils.hits if h.fault),
                "slack": sum(1 for c in slack.calls() if c.status != 200),
                "smtp_refused": smtp.attempts - len(smtp.received),
            },
        }
        return final_state(ws.db), outcome


@pytest.fixture(scope="module")
def fault_free(data: Scenario, tmp_path_factory: pytest.TempPathFactory) -> FinalState:
    ws = make_workspace(tmp_path_factory.mktemp("fault-free"))
    state, outcome = _run(ws, data, None)
    assert outcome["runs"] == 2, outcome["stderr"]
    assert len(state.works) == len(data.dois)
    return state


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_under_random_faults_every_paper_is_stored_matched_and_delivered_exactly_once(
    seed: int, data: Scenario, fault_free: FinalState, workspace: Workspace
) -> None:
    replay = f"replay: WATCHER_FAULT_SEED={seed} pytest tests/faults/test_fault_injection.py"
    state, outcome = _run(workspace, data, seed)
    print(f"seed {seed}: converged after {outcome['runs']} run(s); faults met: {outcome['faults']}")
    assert state.integrity == "ok", replay
    assert state.works == fault_free.works, f"{replay}\nworks differ: {state.works ^ fault_free.works}"
    assert state.matches == fault_free.matches, (
        f"{replay}\nmatches differ: {sorted(state.matches ^ fault_free.matches)}"
    )
    # The cursor is the day of the last clean poll: the baseline's, or a later one if midnight passed.
    assert state.cursor in (fault_free.cursor, datetime.now(UTC).date().isoformat()), replay
    slack = outcome["slack"]
    wrong = {doi: n for doi, n in slack.items() if n != 1}  # type: ignore[attr-defined]
    assert not wrong, f"{replay}\nSlack posts per paper (must be 1): {wrong}\n{outcome['stderr']}"
    email = outcome["email"]
    wrong = {doi: n for doi, n in email.items() if n != 1}  # type: ignore[attr-defined]
    assert not wrong, f"{replay}\ndigests per paper (must be 1): {wrong}\n{outcome['stderr']}"
    repeated = {m: n for m, n in outcome["message_ids"].items() if n != 1}  # type: ignore[attr-defined]
    assert not repeated, f"{replay}\na digest email was accepted more than once: {repeated}"
