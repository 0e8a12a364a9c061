"""Velocity: new and lost referring domains per crawl, counted by hand across three
imported crawls a week apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from linkcrawl.reports.monitor import velocity
from linkcrawl.sources.edgelist import import_edges
from tests.conftest import run_linkcrawl

T = "http://t-example.com"
# crawl id -> (start, [(source, target, follow)])
CRAWLS = {
    "v1": (
        datetime(2026, 1, 5, 3, 0, tzinfo=UTC),
        [
            ("http://r1.com/", f"{T}/", True),
            ("http://r2.com/a", f"{T}/blog/x", True),
            ("http://r2.com/b", f"{T}/", False),  # nofollow: still a referring domain
            ("http://www.r3.com/", f"{T}/", True),
            (f"{T}/", f"{T}/blog/x", True),  # internal: not a referring domain
            ("http://r9.com/", "http://other.org/", True),  # to another domain
        ],
    ),
    "v2": (
        datetime(2026, 1, 12, 3, 0, tzinfo=UTC),
        [
            ("http://r2.com/a", f"{T}/blog/x", True),
            ("http://r3.com/", f"{T}/", True),  # another host of r3.com: the same domain
            ("http://r4.com/", f"{T}/blog/y", True),
            ("http://r5.com/", f"{T}/", False),
            ("http://r1.com/", "http://other.org/", True),  # r1 no longer links to t
        ],
    ),
    "v3": (
        datetime(2026, 1, 19, 3, 0, tzinfo=UTC),
        [
            ("http://r1.com/", f"{T}/blog/z", True),  # back again
            ("http://r5.com/", f"{T}/", True),
            ("http://r6.com/", f"{T}/", True),
        ],
    ),
}


@pytest.fixture(scope="module")
def history_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("velocity") / "data"
    for crawl_id, (started, links) in CRAWLS.items():
        edges = pd.DataFrame(links, columns=["source", "target", "follow"])
        import_edges(data, edges, crawl_id, started_at=started)
    return data


def test_new_and_lost_referring_domains_by_hand(history_data):
    got = velocity(history_data, "t-example.com")
    assert list(got.crawl_id) == ["v1", "v2", "v3"]
    assert list(got.date) == ["2026-01-05", "2026-01-12", "2026-01-19"]
    assert list(got.referring_domains) == [3, 4, 3]
    # v1 has no crawl before it: nothing is new or lost, as unknown
    assert got.new.isna()[0] and got.lost.isna()[0] and got.net.isna()[0]
    assert list(got.new[1:]) == [2, 2] and list(got.lost[1:]) == [1, 3]
    assert list(got.net[1:]) == [1, -1]
    assert list(got.new_domains) == [[], ["r4.com", "r5.com"], ["r1.com", "r6.com"]]
    assert list(got.lost_domains) == [[], ["r1.com"], ["r2.com", "r3.com", "r4.com"]]


def test_a_url_prefix_target(history_data):
    got = velocity(history_data, f"{T}/blog/")
    # v1: r2; v2: r2, r4; v3: r1
    assert list(got.referring_domains) == [1, 2, 1]
    assert list(got.new_domains) == [[], ["r4.com"], ["r1.com"]]
    assert list(got.lost_domains) == [[], [], ["r2.com", "r4.com"]]


@pytest.mark.slow
def test_history_domains_command(history_data):
    d = ["--data", str(history_data)]
    run = run_linkcrawl(["history", "t-example.com", "--domains", "--format", "json", *d])
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)["rows"]
    assert [(r["date"], r["new"], r["lost"]) for r in rows] == [
        ("2026-01-05", None, None),
        ("2026-01-12", 2, 1),
        ("2026-01-19", 2, 3),
    ]
    table = run_linkcrawl(["history", "t-example.com", "--domains", *d])
    assert table.returncode == 0, table.stderr
    assert "2026-01-19" in table.stdout and "new and lost per crawl" in table.stdout
    listed = [
        "history",
        "t-example.com",
        "--domains",
        "--columns",
        "date,lost_domains",
        "--format",
        "csv",
        *d,
    ]
    csv = run_linkcrawl(listed)
    assert csv.stdout.splitlines()[-1] == '2026-01-19,"r2.com, r3.com, r4.com"'
