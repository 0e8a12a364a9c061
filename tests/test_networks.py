"""pages.ip and referring subnets: the address recorded on a direct crawl and null through
a proxy; subnets, IPs per subnet and the hosting flags on hand-built addresses."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from linkcrawl.analysis import analyze
from linkcrawl.dataset.schemas import ADDED_COLUMNS, PAGES_SCHEMA, SCHEMA_VERSION
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
from linkcrawl.reports.networks import network_flags, referring_networks, subnet_of
from tests.conftest import FAST, run_linkcrawl


def test_the_contract_says_ip_is_new_in_version_3():
    assert SCHEMA_VERSION >= 3 and ADDED_COLUMNS["pages"]["ip"] == 3
    assert PAGES_SCHEMA.field("ip").type == "string" and PAGES_SCHEMA.field("ip").nullable


@pytest.mark.parametrize(
    ("ip", "subnet"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("203.0.113.255", "203.0.113.0/24"),
        ("203.0.114.1", "203.0.114.0/24"),
        ("2001:db8:1:2::5", "2001:db8:1::/48"),
        ("2001:db8:1:ffff::1", "2001:db8:1::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),  # IPv4-mapped: the IPv4 /24
        ("not an address", None),
    ],
)
def test_subnets_by_hand(ip, subnet):
    assert subnet_of(ip) == subnet


def test_hosting_flags_by_hand():
    # 10 referring domains: 5 on one /24 (4 IPs), the rest one IP and /24 each.
    subnets = pd.DataFrame(
        {
            "subnet": ["203.0.113.0/24", *(f"198.51.{i}.0/24" for i in range(5))],
            "referring_domains": [5, 1, 1, 1, 1, 1],
            "ips": [4, 1, 1, 1, 1, 1],
        }
    )
    # 9 IPs on 6 subnets: 1.5 per subnet, under 1.8; the shared /24 is named.
    assert network_flags(10, 9, subnets) == [
        "5 of 10 referring domains (50%) on subnet 203.0.113.0/24"
    ]
    crowded = subnets.assign(ips=[8, 1, 1, 1, 1, 1])  # 13 IPs on 6 subnets: 2.17
    assert network_flags(10, 13, crowded)[0] == (
        "13 referring IPs on 6 subnets: 2.17 per subnet, above 1.8 (typical: about 1.23)"
    )
    assert network_flags(0, 0, subnets.iloc[:0]) == []


@pytest.fixture(scope="module")
def direct_crawl(tmp_path_factory):
    """A direct crawl (no proxy) of a site on 127.0.0.1 that links to localhost: its pages
    have the server's address."""
    web = LocalWeb()
    with LocalWebServer(web) as server:
        here = f"http://127.0.0.1:{server.port}"
        web.add(f"{here}/", f'<a href="/a">a</a><a href="http://localhost:{server.port}/">l</a>')
        web.add(f"{here}/a", f'<a href="http://localhost:{server.port}/x">x</a>')
        data = tmp_path_factory.mktemp("direct")
        result = run_linkcrawl(
            [
                "crawl",
                f"{here}/",
                "--data",
                str(data),
                "--crawl-id",
                "d1",
                "--allow-private",
                *FAST,
            ]
        )
    assert result.returncode == 0, result.stderr
    analyze(data, "d1")
    return data


@pytest.mark.slow
def test_a_direct_crawl_records_the_server_address(direct_crawl):
    pages = pd.read_parquet(direct_crawl / "pages")
    fetched = pages[pages.status == 200]
    assert len(fetched) == 2 and set(fetched.ip) == {"127.0.0.1"}
    part = next((direct_crawl / "pages" / "crawl_id=d1").glob("*.parquet"))
    assert (
        pq.read_schema(part).metadata[b"linkcrawl.schema_version"] == str(SCHEMA_VERSION).encode()
    )
    report = referring_networks(direct_crawl, "localhost")
    assert report.summary["referring_domains"] == 1 and report.summary["referring_ips"] == 1
    assert list(report.subnets.subnet) == ["127.0.0.0/24"]
    assert list(report.domains.ips) == [["127.0.0.1"]]
    run = run_linkcrawl(
        ["backlinks", "localhost", "--networks", "--format", "json", "--data", str(direct_crawl)]
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["rows"][0]["subnet"] == "127.0.0.0/24" and out["summary"]["ips_per_subnet"] == 1


@pytest.mark.slow
def test_through_a_proxy_the_address_is_null(demo_crawl):
    data, crawl_id = demo_crawl
    pages = pd.read_parquet(data / "pages", filters=[("crawl_id", "=", crawl_id)])
    assert (pages.status == 200).sum() > 10
    assert pages.ip.isna().all()  # the connection's address is the proxy's, not the site's
