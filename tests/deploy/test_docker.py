"""The container files: a Dockerfile Docker would accept, a build context without
secrets, and a compose file whose paths all exist. (No Docker engine here: these
read the files the way Docker does.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.deploy.parsers import (
    DOCKERFILE_INSTRUCTIONS,
    Instruction,
    ignored,
    read_dockerfile,
    read_dockerignore,
    read_unit,
    split_flags,
)
from tests.paths import REPO
from watcher.config import load_settings

DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return read_dockerfile(DOCKERFILE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _service(compose: dict[str, Any]) -> dict[str, Any]:
    services = compose["services"]
    assert isinstance(services, dict) and list(services) == ["watcher"]
    service = services["watcher"]
    assert isinstance(service, dict)
    return service


def _copies(instructions: list[Instruction]) -> list[tuple[Instruction, dict[str, str], list[str], str]]:
    out = []
    for ins in instructions:
        if ins.keyword in ("COPY", "ADD"):
            flags, rest = split_flags(ins.args)
            *sources, dest = json.loads(rest) if rest.startswith("[") else rest.split()
            out.append((ins, flags, sources, dest))
    return out


def test_dockerfile_uses_only_known_uppercase_instructions_and_starts_with_from(
    instructions: list[Instruction],
) -> None:
    assert instructions, "the Dockerfile has no instructions"
    for ins in instructions:
        assert ins.keyword in DOCKERFILE_INSTRUCTIONS, f"line {ins.line}: unknown instruction {ins.keyword}"
    first = next(ins for ins in instructions if ins.keyword != "ARG")
    assert first.keyword == "FROM"


def test_dockerfile_builds_on_python_311_slim_in_every_stage(instructions: list[Instruction]) -> None:
    images = [ins.args.split()[0] for ins in instructions if ins.keyword == "FROM"]
    assert images and all(image == "python:3.11-slim" for image in images), images


def test_every_copy_source_exists_in_the_repository_and_reaches_the_build_context(
    instructions: list[Instruction],
) -> None:
    """A missing or .dockerignore'd COPY source would fail `docker build` halfway through."""
    rules = read_dockerignore(DEPLOY / "Dockerfile.dockerignore")
    stages = {ins.args.split()[-1] for ins in instructions if ins.keyword == "FROM" and " AS " in ins.args}
    checked = 0
    for ins, flags, sources, _ in _copies(instructions):
        if "from" in flags:
            assert flags["from"] in stages, f"line {ins.line}: no stage named {flags['from']!r}"
            continue
        for source in sources:
            path = REPO / source
            assert path.exists(), f"line {ins.line}: COPY source {source} is not in the repository"
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            files = [p for p in files if "__pycache__" not in p.parts]
            assert files, f"line {ins.line}: {source} is empty"
            for file in files:
                rel = file.relative_to(REPO).as_posix()
                assert not ignored(rules, rel), f"line {ins.line}: {rel} is excluded from the build context"
            checked += 1
    assert checked >= 4  # lock file, package, rules, config at least


def test_the_image_installs_the_locked_dependencies_before_the_package(
    instructions: list[Instruction],
) -> None:
    runs = [ins.args for ins in instructions if ins.keyword == "RUN"]
    lock = next(i for i, r in enumerate(runs) if "-r requirements.lock" in r)
    package = next(i for i, r in enumerate(runs) if re.search(r"pip install .*\s\.$", r))
    assert lock < package
    assert all("--no-cache-dir" in r for r in runs if "pip install" in r)


def test_cmd_entrypoint_and_healthcheck_are_exec_form_json_arrays(instructions: list[Instruction]) -> None:
    """Shell form would run under /bin/sh, which swallows SIGTERM instead of passing it on."""
    seen = set()
    for ins in instructions:
        if ins.keyword in ("CMD", "ENTRYPOINT"):
            value = json.loads(ins.args)
            assert isinstance(value, list) and all(isinstance(v, str) for v in value)
            seen.add(ins.keyword)
        if ins.keyword == "HEALTHCHECK":
            flags, rest = split_flags(ins.args)
            assert set(flags) <= {"interval", "timeout", "start-period", "start-interval", "retries"}
            assert rest.startswith("CMD ")
            value = json.loads(rest[4:])
            assert isinstance(value, list) and value
            seen.add("HEALTHCHECK")
    cmd = json.loads(next(ins.args for ins in instructions if ins.keyword == "CMD"))
    assert cmd == ["watcher", "serve"]
    assert "HEALTHCHECK" in seen


