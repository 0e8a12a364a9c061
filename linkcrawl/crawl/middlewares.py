"""Downloader middlewares: robots.txt policy beyond Disallow, and a guard on where we connect.

Scrapy's robots.txt support obeys Disallow but ignores Crawl-delay, and parses whatever a
server returns for robots.txt, a 503 page included. :class:`RobotsTxtPolicyMiddleware` sees
each robots.txt response that Scrapy's RobotsTxtMiddleware fetches (its request passes
through the downloader middlewares too) before that middleware parses it.
"""

from __future__ import annotations

import ipaddress
import zlib
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

from protego import Protego
from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured, StopDownload
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError

_DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"
# Google's limit on robots.txt: the first 500 KiB are read, the rest ignored.
_ROBOTS_MAX = 500 * 1024
# Request meta keys of a robots.txt download: its byte limit, and the bytes so far.
_ROBOTS_LIMIT = "linkcrawl_robots_limit"
_ROBOTS_RECEIVED = "linkcrawl_robots_received"
# ... and, on a redirect of one, the redirects so far and the host it is the robots.txt of.
_ROBOTS_HOPS = "linkcrawl_robots_hops"
_ROBOTS_HOST = "linkcrawl_robots_host"
_ROBOTS_MAX_HOPS = 5


def _is_robots(request: Any) -> bool:
    """A robots.txt request of Scrapy's RobotsTxtMiddleware, or a redirect of one."""
    return bool(request.meta.get("dont_obey_robotstxt")) and (
        _ROBOTS_HOPS in request.meta or urlparse_cached(request).path == "/robots.txt"
    )


