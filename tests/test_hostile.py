"""A hostile web: bombs, giants, traps, slow hosts and malformed input. The crawl ends by
itself, every case is a recorded outcome, and the well-formed pages keep all their edges."""

from __future__ import annotations

import gzip
import json
import time
import zlib

import brotli
import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow

HTML = {"Content-Type": "text/html; charset=utf-8"}
GOOD = "http://good-example.com/"


def hostile_web() -> LocalWeb:
    web = LocalWeb()
    add = web.add
    # a good site, linking to every case
    cases = [
        "http://bomb-example.com/",
        "http://bomb-example.com/deflate",
        "http://bomb-example.com/brotli",
        "http://giant-example.com/",
        "http://giant-example.com/stream",
        "http://many-example.com/",
        "http://long-example.com/",
        "http://loop-example.com/a",
        "http://chain-example.com/0",
        "http://slow-example.com/",
        "http://norobots-example.com/",
        "http://htmlrobots-example.com/",
        "http://junk-example.com/binary",
        "http://junk-example.com/empty",
        "http://junk-example.com/badutf8",
        "http://junk-example.com/unclosed",
        "http://junk-example.com/badhrefs",
        "http://session-example.com/",
    ]
    add(
        GOOD,
        "<nav><a href='/about'>About</a></nav><main>"
        + "".join(f'<a href="{url}">case {i}</a>' for i, url in enumerate(cases))
        + "</main>",
    )
    add(f"{GOOD}about", "<p>about <a href='/'>home</a></p>")
    zeros = b"\0" * (64 * 1024 * 1024)
    add(
        "http://bomb-example.com/",
        Resource(200, {**HTML, "Content-Encoding": "gzip"}, gzip.compress(zeros, 9)),
    )
    add(
        "http://bomb-example.com/deflate",
        Resource(200, {**HTML, "Content-Encoding": "deflate"}, zlib.compress(zeros, 9)),
    )
    add(
        "http://bomb-example.com/brotli",
        Resource(200, {**HTML, "Content-Encoding": "br"}, brotli.compress(zeros, quality=5)),
    )
    giant = b"<p>" + b"x" * (100 * 1024 * 1024) + b"</p>"
    add("http://giant-example.com/", Resource(200, HTML, giant))
    add(
        "http://giant-example.com/stream",
        Resource(200, HTML, giant[: 24 * 1024 * 1024], chunk_size=1024 * 1024),
    )
    # links to another domain: recorded, not crawled, so the cap is what is tested
    many = "".join(f'<a href="http://elsewhere-example.org/p{i}">{i}</a>' for i in range(20_000))
    add("http://many-example.com/", many)
    add(
        "http://long-example.com/",
        f'<a href="/ok">{"A" * 1_000_000}</a><a href="/{"u" * 100_000}">long url</a>',
    )
    add("http://long-example.com/ok", "fine")
    add("http://loop-example.com/a", Resource(301, {"Location": "/b"}))
    add("http://loop-example.com/b", Resource(302, {"Location": "/a"}))
    for i in range(30):
        add(f"http://chain-example.com/{i}", Resource(301, {"Location": f"/{i + 1}"}))
    add(
        "http://slow-example.com/",
        Resource(200, HTML, b"<p>" + b"." * 60 + b"</p>", chunk_size=1, chunk_delay=1.0),
    )
    add("http://norobots-example.com/robots.txt", Resource(503, HTML, b"<h1>busy</h1>"))
    add("http://norobots-example.com/", "<a href='/x'>x</a>")
    add(
        "http://htmlrobots-example.com/robots.txt",
        "<html><body><h1>Welcome</h1><p>Disallow nothing</p></body></html>",
    )
    add("http://htmlrobots-example.com/", "<a href='/inner'>inner</a>")
    add("http://htmlrobots-example.com/inner", "inner")
    add("http://junk-example.com/binary", Resource(200, HTML, bytes(range(256)) * 400))
    add("http://junk-example.com/empty", Resource(200, HTML, b""))
    add(
        "http://junk-example.com/badutf8",
        Resource(
            200,
            {"Content-Type": "text/html; charset=utf-8"},
            b"<a href='/u'>caf\xe9 \xff\xfe cr\xc3\xa8me</a>",
        ),
    )
    add(
        "http://junk-example.com/unclosed",
        "<div><a href='/u1'>one<a href='/u2'>two <table><tr><td><a href='/u3'>three",
    )
    add(
        "http://junk-example.com/badhrefs",
        '<a href="http://[::1">a</a><a href="http://a b.com/">b</a><a href="http:///x">c</a>'
        '<a href="/fine">fine</a>',
    )

    # every link carries a new session id: without dropping them, one page is endless URLs
    def path(i: int) -> str:
        return "/" if i == 0 else f"/p{i}"

    for i in range(6):
        token = f"{i:02d}" * 10
        add(
            f"http://session-example.com{path(i)}",
            f'<a href="{path((i + 1) % 6)}?PHPSESSID={token}">next</a>'
            f'<a href="/;jsessionid={token}">home</a>'
            f'<a href="{path(i)}?sid={token}&amp;q=1">me</a>',
        )
    return web


