"""Digest -> email subject, plain text and HTML.

The HTML is built for mail clients, not browsers: nested presentation
tables, inline styles only, a 640px maximum width that shrinks on a phone
(no fixed widths), and the system font stack. Every paper-supplied string is
cleaned and HTML-escaped; links are emitted only for http(s) URLs. The
plain-text part carries the same content for clients that show it and for
spam filters that compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from watcher.digest.render_slack import coverage_lines
from watcher.digest.text import (
    authors_short,
    clean,
    first_seen_note,
    followup_lead,
    html_escape,
    html_link,
    paper_url,
    safe_url,
    short_date,
    trim,
)
from watcher.models import Digest, DigestEntry, FollowUp

FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
TEXT = "#1f2328"
MUTED = "#59636e"
LINK = "#0b5cad"
RULE = "#e3e6ea"
EMPTY_MESSAGE = "No new papers today."
_WRAP = "overflow-wrap:anywhere;word-wrap:break-word;"
_BADGE_COLOURS = {
    "Preprint": ("#fff4d6", "#7a5200"),
    "Retracted": ("#ffe1e1", "#8f1d1d"),
    "Trial": ("#e0f2e9", "#13603a"),
    "Trial protocol": ("#e0f2e9", "#13603a"),
    "Meta-analysis": ("#e6e9ff", "#2c3591"),
    "Systematic review": ("#e6e9ff", "#2c3591"),
    "Review": ("#eef0f3", "#3d4650"),
    "Case report": ("#f3e8ff", "#5b2a86"),
}


@dataclass(frozen=True, slots=True)
class EmailContent:
    subject: str
    text: str
    html: str


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def subject_for(digest: Digest) -> str:
    """``<title> — <date> (3 new papers)``; the date only if the title lacks it."""
    title = clean(digest.title) or "Literature digest"
    date = short_date(digest.created_at)
    if date and date not in title:
        title = f"{title} — {date}"
    total = sum(len(s.entries) for s in digest.sections)
    return trim(f"{title} ({_count(total, 'new paper')})" if total else f"{title} (no new papers)", 200)


def _summary(digest: Digest) -> str:
    total = sum(len(s.entries) for s in digest.sections)
    text = f"{_count(total, 'new paper')} in {_count(len(digest.sections), 'topic')}"
    if digest.followups:
        text += f" · {_count(len(digest.followups), 'update')} to papers already shared"
    return text


def _why(entry: DigestEntry) -> list[str]:
    """Plain-text reasons; the caller escapes and may bold the terms."""
    why: list[str] = []
    if len(entry.topics) > 1:
        why.append("also in " + ", ".join(trim(clean(t), 60) for t in entry.topics[1:]))
    note = first_seen_note(entry.work)
    if note:
        why.append(note)
    return why


def _facts(entry: DigestEntry) -> str:
    w = entry.work
    facts = [trim(clean(w.journal), 80), short_date(w.pub_date), trim(authors_short(w.authors), 80)]
    return " · ".join(f for f in facts if f)


# --- plain text ---------------------------------------------------------------


def _text_entry(n: int, entry: DigestEntry) -> list[str]:
    title = trim(clean(entry.work.title) or "(untitled)", 300)
    badge = f" [{entry.badge}]" if entry.badge else ""
    lines = [f"{n}. {title}{badge}", f"   {_facts(entry)}"]
    why = _why(entry)
    if entry.terms:
        why.insert(0, "matched " + ", ".join(trim(clean(t), 40) for t in entry.terms))
    if why:
        lines.append("   " + " · ".join(why))
    url = paper_url(entry.work)
    if url:
        lines.append(f"   {url}")
    return lines


def _text_followup(f: FollowUp) -> list[str]:
    lines = [f"- {followup_lead(f)}: {trim(clean(f.work.title), 300)}"]
    headline = clean(f.headline)
    if headline and headline.lower() != followup_lead(f).lower():
        lines.append(f"  {trim(headline, 300)}")
    url = paper_url(f.work)
    if url:
        lines.append(f"  {url}")
    return lines


def _render_text(digest: Digest, unsubscribe: str) -> str:
    out = [clean(digest.title) or "Literature digest", short_date(digest.created_at), _summary(digest), ""]
    if not digest.sections:
        out += [EMPTY_MESSAGE, ""]
    n = 0
    for section in digest.sections:
        out += [f"== {clean(section.topic_title)} ({_count(len(section.entries), 'paper')}) ==", ""]
        for entry in section.entries:
            n += 1
            out += [*_text_entry(n, entry), ""]
    if digest.followups:
        out += ["== Updates to papers already shared ==", ""]
        for f in digest.followups:
            out += [*_text_followup(f), ""]
    out += ["-- ", *coverage_lines(digest.coverage)]
    if unsubscribe:
        out.append(f"Unsubscribe: {clean(unsubscribe)}")
    return "\n".join(out).rstrip() + "\n"


# --- HTML ---------------------------------------------------------------------


def _badge_html(badge: str | None) -> str:
    if not badge:
        return ""
    bg, fg = _BADGE_COLOURS.get(badge, ("#eef0f3", "#3d4650"))
    return (
        f' <span style="display:inline-block;padding:1px 6px;border-radius:3px;font-size:12px;'
        f'font-weight:600;background:{bg};color:{fg};white-space:nowrap;">{html_escape(badge)}</span>'
    )


def _row(inner: str, padding: str = "0 20px", extra: str = "") -> str:
    return f'<tr><td style="padding:{padding};font-family:{FONT};color:{TEXT};{extra}">{inner}</td></tr>\n'


def _html_entry(entry: DigestEntry, first: bool) -> str:
    w = entry.work
    title = html_link(
        paper_url(w),
        trim(clean(w.title) or "(untitled)", 300),
        style=f"color:{LINK};text-decoration:none;font-weight:600;",
    )
    parts = [
        f'<div style="font-size:16px;line-height:1.35;{_WRAP}">{title}{_badge_html(entry.badge)}</div>',
        f'<div style="font-size:14px;line-height:1.4;color:{MUTED};margin-top:3px;{_WRAP}">'
        f"{html_escape(_facts(entry))}</div>",
    ]
    why = [html_escape(r) for r in _why(entry)]
    if entry.terms:
        terms = ", ".join(f"<b>{html_escape(trim(t, 40))}</b>" for t in entry.terms)
        why.insert(0, f"matched {terms}")
    if why:
        parts.append(
            f'<div style="font-size:13px;line-height:1.4;color:{MUTED};margin-top:3px;{_WRAP}">'
            f"{' · '.join(why)}</div>"
        )
    border = "" if first else f"border-top:1px solid {RULE};"
    return _row("".join(parts), padding="10px 20px", extra=border)


def _html_heading(text: str, count: str = "") -> str:
    suffix = f' <span style="font-weight:400;color:{MUTED};font-size:14px;">{count}</span>' if count else ""
    return _row(
        f'<h2 style="margin:0;font-size:18px;line-height:1.3;color:{TEXT};{_WRAP}">{text}{suffix}</h2>',
        padding="20px 20px 4px",
    )


def _html_followup(f: FollowUp, first: bool) -> str:
    w = f.work
    colour = "#8f1d1d" if f.event.kind in ("retracted", "expression_of_concern") else TEXT
    title = html_link(paper_url(w), trim(clean(w.title), 300), style=f"color:{LINK};text-decoration:none;")
    inner = (
        f'<div style="font-size:15px;line-height:1.4;{_WRAP}"><b style="color:{colour};">'
        f"{html_escape(followup_lead(f))}:</b> {title}</div>"
    )
    headline = clean(f.headline)
    if headline and headline.lower() != followup_lead(f).lower():
        inner += (
            f'<div style="font-size:13px;color:{MUTED};margin-top:3px;{_WRAP}">'
            f"{html_escape(trim(headline, 300))}</div>"
        )
    return _row(inner, padding="10px 20px", extra="" if first else f"border-top:1px solid {RULE};")


def _unsubscribe_html(unsubscribe: str) -> str:
    if not unsubscribe:
        return ""
    url = safe_url(unsubscribe)
    if url:
        return "<br>" + html_link(url, "Unsubscribe", style=f"color:{MUTED};")
    return f"<br>Unsubscribe: {html_escape(unsubscribe)}"


def render_html(digest: Digest, unsubscribe: str = "") -> str:
    title = html_escape(clean(digest.title) or "Literature digest")
    date = html_escape(short_date(digest.created_at))
    rows = [
        _row(
            f'<h1 style="margin:0;font-size:22px;line-height:1.25;{_WRAP}">{title}</h1>'
            f'<div style="font-size:14px;color:{MUTED};margin-top:4px;">'
            f"{date + ' · ' if date else ''}{html_escape(_summary(digest))}</div>",
            padding="20px 20px 8px",
        )
    ]
    if not digest.sections:
        rows.append(_row(f'<p style="margin:12px 0;font-size:16px;">{EMPTY_MESSAGE}</p>'))
    for section in digest.sections:
        rows.append(_html_heading(html_escape(section.topic_title), _count(len(section.entries), "paper")))
        rows += [_html_entry(e, first=i == 0) for i, e in enumerate(section.entries)]
    if digest.followups:
        rows.append(_html_heading("Updates to papers already shared"))
        rows += [_html_followup(f, first=i == 0) for i, f in enumerate(digest.followups)]
    rows.append(
        _row(
            f'<div style="font-size:12px;line-height:1.5;color:{MUTED};border-top:1px solid {RULE};'
            f'padding-top:12px;{_WRAP}">{"<br>".join(html_escape(c) for c in coverage_lines(digest.coverage))}'
            f"{_unsubscribe_html(unsubscribe)}</div>",
            padding="16px 20px 20px",
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light">\n'
        f"<title>{title}</title>\n</head>\n"
        '<body style="margin:0;padding:0;background:#f3f4f6;">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#f3f4f6;">\n<tr><td align="center" style="padding:16px 8px;">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="max-width:640px;background:#ffffff;border:1px solid #e3e6ea;border-radius:6px;">\n'
        + "".join(rows)
        + "</table>\n</td></tr>\n</table>\n</body>\n</html>\n"
    )


def render_email(digest: Digest, unsubscribe: str = "") -> EmailContent:
    """Subject, plain text and HTML for one digest; an empty digest still shows coverage."""
    return EmailContent(
        subject=subject_for(digest),
        text=_render_text(digest, unsubscribe),
        html=render_html(digest, unsubscribe),
    )
