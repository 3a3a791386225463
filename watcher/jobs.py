"""What `watcher serve` runs on its schedule. Each job opens its own App (and so
its own SQLite connection, in its worker thread) and holds the same lock as
`watcher run`, so a manual run and the daemon never overlap or double-send.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from watcher.app import App
from watcher.config import Settings
from watcher.errors import LockBusy, WatcherError
from watcher.lock import run_lock
from watcher.logs import set_run_id

log = logging.getLogger("watcher.jobs")

# How long a scheduled job waits for a manual run to finish before skipping this turn.
LOCK_WAIT_SECONDS = 600.0

POLL = "poll"


def digest_job_name(kind: str) -> str:
    return f"digest:{kind}"


def poll(settings: Settings) -> None:
    """Poll every source; with only the console sink, show the digest right away; check health."""
    from watcher.delivery import deliver, sink_specs
    from watcher.health import send_alerts, transitions
    from watcher.pipeline import run_once

    now = datetime.now(UTC)
    run_id = now.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    set_run_id(run_id)
    app = App(settings)
    try:
        with run_lock(settings.state.path, wait=LOCK_WAIT_SECONDS):
            report = run_once(app, now, run_id)
            for name, source in sorted(report.sources.items()):
                log.info(
                    "polled %s: fetched %d, new %d, updated %d%s",
                    name,
                    source.fetched,
                    source.new,
                    source.updated,
                    f", errors: {'; '.join(source.errors)}" if source.errors else "",
                )
            if all(spec.kind == "console" for spec in sink_specs(settings)):
                deliver(app, datetime.now(UTC))
            alerts = transitions(
                app.store.health(),
                settings.health.failure_threshold,
                settings.health.silent_days,
                datetime.now(UTC),
            )
            send_alerts(app, alerts)
            app.store.record_job_run(POLL, _iso(datetime.now(UTC)))
    except LockBusy as e:
        log.warning("poll skipped: %s", e)
    except WatcherError as e:
        log.error("poll failed: %s", e)
    finally:
        app.close()
        set_run_id("-")


def digest(settings: Settings, kind: str) -> None:
    """Send the pending digest to every sink of this kind (slack or email)."""
    from watcher.delivery import deliver

    now = datetime.now(UTC)
    set_run_id(now.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6])
    app = App(settings)
    try:
        with run_lock(settings.state.path, wait=LOCK_WAIT_SECONDS):
            for result in deliver(app, now, kinds=[kind]):  # type: ignore[list-item]
                if result.status == "failed":
                    log.error("digest to %s failed, will retry next time: %s", result.sink, result.error)
                else:
                    log.info("digest to %s: %s, %d paper(s)", result.sink, result.status, result.papers)
            app.store.record_job_run(digest_job_name(kind), _iso(datetime.now(UTC)))
    except LockBusy as e:
        log.warning("digest skipped: %s", e)
    except WatcherError as e:
        log.error("digest failed: %s", e)
    finally:
        app.close()
        set_run_id("-")


def startup(settings: Settings, due_digests: list[str]) -> None:
    """First poll at once, then the digests whose time passed while the daemon was down."""
    poll(settings)
    for kind in due_digests:
        digest(settings, kind)


def _iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")
