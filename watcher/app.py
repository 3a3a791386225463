"""The one place that wires settings into the store, sources, rules and sinks.

Everything is built lazily so `watcher --help` and `watcher status` do not pay
for importing the HTTP, XML or Slack stacks they never use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from watcher.config import DEFAULT_PUBMED_QUERY, Settings

if TYPE_CHECKING:
    import httpx

    from watcher.rules.evaluate import Matcher
    from watcher.rules.ruleset import RuleSet
    from watcher.sources.feeds import FeedFetcher
    from watcher.sources.pubmed import PubMedClient
    from watcher.store import Store


@dataclass
class App:
    settings: Settings
    # Injected in tests (e.g. an httpx.Client with a short timeout); built on demand otherwise.
    http_client: Any = None
    _closers: list[Any] = field(default_factory=list)

    @cached_property
    def store(self) -> Store:
        from watcher.store import Store

        store = Store.open(self.settings.state.path)
        self._closers.append(store)
        return store

    @cached_property
    def http(self) -> httpx.Client:
        if self.http_client is not None:
            return self.http_client  # type: ignore[no-any-return]
        from watcher.sources.http import make_client

        client = make_client(timeout=self.settings.pubmed.timeout)
        self._closers.append(client)
        return client

    @cached_property
    def pubmed(self) -> PubMedClient:
        from watcher.sources.pubmed import PubMedClient

        return PubMedClient(self.settings.pubmed, self.http)

    @cached_property
    def feeds_http(self) -> httpx.Client:
        from watcher.sources.http import make_client

        client = make_client(timeout=self.settings.feed_options.timeout, follow_redirects=True)
        self._closers.append(client)
        return client

    @cached_property
    def feed_fetcher(self) -> FeedFetcher:
        """One per process, so the per-host spacing covers every feed on a host."""
        from watcher.sources.feeds import FeedFetcher

        return FeedFetcher(self.settings.feed_options, self.http_client or self.feeds_http)

    @cached_property
    def ruleset(self) -> RuleSet | None:
        """The topic rules, or None when the rules folder is absent (then the config query is used)."""
        rules_dir = self.settings.rules.dir
        if not rules_dir.is_dir() or not any(rules_dir.glob("*.y*ml")):
            return None
        from watcher.rules.ruleset import load_ruleset

        return load_ruleset(rules_dir)

    @cached_property
    def matcher(self) -> Matcher | None:
        if self.ruleset is None:
            return None
        from watcher.rules.evaluate import Matcher

        return Matcher(self.ruleset)

    @property
    def pubmed_term(self) -> str:
        if self.settings.pubmed.query:
            return self.settings.pubmed.query
        if self.ruleset is not None:
            return str(self.ruleset.pubmed_term())
        return DEFAULT_PUBMED_QUERY

    def close(self) -> None:
        for thing in reversed(self._closers):
            thing.close()
        self._closers.clear()
