"""Terminal output for `watcher run` and `watcher status` (rich for people)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from watcher.config import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from watcher.app import App
    from watcher.models import RunReport
    from watcher.store import Store


def _console() -> Console:
    from rich.console import Console

    # Paper text may contain rich markup look-alikes ("[bold]"); never interpret it.
    return Console(highlight=False, soft_wrap=False)


def print_run_summary(report: RunReport) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    table = Table(title=f"Run {report.run_id}" + (" (dry run: nothing written)" if report.dry_run else ""))
    for column in ("source", "fetched", "new", "updated", "errors"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, s in sorted(report.sources.items()):
        table.add_row(name, str(s.fetched), str(s.new), str(s.updated), str(len(s.errors)))
    console.print(table)
    for name, s in sorted(report.sources.items()):
        for error in s.errors:
            console.print(Text(f"error: {name}: {error}", style="red"))
        for start, end in s.failed_windows:
            console.print(
                Text(f"{name}: window {start}..{end} was not stored; the next run retries it", style="yellow")
            )


def print_new_papers(app: App, report: RunReport) -> None:
    """The new papers of this run, in-scope ones first, as a short readable list."""
    from rich.text import Text

    console = _console()
    if not report.new_work_ids:
        console.print("No new papers.")
        return
    papers = app.store.work_papers(report.new_work_ids)
    matched = {wid: app.store.matched_rules(wid) for wid, _ in papers}
    if app.matcher is not None:
        papers = [(wid, p) for wid, p in papers if "scope" in matched[wid] or matched[wid]]
        if not papers:
            console.print(f"{len(report.new_work_ids)} new records, none in scope of the rules.")
            return
    console.print(Text(f"{len(papers)} new paper(s)", style="bold"))
    for wid, paper in papers:
        first = paper.first_author
        authors = (
            f"{first.display} et al."
            if first and len(paper.authors) > 1
            else (first.display if first else "")
        )
        link = f"https://doi.org/{paper.doi}" if paper.doi else (paper.url or "")
        line = Text()
        line.append(f"- {paper.title}\n", style="bold")
        line.append(
            f"  {', '.join(x for x in (authors, paper.journal_abbrev or paper.journal, paper.pub_date or '') if x)}"
        )
        topics = [r for r in matched.get(wid, []) if r != "scope"]
        if topics:
            line.append(f"\n  topics: {', '.join(topics)}", style="cyan")
        if link:
            line.append(f"\n  {link}", style="blue")
        console.print(line)


def status_data(settings: Settings, store: Store | None) -> dict[str, Any]:
    """What `watcher status` shows; ``store`` is None before the first run created the database."""
    health = {h["source"]: h for h in store.health()} if store else {}
    cursors = store.cursors() if store else {}
    sources: dict[str, Any] = {}
    names = ["pubmed"] if settings.pubmed.enabled else []
    names += [f"feed:{f.name}" for f in settings.feeds if f.enabled]
    for name in sorted(set(names) | set(health) | set(cursors)):
        h = health.get(name, {})
        sources[name] = {
            "cursor": cursors.get(name),
            "last_success_at": h.get("last_success_at"),
            "last_error_at": h.get("last_error_at"),
            "last_error": h.get("last_error"),
            "consecutive_failures": h.get("consecutive_failures", 0),
            "items_last_poll": h.get("last_items", 0),
            "last_new_at": h.get("last_new_at"),
            "state": _state(h),
        }
    empty = {"works": 0, "sightings": 0, "matched_works": 0, "in_scope_works": 0, "events": 0, "retracted": 0}
    counts = store.counts() if store else empty
    runs = [
        {
            "id": r["id"],
            "started_at": r["started_at"],
            "finished_at": r["finished_at"],
            "status": r["status"],
            "counts": json.loads(r["counts"]),
            "errors": json.loads(r["errors"]),
        }
        for r in (store.recent_runs(5) if store else [])
    ]
    return {
        "database": str(settings.state.path),
        "papers": counts["works"],
        "works": counts["works"],
        "counts": counts,
        "sources": sources,
        "runs": runs,
    }


def _state(h: dict[str, Any]) -> str:
    if not h:
        return "never polled"
    if h.get("consecutive_failures", 0) > 0:
        return "failing"
    return "ok"


def print_status(data: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    console.print(f"Database: {data['database']}")
    c = data["counts"]
    console.print(
        f"Papers: {c['works']} works ({c['in_scope_works']} in scope), {c['sightings']} sightings, "
        f"{c['events']} lifecycle events, {c['retracted']} retracted"
    )
    table = Table(title="Sources")
    for column in ("source", "state", "cursor", "last success", "last error", "failures", "items"):
        table.add_column(column)
    for name, s in data["sources"].items():
        style = "red" if s["state"] == "failing" else None
        table.add_row(
            name,
            Text(s["state"], style=style or ""),
            s["cursor"] or "-",
            s["last_success_at"] or "-",
            Text((s["last_error"] or "-")[:80]),
            str(s["consecutive_failures"]),
            str(s["items_last_poll"]),
        )
    console.print(table)
    runs = Table(title="Recent runs")
    for column in ("run", "started", "status", "new", "errors"):
        runs.add_column(column)
    for r in data["runs"]:
        new = sum(v.get("new", 0) for v in r["counts"].values())
        runs.add_row(r["id"], r["started_at"], r["status"], str(new), str(len(r["errors"])))
    console.print(runs)
