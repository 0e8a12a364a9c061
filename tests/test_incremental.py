"""``crawl --incremental``: conditional requests from the earlier crawl's validators, and the
edges of unchanged pages carried forward, against real local servers that do and do not
send validators."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, WebRequest
from linkcrawl.reports.monitor import diff
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow

HOSTS = ("www.inc-alpha.com", "www.inc-beta.org")
PAGES = 20  # per host: 40 pages, so 2 changed pages are 5%
EDGE_COLUMNS = "source, target, anchor, rel, follow, position, kind, ordinal"
# Some prose, so that a page weighs what a small real page does (~4 KB).
PROSE = "<p>" + " ".join(["Links are how the web is read, and how it is ranked."] * 70) + "</p>"


def page_html(host: str, i: int, n: int = PAGES) -> str:
    other = HOSTS[1] if host == HOSTS[0] else HOSTS[0]
    return (
        f"<!doctype html><html><head><title>{host} page {i}</title></head><body>"
        '<nav><a href="/">Home</a> <a href="/p/0.html">Start</a></nav>'
        f'<main><h1>Page {i}</h1>{PROSE}<a href="/p/{(i + 1) % n}.html">next</a> '
        f'<a href="/p/{(i + 2) % n}.html">after next</a> '
        f'<a href="http://ext-example.net/ref/{i % 3}">a reference</a> '
        f'<a href="http://{other}/p/{i}.html">our sister site</a>'
        + ('<a href="/missing.html">gone</a>' if i == 5 else "")
        + '</main><footer><a href="http://sponsor-example.com/" rel="sponsored">Sponsor</a>'
        "</footer></body></html>"
    )


def build_web(validators: bool, n: int = PAGES, handler=None) -> LocalWeb:
    web = LocalWeb(validators=validators, handler=handler)
    for host in HOSTS:
        web.add(f"http://{host}/", page_html(host, 0, n).replace("page 0", "home"))
        for i in range(n):
            web.add(f"http://{host}/p/{i}.html", page_html(host, i, n))
    return web


def seeds() -> list[str]:
    return [f"http://{host}/" for host in HOSTS]


def crawl(server: LocalWebServer, data: Path, crawl_id: str, *args: str) -> None:
    result = run_linkcrawl(
        ["crawl", *seeds(), "--data", str(data), "--crawl-id", crawl_id, *FAST, *args],
        proxy=server.proxy_url,
    )
    assert result.returncode == 0, result.stderr


def edge_multiset(data: Path, crawl_id: str) -> pd.DataFrame:
    """Each edge row (less the columns a crawl stamps: crawl_id, discovered_at) and how
    many times it occurs."""
    files = str(data / "edges" / f"crawl_id={crawl_id}" / "*.parquet")
    return duckdb.sql(
        f"SELECT {EDGE_COLUMNS}, count(*) AS n FROM read_parquet('{files}') "
        f"GROUP BY ALL ORDER BY {EDGE_COLUMNS}"
    ).df()


def pages(data: Path, crawl_id: str) -> pd.DataFrame:
    return pd.read_parquet(data / "pages" / f"crawl_id={crawl_id}").set_index("url").sort_index()


def manifest(data: Path, crawl_id: str) -> dict:
    return json.loads((data / "crawls" / f"{crawl_id}.json").read_text())


def test_unchanged_site_with_validators_costs_304s_and_keeps_its_edges(tmp_path):
    data = tmp_path / "data"
    web = build_web(validators=True)
    with LocalWebServer(web) as server:
        crawl(server, data, "first")
        first_bytes = web.sent_bytes
        crawl(server, data, "second", "--incremental")
        second_bytes = web.sent_bytes - first_bytes
    # What the server wrote, status lines and headers included.
    assert second_bytes <= 0.10 * first_bytes, (second_bytes, first_bytes)

    before, after = pages(data, "first"), pages(data, "second")
    html = before[before.status == 200].index
    assert len(html) == 2 * (PAGES + 1)
    # The validators and digest the first crawl recorded are the server's own.
    for url in html:
        host, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
        body = web.pages[(host, path)].body
        assert before.at[url, "content_sha1"] == hashlib.sha1(body).hexdigest()
        assert before.at[url, "etag"].startswith('"')
        assert pd.notna(before.at[url, "last_modified"])
    assert not before.not_modified.any() and before.edges_from.isna().all()

    assert manifest(data, "second")["since"] == "first"
    assert after.loc[html, "not_modified"].all()
    assert (after.loc[html, "edges_from"] == "first").all()
    # A carried page's row is the earlier row's reading of the page.
    for column in ("status", "title", "bytes", "content_sha1", "etag", "outlinks"):
        assert after.loc[html, column].tolist() == before.loc[html, column].tolist(), column
    # The broken link's 404 has no validators: fetched again, nothing carried.
    missing = f"http://{HOSTS[0]}/missing.html"
    assert after.at[missing, "status"] == 404
    assert not after.at[missing, "not_modified"] and pd.isna(after.at[missing, "edges_from"])
    assert sorted(after.index) == sorted(before.index)

    pd.testing.assert_frame_equal(edge_multiset(data, "second"), edge_multiset(data, "first"))
    changes = diff(data, "first", "second")
    assert changes.empty, changes

    # The incremental crawl is complete on its own: its analysis is the first crawl's.
    for crawl_id in ("first", "second"):
        result = run_linkcrawl(["analyze", "--data", str(data), "--crawl-id", crawl_id])
        assert result.returncode == 0, result.stderr
    # (rank left out: pages of equal PageRank, summed in another order, may swap places)
    ranks = [
        pd.read_parquet(data / "authority" / f"crawl_id={c}" / "pages.parquet")
        .drop(columns="rank")
        .sort_values("url")
        .reset_index(drop=True)
        for c in ("first", "second")
    ]
    pd.testing.assert_frame_equal(ranks[1], ranks[0], rtol=1e-9)


def test_without_validators_the_digest_marks_unchanged_pages(tmp_path):
    data = tmp_path / "data"
    conditional: list[str] = []

    def watch(request: WebRequest) -> None:
        if request.headers.get("If-None-Match") or request.headers.get("If-Modified-Since"):
            conditional.append(request.path)

    web = build_web(validators=False, handler=watch)
    with LocalWebServer(web) as server:
        crawl(server, data, "first")
        crawl(server, data, "second", "--incremental")
    assert conditional == []  # nothing to send back: the server sent no validators
    before, after = pages(data, "first"), pages(data, "second")
    assert before.etag.isna().all() and before.last_modified.isna().all()
    html = before[before.status == 200].index
    assert not after.loc[html, "not_modified"].any()
    assert (after.loc[html, "edges_from"] == "first").all()
    assert (after.loc[html, "content_sha1"] == before.loc[html, "content_sha1"]).all()
    pd.testing.assert_frame_equal(edge_multiset(data, "second"), edge_multiset(data, "first"))
    assert diff(data, "first", "second").empty


def test_with_5_percent_changed_diff_reports_exactly_those_changes(tmp_path):
    data = tmp_path / "data"
    web = build_web(validators=True)
    alpha, beta = HOSTS
    with LocalWebServer(web) as server:
        crawl(server, data, "first")
        # 2 of the 42 pages change: alpha's page 3 drops its link to page 4 (page 2 still
        # links there), beta's page 7 gains a link to a new site.
        removed = page_html(alpha, 3).replace('<a href="/p/4.html">next</a>', "")
        added = page_html(beta, 7).replace(
            "</main>", '<a href="http://fresh-example.net/new.html">news</a></main>'
        )
        assert removed != page_html(alpha, 3) and added != page_html(beta, 7)
        web.add(f"http://{alpha}/p/3.html", removed)
        web.add(f"http://{beta}/p/7.html", added)
        crawl(server, data, "second", "--incremental")

    # Counted by hand from the two edits above.
    expected = pd.DataFrame(
        {
            "change": ["lost", "new"],
            "source": [f"http://{alpha}/p/3.html", f"http://{beta}/p/7.html"],
            "target": [f"http://{alpha}/p/4.html", "http://fresh-example.net/new.html"],
            "anchor": ["next", "news"],
            "follow": [True, True],
            "reason": ["link-removed", ""],
        }
    )
    changes = diff(data, "first", "second")
    got = changes.astype({c: str for c in ("change", "source", "target", "reason")})
    got = got.sort_values("change").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)

    after = pages(data, "second")
    fresh = set(after[after.edges_from.isna() & (after.status == 200)].index)
    assert fresh == {f"http://{alpha}/p/3.html", f"http://{beta}/p/7.html"}
    assert (after[after.status == 200].edges_from.dropna() == "first").sum() == 40


def _site_slowly(request: WebRequest) -> None:
    time.sleep(0.03)  # long enough to stop the crawl part-way


def test_an_interrupted_incremental_crawl_resumes_as_one(tmp_path):
    data = tmp_path / "data"
    n = 60
    web = build_web(validators=True, n=n, handler=_site_slowly)
    slow = ["-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1", "--no-sitemaps"]
    with LocalWebServer(web) as server:
        crawl(server, data, "first", *slow)
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        before = len(web.requests)
        args = ["crawl", *seeds(), "--data", str(data), "--crawl-id", "second", "--incremental"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkcrawl.cli", *args, *FAST, *slow],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while len(web.requests) - before < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        assert manifest(data, "second")["status"] == "interrupted"
        partial = pages(data, "second")
        assert 0 < len(partial) < 2 * (n + 1)
        resumed = run_linkcrawl(
            ["crawl", "--resume", "second", "--data", str(data), *FAST], proxy=server.proxy_url
        )
        assert resumed.returncode == 0, resumed.stderr

    record = manifest(data, "second")
    assert record["status"] == "finished" and record["since"] == "first"
    assert record["options"]["since"] == "first"
    after = pages(data, "second")
    assert after.index.is_unique
    assert sorted(after.index) == sorted(pages(data, "first").index)
    html = after[after.status == 200]
    assert (html.edges_from == "first").all() and html.not_modified.all()
    pd.testing.assert_frame_equal(edge_multiset(data, "second"), edge_multiset(data, "first"))


def test_incremental_with_workers(tmp_path):
    data = tmp_path / "data"
    web = build_web(validators=True)
    with LocalWebServer(web) as server:
        crawl(server, data, "first", "--workers", "2")
        crawl(server, data, "second", "--incremental", "--workers", "2")
    assert manifest(data, "second")["workers"] == 2
    after = pages(data, "second")
    html = after[after.status == 200]
    assert len(html) == 2 * (PAGES + 1)
    assert (html.edges_from == "first").all() and html.not_modified.all()
    pd.testing.assert_frame_equal(edge_multiset(data, "second"), edge_multiset(data, "first"))
    assert diff(data, "first", "second").empty


def test_bad_input_is_one_line(tmp_path):
    data = tmp_path / "data"
    web = build_web(validators=True, n=3)
    with LocalWebServer(web) as server:
        none = run_linkcrawl(
            ["crawl", *seeds(), "--data", str(data), "--incremental"], proxy=server.proxy_url
        )
        crawl(server, data, "first")
        other = run_linkcrawl(
            ["crawl", "http://other-example.com/", "--data", str(data), "--incremental"],
            proxy=server.proxy_url,
        )
        unknown = run_linkcrawl(
            ["crawl", *seeds(), "--data", str(data), "--since", "nope"], proxy=server.proxy_url
        )
        (data / "crawls" / "half.json").write_text(
            json.dumps({**manifest(data, "first"), "crawl_id": "half", "status": "interrupted"})
        )
        unfinished = run_linkcrawl(
            ["crawl", *seeds(), "--data", str(data), "--since", "half"], proxy=server.proxy_url
        )
        both = run_linkcrawl(
            ["crawl", "--resume", "half", "--data", str(data), "--incremental"],
            proxy=server.proxy_url,
        )
        # An interrupted incremental crawl whose earlier crawl is gone (pruned, say).
        (data / "crawls" / "orphan.json").write_text(
            json.dumps(
                {
                    **manifest(data, "first"),
                    "crawl_id": "orphan",
                    "status": "interrupted",
                    "since": "gone",
                    "counts": {"pages": 0, "edges": 0, "errors": 0, "sitemaps": 0},
                    "options": {**manifest(data, "first")["options"], "since": "gone"},
                }
            )
        )
        orphan = run_linkcrawl(
            ["crawl", "--resume", "orphan", "--data", str(data)], proxy=server.proxy_url
        )
    for result, says in (
        (none, "no crawl in"),
        (other, "no finished crawl of these seeds"),
        (unknown, "--since: no crawl 'nope'"),
        (unfinished, "--since half: that crawl is interrupted, not finished"),
        (both, "--resume continues a crawl as it started"),
        (orphan, "cannot resume orphan: it is an incremental crawl on gone (no crawl 'gone'"),
    ):
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], result.stderr
    names = sorted(p.name for p in (data / "crawls").iterdir())
    assert names == ["first.json", "half.json", "orphan.json"]
    assert manifest(data, "orphan")["status"] == "interrupted"  # left as it was


def test_incremental_shared_through_redis(tmp_path, redis_url):
    """Two workers of one crawl shared through Redis build on the same earlier crawl: each
    sends the validators of the pages it downloads and carries their edges."""
    data = tmp_path / "data"
    web = build_web(validators=True)
    with LocalWebServer(web) as server:
        crawl(server, data, "first")
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        args = ["crawl", *seeds(), "--data", str(data), "--crawl-id", "second", "--incremental"]
        args += ["--redis", redis_url, *FAST, "-s", "LINKCRAWL_REDIS_WORKER_TIMEOUT=2"]
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "linkcrawl.cli", *args, "-s", f"LINKCRAWL_WORKER={name}"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("wa", "wb")
        ]
        for worker in workers:
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
    record = manifest(data, "second")
    assert record["status"] == "finished" and record["since"] == "first"
    after = pages(data, "second")
    html = after[after.status == 200]
    assert after.index.is_unique and len(html) == 2 * (PAGES + 1)
    assert (html.edges_from == "first").all() and html.not_modified.all()
    pd.testing.assert_frame_equal(edge_multiset(data, "second"), edge_multiset(data, "first"))
