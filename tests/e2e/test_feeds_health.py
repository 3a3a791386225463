"""Broken feeds fail alone, show in `watcher status`, and never cost stored data."""

from __future__ import annotations

from tests.e2e.conftest import Workspace, pubmed_config
from tests.paths import FIXTURES
from tests.servers.eutils import EutilsServer
from tests.servers.feeds import FeedServer

PUBLISHERS = FIXTURES / "feeds" / "publishers"
GOOD = PUBLISHERS / "oup_silverchair_zool_j_linn_soc_2021-12-21.xml"
CAPTCHA = PUBLISHERS / "MALFORMED_oup_silverchair_captcha_html_instead_of_feed_2021-11-24.html"


def test_a_captcha_page_and_a_gone_feed_are_per_source_errors_while_the_rest_is_stored(
    workspace: Workspace,
) -> None:
    with FeedServer() as feeds, EutilsServer([]) as pubmed:
        feeds.serve("/good.xml", GOOD.read_bytes(), etag='"v1"')
        feeds.serve("/captcha.xml", CAPTCHA.read_bytes(), content_type="text/html; charset=utf-8")
        feeds.status("/gone.xml", 410)
        extra = "\n[feed_options]\nmin_host_interval = 0.05\n" + "".join(
            f'\n[[feeds]]\nname = "{name}"\nurl = "{feeds.url(path)}"\n'
            for name, path in (("good", "/good.xml"), ("captcha", "/captcha.xml"), ("gone", "/gone.xml"))
        )
        workspace.write_config(pubmed_config(pubmed.url, extra=extra))
        first = workspace.watcher("run", "--json", "--no-deliver")
        assert first.returncode == 1
        sources = first.json()["sources"]
        assert sources["feed:good"]["new"] > 0 and not sources["feed:good"]["errors"]
        assert "HTML" in " ".join(sources["feed:captcha"]["errors"]) or "not a feed" in " ".join(
            sources["feed:captcha"]["errors"]
        )
        assert "410" in " ".join(sources["feed:gone"]["errors"])
        assert not sources["pubmed"]["errors"]

        status = workspace.watcher("status", "--json").json()
        stored = status["works"]
        assert stored == sources["feed:good"]["new"]
        assert status["sources"]["feed:good"]["state"] == "ok"
        assert status["sources"]["feed:captcha"]["state"] == "failing"
        assert status["sources"]["feed:captcha"]["consecutive_failures"] == 1
        assert status["sources"]["pubmed"]["state"] == "ok"

        second = workspace.watcher("run", "--json", "--no-deliver")
        # The good feed answered 304 to our validators; the gone feed was not asked again.
        assert feeds.requests_for("/good.xml")[-1].headers.get("if-none-match") == '"v1"'
        assert len(feeds.requests_for("/gone.xml")) == 1
        assert second.json()["sources"]["feed:good"]["fetched"] == 0
        again = workspace.watcher("status", "--json").json()
        assert again["works"] == stored
        assert again["sources"]["feed:captcha"]["consecutive_failures"] == 2
