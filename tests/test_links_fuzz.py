"""Fuzzing the extractor with random and mutated HTML: it never raises, and every edge it
returns is a well-formed row with an absolute, normalised http(s) target."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy.http import HtmlResponse

from linkcrawl.extract.links import ANCHOR_MAX_CHARS, KINDS, POSITIONS, LinkExtractor
from linkcrawl.extract.urls import normalize_url

EXTRACTOR = LinkExtractor()

TAGS = [
    "a",
    "area",
    "link",
    "base",
    "meta",
    "div",
    "nav",
    "header",
    "footer",
    "aside",
    "main",
    "article",
    "section",
    "ul",
    "li",
    "span",
    "img",
    "script",
    "style",
    "title",
    "body",
    "html",
    "head",
    "map",
    "table",
    "td",
    "p",
    "noscript",
    "template",
    "svg",
]
HREFS = st.one_of(
    st.sampled_from(
        [
            "/",
            "#",
            "?q=1",
            "a/../b",
            "//cdn.example.net/x",
            "http://[::1]:8080/",
            "javascript:void(0)",
            "mailto:x@example.com",
            "HTTPS://EXAMPLE.COM:443/%7e",
            "http://xn--bcher-kva.example/",
            "http://münchen.de/ä",
            "\\\\host\\p",
            "http://0x7f.1/",
            "http://256.256.256.256/",
            "https:host/x",
            "http://a b/",
            "data:,x",
            "   ",
            "%zz",
            "http://user:pw@h/",
            "..",
            "./",
            "?",
            "http://h:99999/",
            "http://%41.com/",
        ]
    ),
    st.text(max_size=30),
)
ATTRS = st.dictionaries(
    st.sampled_from(["href", "rel", "class", "id", "role", "alt", "name", "content", "http-equiv"]),
    st.one_of(
        HREFS,
        st.sampled_from(
            [
                "nofollow ugc",
                "robots",
                "refresh",
                "0; url=/next",
                "canonical",
                "navigation",
                "site-footer nav-menu",
                "none",
                "widget",
                "banner",
                "main",
            ]
        ),
    ),
    max_size=4,
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


@st.composite
def html_trees(draw, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS))
    attrs = "".join(f' {k}="{_escape(v)}"' for k, v in draw(ATTRS).items())
    if depth >= 4:
        children = []
    else:
        children = draw(
            st.lists(
                st.one_of(st.text(max_size=20).map(_escape), html_trees(depth + 1)), max_size=4
            )
        )
    return f"<{tag}{attrs}>{''.join(children)}</{tag}>"


SEED_PAGE = (
    '<!DOCTYPE html><html><head><title>T</title><base href="/b/">'
    '<meta name="robots" content="noindex"><meta http-equiv="refresh" content="0;url=/r">'
    '<link rel="canonical" href="https://example.com/c"></head><body>'
    '<header class="site-header"><nav><ul><li><a href="/x" rel="nofollow">X</a></li></ul></nav>'
    '</header><main><article><p>Text <a href="y.html"><img alt="Y" src="y.png"></a></p>'
    '</article><aside class="widget"><a href="//other.example/z">Z</a></aside></main>'
    '<map><area href="/area" alt="A"></map><footer><a href="mailto:a@b">mail</a>'
    '<a href="?page=2#f">next</a></footer></body></html>'
)


@st.composite
def mutated_pages(draw) -> bytes:
    page = SEED_PAGE
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(page)))
        j = draw(st.integers(i, min(len(page), i + 40)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if action == "delete":
            page = page[:i] + page[j:]
        elif action == "insert":
            page = page[:i] + draw(st.text(max_size=10)) + page[i:]
        else:
            page = page[:j] + page[i:j] + page[j:]
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1"]))
    return page.encode(encoding, errors="replace")


BASES = st.sampled_from(
    [
        "http://example.com/dir/page.html",
        "https://EXAMPLE.com:443/",
        "http://[::1]:8080/a?b",
        "http://xn--bcher-kva.example/p/",
    ]
)


def check(body: bytes, url: str) -> None:
    response = HtmlResponse(url=url, body=body)
    links = EXTRACTOR.extract(response.selector.root, response.url, ["otherbot: nofollow"])
    n = len(links.target)
    assert [
        len(c) for c in (links.anchor, links.rel, links.follow, links.position, links.kind)
    ] == [n] * 5
    for target, anchor, kind, position in zip(
        links.target, links.anchor, links.kind, links.position, strict=True
    ):
        assert target.startswith(("http://", "https://")), target
        assert "#" not in target
        assert normalize_url(target) == target
        assert kind in KINDS and position in POSITIONS
        assert len(anchor) <= ANCHOR_MAX_CHARS


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(page=html_trees(), url=BASES)
def test_random_html(page, url):
    check(page.encode("utf-8"), url)


@FUZZ
@given(body=mutated_pages(), url=BASES)
def test_mutated_html(body, url):
    check(body, url)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=300), url=BASES)
def test_random_bytes(body, url):
    check(body, url)


def test_seed_page_before_mutation():
    response = HtmlResponse(url="http://example.com/dir/page.html", body=SEED_PAGE.encode())
    links = EXTRACTOR.extract(response.selector.root, response.url)
    assert links.target == [
        "http://example.com/r",
        "https://example.com/c",
        "http://example.com/x",
        "http://example.com/b/y.html",
        "http://other.example/z",
        "http://example.com/area",
        "http://example.com/b/?page=2",
    ]
    assert links.position == [
        "head",
        "head",
        "navigation",
        "content",
        "sidebar",
        "content",
        "footer",
    ]
    assert links.kind == ["refresh", "canonical", "anchor", "image", "anchor", "area", "anchor"]
    assert links.noindex and not links.nofollow
