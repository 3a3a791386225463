"""EmailSink against real local SMTP servers (aiosmtpd): plain, STARTTLS and implicit TLS."""

from __future__ import annotations

import pytest
import trustme

from tests.digest.sample import sample_digest
from tests.servers.smtp import SmtpServer, trusting
from watcher.config import EmailSettings
from watcher.digest.build import build_digest
from watcher.errors import DeliveryError
from watcher.models import SourceCoverage
from watcher.sinks.email import EmailSink, build_message

KEY = "email:2024-06-03"


def settings(server: SmtpServer, **kw: object) -> EmailSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1" if server.mode != "starttls" else "localhost",
        "port": server.port,
        "security": "none" if server.mode == "plain" else server.mode,
        "from_": "CAR-T watcher <watcher@lab.example.org>",
        "to": ("team@lab.example.org", "pi@lab.example.org"),
        "list_unsubscribe": "https://lab.example.org/unsubscribe?u=team",
        "timeout": 10.0,
    }
    base.update(kw)
    return EmailSettings(**base)  # type: ignore[arg-type]


def test_plain_smtp_delivers_one_multipart_alternative_with_text_then_html() -> None:
    with SmtpServer("plain") as server:
        message_id = EmailSink(settings(server)).send(sample_digest(), KEY)
    [got] = server.received
    assert got.mail_from == "watcher@lab.example.org"
    assert got.rcpt_tos == ["team@lab.example.org", "pi@lab.example.org"]
    msg = got.message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@lab.example.org>")
    assert (
        msg["Date"]
        and msg["Subject"] == "CAR-T in B-ALL: daily literature digest — 2024-06-03 (30 new papers)"
    )
    assert msg["List-Unsubscribe"] == "<https://lab.example.org/unsubscribe?u=team>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert (
        "Tisagenlecleucel in patients aged &lt;3 years with relapsed B-ALL: outcomes &amp; toxicities" in html
    )
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Tisagenlecleucel in patients aged <3 years with relapsed B-ALL: outcomes & toxicities" in text


def test_starttls_with_login_verifies_the_servers_certificate() -> None:
    with SmtpServer("starttls", auth=("watcher", "s3cret-pw")) as server:
        s = settings(server, username="watcher", password="s3cret-pw")
        EmailSink(s, ssl_context=server.client_context()).send(sample_digest(), KEY)
    [got] = server.received
    assert got.login == "watcher"
    assert got.message["Subject"].startswith("CAR-T in B-ALL")


def test_starttls_to_a_server_with_an_untrusted_certificate_is_refused() -> None:
    with SmtpServer("starttls") as server:
        ctx = trusting(trustme.CA())  # verifying, but trusts a different CA
        with pytest.raises(
            DeliveryError, match=r"localhost:\d+ \(starttls\) failed: TLS certificate not trusted"
        ):
            EmailSink(settings(server), ssl_context=ctx).send(sample_digest(), KEY)
    assert server.received == []


def test_the_default_context_verifies_too_so_a_self_signed_relay_is_refused() -> None:
    with SmtpServer("starttls") as server, pytest.raises(DeliveryError, match="certificate"):
        EmailSink(settings(server)).send(sample_digest(), KEY)
    assert server.received == []


def test_implicit_tls_delivers_with_a_verified_certificate() -> None:
    with SmtpServer("tls") as server:
        EmailSink(settings(server, host="localhost"), ssl_context=server.client_context()).send(
            sample_digest(), KEY
        )
    assert len(server.received) == 1


def test_wrong_password_raises_delivery_error_with_the_smtp_code_and_without_the_password() -> None:
    with SmtpServer("starttls", auth=("watcher", "right")) as server:
        s = settings(server, username="watcher", password="wrong-hunter2")
        with pytest.raises(DeliveryError) as info:
            EmailSink(s, ssl_context=server.client_context()).send(sample_digest(), KEY)
    message = str(info.value)
    assert "535" in message and f"localhost:{server.port}" in message
    assert "hunter2" not in message and "hunter2" not in repr(info.value.__cause__)


def test_a_closed_port_raises_delivery_error_naming_host_and_port() -> None:
    server = SmtpServer("plain")  # never started: nothing listens on its port
    with pytest.raises(DeliveryError, match=rf"127.0.0.1:{server.port} \(none\) failed"):
        EmailSink(settings(server)).send(sample_digest(), KEY)


def test_empty_digest_email_says_no_new_papers_and_shows_coverage() -> None:
    digest = build_digest([], [], [SourceCoverage("pubmed", True, 0)], {}, "Digest", "2024-06-03T07:00:00Z")
    with SmtpServer("plain") as server:
        EmailSink(settings(server)).send(digest, KEY)
    msg = server.received[0].message
    for kind in ("plain", "html"):
        body = msg.get_body((kind,)).get_content()  # type: ignore[union-attr]
        assert "No new papers today." in body and "Sources: 1 of 1 polled" in body


def test_mailto_unsubscribe_gets_no_one_click_header() -> None:
    server = SmtpServer("plain")
    msg = build_message(sample_digest(), settings(server, list_unsubscribe="mailto:leave@lab.example.org"))
    assert msg["List-Unsubscribe"] == "<mailto:leave@lab.example.org>"
    assert msg["List-Unsubscribe-Post"] is None


def test_email_sink_cannot_tell_whether_it_sent_so_find_sent_is_none() -> None:
    assert EmailSink(settings(SmtpServer("plain"))).find_sent(KEY) is None
