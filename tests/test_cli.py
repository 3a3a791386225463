"""The CLI through its real entry point: every command has help; errors are one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from watcher.cli import build_parser


def _commands() -> list[list[str]]:
    parser = build_parser()
    found: list[list[str]] = []

    def walk(p: object, prefix: list[str]) -> None:
        for action in getattr(p, "_actions", []):
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, sub in choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(parser, [])
    return found


def test_top_level_help_lists_the_main_commands() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for command in ("run", "status"):
        assert command in proc.stdout


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", *command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
    assert len(proc.stdout.strip().splitlines()) >= 2
