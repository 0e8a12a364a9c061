"""The HTML report: two real crawls of the audit web (a week apart, with a hostile anchor,
a lost link and a broken page), analysed and audited, rendered to one file, then opened in
a real headless Chromium at 1280 px: no console error, one script (allowed by its hash), no
request, sorting and filtering that work, axis labels that do not overlap, a screenshot."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from linkcrawl.analysis import analyze
from linkcrawl.demo.localweb import LocalWebServer
from linkcrawl.reports.audit import audit
from linkcrawl.reports.html import SCRIPT, human_number, link_type, plural, report
from tests.conftest import FAST, run_linkcrawl
from tests.test_audit import EVIL, SEEDS, SHOP, TRUSTED, audit_web, page

CHROMIUM = "/usr/bin/chromium"
# Anchors that would break a careless report: mathtext for matplotlib, CDATA end and
# entities for SVG, an attribute break-out for HTML.
MATH = r"$\frac{a}{b}$ ]]> &amp; x"
BREAKOUT = '"><img src=x onerror=alert(2)>'
DAY = dt.date(2026, 12, 2)
WIDTH = 1280
SCREENSHOT_DIR = Path(os.environ.get("LINKCRAWL_SCREENSHOTS", "/tmp/linkcrawl-screenshots"))


def web_after():
    web = audit_web()
    news_b = f"http://{TRUSTED[1]}"
    # A new page on news-b with hostile anchors, and a link to a page that is gone.
    web.add(
        f"{news_b}/",
        page(
            f'<a href="http://{TRUSTED[0]}/">news</a>',
            f'<a href="http://{TRUSTED[2]}/">news</a>',
            f'<a href="{SHOP}/">Shop Example</a>',
            '<a href="/review">review</a>',
        ),
    )
    web.add(
        f"{news_b}/review",
        page(
            f'<a href="{SHOP}/shoes">{MATH.replace("&", "&amp;")}</a>',
            f'<a href="{SHOP}/shoes" rel="sponsored">&quot;&gt;&lt;img src=x '
            "onerror=alert(2)&gt;</a>",
            f'<a href="{SHOP}/old-shoes" rel="nofollow">old shoes</a>',
        ),
    )
    # The partner dropped its link.
    web.add("http://partner-example.com/", page("<p>no more links</p>"))
    return web


@pytest.fixture(scope="module")
def report_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("report")
    for crawl_id, web in (("r1", audit_web()), ("r2", web_after())):
        with LocalWebServer(web) as server:
            result = run_linkcrawl(
                ["crawl", *SEEDS, "--data", str(data), "--crawl-id", crawl_id, *FAST],
                proxy=server.proxy_url,
            )
        assert result.returncode == 0, result.stderr
        analyze(data, crawl_id)
    audit(data, "r2", trusted=TRUSTED)
    return data


def test_link_type():
    assert link_type("", True) == "follow"
    assert link_type("nofollow noopener", False) == "nofollow"
    assert link_type("UGC nofollow", False) == "ugc"
    assert link_type("sponsored ugc", False) == "sponsored"
    assert link_type("noopener", False) == "page nofollow"


def test_numbers_for_people():
    assert [plural(n, "domain") for n in (0, 1, 2, 1234)] == [
        "0 domains", "1 domain", "2 domains", "1,234 domains"
    ]  # fmt: skip
    assert (
        plural(1, "reply", "replies") == "1 reply"
        and plural(3, "reply", "replies")[2:] == "replies"
    )
    # PageRank-sized values stay positional: no "e-05" in a client's report.
    assert human_number(1.23456e-5) == "0.0000123"
    assert human_number(2_500_000) == "2,500,000"
    assert human_number(87.25) == "87.2" or human_number(87.25) == "87.3"


@pytest.fixture(scope="module")
def report_file(report_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report-out")
    out = folder / "report.html"
    text = report(report_data, "shop-example.com", out, csv_dir=folder / "csv", date=DAY)
    assert out.read_text(encoding="utf-8") == text
    return out


@pytest.mark.slow
def test_report_is_self_contained_and_escaped(report_file, report_data):
    text = report_file.read_text(encoding="utf-8")
    # One script, ours, allowed by its hash and nothing else; no external resource: the only
    # references are the SVGs' own #ids.
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", text, re.S | re.I)
    assert scripts == [SCRIPT]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', text).group(1)
    assert csp.startswith("default-src 'none';") and f"script-src 'sha256-{digest}'" in csp
    assert "unsafe-inline'; img-src" in csp and "script-src 'unsafe" not in csp
    assert "<img" not in text
    refs = re.findall(r'(?:href|src)\s*=\s*"([^"]*)"', text, re.I)
    assert refs and all(r.startswith("#") for r in refs)
    # Dates and the crawl it came from; numbers for people.
    assert "Report of 2026-12-02 · from crawl r2, started 20" in text
    assert not re.search(r"\d\.?\d*e[-+]\d\d", re.sub(r"<svg.*?</svg>", "", text, flags=re.S))
    assert not re.search(r"\b1 (domains|backlinks|referring domains)\b", text)
    # Each inline chart is well-formed XML, hostile anchors included.
    svgs = re.findall(r"<svg.*?</svg>", text, re.S)
    # history, gained and lost, authority histogram, anchors, link types, positions
    assert len(svgs) == 6
    labels = []
    for svg in svgs:
        root = ET.fromstring(svg)
        labels += ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert EVIL in labels
    assert MATH in labels  # drawn as written, not as mathtext
    for heading in (
        "Since the previous crawl",
        "Referring domains",
        "Authority of the referring domains",
        "New and lost referring domains",
        "Authority",
        "Referring domains and backlinks over time",
        "Anchor text",
        "Follow / nofollow / ugc / sponsored, and link position",
        "Top backlinks by value",
        "New and lost backlinks since the previous crawl",
        "Broken links",
        "Flagged backlinks",
    ):
        assert f"<h2>{heading}</h2>" in text
    # Every table in full as CSV beside it, read back, counted independently with DuckDB.
    import duckdb
    import pandas as pd

    inbound = report_data / "authority" / "crawl_id=r2" / "inbound.parquet"
    where = f"FROM '{inbound}' WHERE target_domain = 'shop-example.com'"
    ((links, domains),) = duckdb.sql(
        f"SELECT count(*), count(DISTINCT source_domain) {where}"
    ).fetchall()
    csv = report_file.parent / "csv"
    assert len(pd.read_csv(csv / "backlinks.csv")) == links
    referring = pd.read_csv(csv / "referring_domains.csv")
    assert len(referring) == domains and referring.links.sum() == links
    assert pd.read_csv(csv / "authority_histogram.csv").referring_domains.sum() == domains
    assert "<h3>Lost referring domains</h3>" in text and "<h3>New referring domains" not in text
    changes = pd.read_csv(csv / "referring_domain_changes.csv")
    assert changes[["change", "domain"]].values.tolist() == [["lost", "partner-example.com"]]
    assert (csv / "pages.csv").exists() and (csv / "orphans.csv").exists()
    # Rendering twice gives the same bytes (a fixed date, fixed SVG ids).
    assert report(report_data, "shop-example.com", date=DAY) == text


@pytest.mark.slow
def test_report_in_headless_chromium(report_file):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package to run this test")
    aiohttp = pytest.importorskip("aiohttp", reason="the DevTools client needs aiohttp")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / "report.png"
    found = asyncio.run(_inspect(aiohttp, report_file, shot))

    assert found["errors"] == []
    assert found["dialogs"] == []
    assert found["requests"] == [], "the report fetched something"
    page_state = found["state"]
    assert page_state["scripts"] == 1
    # The hostile anchors are shown as text, in tables and in the charts.
    assert EVIL in page_state["cells"]
    assert BREAKOUT in page_state["cells"]
    assert EVIL in page_state["svg_text"]
    assert page_state["images"] == 0
    assert page_state["svgs"] == 6
    # The tables the issue lists are there with their rows.
    text = page_state["text"]
    assert "1 lost" in text and "link-removed" in text  # the partner's link
    assert "http://shop-example.com/old-shoes" in text and "404" in text  # broken
    assert "spam-mass" in text and "from 5 of its 5 crawled pages" in text
    # Sorting: real clicks on a header of the referring domains table, read back.
    assert found["sorted"]["before"] == [2, 1, 4, 1, 5]
    assert found["sorted"]["ascending"] == sorted(found["sorted"]["before"])
    assert found["sorted"]["descending"] == sorted(found["sorted"]["before"], reverse=True)
    assert found["sorted"]["aria"] == ["ascending", "descending"]
    # Filtering: typed text keeps the rows that contain it.
    assert found["filtered"] == ["pills-example.com"]
    # No two text boxes of one chart overlap (tick labels, axis labels, titles, legends).
    assert len(found["labels"]) == 6
    for quads in found["labels"]:
        assert len(quads) >= 4
        for (a, qa), (b, qb) in itertools.combinations(quads, 2):
            assert not _overlap(qa, qb), f"SVG labels overlap: {a!r} and {b!r}"
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    print(f"screenshot: {shot}; text boxes per chart: {[len(q) for q in found['labels']]}")


def _overlap(a: list, b: list, margin: float = 0.5) -> bool:
    """Whether two convex quadrilaterals (four screen corners each) overlap by more than
    ``margin`` px: the separating axis test over the edges' normals."""
    for quad in (a, b):
        for (x1, y1), (x2, y2) in zip(quad, quad[1:] + quad[:1], strict=True):
            nx, ny = y2 - y1, x1 - x2
            norm = (nx * nx + ny * ny) ** 0.5
            if norm == 0:
                continue
            pa = [(x * nx + y * ny) / norm for x, y in a]
            pb = [(x * nx + y * ny) / norm for x, y in b]
            if min(max(pa), max(pb)) - max(min(pa), min(pb)) <= margin:
                return False
    return True


