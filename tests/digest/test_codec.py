"""A digest stored in the ledger comes back identical, so a resumed send splits the same way."""

from __future__ import annotations

from tests.digest.sample import sample_digest
from watcher.digest.codec import digest_from_json, digest_to_json


def test_a_realistic_digest_round_trips_through_json() -> None:
    digest = sample_digest()
    assert digest.followups and digest.sections and digest.coverage
    assert digest_from_json(digest_to_json(digest)) == digest
