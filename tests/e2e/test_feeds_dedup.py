"""One work per paper across sources, end to end through `watcher run`.

Fifty papers appear in an RSS feed, an Atom feed and PubMed, identified in
every way publishers do it: DOI in different case, doi.org vs publisher
links, prism:doi, dc:identifier, no GUID, no identifier at all, PMID only
later. They must end as exactly fifty works, each with all its sightings,
and a retraction notice arriving later must produce one event on the right
work.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from xml.sax.saxutils import escape

from tests.e2e.conftest import Workspace, pubmed_config
from tests.servers.eutils import EutilsServer, Record
from tests.servers.feeds import FeedServer
from tests.servers.pubmed_records import article

TODAY = date.today()
N = 50
AUTHORS = ["Maude", "Grupp", "Park", "Shah", "Roddie", "Gardner", "Frey", "Pasquini", "Schultz", "Laetsch"]


def doi(i: int) -> str:
    return f"10.1182/blood.2026.{1000 + i}"


def pmid(i: int) -> str:
    return str(43_000_000 + i)


def title(i: int) -> str:
    return f"Outcome study number {i} of CD19 CAR T-cell therapy in relapsed pediatric leukemia"


def rss_item(i: int) -> str:
    """Feed A (RSS 2.0): five ways of carrying, or not carrying, the DOI."""
    t, d, who = escape(title(i)), doi(i), AUTHORS[i % len(AUTHORS)]
    date_line = "<pubDate>Mon, 16 Nov 2026 08:00:00 GMT</pubDate>"
    creator = f"<dc:creator>{who} A</dc:creator>"
    kind = i % 5
    if kind == 0:
        ident = f'<guid isPermaLink="true">https://doi.org/{d.upper()}</guid>'
        link = f"<link>https://ashpublications.org/blood/article/doi/{d.upper()}/12345</link>"
    elif kind == 1:
        ident, link = "", f"<link>https://doi.org/{d}</link>"
    elif kind == 2:
        ident = f'<guid isPermaLink="false">blood-item-{i}</guid><prism:doi>{d}</prism:doi>'
        link = f"<link>https://ashpublications.org/blood/article/{i}</link>"
    elif kind == 3:
        ident, link = f"<dc:identifier>doi:{d}</dc:identifier>", f"<link>https://example.org/a/{i}</link>"
    else:  # no identifier at all: only title, first author and year can link it
        ident, link = "", ""
    return f"<item><title>{t}</title>{link}{ident}{creator}{date_line}</item>"


def atom_entry(i: int) -> str:
    """Feed B (Atom): publisher /doi/full/ links and upper-case doi.org ids."""
    t, d = escape(title(i)), doi(i)
    if i % 2:
        ident, link = f"<id>https://DOI.ORG/{d.upper()}</id>", f'<link href="https://doi.org/{d}"/>'
    else:
        ident = f"<id>urn:uuid:feedb-{i}</id>"
        link = f'<link href="https://onlinelibrary.wiley.com/doi/full/{d}"/>'
    who = AUTHORS[i % len(AUTHORS)]
    return (
        f"<entry><title>{t}</title>{ident}{link}<updated>2026-11-17T00:00:00Z</updated>"
        f"<author><name>{who} A</name></author></entry>"
    )


def rss(items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">'
        f"<channel><title>Blood</title><link>https://ashpublications.org/blood</link>{items}</channel></rss>"
    ).encode()


def atom(entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Leukemia Letters</title><id>urn:feedb</id><updated>2026-11-17T00:00:00Z</updated>{entries}</feed>"
    ).encode()


def pubmed_record(i: int, with_doi: bool = True) -> Record:
    xml = article(
        pmid(i),
        title(i),
        doi=doi(i) if with_doi else None,
        authors=((AUTHORS[i % len(AUTHORS)], "A"),),
        year=2026,
    )
    return Record(pmid(i), TODAY - timedelta(days=1), xml)


def rows(ws: Workspace, sql: str, *params: object) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(ws.db) as conn:
        return conn.execute(sql, params).fetchall()


def test_fifty_papers_across_two_feeds_and_pubmed_end_as_fifty_works_with_every_sighting(
    workspace: Workspace,
) -> None:
    with FeedServer() as feeds:
        feeds.serve("/blood.rss", rss("".join(rss_item(i) for i in range(0, 35))))
        feeds.serve(
            "/letters.atom",
            atom("".join(atom_entry(i) for i in range(15, N))),
            content_type="application/atom+xml",
        )
        extra = (
            f"\n[feed_options]\nmin_host_interval = 0.1\n"
            f'\n[[feeds]]\nname = "blood"\nurl = "{feeds.url("/blood.rss")}"\n'
            f'\n[[feeds]]\nname = "letters"\nurl = "{feeds.url("/letters.atom")}"\n'
        )
        # Day 1: PubMed knows papers 0-29 (10-19 without a DOI yet); the feeds know most of them.
        day1 = [pubmed_record(i, with_doi=not 10 <= i < 20) for i in range(30)]
        with EutilsServer(day1) as server:
            workspace.write_config(pubmed_config(server.url, extra=extra))
            first = workspace.watcher("run", "--json", "--no-deliver")
            assert first.returncode == 0, first.stderr
        # Day 2: PubMed indexes the rest (PMID only later), papers 10-19 now with their DOI.
        day2 = [pubmed_record(i) for i in range(N)]
        with EutilsServer(day2) as server:
            workspace.write_config(pubmed_config(server.url, extra=extra))
            second = workspace.watcher("run", "--json", "--no-deliver")
            assert second.returncode == 0, second.stderr

    assert rows(workspace, "SELECT count(*) FROM works") == [(N,)]
    per_work = dict(rows(workspace, "SELECT work_id, count(*) FROM sightings GROUP BY work_id"))
    for i in range(N):
        (work_id,) = rows(
            workspace, "SELECT work_id FROM identifiers WHERE kind = 'pmid' AND value = ?", pmid(i)
        )[0]
        expected = 1 + (i < 35) + (15 <= i < N)
        assert per_work[work_id] == expected, f"paper {i}: {per_work[work_id]} sightings, expected {expected}"
        (stored_doi,) = rows(workspace, "SELECT doi FROM works WHERE id = ?", work_id)[0]
        assert stored_doi == doi(i)
    # The feed saw papers 0-34 on day 1, before PubMed had 30-34: they were first seen in the feed.
    first_sources = dict(rows(workspace, "SELECT pmid, first_seen_source FROM works"))
    assert first_sources[pmid(32)] == "feed:blood"

    # Later, a retraction notice names paper 7.
    notice = Record(
        "43999999",
        TODAY,
        article(
            "43999999",
            f"Retraction Note: {title(7)}",
            pubtypes=("Retraction of Publication",),
            retraction_of=pmid(7),
        ),
    )
    with EutilsServer([*day2, notice]) as server:
        workspace.write_config(pubmed_config(server.url))
        third = workspace.watcher("run", "--json", "--no-deliver")
        assert third.returncode == 0, third.stderr
    events = rows(
        workspace,
        "SELECT e.kind, w.pmid FROM events e JOIN works w ON w.id = e.work_id WHERE e.kind = 'retracted'",
    )
    assert events == [("retracted", pmid(7))]
    (retracted,) = rows(workspace, "SELECT retracted FROM works WHERE pmid = ?", pmid(7))[0]
    assert retracted == 1
