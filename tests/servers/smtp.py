"""Real SMTP servers on 127.0.0.1 (aiosmtpd) for email tests: plain, STARTTLS, implicit TLS.

TLS uses a throwaway CA from ``trustme`` with a server certificate for
127.0.0.1 and localhost; ``client_context()`` returns a verifying
SSLContext that trusts only that CA. aiosmtpd's Controller cannot take
port 0 (it connects to the port to check readiness), so a free port is
picked first.

    with SmtpServer("starttls", auth=("bot", "s3cret")) as smtp:
        EmailSink(settings(port=smtp.port), ssl_context=smtp.client_context()).send(...)
        smtp.received[0].message["Subject"]
"""

from __future__ import annotations

import socket
import ssl
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


class _Collect:
    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
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
