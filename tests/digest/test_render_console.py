"""Terminal rendering with rich."""

from __future__ import annotations

from rich.console import Console

from tests.digest.sample import sample_digest
from watcher.digest.render_console import render_console
from watcher.models import Digest, DigestEntry, DigestSection, WorkView


def test_console_lists_topics_papers_updates_and_coverage() -> None:
    console = Console(record=True, width=120, color_system=None)
    render_console(sample_digest(), console)
    out = console.export_text()
    assert "CRS, ICANS and toxicity management (6)" in out
    assert "Anakinra prophylaxis for ICANS after CD19 CAR T-cell therapy [Trial]" in out
    assert "Retracted: CD19 CAR-T persistence" in out
    assert "failing: Leukemia feed" in out
    assert " 30. " in out


def test_rich_markup_in_a_title_prints_literally() -> None:
    work = WorkView(1, "[bold red]CAR-T[/] [link=https://evil.example]x[/link]", "https://ex.org/1")
    digest = Digest(
        "D", "2024-06-03", (DigestSection("t", "[blink]T", (DigestEntry(work, 1.0, ("T",), ()),)),)
    )
    console = Console(record=True, width=200, color_system=None)
    render_console(digest, console)
    out = console.export_text()
    assert "[bold red]CAR-T[/] [link=https://evil.example]x[/link]" in out
    assert "[blink]T" in out
