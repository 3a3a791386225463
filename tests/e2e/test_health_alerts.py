"""A broken source is reported to the operator once, and again when it recovers."""

from __future__ import annotations

from tests.e2e.conftest import Workspace, pubmed_config
from tests.servers.eutils import EutilsServer
from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>J</title>
<item><title>A feed item about something</title><link>https://example.org/1</link></item></channel></rss>"""


def test_failing_feed_alerts_once_then_recovery_is_announced(workspace: Workspace) -> None:
    with FeedServer() as feeds, EutilsServer([]) as pubmed, SlackServer(channels=["COPS"]) as slack:
        feeds.status("/j.rss", 500)
        extra = (
            f'\n[slack]\nbase_url = "{slack.base_url}"\nchannel = "COPS"\n'
            '\n[health]\nfailure_threshold = 2\nalert_via = "slack"\n'
            "\n[feed_options]\nmax_retries = 0\n"
            f'\n[[feeds]]\nname = "j"\nurl = "{feeds.url("/j.rss")}"\n'
        )
        workspace.write_config(pubmed_config(pubmed.url, extra=extra))
        env = {"SLACK_BOT_TOKEN": slack.token}

        def alerts() -> list[str]:
            return [m["text"] for m in slack.messages("COPS") if "watcher health" in m["text"]]

        assert workspace.watcher("run", env=env).returncode == 1
        assert alerts() == []  # one failure is below the threshold
        for _ in range(3):
            assert workspace.watcher("run", env=env).returncode == 1
        assert len(alerts()) == 1
        assert "feed:j" in alerts()[0] and "failed" in alerts()[0]

        feeds.serve("/j.rss", FEED)
        assert workspace.watcher("run", env=env).returncode == 0
        assert len(alerts()) == 2
        assert "works again" in alerts()[1]
