"""Anchor text classes: anchors classified by hand, the generic list as data, and the
distribution by referring domains on a crawled web whose anchors were written by hand."""

from __future__ import annotations

import json

import pytest

from linkcrawl.analysis import analyze
from linkcrawl.analysis.audit import GENERIC_ANCHORS
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
from linkcrawl.reports.anchors import (
    CLASSES,
    anchor_classes,
    classify_anchor,
    generic_anchors,
    normalise,
    over_optimisation,
)
from linkcrawl.reports.audit import audit
from tests.conftest import FAST, run_linkcrawl

KEYWORDS = ["trail running shoes"]
# (anchor, kind, target domain, class), classified by hand
HAND = [
    ("Trail Running Shoes", "anchor", "shop-example.com", "exact"),
    ("trail  running\nshoes!", "anchor", "shop-example.com", "exact"),
    ("best trail running shoes 2026", "anchor", "shop-example.com", "partial"),
    ("running shoes for trails", "anchor", "shop-example.com", "partial"),  # 2 of 3 words
    ("shoes", "anchor", "shop-example.com", "other"),  # 1 of 3 words: under half
    ("Shop Example", "anchor", "shop-example.com", "branded"),
    ("shop-example", "anchor", "shop-example.com", "branded"),
    ("ShopExample's new range", "anchor", "shop-example.com", "branded"),
    ("visit shop-example.com today", "anchor", "shop-example.com", "branded"),
    ("examples of shops", "anchor", "shop-example.com", "other"),
    ("https://shop-example.com/trail", "anchor", "shop-example.com", "naked"),
    ("www.shop-example.com", "anchor", "shop-example.com", "naked"),
    ("shop-example.com", "anchor", "shop-example.com", "naked"),
    ("news.bbc.co.uk/sport", "anchor", "shop-example.com", "naked"),
    ("node.js", "anchor", "shop-example.com", "other"),  # no public suffix: not a host
    ("Click here", "anchor", "shop-example.com", "generic"),
    ("Read more »", "anchor", "shop-example.com", "generic"),
    ("cliquez ici", "anchor", "shop-example.com", "generic"),
    ("Weiterlesen", "anchor", "shop-example.com", "generic"),
    ("詳しくはこちら", "anchor", "shop-example.com", "generic"),
    ("читать далее", "anchor", "shop-example.com", "generic"),
    ("leer más", "anchor", "shop-example.com", "generic"),
    ("", "anchor", "shop-example.com", "empty"),
    ("  → ", "anchor", "shop-example.com", "empty"),
    ("trail running shoes", "image", "shop-example.com", "image"),  # alt text
    ("", "image", "shop-example.com", "image"),
    ("", "area", "shop-example.com", "image"),
    ("", "redirect", "shop-example.com", "redirect"),
    ("", "canonical", "shop-example.com", "redirect"),
    ("Bücher kaufen", "anchor", "xn--bcher-kva.de", "branded"),  # IDNA label decoded
    ("octocat's pages", "anchor", "octocat.github.io", "branded"),  # private suffix
]


@pytest.mark.parametrize(("anchor", "kind", "domain", "expected"), HAND)
def test_hand_classified_anchors(anchor, kind, domain, expected):
    assert classify_anchor(anchor, kind, domain, KEYWORDS) == expected


def test_without_keywords_there_is_no_exact_or_partial():
    assert classify_anchor("Trail Running Shoes", "anchor", "shop-example.com") == "other"


def test_generic_anchors_are_data_in_many_languages():
    from importlib import resources

    raw = json.loads(
        resources.files("linkcrawl.reports").joinpath("generic_anchors.json").read_text("utf-8")
    )
    languages = {k for k in raw if not k.startswith("_")}
    assert {"en", "es", "fr", "de", "it", "pt", "ru", "ja", "zh"} <= languages
    phrases = generic_anchors()
    assert all(p and p == normalise(p) for p in phrases)
    # Every generic anchor the audit's anchor-overuse flag passes over is one here too.
    assert {normalise(a) for a in GENERIC_ANCHORS if a} <= phrases


def test_over_optimisation_threshold():
    assert over_optimisation(4, 10) is None  # 40 %, but fewer than 5 domains
    assert over_optimisation(5, 25) is None  # exactly 20 %: not above
    assert over_optimisation(6, 25) == (
        "over-optimised: 6 of 25 referring domains (24%) use an exact-match anchor, above 20%"
    )


