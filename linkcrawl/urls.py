"""URL resolution and normalisation, and registered domains from the bundled public suffix list."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit, urlunsplit

import tldextract
from w3lib.url import safe_url_string

__all__ = ["absolute_url", "host_of", "normalize_url", "registered_domain"]

# WHATWG URL: leading/trailing C0 controls and spaces are stripped, tabs and newlines removed anywhere.
_STRIP = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
# A scheme is letters, digits, + - . before the first colon, and must start with a letter.
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters that need percent-encoding or IDNA work; URLs without them take the fast path.
_NEEDS_QUOTING = re.compile(r"[^\x21-\x7e]|[\"<>\\^`{|}]")

# One extractor for the whole process: the bundled suffix list, private domains included
# (user.github.io is a domain of its own), never fetched over the network.
_EXTRACT = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
)


def normalize_url(url: str) -> str | None:
    """Return ``url`` normalised, or None when it is not an http(s) URL with a host.

    Scheme and host are lower-cased, the host IDNA-encoded, a default port dropped, the
    fragment dropped, an empty path made ``/``, and unsafe characters percent-encoded the
    way browsers do (w3lib's ``safe_url_string``, which follows the WHATWG URL standard).

    >>> normalize_url("HTTP://Example.COM:80/a b#top")
    'http://example.com/a%20b'
    """
    if _NEEDS_QUOTING.search(url):
        try:
            url = safe_url_string(url)
        except (ValueError, UnicodeError):
            return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        host = parts.hostname  # lower-cased by urlsplit, brackets of IPv6 removed
        port = parts.port
    except ValueError:  # bad port, unbalanced IPv6 brackets
        return None
    if not host or " " in host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def absolute_url(href: str, base: str) -> str | None:
    """Resolve an href found on a page against the page's base URL and normalise it.

    Returns None for hrefs that are not http(s) links (javascript:, mailto:, tel:, data:,
    other schemes) or cannot be parsed.

    >>> absolute_url("../b/#x", "http://example.com/a/c.html")
    'http://example.com/b/'
    >>> absolute_url("mailto:me@example.com", "http://example.com/") is None
    True
    """
    href = _TAB_NEWLINE.sub("", href.strip(_STRIP))
    scheme = _SCHEME.match(href)
    if scheme is not None and scheme.group(1).lower() not in _DEFAULT_PORTS:
        return None
    try:
        joined = urljoin(base, href)
    except ValueError:
        return None
    return normalize_url(joined)


def host_of(url: str) -> str:
    """The host part of a normalised URL (no port, no userinfo)."""
    netloc = url.split("/", 3)[2] if "//" in url else ""
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1]
    return netloc.partition(":")[0]


@lru_cache(maxsize=1 << 18)
def registered_domain(host: str) -> str:
    """The registered domain of a host: ``news.bbc.co.uk`` -> ``bbc.co.uk``.

    Uses the public suffix list bundled with tldextract, private suffixes included, so
    ``user.github.io`` is a domain of its own. Hosts without a registrable part (IP
    addresses, ``localhost``, a bare suffix) are their own domain. Cached per host.

    >>> registered_domain("www.shop.co.uk")
    'shop.co.uk'
    """
    parts = _EXTRACT(host.strip("[]"))
    return parts.top_domain_under_public_suffix or host
