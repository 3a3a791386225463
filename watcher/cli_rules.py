"""`watcher rules check|test|query|eval` and `watcher match`: the rule engine's commands.

Thin: each handler loads the rule set, calls one function of ``watcher.rules``
and prints (rich for people, JSON lines for scripts). A RuleError becomes
its message and exit code 2; a failing example or a bad input line, exit 1.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watcher.errors import RuleError, WatcherError

if TYPE_CHECKING:
    # rich and the models load only when a rules command runs, so `watcher --help` starts fast
    from rich.console import Console

    from watcher.models import MatchResult, Paper

Common = Callable[[argparse.ArgumentParser], None]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], common: Common) -> None:
    rules = subparsers.add_parser(
        "rules",
        help="check, test, compile and evaluate the topic rules",
        description="Work with the topic rule files (settings: [rules] dir).",
    )
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="RULES_COMMAND", required=True)

    check = rules_sub.add_parser(
        "check",
        help="validate every rule file",
        description="Report every error and warning in the rule files.",
    )
    common(check)
    check.set_defaults(func=cmd_check)

    test = rules_sub.add_parser(
        "test",
        help="run every rule's must_match / must_not_match examples",
        description="Match each rule's examples and report the ones that disagree.",
    )
    common(test)
    test.set_defaults(func=cmd_test)

    query = rules_sub.add_parser(
        "query",
        help="print the PubMed search term of a rule (or of the poller)",
        description="Print a rule's PubMed term (topic rules include the scope), or with --all the poller's union.",
    )
    common(query)
    query.add_argument("rule_id", nargs="?", metavar="ID", help="rule id")
    query.add_argument("--all", action="store_true", help="the union the poller fetches")
    query.set_defaults(func=cmd_query)

    ev = rules_sub.add_parser(
        "eval",
        help="precision and recall of each rule against labelled records",
        description='LABELS is JSON lines {"id","title",...,"scope":"core"|"adjacent"|"out","topics":[...]}.',
    )
    common(ev)
    ev.add_argument("labels", type=Path, metavar="LABELS")
    ev.add_argument("--json", type=Path, metavar="OUT", help="also write the scores as JSON to OUT")
    ev.add_argument(
        "--strict-scope",
        action="store_true",
        help='count only "core" labels as in scope (default: core+adjacent)',
    )
    ev.set_defaults(func=cmd_eval)

    match = subparsers.add_parser(
        "match",
        help="match records from a file against the rules",
        description="FILE is PubMed XML (.xml, .xml.gz) or JSON lines "
        '{"id","title","abstract"?,"journal"?,"mesh"?,"pubtypes"?,"keywords"?}.',
    )
    common(match)
    match.add_argument("file", type=Path, metavar="FILE")
    match.add_argument("--format", choices=["jsonl", "table"], default="jsonl", help="output format")
    match.set_defaults(func=cmd_match)


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _rules_dir(args: argparse.Namespace) -> Path:
    from watcher.config import load_settings

    return load_settings(getattr(args, "config", None)).rules.dir


def _fail(err: WatcherError) -> int:
    from rich.text import Text

    _console(stderr=True).print(Text(f"watcher: error: {err}", style="red"))
    return err.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    from rich.text import Text

    from watcher.rules.ruleset import check_ruleset

    try:
        problems = check_ruleset(_rules_dir(args))
    except WatcherError as e:
        return _fail(e)
    out = _console()
    for p in problems:
        out.print(Text(str(p), style="red" if p.severity == "error" else "yellow"))
        out.print()
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    out.print(Text(f"{errors} error(s), {warnings} warning(s)", style="bold"))
    return 2 if errors else 0


def cmd_test(args: argparse.Namespace) -> int:
    from rich.text import Text

    from watcher.rules.ruleset import load_ruleset, run_examples

    try:
        results = run_examples(load_ruleset(_rules_dir(args)))
    except WatcherError as e:
        return _fail(e)
    out = _console()
    failed = [r for r in results if not r.passed]
    for r in failed:
        want = "match" if r.expected else "no match"
        got = "match" if r.got else "no match"
        scope = "" if r.in_scope else " (the example is not in scope)"
        out.print(Text(f"FAIL {r.rule_id} {r.kind} ({r.path}:{r.line}): {r.title}", style="red"))
        out.print(Text(f"  expected {want}, got {got}{scope}"))
        out.print(Text(f"  clauses that fired: {', '.join(r.clauses) or 'none'}"))
    out.print(Text(f"{len(results) - len(failed)} passed, {len(failed)} failed", style="bold"))
    return 1 if failed else 0


def cmd_query(args: argparse.Namespace) -> int:
    from watcher.rules.ruleset import load_ruleset

    if bool(args.all) == bool(args.rule_id):
        return _fail(RuleError("give a rule ID or --all (not both)"))
    try:
        ruleset = load_ruleset(_rules_dir(args))
        term = ruleset.pubmed_term() if args.all else ruleset.rule_pubmed_term(args.rule_id)
    except WatcherError as e:
        return _fail(e)
    print(term)
    return 0


def _read_records(path: Path, errors: list[str]) -> Iterator[Paper]:
    """Papers from PubMed XML or JSON lines; bad JSON lines become messages in ``errors``."""
    from watcher.models import Paper
    from watcher.rules.records import paper_from_json

    name = path.name.lower()
    if name.endswith((".xml", ".xml.gz")):
        from watcher.models import RecordError
        from watcher.sources.pubmed_xml import iter_pubmed_xml

        for item in iter_pubmed_xml(path):
            if isinstance(item, Paper):
                yield item
            elif isinstance(item, RecordError):
                errors.append(f"{path}: record {item.pmid or '?'}: {item.message}")
        return
    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise RuleError(f"cannot read {path}: {e.strerror}") from e
    with handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield paper_from_json(json.loads(line))
            except (json.JSONDecodeError, RuleError, UnicodeDecodeError) as e:
                errors.append(f"{path}:{n}: bad record: {e}")


def _labels(path: Path, errors: list[str]) -> Iterator[tuple[Paper, Any]]:
    from watcher.rules.evaluation import labelled_record

    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise RuleError(f"cannot read {path}: {e.strerror}") from e
    with handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield labelled_record(json.loads(line))
            except (json.JSONDecodeError, RuleError) as e:
                errors.append(f"{path}:{n}: bad label: {e}")


def _why(result: MatchResult) -> dict[str, list[str]]:
    return {h.rule_id: list(h.terms or h.clauses) for h in result.hits}


def cmd_match(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from watcher.rules.evaluate import Matcher
    from watcher.rules.ruleset import load_ruleset

    errors: list[str] = []
    bad = 0
    err = _console(stderr=True)
    table = Table("id", "in scope", "rules", "score", "why") if args.format == "table" else None
    try:
        matcher = Matcher(load_ruleset(_rules_dir(args)))
        for paper in _read_records(args.file, errors):
            while errors:
                bad += 1
                err.print(Text(errors.pop(0), style="red"))
            result = matcher.match(paper)
            topics = [h.rule_id for h in result.hits if h.rule_id != "scope"]
            rid = paper.pmid or paper.source_id
            if table is not None:
                why = "; ".join(f"{k}: {', '.join(v)}" for k, v in _why(result).items())
                table.add_row(
                    Text(rid),
                    "yes" if result.in_scope else "no",
                    Text(", ".join(topics)),
                    f"{result.score:g}",
                    Text(why),
                )
            else:
                line = {
                    "id": rid,
                    "in_scope": result.in_scope,
                    "rules": topics,
                    "score": result.score,
                    "why": _why(result),
                }
                print(json.dumps(line, ensure_ascii=False), flush=True)
    except WatcherError as e:
        return _fail(e)
    for message in errors:
        err.print(Text(message, style="red"))
    if table is not None:
        _console().print(table)
    return 1 if bad or errors else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from watcher.rules.evaluate import Matcher
    from watcher.rules.evaluation import DEFAULT_IN_SCOPE, score_rules
    from watcher.rules.ruleset import load_ruleset

    errors: list[str] = []
    try:
        ruleset = load_ruleset(_rules_dir(args))
        matcher = Matcher(ruleset)
        pairs = [(label, matcher.match(paper)) for paper, label in _labels(args.labels, errors)]
    except WatcherError as e:
        return _fail(e)
    in_scope = ("core",) if args.strict_scope else DEFAULT_IN_SCOPE
    scores = score_rules(pairs, [r.id for r in ruleset.topics], in_scope)
    err = _console(stderr=True)
    for message in errors:
        err.print(Text(message, style="red"))
    table = Table("rule", "tp", "fp", "fn", "precision", "recall", title=f"{len(pairs)} labelled records")
    for s in scores:
        table.add_row(Text(s.rule_id), str(s.tp), str(s.fp), str(s.fn), _pct(s.precision), _pct(s.recall))
    _console().print(table)
    if args.json:
        payload = {
            "records": len(pairs),
            "in_scope_labels": list(in_scope),
            "rules": [s.as_dict() for s in scores],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 1 if errors else 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
