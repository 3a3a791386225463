"""What `watcher serve` runs on its schedule. Each job opens its own App (and so
its own SQLite connection, in its worker thread) and holds the same lock as
`watcher run`, so a manual run and the daemon never overlap or double-send.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from watcher.app import App
from watcher.config import Settings
from watcher.errors import LockBusy, WatcherError
from watcher.lock import run_lock
from watcher.logs import current_run_id, new_run_id, set_run_id

if TYPE_CHECKING:
    from watcher.delivery import SinkKind

log = logging.getLogger("watcher.jobs")

# How long a scheduled job waits for a manual run to finish before skipping this turn.
LOCK_WAIT_SECONDS = 600.0

POLL = "poll"


def digest_job_name(kind: str) -> str:
    return f"digest:{kind}"


@contextmanager
def _job(settings: Settings, what: str) -> Iterator[App]:
    """Run id, the shared lock, and errors logged rather than raised: a job must not kill the daemon."""
    set_run_id(new_run_id())
    app = App(settings)
    try:
        with run_lock(settings.state.path, wait=LOCK_WAIT_SECONDS):
            yield app
    except LockBusy as e:
        log.warning("%s skipped: %s", what, e)
    except WatcherError as e:
        log.error("%s failed: %s", what, e)
    finally:
        app.close()
        set_run_id("-")


def poll(settings: Settings) -> None:
    """Poll every source; with only the console sink, show the digest right away; check health."""
    from watcher.delivery import deliver, sink_specs
    from watcher.health import send_alerts, transitions
    from watcher.pipeline import run_once

    with _job(settings, "poll") as app:
        report = run_once(app, datetime.now(UTC), current_run_id())
        for name, source in sorted(report.sources.items()):
            errors = f", errors: {'; '.join(source.errors)}" if source.errors else ""
            log.info(
                "polled %s: fetched %d, new %d, updated %d%s",
                name,
                source.fetched,
                source.new,
                source.updated,
                errors,
            )
        if all(spec.kind == "console" for spec in sink_specs(settings)):
            deliver(app, datetime.now(UTC))
        h = settings.health
        send_alerts(
            app, transitions(app.store.health(), h.failure_threshold, h.silent_days, datetime.now(UTC))
        )
        app.store.record_job_run(POLL, _iso(datetime.now(UTC)))


def digest(settings: Settings, kind: SinkKind) -> None:
    """Send the pending digest to every sink of this kind (slack or email)."""
    from watcher.delivery import deliver

    with _job(settings, f"{kind} digest") as app:
        for result in deliver(app, datetime.now(UTC), kinds=[kind]):
            if result.status == "failed":
                log.error("digest to %s failed, will retry next time: %s", result.sink, result.error)
            else:
                log.info("digest to %s: %s, %d paper(s)", result.sink, result.status, result.papers)
        app.store.record_job_run(digest_job_name(kind), _iso(datetime.now(UTC)))


def startup(settings: Settings, due_digests: list[SinkKind]) -> None:
    """First poll at once, then the digests whose time passed while the daemon was down."""
    poll(settings)
    for kind in due_digests:
        digest(settings, kind)


def _iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")
