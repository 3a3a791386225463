"""Deliver digests exactly once: ledger (pending) -> sink -> ledger (sent).

For every sink: first resolve digests left pending by a crash or a failed
send (Slack: look for the digest's metadata marker in the channel before
posting again; email: re-send with the same Message-ID, which mail clients
de-duplicate; console: print again), then build a digest of what the sink has
not received yet, record it as pending with its items, send it, and mark it
sent with the sink's external id and where each paper landed.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from rich.console import Console

from watcher.app import App
from watcher.config import Settings
from watcher.digest.build import DigestCandidate, build_digest
from watcher.digest.codec import digest_from_json, digest_to_json
from watcher.digest.text import followup_lead
from watcher.errors import DeliveryError
from watcher.models import Digest, Event, FollowUp, RuleHit, SourceCoverage, Span, WorkView
from watcher.store import Store

log = logging.getLogger("watcher.delivery")

SinkKind = Literal["console", "email", "slack"]


@dataclass(frozen=True)
class SinkSpec:
    """One delivery target; ``name`` keys the ledger ("console", "email", "slack:C0123")."""

    name: str
    kind: SinkKind
    channel: str = ""
    rules: tuple[str, ...] = ("*",)


@dataclass
class SinkResult:
    sink: str
    status: Literal["sent", "nothing", "failed", "preview"] = "nothing"
    papers: int = 0
    followups: int = 0
    resolved: int = 0
    external_id: str | None = None
    error: str | None = None
    preview: str = ""
    digest_keys: list[str] = field(default_factory=list)


def sink_specs(settings: Settings) -> list[SinkSpec]:
    """Configured sinks; the console is the default when neither Slack nor email is set up."""
    specs: list[SinkSpec] = []
    if settings.slack.configured:
        routes = settings.slack.routes or ()
        for route in routes:
            specs.append(SinkSpec(f"slack:{route.channel}", "slack", route.channel, route.rules))
        if settings.slack.channel and not any(r.channel == settings.slack.channel for r in routes):
            specs.append(SinkSpec(f"slack:{settings.slack.channel}", "slack", settings.slack.channel, ("*",)))
    if settings.email.configured:
        specs.append(SinkSpec("email", "email"))
    if not specs:
        specs.append(SinkSpec("console", "console"))
    return specs


def deliver(
    app: App,
    now: datetime,
    *,
    only: Sequence[str] | None = None,
    kinds: Sequence[SinkKind] | None = None,
    preview: bool = False,
    console: Console | None = None,
) -> list[SinkResult]:
    results = []
    for spec in sink_specs(app.settings):
        if only and spec.name not in only and spec.kind not in only:
            continue
        if kinds and spec.kind not in kinds:
            continue
        result = SinkResult(spec.name)
        try:
            if preview:
                _preview(app, spec, now, result)
            else:
                _deliver_one(app, spec, now, console, result)
        except DeliveryError as e:
            result.status, result.error = "failed", str(e)
            log.error("delivery to %s failed; it stays pending and is retried next time: %s", spec.name, e)
        results.append(result)
    return results


def _deliver_one(
    app: App, spec: SinkSpec, now: datetime, console: Console | None, result: SinkResult
) -> None:
    store = app.store
    stamp = _iso(now)
    for pending in store.pending_digests(spec.name):
        # Resolve, don't blindly re-send: Slack posts only the parts and follow-ups it cannot
        # find by their markers; email goes again with the same Message-ID; console prints again.
        key = pending["digest_key"]
        if pending["payload"]:
            digest = digest_from_json(pending["payload"])
        else:
            papers, events = store.digest_items(pending["id"])
            digest = assemble(app, spec, papers, events, now, pending["created_at"])
        log.info("resuming digest %s to %s, left pending by an earlier run", key, spec.name)
        _send(
            app, spec, _make_sink(app, spec, console), digest, pending["id"], key, stamp, result, resume=True
        )
        result.resolved += 1
    papers = store.undelivered_work_ids(spec.name, spec.rules)
    events = [e["id"] for e in store.undelivered_events(spec.name)]
    send_empty = spec.kind == "email" and app.settings.email.send_empty
    if not papers and not events and not send_empty:
        if result.status != "sent":
            result.status = "nothing"
        return
    key = f"{spec.name}/{now.strftime('%Y%m%dT%H%M%SZ')}/{uuid.uuid4().hex[:8]}"
    digest = assemble(app, spec, papers, events, now, stamp)
    digest_id = store.create_digest(spec.name, key, stamp, papers, events, digest_to_json(digest))
    _send(app, spec, _make_sink(app, spec, console), digest, digest_id, key, stamp, result)


def _send(
    app: App,
    spec: SinkSpec,
    sink: Any,
    digest: Digest,
    digest_id: int,
    key: str,
    stamp: str,
    result: SinkResult,
    resume: bool = False,
) -> None:
    store = app.store
    result.digest_keys.append(key)
    try:
        if spec.kind == "slack":
            delivery = sink.send_digest(digest, key, resume=resume)
            placements: dict[tuple[str, int], tuple[str | None, str | None]] = {
                ("paper", w): (delivery.channel, delivery.ts) for w in digest.work_ids
            }
            for f in digest.followups:
                ts = delivery.followup_ts.get(f.event.work_id)
                placements[("event", f.event.id or 0)] = (delivery.channel, ts)
            external = delivery.external_id
        else:
            external = sink.send(digest, key)
            placements = {}
    except DeliveryError as e:
        store.note_digest_error(digest_id, str(e))
        raise
    store.mark_sent(digest_id, external, stamp, placements)
    result.status = "sent"
    result.external_id = external
    result.papers += len(digest.work_ids)
    result.followups += len(digest.followups)


def _make_sink(app: App, spec: SinkSpec, console: Console | None) -> Any:
    settings = app.settings
    if spec.kind == "slack":
        from watcher.sinks.slack import SlackSink

        return SlackSink(settings.slack, spec.channel)
    if spec.kind == "email":
        import ssl

        from watcher.sinks.email import EmailSink

        context = ssl.create_default_context(cafile=settings.email.ca_file or None)
        return EmailSink(settings.email, ssl_context=context)
    from watcher.sinks.console import ConsoleSink

    return ConsoleSink(settings.state.digest_dir, console or Console(highlight=False))


def _preview(app: App, spec: SinkSpec, now: datetime, result: SinkResult) -> None:
    store = app.store
    papers = store.undelivered_work_ids(spec.name, spec.rules)
    events = [e["id"] for e in store.undelivered_events(spec.name)]
    digest = assemble(app, spec, papers, events, now, _iso(now))
    result.status = "preview"
    result.papers, result.followups = len(digest.work_ids), len(digest.followups)
    key = f"{spec.name}/preview"
    if spec.kind == "slack":
        from watcher.digest.render_slack import render_slack

        messages = render_slack(digest, key, app.settings.slack.max_papers_per_message)
        result.preview = json.dumps(
            [
                {"channel": spec.channel, "text": m.text, "blocks": m.blocks, "metadata": m.metadata}
                for m in messages
            ],
            indent=2,
            ensure_ascii=False,
        )
    elif spec.kind == "email":
        from watcher.sinks.email import build_message

        result.preview = build_message(digest, app.settings.email, key).as_string()
    else:
        from watcher.digest.render_console import render_console

        buffer = io.StringIO()
        render_console(digest, Console(file=buffer, highlight=False, width=100))
        result.preview = buffer.getvalue()


# --- assembling a digest from the store ------------------------------------------


def assemble(
    app: App, spec: SinkSpec, work_ids: Sequence[int], event_ids: Sequence[int], now: datetime, since: str
) -> Digest:
    store = app.store
    candidates = []
    for work_id in work_ids:
        view = work_view(store, work_id)
        if view is None:
            continue
        hits = tuple(_hit(row) for row in store.match_rows(work_id))
        topics = [h for h in hits if h.rule_id != "scope"]
        score = max((h.score for h in hits), default=0.0) + 0.5 * max(0, len(topics) - 1)
        candidates.append(DigestCandidate(view, hits, score))
    followups = []
    wanted = set(event_ids)
    for row in store.events():
        if row["id"] not in wanted:
            continue
        view = work_view(store, row["work_id"])
        if view is None:
            continue
        event = Event(
            work_id=row["work_id"],
            kind=row["kind"],
            detail=row["detail"],
            related_work_id=row["related_work_id"],
            created_at=row["created_at"],
            id=row["id"],
        )
        thread = _thread(store, spec.name, row["work_id"])
        draft = FollowUp(event=event, work=view, headline="", thread=thread)
        followups.append(FollowUp(event=event, work=view, headline=followup_lead(draft), thread=thread))
    ruleset = app.ruleset
    titles: dict[str, str] = {}
    if ruleset is not None:
        for rule in sorted(ruleset.rules, key=lambda r: -r.priority):
            titles[rule.id] = rule.title
    return build_digest(
        candidates,
        followups,
        coverage(app, store, spec, now),
        titles,
        title=f"watcher: new CAR-T / B-ALL papers, {now.strftime('%d %b %Y')}",
        created_at=_iso(now),
        topic_filter=None if "*" in spec.rules else spec.rules,
    )


def _thread(store: Store, sink: str, work_id: int) -> tuple[str, str] | None:
    row = store.db.conn.execute(
        "SELECT channel, ts FROM deliveries WHERE sink = ? AND kind = 'paper' AND ref_id = ?", [sink, work_id]
    ).fetchone()
    return (row[0], row[1]) if row and row[0] and row[1] else None


def _hit(row: dict[str, Any]) -> RuleHit:
    return RuleHit(
        rule_id=row["rule_id"],
        score=row["score"],
        clauses=tuple(json.loads(row["clauses"])),
        spans=tuple(Span(*s) for s in json.loads(row["spans"])),
    )


def work_view(store: Store, work_id: int) -> WorkView | None:
    row = store.work_row(work_id)
    if row is None:
        return None
    data = json.loads(row["data"] or "{}")
    sightings = store.sightings(work_id)
    pubmed_seen = next((s["first_seen_at"] for s in sightings if s["source"] == "pubmed"), None)
    authors = []
    for last, fore, initials, collective in data.get("authors", []):
        authors.append(collective or f"{last} {initials or fore}".strip())
    url = (
        f"https://doi.org/{row['doi']}"
        if row["doi"]
        else (f"https://pubmed.ncbi.nlm.nih.gov/{row['pmid']}/" if row["pmid"] else row["url"] or "")
    )
    return WorkView(
        work_id=work_id,
        title=row["title"],
        url=url,
        journal=row["journal"] or row["journal_abbrev"],
        pub_date=row["pub_date"],
        authors=tuple(authors),
        publication_types=tuple(data.get("publication_types", [])),
        is_preprint=bool(row["is_preprint"]),
        doi=row["doi"],
        pmid=row["pmid"],
        first_seen_source=row["first_seen_source"],
        first_seen_at=row["first_seen_at"],
        pubmed_seen_at=pubmed_seen,
    )


def coverage(app: App, store: Store, spec: SinkSpec, now: datetime) -> tuple[SourceCoverage, ...]:
    """Per source since this sink's last digest: polled?, new records, failing or silent."""
    last = store.last_sent_digest(spec.name)
    since = last["created_at"] if last else None
    new = store.new_records_since(since)
    silent_before = _iso(now - timedelta(days=app.settings.health.silent_days))
    out = []
    for h in store.health():
        polled = bool(h["last_success_at"]) and (since is None or h["last_success_at"] > since)
        silent = h["last_success_at"] is not None and (h["last_new_at"] or "") < silent_before
        out.append(
            SourceCoverage(
                source=h["source"],
                polled=polled,
                new_records=new.get(h["source"], 0),
                failing=h["consecutive_failures"] > 0,
                silent=silent and h["consecutive_failures"] == 0,
                last_error=h["last_error"] if h["consecutive_failures"] else None,
            )
        )
    return tuple(out)


def _iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")
