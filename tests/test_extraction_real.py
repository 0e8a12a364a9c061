"""Link extraction on material no one here wrote: Common Crawl's link-extraction test WARC,
real pages in hard encodings, and 181 real news and blog templates."""

from __future__ import annotations

import collections
import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse
from warcio.archiveiterator import ArchiveIterator

from linkcrawl.extract.links import LinkExtractor
from linkcrawl.extract.urls import absolute_url
from tests.conftest import need_shared_data

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WARC_DIR = SHARED_DATA / "warc"
WPULL = SHARED_DATA / "html" / "wpull"
BENCHMARK = SHARED_DATA / "html" / "article-extraction-benchmark"


@pytest.fixture(autouse=True, scope="module")
def _shared_data():
    need_shared_data(SHARED_DATA)


# -- WARC records, read with warcio (linkcrawl's own reader for `import warc`) ----------------

# Headers of the bytes on the wire: the payload warcio hands over is de-chunked and decoded.
_WIRE_HEADERS = ("content-length", "transfer-encoding", "content-encoding")


def read_warc(path: Path) -> Iterator[tuple[dict[str, str], bytes]]:
    """Each record of a WARC file (plain or gzip per record) as (lower-cased WARC headers,
    payload)."""
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            headers = {name.lower(): value for name, value in record.rec_headers.headers}
            yield headers, record.content_stream().read()


def warc_responses(path: Path) -> Iterator[HtmlResponse]:
    """The HTTP responses of a WARC as Scrapy builds them (headers give the charset)."""
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            fields = [
                (name, value)
                for name, value in record.http_headers.headers
                if name.lower() not in _WIRE_HEADERS
            ]
            body = record.content_stream().read()
            url = record.rec_headers.get_header("WARC-Target-URI").strip("<>")  # 1.1: <uri>
            yield HtmlResponse(url=url, body=body, headers=fields)


def extract(response: HtmlResponse):
    """As the spider does: the tree Scrapy built, the response URL, X-Robots-Tag values."""
    x_robots = [v.decode("latin-1") for v in response.headers.getlist(b"X-Robots-Tag")]
    return LinkExtractor().extract(response.selector.root, response.url, x_robots)


# -- Common Crawl's link-extraction expectations ------------------------------------------


def test_warc_reader_reads_every_record():
    records = list(read_warc(WARC_DIR / "link-extraction-test.warc"))
    assert [h["warc-type"] for h, _ in records].count("response") == 9
    pages = list(warc_responses(WARC_DIR / "cc-main-2020-34-sample.warc.gz"))
    assert len(pages) == 16  # data/README.md: 16 real pages


def cc_expectations():
    expected = json.loads((WARC_DIR / "link-extraction-expected.json").read_text())
    responses = list(warc_responses(WARC_DIR / "link-extraction-test.warc"))
    by_url = {r.url: r for r in responses}
    for record in expected["records"]:
        yield record, by_url[record["target_uri"]]


def test_every_a_and_area_link_that_common_crawl_finds():
    """Every A@/href and AREA@/href of the Java extractor's test, resolved the way a
    browser resolves it, is one of our edges, with the same anchor where the test gives
    one; and we find no other a/area links on those pages."""
    matched = 0
    for record, response in cc_expectations():
        links = extract(response)
        base = next(
            (e["url"] for e in record["expected_links"] if e["path"] == "__base__"),
            response.url,
        )
        expected = collections.Counter()
        anchors = {}
        for link in record["expected_links"]:
            if link["path"] in ("A@/href", "AREA@/href"):
                target = absolute_url(link["url"], base)
                expected[target] += 1
                if link.get("anchor"):
                    anchors[target] = link["anchor"]
        ours = collections.Counter(
            t
            for t, k in zip(links.target, links.kind, strict=True)
            if k in ("anchor", "image", "area")
        )
        assert ours == expected, record["name"]
        for target, anchor in anchors.items():
            assert anchor in [
                a for t, a in zip(links.target, links.anchor, strict=True) if t == target
            ]
        matched += sum(expected.values())
    assert matched == 16  # every a/area link of the Java test


def test_canonical_and_meta_refresh_that_common_crawl_finds():
    canonical = refresh = 0
    for record, response in cc_expectations():
        links = extract(response)
        rows = set(zip(links.target, links.kind, strict=True))
        for link in record["expected_links"]:
            if link["path"] == "LINK@/href" and link.get("rel") == "canonical":
                # raw "http:///www.example.com/video.html": browsers skip the extra slash
                assert (absolute_url(link["url"], response.url), "canonical") in rows
                canonical += 1
            elif link["path"] == "__meta_refresh__":
                assert (absolute_url(link["url"], response.url), "refresh") in rows
                refresh += 1
    assert (canonical, refresh) == (1, 2)


