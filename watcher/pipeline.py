"""One poll: fetch every source, store new and changed records, match them.

Each source fails alone: its error goes into the run report and the other
sources go on. The PubMed cursor advances only in the same transaction as the
last batch of a fully fetched window, and never past a window that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from watcher.app import App
from watcher.errors import SourceError
from watcher.models import DeletedCitation, MatchResult, Paper, RecordError, RunReport, SourceReport
from watcher.store import IngestResult

if TYPE_CHECKING:
    from watcher.sources.pubmed import FetchBatch, Window

log = logging.getLogger("watcher.pipeline")

PUBMED = "pubmed"


@dataclass(frozen=True)
class Progress:
    """What a progress bar needs: a window's records fetched so far out of its total."""

    window: str
    done: int
    total: int


ProgressFn = Callable[[Progress], None]


def iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_once(
    app: App,
    now: datetime,
    run_id: str,
    since: date | None = None,
    until: date | None = None,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
) -> RunReport:
    report = RunReport(run_id=run_id, started_at=iso(now), dry_run=dry_run)
    store = app.store
    if not dry_run:
        store.start_run(run_id, "run", iso(now))
    if app.settings.pubmed.enabled:
        poll_pubmed(app, now, report, since, until, dry_run, progress)
    if since is None:
        # A backfill is a PubMed date range; feeds only ever show their latest items.
        poll_feeds(app, now, report, dry_run)
    report.finished_at = iso(datetime.now(now.tzinfo))
    if not dry_run:
        store.finish_run(report, report.finished_at)
    return report


def pubmed_window(
    cursor: str | None,
    today: date,
    lookback_days: int,
    overlap_days: int,
    since: date | None,
    until: date | None,
) -> tuple[date, date]:
    """The create-date range to poll: a backfill's own range, else the cursor minus the overlap."""
    end = until or today
    if since is not None:
        return since, end
    if cursor:
        return date.fromisoformat(cursor) - timedelta(days=overlap_days), end
    return today - timedelta(days=lookback_days), end


def poll_pubmed(
    app: App,
    now: datetime,
    report: RunReport,
    since: date | None,
    until: date | None,
    dry_run: bool,
    progress: ProgressFn | None,
) -> None:
    settings = app.settings.pubmed
    src = report.source(PUBMED)
    store = app.store
    cursor = store.get_cursor(PUBMED)
    start, end = pubmed_window(
        cursor, now.date(), settings.lookback_days, settings.overlap_days, since, until
    )
    if start > end:
        src.errors.append(f"--since {start} is after --until {end}")
        return
    stamp = iso(now)
    failed = False
    if not dry_run:
        _retry_missing(app, stamp, report, src)
    try:
        windows = app.pubmed.plan_windows(app.pubmed_term, start, end)
    except SourceError as e:
        src.errors.append(str(e))
        src.failed_windows.append((start.isoformat(), end.isoformat()))
        if not dry_run:
            store.record_health(PUBMED, False, 0, 0, str(e), stamp)
        return
    for window in windows:
        label = f"{window.start.isoformat()}..{window.end.isoformat()}"
        if window.capped:
            msg = (
                f"{window.count} records were created on {window.start} alone; PubMed lists only the first "
                "9,999 for one query, so narrow the query or the rules to fetch the rest"
            )
            log.warning(msg)
            src.warnings.append(msg)
        # A backfill of old dates must not drag the cursor backwards or jump it ahead of a regular poll.
        advance = not failed and (since is None or (cursor is not None and window.end.isoformat() > cursor))
        new_cursor = (PUBMED, window.end.isoformat()) if advance else None
        try:
            _fetch_window(app, window, label, stamp, report, src, dry_run, new_cursor, progress)
        except SourceError as e:
            failed = True
            src.errors.append(f"window {label}: {e}")
            src.failed_windows.append((window.start.isoformat(), window.end.isoformat()))
            log.error("PubMed window %s failed; the cursor stays before it: %s", label, e)
    if not dry_run:
        error = "; ".join(src.errors) or None
        store.record_health(PUBMED, not src.errors, src.fetched, src.new, error, stamp)


# A PMID PubMed keeps not returning is given up after this many runs (deleted or withdrawn).
MAX_MISSING_ATTEMPTS = 5


def _retry_missing(app: App, stamp: str, report: RunReport, src: SourceReport) -> None:
    """Ask again for PMIDs that earlier runs were promised by ESearch but not given by EFetch."""
    store = app.store
    for pmid in store.give_up_pending(MAX_MISSING_ATTEMPTS):
        msg = f"PMID {pmid} was never returned in {MAX_MISSING_ATTEMPTS} runs; giving up (deleted or withdrawn?)"
        log.warning(msg)
        src.warnings.append(msg)
    pending = store.pending_pmids()
    if not pending:
        return
    log.info("asking PubMed again for %d PMIDs it did not return before", len(pending))
    try:
        for batch in app.pubmed.fetch(pending):
            _store(app, _papers_of(batch, src), stamp, report, src, False, None, batch.missing)
    except SourceError as e:
        src.errors.append(f"re-fetching {len(pending)} missing PMIDs: {e}")


