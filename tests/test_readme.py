"""The README is part of the code: its examples parse and its commands exist."""

from __future__ import annotations

import re

import yaml

from tests.paths import REPO
from tests.test_cli import _commands
from watcher.rules.language import parse

README = (REPO / "README.md").read_text()


def test_the_example_rule_in_the_readme_parses() -> None:
    section = README.split("## Topic rules", 1)[1]
    block = section.split("```yaml", 1)[1].split("```", 1)[0]
    rule = yaml.safe_load(block)
    parse(rule["query"])
    parse(rule["exclude"])
    assert rule["examples"]["must_match"] and rule["examples"]["must_not_match"]


def test_every_command_in_the_readme_table_exists() -> None:
    known = {" ".join(c) for c in _commands()}
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for cell in re.findall(r"^\| `watcher ([a-z ]+?)(?: [A-Z\-\[`]|`)", table, flags=re.M):
        words = cell.split()
        command = " ".join(words[:2]) if " ".join(words[:2]) in known else words[0]
        assert command in known, f"README mentions 'watcher {cell}', which is not a command"


def test_the_two_setup_commands_are_the_ones_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    test_command = next(
        line for line in README.splitlines() if "requirements-dev.lock" in line and "pytest" in line
    )
    assert test_command.strip() in ci
