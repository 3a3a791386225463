"""A real HTTP Slack Web API stand-in on 127.0.0.1 for the methods watcher uses.

Implements ``chat.postMessage`` and ``conversations.history`` over HTTP with
Slack's answers: Bearer token check (``invalid_auth``), unknown channel
(``channel_not_found``), ``no_text``, and Block Kit limits enforced the way
Slack rejects them (over 50 blocks, header > 150, section/context text >
3,000 -> ``invalid_blocks`` with ``response_metadata.messages``; serialized
blocks > 13,000 characters -> ``msg_blocks_too_long``). Bodies may be JSON
or form-encoded (JSON fields inside a form are decoded), arguments may also
come in the query string. ``fail_next`` makes the next requests answer 429
with Retry-After, a 5xx, or any ``ok: false`` error. ``random_faults`` adds a
seeded random schedule on top: besides those answers, a TCP reset before the
request is handled, a slow reply (the post is stored, the answer waits) and a
lost reply (the post is stored, then the connection is reset: the client
cannot know Slack has it).

    with SlackServer(channels=["C0DIGEST"]) as slack:
        client = WebClient(token=slack.token, base_url=slack.base_url)
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_TEXT = 3000
MAX_BLOCKS_JSON = 13_000
JSON_FIELDS = ("blocks", "metadata", "attachments")


FaultKind = Literal["status", "reset", "slow", "lost_reply"]


@dataclass
class Fault:
    """``status`` answers instead of handling; ``reset`` drops the connection unhandled;
    ``slow`` handles, then answers after ``delay``; ``lost_reply`` handles, then resets."""

    status: int = 503
    error: str = "service_unavailable"
    retry_after: int | None = None
    kind: FaultKind = "status"
    delay: float = 0.0


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    status: int
    error: str | None


@dataclass
class SlackState:
    token: str
    channels: set[str]
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # Set when a message is stored; while `hold` is set, the reply waits for it to clear,
    # so a test can kill the client after Slack accepted a post but before it heard back.
    posted: threading.Event = field(default_factory=threading.Event)
    hold: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    chaos: tuple[float, list[Fault], random.Random] | None = None


def _is_true(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _block_errors(blocks: Any) -> list[str]:
    """Slack-style messages for each rule the blocks break; empty when they are valid."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text":
                errors.append(f"[ERROR] must be plain_text {where}/text/type]")
            if not 0 < len(text.get("text", "")) <= MAX_HEADER:
                errors.append(f"[ERROR] must be 1-{MAX_HEADER} characters {where}/text/text]")
        elif kind == "section":
            text = block.get("text")
            if text is None and not block.get("fields"):
                errors.append(f"[ERROR] must provide text or fields {where}]")
            if text is not None and not 0 < len(text.get("text", "")) <= MAX_TEXT:
                errors.append(f"[ERROR] must be 1-{MAX_TEXT} characters {where}/text/text]")
        elif kind == "context":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 10:
                errors.append(f"[ERROR] must have 1-10 elements {where}/elements]")
            for j, el in enumerate(elements):
                if not 0 < len(el.get("text", "")) <= MAX_TEXT:
                    errors.append(f"[ERROR] must be 1-{MAX_TEXT} characters {where}/elements/{j}/text]")
        elif kind != "divider":
            errors.append(f"[ERROR] unsupported block type {kind!r} {where}/type]")
    return errors


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _answer(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        raw = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type", "application/json; charset=utf-8" if isinstance(body, dict) else "text/html"
        )
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _args(self) -> dict[str, Any]:
        url = urlsplit(self.path)
        args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if raw and ctype.startswith("application/json"):
            args.update(json.loads(raw))
        elif raw:
            args.update({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
            for name in JSON_FIELDS:
                if isinstance(args.get(name), str):
                    args[name] = json.loads(args[name])
        return args

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        state = self.server.state
        method = urlsplit(self.path).path.rsplit("/", 1)[-1]
        args = self._args()
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
            if fault is None and state.chaos is not None:
                probability, kinds, rng = state.chaos
                if rng.random() < probability:
                    fault = rng.choice(kinds)
            if fault is not None and fault.kind in ("status", "reset"):
                # Handled requests (slow, lost_reply) are logged once, with Slack's answer.
                state.calls.append(
                    Call(method, args, fault.status if fault.kind == "status" else 0, fault.error)
                )
        if fault is not None and fault.kind == "reset":
            self._reset()
            return
        if fault is not None and fault.kind in ("slow", "lost_reply"):
            self._after = fault
        elif fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.status >= 500:
                self._answer(fault.status, "<html><body>Internal Server Error</body></html>", headers)
            else:
                self._answer(fault.status, {"ok": False, "error": fault.error}, headers)
            return
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            return self._reply(method, args, {"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage":
            return self._reply(method, args, self._post_message(args))
        if method == "conversations.history":
            return self._reply(method, args, self._history(args))
        if method == "conversations.replies":
            return self._reply(method, args, self._replies(args))
        return self._reply(method, args, {"ok": False, "error": "unknown_method"}, status=404)

    _after: Fault | None = None

    def _reply(self, method: str, args: dict[str, Any], body: dict[str, Any], status: int = 200) -> None:
        with self.server.state.lock:
            self.server.state.calls.append(Call(method, args, status, body.get("error")))
        after, self._after = self._after, None
        if after is not None and after.kind == "lost_reply":
            self._reset()
            return
        if after is not None and after.delay:
            time.sleep(after.delay)
        self._answer(status, body)

    def _reset(self) -> None:
        # SO_LINGER 0 turns close() into a TCP RST: the client gets no answer at all.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        state = self.server.state
        channel = args.get("channel")
        if channel not in state.channels:
            return {"ok": False, "error": "channel_not_found"}
        blocks = args.get("blocks")
        if not args.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        if blocks is not None:
            errors = _block_errors(blocks)
            if errors:
                return {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": errors}}
            if len(json.dumps(blocks, ensure_ascii=False)) > MAX_BLOCKS_JSON:
                return {"ok": False, "error": "msg_blocks_too_long"}
        with state.lock:
            posted = state.messages.setdefault(channel, [])
            thread_ts = args.get("thread_ts")
            if thread_ts and not any(m["ts"] == thread_ts for m in posted):
                return {"ok": False, "error": "thread_not_found"}
            ts = f"{1_700_000_000 + next(state.clock)}.000100"
            message = {
                "type": "message",
                "ts": ts,
                "text": args.get("text", ""),
                "blocks": blocks or [],
                "metadata": args.get("metadata"),
                "thread_ts": thread_ts,
                "reply_broadcast": _is_true(args.get("reply_broadcast")),
                "unfurl_links": args.get("unfurl_links"),
                "unfurl_media": args.get("unfurl_media"),
            }
            posted.append(message)
        state.posted.set()
        if state.hold.is_set():
            state.released.wait(timeout=60)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts, "text": message["text"]}}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """The thread's parent then its replies, oldest first (as Slack answers)."""
        state = self.server.state
        channel, ts = args.get("channel"), args.get("ts")
        if channel not in state.channels:
            return {"ok": False, "error": "channel_not_found"}
        with state.lock:
            thread = [m for m in state.messages.get(channel, []) if m["ts"] == ts or m["thread_ts"] == ts]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        with_metadata = _is_true(args.get("include_all_metadata"))
        return {"ok": True, "messages": [_listed(m, with_metadata) for m in thread], "has_more": False}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        state = self.server.state
        channel = args.get("channel")
        if channel not in state.channels:
            return {"ok": False, "error": "channel_not_found"}
        limit = int(args.get("limit") or 100)
        with_metadata = _is_true(args.get("include_all_metadata"))
        with state.lock:
            top = [m for m in state.messages.get(channel, []) if not m["thread_ts"] or m["reply_broadcast"]]
        out = [_listed(m, with_metadata) for m in reversed(top[-limit:])]
        return {"ok": True, "messages": out, "has_more": len(top) > limit}


def _listed(m: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    item = {"type": "message", "ts": m["ts"], "text": m["text"], "blocks": m["blocks"]}
    if m["thread_ts"]:
        item["thread_ts"] = m["thread_ts"]
    if with_metadata and m["metadata"]:
        item["metadata"] = m["metadata"]
    return item


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: SlackState


class SlackServer:
    """Runs the stand-in in a thread; use as a context manager."""

    def __init__(
        self,
        channels: list[str] | tuple[str, ...] = ("C0DIGEST",),
        token: str = "xoxb-test-1",  # noqa: S107 - a made-up token only this local server accepts
    ) -> None:
        self.state = SlackState(token=token, channels=set(channels))
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/"

    def __enter__(self) -> SlackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def fail_next(
        self, n: int, status: int = 429, error: str = "ratelimited", retry_after: int | None = None
    ) -> None:
        """Answer the next ``n`` requests with this failure instead of handling them."""
        with self.state.lock:
            self.state.faults.extend(Fault(status, error, retry_after) for _ in range(n))

    def random_faults(self, probability: float, kinds: list[Fault], seed: int) -> None:
        """From now on each request without a queued fault meets one of ``kinds`` with ``probability``.

        Drawn by a generator seeded with ``seed``, so a schedule can be replayed.
        """
        with self.state.lock:
            self.state.chaos = (probability, list(kinds), random.Random(seed))

    def hold_replies(self) -> None:
        """Store posts but do not answer them until ``release()``."""
        self.state.released.clear()
        self.state.hold.set()

    def release(self) -> None:
        self.state.hold.clear()
        self.state.released.set()

    def messages(self, channel: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.messages.get(channel, []))

    def calls(self, method: str | None = None) -> list[Call]:
        with self.state.lock:
            return [c for c in self.state.calls if method is None or c.method == method]
