"""Fixtures for the fault, crash, hostile-input and concurrency suites.

``workspace`` is the end-to-end one (the real CLI in a subprocess against a
temp dir), re-exported so these modules need no import from another suite's
conftest at collection time.
"""

from __future__ import annotations

from tests.e2e.conftest import workspace

__all__ = ["workspace"]
