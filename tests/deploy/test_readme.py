"""The README's deployment sections only point at files that exist."""

from __future__ import annotations

import re

import pytest

from tests.paths import REPO

SECTIONS = ("## Deploy", "## Browse the state")


def section(text: str, heading: str) -> str | None:
    lines = text.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end])


def deploy_paths(text: str) -> set[str]:
    return set(re.findall(r"\bdeploy/[\w./-]*[\w]", text))


def test_path_finder_sees_paths_in_code_and_tables() -> None:
    text = "| `deploy/watcher.service` | x |\ncp deploy/a-b.timer /etc/\n-m deploy/datasette/metadata.yml."
    assert deploy_paths(text) == {
        "deploy/watcher.service",
        "deploy/a-b.timer",
        "deploy/datasette/metadata.yml",
    }


@pytest.mark.parametrize("heading", SECTIONS)
def test_every_deploy_file_the_readme_mentions_exists(heading: str) -> None:
    body = section((REPO / "README.md").read_text(encoding="utf-8"), heading)
    if body is None:
        pytest.skip(f"README.md has no {heading!r} section yet")
    missing = sorted(p for p in deploy_paths(body) if not (REPO / p).exists())
    assert not missing, f"README {heading!r} names files that do not exist: {missing}"


def test_the_deploy_section_mentions_every_deployment_file() -> None:
    body = section((REPO / "README.md").read_text(encoding="utf-8"), "## Deploy")
    if body is None:
        pytest.skip("README.md has no '## Deploy' section yet")
    shipped = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "deploy").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped <= deploy_paths(body)
