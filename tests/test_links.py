"""Link extraction on small hand-written pages: rel, follow, anchor, position, kind, URLs."""

from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse

from linkcrawl.extract.links import (
    ANCHOR_MAX_CHARS,
    DEFAULT_POSITION_RULES,
    LinkExtractor,
    PositionRule,
    build_position_rules,
    html_root,
    parse_robots_directives,
)

PAGE = "http://example.com/dir/page.html"


def extract(body: str, url: str = PAGE, x_robots_tag=(), extractor=None):
    """Extract the way the spider does: from the tree Scrapy built for the response."""
    response = HtmlResponse(url=url, body=body.encode("utf-8"), encoding="utf-8")
    return (extractor or LinkExtractor()).extract(response.selector.root, url, list(x_robots_tag))


def rows(links):
    return list(
        zip(
            links.target,
            links.anchor,
            links.rel,
            links.follow,
            links.position,
            links.kind,
            strict=True,
        )
    )


# -- which elements are edges -------------------------------------------------------------


def test_a_area_and_canonical_link_in_document_order_one_row_per_occurrence():
    links = extract(
        """<html><head><link rel="stylesheet" href="/s.css">
        <link rel="Canonical" href="/canon"></head><body>
        <a href="/x">one</a><a name="no-href">none</a><a href="/x">one again</a>
        <map><area href="/map" alt=" Map  area "></map></body></html>"""
    )
    assert rows(links) == [
        ("http://example.com/canon", "", "canonical", True, "head", "canonical"),
        ("http://example.com/x", "one", "", True, "content", "anchor"),
        ("http://example.com/x", "one again", "", True, "content", "anchor"),
        ("http://example.com/map", "Map area", "", True, "content", "area"),
    ]
    assert links.canonical == "http://example.com/canon"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:void(0)",
        "mailto:a@example.com",
        "tel:+100",
        "data:text/html,hi",
        "ftp://example.com/f",
        "JavaScript:alert(1)",
        "  mailto:x@y",
        "http://",
        "https://[::1",
    ],
)
def test_non_http_hrefs_are_not_edges(href):
    assert extract(f'<a href="{href}">x</a>').target == []


def test_fragment_only_href_is_an_edge_to_the_page_itself():
    assert extract('<a href="#top">top</a>').target == [PAGE]


# -- rel and follow ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "tokens", "follow"),
    [
        ("NoFollow", "nofollow", False),
        ("ugc", "ugc", False),
        ("sponsored noopener", "sponsored noopener", False),
        (" noopener\tNOREFERRER ", "noopener noreferrer", True),
        ("external", "external", True),
        ("nofollowx", "nofollowx", True),
        ("", "", True),
    ],
)
def test_rel_tokens_lower_case_and_follow(rel, tokens, follow):
    links = extract(f'<a href="/a" rel="{rel}">a</a>')
    assert links.rel == [tokens]
    assert links.follow == [follow]


@pytest.mark.parametrize(
    ("meta", "nofollow", "noindex"),
    [
        ('<meta name="robots" content="nofollow">', True, False),
        ('<meta name="ROBOTS" content="NOINDEX, NOFOLLOW">', True, True),
        ('<meta name="robots" content="none">', True, True),
        ('<meta name="robots" content="noindex">', False, True),
        ('<meta name="robots" content="index, follow">', False, False),
        ('<meta name="googlebot" content="nofollow">', False, False),
        ('<meta name="linkcrawl" content="nofollow">', True, False),
    ],
)
def test_meta_robots(meta, nofollow, noindex):
    links = extract(
        f'<html><head>{meta}</head><body><a href="/a" rel="ugc">a</a>'
        '<a href="/b">b</a></body></html>'
    )
    assert (links.nofollow, links.noindex) == (nofollow, noindex)
    assert links.follow == [False, not nofollow]