def test_healthcheck_script_is_copied_to_where_the_healthcheck_runs_it(
    instructions: list[Instruction],
) -> None:
    health = next(ins for ins in instructions if ins.keyword == "HEALTHCHECK")
    command = json.loads(split_flags(health.args)[1][4:])
    script = command[-1]
    destinations = {dest: sources for _, flags, sources, dest in _copies(instructions) if "from" not in flags}
    assert destinations.get(script) == ["deploy/healthcheck.py"]


def test_the_container_runs_as_a_non_root_user(instructions: list[Instruction]) -> None:
    final_stage = instructions[max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM") :]
    users = [ins.args.split(":")[0] for ins in final_stage if ins.keyword == "USER"]
    assert users, "the runtime stage never switches away from root"
    assert users[-1] not in ("root", "0")


def test_the_default_config_in_the_image_keeps_state_on_the_data_volume(
    instructions: list[Instruction],
) -> None:
    volumes = [json.loads(ins.args) for ins in instructions if ins.keyword == "VOLUME"]
    assert ["/data"] in volumes
    env = " ".join(ins.args for ins in instructions if ins.keyword == "ENV")
    config_path = re.search(r"WATCHER_CONFIG=(\S+)", env)
    assert config_path is not None
    copied = {dest: sources for _, flags, sources, dest in _copies(instructions) if "from" not in flags}
    source = copied[config_path.group(1)]
    settings = load_settings(REPO / source[0], env={})
    assert settings.state.path.is_relative_to("/data")
    assert settings.state.digest_dir.is_relative_to("/data")
    assert copied[settings.rules.dir.as_posix()] == ["rules"]


@pytest.mark.parametrize(
    "path",
    [
        "deploy/watcher.env",
        "watcher.env",
        ".env",
        "state/watcher.db",
        "state/watcher.db-wal",
        ".venv/bin/python",
        ".git/config",
        "tests/deploy/test_docker.py",
        "watcher/__pycache__/cli.cpython-311.pyc",
    ],
)
def test_build_context_never_contains_secrets_state_or_virtualenvs(path: str) -> None:
    rules = read_dockerignore(DEPLOY / "Dockerfile.dockerignore")
    assert ignored(rules, path)


def test_compose_builds_from_the_repository_root_with_this_dockerfile(compose: dict[str, Any]) -> None:
    build = _service(compose)["build"]
    assert isinstance(build, dict)
    context = (DEPLOY / build["context"]).resolve()
    assert context == REPO.resolve()
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE.resolve()


def test_compose_reads_secrets_from_the_documented_env_file(compose: dict[str, Any]) -> None:
    service = _service(compose)
    env_file = service["env_file"]
    names = [env_file] if isinstance(env_file, str) else list(env_file)
    assert names == ["watcher.env"]
    example = DEPLOY / "watcher.env.example"
    assert example.is_file()
    assert "deploy/watcher.env" in example.read_text(encoding="utf-8")


def test_compose_keeps_state_on_a_named_volume_and_mounts_the_config_read_only(
    compose: dict[str, Any],
) -> None:
    service = _service(compose)
    mounts = [str(v).split(":") for v in service["volumes"]]
    declared = compose["volumes"]
    assert isinstance(declared, dict)
    data = [m for m in mounts if m[1] == "/data"]
    assert data and data[0][0] in declared, "the /data volume must be a declared named volume"
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "watcher.env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    config = [m for m in mounts if m[1] == env["WATCHER_CONFIG"]]
    assert config, "the config must be mounted where WATCHER_CONFIG in watcher.env.example points"
    host, _, mode = config[0]
    assert mode == "ro"
    settings = load_settings(DEPLOY / host, env={})
    assert settings.state.path.is_relative_to("/data")


def test_compose_restarts_the_service_and_gives_it_time_to_stop_like_systemd(
    compose: dict[str, Any],
) -> None:
    service = _service(compose)
    assert service["restart"] == "unless-stopped"
    unit = read_unit(DEPLOY / "watcher.service")
    assert service["stop_grace_period"] == f"{unit['Service']['TimeoutStopSec'][0]}s"
