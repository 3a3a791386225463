"""Tell the operator when a source breaks or goes quiet, once, and again when it recovers.

``transitions`` is pure: from the stored health rows it decides which alerts
are due. ``send_alerts`` delivers them (Slack, email or the log) and records
that they were sent, so an alert is not repeated every poll.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal

log = logging.getLogger("watcher.health")

# source_health.alerted values
OK, FAILING, SILENT = 0, 1, 2


@dataclass(frozen=True)
class Alert:
    source: str
    kind: Literal["failing", "silent", "recovered"]
    message: str
    state: int  # the alerted value to store once sent


def transitions(rows: list[dict[str, Any]], threshold: int, silent_days: float, now: datetime) -> list[Alert]:
    silent_before = (now - timedelta(days=silent_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    alerts = []
    for h in rows:
        source, alerted = h["source"], h.get("alerted") or OK
        failures = h.get("consecutive_failures") or 0
        last_new = h.get("last_new_at") or h.get("first_success_at") or ""
        quiet = bool(h.get("last_success_at")) and failures == 0 and last_new < silent_before
        if failures >= threshold and alerted != FAILING:
            alerts.append(
                Alert(
                    source,
                    "failing",
                    f"{source} has failed {failures} times in a row; last error: {h.get('last_error') or '?'}",
                    FAILING,
                )
            )
        elif quiet and alerted == OK:
            since = h.get("last_new_at") or "it was first polled"
            alerts.append(
                Alert(
                    source,
                    "silent",
                    f"{source} answers but has had no new item since {since} (over {silent_days:g} days); "
                    "check that its URL or query still returns papers",
                    SILENT,
                )
            )
        elif alerted == FAILING and failures == 0:
            alerts.append(
                Alert(source, "recovered", f"{source} works again (last success {h['last_success_at']})", OK)
            )
        elif alerted == SILENT and not quiet and failures == 0:
            alerts.append(Alert(source, "recovered", f"{source} has new items again", OK))
    return alerts


def send_alerts(app: Any, alerts: list[Alert]) -> None:
    """Deliver each alert by the configured route; a failed alert stays due and is retried next poll."""
    settings = app.settings
    via = settings.health.alert_via
    for alert in alerts:
        text = f"watcher health: {alert.message}"
        try:
            if via in ("slack", "both") and settings.slack.token:
                _slack(app, text)
            if via in ("email", "both") and settings.email.configured:
                _email(app, alert, text)
        except Exception as e:  # an alert that cannot be sent must not stop polling
            log.error("could not send health alert for %s: %s", alert.source, e)
            continue
        log.warning(text)
        app.store.set_health_alerted(alert.source, alert.state)


def _slack(app: Any, text: str) -> None:
    from watcher.digest.text import slack_escape
    from watcher.sinks.slack import SlackSink

    settings = app.settings
    channel = settings.health.alert_channel or settings.slack.channel
    sink = SlackSink(settings.slack, channel)
    sink._call("chat.postMessage", channel, channel=channel, text=slack_escape(text), unfurl_links=False)


def _email(app: Any, alert: Alert, text: str) -> None:
    import ssl

    from watcher.sinks.email import _default_factory

    s = app.settings.email
    msg = EmailMessage()
    msg["From"], msg["To"] = s.from_, ", ".join(s.to)
    msg["Subject"] = f"watcher: {alert.source} is {alert.kind}"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=s.from_.rpartition("@")[2] or "localhost")
    msg.set_content(text)
    context = ssl.create_default_context(cafile=s.ca_file or None)
    with _default_factory(s.security)(s.host, s.port, s.timeout, context) as smtp:
        if s.security == "starttls":
            smtp.starttls(context=context)
        if s.username:
            smtp.login(s.username, s.password or "")
        smtp.send_message(msg)