@pytest.mark.parametrize(
    ("headers", "nofollow", "noindex"),
    [
        (["nofollow"], True, False),
        (["noindex", "nofollow"], True, True),  # two headers
        (["noarchive, NoFollow"], True, False),  # a comma list
        (["none"], True, True),
        (["otherbot: nofollow"], False, False),  # scoped to another crawler
        (["otherbot: noindex, nofollow"], False, False),  # the scope covers the list
        (["otherbot: nofollow", "linkcrawl: noindex"], False, True),
        (["googlebot: noindex, linkcrawl: nofollow"], True, False),
        (["*: nofollow"], True, False),
        (["unavailable_after: 25 Jun 2010 15:00:00 PST"], False, False),
        (["max-snippet: 20, nofollow"], True, False),
    ],
)
def test_x_robots_tag(headers, nofollow, noindex):
    links = extract('<a href="/a">a</a>', x_robots_tag=headers)
    assert (links.nofollow, links.noindex) == (nofollow, noindex)
    assert links.follow == [not nofollow]


def test_x_robots_tag_read_from_every_header_of_a_response():
    response = HtmlResponse(
        url=PAGE,
        body=b'<a href="/a">a</a>',
        headers=[("X-Robots-Tag", "otherbot: nofollow"), ("X-Robots-Tag", "noindex, NOFOLLOW")],
    )
    links = LinkExtractor().from_response(response)
    assert (links.nofollow, links.noindex, links.follow) == (True, True, [False])


def test_robots_directives_for_another_user_agent():
    assert parse_robots_directives(["mybot: nofollow"], user_agent="MyBot") == {"nofollow"}
    assert parse_robots_directives(["mybot: nofollow"], user_agent="linkcrawl") == set()


# -- anchors -------------------------------------------------------------------------------


def test_anchor_is_visible_text_collapsed_without_script_and_style():
    links = extract(
        """<a href="/a">  Hello
        <b>big</b>\t<script>var x = "no";</script><style>a{}</style><!-- comment -->
        world&nbsp;!</a>"""
    )
    assert links.anchor == ["Hello big world !"]


def test_anchor_capped():
    links = extract(f'<a href="/a">{"word " * 1000}</a>')
    assert len(links.anchor[0]) == ANCHOR_MAX_CHARS
    assert links.anchor[0].startswith("word word")


def test_image_link_anchor_is_alt_and_kind_image():
    links = extract(
        '<a href="/a"><img src="x.png" alt="  Company\n logo "></a>'
        '<a href="/b"><picture><img src="y.png"></picture></a>'
        '<a href="/c"><img src="z.png" alt="ignored">Text wins</a>'
    )
    assert links.anchor == ["Company logo", "", "Text wins"]
    assert links.kind == ["image", "image", "anchor"]


def test_title_and_entities():
    links = extract("<title> My &amp; page </title><a href='/q?a=1&amp;b=2'>Q &amp; A</a>")
    assert links.title == "My & page"
    assert links.anchor == ["Q & A"]
    assert links.target == ["http://example.com/q?a=1&b=2"]


# -- URL resolution ------------------------------------------------------------------------


def test_base_href_wherever_it_stands():
    # Scrapy's LinkExtractor only looks for <base> in the first 4 KB; HTML uses the first
    # <base href> of the document wherever it is.
    padding = "<p>" + "x" * 5000 + "</p>"
    links = extract(
        f'<html><body>{padding}<a href="a.html">a</a><base href="http://other.example/d/">'
        '<base href="http://ignored.example/"><a href="../b.html">b</a></body></html>'
    )
    assert links.base == "http://other.example/d/"
    assert links.target == ["http://other.example/d/a.html", "http://other.example/b.html"]


def test_relative_base_href_resolves_against_the_page():
    links = extract('<base href="/root/"><a href="x">x</a>')
    assert links.target == ["http://example.com/root/x"]


def test_targets_normalised():
    links = extract(
        '<a href="HTTP://WWW.Example.COM:80/a b?q=ä#frag">1</a>'
        '<a href="https://bücher.example:443/">2</a>'
        '<a href="//cdn.example.com">3</a>'
        '<a href="\\\\other.example\\path">4</a>'
        '<a href=" /spaced ">5</a>'
        '<a href="https://example.com:8443/">6</a>'
    )
    assert links.target == [
        "http://www.example.com/a%20b?q=%C3%A4",
        "https://xn--bcher-kva.example/",
        "http://cdn.example.com/",
        "http://other.example/path",
        "http://example.com/spaced",
        "https://example.com:8443/",
    ]


