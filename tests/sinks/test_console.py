"""ConsoleSink: prints the digest and keeps an owner-only HTML copy."""

from __future__ import annotations

import stat
from pathlib import Path

from rich.console import Console

from tests.digest.sample import sample_digest
from watcher.sinks.base import Sink
from watcher.sinks.console import ConsoleSink


def test_console_sink_prints_and_writes_an_owner_only_html_file(tmp_path: Path) -> None:
    console = Console(record=True, width=120, color_system=None)
    digest_dir = tmp_path / "state" / "digests"
    sink = ConsoleSink(digest_dir, console)
    assert isinstance(sink, Sink)
    path = Path(sink.send(sample_digest(), "console:2024-06-03"))
    assert path == digest_dir / "2024-06-03-console-2024-06-03.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(digest_dir.stat().st_mode) == 0o700
    assert "Anakinra prophylaxis for ICANS" in path.read_text(encoding="utf-8")
    assert "Anakinra prophylaxis for ICANS" in console.export_text()
    assert sink.find_sent("console:2024-06-03") is None


def test_a_digest_key_with_path_characters_cannot_escape_the_digest_dir(tmp_path: Path) -> None:
    sink = ConsoleSink(tmp_path / "d", Console(record=True, width=80))
    path = Path(sink.send(sample_digest(), "../../etc/passwd"))
    assert path.parent == tmp_path / "d"
    assert list((tmp_path / "d").iterdir()) == [path]


def test_sending_again_replaces_the_file_and_keeps_it_private(tmp_path: Path) -> None:
    sink = ConsoleSink(tmp_path, Console(record=True, width=80))
    first = Path(sink.send(sample_digest(), "k"))
    first.chmod(0o644)
    second = Path(sink.send(sample_digest(), "k"))
    assert first == second and stat.S_IMODE(second.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [second.name]
