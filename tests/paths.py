"""Where tests find data: the shared recorded fixtures sit beside the clone."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("WATCHER_FIXTURES", REPO.parent / "shared" / "fixtures"))
DATA = REPO / "tests" / "data"