def test_meta_refresh_is_an_edge_of_kind_refresh():
    links = extract(
        '<html><head><meta http-equiv="Refresh" content="5; URL=\'/next\'">'
        '<meta http-equiv="refresh" content="10"></head><body></body></html>'
    )
    assert rows(links) == [("http://example.com/next", "", "", True, "head", "refresh")]


@pytest.mark.parametrize(
    ("content", "target"),
    [
        ("0;url=http://example.net/a", "http://example.net/a"),
        ("0; URL = b.html", "http://example.com/dir/b.html"),
        ('3,url="c.html"', "http://example.com/dir/c.html"),
        ("0.5;d.html", "http://example.com/dir/d.html"),
        ("2", None),
        ("0; url=mailto:x@y", None),
    ],
)
def test_meta_refresh_forms(content, target):
    links = extract(f"<meta http-equiv='refresh' content='{content}'>")
    assert links.target == ([target] if target else [])


# -- position ------------------------------------------------------------------------------


def positions(body: str, extractor=None) -> dict[str, str]:
    links = extract(body, extractor=extractor)
    return {a: p for a, p in zip(links.anchor, links.position, strict=True)}


def test_html5_landmarks():
    assert positions(
        """<body><header><a href="/1">logo</a><nav><a href="/2">menu</a></nav></header>
        <main><article><header><a href="/3">byline</a></header><p><a href="/4">text</a></p>
        <aside><a href="/5">related</a></aside><footer><a href="/6">tags</a></footer>
        </article></main><aside><a href="/7">side</a></aside>
        <footer><a href="/8">legal</a><nav><a href="/9">footer menu</a></nav></footer>
        <a href="/10">loose</a></body>"""
    ) == {
        "logo": "header",
        "menu": "navigation",
        "byline": "content",  # an article's own header is part of the content
        "text": "content",
        "related": "sidebar",
        "tags": "content",
        "side": "sidebar",
        "legal": "footer",
        "footer menu": "footer",  # a page footer keeps its menus
        "loose": "content",
    }


def test_aria_roles():
    assert positions(
        """<div role="banner"><a href="/1">b</a></div>
        <div role="navigation"><a href="/2">n</a></div>
        <div role="main"><a href="/3">m</a><div role="complementary"><a href="/4">c</a></div></div>
        <div role="contentinfo"><a href="/5">f</a></div>
        <ul role="menubar"><li><a href="/6">mb</a></li></ul>"""
    ) == {
        "b": "header",
        "n": "navigation",
        "m": "content",
        "c": "sidebar",
        "f": "footer",
        "mb": "navigation",
    }


def test_id_and_class_tokens():
    assert positions(
        """<div id="masthead"><a href="/1">a</a></div>
        <div class="site-header"><a href="/2">b</a></div>
        <ul class="nav-menu"><li><a href="/3">c</a></li></ul>
        <div class="breadcrumbs"><a href="/4">d</a></div>
        <div id="footer_wrap"><a href="/5">e</a></div>
        <div class="sidebar-left"><a href="/6">f</a></div>
        <div class="content-sidebar-wrap"><main class="content"><a href="/7">g</a></main></div>
        <div class="td-footer-wrapper"><a href="/11">k</a></div>
        <div class="entry-sidebar-meta"><a href="/12">l</a></div>
        <div class="widget"><a href="/8">h</a></div>
        <div class="navigator"><a href="/9">i</a></div>
        <div class="has-sidebar"><a href="/10">j</a></div>"""
    ) == {
        "a": "header",
        "b": "header",
        "c": "navigation",
        "d": "navigation",
        "e": "footer",
        "f": "sidebar",
        "g": "content",
        "h": "sidebar",
        "i": "content",
        "j": "content",
        "k": "footer",
        "l": "content",  # a part in the middle does not count
    }


