"""Start-up: wall time of ``watcher --help`` and ``watcher status`` in a fresh process.

``status`` runs against a small temp database (created by a first, untimed
run) with the shipped rules; the figure is the median of ``runs`` runs.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.ingest import REPO

WATCHER = REPO / ".venv" / "bin" / "watcher"


def _config(tmp: Path) -> Path:
    cfg = tmp / "watcher.toml"
    cfg.write_text(
        f'[state]\npath = "{tmp / "w.db"}"\ndigest_dir = "{tmp / "digests"}"\n\n[rules]\ndir = "{REPO / "rules"}"\n',
        encoding="utf-8",
    )
    return cfg


def _median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def startup(runs: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(Path(tmp))
        status = [str(WATCHER), "status", "--config", str(cfg)]
        subprocess.run(status, check=True, capture_output=True, cwd=REPO)  # creates and migrates the db
        return {
            "runs": runs,
            "help_s": round(_median_seconds([str(WATCHER), "--help"], runs), 3),
            "status_s": round(_median_seconds(status, runs), 3),
        }
