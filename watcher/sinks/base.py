"""The Sink protocol: where a finished digest goes.

A sink sends one digest and returns the external id of what it created
(Slack ``channel:ts`` of the first message, the email Message-ID, the path of
the written file), so the ledger can record it. ``find_sent`` lets a run that
crashed between sending and recording find out whether the digest already
went out; sinks that cannot check return None and the ledger decides.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from watcher.models import Digest


@runtime_checkable
class Sink(Protocol):
    name: str

    def send(self, digest: Digest, digest_key: str) -> str:
        """Deliver ``digest``; return the external id. Raises DeliveryError."""
        ...

    def find_sent(self, digest_key: str) -> str | None:
        """The external id of an earlier delivery of ``digest_key``, if the sink can tell."""
        ...
