"""URL resolution against the WHATWG conformance cases, normalisation, and registered domains."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkcrawl.extract.urls import absolute_url, host_of, normalize_url, registered_domain
from tests.conftest import need_shared_data

URLTESTDATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "url" / "urltestdata.json"

# Cases of urltestdata.json (input, base) where we knowingly differ; docs/extraction.md
# says why. Anything else that disagrees is a regression.
KNOWN_DIFFERENCES = {
    # An empty query is dropped: "page?" and "page" are one node of the link graph.
    ("?", "http://example.org/foo/bar"),
    # w3lib strips trailing spaces before encoding the query, WHATWG encodes them.
    ("http://f:21/ b ? d # e ", "http://example.org/foo/bar"),
    # w3lib also percent-encodes ` { } in the query, WHATWG leaves them.
    ("http://`{}:`{}@h/`{}?`{}", "http://doesnotmatter/"),
}
# Share of the 328 cases with a base on which we agree with WHATWG (measured: 325).
MIN_AGREEING = 325


def whatwg_expectation(case: dict) -> str | None:
    """What absolute_url should return for a urltestdata case under our contract: the
    WHATWG href without its fragment for http(s) URLs, None for failures and for any
    other scheme (those are not edges)."""
    if case.get("failure") or case["protocol"] not in ("http:", "https:"):
        return None
    return case["href"].partition("#")[0]


def load_cases() -> list[dict]:
    need_shared_data(URLTESTDATA)
    data = json.loads(URLTESTDATA.read_text(encoding="utf-8"))
    return [c for c in data if isinstance(c, dict) and c.get("base")]


def test_whatwg_cases_with_a_base():
    cases = load_cases()
    assert len(cases) == 328
    disagree = {
        (c["input"], c["base"]): (whatwg_expectation(c), absolute_url(c["input"], c["base"]))
        for c in cases
        if absolute_url(c["input"], c["base"]) != whatwg_expectation(c)
    }
    unexpected = {k: v for k, v in disagree.items() if k not in KNOWN_DIFFERENCES}
    assert unexpected == {}, "new differences from WHATWG (expected, got)"
    assert len(cases) - len(disagree) >= MIN_AGREEING


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("/a/./b/../c", "http://example.com/a/c"),
        ("d//e", "http://example.com/dir/d//e"),  # browsers keep empty segments
        ("?q=1", "http://example.com/dir/page.html?q=1"),
        ("", "http://example.com/dir/page.html"),
        ("#frag", "http://example.com/dir/page.html"),
        ("https:other.example/x", "https://other.example/x"),  # cross-scheme is absolute
        ("http:same", "http://example.com/dir/same"),  # same scheme is relative
        ("///triple.example/p", "http://triple.example/p"),
        # WHATWG keeps a backslash in the query; w3lib encodes it (docs/extraction.md)
        ("\\\\back.example\\p\\q?x\\y", "http://back.example/p/q?x%5Cy"),
        ("HTTP://EXAMPLE.COM:80", "http://example.com/"),
        ("http://0x7f.0.0.1/", "http://127.0.0.1/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://256.256.256.256/", None),
        ("http://[0:0::1]:8080/", "http://[::1]:8080/"),
        ("http://exa mple.com/", None),
        ("http://example.com:99999/", None),
        ("http://user:pa ss@example.com/", "http://user:pa%20ss@example.com/"),
        ("http://münchen.de/straße", "http://xn--mnchen-3ya.de/stra%C3%9Fe"),
        ("http://%65xample.com/", "http://example.com/"),
        ("/caf\u00e9?q=\u00e9", "http://example.com/caf%C3%A9?q=%C3%A9"),
        ("\t/tab\nbed ", "http://example.com/tabbed"),
        ("javascript:go()", None),
        ("//", None),
    ],
)
def test_absolute_url(href, expected):
    assert absolute_url(href, "http://example.com/dir/page.html") == expected


def test_normalize_url():
    assert normalize_url("HTTPS://WWW.Example.com:443") == "https://www.example.com/"
    assert normalize_url("http://example.com/a?b=1#c") == "http://example.com/a?b=1"
    assert normalize_url("ftp://example.com/") is None
    assert normalize_url("http:///nohost") is None
    assert normalize_url("not a url") is None


def test_host_of_and_registered_domain():
    assert host_of("http://user@Shop.example.co.uk:8080/x") == "Shop.example.co.uk"
    assert host_of("http://[::1]:8080/") == "[::1]"
    assert registered_domain("news.bbc.co.uk") == "bbc.co.uk"
    assert registered_domain("user.github.io") == "user.github.io"
    assert registered_domain("127.0.0.1") == "127.0.0.1"


# Plain hrefs (the fast path): letters, digits and a few safe punctuation marks, in
# segments that are never empty, "." or "..". For these, the standard library's RFC 3986
# resolution and WHATWG agree, so urljoin is an independent reference.
segment = st.text("abcXYZ019-_~+.", min_size=1, max_size=8).filter(lambda s: s.strip("."))
plain_path = st.lists(segment, min_size=1, max_size=4).map("/".join)
plain_href = st.one_of(
    plain_path,
    plain_path.map(lambda p: "/" + p),
    st.tuples(plain_path, segment).map(lambda t: f"{t[0]}?q={t[1]}"),
    segment.map(lambda s: "?" + s),
    st.tuples(plain_path, segment).map(lambda t: f"/{t[0]}#{t[1]}"),
)
plain_base = st.tuples(st.sampled_from(["http", "https"]), plain_path).map(
    lambda t: f"{t[0]}://www.example.com/{t[1]}"
)


@settings(max_examples=300, deadline=None)
@given(href=plain_href, base=plain_base)
def test_plain_hrefs_resolve_like_urljoin(href, base):
    expected = urljoin(base, href).partition("#")[0]
    assert absolute_url(href, base) == expected


@settings(max_examples=300, deadline=None)
@given(href=st.text(max_size=40), base=plain_base)
def test_any_href_gives_none_or_a_normalised_http_url(href, base):
    target = absolute_url(href, base)
    if target is not None:
        assert target.startswith(("http://", "https://"))
        assert "#" not in target
        assert normalize_url(target) == target  # idempotent


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.example/p;jsessionid=0AB12?x=1", "http://a.example/p?x=1"),
        ("http://a.example/p?PHPSESSID=abc&x=1", "http://a.example/p?x=1"),
        ("http://a.example/p?x=1&ASPSESSIONIDQQ=AB&sessionid=9", "http://a.example/p?x=1"),
        ("http://a.example/p?osCsid=1f2e", "http://a.example/p"),
        ("http://a.example/p?sid=0123456789abcdef", "http://a.example/p"),
        # a short sid is more likely a section id than a session: kept
        ("http://a.example/p?sid=12", "http://a.example/p?sid=12"),
        ("http://a.example/session-tips?page=2", "http://a.example/session-tips?page=2"),
        ("http://a.example/p", "http://a.example/p"),
    ],
)
def test_session_ids_are_dropped(url, expected):
    assert normalize_url(url) == expected
    assert absolute_url(url, "http://other.example/") == expected
