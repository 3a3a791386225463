"""Post digests to a Slack channel with a bot token (chat.postMessage).

A digest too long for one message is split by the renderer; the first part
goes to the channel and the later parts are posted as replies in its thread,
so a long digest takes one line of the channel and still arrives complete.
Follow-ups (retractions, corrections, journal versions) are posted as replies
in the thread where the paper was first announced; retractions are also
broadcast to the channel.

Retries: reads (conversations.history/replies) retry 429, 5xx and dropped
connections. Posts are different: an answer lost after Slack stored the
message would make a blind retry post it twice. So a post is retried only on
429 (which means "not done"); after any other transient failure the sink
first looks for the message's metadata marker (digest key + part) in the
channel or thread, and posts again only if it is not there. The same lookup
lets a digest left pending by a crash be resumed: only its missing parts and
follow-ups are posted. Anything else (``channel_not_found``,
``invalid_blocks``, ``not_in_channel``, ``invalid_auth``...) fails at once
with a DeliveryError naming the channel and Slack's error code. The token
never appears in errors. Markers need the channel ID (not its name) and the
channels:history scope.
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


class _Ambiguous(DeliveryError):
    """The post may or may not have reached Slack: look before posting again."""


def _marked(message: SlackMessage, digest_key: str, marker: str) -> SlackMessage:
    """The message with this digest's marker in its metadata, to be found again after a crash."""
    metadata = message.metadata or {"event_type": DIGEST_EVENT, "event_payload": {}}
    payload = {**(metadata.get("event_payload") or {}), "digest_key": digest_key, "marker": marker}
    return dataclasses.replace(message, metadata={**metadata, "event_payload": payload})


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
        # Posts get no SDK retries but 429: see the module docstring.
        self.poster = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            retry_handlers=[_RateLimitHandler(sleep, RATE_LIMIT_RETRIES)],
        )
        self.channel = channel
        self.max_papers = settings.max_papers_per_message
        self._sleep = sleep

    # --- calls ----------------------------------------------------------------

    def _call(self, method: str, where: str, *, post: bool = False, **kwargs: Any) -> dict[str, Any]:
        """One Web API call. Reads retry transient failures; a post raises _Ambiguous instead."""
        attempt = 0
        while True:
            try:
                # The SDK's own methods encode each argument the way Slack expects
                # (blocks and metadata as JSON, booleans in query strings as 0/1).
                call = getattr(self.poster if post else self.client, method.replace(".", "_"))
                response = call(**kwargs)
                data = response.data
                assert isinstance(data, dict)  # JSON methods answer JSON objects
                return data
            except SlackApiError as e:
                status = e.response.status_code
                body = e.response.data if isinstance(e.response.data, dict) else {}
                code = str(body.get("error") or f"HTTP {status}")
                # For reads the SDK's handler already retried 5xx; Slack's ok:false transient
                # codes are retried here. For a post, either one means "maybe posted".
                transient = code in TRANSIENT_ERRORS or (post and status >= 500)
                if transient and not post and attempt < SERVER_RETRIES:
                    self._sleep(_backoff(attempt))
                    attempt += 1
                    continue
                detail = ""
                messages = (body.get("response_metadata") or {}).get("messages") or []
                if messages:
                    detail = f" ({'; '.join(str(m) for m in messages[:3])})"
                error = _Ambiguous if transient and post else DeliveryError
                raise error(
                    f"Slack {method} to channel {where} failed: {code} (HTTP {status}){detail}"
                ) from e
            except OSError as e:
                # Connection refused/reset/timed out (after the client's own retries, for reads).
                error = _Ambiguous if post else DeliveryError
                raise error(f"Slack {method} to channel {where} failed: {e}") from e

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
        return self._call("chat.postMessage", channel, post=True, **args)

    def _markers(self, channel: str, digest_key: str, thread_ts: str | None = None) -> dict[str, str]:
        """Messages of this digest already posted (top level, or in one thread): marker -> ts."""
        if thread_ts is None:
            data = self._call(
                "conversations.history",
                channel,
                channel=channel,
                include_all_metadata=True,
                limit=HISTORY_LIMIT,
            )
        else:
            data = self._call(
                "conversations.replies",
                channel,
                channel=channel,
                ts=thread_ts,
                include_all_metadata=True,
                limit=HISTORY_LIMIT,
            )
        found: dict[str, str] = {}
        for message in data.get("messages") or []:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("digest_key") == digest_key and payload.get("marker"):
                found.setdefault(str(payload["marker"]), str(message["ts"]))
        return found

    def _post_once(
        self,
        channel: str,
        message: SlackMessage,
        thread_ts: str | None,
        digest_key: str,
        marker: str,
        broadcast: bool = False,
    ) -> tuple[str, str]:
        """(channel, ts) of the message, posted exactly once even if an answer is lost."""
        message = _marked(message, digest_key, marker)
        for attempt in range(SERVER_RETRIES + 1):
            try:
                data = self._post(channel, message, thread_ts, broadcast)
                return str(data.get("channel") or channel), str(data["ts"])
            except _Ambiguous as e:
                failure = e
                try:
                    found = self._markers(channel, digest_key, thread_ts).get(marker)
                except DeliveryError as lookup:
                    # Unknown whether it was posted: stay pending, and let the next run look
                    # again rather than risk a second copy.
                    raise DeliveryError(f"{e}; could not check whether it arrived: {lookup}") from e
                if found:
                    return channel, found
                self._sleep(_backoff(attempt))
        raise DeliveryError(str(failure)) from failure

    # --- public -----------------------------------------------------------------

    def send_digest(self, digest: Digest, digest_key: str, resume: bool = False) -> SlackDelivery:
        """Post every part (the first to the channel, the rest in its thread), then follow-ups.

        With ``resume`` (a digest left pending), parts and follow-ups already in
        Slack are found by their markers and not posted again.
        """
        if not digest.sections and digest.followups and all(f.thread for f in digest.followups):
            return self._send_followups_only(digest, digest_key, resume)
        messages = render_slack(digest, digest_key, self.max_papers)
        done = self._markers(self.channel, digest_key) if resume else {}
        delivery: SlackDelivery | None = None
        for i, message in enumerate(messages, start=1):
            marker = f"p{i}"
            if delivery is None:
                channel, ts = (
                    (self.channel, done[marker])
                    if marker in done
                    else self._post_once(self.channel, message, None, digest_key, marker)
                )
                delivery = SlackDelivery(channel=channel, ts=ts)
                if resume and len(messages) > 1:
                    done.update(self._markers(channel, digest_key, ts))
            elif marker in done:
                ts = done[marker]
            else:
                _, ts = self._post_once(delivery.channel, message, delivery.ts, digest_key, marker)
            delivery.parts.append(ts)
            for work_id in message.work_ids:
                delivery.paper_ts[work_id] = ts
        assert delivery is not None  # render_slack always returns at least one message
        for followup in digest.followups:
            if followup.thread is not None:
                self._follow_up(delivery, followup, digest_key, resume)
        return delivery

    def _follow_up(self, delivery: SlackDelivery, followup: FollowUp, digest_key: str, resume: bool) -> None:
        """Reply in the paper's thread (retractions also to the channel); fall back to the channel."""
        assert followup.thread is not None
        channel, thread_ts = followup.thread
        marker = f"f{followup.event.id}"
        message = render_slack_followup(followup)
        try:
            existing = self._markers(channel, digest_key, thread_ts).get(marker) if resume else None
            ts = (
                existing
                or self._post_once(
                    channel,
                    message,
                    thread_ts,
                    digest_key,
                    marker,
                    broadcast=followup.event.kind == "retracted",
                )[1]
            )
        except DeliveryError as e:
            # The digest is out; failing now would send it again. The original
            # thread may be gone (deleted, archived channel): say it in this channel.
            delivery.errors.append(str(e))
            try:
                ts = self._post_once(self.channel, message, None, digest_key, marker)[1]
            except DeliveryError as again:
                delivery.errors.append(str(again))
                return
        delivery.followup_ts[followup.work.work_id] = ts

    def _send_followups_only(self, digest: Digest, digest_key: str, resume: bool) -> SlackDelivery:
        """No new papers: each follow-up goes straight into its paper's thread, no empty digest."""
        first = digest.followups[0]
        assert first.thread is not None
        delivery = SlackDelivery(channel=first.thread[0], ts=first.thread[1])
        for followup in digest.followups:
            self._follow_up(delivery, followup, digest_key, resume)
        delivery.parts = [
            delivery.followup_ts[f.work.work_id]
            for f in digest.followups
            if f.work.work_id in delivery.followup_ts
        ]
        if delivery.parts:
            delivery.ts = delivery.parts[0]
        return delivery

    def post_followup(self, followup: FollowUp, channel: str, thread_ts: str) -> str:
        """Reply in the paper's thread; retractions are broadcast to the channel too. Returns ts."""
        message = render_slack_followup(followup)
        broadcast = followup.event.kind == "retracted"
        return str(self._post(channel, message, thread_ts=thread_ts, broadcast=broadcast)["ts"])

    def send(self, digest: Digest, digest_key: str) -> str:
        return self.send_digest(digest, digest_key).external_id

    def find_sent(self, digest_key: str) -> str | None:
        """``channel:ts`` of the first part already posted for ``digest_key``, if any."""
        ts = self._markers(self.channel, digest_key).get("p1")
        return f"{self.channel}:{ts}" if ts else None
