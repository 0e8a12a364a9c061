"""``crawl --revisit adaptive``: the request budget goes to the most authoritative due pages,
pages that are not due are carried forward without a request, and each page's revisit
interval follows Nutch's adaptive schedule — against a real local server that logs every
request."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from linkcrawl.crawl.revisit import RevisitSchedule
from linkcrawl.crawl.sitemaps import lastmod_bounds
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource, WebRequest
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


def build_web(log: list[str], hosts: tuple[str, ...] = (HOST,), delay: float = 0) -> LocalWeb:
    def watch(request: WebRequest) -> None:
        if request.path == "/" or request.path.startswith("/p/"):
            log.append(f"http://{request.host}{request.path}")
            time.sleep(delay)

    web = LocalWeb(validators=True, handler=watch)
    home = "".join(f'<a href="/p/{j}.html">p{j}</a> ' for j in range(0, N, 5))
    for host in hosts:
        web.add(f"http://{host}/", f"<html><body>{home}</body></html>")
        for i in range(N):
            web.add(f"http://{host}/p/{i}.html", page_html(i))
    return web


def crawl_seed(
    seed: str | tuple[str, ...], server: LocalWebServer, data: Path, crawl_id: str, *args: str
) -> None:
    seeds = [seed] if isinstance(seed, str) else list(seed)
    result = run_linkcrawl(
        ["crawl", *seeds, "--data", str(data), "--crawl-id", crawl_id, *FAST, *args],
        proxy=server.proxy_url,
    )
    assert result.returncode == 0, result.stderr


def crawl(server: LocalWebServer, data: Path, crawl_id: str, *args: str) -> None:
    crawl_seed(f"http://{HOST}/", server, data, crawl_id, *args)


def pages(data: Path, crawl_id: str) -> pd.DataFrame:
    return pd.read_parquet(data / "pages" / f"crawl_id={crawl_id}").set_index("url").sort_index()


def edge_multiset(data: Path, crawl_id: str) -> pd.DataFrame:
    files = str(data / "edges" / f"crawl_id={crawl_id}" / "*.parquet")
    return duckdb.sql(
        f"SELECT {EDGE_COLUMNS}, count(*) AS n FROM read_parquet('{files}') "
        f"GROUP BY ALL ORDER BY {EDGE_COLUMNS}"
    ).df()


def test_lastmod_bounds_read_each_w3c_form():
    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text).timestamp() * 1000)

    # Hand-written: a date form is its whole period in UTC, a zone-less time any zone's
    # reading (UTC-12 to UTC+14), a zoned time that moment.
    assert lastmod_bounds("2026-12-02") == (ms("2026-12-02T00:00Z"), ms("2026-12-03T00:00Z") - 1)
    assert lastmod_bounds("2026-02") == (ms("2026-02-01T00:00Z"), ms("2026-03-01T00:00Z") - 1)
    assert lastmod_bounds("2026-12") == (ms("2026-12-01T00:00Z"), ms("2027-01-01T00:00Z") - 1)
    assert lastmod_bounds("2026") == (ms("2026-01-01T00:00Z"), ms("2027-01-01T00:00Z") - 1)
    assert lastmod_bounds("2026-12-02T10:00:00") == (
        ms("2026-12-01T20:00Z"),
        ms("2026-12-02T22:00Z"),
    )
    assert lastmod_bounds("2026-12-02T10:00+01:00") == (ms("2026-12-02T09:00Z"),) * 2
    assert lastmod_bounds("2026-12-02T10:00:00.5Z") == (ms("2026-12-02T10:00:00.5Z"),) * 2
    assert lastmod_bounds("yesterday") is None and lastmod_bounds(None) is None


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


# -- a sitemap lastmod after the last fetch makes a page due ------------------------------

MAP_HOST = "www.lastmod-example.org"
MAP_PAGES = 12
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def xml(body: str) -> Resource:
    return Resource(200, {"Content-Type": "application/xml"}, body.encode())


def urlset(entries: dict[str, str | None]) -> Resource:
    rows = "".join(
        f"<url><loc>{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</url>"
        for loc, mod in entries.items()
    )
    return xml(f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{rows}</urlset>')


def map_web(log: list[str]) -> LocalWeb:
    site = f"http://{MAP_HOST}"

    def watch(request: WebRequest) -> None:
        if request.path.endswith(".html") or request.path == "/":
            log.append(f"http://{request.host}{request.path}")

    web = LocalWeb(validators=True, handler=watch)
    web.add(
        f"{site}/robots.txt",
        Resource(200, {"Content-Type": "text/plain"}, f"Sitemap: {site}/index.xml\n".encode()),
    )
    # An index of two files, the plan waits for both; between them, a file whose URL is
    # over URLLENGTH_LIMIT, which Scrapy's UrlLengthMiddleware drops without an answer.
    children = "".join(
        f"<sitemap><loc>{site}/{name}.xml</loc></sitemap>"
        for name in ("map-0", "long-" + "x" * 2100, "map-1")
    )
    web.add(f"{site}/index.xml", xml(f'<?xml version="1.0"?><sitemapindex {NS}>{children}'
                                     "</sitemapindex>"))  # fmt: skip
    links = "".join(f'<a href="/p/{i}.html">{i}</a> ' for i in range(MAP_PAGES))
    web.add(f"{site}/", f"<html><body>{links}</body></html>")
    for i in range(MAP_PAGES):
        web.add(f"{site}/p/{i}.html", f'<html><body><a href="/">home</a> page {i}</body></html>')
    set_lastmods(web, {})
    return web


def set_lastmods(web: LocalWeb, lastmod: dict[str, str | None], extra: tuple[str, ...] = ()):
    site = f"http://{MAP_HOST}"
    urls = [f"{site}/p/{i}.html" for i in range(MAP_PAGES)] + list(extra)
    entries = {url: lastmod.get(url) for url in urls}
    half = len(urls) // 2
    web.add(f"{site}/map-0.xml", urlset(dict(list(entries.items())[:half])))
    web.add(f"{site}/map-1.xml", urlset(dict(list(entries.items())[half:])))


def iso(ms: float, zone: bool = True) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + "+00:00" if zone else text


@pytest.mark.slow
def test_a_sitemap_lastmod_after_the_last_fetch_makes_a_not_due_page_due(tmp_path):
    data = tmp_path / "data"
    log: list[str] = []
    web = map_web(log)
    site = f"http://{MAP_HOST}"
    page = [f"{site}/p/{i}.html" for i in range(MAP_PAGES)]
    run = functools.partial(crawl_seed, f"{site}/")
    with LocalWebServer(web) as server:
        run(server, data, "first")
        run(server, data, "second", "--revisit", "adaptive")  # every page due: none had one
        second = pages(data, "second")
        assert (second.loc[page, "revisit"] == "due").all()
        fetched = {url: second.at[url, "fetched_at"].value // 1_000_000 for url in page}
        time.sleep(1.1)  # a lastmod has whole seconds: "now" is then after every fetch
        now = time.time() * 1000
        day = 86_400_000
        today = datetime.fromtimestamp(now / 1000, UTC).date()
        lastmods = {
            page[0]: iso(now),  # after the fetch, with a zone: due
            page[1]: iso(fetched[page[1]] - 3_600_000),  # an hour before it: not due
            page[2]: today.isoformat(),  # a date alone is the whole day: due
            page[3]: (today - timedelta(days=2)).isoformat(),  # two days before: not due
            page[4]: iso(now + 2 * day),  # in the future, cannot be true: ignored
            page[5]: (today + timedelta(days=2)).isoformat(),  # a future day: ignored
            page[6]: iso(now, zone=False),  # no zone: any zone's reading, up to 12 h on: due
            page[7]: iso(fetched[page[7]] - 13 * 3_600_000, zone=False),  # 13 h before: not
            page[8]: "not a date",
        }  # pages 9 to 11: no lastmod
        orphan = f"{site}/orphan.html"  # listed in the sitemap only, new to the crawl
        web.add(orphan, "<html><body>only in the sitemap</body></html>")
        set_lastmods(web, lastmods, extra=(orphan,))
        log.clear()
        before = len(web.requests)
        run(server, data, "third", "--revisit", "adaptive")
        paths = [path for _, _, path in web.requests[before:]]
    # The server's own log: of the pages not due, exactly those with a newer lastmod.
    due = {page[0], page[2], page[6]}
    assert sorted(log) == sorted([*due, orphan])
    # robots.txt (once: the robots.txt middleware's reading gives its Sitemap line) and each
    # sitemap file once, one after the other, before any page.
    assert paths[:4] == ["/robots.txt", "/index.xml", "/map-0.xml", "/map-1.xml"]
    assert all(path.endswith(".html") for path in paths[4:])
    third = pages(data, "third")
    assert third.index.is_unique
    assert set(third[third.revisit == "due"].index) == due | {orphan}
    assert set(third[third.revisit == "not_due"].index) == {f"{site}/", *page} - due
    assert (third.loc[sorted(due), "edges_from"] == "second").all()  # unchanged: 304
    assert third.at[orphan, "discovered_by"] == "sitemap"
    pd.testing.assert_frame_equal(
        edge_multiset(data, "third").query("source != @orphan").reset_index(drop=True),
        edge_multiset(data, "second"),
    )
    # The sitemaps were read once, and their rows written as in any crawl.
    maps = pd.read_parquet(data / "sitemaps" / "crawl_id=third")
    assert sorted(maps.url) == sorted([*page, orphan])


# -- --redis and --workers, and a resumed adaptive crawl ----------------------------------


def budgeted_earlier(
    server: LocalWebServer, data: Path, hosts: tuple[str, ...] = (HOST,)
) -> set[str]:
    """A full crawl, then an adaptive one with a budget of BUDGET pages a site: those pages
    are fetched and get their next due time, the others stay due. Returns the pages
    fetched, which are not due in the next crawl."""
    seeds = tuple(f"http://{host}/" for host in hosts)
    crawl_seed(seeds, server, data, "first")
    result = run_linkcrawl(["analyze", "--data", str(data), "--crawl-id", "first"])
    assert result.returncode == 0, result.stderr
    crawl_seed(seeds, server, data, "second", "--revisit", "adaptive", "--max-pages", str(BUDGET))
    second = pages(data, "second")
    fetched = set(second[second.revisit == "due"].index)
    assert len(fetched) == BUDGET * len(hosts)
    assert second.loc[sorted(fetched), "next_due"].notna().all()
    return fetched


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> tuple[Path, set[str]]:
    """``budgeted_earlier`` of the one-site web, once for the tests below that copy it: the
    data directory, and the pages not due in the next crawl. (The server's validators
    are the bodies' digests: another server of the same web answers them with 304.)"""
    data = tmp_path_factory.mktemp("earlier") / "data"
    with LocalWebServer(build_web([])) as server:
        resting = budgeted_earlier(server, data)
    return data, resting


def copy_earlier(earlier: tuple[Path, set[str]], tmp_path: Path) -> tuple[Path, set[str]]:
    data = tmp_path / "data"
    shutil.copytree(earlier[0], data)
    return data, earlier[1]


def check_revisit(data: Path, crawl_id: str, log: list[str], resting: set[str]) -> None:
    """The witnesses of an adaptive crawl after ``budgeted_earlier``: the server saw one
    request for each due page and none for a page that was not due; each page has one row;
    the edges are the first crawl's."""
    html = set(pages(data, "first").query("status == 200").index)
    assert sorted(log) == sorted(html - resting)  # each due page once, no other
    after = pages(data, crawl_id)
    assert after.index.is_unique
    assert sorted(after.index) == sorted(pages(data, "first").index)
    assert set(after[after.revisit == "not_due"].index) == resting
    assert (after.loc[sorted(resting), "edges_from"] == "second").all()
    pd.testing.assert_frame_equal(edge_multiset(data, crawl_id), edge_multiset(data, "first"))


@pytest.mark.slow
def test_adaptive_revisit_shared_through_redis_carries_each_page_once(tmp_path, redis_url, earlier):
    data, resting = copy_earlier(earlier, tmp_path)
    log: list[str] = []
    web = build_web(log)
    with LocalWebServer(web) as server:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        args = ["crawl", f"http://{HOST}/", "--data", str(data), "--crawl-id", "third"]
        args += ["--revisit", "adaptive", "--redis", redis_url, *FAST]
        args += ["-s", "LINKCRAWL_REDIS_WORKER_TIMEOUT=2"]
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
    record = json.loads((data / "crawls" / "third.json").read_text())
    assert record["status"] == "finished" and record["since"] == "second"
    assert len(record["distributed"]["workers"]) == 2
    check_revisit(data, "third", log, resting)


@pytest.mark.slow
def test_adaptive_revisit_with_workers(tmp_path):
    data = tmp_path / "data"
    log: list[str] = []
    hosts = (HOST, "www.revisit-other.org")
    web = build_web(log, hosts)
    with LocalWebServer(web) as server:
        resting = budgeted_earlier(server, data, hosts)
        log.clear()
        seeds = tuple(f"http://{host}/" for host in hosts)
        crawl_seed(seeds, server, data, "third", "--revisit", "adaptive", "--workers", "2")
    assert json.loads((data / "crawls" / "third.json").read_text())["workers"] == 2
    check_revisit(data, "third", log, resting)


@pytest.mark.slow
def test_an_interrupted_adaptive_crawl_resumes_as_one(tmp_path, earlier):
    data, resting = copy_earlier(earlier, tmp_path)
    log: list[str] = []
    web = build_web(log, delay=0.05)  # slow enough to stop the crawl part-way
    slow = ["-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]
    with LocalWebServer(web) as server:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        args = ["crawl", f"http://{HOST}/", "--data", str(data), "--crawl-id", "third"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkcrawl.cli", *args, "--revisit", "adaptive", *FAST, *slow],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while len(log) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        record = json.loads((data / "crawls" / "third.json").read_text())
        assert record["status"] == "interrupted"
        assert 0 < len(pages(data, "third")) < N + 1
        resumed = run_linkcrawl(
            ["crawl", "--resume", "third", "--data", str(data), *FAST], proxy=server.proxy_url
        )
        assert resumed.returncode == 0, resumed.stderr
    record = json.loads((data / "crawls" / "third.json").read_text())
    assert record["status"] == "finished" and record["since"] == "second"
    # A page in flight at the stop may be asked for twice; a page not due, never.
    html = set(pages(data, "first").query("status == 200").index)
    assert set(log) == html - resting
    check_revisit(data, "third", sorted(set(log)), resting)


def redis_worker(server: LocalWebServer, redis: str, crawl_id: str, name: str, *args: str):
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = server.proxy_url
    command = [sys.executable, "-m", "linkcrawl.cli", "crawl", f"http://{HOST}/", "--data"]
    command += [str(args[0]), "--crawl-id", crawl_id, "--revisit", "adaptive", *args[1:]]
    command += ["--redis", redis, *FAST, "-s", "LINKCRAWL_REDIS_WORKER_TIMEOUT=2"]
    return subprocess.Popen(
        [*command, "-s", f"LINKCRAWL_WORKER={name}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_redis_workers_take_over_the_plan_of_a_lost_worker(tmp_path, redis_url, earlier):
    import redis
    from scrapy import Request
    from scrapy.utils.request import fingerprint

    data, resting = copy_earlier(earlier, tmp_path)
    log: list[str] = []
    web = build_web(log)
    client = redis.Redis.from_url(redis_url)
    with LocalWebServer(web) as server:
        # A worker that claimed the plan and was lost before it made it: the next takes over.
        client.set("linkcrawl:third:revisit-plan", "planning:ghost")
        log.clear()
        worker = redis_worker(server, redis_url, "third", "wa", str(data))
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        check_revisit(data, "third", log, resting)

        # One lost while it carried the pages not due (the due ones are queued, here none:
        # all in the duplicate filter): once its heartbeat expires, a live worker carries
        # them, and the crawl does not end before.
        prefix = "linkcrawl:fourth:"
        client.hset(f"{prefix}workers", "ghost", '{"host": "gone", "pid": 1}')
        client.set(f"{prefix}alive:ghost", "busy", px=6000)
        client.set(f"{prefix}revisit-plan", "carrying:ghost")
        earlier = list(pages(data, "second").index)
        client.sadd(f"{prefix}dupefilter", *(fingerprint(Request(u)).hex() for u in earlier))
        log.clear()
        worker = redis_worker(server, redis_url, "fourth", "wb", str(data), "--since", "second")
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    assert log == []
    fourth = pages(data, "fourth")
    assert fourth.index.is_unique and set(fourth.index) == resting
    assert (fourth.revisit == "not_due").all() and (fourth.edges_from == "second").all()
    assert client.get(f"{prefix}revisit-plan") == b"carried"
    second = edge_multiset(data, "second")
    expected = second[second.source.isin(resting)].reset_index(drop=True)
    pd.testing.assert_frame_equal(edge_multiset(data, "fourth"), expected)


@pytest.mark.slow
def test_redis_workers_spend_the_budget_on_the_most_authoritative_due_pages(
    tmp_path, redis_url, earlier
):
    data, resting = copy_earlier(earlier, tmp_path)
    result = run_linkcrawl(["analyze", "--data", str(data), "--crawl-id", "second"])
    assert result.returncode == 0, result.stderr
    # The earlier crawl's authority table, read independently: the budget's share.
    authority = pd.read_parquet(data / "authority" / "crawl_id=second" / "pages.parquet")
    html = set(pages(data, "first").query("status == 200").index)
    due = authority[authority.url.isin(html - resting)].sort_values(
        "authority", ascending=False, kind="stable"
    )
    budget = 10
    ranked = due.authority.tolist()
    assert ranked[budget - 1] > ranked[budget], "the budget's edge must not be a tie"
    log: list[str] = []
    with LocalWebServer(build_web(log)) as server:
        workers = [
            redis_worker(server, redis_url, "third", name, str(data), "--max-pages", str(budget))
            for name in ("wa", "wb")
        ]
        for worker in workers:
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
    assert sorted(log) == sorted(due.url.head(budget))
    third = pages(data, "third")
    assert third.index.is_unique and sorted(third.index) == sorted(pages(data, "first").index)
    assert set(third[third.revisit == "over_budget"].index) == set(due.url[budget:])
    pd.testing.assert_frame_equal(edge_multiset(data, "third"), edge_multiset(data, "first"))


@pytest.mark.slow
def test_redis_workers_read_the_sitemaps_once_and_a_newer_lastmod_makes_a_page_due(
    tmp_path, redis_url
):
    data = tmp_path / "data"
    log: list[str] = []
    web = map_web(log)
    site = f"http://{MAP_HOST}"
    page = [f"{site}/p/{i}.html" for i in range(MAP_PAGES)]
    run = functools.partial(crawl_seed, f"{site}/")

    def redis_crawl(crawl_id: str, revisit: bool = True, into: Path = data):
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        args = ["crawl", f"{site}/", "--data", str(into), "--crawl-id", crawl_id]
        args += ["--revisit", "adaptive"] if revisit else []
        args += ["--redis", redis_url, *FAST]
        args += ["-s", "LINKCRAWL_REDIS_WORKER_TIMEOUT=2"]
        return [
            subprocess.Popen(
                [sys.executable, "-m", "linkcrawl.cli", *args, "-s", f"LINKCRAWL_WORKER={name}"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("wa", "wb")
        ]

    orphan = f"{site}/orphan.html"  # listed in the sitemap only
    web.add(orphan, "<html><body>only in the sitemap</body></html>")
    set_lastmods(web, {}, extra=(orphan,))
    robots = web.pages[(MAP_HOST, "/robots.txt")]
    # robots.txt is obeyed for the sitemap files read outside the shared queue too.
    rules = robots.body + b"User-agent: *\nDisallow: /map-0\n"
    web.add(f"{site}/robots.txt", Resource(200, {"Content-Type": "text/plain"}, rules))
    with LocalWebServer(web) as server:
        # Without --revisit: one worker reads the sitemaps; the entries no link reached
        # are queued for both once the link crawl is done.
        plain = tmp_path / "plain"
        for worker in redis_crawl("plain", revisit=False, into=plain):
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
        paths = [path for _, _, path in web.requests]
        assert sorted(log) == sorted([f"{site}/", *page, orphan])  # each page once
        assert "/map-0.xml" not in paths
        for name in ("/index.xml", "/map-1.xml"):
            assert paths.count(name) == 1, (name, paths)
        first = pages(plain, "plain")
        assert first.index.is_unique
        assert first.at[orphan, "discovered_by"] == "sitemap"
        assert (first.loc[page, "discovered_by"] == "link").all()  # with their click depth
        assert (first.loc[page, "depth"] == 1).all()
        assert first.at[f"{site}/map-0.xml", "error"] == "robots-disallowed"
        maps = pd.read_parquet(plain / "sitemaps" / "crawl_id=plain")
        assert sorted(maps.url) == sorted([*page[MAP_PAGES // 2 :], orphan])  # map-1's

        web.add(f"{site}/robots.txt", robots)
        set_lastmods(web, {})
        run(server, data, "first")
        run(server, data, "second", "--revisit", "adaptive")  # every page due: none had one
        second = pages(data, "second")
        fetched = {url: second.at[url, "fetched_at"].value // 1_000_000 for url in page}
        time.sleep(1.1)  # a lastmod has whole seconds: "now" is then after every fetch
        now = time.time() * 1000
        today = datetime.fromtimestamp(now / 1000, UTC).date()
        lastmods = {
            page[0]: iso(now),  # after the fetch: due
            page[1]: iso(fetched[page[1]] - 3_600_000),  # an hour before it: not due
            page[2]: today.isoformat(),  # a date alone is the whole day: due
            page[3]: (today - timedelta(days=2)).isoformat(),  # two days before: not due
            page[4]: iso(now + 2 * 86_400_000),  # in the future, cannot be true: ignored
        }  # the others: no lastmod
        orphan = f"{site}/orphan.html"  # listed in the sitemap only, new to the crawl
        web.add(orphan, "<html><body>only in the sitemap</body></html>")
        set_lastmods(web, lastmods, extra=(orphan,))
        log.clear()
        before = len(web.requests)
        workers = redis_crawl("third")
        for worker in workers:
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
        paths = [path for _, _, path in web.requests[before:]]
    # The server's own log, across both workers: of the pages not due, exactly those with
    # a newer lastmod, and the page only the sitemap lists; each sitemap file once.
    due = {page[0], page[2]}
    assert sorted(log) == sorted([*due, orphan])
    for name in ("/index.xml", "/map-0.xml", "/map-1.xml"):
        assert paths.count(name) == 1, (name, paths)
    assert not any(path.startswith("/long-") for path in paths)  # over URLLENGTH_LIMIT
    third = pages(data, "third")
    assert third.index.is_unique
    assert set(third[third.revisit == "due"].index) == due | {orphan}
    assert set(third[third.revisit == "not_due"].index) == {f"{site}/", *page} - due
    assert third.at[orphan, "discovered_by"] == "sitemap"
    # The sitemaps rows, written once (by the worker that read them).
    files = str(data / "sitemaps" / "crawl_id=third" / "*.parquet")
    maps = duckdb.sql(f"SELECT sitemap, url FROM read_parquet('{files}') ORDER BY url").df()
    assert sorted(maps.url) == sorted([*page, orphan])
    assert sorted(set(maps.sitemap)) == [f"{site}/map-0.xml", f"{site}/map-1.xml"]


@pytest.mark.slow
def test_a_worker_carrying_a_lost_planners_pages_uses_its_sitemap_lastmods(
    tmp_path, redis_url, earlier
):
    import redis
    from scrapy import Request
    from scrapy.utils.request import fingerprint

    data, resting = copy_earlier(earlier, tmp_path)
    # The planner, lost while it carried the pages not due, had found a newer lastmod for
    # one of them (it queued that page, now in the duplicate filter): its carrier must not
    # write a not_due row for it.
    client = redis.Redis.from_url(redis_url)
    prefix = "linkcrawl:third:"
    client.hset(f"{prefix}workers", "ghost", '{"host": "gone", "pid": 1}')
    client.set(f"{prefix}alive:ghost", "busy", px=6000)
    client.set(f"{prefix}revisit-plan", "carrying:ghost")
    client.sadd(
        f"{prefix}dupefilter",
        *(fingerprint(Request(u)).hex() for u in pages(data, "second").index),
    )
    changed = sorted(resting)[0]
    client.hset(f"{prefix}revisit-lastmod", changed, int(time.time() * 1000))
    log: list[str] = []
    with LocalWebServer(build_web(log)) as server:
        worker = redis_worker(server, redis_url, "third", "wb", str(data))
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    assert log == []
    third = pages(data, "third")
    assert third.index.is_unique and set(third.index) == resting - {changed}
    assert (third.revisit == "not_due").all()
