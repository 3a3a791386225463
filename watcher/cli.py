"""The `watcher` command: thin handlers that build the app, call one function, print.

Heavy modules are imported inside handlers so `watcher --help` stays instant.
Exit codes: 0 ok, 1 a source or sink failed (the rest still ran), 2 bad
config or rules, 75 another run holds the lock.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from watcher import __version__, cli_rules
from watcher.errors import WatcherError

if TYPE_CHECKING:
    from watcher.app import App
    from watcher.models import RunReport


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="PATH", help="watcher.toml to use (default: $WATCHER_CONFIG, then ./watcher.toml)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher",
        description="Literature monitoring for CAR-T cell therapy in B-cell ALL: "
        "PubMed and journal feeds, matched against topic rules, delivered as digests.",
    )
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    parser.add_argument(
        "--log-format", choices=["text", "json"], help="log line format (default from config)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="poll every source once (or backfill a date range) and show what is new",
        description="Poll PubMed since the stored cursor (or backfill --since/--until), store, match and report.",
    )
    _common(run)
    run.add_argument(
        "--since", type=_date, metavar="YYYY-MM-DD", help="backfill from this PubMed create date"
    )
    run.add_argument(
        "--until", type=_date, metavar="YYYY-MM-DD", help="backfill up to this date (default today)"
    )
    run.add_argument("--dry-run", action="store_true", help="fetch and report, but write nothing")
    run.add_argument("--json", action="store_true", help="print the run report as JSON")
    run.add_argument("--no-deliver", action="store_true", help="poll and store, but send no digest")
    run.add_argument(
        "--rematch",
        action="store_true",
        help="re-evaluate every stored paper against the current rules first",
    )
    run.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for another run to finish"
    )
    run.set_defaults(func=cmd_run)

    digest = sub.add_parser(
        "digest",
        help="preview or send the pending digests",
        description="Show exactly what each sink would receive (--preview), or send what is pending (--send).",
    )
    _common(digest)
    mode = digest.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--preview", action="store_true", help="print what would be sent; send and mark nothing"
    )
    mode.add_argument("--send", action="store_true", help="send what is pending to every configured sink")
    digest.add_argument(
        "--sink", action="append", metavar="NAME", help="only this sink (console, email, slack:CHANNEL)"
    )
    digest.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait for another run's lock"
    )
    digest.set_defaults(func=cmd_digest)

    imp = sub.add_parser(
        "import",
        help="store and match a PubMed XML file (an export, or a baseline/update file)",
        description="Import every record of a PubMed XML file (.xml or .xml.gz) into the database and "
        "match it against the rules; nothing is sent until the next run or digest --send.",
    )
    _common(imp)
    imp.add_argument(
        "file", metavar="FILE", help="PubMed XML (.xml or .xml.gz), e.g. saved from PubMed or EFetch"
    )
    imp.add_argument("--json", action="store_true", help="print the import report as JSON")
    imp.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait for another run's lock")
    imp.set_defaults(func=cmd_import)

    serve = sub.add_parser(
        "serve",
        help="run the schedule: poll, send digests, alert on broken sources (stop with SIGTERM)",
        description="Poll and deliver on the cron schedule in [schedule]; "
        "SIGTERM or Ctrl-C stops after the job in progress has finished.",
    )
    _common(serve)
    serve.set_defaults(func=cmd_serve)

    status = sub.add_parser(
        "status",
        help="show sources, cursors, paper counts and recent runs",
        description="Show the stored state.",
    )
    _common(status)
    status.add_argument("--json", action="store_true", help="print machine-readable status")
    status.set_defaults(func=cmd_status)

    cli_rules.register(sub, _common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except WatcherError as e:
        from watcher.logs import current_secrets, redact

        print(f"watcher: error: {redact(str(e), current_secrets())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("watcher: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `watcher match x.xml | head`); that is not an error.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _app(args: argparse.Namespace) -> App:
    from watcher.app import App
    from watcher.config import load_settings
    from watcher.logs import setup_logging

    settings = load_settings(getattr(args, "config", None))
    setup_logging(
        "DEBUG" if args.verbose else settings.log.level, (args.log_format or settings.log.format) == "json"
    )
    for warning in settings.warnings:
        print(f"watcher: warning: {warning}", file=sys.stderr)
    return App(settings)


def cmd_run(args: argparse.Namespace) -> int:
    from watcher.lock import run_lock
    from watcher.logs import new_run_id, set_run_id
    from watcher.pipeline import run_once

    app = _app(args)
    run_id = new_run_id()
    set_run_id(run_id)
    try:
        _ = app.matcher  # a broken rule set stops the run before anything is fetched
        with run_lock(app.settings.state.path, wait=args.wait):
            rematch = None
            if args.rematch and not args.dry_run:
                from watcher.pipeline import rematch_all

                rematch = rematch_all(app, datetime.now(UTC))
            progress, finish = _progress(enabled=args.since is not None and not args.json)
            try:
                report = run_once(
                    app,
                    datetime.now(UTC),
                    run_id,
                    since=args.since,
                    until=args.until,
                    dry_run=args.dry_run,
                    progress=progress,
                )
            finally:
                finish()
            deliveries = []
            if not args.dry_run and not args.no_deliver:
                from rich.console import Console

                from watcher.delivery import deliver

                # With --json, stdout carries only the JSON report.
                console = Console(stderr=args.json, highlight=False)
                deliveries = deliver(app, datetime.now(UTC), console=console)
            if not args.dry_run:
                from watcher.health import send_alerts, transitions

                h = app.settings.health
                send_alerts(
                    app,
                    transitions(app.store.health(), h.failure_threshold, h.silent_days, datetime.now(UTC)),
                )
            if args.json:
                data = _report_json(report)
                data["deliveries"] = [_delivery_json(d) for d in deliveries]
                if rematch is not None:
                    data["rematch"] = rematch
                print(json.dumps(data, indent=2))
            else:
                if rematch is not None:
                    _print_rematch(rematch)
                _print_report(app, report, delivered=bool(deliveries))
                _print_deliveries(deliveries)
    finally:
        app.close()
    ok = report.ok and not any(d.status == "failed" for d in deliveries)
    return 0 if ok else 1


def cmd_digest(args: argparse.Namespace) -> int:
    from rich.console import Console

    from watcher.delivery import deliver
    from watcher.lock import run_lock

    app = _app(args)
    try:
        if args.preview:
            # A preview writes nothing, so it needs no lock.
            results = deliver(app, datetime.now(UTC), only=args.sink, preview=True)
            for r in results:
                print(f"=== {r.sink}: {r.papers} paper(s), {r.followups} follow-up(s) ===")
                print(r.preview)
            return 0
        with run_lock(app.settings.state.path, wait=args.wait):
            results = deliver(app, datetime.now(UTC), only=args.sink, console=Console(highlight=False))
        _print_deliveries(results)
    finally:
        app.close()
    return 1 if any(r.status == "failed" for r in results) else 0


def _delivery_json(d: Any) -> dict[str, Any]:
    return {
        "sink": d.sink,
        "status": d.status,
        "papers": d.papers,
        "followups": d.followups,
        "resolved_pending": d.resolved,
        "external_id": d.external_id,
        "error": d.error,
    }


def _print_deliveries(results: Sequence[Any]) -> None:
    for r in results:
        if r.status == "sent":
            print(f"delivered to {r.sink}: {r.papers} paper(s), {r.followups} follow-up(s) [{r.external_id}]")
        elif r.status == "failed":
            print(f"watcher: delivery to {r.sink} failed (it will be retried): {r.error}", file=sys.stderr)
        elif r.resolved:
            print(f"{r.sink}: resolved {r.resolved} pending digest(s)")


def _print_rematch(rematch: dict[str, Any]) -> None:
    print(
        f"rematched {rematch['works']} stored paper(s): "
        f"{len(rematch['gained'])} new match(es), {len(rematch['lost'])} lost"
    )
    for item in rematch["gained"][:50]:
        print(f"  + {item['rule']}: {item['title']}")
    for item in rematch["lost"][:50]:
        print(f"  - {item['rule']}: {item['title']}")


def _progress(enabled: bool) -> tuple[Any, Callable[[], None]]:
    if not enabled or not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import Progress as Bar

    bar = Bar(transient=True)
    bar.start()
    tasks: dict[str, Any] = {}

    def update(p: Any) -> None:
        if p.window not in tasks:
            tasks[p.window] = bar.add_task(f"PubMed {p.window}", total=p.total or None)
        bar.update(tasks[p.window], completed=p.done)

    return update, bar.stop


def _report_json(report: RunReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "ok": report.ok,
        "dry_run": report.dry_run,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "sources": {
            name: {
                "fetched": s.fetched,
                "new": s.new,
                "updated": s.updated,
                "errors": s.errors,
                "warnings": s.warnings,
                "failed_windows": [list(w) for w in s.failed_windows],
            }
            for name, s in report.sources.items()
        },
        "new_work_ids": report.new_work_ids,
    }


def _print_report(app: App, report: RunReport, delivered: bool) -> None:
    from watcher.report import print_new_papers, print_run_summary

    # With rules, the digest shows what is new; without them, list the raw new records.
    if not report.dry_run and not (delivered and app.matcher is not None):
        print_new_papers(app, report)
    print_run_summary(report)


def cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from watcher.errors import ConfigError
    from watcher.importer import import_pubmed_xml
    from watcher.lock import run_lock
    from watcher.logs import new_run_id
    from watcher.pipeline import iso

    path = Path(args.file)
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    app = _app(args)
    try:
        matcher = app.matcher
        with run_lock(app.settings.state.path, wait=args.wait):
            report = import_pubmed_xml(
                path,
                app.store,
                iso(datetime.now(UTC)),
                run_id=new_run_id(),
                match=matcher.match if matcher else None,
            )
    finally:
        app.close()
    summary = {
        "file": str(path),
        "records": report.records,
        "new": report.new,
        "updated": report.updated,
        "skipped": report.skipped,
        "deleted": report.deleted,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"imported {report.records} record(s) from {path}: {report.new} new, {report.updated} updated")
        for line in report.skipped:
            print(f"skipped {line}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from watcher.scheduler import serve

    app = _app(args)
    settings = app.settings
    _ = app.matcher  # refuse to start with a broken rule set
    app.close()
    return serve(settings)


def cmd_status(args: argparse.Namespace) -> int:
    from watcher.config import load_settings
    from watcher.report import print_status, status_data
    from watcher.store import Store

    # Reading only: no App, no migrations, no sqlite-utils; a missing database stays missing.
    settings = load_settings(args.config)
    for warning in settings.warnings:
        print(f"watcher: warning: {warning}", file=sys.stderr)
    store = Store.open_readonly(settings.state.path)
    try:
        data = status_data(settings, store)
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print_status(data)
    return 0