def test_anchor_text_with_entities_and_block_elements():
    for record, response in cc_expectations():
        if record["name"] == "exampleLinks":
            assert extract(response).anchor == [record["expected_links"][0]["anchor"]]
            return
    pytest.fail("record exampleLinks missing")


# -- decoding: real pages in hard encodings ------------------------------------------------


def wpull_page(name: str, content_type: str | None = None) -> HtmlResponse:
    headers = {"Content-Type": content_type} if content_type else {}
    return HtmlResponse(
        url=f"http://example.com/{name}", body=(WPULL / name).read_bytes(), headers=headers
    )


def pairs(links) -> set[tuple[str, str]]:
    return set(zip(links.target, links.anchor, strict=True))


def test_koi8r_page_declared_in_the_header():
    # The page says in a comment that it is KOI8-R: only the header can tell a parser.
    links = extract(wpull_page("krokozyabry.html", "text/html; charset=KOI8-R"))
    # The href is percent-encoded as UTF-8, whatever the page's encoding (WHATWG path).
    assert pairs(links) == {
        (
            "http://example.com/%D0%9A%D1%80%D0%B0%D0%BA%D0%BE%D0%B7%D1%8F%D0%B1%D1%80%D1%8B",
            "Кракозябры",
        )
    }


def test_shift_jis_pages():
    links = extract(wpull_page("mojibake.html", "text/html; charset=Shift_JIS"))
    assert pairs(links) == {("http://example.com/%E6%96%87%E5%AD%97%E5%8C%96%E3%81%91", "文字化け")}
    # Declared in a <meta>, x-sjis and Shift_JIS.
    links = extract(wpull_page("videogame_top.htm"))
    assert {
        ("http://www.geocities.jp/gamehouse_grindcrusher/", "本館へ"),
        ("http://www.geocities.co.jp/Playtown-Spade/1978/", "3号館へ"),
        ("http://www.geocities.jp/gamehouse_grindcrusher4/", "4号館へ"),
    } <= pairs(links)


def test_utf16_page_without_declaration():
    links = extract(wpull_page("kcna.html"))
    assert "조선통신" in links.title
    assert links.target == ["http://example.com/index-k.htm", "http://example.com/index-e.htm"]
    assert links.kind == ["image", "image"]  # buttons: images without alt text


def test_protocol_relative_base_href():
    links = extract(wpull_page("xkcd_1.html"))
    assert ("http://example.com/archive", "Archive") in pairs(links)
    assert ("http://example.com/", "xkcd.com logo") in pairs(links)  # the logo's alt text
    base = HtmlResponse(url="https://example.org/x", body=(WPULL / "basehref.html").read_bytes())
    assert extract(base).base == "https://example.com/a/"


def cc_sample() -> dict[str, HtmlResponse]:
    return {r.url: r for r in warc_responses(WARC_DIR / "cc-main-2020-34-sample.warc.gz")}


def test_common_crawl_pages_in_windows_1251_gb2312_and_latin1():
    pages = cc_sample()
    expected = {
        # windows-1251 in the Content-Type header
        "http://01spb.ru/company/": {("http://01spb.ru/company/", "Компания")},
        # gb2312 in the header (decoded as its superset gb18030)
        "http://0760.jxtdw.com/area/sanxiang/": {
            ("http://0760.jxtdw.com/aboutus/", "关于我们"),
            ("http://0760.jxtdw.com/", "中山英才网"),
        },
        "http://037426.cn/": {("http://037426.cn/", "苏ICP备14034167号")},
        # no charset anywhere in the header: the page's <meta> says it
        "http://041696.com/15477/list_6_4.html": {("http://www.041696.com/", "首页")},
        "http://06.live-radsport.ch/fahrerstatistik_801/Anthony_Ravard.html": {
            ("http://06.live-radsport.ch/", "Übersichten")
        },
    }
    for url, wanted in expected.items():
        assert wanted <= pairs(extract(pages[url])), url


