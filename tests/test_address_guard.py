"""The guard on where the crawler may connect: no loopback, private, link-local (cloud
metadata), multicast or reserved addresses unless --allow-private. These crawls go to the
local server directly, without the proxy the other tests use (a user-configured proxy is
exempt from the guard)."""

from __future__ import annotations

import pandas as pd
import pytest

from linkcrawl.crawl.middlewares import is_public_address
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
from tests.conftest import FAST, run_linkcrawl


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # shared address space (CGNAT)
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),  # reserved
        ("::1", False),
        ("[::1]", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("ff02::1", False),
        # IPv6 addresses that carry an IPv4 address are judged by it (expectations from
        # the RFCs' layouts, worked by hand).
        ("64:ff9b::7f00:1", False),  # NAT64 (RFC 6052) of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::c0a8:101", False),  # NAT64 of 192.168.1.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b:1::808:808", False),  # NAT64 local-use prefix (RFC 8215)
        ("64:ff9b:1:ffff::7f00:1", False),
        ("2002:7f00:1::1", False),  # 6to4 (RFC 3056) of 127.0.0.1
        ("2002:a00:1:5::1", False),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("::7f00:1", False),  # IPv4-compatible (RFC 4291) 127.0.0.1
        ("::a00:1", False),  # IPv4-compatible 10.0.0.1
        ("::808:808", True),  # IPv4-compatible 8.8.8.8
        ("::ffff:a9fe:a9fe", False),  # IPv4-mapped 169.254.169.254, hex form
        ("::ffff:808:808", True),  # IPv4-mapped 8.8.8.8
        # Teredo (RFC 4380): server 65.54.227.120, client = the last 32 bits inverted
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # client 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # client 192.0.2.45 (TEST-NET-1)
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", True),  # client 8.8.8.8
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", False),  # server 10.0.0.1
        ("fec0::1", False),  # site-local, deprecated (RFC 3879)
        ("feff:ffff::1", False),  # the top of fec0::/10
        ("2001:db8::1", False),  # documentation
        ("not-an-address", False),
    ],
)
def test_is_public_address(address, public):
    assert is_public_address(address) is public


@pytest.fixture
def direct_server():
    web = LocalWeb()
    for host in ("127.0.0.1", "localhost"):
        web.add(f"http://{host}/", '<a href="/next.html">next</a>')
        web.add(f"http://{host}/next.html", "<p>inside</p>")
    with LocalWebServer(web) as server:
        yield server, web


@pytest.mark.slow
def test_private_addresses_are_refused_by_default(direct_server, tmp_path):
    server, web = direct_server
    seeds = [
        f"http://127.0.0.1:{server.port}/",
        f"http://localhost:{server.port}/",
        "http://169.254.169.254/latest/meta-data/",
    ]
    result = run_linkcrawl(["crawl", *seeds, "--data", str(tmp_path), "--crawl-id", "g1", *FAST])
    # Every seed refused: a failed crawl, said so.
    assert result.returncode == 1, result.stderr
    assert "all 3 seeds failed (3 refused by the address guard)" in result.stderr
    pages = pd.read_parquet(tmp_path / "pages")
    assert sorted(pages.url) == sorted(seeds)
    assert set(pages.error) == {"blocked-address"}
    assert pages.status.isna().all()
    assert web.requests == []  # nothing reached the server


@pytest.mark.slow
def test_allow_private_lifts_the_guard(direct_server, tmp_path):
    server, _ = direct_server
    seed = f"http://127.0.0.1:{server.port}/"
    result = run_linkcrawl(
        ["crawl", seed, "--data", str(tmp_path), "--crawl-id", "g2", "--allow-private", *FAST]
    )
    assert result.returncode == 0, result.stderr
    pages = pd.read_parquet(tmp_path / "pages")
    assert set(pages.status) == {200}
    assert f"http://127.0.0.1:{server.port}/next.html" in set(pages.url)