def test_state_classes_on_body_and_html_are_not_landmarks():
    assert positions(
        '<html class="header-sticky"><body class="nav-open has-sidebar footer-fixed">'
        '<a href="/1">x</a></body></html>'
    ) == {"x": "content"}


def test_a_menu_keeps_what_looks_like_a_header_inside_it():
    # forbes.com: <navbar role=banner><div role=navigation><ul class="header__channels">
    assert positions(
        '<div role="banner"><div role="navigation"><ul class="header__channels">'
        '<li class="widget"><a href="/1">x</a></li></ul></div></div>'
    ) == {"x": "navigation"}


def test_a_wrapper_named_like_a_menu_does_not_swallow_the_page():
    # therepublic.com wraps the whole page in div.td-transition-content-and-menu
    assert positions(
        '<div class="td-transition-content-and-menu"><nav><a href="/1">menu</a></nav>'
        '<div role="main"><a href="/2">story</a></div>'
        '<div class="footer"><a href="/3">legal</a></div></div>'
    ) == {"menu": "navigation", "story": "content", "legal": "footer"}


def test_weak_widget_tokens_ignored_inside_content():
    # Blogger wraps the post itself in div.widget.Blog; page builders tag every block
    # "elementor-widget".
    assert positions(
        '<div id="main" class="main section"><div id="Blog1" class="widget Blog">'
        '<a href="/1">post</a></div></div>'
        '<div class="elementor-widget elementor-widget-text"><a href="/2">block</a></div>'
        '<div class="sidebar"><div class="widget"><a href="/3">side</a></div></div>'
        '<article><div class="widget"><a href="/4">in article</a></div></article>'
    ) == {"post": "content", "block": "content", "side": "sidebar", "in article": "content"}


def test_article_cards_in_a_sidebar_stay_sidebar():
    assert positions(
        '<aside><article><h2><a href="/1">card</a></h2></article></aside>'
        '<nav><article><a href="/2">featured</a></article></nav>'
    ) == {"card": "sidebar", "featured": "navigation"}


def test_one_element_matching_several_rules_takes_the_first_rule():
    # Default rules: footer before navigation before sidebar before header.
    assert positions(
        '<div class="widget footer"><a href="/1">a</a></div>'
        '<div class="header nav"><a href="/2">b</a></div>'
        '<article class="nav-links"><a href="/3">c</a></article>'
    ) == {"a": "footer", "b": "navigation", "c": "content"}


def test_user_rules_come_first():
    rules = build_position_rules(
        [
            {"position": "content", "tokens": ["related-posts"]},
            {"position": "sidebar", "tags": ["section"]},
            {"position": "footer", "roles": ["region"]},
        ]
    )
    assert rules[3:] == DEFAULT_POSITION_RULES
    extractor = LinkExtractor(rules)
    assert positions(
        '<div class="widget related-posts"><a href="/1">a</a></div>'
        '<section><a href="/2">b</a></section>'
        '<div role="region"><a href="/3">c</a></div>'
        '<nav><a href="/4">d</a></nav>',
        extractor,
    ) == {"a": "content", "b": "sidebar", "c": "footer", "d": "navigation"}


def test_position_rule_from_settings_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown link position"):
        PositionRule.from_mapping({"position": "middle", "tokens": ["x"]})
    with pytest.raises(ValueError, match="unknown key"):
        PositionRule.from_mapping({"position": "footer", "token": ["x"]})
    rule = PositionRule.from_mapping({"position": "footer", "tokens": "Legal Imprint"})
    assert rule.tokens == frozenset({"legal", "imprint"})


def test_position_of_a_single_link_matches_extraction():
    root = html_root('<nav><div class="x"><a href="/a">a</a></div></nav>')
    link = next(root.iter("a"))
    assert LinkExtractor().position_of(link) == "navigation"


def test_empty_and_odd_documents():
    assert len(LinkExtractor().extract(None, PAGE)) == 0
    assert extract("").target == []
    assert extract("<a href>x</a><a href=''>y</a>").target == [PAGE, PAGE]