@pytest.fixture(scope="module")
def hostile_crawl(tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile")
    web = hostile_web()
    with LocalWebServer(web) as server:
        started = time.monotonic()
        result = run_linkcrawl(
            [
                "crawl",
                GOOD,
                *[f"http://{h}/" for h in web.hosts() if h != "good-example.com"],
                "--data",
                str(data),
                "--crawl-id",
                "h1",
                *FAST,
                "-s",
                "DOWNLOAD_TIMEOUT=3",
                "-s",
                "LINKCRAWL_MAX_LINKS_PER_PAGE=5000",
                "-s",
                "RETRY_TIMES=0",
            ],
            proxy=server.proxy_url,
            timeout=180,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    pages = pd.read_parquet(data / "pages").set_index("url")
    edges = pd.read_parquet(data / "edges")
    manifest = json.loads((data / "crawls" / "h1.json").read_text())
    return pages, edges, elapsed, manifest, result.stderr


def test_crawl_ends_by_itself_in_bounded_time(hostile_crawl):
    _, _, elapsed, *_ = hostile_crawl
    assert elapsed < 90


def test_well_formed_pages_keep_every_edge(hostile_crawl):
    pages, edges, _, *_ = hostile_crawl
    assert pages.status[GOOD] == 200
    assert len(edges[edges.source == GOOD]) == 19
    assert pages.status[f"{GOOD}about"] == 200


def test_bombs_and_giants_are_cut_at_the_size_cap(hostile_crawl):
    pages, _, _, *_ = hostile_crawl
    for url in (
        "http://bomb-example.com/",
        "http://bomb-example.com/deflate",
        "http://bomb-example.com/brotli",
        "http://giant-example.com/",
        "http://giant-example.com/stream",
    ):
        assert pages.error[url] in ("too-large", "cancelled"), (url, pages.error[url])
        assert pd.isna(pages.status[url])
    assert pages.error["http://giant-example.com/"] == "too-large"
    for bomb in ("", "deflate", "brotli"):
        assert pages.error[f"http://bomb-example.com/{bomb}"] == "too-large"


def test_link_cap_and_long_anchor_and_url(hostile_crawl):
    pages, edges, _, *_ = hostile_crawl
    many = edges[edges.source == "http://many-example.com/"]
    assert len(many) == 5000
    assert pages.error["http://many-example.com/"] == "links-capped:20000"
    long = edges[edges.source == "http://long-example.com/"]
    assert list(long.target) == ["http://long-example.com/ok"]  # the 100 KB URL skipped
    assert len(long.anchor.iloc[0]) == 1000


def test_redirect_loops_and_chains_are_bounded(hostile_crawl):
    pages, edges, _, *_ = hostile_crawl
    loop = edges[edges.source.str.startswith("http://loop-example.com/")]
    assert set(zip(loop.source, loop.target, strict=True)) == {
        ("http://loop-example.com/a", "http://loop-example.com/b"),
        ("http://loop-example.com/b", "http://loop-example.com/a"),
    }
    chain = pages[pages.index.str.match(r"^http://chain-example\.com/\d+$")]
    assert len(chain) == 11  # the first URL and 10 hops
    assert (chain.status == 301).all()


def test_slow_host_times_out(hostile_crawl):
    pages, _, _, *_ = hostile_crawl
    assert pages.error["http://slow-example.com/"] == "timeout"


def test_robots_txt_errors(hostile_crawl):
    pages, _, _, *_ = hostile_crawl
    # 503 for robots.txt: the site is not crawled for now
    assert pages.error["http://norobots-example.com/"] == "robots-disallowed"
    # an HTML page served as robots.txt holds no rules: crawl normally
    assert pages.status["http://htmlrobots-example.com/inner"] == 200


def test_malformed_pages_are_rows_not_exceptions(hostile_crawl):
    pages, edges, _, *_ = hostile_crawl
    for url in ("binary", "empty", "badutf8", "unclosed", "badhrefs"):
        assert pages.status[f"http://junk-example.com/{url}"] == 200
    unclosed = edges[edges.source == "http://junk-example.com/unclosed"]
    assert list(unclosed.target) == [f"http://junk-example.com/u{i}" for i in (1, 2, 3)]
    bad = edges[edges.source == "http://junk-example.com/badhrefs"]
    assert "http://junk-example.com/fine" in set(bad.target)
    assert bad.target.str.match(r"^https?://[^/\s]+/").all()
    anchor = edges[edges.source == "http://junk-example.com/badutf8"].anchor.iloc[0]
    assert anchor.startswith("caf") and anchor.endswith("crème")


def test_untrusted_text_is_escaped_in_terminal_and_csv_output(tmp_path):
    from click.testing import CliRunner

    from linkcrawl.analysis import analyze
    from linkcrawl.cli import main

    web = LocalWeb()
    web.add(
        "http://evil-example.com/",
        '<a href="http://victim-example.com/">\x1b]0;owned\x07\x1b[31mred</a>'
        '<a href="http://victim-example.com/x">=HYPERLINK("http://evil")</a>'
        '<a href="http://victim-example.com/y">@SUM(1)</a>',
    )
    with LocalWebServer(web) as server:
        result = run_linkcrawl(
            [
                "crawl",
                "http://evil-example.com/",
                "--data",
                str(tmp_path),
                "--crawl-id",
                "e1",
                *FAST,
            ],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    analyze(tmp_path, crawl_id="e1")
    runner = CliRunner()
    table = runner.invoke(main, ["backlinks", "victim-example.com", "--data", str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.output and "\x07" not in table.output
    assert "\\x1b[31mred" in table.output
    csv = runner.invoke(
        main, ["backlinks", "victim-example.com", "--data", str(tmp_path), "--format", "csv"]
    )
    assert csv.exit_code == 0, csv.output
    assert "'=HYPERLINK" in csv.output and "'@SUM(1)" in csv.output
    assert ",=HYPERLINK" not in csv.output and ",@SUM" not in csv.output


def test_session_ids_are_dropped_so_a_page_is_one_url(hostile_crawl):
    pages, edges, _, *_ = hostile_crawl
    site = pages[pages.index.str.startswith("http://session-example.com/")]
    assert len(site) == 6 + 6  # six pages, and each page's own ?q=1 variant
    assert not site.index.str.contains("sessid|sid=", case=False).any()
    links = edges[edges.source == "http://session-example.com/"]
    assert list(links.target) == [
        "http://session-example.com/p1",
        "http://session-example.com/",
        "http://session-example.com/?q=1",
    ]


def test_every_skip_is_in_the_manifest_and_on_the_last_line(hostile_crawl):
    *_, manifest, stderr = hostile_crawl
    skipped = manifest["skipped"]
    assert skipped["links-capped"] == 20_000 - 5000  # many-example.com's links past the cap
    assert skipped["target-too-long"] == 1  # long-example.com's 100 KB URL
    # chain-example.com: the 11th hop's target; loop-example.com: none (already seen)
    assert skipped["redirect-chain"] == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("crawl h1 skipped: "), last
    for reason, n in skipped.items():
        assert f"{reason} {n:,}" in last, last
