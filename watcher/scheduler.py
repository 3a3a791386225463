"""APScheduler wiring for `watcher serve`, and nothing else.

Choices made on purpose rather than left at APScheduler's defaults:
- coalesce=True and max_instances=1: a job that fell behind runs once, never twice at a time;
- misfire_grace_time from config (default 6 h, not 1 s): a digest delayed by a busy poll still goes;
- a digest whose time passed while the process was down is sent once at start-up (the
  in-memory job store cannot know, so `job_runs` in the database records each run);
- SIGTERM/SIGINT stop the scheduler after the job in progress has finished.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from watcher import jobs
from watcher.config import Settings
from watcher.delivery import sink_specs
from watcher.schedule import missed, previous_fire_time, trigger

log = logging.getLogger("watcher.serve")


def plan(settings: Settings) -> list[tuple[str, Any, Any, tuple[Any, ...]]]:
    """(job id, trigger, function, args) for the configured schedule."""
    sch = settings.schedule
    tz = sch.timezone
    out: list[tuple[str, Any, Any, tuple[Any, ...]]] = [
        (jobs.POLL, trigger(sch.poll, tz, "schedule.poll"), jobs.poll, (settings,))
    ]
    kinds = {spec.kind for spec in sink_specs(settings)}
    if "slack" in kinds:
        out.append(
            (
                jobs.digest_job_name("slack"),
                trigger(sch.slack_digest, tz, "schedule.slack_digest"),
                jobs.digest,
                (settings, "slack"),
            )
        )
    if "email" in kinds:
        out.append(
            (
                jobs.digest_job_name("email"),
                trigger(sch.email_digest, tz, "schedule.email_digest"),
                jobs.digest,
                (settings, "email"),
            )
        )
    return out


def catch_up(
    settings: Settings, planned: list[tuple[str, Any, Any, tuple[Any, ...]]], now: datetime
) -> list[str]:
    """Digest jobs whose last scheduled time passed without a run (within the misfire grace)."""
    from watcher.store import Store

    store = Store.open(settings.state.path)
    try:
        due = []
        grace = timedelta(seconds=settings.schedule.misfire_grace_seconds)
        for job_id, trig, _, _ in planned:
            if job_id == jobs.POLL:
                continue
            last_text = store.job_last_run(job_id)
            last = (
                datetime.strptime(last_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if last_text else None
            )
            if missed(last, previous_fire_time(trig, now), now, grace):
                due.append(job_id)
        return due
    finally:
        store.close()


def serve(settings: Settings) -> int:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler

    planned = plan(settings)
    scheduler = BackgroundScheduler(
        timezone=settings.schedule.timezone,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.schedule.misfire_grace_seconds,
        },
    )

    def on_event(event: Any) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning(
                "job %s missed its time %s (beyond the misfire grace)", event.job_id, event.scheduled_run_time
            )
        elif getattr(event, "exception", None) is not None:
            log.error("job %s crashed: %r", event.job_id, event.exception)

    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    now = datetime.now(UTC)
    due = catch_up(settings, planned, now)
    for job_id, trig, func, args in planned:
        scheduler.add_job(func, trig, args=args, id=job_id, name=job_id)
    for job_id in due:
        log.info("%s was due while watcher was down; sending it after the first poll", job_id)
    # One start-up job: poll at once, then any digest missed during downtime, in that
    # order, so the catch-up digest includes what the poll just found.
    kinds = [job_id.split(":", 1)[1] for job_id in due]
    scheduler.add_job(jobs.startup, args=(settings, kinds), id="startup")

    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("received %s; finishing the job in progress, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    scheduler.start()
    for job in scheduler.get_jobs():
        log.info("scheduled %s, next at %s", job.id, job.next_run_time)
    stop.wait()
    scheduler.shutdown(wait=True)
    log.info("stopped cleanly")
    return 0