class RobotsTxtPolicyMiddleware:
    """Honours ``Crawl-delay`` per host, capped at ``LINKCRAWL_CRAWL_DELAY_MAX`` seconds,
    holding the host's download slot to it (AutoThrottle is told not to lower it); and
    follows Google's handling of robots.txt errors: a 4xx means no rules (allow all), a
    5xx or 429 means the site is not to be crawled for now (disallow all, for this crawl),
    and a redirect is followed up to 5 hops (more: no rules).
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.user_agent = crawler.settings.get("ROBOTSTXT_USER_AGENT") or "linkcrawl"
        self.cap = crawler.settings.getfloat("LINKCRAWL_CRAWL_DELAY_MAX", 30.0)
        self.enabled = crawler.settings.getbool("ROBOTSTXT_OBEY")
        self.delays: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> RobotsTxtPolicyMiddleware:
        return cls(crawler)

    def _sitemaps_of(self, request: Any, body: bytes, url: str) -> None:
        """Hand the host's robots.txt ``Sitemap:`` lines to the spider's sitemap reader
        (linkcrawl.crawl.sitemaps), so that it need not fetch robots.txt again."""
        reader = getattr(self.crawler.spider, "sitemaps", None)
        if reader is not None:
            host = request.meta.get(_ROBOTS_HOST) or urlparse_cached(request).hostname or ""
            reader.robots_read(host, body, url)

    def process_request(self, request: Any, spider: Any = None) -> None:
        if not self.enabled:
            return
        reader = getattr(self.crawler.spider, "sitemaps", None)
        if reader is not None and reader.robots_known(request):
            from linkcrawl.crawl.sitemaps import RobotsReadAlready

            raise RobotsReadAlready("robots.txt read already")
        delay = self.delays.get(urlparse_cached(request).hostname or "")
        if not delay:
            return
        request.meta["autothrottle_dont_adjust_delay"] = True
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(downloader.get_slot_key(request))
        if slot is not None and (slot.delay < delay or slot.jitter):
            # Jitter would draw delays below Crawl-delay (down to half of it by default).
            slot.delay = max(slot.delay, delay)
            slot.jitter = 0.0

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        if not (self.enabled and _is_robots(request)):
            return response
        if 300 <= response.status < 400:
            # REDIRECT_ENABLED is off (the spider records redirects as edges), so Scrapy
            # would parse the redirect's body as the rules: none, so allow everything
            # (http://host/robots.txt -> https://... is common). Google follows 5 hops.
            hops = request.meta.get(_ROBOTS_HOPS, 0)
            location = response.headers.get(b"Location")
            if location and hops < _ROBOTS_MAX_HOPS:
                target = response.urljoin(location.decode("latin-1"))
                if urlsplit(target).scheme in ("http", "https"):
                    self.crawler.stats.inc_value("linkcrawl/robots_redirects")
                    host = request.meta.get(_ROBOTS_HOST) or urlparse_cached(request).hostname
                    return Request(
                        target,
                        priority=request.priority,
                        callback=NO_CALLBACK,
                        meta={
                            "dont_obey_robotstxt": True,
                            _ROBOTS_HOPS: hops + 1,
                            _ROBOTS_HOST: host,
                        },
                    )
            self._sitemaps_of(request, b"", response.url)
            return response.replace(body=b"")  # too many hops: no rules, as Google
        if response.status >= 500 or response.status == 429:
            self.crawler.stats.inc_value("linkcrawl/robots_unavailable")
            self._sitemaps_of(request, b"", response.url)
            return response.replace(body=_DISALLOW_ALL)
        if response.status >= 400:
            self._sitemaps_of(request, b"", response.url)
            return response.replace(body=b"")  # an error page's text is not rules
        self._sitemaps_of(request, response.body if response.status == 200 else b"", response.url)
        if response.status == 200:
            try:
                text = response.body.decode("utf-8", errors="replace")
                delay = Protego.parse(text).crawl_delay(self.user_agent)
            except Exception:  # a broken robots.txt must not stop the crawl
                delay = None
            if delay:
                # The host whose robots.txt this is, redirected or not.
                host = request.meta.get(_ROBOTS_HOST) or urlparse_cached(request).hostname or ""
                self.delays[host] = min(float(delay), self.cap)
                self.crawler.stats.set_value(f"linkcrawl/crawl_delay/{host}", self.delays[host])
        return response


class RobotsTxtSizeMiddleware:
    """Reads robots.txt up to its first ``LINKCRAWL_ROBOTSTXT_MAX_BYTES`` (500 KiB, Google's
    limit), whatever ``DOWNLOAD_MAXSIZE`` says, and ignores the rest.

    A robots.txt longer than DOWNLOAD_MAXSIZE would be cancelled by the download handler
    (before its body when it sends a Content-Length), and Scrapy takes a failed robots.txt
    as "no rules": a site could lift its own Disallow by padding the file. So the robots.txt
    request asks for the plain text and has no size cap of the handler's; its download is
    stopped (not failed, Scrapy's StopDownload) once the limit has arrived, and the text is
    cut to the whole lines within the limit. A gzip or deflate body sent against our
    Accept-Encoding is decompressed here up to the limit; any other encoding keeps
    DOWNLOAD_MAXSIZE for its decompression (a few KB of it can hold gigabytes).

    Runs between HttpCompressionMiddleware (590) and RedirectMiddleware (600): its
    responses are seen before HttpCompressionMiddleware decompresses them.
    """

    def __init__(self, max_bytes: int, download_maxsize: int) -> None:
        self.max_bytes = max_bytes
        self.download_maxsize = download_maxsize
        self.stats: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> RobotsTxtSizeMiddleware:
        settings = crawler.settings
        max_bytes = settings.getint("LINKCRAWL_ROBOTSTXT_MAX_BYTES", _ROBOTS_MAX)
        if not settings.getbool("ROBOTSTXT_OBEY") or max_bytes <= 0:
            raise NotConfigured
        middleware = cls(max_bytes, settings.getint("DOWNLOAD_MAXSIZE"))
        middleware.stats = crawler.stats
        crawler.signals.connect(middleware.headers_received, signal=signals.headers_received)
        crawler.signals.connect(middleware.bytes_received, signal=signals.bytes_received)
        return middleware

    def process_request(self, request: Any, spider: Any = None) -> None:
        if _is_robots(request):
            request.meta[_ROBOTS_LIMIT] = self.max_bytes
            request.meta["download_maxsize"] = 0
            # After HttpCompressionMiddleware (590), which set its own list.
            request.headers[b"Accept-Encoding"] = b"identity"

    def headers_received(self, headers: Any, request: Any, **_: Any) -> None:
        if _ROBOTS_LIMIT in request.meta and _is_robots(request):
            encoding = headers.get(b"Content-Encoding", b"").strip().lower()
            if encoding and encoding not in _ZLIB_ENCODINGS:
                request.meta["download_maxsize"] = self.download_maxsize

    def bytes_received(self, data: bytes, request: Any, **_: Any) -> None:
        limit = request.meta.get(_ROBOTS_LIMIT)
        if limit is None or not _is_robots(request):
            return
        received = request.meta.get(_ROBOTS_RECEIVED, 0) + len(data)
        request.meta[_ROBOTS_RECEIVED] = received
        if received >= limit:
            raise StopDownload(fail=False)

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        if _ROBOTS_LIMIT not in request.meta or not _is_robots(request):
            return response
        body = response.body
        encoding = response.headers.get(b"Content-Encoding", b"").strip().lower()
        if encoding in _ZLIB_ENCODINGS:
            body = _inflate_prefix(body, encoding, self.max_bytes + 1)
            if body is None:
                return response  # not what it claims: HttpCompressionMiddleware decides
            response = response.replace(body=body)
            del response.headers[b"Content-Encoding"]
        if len(body) > self.max_bytes:
            if self.stats is not None:
                self.stats.inc_value("linkcrawl/robots_truncated")
            # Whole lines only: half a rule ("Disallow: /pri") would be another rule.
            body = body[: self.max_bytes]
            response = response.replace(body=body[: body.rfind(b"\n") + 1])
        return response


# Content-Encoding -> zlib's wbits: gzip's header, or zlib's (deflate as HTTP means it).
_ZLIB_ENCODINGS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS, b"deflate": 0}


def _inflate_prefix(data: bytes, encoding: bytes, limit: int) -> bytes | None:
    """The first ``limit`` bytes of ``data`` decompressed (of a cut stream too), or None."""
    wbits = _ZLIB_ENCODINGS[encoding]
    # Some servers send raw deflate for "deflate" (no zlib header): try that second.
    for bits in (wbits,) if wbits else (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        try:
            return zlib.decompressobj(bits).decompress(data, limit)
        except zlib.error:
            continue
    return None


# -- where the crawler may connect -------------------------------------------------------------


# IPv6 prefixes whose addresses carry an IPv4 address in their last 32 bits: NAT64's
# well-known prefix (RFC 6052) and the IPv4-compatible (RFC 4291, deprecated) and
# IPv4-mapped ranges. A packet to one of them ends up at that IPv4 address.
_EMBEDS_IPV4_LOW = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0/96")
)
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # RFC 3056: the IPv4 in bits 16-47
_TEREDO = ipaddress.ip_network("2001::/32")  # RFC 4380: server and obfuscated client
# Never public, whatever they embed: NAT64's local-use prefix (RFC 8215; the position of
# the IPv4 address in it is the network's choice) and the deprecated site-local range
# (RFC 3879), which Python's is_global does not exclude.
_NOT_PUBLIC_V6 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b:1::/48", "fec0::/10"))


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for loopback, private,
    link-local (cloud metadata at 169.254.169.254 among them), multicast, reserved,
    unspecified and shared (CGNAT) addresses, and for anything that is not an address.

    An IPv6 address that embeds an IPv4 address (NAT64, 6to4, Teredo, IPv4-compatible and
    IPv4-mapped) is judged by that IPv4 address: ``64:ff9b::7f00:1`` reaches 127.0.0.1.
    """
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _NOT_PUBLIC_V6):
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(_is_public(v4) for v4 in embedded)
    return _is_public(ip)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The IPv4 addresses a packet to ``ip`` is delivered through, or None if it embeds none."""
    if any(ip in net for net in _EMBEDS_IPV4_LOW):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip in _SIX_TO_FOUR:
        return (ip.sixtofour,) if ip.sixtofour is not None else None
    if ip in _TEREDO and ip.teredo is not None:
        return ip.teredo  # (server, client); the client is de-obfuscated already
    return None


# The schemes linkcrawl requests; HttpProxyMiddleware uses the proxy named for a request's
# own scheme only (``http_proxy`` for http://, ``https_proxy`` for https://).
_CRAWLED_SCHEMES = ("http", "https")


def proxy_hosts(settings: Any) -> frozenset[str]:
    """Host names of the proxies Scrapy's HttpProxyMiddleware sends requests through: those
    of ``http_proxy`` and ``https_proxy`` (not ``no_proxy``, nor any other ``*_proxy``), and
    none when ``HTTPPROXY_ENABLED`` is off. The connection to such a proxy is trusted (the
    user chose it, and it resolves the names it is asked for)."""
    if not settings.getbool("HTTPPROXY_ENABLED", True):
        return frozenset()
    proxies = getproxies()  # what HttpProxyMiddleware reads, at the same moment
    hosts = set()
    for scheme in _CRAWLED_SCHEMES:
        url = proxies.get(scheme)
        if not url:
            continue
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
        if host:
            hosts.add(host.lower())
    return frozenset(hosts)


class BlockedAddress(IgnoreRequest):
    """The request would connect to an address the guard refuses."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"blocked-address: {host} is {address}")


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver that refuses to hand out non-public addresses, so a name
    is checked on the address the connection will really use (a DNS answer that changes
    between two lookups cannot slip past).

    The one exemption is the host name of a proxy HttpProxyMiddleware uses
    (:func:`proxy_hosts`): the resolver cannot tell a connection to the proxy from a
    direct request to the same name, so :class:`AddressGuardMiddleware` checks a direct
    request to such a name itself, with :meth:`check`, before it is sent.
    """

    def __init__(
        self,
        reactor: Any,
        cache_size: int,
        timeout: float,
        allow_private: bool,
        trusted: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.allow_private = allow_private
        self.trusted = trusted
        # name -> refused address; the download handler reports a refused name as a plain
        # lookup failure, so AddressGuardMiddleware looks the reason up here.
        self.blocked: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(
            reactor,
            cache_size,
            settings.getfloat("DNS_TIMEOUT"),
            settings.getbool("LINKCRAWL_ALLOW_PRIVATE"),
            proxy_hosts(settings),
        )

    def getHostByName(self, name: str, timeout: Any = ()) -> Any:  # Twisted names it
        if self.allow_private or name.lower() in self.trusted:
            return super().getHostByName(name, timeout)
        return self.check(name, timeout)

    def check(self, name: str, timeout: Any = ()) -> Any:
        """Resolve ``name`` (a Deferred of its address), failing with DNSLookupError if the
        address is not public; trusted names are checked too."""

        def check(address: str) -> str:
            if not is_public_address(address):
                self.blocked[name] = address
                raise DNSLookupError(f"blocked-address: {name} resolves to {address}")
            return address

        return super().getHostByName(name, timeout).addCallback(check)


class AddressGuardMiddleware:
    """Refuses requests to non-public addresses unless ``LINKCRAWL_ALLOW_PRIVATE`` is on.

    Three checks: an IP-literal host before connecting, every name through
    :class:`GuardedResolver` (``TWISTED_DNS_RESOLVER``) before connecting, and the address
    a response actually came from. Only a request that HttpProxyMiddleware (750, before
    this one) sends through a proxy, ``meta["proxy"]``, skips them: the proxy connects,
    not us. A direct request (``no_proxy`` hosts among them) is always checked.
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Any) -> AddressGuardMiddleware:
        if crawler.settings.getbool("LINKCRAWL_ALLOW_PRIVATE"):
            raise NotConfigured
        return cls(False)

    async def process_request(self, request: Any, spider: Any = None) -> None:
        if request.meta.get("proxy"):
            return
        host = urlparse_cached(request).hostname or ""
        if _looks_like_address(host):
            if not is_public_address(host):
                raise BlockedAddress(host, host)
            return
        from twisted.internet import reactor  # the running one, so at run time

        resolver = getattr(reactor, "resolver", None)
        if isinstance(resolver, GuardedResolver):
            if host.lower() not in resolver.trusted:
                return  # the resolver checks it on the way to the connection
            # The name of a proxy, requested directly: the resolver lets it through for
            # the proxy's sake, so check it here, before anything is sent.
            lookup = resolver.check(host)
        else:
            # Another TWISTED_DNS_RESOLVER hands out any address: look the name up here
            # (the response's peer address is checked too, should the answer change).
            # (zope.interface methods have no self: mypy without the mypy-zope plugin
            # reads twisted's reactor interfaces one argument off.)
            lookup = reactor.resolve(host)  # type: ignore[arg-type]
        try:
            address = await maybe_deferred_to_future(lookup)
        except DNSLookupError:
            blocked = getattr(resolver, "blocked", {})
            if host in blocked:
                raise BlockedAddress(host, blocked[host]) from None
            raise
        if not is_public_address(address):
            raise BlockedAddress(host, address)

    def process_exception(self, request: Any, exception: Any, spider: Any = None) -> Any:
        """A lookup the resolver refused becomes a BlockedAddress (and is not retried)."""
        from twisted.internet import reactor  # the running one, so at run time

        resolver = getattr(reactor, "resolver", None)
        proxy = request.meta.get("proxy")
        # The name looked up for the connection: the proxy's, when there is one.
        host = (urlsplit(proxy).hostname if proxy else urlparse_cached(request).hostname) or ""
        blocked = getattr(resolver, "blocked", {})
        # A trusted name (a proxy's) is refused only for direct requests, in process_request.
        if host in blocked and host.lower() not in getattr(resolver, "trusted", ()):
            raise BlockedAddress(host, blocked[host])
        return None

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        if request.meta.get("proxy") or response.ip_address is None:
            return response
        address = str(response.ip_address)
        if not is_public_address(address):
            raise BlockedAddress(urlparse_cached(request).hostname or "", address)
        return response


def _looks_like_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
