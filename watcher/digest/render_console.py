"""Digest -> terminal (rich) and a standalone HTML file for the default sink.

Paper text goes into rich ``Text`` objects, never into markup strings, so a
title containing ``[bold red]`` or ``[link=...]`` prints literally.
"""

from __future__ import annotations

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from watcher.digest.render_email import EMPTY_MESSAGE, render_html
from watcher.digest.render_slack import coverage_text
from watcher.digest.text import (
    authors_short,
    clean,
    first_seen_note,
    followup_lead,
    paper_url,
    short_date,
    trim,
)
from watcher.models import Digest, DigestEntry


def _entry_text(n: int, entry: DigestEntry) -> Text:
    w = entry.work
    url = paper_url(w)
    out = Text(f"{n:>3}. ")
    out.append(trim(clean(w.title) or "(untitled)", 300), style=f"bold link {url}" if url else "bold")
    if entry.badge:
        out.append(f" [{entry.badge}]", style="yellow")
    facts = [trim(clean(w.journal), 80), short_date(w.pub_date), trim(authors_short(w.authors), 80)]
    out.append("\n     " + " · ".join(f for f in facts if f), style="dim")
    why = Text("\n     ")
    if entry.terms:
        why.append("matched ")
        for i, term in enumerate(entry.terms):
            why.append(", " if i else "")
            why.append(trim(clean(term), 40), style="bold cyan")
    rest = []
    if len(entry.topics) > 1:
        rest.append("also in " + ", ".join(trim(clean(t), 60) for t in entry.topics[1:]))
    note = first_seen_note(w)
    if note:
        rest.append(note)
    if rest:
        why.append((" · " if entry.terms else "") + " · ".join(rest), style="dim")
    if entry.terms or rest:
        out.append_text(why)
    if url:
        out.append(f"\n     {url}", style="blue")
    return out


def render_console(digest: Digest, console: Console) -> None:
    """Print the digest: topics as rules, numbered papers, updates, then coverage."""
    console.print(Text(clean(digest.title) or "Literature digest", style="bold"))
    total = sum(len(s.entries) for s in digest.sections)
    console.print(Text(f"{short_date(digest.created_at)} · {total} new paper(s)", style="dim"))
    if not digest.sections:
        console.print(Text(EMPTY_MESSAGE))
    n = 0
    for section in digest.sections:
        console.print(Rule(Text(f"{clean(section.topic_title)} ({len(section.entries)})"), align="left"))
        for entry in section.entries:
            n += 1
            console.print(_entry_text(n, entry))
    if digest.followups:
        console.print(Rule(Text("Updates to papers already shared"), align="left"))
        for f in digest.followups:
            line = Text(f"{followup_lead(f)}: ", style="bold red" if f.event.kind == "retracted" else "bold")
            line.append(trim(clean(f.work.title), 300))
            console.print(line)
    console.print(Rule())
    console.print(Text(coverage_text(digest.coverage), style="dim"))


def render_html_file(digest: Digest) -> str:
    """A self-contained HTML page of the digest (the email body works in any browser)."""
    return render_html(digest)
