"""The one error tree. Everything watcher raises on purpose is a WatcherError.

    WatcherError
     +-- ConfigError       bad or unknown config key/value            (exit 2)
     +-- RuleError         malformed rule file or query               (exit 2)
     +-- SourceError       an upstream failed after retries
     |    +-- ParseError   a response body could not be parsed
     |         +-- TruncatedXMLError  the body stopped early (retry the request)
     +-- StoreError        the database cannot be opened or migrated
     +-- DeliveryError     a sink failed after retries
     +-- LockBusy          another run holds the lock                 (exit 75)

Messages are for the person who must fix the problem: they name the file,
key, record or URL and say what to change. Secrets never go into them.
"""

from __future__ import annotations


class WatcherError(Exception):
    exit_code = 1


class ConfigError(WatcherError):
    exit_code = 2


class RuleError(WatcherError):
    exit_code = 2


class SourceError(WatcherError):
    pass


class ParseError(SourceError):
    pass


class TruncatedXMLError(ParseError):
    """The body ended before the document did; every complete record before it was yielded."""


class StoreError(WatcherError):
    pass


class DeliveryError(WatcherError):
    pass


class LockBusy(WatcherError):
    # EX_TEMPFAIL: try again later
    exit_code = 75
