"""Downloader middlewares: robots.txt policy beyond Disallow, and a guard on where we connect.

Scrapy's robots.txt support obeys Disallow but ignores Crawl-delay, and parses whatever a
server returns for robots.txt, a 503 page included. :class:`RobotsTxtPolicyMiddleware` sees
each robots.txt response that Scrapy's RobotsTxtMiddleware fetches (its request passes
through the downloader middlewares too) before that middleware parses it.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

from protego import Protego
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError

_DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class RobotsTxtPolicyMiddleware:
    """Honours ``Crawl-delay`` per host, capped at ``LINKCRAWL_CRAWL_DELAY_MAX`` seconds,
    holding the host's download slot to it (AutoThrottle is told not to lower it); and
    follows Google's handling of robots.txt errors: a 4xx means no rules (allow all), a
    5xx or 429 means the site is not to be crawled for now (disallow all, for this crawl).
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

    def process_request(self, request: Any, spider: Any = None) -> None:
        if not self.enabled:
            return
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
        if not (
            self.enabled
            and request.meta.get("dont_obey_robotstxt")
            and urlparse_cached(request).path == "/robots.txt"
        ):
            return response
        if response.status >= 500 or response.status == 429:
            self.crawler.stats.inc_value("linkcrawl/robots_unavailable")
            return response.replace(body=_DISALLOW_ALL)
        if response.status >= 400:
            return response.replace(body=b"")  # an error page's text is not rules
        if response.status == 200:
            try:
                text = response.body.decode("utf-8", errors="replace")
                delay = Protego.parse(text).crawl_delay(self.user_agent)
            except Exception:  # a broken robots.txt must not stop the crawl
                delay = None
            if delay:
                host = urlparse_cached(request).hostname or ""
                self.delays[host] = min(float(delay), self.cap)
                self.crawler.stats.set_value(f"linkcrawl/crawl_delay/{host}", self.delays[host])
        return response


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


def proxy_hosts() -> frozenset[str]:
    """Host names of the HTTP(S) proxies the user configured in the environment: the guard
    trusts those (the proxy resolves names, and the user chose it)."""
    hosts = set()
    for url in getproxies().values():
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
        if host:
            hosts.add(host)
    return frozenset(hosts)


class BlockedAddress(IgnoreRequest):
    """The request would connect to an address the guard refuses."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"blocked-address: {host} is {address}")


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver that refuses to hand out non-public addresses, so a name
    is checked on the address the connection will really use (a DNS answer that changes
    between two lookups cannot slip past). Proxies from the environment are exempt."""

    def __init__(self, reactor: Any, cache_size: int, timeout: float, allow_private: bool) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.allow_private = allow_private
        self.trusted = proxy_hosts()
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
        )

    def getHostByName(self, name: str, timeout: Any = ()) -> Any:  # Twisted names it
        d = super().getHostByName(name, timeout)
        if self.allow_private or name in self.trusted:
            return d

        def check(address: str) -> str:
            if not is_public_address(address):
                self.blocked[name] = address
                raise DNSLookupError(f"blocked-address: {name} resolves to {address}")
            return address

        return d.addCallback(check)


class AddressGuardMiddleware:
    """Refuses requests to non-public addresses unless ``LINKCRAWL_ALLOW_PRIVATE`` is on.

    Three checks: an IP-literal host before connecting, every name through
    :class:`GuardedResolver` (``DNS_RESOLVER``), and the address a response actually came
    from. A request that goes through a proxy the user configured is not checked: the proxy
    connects, not us. Runs after HttpProxyMiddleware (750), which sets ``meta["proxy"]``.
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Any) -> AddressGuardMiddleware:
        if crawler.settings.getbool("LINKCRAWL_ALLOW_PRIVATE"):
            raise NotConfigured
        return cls(False)

    def process_request(self, request: Any, spider: Any = None) -> None:
        if request.meta.get("proxy"):
            return
        host = urlparse_cached(request).hostname or ""
        if _looks_like_address(host) and not is_public_address(host):
            raise BlockedAddress(host, host)

    def process_exception(self, request: Any, exception: Any, spider: Any = None) -> Any:
        """A lookup the resolver refused becomes a BlockedAddress (and is not retried)."""
        from twisted.internet import reactor  # the running one, so at run time

        resolver = getattr(reactor, "resolver", None)
        host = urlparse_cached(request).hostname or ""
        blocked = getattr(resolver, "blocked", {})
        if host in blocked:
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
