"""``crawl --revisit adaptive``: the request budget goes to the most authoritative due pages,
pages that are not due are carried forward without a request, and each page's revisit
interval follows Nutch's adaptive schedule — against a real local server that logs every
request."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from linkcrawl.crawl.revisit import RevisitSchedule
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, WebRequest
from tests.conftest import FAST, run_linkcrawl

HOST = "www.revisit-example.com"
N = 30  # pages under /p/, and the home page: 31 pages
BUDGET = 6  # 20% of the pages
EDGE_COLUMNS = "source, target, anchor, rel, follow, position, kind, ordinal"
DAY = 86_400


def page_html(i: int, note: str = "") -> str:
    # Uneven in-links, so that authority ranks the pages: page i links to i // 2, i // 3
    # and its successor; the small numbers gather the most links.
    links = "".join(
        f'<a href="/p/{j}.html">to {j}</a> ' for j in sorted({i // 2, i // 3, (i + 1) % N})
    )
    return (
        f"<!doctype html><html><head><title>page {i}</title></head><body>"
        f'<nav><a href="/">Home</a></nav><main><p>{note}</p>{links}'
        '<a href="http://ext-revisit.net/">elsewhere</a></main></body></html>'
    )


def build_web(log: list[str]) -> LocalWeb:
    def watch(request: WebRequest) -> None:
        if request.path == "/" or request.path.startswith("/p/"):
            log.append(f"http://{request.host}{request.path}")

    web = LocalWeb(validators=True, handler=watch)
    home = "".join(f'<a href="/p/{j}.html">p{j}</a> ' for j in range(0, N, 5))
    web.add(f"http://{HOST}/", f"<html><body>{home}</body></html>")
    for i in range(N):
        web.add(f"http://{HOST}/p/{i}.html", page_html(i))
    return web


def crawl(server: LocalWebServer, data: Path, crawl_id: str, *args: str) -> None:
    result = run_linkcrawl(
        ["crawl", f"http://{HOST}/", "--data", str(data), "--crawl-id", crawl_id, *FAST, *args],
        proxy=server.proxy_url,
    )
    assert result.returncode == 0, result.stderr


def pages(data: Path, crawl_id: str) -> pd.DataFrame:
    return pd.read_parquet(data / "pages" / f"crawl_id={crawl_id}").set_index("url").sort_index()


def edge_multiset(data: Path, crawl_id: str) -> pd.DataFrame:
    files = str(data / "edges" / f"crawl_id={crawl_id}" / "*.parquet")
    return duckdb.sql(
        f"SELECT {EDGE_COLUMNS}, count(*) AS n FROM read_parquet('{files}') "
        f"GROUP BY ALL ORDER BY {EDGE_COLUMNS}"
    ).df()


def test_next_interval_follows_the_documented_rates_and_bounds():
    schedule = RevisitSchedule()  # Nutch's rates: +40% unchanged, -20% changed
    assert schedule.next_interval(None, changed=False) == 120_960  # 1 day x 1.4
    assert schedule.next_interval(None, changed=True) == 69_120  # 1 day x 0.8
    assert schedule.next_interval(100_000, changed=False) == 140_000
    assert schedule.next_interval(100_000, changed=True) == 80_000
    assert schedule.next_interval(70, changed=True) == 60  # 56 s, held at the 60 s floor
    assert schedule.next_interval(300 * DAY, changed=False) == 365 * DAY  # 420 days, capped


@pytest.mark.slow
def test_adaptive_revisit_spends_the_budget_on_authority_and_skips_what_is_not_due(tmp_path):
    data = tmp_path / "data"
    log: list[str] = []
    web = build_web(log)
    with LocalWebServer(web) as server:
        crawl(server, data, "first")
        result = run_linkcrawl(["analyze", "--data", str(data), "--crawl-id", "first"])
        assert result.returncode == 0, result.stderr
        first = pages(data, "first")
        html = sorted(first[first.status == 200].index)
        assert len(html) == N + 1

        # The earlier crawl's authority table, read independently: the budget's share.
        authority = pd.read_parquet(data / "authority" / "crawl_id=first" / "pages.parquet")
        authority = authority[authority.url.isin(html)].sort_values(
            "authority", ascending=False, kind="stable"
        )
        ranked = authority.authority.tolist()
        assert ranked[BUDGET - 1] > ranked[BUDGET], "the budget's edge must not be a tie"
        expected = set(authority.url.head(BUDGET))

        # One of the pages the budget goes to changes (its text, not its links).
        changed = sorted(expected)[0]
        i = int(changed.rsplit("/", 1)[1].split(".")[0]) if "/p/" in changed else None
        body = page_html(i, "edited") if i is not None else None
        if body is None:  # the home page
            home = "".join(f'<a href="/p/{j}.html">p{j}</a> ' for j in range(0, N, 5))
            body = f"<html><body><p>edited</p>{home}</body></html>"
        web.add(changed, body)

        log.clear()
        crawl(server, data, "second", "--revisit", "adaptive", "--max-pages", str(BUDGET))
        assert set(log) == expected and len(log) == BUDGET
        second = pages(data, "second")
        assert sorted(second.index) == sorted(first.index)  # complete on its own
        fetched = second[second.revisit == "due"]
        assert set(fetched.index) == expected
        carried = second[second.revisit == "over_budget"]
        assert set(carried.index) == set(html) - expected
        assert (carried.edges_from == "first").all() and carried.next_due.isna().all()
        # Hand-computed from the rates: changed 1 day x 0.8, unchanged 1 day x 1.4.
        assert fetched.at[changed, "revisit_interval_s"] == 69_120
        same = fetched.drop(index=changed)
        assert (same.revisit_interval_s == 120_960).all()
        assert (same.edges_from == "first").all() and pd.isna(fetched.at[changed, "edges_from"])
        due_at = fetched.fetched_at + pd.to_timedelta(fetched.revisit_interval_s, unit="s")
        assert (fetched.next_due == due_at).all()
        pd.testing.assert_frame_equal(edge_multiset(data, "second"), edge_multiset(data, "first"))

        # Next: the pages fetched a moment ago are not due; those the budget left out are.
        log.clear()
        crawl(server, data, "third", "--revisit", "adaptive")
        assert set(log) == set(html) - expected and len(log) == len(html) - BUDGET
    third = pages(data, "third")
    resting = third[third.revisit == "not_due"]
    assert set(resting.index) == expected
    assert (resting.edges_from == "second").all()
    assert resting.revisit_interval_s.tolist() == fetched.revisit_interval_s.tolist()
    assert (third.loc[sorted(set(html) - expected), "revisit"] == "due").all()
    # Not requested, yet their edges are in the new crawl: it has every edge of the first.
    pd.testing.assert_frame_equal(edge_multiset(data, "third"), edge_multiset(data, "first"))


def test_revisit_adaptive_without_an_earlier_crawl_is_one_line(tmp_path):
    result = run_linkcrawl(
        ["crawl", "http://www.revisit-example.com/", "--data", str(tmp_path), "--revisit",
         "adaptive"]
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
