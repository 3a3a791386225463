"""Shared pieces of the fault, crash and concurrency suites.

A *scenario* is one fixed set of recorded-style data: in-scope PubMed records
over two create dates plus an RSS feed that repeats some of them (by DOI) and
adds papers of its own. Every paper carries a DOI, so what reaches Slack or a
mailbox can be counted per paper by its DOI.

``final_state`` reads what a user would compare after the dust settles: the
works (by PMID/DOI), the (work, rule) matches, the PubMed cursor, and
SQLite's own integrity verdict.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from tests.e2e.conftest import Result, Workspace
from tests.paths import REPO
from tests.servers.eutils import EutilsServer, Record
from tests.servers.pubmed_records import CART_TITLES, article, cart_corpus
from tests.servers.slack import SlackServer
from tests.servers.smtp import Received, SmtpServer

TODAY = date.today()
RULES = str(REPO / "rules")
CHANNEL = "C0FAULTS"
FEED_PATH = "/blood.rss"
# Characters that hide or reorder text, or drive a terminal; none may reach a reader.
INVISIBLE = ("\u202e", "\u200b", "\u2066", "\x1b", "\x07")


def env_count(name: str, default: int) -> int:
    """How many seeded runs to do: ``$name`` if set (the full suite uses 50), else ``default``."""
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else default


def seeds(count_var: str, default: int, seed_var: str) -> list[int]:
    """``$seed_var`` (seeds to replay, comma-separated) or ``count`` seeds from a fixed base."""
    chosen = [int(s) for s in os.environ.get(seed_var, "").split(",") if s.strip().isdigit()]
    if chosen:
        return chosen
    return [1000 + i for i in range(env_count(count_var, default))]


def make_workspace(root: Path) -> Workspace:
    """Like the e2e ``workspace`` fixture, for any directory (module-scoped baselines need one)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NCBI_API_KEY", "SLACK_BOT_TOKEN", "SMTP_PASSWORD", "WATCHER_CONFIG")
    }
    env["PYTHONPATH"] = str(REPO)
    return Workspace(root, root / "watcher.toml", env)


# --- data -----------------------------------------------------------------------


def feed_doi(i: int) -> str:
    return f"10.1182/blood.2026.feed{i}"


def feed_item(title: str, doi: str) -> str:
    return (
        f"<item><title>{escape(title)}</title><link>https://doi.org/{doi}</link>"
        f'<guid isPermaLink="true">https://doi.org/{doi}</guid>'
        "<dc:creator>Maude SL</dc:creator><pubDate>Mon, 16 Nov 2026 08:00:00 GMT</pubDate></item>"
    )