def test_common_crawl_pages_rel_nofollow_and_meta_robots():
    pages = cc_sample()
    # Hand count in the raw pages: 14 rel=nofollow, 2 of them on tel: links.
    rels = [rel for r in pages.values() for rel in extract(r).rel]
    assert sum("nofollow" in rel.split() for rel in rels) == 12
    # <meta name="robots" content="noindex, nofollow">: no link of the page is followed.
    page = extract(pages["http://035.psb556.com/24/i/u_1090813/article.html"])
    assert (page.noindex, page.nofollow) == (True, True)
    assert len(page) > 50 and not any(page.follow)
    # <base target="_blank"> has no href: links resolve against the page.
    page = extract(pages["http://003338.cn/l41/481397.html"])
    assert page.base is None
    assert ("http://003338.cn/l41/481397.html?18694835.xml", "中国新闻网") in pairs(page)


# -- positions on real templates -----------------------------------------------------------


def benchmark_pages() -> dict[str, HtmlResponse]:
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text())
    return {
        key: HtmlResponse(
            url=page["url"],
            body=gzip.decompress((BENCHMARK / "html" / f"{key}.html.gz").read_bytes()),
        )
        for key, page in truth.items()
    }


@pytest.fixture(scope="module")
def benchmark():
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text())
    pages = benchmark_pages()
    return {key: (pages[key], truth[key]["articleBody"]) for key in pages}


def position_of(pages, prefix: str, anchor: str, occurrence: int) -> str:
    """Position of the ``occurrence``-th link (0 first, -1 last) with this anchor."""
    key = next(k for k in pages if k.startswith(prefix))
    links = extract(pages[key][0])
    found = [p for a, p in zip(links.anchor, links.position, strict=True) if a == anchor]
    return found[occurrence]


# Checked by eye in the page's HTML (docs/extraction.md, "Ten pages by eye"). Menus come
# first in the page and the footer last: the same anchor in both takes the occurrence.
BY_EYE = [
    ("70cb2d5b", "Terms of Use", -1, "footer"),  # bbc.com: footer[role=contentinfo]
    ("70cb2d5b", "Sport", 0, "navigation"),  # bbc.com: nav.orb-nav in the banner
    ("70cb2d5b", "Sport", -1, "footer"),  # bbc.com: "Explore the BBC" in div#orb-footer
    ("5fa3154e", "Columnists", 0, "navigation"),  # theguardian.com: header subnav
    ("5fa3154e", "Columnists", -1, "footer"),  # theguardian.com: footer__primary
    ("d48aeb9c", "Gear", 0, "navigation"),  # wired.com: standard-navigation__primary-links
    ("961bd85c", "Privacy Policy", -1, "footer"),  # therepublic.com: td-sub-footer-container
    ("21486419", "Tentang Kami", 0, "navigation"),  # kabarislamia.com: div#menu in #header
    ("432362af", "Metro", 0, "navigation"),  # nypost.com: nav-wrapper in the banner
    ("432362af", "Metro", -1, "footer"),  # nypost.com: footer#page-footer
    ("ad826691", "Reviews", 0, "navigation"),  # 9to5mac.com: nav#primary-menu
    ("358cc4a0", "Job Vacancies", 0, "navigation"),  # linknaija.com (Blogger): top-bar-nav
]


@pytest.mark.parametrize(("prefix", "anchor", "occurrence", "position"), BY_EYE)
def test_positions_checked_by_eye(benchmark, prefix, anchor, occurrence, position):
    assert position_of(benchmark, prefix, anchor, occurrence) == position


def test_links_in_the_article_text_are_content(benchmark):
    """The ground truth's articleBody is the article text as people marked it: a link
    whose (long enough) anchor appears in it is in the content. Measured: 306 of 308."""
    positions = collections.Counter()
    for response, body in benchmark.values():
        body = re.sub(r"\s+", " ", body)
        links = extract(response)
        for anchor, position in zip(links.anchor, links.position, strict=True):
            if len(anchor) >= 25 and anchor in body:
                positions[position] += 1
    assert positions.total() >= 300
    assert positions["content"] / positions.total() >= 0.99


def test_every_benchmark_page_has_its_links_classified(benchmark):
    totals = collections.Counter()
    for response, _ in benchmark.values():
        links = extract(response)
        totals.update(links.position)
        assert set(links.kind) <= {"anchor", "image", "area", "canonical", "refresh"}
    # data/README.md counts 25,655 a/area/link elements with an href; ours drop the
    # non-http ones (javascript:, mailto:, ...) and links other than canonical.
    assert 24_000 < totals.total() < 25_655
    # Menus are the biggest share on news templates, then content, then footers.
    share = {p: n / totals.total() for p, n in totals.items()}
    assert share["navigation"] > share["content"] > share["footer"] > share["header"]
