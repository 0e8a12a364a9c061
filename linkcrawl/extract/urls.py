"""URL resolution and normalisation, and registered domains from the bundled public suffix list."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes, urljoin

import tldextract
from w3lib.url import safe_url_string

__all__ = ["absolute_url", "host_of", "normalize_url", "registered_domain"]

# WHATWG URL: leading/trailing C0 controls and spaces are stripped, tabs and newlines
# removed anywhere.
_STRIP = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
# A scheme is letters, digits, + - . before the first colon, and must start with a letter.
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters that need percent-encoding or IDNA work; URLs without them take the fast path.
_NEEDS_QUOTING = re.compile(r"[^\x21-\x7e]|[\"<>\\^`{|}]")
# URLs and hrefs made only of characters that no step of normalisation changes; a URL
# also needs a lower-case host name that cannot be an IPv4 address, and no port.
_SAFE = r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]"
_SIMPLE_ABSOLUTE = re.compile(
    rf"https?://[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z\-][a-z0-9\-]*(?:[/?]{_SAFE}*)?(?:#.*)?\Z",
    re.DOTALL,
)
_SIMPLE_RELATIVE = re.compile(rf"{_SAFE}*(?:#.*)?\Z", re.DOTALL)
# A "." or ".." path segment (also percent-encoded), or a "%" that is not an escape.
_DOT_SEGMENT = re.compile(r"(?:^|/)(?:\.|%2e){1,2}(?:[/?#]|\Z)|%(?![0-9A-Fa-f]{2})", re.IGNORECASE)
# WHATWG forbidden domain code points (after percent-decoding), C0 controls and DEL.
_FORBIDDEN_HOST = frozenset("".join(chr(c) for c in range(0x21)) + "\x7f#%/:<>?@[\\]^|")
# WHATWG userinfo percent-encode set, without C0 controls and non-ASCII (encoded anyway).
_USERINFO_UNSAFE = frozenset(' "#<>?`{}/:;=@[\\]^|\x7f' + "".join(chr(c) for c in range(0x20)))

# One extractor for the whole process: the bundled suffix list, private domains included
# (user.github.io is a domain of its own), never fetched over the network.
_EXTRACT = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
)


# Session ids in URLs make one page many (and a crawler trap): they are dropped from every
# URL, edges' targets included. Cheap precheck first: most URLs have none of these letters.
_SESSION_HINTS = ("sess", "sid", "cfid", "cftoken", "zenid")
_SESSION_PATH = re.compile(r"(?i);(?:jsessionid|phpsessid)=[^?#/;]*")
_SESSION_KEYS = re.compile(
    r"(?i)^(?:phpsessid|jsessionid|aspsessionid\w*|sessionid|session_id|oscsid|zenid|cfid"
    r"|cftoken)$"
)
# "sid" is a session id only when its value looks like a token, not a section number.
_SID_TOKEN = re.compile(r"(?i)^sid=[0-9a-z]{16,}$")


def drop_session_ids(url: str) -> str:
    """``url`` without session ids: ``;jsessionid=...`` path parameters and query
    parameters such as PHPSESSID, sessionid, or a token-like ``sid``.

    >>> drop_session_ids("http://a.example/p;jsessionid=A1B2?id=3&PHPSESSID=f00")
    'http://a.example/p?id=3'
    """
    if "?" not in url and ";" not in url:
        return url  # the common case: nothing to look at
    low = url.lower()
    if not any(hint in low for hint in _SESSION_HINTS):
        return url
    url = _SESSION_PATH.sub("", url)
    base, question, query = url.partition("?")
    if not question:
        return url
    kept = [
        pair
        for pair in query.split("&")
        if not (_SESSION_KEYS.match(pair.partition("=")[0]) or _SID_TOKEN.match(pair))
    ]
    return f"{base}?{'&'.join(kept)}" if kept else base


def normalize_url(url: str) -> str | None:
    """Return ``url`` normalised, or None when it is not an http(s) URL with a valid host.

    Session ids are dropped (:func:`drop_session_ids`).

    Scheme and host are lower-cased; the host is percent-decoded, IDNA-encoded, checked
    for forbidden characters, and an IPv4 address written in any WHATWG form (``0x7f.1``,
    ``2130706433``) becomes dotted decimal, an IPv6 one its compressed form; a default
    port is dropped, the fragment dropped, an empty path made ``/``, dot segments
    removed, and unsafe characters of userinfo, path and query percent-encoded the way
    browsers do (w3lib's ``safe_url_string`` for path and query).

    >>> normalize_url("HTTP://Example.COM:80/a b#top")
    'http://example.com/a%20b'
    >>> normalize_url("http://0x7f.1/")
    'http://127.0.0.1/'
    """
    normalized = _normalize(url)
    return drop_session_ids(normalized) if normalized is not None else None


def _normalize(url: str) -> str | None:
    """normalize_url without dropping session ids."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    if _SIMPLE_ABSOLUTE.match(url) and not _DOT_SEGMENT.search(url):
        return _simple_normalized(url)  # the common case needs none of the work below
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if 0 <= found < end:
            end = found
    netloc, tail = rest[:end], rest[end:]
    tail = tail.partition("#")[0]
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None
        written, port_text = hostport[: close + 1], hostport[close + 1 :]
        if port_text and not port_text.startswith(":"):
            return None
        port_text = port_text[1:]
    else:
        written, _, port_text = hostport.partition(":")
    host = _host(written)
    if host is None:
        return None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
            return None
        port = int(port_text)
        if port != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{port}"
    if at:
        username, _, password = userinfo.partition(":")
        username = _encode(username, _USERINFO_UNSAFE)
        password = _encode(password, _USERINFO_UNSAFE)
        if password:
            host = f"{username}:{password}@{host}"
        elif username:
            host = f"{username}@{host}"
    path, _, query = tail.partition("?")
    if _NEEDS_QUOTING.search(tail):
        try:
            quoted = safe_url_string(f"http://h{tail}")
        except (ValueError, UnicodeError):
            return None
        path, _, query = quoted[8:].partition("?")
    if "." in path:
        path = _remove_dot_segments(path)
    if not path.startswith("/"):
        path = "/" + path
    # An empty query ("page?") is dropped: same resource in practice, one node not two.
    return f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"


def _simple_normalized(url: str) -> str:
    """normalize_url of a URL that _SIMPLE_ABSOLUTE matches and has no dot segment."""
    head, _, query = url.partition("#")[0].partition("?")
    if head.count("/") == 2:
        head += "/"
    return f"{head}?{query}" if query else head


def _encode(text: str, unsafe: frozenset[str]) -> str:
    """Percent-encode what WHATWG's percent-encode set ``unsafe`` (and non-ASCII) holds."""
    if text.isascii() and unsafe.isdisjoint(text):
        return text
    return "".join(ch if ch.isascii() and ch not in unsafe else quote(ch, safe="") for ch in text)


def _host(host: str) -> str | None:
    """A URL host as WHATWG's host parser would serialise it, or None when invalid."""
    if host.startswith("["):
        if "%" in host:  # a zone id: not in URLs
            return None
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    if "%" in host:
        try:
            host = unquote_to_bytes(host).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    if not host or not _FORBIDDEN_HOST.isdisjoint(host):
        return None
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    last = labels[-1]
    if last and (last.isdigit() or _ipv4_number(last) is not None):
        return _ipv4(labels)
    return host


def _ipv4_number(part: str) -> int | None:
    """One part of a WHATWG IPv4 address: decimal, 0x hex or 0-prefixed octal."""
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _ipv4(labels: list[str]) -> str | None:
    if len(labels) > 4:
        return None
    numbers = []
    for label in labels:
        number = _ipv4_number(label) if label else None
        if number is None:
            return None
        numbers.append(number)
    last = numbers.pop()
    if any(n > 255 for n in numbers) or last >= 256 ** (4 - len(numbers)):
        return None
    address = last
    for i, n in enumerate(numbers):
        address += n * 256 ** (3 - i)
    return str(ipaddress.IPv4Address(address))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 / WHATWG removal of ``.`` and ``..`` path segments."""
    segments = path.split("/")
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out)


@lru_cache(maxsize=256)
def _base_parts(base: str) -> tuple[str, str, str, str] | None:
    """Scheme, origin, directory and path of a simple normalised base URL, else None."""
    if not _SIMPLE_ABSOLUTE.match(base) or _DOT_SEGMENT.search(base) or "#" in base:
        return None
    scheme = base[: base.index(":")]
    slash = base.find("/", len(scheme) + 3)
    if slash < 0:
        return None
    origin = base[:slash]
    path = base.partition("?")[0]
    return scheme, origin, path[: path.rindex("/") + 1], path


def absolute_url(href: str, base: str) -> str | None:
    """Resolve an href found on a page against the page's base URL and normalise it.

    Resolution follows the WHATWG URL standard for http(s): backslashes count as
    slashes, any number of slashes may follow the scheme, and ``https:host/`` on an
    http page is absolute. Returns None for hrefs that are not http(s) links
    (javascript:, mailto:, tel:, data:, other schemes) or that do not parse. Session ids
    are dropped (:func:`drop_session_ids`).

    >>> absolute_url("../b/#x", "http://example.com/a/c.html")
    'http://example.com/b/'
    >>> absolute_url("mailto:me@example.com", "http://example.com/") is None
    True
    """
    url = _absolute_url(href, base)
    return drop_session_ids(url) if url is not None else None


def _absolute_url(href: str, base: str) -> str | None:
    """absolute_url without dropping session ids."""
    if _SIMPLE_ABSOLUTE.match(href) and not _DOT_SEGMENT.search(href):
        return _simple_normalized(href)
    if _SIMPLE_RELATIVE.match(href) and _SCHEME.match(href) is None:
        parts = _base_parts(base)
        if parts is not None and not _DOT_SEGMENT.search(href):
            # Fast path: a plain path, query or fragment against a plain base.
            scheme, origin, directory, path = parts
            href = href.partition("#")[0]
            if href.endswith("?"):
                href = href[:-1]
            first = href[:1]
            if first == "/":
                if href[1:2] != "/":
                    return origin + href
            elif first == "?":
                return path + href
            elif first == "":
                return normalize_url(base)
            else:
                return directory + href
    href = href.strip(_STRIP)
    if "\t" in href or "\n" in href or "\r" in href:
        href = _TAB_NEWLINE.sub("", href)
    if "\\" in href:
        # For http(s) a backslash is a slash, up to the query.
        end = len(href)
        for stop in "?#":
            found = href.find(stop)
            if 0 <= found < end:
                end = found
        href = href[:end].replace("\\", "/") + href[end:]
    scheme_match = _SCHEME.match(href)
    if scheme_match is not None:
        scheme = scheme_match.group(1).lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        rest = href[scheme_match.end() :]
        if scheme != base.partition(":")[0].lower() or rest.startswith("//"):
            # Absolute: WHATWG skips any number of slashes before the host.
            return normalize_url(f"{scheme}://{rest.lstrip('/')}")
        href = rest  # "http:page" on an http page is relative
    if href.startswith("//"):
        return normalize_url(f"{base.partition(':')[0].lower()}://{href.lstrip('/')}")
    return normalize_url(_join(base, href))


def _join(base: str, href: str) -> str:
    """A relative href (no scheme, no authority) joined to ``base``; dot segments stay
    (normalize_url removes them). Unlike ``urllib.parse.urljoin``, empty path segments
    are kept (``a//b``), as browsers keep them."""
    scheme, sep, rest = base.partition("://")
    if not sep:
        return urljoin(base, href)
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if 0 <= found < end:
            end = found
    origin = f"{scheme}://{rest[:end]}"
    path = rest[end:].partition("#")[0]
    if href[:1] == "/":
        return origin + href
    if href[:1] == "?":
        return origin + path.partition("?")[0] + href
    if href[:1] in ("#", ""):
        return origin + path
    path = path.partition("?")[0]
    return origin + path[: path.rfind("/") + 1] + href if path else f"{origin}/{href}"


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
