"""TARGET, parsed once for backlinks, history, diff, broken and report: odd inputs against a
hand-written table, and the rows each filter selects."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from linkcrawl.errors import DatasetError
from linkcrawl.reports.target import Target, parse_target, target_hint

# input -> (kind, name, registered domain)
PARSED = {
    "example.com": ("domain", "example.com", "example.com"),
    "  Example.COM.  ": ("domain", "example.com", "example.com"),
    "www.example.com": ("host", "www.example.com", "example.com"),
    "WWW.Example.com.": ("host", "www.example.com", "example.com"),
    "shop.co.uk": ("domain", "shop.co.uk", "shop.co.uk"),
    "www.shop.co.uk": ("host", "www.shop.co.uk", "shop.co.uk"),
    "user.github.io": ("domain", "user.github.io", "user.github.io"),
    "blog.user.github.io": ("host", "blog.user.github.io", "user.github.io"),
    "bücher.de": ("domain", "xn--bcher-kva.de", "xn--bcher-kva.de"),
    "example.com:8080": ("host", "example.com:8080", "example.com"),
    "example.com:80": ("domain", "example.com", "example.com"),
    "127.0.0.1": ("domain", "127.0.0.1", "127.0.0.1"),
    "localhost": ("domain", "localhost", "localhost"),
    "https://example.com": ("prefix", "https://example.com/", "example.com"),
    "HTTP://WWW.Example.com:80/Blog?x=1#top": (
        "prefix",
        "http://www.example.com/Blog?x=1",
        "example.com",
    ),
    " https://bücher.de/a ": ("prefix", "https://xn--bcher-kva.de/a", "xn--bcher-kva.de"),
    "http://shop.co.uk:8080/x": ("prefix", "http://shop.co.uk:8080/x", "shop.co.uk"),
}

REFUSED = [
    "",
    "   ",
    "example.com/blog",  # a path needs a scheme: give a URL prefix
    "ftp://example.com/",
    "http://",
    "a b.com",
    "user@example.com",
    "example.com?x=1",
    "example.com#top",
]

# target -> the other spellings a hint offers, in order
SPELLINGS = {
    "http://www.example.com/blog/": [
        "https://www.example.com/blog/",
        "http://example.com/blog/",
        "https://example.com/blog/",
    ],
    "https://example.com/": [
        "http://example.com/",
        "https://www.example.com/",
        "http://www.example.com/",
    ],
    "https://blog.example.com/": ["http://blog.example.com/"],
    "www.example.com": ["example.com"],
    "example.com": [],
    "blog.example.com": [],
}

URLS = [
    "http://example.com/",
    "https://www.example.com/blog/a",
    "http://www.example.com:8080/x",
    "https://blog.example.com/",
    "https://www.example.com.evil-example.net/",
    "http://wwwxexample.com/",
    "https://example.com:8080/",
]
DOMAINS = [
    "example.com",
    "example.com",
    "example.com",
    "example.com",
    "evil-example.net",
    "wwwxexample.com",
    "example.com",
]
# target -> indices of URLS it selects
SELECTS = {
    "example.com": {0, 1, 2, 3, 6},
    "www.example.com": {1, 2},
    "blog.example.com": {3},
    "example.com:8080": {6},
    "https://www.example.com/blog/": {1},
    "http://example.com/": {0},
    "https://example.com/": set(),
}


@pytest.mark.parametrize("text", list(PARSED))
def test_parse_target(text):
    assert parse_target(text) == Target(*PARSED[text])


@pytest.mark.parametrize("text", REFUSED)
def test_parse_target_refuses(text):
    with pytest.raises(DatasetError, match="bad target"):
        parse_target(text)


@pytest.mark.parametrize("text", list(SPELLINGS))
def test_other_spellings(text):
    assert [t.name for t in parse_target(text).other_spellings()] == SPELLINGS[text]


@pytest.mark.parametrize("text", list(SELECTS))
def test_filters_select_the_target_in_arrow_and_in_duckdb(text):
    table = pa.table({"target": URLS, "target_domain": DOMAINS, "i": range(len(URLS))})
    target = parse_target(text)
    by_arrow = set(table.filter(target.expression())["i"].to_pylist())
    con = duckdb.connect()
    con.register("links", table)
    by_sql = {i for (i,) in con.sql(f"SELECT i FROM links WHERE {target.sql()}").fetchall()}
    assert by_arrow == by_sql == SELECTS[text]


def test_sql_quotes_what_it_is_given():
    target = parse_target("http://example.com/it's")
    con = duckdb.connect()
    con.register(
        "links", pa.table({"target": ["http://example.com/it's"], "target_domain": ["example.com"]})
    )
    assert con.sql(f"SELECT count(*) FROM links WHERE {target.sql()}").fetchall() == [(1,)]


def test_target_hint_names_the_spelling_the_data_has():
    have = {"https://www.example.com/blog/"}
    hint = target_hint("http://www.example.com/blog/", lambda t: t.name in have)
    assert hint == (
        "no backlinks to http://www.example.com/blog/; the crawl has "
        "https://www.example.com/blog/ — did you mean that?"
    )
    assert target_hint("example.com", lambda t: True) is None