def test_overlap_reference():
    square = [(0, 0), (10, 0), (10, 10), (0, 10)]
    assert _overlap(square, [(5, 5), (15, 5), (15, 15), (5, 15)])
    assert not _overlap(square, [(10, 0), (20, 0), (20, 10), (10, 10)])  # touching
    # Two slanted labels whose axis-aligned boxes overlap but whose text boxes do not.
    slant = [(0, 0), (10, -10), (12, -8), (2, 2)]
    assert not _overlap(slant, [(x + 6, y + 6) for x, y in slant])


async def _inspect(aiohttp, html_file: Path, shot: Path) -> dict:
    """Open ``html_file`` in headless Chromium through the DevTools protocol: console
    errors, exceptions, dialogs and network requests seen, the page's state, and a
    full-page screenshot written to ``shot``."""
    profile = Path(shot.parent / f"chromium-profile-{os.getpid()}")
    shutil.rmtree(profile, ignore_errors=True)
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            f"--window-size={WIDTH},900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            assert proc.poll() is None, "Chromium exited"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            ws_url = next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
            async with session.ws_connect(ws_url, max_msg_size=0) as ws:
                return await _drive(ws, html_file, shot)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def _drive(ws, html_file: Path, shot: Path) -> dict:
    found: dict = {"errors": [], "dialogs": [], "requests": []}
    ids = iter(range(1, 1_000_000))
    loaded = asyncio.Event()

    async def call(method: str, **params) -> dict:
        my_id = next(ids)
        await ws.send_str(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads((await asyncio.wait_for(ws.receive(), 30)).data)
            if message.get("id") == my_id:
                assert "error" not in message, message
                assert "exceptionDetails" not in message["result"], message
                return message["result"]
            note(message)

    def note(message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            found["errors"].append(params)
        elif method == "Runtime.exceptionThrown":
            found["errors"].append(params)
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found["errors"].append(params["entry"])
        elif method == "Page.javascriptDialogOpening":
            found["dialogs"].append(params)
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:")):
                found["requests"].append(url)
        elif method == "Page.loadEventFired":
            loaded.set()

    for domain in ("Runtime", "Log", "Page", "Network"):
        await call(f"{domain}.enable")
    await call(
        "Emulation.setDeviceMetricsOverride",
        width=WIDTH, height=900, deviceScaleFactor=1, mobile=False,
    )  # fmt: skip
    await call("Page.navigate", url=html_file.resolve().as_uri())
    while not loaded.is_set():
        note(json.loads((await asyncio.wait_for(ws.receive(), 30)).data))
    state = await call(
        "Runtime.evaluate",
        returnByValue=True,
        expression="""({
            scripts: document.scripts.length,
            images: document.images.length,
            svgs: document.querySelectorAll('svg').length,
            cells: [...document.querySelectorAll('td')].map(td => td.textContent),
            svg_text: [...document.querySelectorAll('svg text')].map(t => t.textContent),
            text: document.body.innerText,
        })""",
    )
    found["state"] = state["result"]["value"]
    found["labels"] = (
        await call(
            "Runtime.evaluate",
            returnByValue=True,
            expression="""[...document.querySelectorAll('svg')].map(svg =>
                [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()).map(t => {
                    const b = t.getBBox(), m = t.getScreenCTM();
                    const corners = [[b.x, b.y], [b.x + b.width, b.y],
                                     [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]];
                    return [t.textContent, corners.map(([x, y]) => {
                        const p = new DOMPoint(x, y).matrixTransform(m);
                        return [p.x, p.y];
                    })];
                }))""",
        )
    )["result"]["value"]
    # The first table after the heading (a cut table has its note and filter before it).
    table = """(() => {
        let e = [...document.querySelectorAll('h2')]
            .find(h => h.textContent === 'Referring domains');
        while (e.tagName !== 'TABLE') e = e.nextElementSibling;
        return e; })()"""

    async def column() -> list:
        got = await call(
            "Runtime.evaluate",
            returnByValue=True,
            expression=f"[...({table}).tBodies[0].rows].filter(r => !r.hidden)"
            ".map(r => r.cells[2].textContent)",
        )
        return [int(v.replace(",", "")) for v in got["result"]["value"]]

    async def click_header() -> str:
        got = await call(
            "Runtime.evaluate",
            returnByValue=True,
            expression=f"""(() => {{ const th = ({table}).tHead.rows[0].cells[2];
                th.scrollIntoView({{block: 'center'}});
                const r = th.getBoundingClientRect();
                return [r.x + r.width / 2, r.y + r.height / 2]; }})()""",
        )
        x, y = got["result"]["value"]
        for kind in ("mousePressed", "mouseReleased"):
            await call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        got = await call(
            "Runtime.evaluate",
            returnByValue=True,
            expression=f"({table}).tHead.rows[0].cells[2].getAttribute('aria-sort')",
        )
        return got["result"]["value"]

    before = await column()
    first = await click_header()
    ascending = await column()
    second = await click_header()
    found["sorted"] = {
        "before": before,
        "ascending": ascending,
        "descending": await column(),
        "aria": [first, second],
    }
    await call(
        "Runtime.evaluate",
        expression=f"({table}).previousElementSibling.focus()",
    )
    await call("Input.insertText", text="pills")
    got = await call(
        "Runtime.evaluate",
        returnByValue=True,
        expression=f"[...({table}).tBodies[0].rows].filter(r => !r.hidden)"
        ".map(r => r.cells[0].textContent)",
    )
    found["filtered"] = got["result"]["value"]
    await call(
        "Runtime.evaluate",
        expression=f"(() => {{ const f = ({table}).previousElementSibling; f.value = '';"
        f"f.dispatchEvent(new Event('input')); f.blur(); window.scrollTo(0, 0); }})()",
    )
    metrics = await call("Page.getLayoutMetrics")
    size = metrics["cssContentSize"]
    picture = await call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
    )
    import base64

    shot.write_bytes(base64.b64decode(picture["data"]))
    # Let late events (a console error after load) arrive.
    await call("Runtime.evaluate", expression="1")
    return found


@pytest.mark.slow
def test_report_command(report_data, tmp_path):
    """The thin command: --title (escaped), --csv-dir, and bad input as one line."""
    from click.testing import CliRunner

    from linkcrawl.cli import main

    out, folder = tmp_path / "r.html", tmp_path / "csv"
    args = ["report", "shop-example.com", "--data", str(report_data), "--out", str(out)]
    result = CliRunner().invoke(
        main, [*args, "--title", "ACME <b>Q4</b>", "--csv-dir", str(folder)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "<h1>ACME &lt;b&gt;Q4&lt;/b&gt;</h1>" in text
    assert "<title>ACME &lt;b&gt;Q4&lt;/b&gt;</title>" in text
    assert {"backlinks.csv", "referring_domains.csv", "anchor_classes.csv", "orphans.csv"} <= {
        p.name for p in folder.iterdir()
    }
    # A file where the folder should be: one line, non-zero, nothing half-written.
    (tmp_path / "taken").write_text("keep me")
    result = CliRunner().invoke(main, [*args, "--csv-dir", str(tmp_path / "taken")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert (tmp_path / "taken").read_text() == "keep me"
    out.write_text("the previous report")
    result = CliRunner().invoke(main, [*args, "--csv-dir", str(tmp_path / "taken" / "sub")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0 and "--csv-dir" in result.output
    assert out.read_text() == "the previous report"


def test_link_types_per_distinct_pair_match_link_type():
    import pandas as pd

    from linkcrawl.reports.html import _link_types

    rel = pd.Series(["", "nofollow noopener", "UGC nofollow", None, "", "sponsored ugc", ""])
    follow = pd.Series([True, False, False, True, False, False, True])
    expected = [link_type(r, f) for r, f in zip(rel, follow, strict=True)]
    assert _link_types(rel, follow).tolist() == expected


def test_one_scan_answers_as_velocity_history_and_diff(report_data):
    """The report's one scan of the edges gives what the three functions give, and those
    match counts made here with pandas from the edges themselves."""
    import pandas as pd

    from linkcrawl.reports.monitor import BacklinkScan, diff, history, velocity

    target = "shop-example.com"
    with BacklinkScan(report_data, target, "r2") as scan:
        per_step, per_crawl, changes = scan.velocity(), scan.history(links=False), scan.diff()
    pd.testing.assert_frame_equal(per_step, velocity(report_data, target))
    pd.testing.assert_frame_equal(
        per_crawl.referring_domains, history(report_data, target).referring_domains
    )
    pd.testing.assert_frame_equal(changes, diff(report_data, "r1", "r2", target))
    assert changes.attrs["old_id"] == "r1"

    edges = pd.read_parquet(report_data / "edges")
    edges["crawl_id"] = edges["crawl_id"].astype(str)
    backlinks = edges[~edges.internal & (edges.target_domain == target)]
    domains = {c: set(g.source_domain) for c, g in backlinks.groupby("crawl_id")}
    last = per_step.iloc[-1]
    assert set(last.new_domains) == domains["r2"] - domains["r1"]
    assert set(last.lost_domains) == domains["r1"] - domains["r2"]
    assert per_crawl.referring_domains.referring_domains.tolist() == [
        len(domains["r1"]),
        len(domains["r2"]),
    ]
    followed = backlinks.groupby(["crawl_id", "source", "target"], observed=True).follow.any()
    old, new = followed.loc["r1"].to_dict(), followed.loc["r2"].to_dict()
    gone = {k for k in old if k not in new} | {
        k for k, f in old.items() if f and new.get(k) is False
    }
    came = {k for k in new if k not in old} | {
        k for k, f in new.items() if f and old.get(k) is False
    }
    pairs = {
        k: set(zip(g.source.astype(str), g.target.astype(str), strict=True))
        for k, g in changes.groupby("change", observed=True)
    }
    assert pairs.get("lost", set()) == gone and gone
    assert pairs.get("new", set()) == came and came


def test_issue_top_is_the_head_of_the_issue(report_data):
    import pandas as pd

    from linkcrawl.reports.site_audit import ISSUES, site

    audit_of = site(report_data, "shop-example.com", "r2")
    for name in ISSUES:
        rows = audit_of.issue(name)
        total, head = audit_of.issue_top(name, 2)
        assert total == len(rows)
        pd.testing.assert_frame_equal(head, rows.head(2))


def test_broken_links_match_the_edges_read_with_pandas(report_data):
    """broken() filters the edges in DuckDB now: the same links as pandas finds."""
    import pandas as pd

    from linkcrawl.reports.monitor import broken

    found = broken(report_data, "r2", target="shop-example.com")
    pages = pd.read_parquet(report_data / "pages", filters=[("crawl_id", "==", "r2")])
    bad = pages[
        (pages.status >= 400) | (pages.error.notna() & (pages.error != "robots-disallowed"))
    ]
    edges = pd.read_parquet(report_data / "edges", filters=[("crawl_id", "==", "r2")])
    to_bad = edges[edges.target.isin(set(bad.url)) & (edges.target_domain == "shop-example.com")]
    assert len(found) and set(zip(found.target, found.source, strict=True)) == set(
        zip(to_bad.target, to_bad.source, strict=True)
    )
    assert found.referring_domains.tolist() == [
        to_bad[to_bad.target == t].source_domain.nunique() for t in found.target
    ]


def test_site_links_read_by_polars_match_pyarrow(report_data, monkeypatch):
    """The site audit reads the site's links with polars when they are a small share of
    the crawl's, else with pyarrow: both give the same audit."""
    import pandas as pd

    import linkcrawl.reports.site_audit as site_audit

    audits = []
    for share in (1.0, -1.0):  # polars whatever the share; pyarrow whatever the share
        monkeypatch.setattr(site_audit, "_LATE_DECODING_SHARE", share)
        audits.append(site_audit.site(report_data, "shop-example.com", "r2"))
    by_polars, by_pyarrow = audits
    pd.testing.assert_frame_equal(by_polars.pages, by_pyarrow.pages)
    for name in site_audit.ISSUES:
        pd.testing.assert_frame_equal(by_polars.issue(name), by_pyarrow.issue(name))
    assert sum(len(by_polars.issue(n)) for n in site_audit.ISSUES)


def test_report_leaves_the_callers_matplotlib_alone(report_data, tmp_path):
    # A notebook's backend (here "svg", which needs no display) and its open figures: the
    # report used to switch the process to Agg through matplotlib.use().
    script = f"""
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
plt.figure()
from linkcrawl.reports.html import report
report({str(report_data)!r}, "shop-example.com", {str(tmp_path / "r.html")!r})
print(matplotlib.get_backend(), plt.get_fignums())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "svg [1]"
