"""Send the digest as one multipart/alternative email over SMTP (smtplib).

Security is explicit: "starttls" (SMTP, then STARTTLS), "tls" (implicit TLS,
SMTP_SSL) or "none". Certificates are always verified: smtplib's own default
for ``starttls()``/``SMTP_SSL`` without a context is an unverified context, so
a verifying one (the system store, ``email.ca_file`` or the one given) is
always passed. Neither EmailMessage nor smtplib adds ``Date`` or
``Message-ID``; both are set here because large providers reject mail
without a valid Message-ID. The password is only handed to ``login()``.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from watcher.config import EmailSettings
from watcher.digest.render_email import render_email
from watcher.errors import DeliveryError
from watcher.models import Digest

log = logging.getLogger(__name__)

# (host, port, timeout, ssl context) -> a connected client; "tls" needs SMTP_SSL.
SmtpFactory = Callable[[str, int, float, ssl.SSLContext], smtplib.SMTP]


def _unsubscribe_headers(value: str) -> tuple[str, bool]:
    """``List-Unsubscribe`` value and whether one-click (RFC 8058) applies (an https URL)."""
    targets = [t.strip().strip("<>").strip() for t in value.split(",") if t.strip()]
    header = ", ".join(f"<{t}>" for t in targets)
    return header, any(t.lower().startswith("https://") for t in targets)


def message_id(digest_key: str, domain: str) -> str:
    """Derived from the digest key, so a digest re-sent after a crash carries the same Message-ID
    and mail clients that de-duplicate on it show it once."""
    local = re.sub(r"[^A-Za-z0-9.-]", ".", digest_key).strip(".") or "digest"
    return f"<{local}@{domain}>"


def build_message(digest: Digest, settings: EmailSettings, digest_key: str | None = None) -> EmailMessage:
    """The complete message: text part first, then HTML, with every header a provider checks."""
    content = render_email(digest, unsubscribe=settings.list_unsubscribe)
    domain = parseaddr(settings.from_)[1].rpartition("@")[2] or "localhost"
    msg = EmailMessage()
    msg["From"] = settings.from_
    msg["To"] = ", ".join(settings.to)
    msg["Subject"] = content.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(digest_key, domain) if digest_key else make_msgid(domain=domain)
    if settings.list_unsubscribe:
        header, one_click = _unsubscribe_headers(settings.list_unsubscribe)
        msg["List-Unsubscribe"] = header
        if one_click:
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(content.text)
    msg.add_alternative(content.html, subtype="html")
    return msg


def _default_factory(security: str) -> SmtpFactory:
    def connect(host: str, port: int, timeout: float, context: ssl.SSLContext) -> smtplib.SMTP:
        if security == "tls":
            return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        return smtplib.SMTP(host, port, timeout=timeout)

    return connect


def _describe(e: Exception) -> str:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{addr} ({code})" for addr, (code, _) in e.recipients.items())
        return f"all recipients refused: {refused}"
    if isinstance(e, smtplib.SMTPResponseException):
        text = (
            e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        )
        return f"{e.smtp_code} {text}"
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {e.verify_message}"
    return f"{type(e).__name__}: {e}"


class EmailSink:
    name = "email"

    def __init__(
        self,
        settings: EmailSettings,
        ssl_context: ssl.SSLContext | None = None,
        smtp_factory: SmtpFactory | None = None,
    ) -> None:
        self.settings = settings
        if ssl_context is None:
            ssl_context = ssl.create_default_context(cafile=settings.ca_file or None)
        self.ssl_context = ssl_context
        self.smtp_factory = smtp_factory or _default_factory(settings.security)

    def send(self, digest: Digest, digest_key: str) -> str:
        """Send the digest to every ``email.to`` address; returns the Message-ID."""
        s = self.settings
        msg = build_message(digest, s, digest_key)
        where = f"{s.host}:{s.port}"
        try:
            with self.smtp_factory(s.host, s.port, s.timeout, self.ssl_context) as smtp:
                if s.security == "starttls":
                    smtp.starttls(context=self.ssl_context)
                if s.username:
                    smtp.login(s.username, s.password or "")
                refused = smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"email via {where} ({s.security}) failed: {_describe(e)}") from e
        if refused:
            # Some recipients took it; failing now would resend to them.
            log.warning("email via %s: recipients refused: %s", where, ", ".join(sorted(refused)))
        return str(msg["Message-ID"])

    def find_sent(self, digest_key: str) -> str | None:
        """SMTP cannot say whether a message went out; the ledger decides."""
        return None