def rss(items: Iterable[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Blood</title>'
        f"<link>https://ashpublications.org/blood</link>{''.join(items)}</channel></rss>"
    ).encode()


@dataclass(frozen=True)
class Scenario:
    records: list[Record]
    feed: bytes
    # DOI of every paper that must be delivered
    dois: tuple[str, ...]
    # what PubMed and the feed add later the same day
    later: tuple[Record, ...] = ()
    later_feed: bytes = b""


def scenario(pubmed_per_day: int = 6, feed_only: int = 3, shared: int = 3) -> Scenario:
    """PubMed papers on two create dates; a feed repeating ``shared`` of them and adding ``feed_only``."""
    day1 = cart_corpus(TODAY - timedelta(days=2), n=pubmed_per_day, first_pmid=41_100_000)
    day2 = cart_corpus(TODAY - timedelta(days=1), n=pubmed_per_day, first_pmid=41_200_000)
    records = [*day1, *day2]
    items = []
    for r in records[:shared]:
        title = CART_TITLES[(int(r.pmid) - 41_100_000) % len(CART_TITLES)]
        items.append(feed_item(title, f"10.1182/blood.2026.{r.pmid}"))
    for i in range(feed_only):
        title = f"{CART_TITLES[i % len(CART_TITLES)]} (feed-only report {i})"
        items.append(feed_item(title, feed_doi(i)))
    later = more_records(TODAY, 5, 41_300_000)
    later_items = [*items, feed_item(f"{CART_TITLES[3]} (late feed report)", feed_doi(99))]
    dois = tuple(
        [f"10.1182/blood.2026.{r.pmid}" for r in [*records, *later]]
        + [feed_doi(i) for i in range(feed_only)]
        + [feed_doi(99)]
    )
    return Scenario(records, rss(items), dois, tuple(later), rss(later_items))


def more_records(day: date, n: int, first_pmid: int) -> list[Record]:
    return [
        Record(
            str(first_pmid + i),
            day,
            article(
                str(first_pmid + i),
                f"{CART_TITLES[i % len(CART_TITLES)]} (update {first_pmid + i})",
                doi=f"10.1182/blood.2026.{first_pmid + i}",
            ),
        )
        for i in range(n)
    ]


# --- config -----------------------------------------------------------------------


def config(
    eutils: EutilsServer,
    *,
    feed_url: str | None = None,
    slack: SlackServer | None = None,
    smtp: SmtpServer | None = None,
    timeout: float = 2.0,
    max_retries: int = 3,
    batch_size: int = 500,
    extra: str = "",
) -> str:
    text = f"""
[pubmed]
base_url = "{eutils.url}"
email = "tests@example.org"
lookback_days = 5
max_retries = {max_retries}
timeout = {timeout}
batch_size = {batch_size}

[rules]
dir = "{RULES}"

[feed_options]
timeout = {timeout}
min_host_interval = 0
max_retries = 2
"""
    if feed_url:
        text += f'\n[[feeds]]\nname = "blood"\nurl = "{feed_url}"\n'
    if slack:
        text += (
            f'\n[slack]\nbase_url = "{slack.base_url}"\nchannel = "{CHANNEL}"\nmax_papers_per_message = 20\n'
        )
    if smtp:
        text += (
            f'\n[email]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\ntimeout = {timeout + 3}\n'
            'from = "watcher@lab.example.org"\nto = ["team@lab.example.org"]\n'
        )
    return text + extra


# --- running ------------------------------------------------------------------------


def spawn(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``watcher run`` (or any command) in the background, output discarded."""
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", *(args or ("run",)), "--config", str(ws.config)],
        cwd=ws.root,
        env={**ws.env, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_until_ok(ws: Workspace, env: dict[str, str], attempts: int = 8) -> list[Result]:
    """Rerun like the operator's timer would until a run exits 0; every run must exit 0 or 1."""
    results: list[Result] = []
    for _ in range(attempts):
        result = ws.watcher("run", env=env, timeout=240)
        results.append(result)
        assert result.returncode in (0, 1), f"exit {result.returncode}: {result.stderr[-2000:]}"
        if result.returncode == 0:
            return results
    raise AssertionError(f"no clean run after {attempts} tries; last stderr:\n{results[-1].stderr[-3000:]}")


# --- reading the outcome -------------------------------------------------------------


@dataclass(frozen=True)
class FinalState:
    works: frozenset[tuple[str, str]]
    matches: frozenset[tuple[str, str, str]]
    cursor: str | None
    integrity: str


def final_state(db: Path) -> FinalState:
    conn = sqlite3.connect(db)
    try:
        works = conn.execute("SELECT coalesce(pmid, ''), coalesce(doi, '') FROM works").fetchall()
        matches = conn.execute(
            "SELECT coalesce(w.pmid, ''), coalesce(w.doi, ''), m.rule_id FROM matches m "
            "JOIN works w ON w.id = m.work_id"
        ).fetchall()
        cursor = conn.execute("SELECT value FROM cursors WHERE source = 'pubmed'").fetchone()
        (integrity,) = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    return FinalState(
        frozenset(map(tuple, works)),
        frozenset(map(tuple, matches)),
        cursor[0] if cursor else None,
        integrity,
    )


def stored_pmids(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT value FROM identifiers WHERE kind = 'pmid'")}
    finally:
        conn.close()


def _mentions(text: str, doi: str) -> bool:
    return re.search(re.escape(doi) + r"(?![\w.])", text, re.IGNORECASE) is not None


def slack_posts_per_paper(slack: SlackServer, dois: Sequence[str]) -> Counter[str]:
    """How many stored Slack messages (channel posts and thread replies) carry each paper."""
    counts: Counter[str] = Counter({d: 0 for d in dois})
    for message in slack.messages(CHANNEL):
        body = str(message["blocks"])
        for doi in dois:
            if _mentions(body, doi):
                counts[doi] += 1
    return counts


def email_text(received: Received) -> str:
    parts = []
    for part in received.message.walk():
        if part.get_content_maintype() == "text":
            parts.append(str(part.get_content()))
    return "\n".join(parts)


def emails_per_paper(smtp: SmtpServer, dois: Sequence[str]) -> Counter[str]:
    """How many *distinct* digests (Message-IDs) carry each paper."""
    counts: Counter[str] = Counter({d: 0 for d in dois})
    seen: set[str] = set()
    for received in smtp.received:
        mid = str(received.message["Message-ID"])
        if mid in seen:
            continue
        seen.add(mid)
        text = email_text(received)
        for doi in dois:
            if _mentions(text, doi):
                counts[doi] += 1
    return counts


def message_ids(smtp: SmtpServer) -> Counter[str]:
    return Counter(str(r.message["Message-ID"]) for r in smtp.received)


# --- what a reader would be exposed to ----------------------------------------------


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def html_problems(html: str) -> list[str]:
    """Markup a paper could have smuggled in: scripts, event handlers, non-http links."""
    parser = Tags()
    parser.feed(html)
    problems = []
    for tag, attrs in parser.tags:
        if tag in ("script", "iframe", "img", "object", "embed", "svg", "form"):
            problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"{tag} {name}=")
            if name in ("href", "src") and not re.match(r"(https?://|mailto:)", value or "", re.I):
                problems.append(f"{tag} {name}={value!r}")
    problems += [f"invisible {ch!r}" for ch in INVISIBLE if ch in html]
    return problems


def _slack_texts(node: Any, out: list[tuple[str, str]]) -> None:
    """Every text object in Block Kit JSON as (type, text)."""
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            out.append((node["type"], node["text"]))
        for value in node.values():
            _slack_texts(value, out)
    elif isinstance(node, list):
        for value in node:
            _slack_texts(value, out)


def slack_problems(messages: list[dict[str, Any]]) -> list[str]:
    """What Slack would act on: mentions and links in mrkdwn (and the fallback text), invisible characters.

    plain_text objects are shown verbatim by Slack, so ``<`` is harmless there.
    """
    problems = []
    for message in messages:
        texts: list[tuple[str, str]] = [("mrkdwn", message["text"])]
        _slack_texts(message["blocks"], texts)
        for kind, text in texts:
            problems += [f"invisible {ch!r}" for ch in INVISIBLE if ch in text]
            if kind != "mrkdwn":
                continue
            for special in ("<!", "<@", "<#", "<script"):
                if special in text:
                    problems.append(f"{special} in {text[:80]!r}")
            for target in re.findall(r"<([^|>]*)[|>]", text):
                if not target.startswith(("http://", "https://")):
                    problems.append(f"link <{target}>")
    return problems