def _fetch_window(
    app: App,
    window: Window,
    label: str,
    stamp: str,
    report: RunReport,
    src: SourceReport,
    dry_run: bool,
    cursor: tuple[str, str] | None,
    progress: ProgressFn | None,
) -> None:
    pmids: Sequence[str] = window.pmids
    total = len(pmids)
    done = 0
    pending: list[Paper] | None = None
    missing: list[str] = []
    for batch in app.pubmed.fetch(pmids, window=window):
        papers = _papers_of(batch, src)
        missing += batch.missing
        done += len(papers)
        if progress:
            progress(Progress(label, done, total))
        if pending is not None:
            _store(app, pending, stamp, report, src, dry_run, None)
        pending = papers
    # The last batch carries the cursor and the PMIDs to ask for again, so all land in one transaction.
    _store(app, pending or [], stamp, report, src, dry_run, cursor, missing)


def _papers_of(batch: FetchBatch, src: SourceReport) -> list[Paper]:
    papers: list[Paper] = []
    for item in batch.items:
        if isinstance(item, Paper):
            papers.append(item)
        elif isinstance(item, RecordError):
            msg = f"PMID {item.pmid or '?'} skipped: {item.message}"
            log.warning(msg)
            src.warnings.append(msg)
        elif isinstance(item, DeletedCitation):
            log.info("PubMed deleted PMIDs %s", ", ".join(item.pmids))
    for pmid in batch.missing:
        msg = f"PMID {pmid} was listed by ESearch but not returned by EFetch; later runs ask for it again"
        log.warning(msg)
        src.warnings.append(msg)
    src.fetched += len(papers)
    return papers


def _store(
    app: App,
    papers: list[Paper],
    stamp: str,
    report: RunReport,
    src: SourceReport,
    dry_run: bool,
    cursor: tuple[str, str] | None,
    missing: Sequence[str] = (),
) -> IngestResult:
    if dry_run:
        return IngestResult()
    result = app.store.ingest(
        papers, stamp, report.run_id, cursor=cursor, match=_match_fn(app), missing=missing
    )
    src.new += len(result.new)
    src.updated += len(result.updated)
    report.new_work_ids.extend(result.new)
    return result


def _match_fn(app: App) -> Callable[[Paper], MatchResult] | None:
    return app.matcher.match if app.matcher is not None else None


def poll_feeds(app: App, now: datetime, report: RunReport, dry_run: bool) -> None:
    """Each feed on its own: a broken feed is an entry in the report, the others go on."""
    from watcher.sources.feeds import FeedState

    store = app.store
    stamp = iso(now)
    for feed in app.settings.feeds:
        if not feed.enabled:
            continue
        name = f"feed:{feed.name}"
        src = report.source(name)
        row = store.feed_state(feed.name)
        state = None
        if row and row.get("configured_url") == feed.url:
            state = FeedState(
                url=row["url"],
                etag=row["etag"],
                last_modified=row["last_modified"],
                disabled=bool(row["disabled"]),
                disabled_reason=row["disabled_reason"],
            )
        if state and state.disabled:
            src.warnings.append(f"disabled: {state.disabled_reason or 'the server said the feed is gone'}")
            continue
        fetch = app.feed_fetcher.fetch(feed, state)
        src.warnings.extend(fetch.warnings)
        saved = {
            "url": fetch.new_state.url,
            "etag": fetch.new_state.etag,
            "last_modified": fetch.new_state.last_modified,
            "disabled": int(fetch.new_state.disabled),
            "disabled_reason": fetch.new_state.disabled_reason,
            "configured_url": feed.url,
        }
        if fetch.status == "error":
            src.errors.append(fetch.error or "failed")
            if not dry_run:
                store.record_health(name, False, 0, 0, fetch.error, stamp)
            continue
        if fetch.status == "gone":
            message = f"{feed.url} answered 410 Gone; the feed is disabled until its URL is changed"
            src.errors.append(message)
            log.warning("feed %s: %s", feed.name, message)
            if not dry_run:
                store.save_feed_state(feed.name, saved)
                store.record_health(name, False, 0, 0, message, stamp)
            continue
        src.fetched += len(fetch.papers)
        if dry_run:
            continue
        # Validators are saved in the same transaction as the items they cover.
        result = store.ingest(
            fetch.papers, stamp, report.run_id, feed_state=(feed.name, saved), match=_match_fn(app)
        )
        src.new += len(result.new)
        src.updated += len(result.updated)
        report.new_work_ids.extend(result.new)
        store.record_health(name, True, len(fetch.papers), len(result.new), None, stamp)


def rematch_all(app: App, now: datetime) -> dict[str, object]:
    """Re-evaluate every stored work against the current rules; report what was gained and lost.

    Deliveries are keyed by work, so a paper already sent is not sent again;
    a paper that newly matches goes out in the next digest.
    """
    store = app.store
    matcher = app.matcher
    gained: list[dict[str, object]] = []
    lost: list[dict[str, object]] = []
    ids = store.all_work_ids()
    if matcher is None:
        return {"works": len(ids), "gained": gained, "lost": lost}
    stamp = iso(now)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        results = []
        for work_id, paper in store.work_papers(chunk):
            before = set(store.matched_rules(work_id))
            match = matcher.match(paper)
            after = set(match.rule_ids)
            gained += [{"work_id": work_id, "rule": r, "title": paper.title} for r in sorted(after - before)]
            lost += [{"work_id": work_id, "rule": r, "title": paper.title} for r in sorted(before - after)]
            results.append((work_id, match))
        store.save_matches(results, stamp)
    return {"works": len(ids), "gained": gained, "lost": lost}
