"""The address guard does not depend on the environment: only a request that goes through
the proxy configured for its scheme skips the resolver check; a direct request (no_proxy
included) is checked before anything is sent."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
from tests.conftest import FAST

pytestmark = pytest.mark.slow

PROXIED = "http://proxied-example.com/"


def crawl_with_env(args: list[str], env_vars: dict[str, str]) -> subprocess.CompletedProcess:
    """``linkcrawl crawl`` in a subprocess whose proxy variables are exactly ``env_vars``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-m", "linkcrawl.cli", "crawl", *args, *FAST],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture
def web_server():
    web = LocalWeb()
    web.add(PROXIED, "<a href='/next'>next</a>")
    web.add(f"{PROXIED}next", "<p>through the proxy</p>")
    with LocalWebServer(web) as server:
        web.add(f"http://localhost:{server.port}/", "<p>loopback</p>")
        yield server, web


@pytest.mark.parametrize(
    "proxy_host",
    [
        # The proxy named by address: before, NO_PROXY=localhost and FOO_PROXY put
        # "localhost" among the names the resolver did not check.
        "127.0.0.1",
        # The proxy named by a name that is also in no_proxy: the name is trusted for the
        # connection to the proxy only, not for a direct request.
        "localhost",
    ],
)
def test_direct_request_to_a_no_proxy_host_is_refused_before_sending(
    web_server, tmp_path, proxy_host
):
    server, web = web_server
    direct = f"http://localhost:{server.port}/"
    result = crawl_with_env(
        [PROXIED, direct, "--data", str(tmp_path), "--crawl-id", "p1"],
        {
            "http_proxy": f"http://{proxy_host}:{server.port}",
            "NO_PROXY": "localhost",
            "FOO_PROXY": f"http://localhost:{server.port}",
        },
    )
    assert "Traceback" not in result.stderr, result.stderr
    pages = pd.read_parquet(tmp_path / "pages").set_index("url")
    # The proxied site is crawled through the proxy, as the test harness's crawls are.
    assert pages.status[PROXIED] == 200
    assert pages.status[f"{PROXIED}next"] == 200
    # The direct request to loopback is refused by the guard, and nothing reached the
    # server directly (a request through the proxy names its host; a direct one, as
    # localhost:<port>, would be logged with host "localhost").
    assert pages.error[direct] == "blocked-address"
    assert pd.isna(pages.status[direct])
    assert [r for r in web.requests if r[1] == "localhost"] == []
