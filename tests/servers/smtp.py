"""Real SMTP servers on 127.0.0.1 (aiosmtpd) for email tests: plain, STARTTLS, implicit TLS.

TLS uses a throwaway CA from ``trustme`` with a server certificate for
127.0.0.1 and localhost; ``client_context()`` returns a verifying
SSLContext that trusts only that CA. aiosmtpd's Controller cannot take
port 0 (it connects to the port to check readiness), so a free port is
picked first.

    with SmtpServer("starttls", auth=("bot", "s3cret")) as smtp:
        EmailSink(settings(port=smtp.port), ssl_context=smtp.client_context()).send(...)
        smtp.received[0].message["Subject"]

``random_faults`` makes the server refuse some messages the way a busy relay
does, from a seeded schedule: a temporary failure after DATA (451, the
message is not taken), a temporary refusal of the recipient (451 at RCPT) or
a slow answer; ``attempts`` counts every DATA the server was offered.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Mode = Literal["plain", "starttls", "tls"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that verifies certificate and host name against ``ca`` alone."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
    return ctx


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    # The login the client used, or None.
    login: str | None


SmtpFaultKind = Literal["data_451", "rcpt_451", "slow"]


class _Collect:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.attempts = 0
        self.chaos: tuple[float, list[SmtpFaultKind], random.Random, float] | None = None
        self._lock = threading.Lock()

    def _draw(self, allowed: tuple[SmtpFaultKind, ...]) -> SmtpFaultKind | None:
        with self._lock:
            if self.chaos is None:
                return None
            probability, kinds, rng, _ = self.chaos
            if rng.random() >= probability:
                return None
            kind = rng.choice(kinds)
            return kind if kind in allowed else None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self._draw(("rcpt_451",)) == "rcpt_451":
            return "451 4.3.2 Recipient temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        fault = self._draw(("data_451", "slow"))
        if fault == "data_451":
            return "451 4.3.0 Temporary local problem, try again later"
        if fault == "slow" and self.chaos is not None:
            await asyncio.sleep(self.chaos[3])
        raw = envelope.original_content or b""
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        # The authenticator stores the accepted login as the session's auth_data.
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw, msg, login))
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


class SmtpServer:
    def __init__(
        self, mode: Mode = "plain", auth: tuple[str, str] | None = None, ca: trustme.CA | None = None
    ) -> None:
        self.mode = mode
        self.ca = ca or trustme.CA()
        self.port = free_port()
        self.host = "127.0.0.1"
        self._handler = _Collect()
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
        kwargs: dict[str, Any] = {}
        if auth is not None:
            kwargs["authenticator"] = _Authenticator(*auth)
            kwargs["auth_require_tls"] = True
        if mode == "starttls":
            kwargs["tls_context"] = server_ctx
            kwargs["require_starttls"] = True
        self._server_ctx = server_ctx
        self._kwargs = kwargs
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self._handler.received

    @property
    def attempts(self) -> int:
        """How many messages were offered (DATA), taken or refused."""
        return self._handler.attempts

    def random_faults(
        self, probability: float, kinds: list[SmtpFaultKind], seed: int, delay: float = 0.5
    ) -> None:
        """Refuse or slow down commands from a schedule seeded with ``seed`` (replayable)."""
        with self._handler._lock:
            self._handler.chaos = (probability, list(kinds), random.Random(seed), delay)

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's test CA only."""
        return trusting(self.ca)

    def __enter__(self) -> SmtpServer:
        # Created here, not in __init__: a Controller owns an event loop that only stop() closes.
        self._controller = Controller(
            self._handler,
            hostname=self.host,
            port=self.port,
            ssl_context=self._server_ctx if self.mode == "tls" else None,
            **self._kwargs,
        )
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
