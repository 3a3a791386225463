"""Digest -> Slack Block Kit messages, split to stay inside Slack's limits.

Slack rejects (does not truncate) a message with more than 50 blocks, a
header over 150 characters, a section over 3,000 characters, and answers
``msg_blocks_too_long`` once the serialized blocks pass roughly 13k
characters. Papers are packed greedily into messages under all of these with
margin; the first message has the header, the later ones say
"(continued, 2/3)" and are meant to be posted in the first one's thread.
The coverage footer goes on the last message.

Follow-ups that have a thread (the message that first announced the paper)
are rendered one by one with ``render_slack_followup`` and posted as replies
there; follow-ups without one are listed in the digest itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from watcher.digest.text import (
    authors_short,
    clean,
    first_seen_note,
    followup_lead,
    paper_url,
    short_date,
    slack_escape,
    slack_link,
    source_label,
    trim,
)
from watcher.models import Digest, DigestEntry, DigestSection, FollowUp, SourceCoverage

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_CONTEXT = 3000
# Slack's msg_blocks_too_long starts near 13k; stay well clear of it.
BLOCKS_BUDGET = 11_000
# Header/context at the top and the coverage footer at the bottom of a message.
RESERVED_BLOCKS = 4
RESERVED_CHARS = 2_500
MAX_FOOTER = 1_500
MAX_FALLBACK = 3_000
DIGEST_EVENT = "watcher_digest"
FOLLOWUP_EVENT = "watcher_followup"

Block = dict[str, Any]


@dataclass(frozen=True)
class SlackMessage:
    """One chat.postMessage payload: fallback text, blocks and message metadata."""

    text: str
    blocks: list[Block]
    metadata: dict[str, Any]
    # The works announced in this message, so the sender can record where each went.
    work_ids: tuple[int, ...] = field(default=())


def _mrkdwn(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": trim(text, MAX_CONTEXT)}]}


def _size(blocks: list[Block]) -> int:
    return len(json.dumps(blocks, ensure_ascii=False))


def paper_text(entry: DigestEntry, *, title_limit: int = 300) -> str:
    """The mrkdwn for one paper: linked title and badge, facts, and why it is here."""
    w = entry.work
    title = slack_link(paper_url(w), trim(clean(w.title) or "(untitled)", title_limit))
    first = f"*{title}*"
    if entry.badge:
        first += f"  `{slack_escape(entry.badge)}`"
    facts = [
        slack_escape(trim(clean(w.journal), 80)),
        slack_escape(short_date(w.pub_date)),
        slack_escape(trim(authors_short(w.authors), 80)),
    ]
    lines = [first, " · ".join(f for f in facts if f)]
    why: list[str] = []
    if entry.terms:
        # The term is escaped before it is bolded: a "*" in it cannot end the bold early.
        terms = ", ".join(f"*{slack_escape(trim(t, 40)).replace('*', '')}*" for t in entry.terms)
        why.append(f"matched {terms}")
    if len(entry.topics) > 1:
        why.append("also in " + ", ".join(slack_escape(trim(t, 60)) for t in entry.topics[1:]))
    note = first_seen_note(w)
    if note:
        why.append(slack_escape(note))
    if why:
        lines.append(" · ".join(why))
    text = "\n".join(line for line in lines if line)
    if len(text) > MAX_SECTION:
        # Only pathological input (thousands of escaped characters) gets here.
        return paper_text(DigestEntry(w, entry.score, (), (), entry.badge), title_limit=150)[:MAX_SECTION]
    return text


def _section_title(section: DigestSection, continued: bool) -> Block:
    n = len(section.entries)
    label = f"*{slack_escape(trim(section.topic_title, 120))}*"
    suffix = " (continued)" if continued else f" · {n} paper{'s' if n != 1 else ''}"
    return _mrkdwn(label + suffix)


def followup_text(followup: FollowUp) -> str:
    w = followup.work
    title = slack_link(paper_url(w), trim(clean(w.title) or "(untitled)", 300))
    icon = ":warning: " if followup.event.kind in ("retracted", "expression_of_concern") else ""
    text = f"{icon}*{slack_escape(followup_lead(followup))}:* {title}"
    headline = clean(followup.headline)
    if headline and headline.lower() != followup_lead(followup).lower():
        text += f"\n{slack_escape(trim(headline, 300))}"
    return text[:MAX_SECTION]


def coverage_lines(coverage: tuple[SourceCoverage, ...]) -> list[str]:
    """``Sources: 5 of 6 polled``, ``new: PubMed 14, Blood feed 3``, ``failing: ...``, ``silent: ...``."""
    if not coverage:
        return ["No sources were polled."]
    polled = [c for c in coverage if c.polled]
    lines = [f"Sources: {len(polled)} of {len(coverage)} polled"]
    new = [f"{source_label(c.source)} {c.new_records}" for c in coverage if c.new_records]
    lines.append("new: " + (", ".join(new) if new else "none"))
    failing = [
        source_label(c.source) + (f" ({trim(clean(c.last_error), 80)})" if c.last_error else "")
        for c in coverage
        if c.failing
    ]
    if failing:
        lines.append("failing: " + ", ".join(failing))
    silent = [source_label(c.source) for c in coverage if c.silent and not c.failing]
    if silent:
        lines.append("silent: " + ", ".join(silent))
    return [clean(line) for line in lines]


def coverage_text(coverage: tuple[SourceCoverage, ...]) -> str:
    return " · ".join(coverage_lines(coverage))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def render_slack(digest: Digest, digest_key: str, max_papers_per_message: int = 15) -> list[SlackMessage]:
    """The digest as one or more messages; every paper appears in exactly one of them."""
    per_message = max(1, min(max_papers_per_message, MAX_BLOCKS - RESERVED_BLOCKS))
    chunks: list[tuple[list[Block], list[int]]] = []
    blocks: list[Block] = []
    ids: list[int] = []
    size = 0
    items = 0

    def close() -> None:
        nonlocal blocks, ids, size, items
        if blocks:
            chunks.append((blocks, ids))
        blocks, ids, size, items = [], [], 0, 0

    def add(unit: list[Block], work_id: int | None, lead: list[Block], cont: list[Block]) -> None:
        """Append ``lead + unit`` to the current message, or ``cont + unit`` to a fresh one."""
        nonlocal size, items
        # Follow-ups (work_id None) are short and do not count against the paper cap.
        unit_size = _size(lead + unit) + 2
        fits = (
            (work_id is None or items < per_message)
            and len(blocks) + len(lead) + len(unit) <= MAX_BLOCKS - RESERVED_BLOCKS
            and size + unit_size <= BLOCKS_BUDGET - RESERVED_CHARS
        )
        if blocks and not fits:
            close()
            lead = cont
            unit_size = _size(lead + unit) + 2
        blocks.extend(lead + unit)
        size += unit_size
        if work_id is not None:
            items += 1
            ids.append(work_id)

    for section in digest.sections:
        for i, entry in enumerate(section.entries):
            lead = [_section_title(section, continued=False)] if i == 0 else []
            if blocks and i == 0:
                lead = [{"type": "divider"}, *lead]
            # In a fresh message the section title is repeated so the part reads on its own.
            cont = [_section_title(section, continued=i > 0)]
            add([_mrkdwn(paper_text(entry))], entry.work.work_id, lead, cont)

    inline = [f for f in digest.followups if f.thread is None]
    for i, f in enumerate(inline):
        title = _mrkdwn("*Updates to papers already shared*")
        lead = [title] if i == 0 else []
        if blocks and i == 0:
            lead = [{"type": "divider"}, *lead]
        add([_mrkdwn(followup_text(f))], None, lead, [title])
    close()
    if not chunks:
        chunks.append(([_mrkdwn("No new papers today.")], []))

    n = len(chunks)
    total = sum(len(s.entries) for s in digest.sections)
    header = trim(clean(digest.title) or "Literature digest", MAX_HEADER)
    summary = f"{_count(total, 'new paper')} in {_count(len(digest.sections), 'topic')}"
    if digest.followups:
        summary += f" · {_count(len(digest.followups), 'update')}"
    date = short_date(digest.created_at)
    messages: list[SlackMessage] = []
    for part, (body, work_ids) in enumerate(chunks, start=1):
        top: list[Block]
        if part == 1:
            intro = f"{summary} · {date}" if date else summary
            if n > 1:
                intro += f" · part 1/{n}, the rest is in the thread"
            top = [
                {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
                _context(slack_escape(intro)),
            ]
        else:
            top = [_context(slack_escape(f"{header} (continued, {part}/{n})"))]
        bottom = (
            [_context(slack_escape(trim(coverage_text(digest.coverage), MAX_FOOTER)))] if part == n else []
        )
        all_blocks = top + body + bottom
        fallback = _fallback(header, summary, part, n, digest, set(work_ids))
        messages.append(
            SlackMessage(
                text=fallback,
                blocks=all_blocks,
                metadata={
                    "event_type": DIGEST_EVENT,
                    "event_payload": {"digest_key": digest_key, "part": part, "parts": n},
                },
                work_ids=tuple(work_ids),
            )
        )
    return messages


def _fallback(header: str, summary: str, part: int, parts: int, digest: Digest, ids: set[int]) -> str:
    """Notification and screen-reader text: the counts, then the titles in this part."""
    head = f"{header}: {summary}" if part == 1 else f"{header} (continued, {part}/{parts})"
    lines = [slack_escape(head)]
    for section in digest.sections:
        for entry in section.entries:
            if entry.work.work_id in ids:
                lines.append("• " + slack_escape(trim(clean(entry.work.title), 120)))
    return trim("\n".join(lines), MAX_FALLBACK)


def render_slack_followup(followup: FollowUp) -> SlackMessage:
    """One follow-up ("Retracted: <title>") meant as a reply in the paper's original thread."""
    text = followup_text(followup)
    return SlackMessage(
        text=slack_escape(followup_lead(followup))
        + ": "
        + slack_escape(trim(clean(followup.work.title), 250)),
        blocks=[_mrkdwn(text)],
        metadata={
            "event_type": FOLLOWUP_EVENT,
            "event_payload": {
                "work_id": followup.work.work_id,
                "kind": followup.event.kind,
                "event_id": followup.event.id if followup.event.id is not None else "",
            },
        },
        work_ids=(followup.work.work_id,),
    )
