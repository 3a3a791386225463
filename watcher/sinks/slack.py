"""Post digests to a Slack channel with a bot token (chat.postMessage).

A digest too long for one message is split by the renderer; the first part
goes to the channel and the later parts are posted as replies in its thread,
so a long digest takes one line of the channel and still arrives complete.
Follow-ups (retractions, corrections, journal versions) are posted as replies
in the thread where the paper was first announced; retractions are also
broadcast to the channel.

Retries: HTTP 429 waits for Retry-After (up to ``MAX_RETRY_AFTER``), HTTP
500/503 and dropped connections back off exponentially, and Slack's own
transient errors (``internal_error``, ``fatal_error``, ...) are retried a few
times too. Anything else (``channel_not_found``, ``invalid_blocks``,
``not_in_channel``, ``invalid_auth``...) fails at once with a DeliveryError
naming the channel and Slack's error code. The token never appears in errors.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from watcher.config import SlackSettings
from watcher.digest.render_slack import DIGEST_EVENT, SlackMessage, render_slack, render_slack_followup
from watcher.errors import ConfigError, DeliveryError
from watcher.models import Digest, FollowUp

Sleep = Callable[[float], None]

MAX_RETRY_AFTER = 120.0
RATE_LIMIT_RETRIES = 5
SERVER_RETRIES = 3
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
HISTORY_LIMIT = 100


def _retry_after(response: HttpResponse | None) -> float | None:
    if response is None:
        return None
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                return None
    return None


class _RateLimitHandler(RateLimitErrorRetryHandler):
    """429: wait what Slack asked (plus a little jitter), unless that is unreasonably long."""

    def __init__(self, sleep: Sleep, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response)
        return wait is None or wait <= MAX_RETRY_AFTER

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = _retry_after(response)
        state.next_attempt_requested = True
        self._sleep((1.0 if wait is None else wait) + random.uniform(0, 0.5))
        state.increment_current_attempt()


def _backoff(attempt: int) -> float:
    return min(30.0, 2.0**attempt) * random.uniform(0.5, 1.0)


class _Backoff:
    """Exponential backoff with jitter between attempts, sleeping through the injected ``sleep``."""

    _sleep: Sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self._sleep(_backoff(state.current_attempt))
        state.increment_current_attempt()


class _ServerErrorHandler(_Backoff, ServerErrorRetryHandler):
    def __init__(self, sleep: Sleep, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep


class _ConnectionErrorHandler(_Backoff, ConnectionErrorRetryHandler):
    def __init__(self, sleep: Sleep, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep


def retry_handlers(sleep: Sleep) -> list[RetryHandler]:
    return [
        _RateLimitHandler(sleep, RATE_LIMIT_RETRIES),
        _ServerErrorHandler(sleep, SERVER_RETRIES),
        _ConnectionErrorHandler(sleep, SERVER_RETRIES),
    ]


@dataclass
class SlackDelivery:
    """Where a digest went.

    ``ts`` is the first message; later parts (``parts``) are replies in its
    thread, so ``(channel, ts)`` is the thread to use for any later follow-up
    about these papers. ``paper_ts`` maps each work id to the message that
    carries it; ``followup_ts`` maps work ids to posted follow-up replies.
    A follow-up whose thread cannot be replied to is posted to the channel
    instead and noted in ``errors``; it never fails a digest already sent.
    """

    channel: str
    ts: str
    parts: list[str] = field(default_factory=list)
    paper_ts: dict[int, str] = field(default_factory=dict)
    followup_ts: dict[int, str] = field(default_factory=dict)
    # Follow-ups that could not go to their thread (and where they went instead).
    errors: list[str] = field(default_factory=list)

    @property
    def external_id(self) -> str:
        return f"{self.channel}:{self.ts}"


class SlackSink:
    name = "slack"

    def __init__(
        self,
        settings: SlackSettings,
        channel: str,
        client: WebClient | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        if client is None:
            if not settings.token:
                raise ConfigError("Slack is configured without a token: set SLACK_BOT_TOKEN")
            client = WebClient(
                token=settings.token,
                base_url=settings.base_url,
                timeout=30,
                retry_handlers=retry_handlers(sleep),
            )
        self.client = client
        self.channel = channel
        self.max_papers = settings.max_papers_per_message
        self._sleep = sleep

    # --- calls ----------------------------------------------------------------

    def _call(self, method: str, where: str, **kwargs: Any) -> dict[str, Any]:
        """One Web API call; Slack's transient ok:false errors are retried here."""
        attempt = 0
        while True:
            try:
                # The SDK's own methods encode each argument the way Slack expects
                # (blocks and metadata as JSON, booleans in query strings as 0/1).
                call = getattr(self.client, method.replace(".", "_"))
                response = call(**kwargs)
                data = response.data
                assert isinstance(data, dict)  # JSON methods answer JSON objects
                return data
            except SlackApiError as e:
                status = e.response.status_code
                body = e.response.data if isinstance(e.response.data, dict) else {}
                code = str(body.get("error") or f"HTTP {status}")
                if code in TRANSIENT_ERRORS and attempt < SERVER_RETRIES:
                    self._sleep(_backoff(attempt))
                    attempt += 1
                    continue
                detail = ""
                messages = (body.get("response_metadata") or {}).get("messages") or []
                if messages:
                    detail = f" ({'; '.join(str(m) for m in messages[:3])})"
                raise DeliveryError(
                    f"Slack {method} to channel {where} failed: {code} (HTTP {status}){detail}"
                ) from e
            except OSError as e:
                # Connection refused/reset after the client's own retries.
                raise DeliveryError(f"Slack {method} to channel {where} failed: {e}") from e

    def _post(
        self, channel: str, message: SlackMessage, thread_ts: str | None, broadcast: bool = False
    ) -> dict[str, Any]:
        args: dict[str, Any] = {
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "metadata": message.metadata,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
            if broadcast:
                args["reply_broadcast"] = True
        return self._call("chat.postMessage", channel, **args)

    # --- public -----------------------------------------------------------------

    def send_digest(self, digest: Digest, digest_key: str) -> SlackDelivery:
        """Post every part (the first to the channel, the rest in its thread), then follow-ups."""
        if not digest.sections and digest.followups and all(f.thread for f in digest.followups):
            return self._send_followups_only(digest, digest_key)
        messages = render_slack(digest, digest_key, self.max_papers)
        delivery: SlackDelivery | None = None
        for message in messages:
            data = self._post(self.channel, message, thread_ts=delivery.ts if delivery else None)
            ts = str(data["ts"])
            if delivery is None:
                delivery = SlackDelivery(channel=str(data.get("channel") or self.channel), ts=ts)
            delivery.parts.append(ts)
            for work_id in message.work_ids:
                delivery.paper_ts[work_id] = ts
        assert delivery is not None  # render_slack always returns at least one message
        for followup in digest.followups:
            if followup.thread is None:
                continue  # already listed in the digest itself
            channel, thread_ts = followup.thread
            try:
                ts = self.post_followup(followup, channel, thread_ts)
            except DeliveryError as e:
                # The digest is out; failing now would send it again. The original
                # thread may be gone (deleted, archived channel): say it in this channel.
                delivery.errors.append(str(e))
                try:
                    ts = str(self._post(self.channel, render_slack_followup(followup), thread_ts=None)["ts"])
                except DeliveryError as again:
                    delivery.errors.append(str(again))
                    continue
            delivery.followup_ts[followup.work.work_id] = ts
        return delivery

    def _send_followups_only(self, digest: Digest, digest_key: str) -> SlackDelivery:
        """No new papers: each follow-up goes straight into its paper's thread, no empty digest.

        The first reply carries the digest's metadata marker; retractions are
        broadcast, so they are visible to find_sent in the channel history too.
        """
        delivery: SlackDelivery | None = None
        n = len(digest.followups)
        for i, followup in enumerate(digest.followups, start=1):
            assert followup.thread is not None
            channel, thread_ts = followup.thread
            marker = {
                "event_type": DIGEST_EVENT,
                "event_payload": {"digest_key": digest_key, "part": i, "parts": n},
            }
            message = dataclasses.replace(render_slack_followup(followup), metadata=marker)
            broadcast = followup.event.kind == "retracted"
            ts = str(self._post(channel, message, thread_ts=thread_ts, broadcast=broadcast)["ts"])
            if delivery is None:
                delivery = SlackDelivery(channel=channel, ts=ts)
            delivery.parts.append(ts)
            delivery.followup_ts[followup.event.work_id] = ts
        assert delivery is not None
        return delivery

    def post_followup(self, followup: FollowUp, channel: str, thread_ts: str) -> str:
        """Reply in the paper's thread; retractions are broadcast to the channel too. Returns ts."""
        message = render_slack_followup(followup)
        broadcast = followup.event.kind == "retracted"
        return str(self._post(channel, message, thread_ts=thread_ts, broadcast=broadcast)["ts"])

    def send(self, digest: Digest, digest_key: str) -> str:
        return self.send_digest(digest, digest_key).external_id

    def find_sent(self, digest_key: str) -> str | None:
        """``channel:ts`` of a first part already posted for ``digest_key`` among recent messages.

        Needs the channel ID (not its name) and the channels:history scope.
        """
        data = self._call(
            "conversations.history",
            self.channel,
            channel=self.channel,
            include_all_metadata=True,
            limit=HISTORY_LIMIT,
        )
        for message in data.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == DIGEST_EVENT
                and payload.get("digest_key") == digest_key
                and payload.get("part") in (1, "1")
            ):
                return f"{self.channel}:{message['ts']}"
        return None
