"""`linkcrawl crawl --render`: real crawls of a local site whose pages get links from their
scripts, rendered in the real chromium-headless-shell, read back from Parquet.

The expected links and origins are written by hand from the pages below; which pages the
browser rendered is told by the local server's request log (each page loads a script file
of its own, which only a browser fetches, since Scrapy never runs scripts)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from tests.conftest import FAST, run_linkcrawl

SITE = "http://www.spa-example.com"
WIDGETS = "http://www.widgets-example.net"
QUIET = [*FAST, "--no-sitemaps"]


def _require_browser() -> None:
    try:
        import scrapy_playwright  # noqa: F401
    except ImportError:
        reason = "scrapy-playwright is not installed (pip install 'linkcrawl[render]')"
    else:
        if shutil.which("chromium-headless-shell"):
            return
        reason = (
            "chromium-headless-shell is not installed (apt-get install chromium-headless-shell)"
        )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/provision installs it in CI", pytrace=False)
    pytest.skip(reason)


def _js(body: str) -> Resource:
    return Resource(200, {"Content-Type": "application/javascript"}, body.encode())


def _page(links: list[str], script: str | None = None, extra: str = "") -> str:
    anchors = "".join(f'<a href="{href}">{href}</a>' for href in links)
    src = f'<script src="{script}"></script>' if script else ""
    head = "<!doctype html><html><head><title>t</title></head>"
    return f"{head}<body>{anchors}{extra}{src}</body></html>"


def spa_web() -> LocalWeb:
    """``/`` is a shell: an empty #root, filled by /app.js with two links; its HTML has one
    link (/plain.html). /plain.html has its links in the HTML, and a script of its own that
    adds nothing. The leaves have links in their HTML and no script."""
    web = LocalWeb()
    web.add(f"{SITE}/", _page(["/plain.html"], "/app.js", '<div id="root"></div>'))
    web.add(
        f"{SITE}/app.js",
        _js(
            "document.getElementById('root').innerHTML ="
            ' \'<nav><a href="/js-a.html">A</a> <a href="/js-b.html">B</a></nav>\';'
        ),
    )
    web.add(
        f"{SITE}/plain.html",
        _page(["/", "/html-a.html", "/js-a.html", "/html-b.html"], "/plain.js"),
    )
    web.add(f"{SITE}/plain.js", _js("window.seen = 1;"))
    for leaf in ("js-a", "js-b", "html-a", "html-b"):
        web.add(f"{SITE}/{leaf}.html", _page(["/", "/plain.html", "http://elsewhere-example.org/"]))
    return web


def crawl(tmp_path: Path, server: LocalWebServer, seeds: list[str], *args: str, crawl_id="r1"):
    result = run_linkcrawl(
        ["crawl", *seeds, "--data", str(tmp_path), "--crawl-id", crawl_id, *QUIET, *args],
        proxy=server.proxy_url,
    )
    assert result.returncode == 0, result.stderr
    edges = pd.read_parquet(tmp_path / "edges", filters=[("crawl_id", "=", crawl_id)])
    pages = pd.read_parquet(tmp_path / "pages", filters=[("crawl_id", "=", crawl_id)])
    manifest = json.loads((tmp_path / "crawls" / f"{crawl_id}.json").read_text())
    return result, edges, pages, manifest


def links_of(edges: pd.DataFrame, source: str) -> dict[str, str]:
    rows = edges[(edges.source == source) & (edges.kind == "anchor")]
    return dict(zip(rows.target, rows.origin, strict=True))


def fetched(web: LocalWeb) -> set[str]:
    return {path for _, host, path in web.requests}


@pytest.mark.slow
def test_always_renders_every_page_with_the_origin_of_each_link(tmp_path):
    _require_browser()
    web = spa_web()
    with LocalWebServer(web) as server:
        result, edges, pages, manifest = crawl(tmp_path, server, [f"{SITE}/"], "--render", "always")
    assert links_of(edges, f"{SITE}/") == {
        f"{SITE}/plain.html": "html",
        f"{SITE}/js-a.html": "rendered",
        f"{SITE}/js-b.html": "rendered",
    }
    assert set(links_of(edges, f"{SITE}/plain.html").values()) == {"html"}
    assert set(pages.url) == {
        f"{SITE}/{p}"
        for p in ("", "plain.html", "js-a.html", "js-b.html", "html-a.html", "html-b.html")
    }
    assert pages.error.isna().all()
    # Both scripts ran in the browser; each page's document came from Scrapy's one fetch.
    assert {"/app.js", "/plain.js"} <= fetched(web)
    assert [path for _, _, path in web.requests].count("/") == 1
    render = manifest["render"]
    assert (render["mode"], render["pages"], render["links_only_rendered"], render["failed"]) == (
        "always",
        6,
        2,
        0,
    )
    assert "rendered 6 pages: 2 links only rendering found" in result.stderr


@pytest.mark.slow
def test_never_finds_only_the_links_of_the_html(tmp_path):
    web = spa_web()
    with LocalWebServer(web) as server:
        _, edges, pages, manifest = crawl(tmp_path, server, [f"{SITE}/"])
    assert links_of(edges, f"{SITE}/") == {f"{SITE}/plain.html": "html"}
    assert set(edges.origin) == {"html"}
    assert f"{SITE}/js-b.html" not in set(pages.url)  # linked only by the script
    assert not {"/app.js", "/plain.js"} & fetched(web)
    assert manifest["render"] is None


@pytest.mark.slow
def test_auto_renders_the_shell_and_the_pattern_not_the_plain_page_and_stops_a_host(tmp_path):
    _require_browser()
    web = spa_web()
    web.add(f"{SITE}/html-a.html", _page(["/", "/plain.html", "/html-b.html"], "/html-a.js"))
    web.add(f"{SITE}/html-a.js", _js("window.seen = 2;"))
    # A host whose pages look like shells (one link and a script) and whose scripts add
    # nothing: after 3 of them rendered, the rest are not.
    for n in range(7):
        web.add(f"{WIDGETS}/{n}.html", _page([f"/{n + 1}.html"], f"/w{n}.js"))
        web.add(f"{WIDGETS}/w{n}.js", _js("window.widget = 1;"))
    with LocalWebServer(web) as server:
        _, edges, pages, manifest = crawl(
            tmp_path,
            server,
            [f"{SITE}/", f"{WIDGETS}/0.html"],
            "--render",
            "auto",
            "--render-pattern",
            r"/html-a\.html$",
            "-s",
            "LINKCRAWL_RENDER_PROBE_PAGES=3",
        )
    assert links_of(edges, f"{SITE}/") == {
        f"{SITE}/plain.html": "html",
        f"{SITE}/js-a.html": "rendered",
        f"{SITE}/js-b.html": "rendered",
    }
    seen = fetched(web)
    assert "/app.js" in seen  # the shell, by its empty #root
    assert "/plain.js" not in seen  # its links are in its HTML: not rendered
    assert "/html-a.js" in seen  # --render-pattern
    assert {f"/w{n}.js" for n in range(7)} & seen == {"/w0.js", "/w1.js", "/w2.js"}
    assert {f"{WIDGETS}/{n}.html" for n in range(8)} <= set(pages.url)
    render = manifest["render"]
    assert (render["pages"], render["links_only_rendered"], render["hosts_stopped"]) == (5, 2, 1)
    assert render["reasons"] == {"empty-root": 1, "pattern": 1, "few-links": 3}


def _slow_json(value: object, seconds: float) -> Resource:
    """A JSON answer that takes ``seconds``: sent in two halves, ``seconds`` apart."""
    body = json.dumps(value).encode()
    half = max(1, len(body) // 2)
    headers = {"Content-Type": "application/json"}
    return Resource(200, headers, body, chunk_size=half, chunk_delay=seconds)


def _inserts(href: str) -> str:
    return f"document.getElementById('root').innerHTML = '<a href=\"{href}\">late</a>';"


def late_web() -> LocalWeb:
    """Pages whose scripts insert their link late: after a fetch the local server answers
    in 0.4 s, after a 300 ms timer, after a chain of two fetches, after a timer and then
    a fetch; and a page that inserts its link at once but polls with a timer forever."""
    web = LocalWeb()
    late = ["fetch", "timer", "chain", "timer-fetch", "poller"]
    web.add(f"{SITE}/", _page([f"/{name}.html" for name in late]))
    json_href = _inserts("' + j.href + '")
    scripts = {
        "fetch": f"fetch('/links.json').then(r => r.json()).then(j => {{{json_href}}});",
        "timer": f"setTimeout(() => {{{_inserts('/from-timer.html')}}}, 300);",
        "chain": "fetch('/first.json').then(r => r.json()).then(j => fetch(j.next))"
        f".then(r => r.json()).then(j => {{{json_href}}});",
        "timer-fetch": "setTimeout(() => fetch('/timer.json').then(r => r.json())"
        f".then(j => {{{json_href}}}), 200);",
        "poller": _inserts("/from-poller.html")
        + "(function poll() { window.polls = (window.polls || 0) + 1; setTimeout(poll, 50); })();"
        + "setInterval(() => { window.ticks = (window.ticks || 0) + 1; }, 30);",
    }
    for name, script in scripts.items():
        web.add(f"{SITE}/{name}.html", _page([], f"/{name}.js", '<div id="root"></div>'))
        web.add(f"{SITE}/{name}.js", _js(script))
        web.add(f"{SITE}/from-{name}.html", _page(["/"]))
    web.add(f"{SITE}/links.json", _slow_json({"href": "/from-fetch.html"}, 0.4))
    web.add(f"{SITE}/first.json", _slow_json({"next": "/second.json"}, 0.15))
    web.add(f"{SITE}/second.json", _slow_json({"href": "/from-chain.html"}, 0.15))
    web.add(f"{SITE}/timer.json", _slow_json({"href": "/from-timer-fetch.html"}, 0.15))
    return web


@pytest.mark.slow
@pytest.mark.parametrize("pages", ["0", "1"])
def test_links_inserted_late_are_found(tmp_path, pages):
    """A page is extracted once it is quiet, not after a fixed wait: its requests answered,
    its short timers run, its links unchanged. Each late link is there, found only by
    rendering; the page that polls forever is not held to its time budget. With one page
    open at once, each render navigates the browser page the previous render left, its
    document and its timers still there."""
    _require_browser()
    web = late_web()
    budget = 60
    with LocalWebServer(web) as server:
        started = time.monotonic()
        _, edges, pages, manifest = crawl(
            tmp_path,
            server,
            [f"{SITE}/"],
            "--render",
            "always",
            "-s",
            f"LINKCRAWL_RENDER_TIMEOUT={budget}",
            "-s",
            f"LINKCRAWL_RENDER_PAGES={pages}",
        )
        elapsed = time.monotonic() - started
    for name in ("fetch", "timer", "chain", "timer-fetch", "poller"):
        assert links_of(edges, f"{SITE}/{name}.html") == {f"{SITE}/from-{name}.html": "rendered"}, (
            name
        )
    assert {f"{SITE}/from-{name}.html" for name in ("fetch", "chain", "poller")} <= set(pages.url)
    assert manifest["render"]["failed"] == 0
    assert elapsed < budget / 2


# Chromium's own Private Network Access refuses a plain-http page's requests to loopback:
# off here, so that only linkcrawl's guard stands between the page and the counter.
NO_PNA = [
    "-s",
    "LINKCRAWL_CHROMIUM_ARGS=--disable-features=LocalNetworkAccessChecks,"
    "PrivateNetworkAccessChecks,BlockInsecurePrivateNetworkRequests",
]


def guard_web(counter_port: int) -> LocalWeb:
    """A page whose script reaches for loopback addresses (a fetch, a no-cors fetch to
    localhost, a WebSocket) and then inserts a link; it also has an image and a video."""
    web = LocalWeb()
    script = f"""
        const tries = [
          fetch("http://127.0.0.1:{counter_port}/hit?fetch"),
          fetch("http://localhost:{counter_port}/hit?localhost", {{mode: "no-cors"}}),
        ];
        try {{ new WebSocket("ws://127.0.0.1:{counter_port}/hit?ws"); }} catch (e) {{}}
        Promise.allSettled(tries).then(() => {{
          document.getElementById("app").innerHTML = '<a href="/after.html">after</a>';
        }});
    """
    web.add(
        f"{SITE}/guarded.html",
        _page(
            [],
            "/guard.js",
            '<div id="app"></div><img src="/pic.png"><video src="/clip.mp4"></video>',
        ),
    )
    web.add(f"{SITE}/guard.js", _js(script))
    web.add(f"{SITE}/after.html", _page(["/guarded.html"]))
    return web


@pytest.mark.slow
def test_the_browser_cannot_reach_loopback_nor_download_images(tmp_path):
    _require_browser()
    counter = LocalWeb()  # its request log is the hit counter
    with LocalWebServer(counter) as target:
        web = guard_web(target.port)
        with LocalWebServer(web) as server:
            # One page open at once, and the crawl starts at /after.html: the guarded page
            # is rendered in a browser page that rendered another before it.
            _, edges, _, manifest = crawl(
                tmp_path,
                server,
                [f"{SITE}/after.html"],
                "--render",
                "always",
                "-s",
                "LINKCRAWL_RENDER_PAGES=1",
            )
            # (Playwright sends loopback through the crawl's proxy too: the local web.)
            hits = counter.requests + [r for r in web.requests if r[2].startswith("/hit")]
            assert hits == []
            # The script ran to its end: its link is there, found only by rendering.
            assert links_of(edges, f"{SITE}/guarded.html") == {f"{SITE}/after.html": "rendered"}
            assert not {"/pic.png", "/clip.mp4"} & fetched(web)
            assert manifest["render"]["blocked"] >= 3
            assert manifest["render"]["resources_skipped"] >= 1
            # The counter does count: with the crawl's own allowance the page reaches it.
            crawl(
                tmp_path,
                server,
                [f"{SITE}/guarded.html"],
                "--render",
                "always",
                "--allow-private",
                *NO_PNA,
                crawl_id="r2",
            )
    hits = counter.requests + [r for r in web.requests if r[2].startswith("/hit")]
    assert len(hits) >= 2


def _refused(args: list[str], env: dict[str, str] | None = None, python: list[str] | None = None):
    command = [sys.executable, *(python or ["-m", "linkcrawl.cli"]), "crawl", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env or dict(os.environ)
    )


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("setting", "LINKCRAWL_CHROMIUM=/nonexistent/chromium is not a program"),
        ("path", "apt-get install chromium-headless-shell"),
        ("package", "--render needs scrapy-playwright: pip install 'linkcrawl[render]'"),
    ],
)
def test_render_without_its_browser_or_package_says_what_to_install(tmp_path, how, expected):
    args = [f"{SITE}/", "--data", str(tmp_path), "--render", "auto"]
    env = dict(os.environ)
    python = None
    if how == "setting":
        args += ["-s", "LINKCRAWL_CHROMIUM=/nonexistent/chromium"]
    elif how == "path":
        env["PATH"] = str(tmp_path / "no-programs")
    else:
        python = [
            "-c",
            "import sys; sys.modules['scrapy_playwright'] = None; "
            "from linkcrawl.cli import main; sys.argv[0] = 'linkcrawl'; main()",
        ]
    result = _refused(args, env, python)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert expected in line, line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "crawls").exists()  # refused before anything was written


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _browser_of(pid: int) -> int | None:
    """The main Chromium process under ``pid`` (not a renderer or a helper)."""
    for child in _descendants(pid):
        try:
            argv = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # (Debian's /usr/bin/chromium-headless-shell is a shell script running the program.)
        if argv[0].endswith(b"/chromium-headless-shell") and not any(
            a.startswith(b"--type=") for a in argv
        ):
            return child
    return None


@pytest.mark.slow
def test_a_killed_browser_is_launched_again_and_no_page_is_lost(tmp_path):
    _require_browser()
    web = LocalWeb()
    pages = 8
    # Each page a shell whose script adds the link to the next page (and one back home).
    for n in range(pages):
        web.add(f"{SITE}/p{n}.html", _page(["/p0.html"], f"/p{n}.js", '<div id="root"></div>'))
        nxt = f"/p{n + 1}.html" if n + 1 < pages else "/p0.html"
        web.add(
            f"{SITE}/p{n}.js",
            _js(f"document.getElementById('root').innerHTML = '<a href=\"{nxt}\">next</a>';"),
        )
    with LocalWebServer(web) as server:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        command = [sys.executable, "-m", "linkcrawl.cli", "crawl", f"{SITE}/p0.html"]
        args = ["--data", str(tmp_path), "--crawl-id", "k1", "--render", "always", *QUIET]
        proc = subprocess.Popen(
            [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        killed = None
        deadline = time.monotonic() + 60
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            scripts = sum(1 for _, _, path in web.requests if path.endswith(".js"))
            browser = _browser_of(proc.pid) if scripts >= 4 else None
            if browser is not None:
                os.kill(browser, signal.SIGKILL)
                killed = scripts
            time.sleep(0.05)
        _, err = proc.communicate(timeout=120)
    assert killed is not None and killed < pages, "the browser was not found to kill"
    assert proc.returncode == 0, err
    rows = pd.read_parquet(tmp_path / "pages")
    assert set(rows.url) == {f"{SITE}/p{n}.html" for n in range(pages)}
    assert rows.error.isna().all()
    manifest = json.loads((tmp_path / "crawls" / "k1.json").read_text())
    render = manifest["render"]
    assert render["browsers_launched"] >= 2
    # Every page reached its next one, which only its script links to.
    assert render["pages"] + render["failed"] == pages
    edges = pd.read_parquet(tmp_path / "edges")
    assert (edges.origin == "rendered").sum() == render["links_only_rendered"] == render["pages"]


@pytest.mark.parametrize(
    ("html", "signals"),
    [
        # create-react-app's index.html, as served
        (
            "<noscript>You need to enable JavaScript to run this app.</noscript>"
            '<div id="root"></div><script src="/static/js/main.js"></script>',
            ("empty-root", "noscript", "few-links"),
        ),
        (
            '<div id="__next"></div><script id="__NEXT_DATA__">{}</script>',
            ("empty-root", "framework", "few-links"),
        ),
        ("<app-root></app-root><script src=main.js></script>", ("empty-root", "few-links")),
        # rendered on the server: the root has the page in it, and many links
        (
            '<div id="root">' + "".join(f'<a href="/{i}">{i}</a>' for i in range(5)) + "</div>"
            "<script src=/app.js></script>",
            (),
        ),
        ("<p>A page of text, no script, no link.</p>", ()),
        (
            "<noscript><img src=/pixel.gif></noscript><a href=/a>a</a><script>x()</script>",
            ("few-links",),
        ),
    ],
)
def test_shell_signals_on_saved_html(html, signals):
    from scrapy.http import HtmlResponse

    from linkcrawl.extract.links import LinkExtractor
    from linkcrawl.extract.shell import shell_signals

    response = HtmlResponse(url=f"{SITE}/", body=f"<html><body>{html}</body></html>".encode())
    links = LinkExtractor().extract(response.selector.root, f"{SITE}/")
    assert shell_signals(response.selector.root, links) == signals


def test_origins_count_each_served_link_once():
    from linkcrawl.crawl.render import link_origins
    from linkcrawl.extract.links import PageLinks

    html, rendered = PageLinks(), PageLinks()
    for target in ("/a", "/b"):
        html.add(target, "", "", True, "content", "anchor")
    for target, kind in (("/a", "anchor"), ("/a", "anchor"), ("/b", "image"), ("/c", "anchor")):
        rendered.add(target, "", "", True, "content", kind)
    assert link_origins(html, rendered) == ["html", "rendered", "rendered", "rendered"]


def test_pages_open_at_once_follow_the_cores_unless_set():
    from scrapy.settings import Settings

    from linkcrawl.crawl.render import render_pages

    cores = len(os.sched_getaffinity(0))
    assert render_pages(Settings({"LINKCRAWL_RENDER_PAGES": 0})) == min(16, max(4, 4 * cores))
    assert render_pages(Settings({"LINKCRAWL_RENDER_PAGES": 3})) == 3
