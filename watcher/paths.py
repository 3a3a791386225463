"""Files watcher creates hold paper data and delivery records: owner-only by default."""

from __future__ import annotations

from pathlib import Path


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) as 0700 if missing; an existing directory is left as the operator set it."""
    if path.exists():
        return
    path.mkdir(mode=0o700, parents=True)
    # mkdir's mode is filtered by the umask; say it again.
    path.chmod(0o700)
