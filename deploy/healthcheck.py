"""Container health check: healthy while some source has polled successfully of late.

Docker runs this as the image's HEALTHCHECK; exit 0 is healthy, 1 unhealthy.
It asks `watcher status --json` (the documented interface, so it keeps
working when the store's tables change) and looks at the newest
``last_success_at`` over all sources. A running process whose scheduler has
stopped polling, or a database that cannot be opened, turns the container
unhealthy; one failing feed among working ones does not (that is what the
health alerts are for).

    WATCHER_HEALTH_MAX_AGE   seconds since the last successful poll (default 7200,
                             four missed polls at the default 30-minute schedule)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

DEFAULT_MAX_AGE = 2 * 3600.0
STATUS_TIMEOUT = 50.0  # below the HEALTHCHECK --timeout, so this script reports why


def verdict(status: Mapping[str, Any], now: datetime, max_age: float) -> tuple[bool, str]:
    """(healthy, one-line reason) from `watcher status --json` output."""
    sources: Mapping[str, Any] = status.get("sources") or {}
    stamps: list[tuple[datetime, str]] = []
    for name, source in sources.items():
        at = _parse(source.get("last_success_at")) if isinstance(source, Mapping) else None
        if at is not None:
            stamps.append((at, name))
    if not stamps:
        return False, "no source has been polled successfully yet"
    at, name = max(stamps)
    age = (now - at).total_seconds()
    failing = sorted(n for n, s in sources.items() if isinstance(s, Mapping) and s.get("state") == "failing")
    tail = f"; failing: {', '.join(failing)}" if failing else ""
    if age > max_age:
        return (
            False,
            f"last successful poll was {age / 3600:.1f} h ago ({name}), limit {max_age / 3600:.1f} h{tail}",
        )
    return True, f"last successful poll {age / 60:.0f} min ago ({name}){tail}"


def _parse(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        max_age = float(env.get("WATCHER_HEALTH_MAX_AGE") or DEFAULT_MAX_AGE)
    except ValueError:
        print(f"unhealthy: WATCHER_HEALTH_MAX_AGE is not a number: {env['WATCHER_HEALTH_MAX_AGE']!r}")
        return 1
    command = [sys.executable, "-m", "watcher", "status", "--json", *(argv or [])]
    try:
        proc = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
            command, capture_output=True, text=True, timeout=STATUS_TIMEOUT, env=dict(env), check=False
        )
    except subprocess.TimeoutExpired:
        print(f"unhealthy: `watcher status` did not answer within {STATUS_TIMEOUT:.0f} s")
        return 1
    if proc.returncode != 0:
        print(f"unhealthy: `watcher status` exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return 1
    try:
        status = json.loads(proc.stdout)
    except json.JSONDecodeError:
        print("unhealthy: `watcher status --json` did not print JSON")
        return 1
    ok, reason = verdict(status, datetime.now(UTC), max_age)
    print(("healthy: " if ok else "unhealthy: ") + reason)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