# -- a crawled web: the shop's page is titled "Trail Running Shoes"; ten referring domains
# link to it, each with the anchors below (hand-classified against the title).
SHOP = "http://shop-example.com"
LINKERS = {
    "r1-example.com": [("a", "Trail running shoes")],
    "r2-example.com": [("a", "trail running shoes"), ("a", "Shop Example")],
    "r3-example.com": [("a", "TRAIL RUNNING SHOES")],
    "r4-example.com": [("a", "Trail running shoes"), ("img", "trail running shoes")],
    "r5-example.com": [("a", "trail-running shoes")],
    "r6-example.com": [("a", "great trail running shoes here")],
    "r7-example.com": [("a", "shop-example.com")],
    "r8-example.com": [("a", "click here")],
    "r9-example.com": [("img", "")],
    "r10-example.com": [("a", "")],
}
# By hand: class -> referring domains with at least one such anchor (against the title)
BY_DOMAINS = {
    "exact": 5, "partial": 1, "branded": 1, "naked": 1, "generic": 1, "image": 2, "empty": 1,
    "redirect": 0, "other": 0,
}  # fmt: skip


def anchor_web() -> LocalWeb:
    web = LocalWeb()
    web.add(
        f"{SHOP}/", "<html><head><title>Trail Running Shoes</title></head><body>shop</body></html>"
    )
    for domain, links in LINKERS.items():
        html = "".join(
            f'<a href="{SHOP}/">{text}</a>'
            if kind == "a"
            else f'<a href="{SHOP}/"><img src="/x.png" alt="{text}"></a>'
            for kind, text in links
        )
        web.add(f"http://{domain}/", f"<html><body>{html}</body></html>")
    return web


@pytest.fixture(scope="module")
def anchor_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("anchors")
    seeds = [f"{SHOP}/", *(f"http://{d}/" for d in LINKERS)]
    with LocalWebServer(anchor_web()) as server:
        result = run_linkcrawl(
            ["crawl", *seeds, "--data", str(data), "--crawl-id", "n1", *FAST],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    analyze(data, "n1")
    return data


@pytest.mark.slow
def test_distribution_by_referring_domains_against_the_titles(anchor_data):
    report = anchor_classes(anchor_data, "shop-example.com")
    got = dict(zip(report.classes["class"], report.classes["referring_domains"], strict=True))
    assert list(report.classes["class"]) == list(CLASSES)
    assert got == BY_DOMAINS
    s = report.summary
    assert s["referring_domains"] == 10 and s["exact_share"] == 0.5
    assert s["over_optimised"] == (
        "over-optimised: 5 of 10 referring domains (50%) use an exact-match anchor, above 20%"
    )
    # The image link's class is image, its anchor the alt text the extractor recorded.
    r4 = report.links[report.links.source_domain == "r4-example.com"]
    assert sorted(zip(r4.kind, r4.anchor_class, strict=True)) == [
        ("anchor", "exact"),
        ("image", "image"),
    ]
    assert set(r4[r4.kind == "image"].anchor) == {"trail running shoes"}


@pytest.mark.slow
def test_keywords_replace_the_titles(anchor_data):
    report = anchor_classes(anchor_data, "shop-example.com", keywords=["running shoes"])
    got = dict(zip(report.classes["class"], report.classes["referring_domains"], strict=True))
    # "trail running shoes" now has every word of the keyword and more: partial.
    assert got["exact"] == 0 and got["partial"] == 6
    assert report.summary["over_optimised"] is None


@pytest.mark.slow
def test_the_commands(anchor_data):
    d = ["--data", str(anchor_data)]
    run = run_linkcrawl(["backlinks", "shop-example.com", "--anchors", "--format", "json", *d])
    assert run.returncode == 0, run.stderr
    rows = {r["class"]: r["referring_domains"] for r in json.loads(run.stdout)["rows"]}
    assert rows == BY_DOMAINS
    assert "over-optimised: 5 of 10" in run.stderr
    kw = ["backlinks", "shop-example.com", "--anchors", "--keywords", "running shoes,x", *d]
    table = run_linkcrawl(kw)
    assert table.returncode == 0 and "running shoes, x" in table.stdout
    bad = run_linkcrawl(["backlinks", "shop-example.com", "--keywords", "x", *d])
    assert bad.returncode == 2 and "--keywords applies to --anchors" in bad.stderr
    audited = run_linkcrawl(["audit", "--target", "shop-example.com", *d])
    assert audited.returncode == 0, audited.stderr
    assert "shop-example.com: over-optimised: 5 of 10 referring domains (50%)" in audited.stderr
    result = audit(anchor_data, target="shop-example.com", keywords=["running shoes"])
    assert not any("over-optimised" in note for note in result.notes)
