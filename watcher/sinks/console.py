"""The default sink: print the digest and keep an HTML copy on disk.

Digest files may contain unpublished preprint titles a group keeps to
itself, so the directory is owner-only (0o700) and each file 0o600. Files are
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rich.console import Console

from watcher.digest.render_console import render_console, render_html_file
from watcher.digest.text import short_date
from watcher.models import Digest

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def digest_filename(digest: Digest, digest_key: str) -> str:
    """``<created date>-<digest key>.html`` with anything path-like in the key replaced."""
    date = _UNSAFE.sub("-", short_date(digest.created_at)) or "undated"
    key = _UNSAFE.sub("-", digest_key).strip(".-") or "digest"
    return f"{date}-{key[:100]}.html"


class ConsoleSink:
    name = "console"

    def __init__(self, digest_dir: Path, console: Console) -> None:
        self.digest_dir = Path(digest_dir)
        self.console = console

    def send(self, digest: Digest, digest_key: str) -> str:
        render_console(digest, self.console)
        self.digest_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.digest_dir.chmod(0o700)
        path = self.digest_dir / digest_filename(digest, digest_key)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(render_html_file(digest))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        return str(path)

    def find_sent(self, digest_key: str) -> str | None:
        """Printing cannot be checked; the ledger decides (a file on disk proves nothing was read)."""
        return None
