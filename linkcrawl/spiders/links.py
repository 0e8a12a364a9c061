"""The link-graph spider: crawls the seeds' registered domains and yields one item per page."""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DontCloseSpider,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import HtmlResponse, JsonResponse, Response, TextResponse, XmlResponse
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.error import (
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.web.client import ResponseNeverReceived

from linkcrawl.crawl.incremental import EarlierCrawl, content_digest, response_validators
from linkcrawl.crawl.items import PageItem
from linkcrawl.crawl.parsepool import PageJob, ParseCancelled, ParseFailed, ParsePool, extract_page
from linkcrawl.crawl.render import Renderer, link_origins, render_mode, render_settings
from linkcrawl.crawl.revisit import RevisitSchedule, page_authority, plan_revisits, revisit_mode
from linkcrawl.crawl.sitemaps import META as SITEMAP_META
from linkcrawl.crawl.sitemaps import UNKNOWN_DEPTH_PRIORITY, SitemapReader
from linkcrawl.dataset.layout import new_crawl_id, validate_crawl_id
from linkcrawl.dataset.reader import Dataset
from linkcrawl.errors import LinkcrawlError
from linkcrawl.extract.links import LinkExtractor, PageLinks, build_position_rules
from linkcrawl.extract.urls import absolute_url, host_of, normalize_url, registered_domain

if TYPE_CHECKING:
    from linkcrawl.crawl.frontier.workers import WorkerExchange

# Kinds of edge whose target is a page worth fetching when it is in scope.
# How often an adaptive revisit looks whether its sitemaps are read, and how long
# nothing may happen before it plans without the answers still missing, in seconds.
_PLAN_POLL_S = 0.1
_PLAN_QUIET_S = 3.0
_CRAWLABLE_KINDS = frozenset({"anchor", "image", "area", "redirect", "refresh", "canonical"})
_HTML_TYPES = (b"text/html", b"application/xhtml+xml")
_DIGITS = re.compile(r"\d+")
# A URL pattern over its variant limit is judged by this many of its fetched pages.
_EVIDENCE_PAGES = 50
# Scrapy's response classes, most specific first: a worker rebuilds a response as one.
_TEXT_RESPONSES = (HtmlResponse, XmlResponse, JsonResponse, TextResponse)
# Network failures by name; Scrapy >= 2.19 wraps Twisted's errors in its own.
_ERRORS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((CannotResolveHostError, DNSLookupError), "dns-error"),
    ((DownloadTimeoutError, TimeoutError, TCPTimedOutError), "timeout"),
    ((DownloadConnectionRefusedError, ConnectionRefusedError), "connection-refused"),
    ((DownloadCancelledError,), "cancelled"),
    ((ResponseDataLossError,), "data-loss"),
    ((DownloadFailedError, ResponseNeverReceived, ConnectionLost), "connection-failed"),
)


def pattern_keys(url: str) -> tuple[str | None, str | None]:
    """The URL patterns the trap guard counts ``url`` under: its host and path when it has
    a query string (``host/path``), and the URL with every run of digits as ``#`` when it
    has digits (``host/calendar/#/#/``); None for a pattern it does not belong to."""
    rest = url.split("/", 3)[3] if url.count("/") >= 3 else ""
    path, _, query = rest.partition("?")
    host = host_of(url)
    query_key = f"{host}/{path}" if query else None
    digit_key = f"{host}/{_DIGITS.sub('#', rest)}" if _DIGITS.search(rest) else None
    return query_key, digit_key


class PatternEvidence:
    """What the pages of a URL pattern looked like, for telling a trap from a large site.

    A page's look is a digest of its status, title and links (targets and anchors) with
    every run of digits read as ``#`` and repeated links counted once: the months of an
    endless calendar differ only in their numbers and month names, and so take a dozen
    looks however many months are fetched; the products of a shop or the threads of a
    forum each have a title and anchors of their own.

    A pattern is watched from ``2 * _EVIDENCE_PAGES`` variants below its limit; over the
    limit, it is judged once ``_EVIDENCE_PAGES`` (or its limit, if lower) of its watched
    pages are fetched: it is a trap when fewer than half of them have a look of their
    own. Until then its new URLs are held here (``park``), and then requested or dropped;
    a pattern whose pages showed ``varied`` different looks is real content for the rest
    of the crawl (and its digests are let go).
    """

    def __init__(self, varied: int) -> None:
        self.varied = max(varied, _EVIDENCE_PAGES)
        self.pages: Counter[str] = Counter()
        self.looks: dict[str, set[bytes]] = {}
        self.real: set[str] = set()
        # Only patterns near their variant limit are watched: one look per page of every
        # pattern (a blog's /post/#-some-title has one page each) would cost memory.
        self.watched: set[str] = set()
        self.needed: dict[str, int] = {}  # pattern -> pages it is judged on
        # pattern -> (skip reason, [(registered domain, request), ...]) awaiting judgment
        self.parked: dict[str, tuple[str, list[tuple[str, Any]]]] = {}

    def verdict(self, key: str) -> bool | None:
        """True when the pattern's fetched pages repeat each other (a trap), False when they
        differ, None while fewer than it is judged on are fetched (see ``watch``)."""
        if key in self.real:
            return False
        pages = self.pages[key]
        if pages < self.needed.get(key, _EVIDENCE_PAGES):
            return None
        return len(self.looks.get(key, ())) * 2 < pages

    def watch(self, key: str, limit: int) -> None:
        """Record the looks of the pattern's pages from now on; it is judged on
        ``_EVIDENCE_PAGES`` of them, or on ``limit`` if that is lower."""
        if key not in self.real and key not in self.watched:
            self.watched.add(key)
            self.needed[key] = min(limit, _EVIDENCE_PAGES)

    def park(self, key: str, reason: str, domain: str, request: Any) -> None:
        """Hold ``request`` until its pattern is judged."""
        self.parked.setdefault(key, (reason, []))[1].append((domain, request))

    def observe(self, url: str, item: PageItem) -> list[tuple[bool, str, str, Any]]:
        """Record the look of a fetched page under the patterns of its URL; returns the
        held requests of each pattern this judged, as ``(trap, reason, domain, request)``."""
        keys = [key for key in pattern_keys(url) if key in self.watched and key not in self.real]
        if not keys:
            return []
        look = page_look(item)
        judged: list[tuple[bool, str, str, Any]] = []
        for key in keys:
            self.pages[key] += 1
            looks = self.looks.setdefault(key, set())
            looks.add(look)
            if len(looks) >= self.varied:
                self.real.add(key)
                self.watched.discard(key)
                del self.looks[key], self.pages[key], self.needed[key]
            if key in self.parked:
                trap = self.verdict(key)
                if trap is not None:
                    reason, held = self.parked.pop(key)
                    judged.extend((trap, reason, domain, request) for domain, request in held)
        return judged

    def release_all(self) -> list[Any]:
        """Every held request, judged or not (the crawl has nothing else left to do: their
        patterns' pages failed, or were never fetched)."""
        held = [request for _, requests in self.parked.values() for _, request in requests]
        self.parked.clear()
        return held


def page_look(item: PageItem) -> bytes:
    """A digest of a page's status, title and distinct links, digits read as ``#``."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{item.status}\0{_DIGITS.sub('#', item.title or '')}\0".encode())
    targets, anchors = item.target, item.anchor
    if item.carried is not None:
        targets = item.carried["target"].to_pylist()
        anchors = item.carried["anchor"].to_pylist()
    links = {
        f"{_DIGITS.sub('#', target)}\0{_DIGITS.sub('#', anchor)}"
        for target, anchor in zip(targets, anchors, strict=True)
    }
    for link in sorted(links):
        digest.update(link.encode("utf-8", "surrogatepass"))
        digest.update(b"\1")
    return digest.digest()


# A seed that starts with a scheme (or what only an http(s) scheme mistyped can be): then
# it must be http:// or https://. "example.com:8080" is a host and a port.
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?!\d+(?:[/?#]|$))")


def seed_url(seed: str) -> str | None:
    """One seed as a normalised http(s) URL, or None if it is not one.

    ``example.com`` means ``http://example.com/``; anything with a scheme must be an
    http(s) URL: ``http:/host`` is a typo, not a host named ``http``, and ``mailto:...``
    is not a host either. The one rule for seed arguments and seeds-file lines.
    """
    seed = seed.strip()
    if not seed or any(c.isspace() for c in seed):
        return None
    if "://" not in seed:
        if _SCHEME.match(seed):
            return None
        seed = f"http://{seed}"
    elif seed.partition("://")[0].lower() not in ("http", "https"):
        return None
    url = normalize_url(seed)
    return url if url and host_of(url) else None


def parse_seeds(seeds: str | Iterable[str] | None, problems: list[str] | None = None) -> list[str]:
    """Seeds as normalised URLs (:func:`seed_url`); a string is split on commas and white
    space. A seed that is not an http(s) URL is left out, and named in ``problems`` (as
    ``not an http(s) URL: '<seed>'``) when a list is given."""
    if seeds is None:
        return []
    if isinstance(seeds, str):
        seeds = seeds.replace(",", " ").split()
    out = []
    for seed in seeds:
        if not seed.strip():
            continue
        url = seed_url(seed)
        if url is None:
            if problems is not None:
                shown = seed if len(seed) <= 80 else seed[:77] + "..."
                problems.append(f"not an http(s) URL: {shown!r}")
        elif url not in out:
            out.append(url)
    return out


def error_name(failure: Any) -> str:
    """A short, stable name for why a request failed (the pages table's ``error``)."""
    exc = failure.value
    text = str(exc)
    if text.startswith("blocked-address"):
        return "blocked-address"
    if "max size" in text or "DOWNLOAD_MAXSIZE" in text:
        return "too-large"  # over DOWNLOAD_MAXSIZE, decompressed size included
    for kinds, name in _ERRORS:
        if isinstance(exc, kinds):
            return name
    if isinstance(exc, IgnoreRequest):
        return "robots-disallowed" if "robots" in text.lower() or not text else text[:200]
    first = text.strip().splitlines()
    return f"{type(exc).__name__}: {first[0][:200]}" if first else type(exc).__name__


def server_address(response: Response) -> str | None:
    """The address of the server a response came from, as its connection saw it; None
    through a proxy (the connection's address is the proxy's) or when Scrapy has none."""
    request = response.request
    if request is not None and request.meta.get("proxy"):
        return None
    address = getattr(response, "ip_address", None)
    return str(address) if address is not None else None


class LinkSpider(scrapy.Spider):
    """Crawl the registered domains of the seeds; record every link of every page.

    Arguments (``scrapy crawl links -a seeds=http://a.example/,http://b.example/``):
    ``seeds`` (URLs, comma or space separated), ``crawl_id``, ``data_dir``,
    ``same_host`` (1 to stay on the seeds' host names).
    """

    name = "links"

    def __init__(
        self,
        seeds: str | Iterable[str] | None = None,
        crawl_id: str | None = None,
        data_dir: str | None = None,
        same_host: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.seeds = parse_seeds(seeds)
        self.crawl_id = crawl_id or ""  # "" until _configure gives it the crawl's
        self.data_dir = data_dir
        self._same_host_arg = same_host

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        url = settings.get("LINKCRAWL_REDIS_URL")
        if url:
            # `scrapy crawl links -s LINKCRAWL_REDIS_URL=...` (scrapyd) gets the shared
            # frontier as `linkcrawl crawl --redis` does; settings given already win.
            from linkcrawl.crawl.frontier.redis import default_worker_id, distributed_settings

            worker = settings.get("LINKCRAWL_WORKER") or default_worker_id()
            for name, value in distributed_settings(url, worker).items():
                settings.set(name, value, priority="spider")
        if render_mode(settings) != "never":
            # `--render auto|always`: scrapy-playwright's handler and the system Chromium
            # (linkcrawl.crawl.render); settings given already win.
            for name, value in render_settings(settings).items():
                settings.set(name, value, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> LinkSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._configure(crawler)
        return spider

    def _configure(self, crawler: Any) -> None:
        """Read the crawl's bounds and guards from its settings (Scrapy's settings reach
        a spider with its crawler, after ``__init__``)."""
        settings = crawler.settings
        if self.data_dir:
            settings.set("LINKCRAWL_DATA_DIR", self.data_dir, priority="spider")
        self.crawl_id = validate_crawl_id(
            self.crawl_id or settings.get("LINKCRAWL_CRAWL_ID") or new_crawl_id()
        )
        same_host = self._same_host_arg
        if isinstance(same_host, str):
            same_host = same_host.lower() in ("1", "true", "yes")
        self.same_host = bool(same_host) or settings.getbool("LINKCRAWL_SAME_HOST")
        self.max_pages: int = settings.getint("LINKCRAWL_MAX_PAGES_PER_DOMAIN")
        if settings.get("LINKCRAWL_REDIS_URL"):
            from linkcrawl.crawl.frontier.redis import stopped_by_lost_redis

            # A crawl shared through Redis caps pages per domain across all its workers,
            # in the scheduler (linkcrawl.crawl.frontier.redis); a count here would be this
            # worker's.
            self.max_pages = 0
            root = settings.get("LINKCRAWL_DATA_DIR") or "data"
            if stopped_by_lost_redis(root, self.crawl_id):
                settings.set("LINKCRAWL_RESUME", True, priority="spider")
        self.max_depth: int = settings.getint("LINKCRAWL_MAX_DEPTH", -1)
        self.extractor = LinkExtractor(
            build_position_rules(settings.getlist("LINKCRAWL_POSITION_RULES")),
            user_agent=settings.get("ROBOTSTXT_USER_AGENT") or "linkcrawl",
        )
        self.parse_pool: ParsePool | None = ParsePool.from_crawler(crawler, self.extractor)
        # --render auto|always (linkcrawl.crawl.render); None under never.
        self.renderer: Renderer | None = Renderer.from_crawler(crawler)
        hosts = [host_of(s) for s in self.seeds]
        self.scope: frozenset[str] = frozenset(
            hosts if self.same_host else map(registered_domain, hosts)
        )
        # In a multi-worker crawl every worker's scope is the whole crawl's; the domains it
        # does not own are handed to their owners by the WorkerExchange extension.
        self.scope |= frozenset(settings.getdict("LINKCRAWL_DOMAIN_OWNERS"))
        # Set by the WorkerExchange extension when the spider opens, in a --workers worker.
        self.exchange: WorkerExchange | None = None
        self.seen: set[str] = set(self.seeds)
        self.scheduled: Counter[str] = Counter()
        self.max_url_length: int = settings.getint("URLLENGTH_LIMIT")
        self.max_query_variants: int = settings.getint("LINKCRAWL_MAX_QUERY_VARIANTS")
        self.max_digit_variants: int = settings.getint("LINKCRAWL_MAX_DIGIT_VARIANTS")
        self.max_segment_repeats: int = settings.getint("LINKCRAWL_MAX_SEGMENT_REPEATS")
        self.check_external: bool = settings.getbool("LINKCRAWL_CHECK_EXTERNAL")
        self.max_links: int = settings.getint("LINKCRAWL_MAX_LINKS_PER_PAGE")
        self.max_target_length: int = settings.getint("LINKCRAWL_MAX_TARGET_LENGTH")
        self.max_redirects: int = settings.getint("LINKCRAWL_MAX_REDIRECTS")
        self.query_variants: Counter[str] = Counter()
        self.digit_variants: Counter[str] = Counter()
        limits = [n for n in (self.max_query_variants, self.max_digit_variants) if n > 0]
        self.evidence = PatternEvidence(min(limits) if limits else 0)
        self.checked: set[str] = set()
        self._released = False
        # An incremental crawl (linkcrawl.crawl.incremental): the crawl it builds on.
        self.earlier: EarlierCrawl | None = None
        since = settings.get("LINKCRAWL_SINCE")
        if since:
            owners = settings.getdict("LINKCRAWL_DOMAIN_OWNERS")
            worker = settings.get("LINKCRAWL_WORKER")
            owned = {k for k, o in owners.items() if o == worker} if owners and worker else None
            root = settings.get("LINKCRAWL_DATA_DIR") or "data"
            self.earlier = EarlierCrawl(root, since, owned)
        # --revisit adaptive (linkcrawl.crawl.revisit): which earlier pages are requested.
        self.adaptive = self.earlier is not None and revisit_mode(settings) == "adaptive"
        self.schedule = RevisitSchedule.from_settings(settings) if self.adaptive else None
        self._planned: frozenset[str] = frozenset()
        # While an adaptive revisit reads the sitemaps before its plan: the sitemap
        # requests not answered yet.
        self._sitemap_requests = 0
        # --redis: this worker read the sitemaps, and holds the entries no page reached.
        self._sitemap_entries_held = False
        crawler.signals.connect(self._release_held, signal=signals.spider_idle)
        # Sitemaps (linkcrawl.crawl.sitemaps). In a crawl shared through Redis, whose
        # workers all hold every seed, only the worker that makes an adaptive revisit's
        # plan reads them, outside the shared queue (``_read_sitemaps_direct``).
        self.sitemaps: SitemapReader | None = None
        if settings.getbool("LINKCRAWL_SITEMAPS", True):
            self.sitemaps = SitemapReader(self, settings)
            if not settings.get("LINKCRAWL_REDIS_URL"):
                crawler.signals.connect(self._read_sitemaps, signal=signals.spider_idle)

    # -- scope ------------------------------------------------------------------------------

    def scope_key(self, url: str, domain: str) -> str:
        """What scope is decided on: the registered domain, or the host with same_host."""
        return host_of(url) if self.same_host else domain

    def in_scope(self, url: str, domain: str) -> bool:
        return self.scope_key(url, domain) in self.scope

    def trap_reason(self, url: str) -> str | None:
        """Why ``url`` looks like a crawler trap and is not requested, or None.

        Checked once per new URL (after the seen set), never per link occurrence. A URL
        pattern (the same host and path with another query string, or the same URL but
        for its digits) is suspected only once it has many variants
        (``LINKCRAWL_MAX_QUERY_VARIANTS``, ``LINKCRAWL_MAX_DIGIT_VARIANTS``), and then
        cut only if its pages fetched so far repeat each other (:class:`PatternEvidence`):
        an endless calendar is cut, a shop with 100,000 numbered products is not. A URL
        of a suspected pattern not judged yet is held, not refused: see ``_trap_check``.
        """
        reason, held_under = self._trap_check(url)
        return None if held_under is not None else reason

    def _trap_check(self, url: str) -> tuple[str | None, str | None]:
        """``(reason, None)`` to refuse ``url``, ``(reason, pattern)`` to hold it until that
        pattern is judged, ``(None, None)`` to request it."""
        if self.max_url_length and len(url) > self.max_url_length:
            return "url-too-long", None
        rest = url.split("/", 3)[3] if url.count("/") >= 3 else ""
        path = rest.partition("?")[0]
        if self.max_segment_repeats:
            # Numbers repeat in real paths (/2011/11/11/); relative-link loops repeat words.
            segments = [s for s in path.split("/") if s and not s.isdigit()]
            if len(segments) >= self.max_segment_repeats and (
                Counter(segments).most_common(1)[0][1] >= self.max_segment_repeats
            ):
                return "repeated-segments", None
        query_key, digit_key = pattern_keys(url)
        checks = (
            (query_key, self.max_query_variants, self.query_variants, "query-variants"),
            (digit_key, self.max_digit_variants, self.digit_variants, "digit-variants"),
        )
        for key, limit, counts, reason in checks:
            if key is None or not limit:
                continue
            if counts[key] >= limit - 2 * _EVIDENCE_PAGES:
                # Near the limit: from here the pattern's fetched pages are its evidence
                # (a chain of months fetched one by one leaves 100 of them at the limit).
                self.evidence.watch(key, limit)
            if counts[key] >= limit:
                trap = self.evidence.verdict(key)
                if trap:
                    return reason, None
                if trap is None:
                    counts[key] += 1
                    return reason, key
            counts[key] += 1
        return None, None

    def _skip(self, reason: str) -> None:
        self.crawler.stats.inc_value(f"linkcrawl/skipped/{reason}")

    @staticmethod
    def click_depth(meta: Any) -> int | None:
        """A request's click depth (links from a seed), None when no link path is known:
        Scrapy's DepthMiddleware counts hops in ``meta["depth"]`` for every request, so an
        unknown depth is a flag of its own."""
        return None if meta.get("depth_unknown") else meta.get("depth", 0)

    @staticmethod
    def _depth_meta(depth: int | None, found_by: str) -> dict[str, Any]:
        if depth is None:
            return {"depth": 0, "depth_unknown": True, "discovered_by": found_by}
        return {"depth": depth, "discovered_by": found_by}

    def _follow(
        self, url: str, domain: str, depth: int | None, found_by: str = "link"
    ) -> scrapy.Request | None:
        """A request for ``url`` unless already seen, out of scope, over the page cap or a
        trap; an out-of-scope URL is checked once when ``LINKCRAWL_CHECK_EXTERNAL`` is on.
        ``found_by`` becomes the page's ``discovered_by``: link, redirect or sitemap.

        ``depth`` None: no link path from a seed is known (a sitemap entry, or a link on
        such a page). Such a request waits below every one of known depth, and under
        ``--max-depth`` the links of such pages are not followed (redirects are)."""
        if url in self.seen:
            return None
        if not self.in_scope(url, domain):
            if self.check_external and url not in self.checked:
                self.checked.add(url)
                return scrapy.Request(
                    url,
                    method="HEAD",
                    callback=self.parse_external,
                    errback=self.failed,
                    priority=-1,
                    meta={**self._depth_meta(depth, found_by), "external": True},
                )
            return None
        if 0 <= self.max_depth and (
            depth > self.max_depth if depth is not None else found_by == "link"
        ):
            self._skip("max-depth")  # not marked seen: a shorter path may still reach it
            return None
        self.seen.add(url)
        if self.exchange is not None:
            owner = self.exchange.owner(self.scope_key(url, domain))
            if owner is not None and owner != self.exchange.me:
                self.exchange.send(owner, url, depth)
                return None
        if self.max_pages and self.scheduled[domain] >= self.max_pages:
            self._skip("max-pages")
            return None
        reason, held_under = self._trap_check(url)
        if reason is not None and held_under is None:
            self._skip(reason)
            return None
        self.scheduled[domain] += 1
        request = scrapy.Request(
            url,
            callback=self.parse,
            errback=self.failed,
            priority=0 if depth is not None else UNKNOWN_DEPTH_PRIORITY,
            meta=self._depth_meta(depth, found_by),
        )
        if held_under is not None:
            assert reason is not None  # _trap_check holds a URL only with a reason
            self.evidence.park(held_under, reason, domain, request)
            return None
        return request

    def _judged(self, judged: list[tuple[bool, str, str, Any]]) -> Iterable[scrapy.Request]:
        """The held requests of patterns just judged real; those of traps are skipped."""
        for trap, reason, domain, request in judged:
            if trap:
                self._skip(reason)
                self.scheduled[domain] -= 1
            else:
                yield request

    def _release_held(self, spider: Any = None) -> None:
        """On idle, request what is still held: its pattern could not be judged."""
        held = self.evidence.release_all()
        for request in held:
            self.crawler.engine.crawl(request)
        self._released = bool(held)  # the sitemaps wait for the next idle
        if held:
            raise DontCloseSpider

    def _read_sitemaps(self, spider: Any = None) -> None:
        """On the first idle, start reading the seeds' sitemaps: every page a link reaches
        has been fetched by then, with its click depth; on the next ones, the next file."""
        if self.sitemaps is None or self.sitemaps.eager or self._released:
            return
        requests = self.sitemaps.on_idle()
        for request in requests:
            self.crawler.engine.crawl(request)
        if requests:
            raise DontCloseSpider

    # Callbacks of sitemap requests: spider methods, so that a disk queue can store them.
    def parse_robots_sitemaps(self, response: Response) -> Iterable[Any]:
        assert self.sitemaps is not None
        return self._sitemap_step(self.sitemaps.parse_robots_sitemaps(response))

    def parse_sitemap(self, response: Response) -> Iterable[Any]:
        assert self.sitemaps is not None
        return self._sitemap_step(self.sitemaps.parse_sitemap(response))

    def sitemap_failed(self, failure: Any) -> Iterable[Any]:
        assert self.sitemaps is not None
        return self._sitemap_step(self.sitemaps.sitemap_failed(failure))

    def _sitemap_step(self, outputs: Iterable[Any]) -> Iterable[Any]:
        """A sitemap callback's output, counted while an adaptive revisit waits for the
        sitemaps (``_read_sitemaps_first``): one request answered, and those it leads to."""
        try:
            for out in outputs:
                if isinstance(out, scrapy.Request) and SITEMAP_META in out.meta:
                    self._sitemap_requests += 1
                yield out
        finally:
            self._sitemap_requests -= 1

    async def _read_sitemaps_first(self) -> AsyncIterator[Any]:
        """--revisit adaptive: read the seed hosts' sitemaps before the plan, so that a
        page whose lastmod is after its last fetch is due (the reader notes the lastmods
        of the earlier crawl's pages); what else they list is requested later, as
        without a plan."""
        from twisted.internet import reactor, task

        assert self.sitemaps is not None and self.earlier is not None
        requests = self.sitemaps.start_planning(self.earlier)
        self._sitemap_requests = len(requests)
        for request in requests:
            yield request
        engine = self.crawler.engine
        quiet = 0.0
        while self._sitemap_requests > 0:
            await maybe_deferred_to_future(task.deferLater(reactor, _PLAN_POLL_S, lambda: None))
            # A spider middleware may drop a request without a word (URLLENGTH_LIMIT,
            # DEPTH_LIMIT): once nothing is downloading or being parsed for a while, no
            # answer is coming.
            slot = engine.scraper.slot
            busy = engine.downloader.active or (slot is not None and not slot.is_idle())
            quiet = 0.0 if busy else quiet + _PLAN_POLL_S
            if quiet >= _PLAN_QUIET_S:
                self.crawler.stats.inc_value(
                    "linkcrawl/revisit/sitemaps_unanswered", self._sitemap_requests
                )
                # Read on without them: the next file of each site they held up.
                requests = self.sitemaps.unstall()
                self._sitemap_requests = len(requests)
                quiet = 0.0
                for request in requests:
                    yield request

    async def _read_sitemaps_direct(self) -> AsyncIterator[Any]:
        """A worker of a crawl shared through Redis that holds the sitemaps' claim (that
        of an adaptive revisit's plan, else ``claim_sitemaps``): read the seed hosts'
        sitemaps itself, one file after another, outside the shared queue, so that no
        other worker reads them. Each request goes through the downloader middlewares
        (robots.txt, the address guard, size limits) by ``engine.download_async``; the
        reader's callbacks make the same rows and lastmods as in a crawl of one process.
        The entries no page of the crawl has reached are held (``holds_sitemap_entries``)
        until the link crawl is done on every worker, then queued for all."""
        from twisted.python.failure import Failure

        reader = self.sitemaps
        assert reader is not None
        self._sitemap_entries_held = True
        queue = list(reader.start_planning(self.earlier or frozenset()))
        engine = self.crawler.engine
        while queue:
            request = queue.pop(0)
            if self.max_url_length and len(request.url) > self.max_url_length:
                # As Scrapy's UrlLengthMiddleware drops it in a crawl of one process.
                self.crawler.stats.inc_value("urllength/request_ignored_count")
                queue.extend(reader.unstall())
                continue
            try:
                response = await engine.download_async(request)
            except Exception as exc:  # the downloader's or a middleware's refusal
                failure = Failure(exc)
                failure.request = request  # type: ignore[attr-defined]
                outputs = reader.sitemap_failed(failure)
            else:
                if request.callback == self.parse_robots_sitemaps:
                    outputs = reader.parse_robots_sitemaps(response)
                else:
                    outputs = reader.parse_sitemap(response)
            for out in outputs:
                if isinstance(out, scrapy.Request) and SITEMAP_META in out.meta:
                    queue.append(out)
                else:
                    yield out  # the sitemaps rows, and a failed file's pages row

    def holds_sitemap_entries(self) -> bool:
        """True while this worker holds sitemap entries not queued yet (see
        ``_read_sitemaps_direct``; asked by the Redis frontier at each idle)."""
        return self._sitemap_entries_held

    def release_sitemap_entries(self) -> list[scrapy.Request]:
        """The requests of the held sitemap entries that no page reached, once: called by
        the Redis frontier when every worker is idle and the shared queue is empty."""
        self._sitemap_entries_held = False
        return self.sitemaps.follow_deferred() if self.sitemaps is not None else []

    def follow_handed_over(self, url: str, depth: int | None) -> scrapy.Request | None:
        """A request for a URL another worker found in a domain this worker owns."""
        return self._follow(url, registered_domain(host_of(url)), depth)

    async def start(self) -> AsyncIterator[Any]:
        seeds = self.seeds
        frontier: list[tuple[str, int | None]] = []
        if self.settings.getbool("LINKCRAWL_RESUME"):
            # The rows on disk are the truth after any stop, SIGKILL included (Scrapy's
            # JOBDIR loses the requests in flight): skip what was fetched, and request
            # every link target not fetched yet.
            state = Dataset(self.settings.get("LINKCRAWL_DATA_DIR")).resume_state(self.crawl_id)
            for url in state.done:
                self.seen.add(url)
                self.scheduled[registered_domain(host_of(url))] += 1
            seeds = [url for url in seeds if url not in state.done]
            frontier = state.frontier
        if self.adaptive:
            shared = getattr(self, "frontier", None)
            role = "plan"
            if shared is not None:  # --redis: the plan is made once, by one worker
                role = await self._revisit_role(shared)
                if role in ("takeover", "carry"):
                    # The worker making it, or carrying its pages, was lost: do its part
                    # for the pages not on disk yet.
                    done = self._done_on_disk()
                    self.seen |= done
                    seeds = [url for url in seeds if url not in done]
            if role != "ready":
                if self.sitemaps is not None and role != "carry":
                    reading = (
                        self._read_sitemaps_first()
                        if shared is None
                        else self._read_sitemaps_direct()
                    )
                    async for out in reading:
                        yield out
                async for out in self._revisit_start(seeds, shared, carry_only=role == "carry"):
                    yield out
                planned = self._planned
                seeds = [url for url in seeds if url not in planned]
        for url in seeds:
            domain = registered_domain(host_of(url))
            self.scheduled[domain] += 1
            yield scrapy.Request(
                url,
                callback=self.parse,
                errback=self.failed,
                meta={"depth": 0, "discovered_by": "seed"},
            )
        for url, depth in frontier:
            domain = registered_domain(host_of(url))
            if self.exchange is not None and self.exchange.owner(
                self.scope_key(url, domain)
            ) not in (None, self.exchange.me):
                continue  # its owner resumes it
            request = self._follow(url, domain, depth)
            if request is not None:
                yield request
        shared = getattr(self, "frontier", None)
        if (
            self.sitemaps is not None
            and shared is not None
            and not self.adaptive
            and shared.claim_sitemaps()
        ):
            # --redis: one worker reads the sitemaps, while the link crawl goes on.
            async for out in self._read_sitemaps_direct():
                yield out
        if self.sitemaps is not None and self.exchange is not None:
            # A worker of --workers reads its seeds' sitemaps from the start, below every
            # page request: its idle is the exchange's, which closes the workers together.
            if self.sitemaps.started:  # read for the plan already
                self.sitemaps.eager = True
                requests = self.sitemaps.follow_deferred()
            else:
                requests = self.sitemaps.start(eager=True)
            for request in requests:
                yield request

    async def _revisit_role(self, shared: Any) -> str:
        """A worker of a crawl shared through Redis: ``plan`` or ``takeover`` (this worker
        makes the adaptive revisit's plan) or ``ready`` (another made it), once made;
        waits while another worker is making it."""
        from twisted.internet import reactor, task

        while True:
            role = str(shared.claim_revisit_plan())
            if role != "wait":
                self.crawler.stats.set_value("linkcrawl/revisit/role", role)
                return role
            await maybe_deferred_to_future(task.deferLater(reactor, 0.2, lambda: None))

    def _done_on_disk(self) -> set[str]:
        """The URLs of this crawl's pages rows on disk (none before its first part)."""
        try:
            ds = Dataset(self.settings.get("LINKCRAWL_DATA_DIR") or "data")
            return ds.resume_state(self.crawl_id).done
        except LinkcrawlError:
            return set()

    def carry_request(self, claim: str) -> scrapy.Request:
        """--revisit adaptive with --redis: a request, for any worker, to carry the plan's
        pages whose worker was lost before their rows were all on disk (``claim``: that
        worker's claim, as read). It downloads nothing (a data: URL)."""
        return scrapy.Request(
            "data:,carry",
            callback=self.carry_rest,
            dont_filter=True,
            priority=1_000_000,
            meta={"linkcrawl_claim": claim, "dont_obey_robotstxt": True},
        )

    async def carry_rest(self, response: Response) -> AsyncIterator[Any]:
        """Carry the plan's pages not on disk yet, if no other worker took it first."""
        shared = getattr(self, "frontier", None)
        claim = response.meta["linkcrawl_claim"]
        if shared is None:
            return
        shared.done_without_row(response.url)
        if not shared.take_over_claim(claim, f"carrying:{shared.worker}"):
            return
        shared.carrying = True
        self.crawler.stats.set_value("linkcrawl/revisit/role", "carry")
        done = self._done_on_disk()  # not self.seen: it holds links to pages not due
        self.seen |= done
        async for out in self._revisit_start([], shared, carry_only=True, done=done):
            yield out

    async def _revisit_start(
        self,
        seeds: list[str],
        shared: Any = None,
        carry_only: bool = False,
        done: set[str] | None = None,
    ) -> AsyncIterator[Any]:
        """--revisit adaptive: request the earlier crawl's due pages, most authoritative
        first (within ``--max-pages`` per domain), and carry the others forward without a
        request, their link targets entering the frontier as a fetched page's do.
        ``shared``: the Redis frontier of a crawl whose other workers wait for this plan;
        the pages carried go into its duplicate filter before any page is requested.
        ``carry_only``: the pages not due, only (another worker queued the due ones);
        ``done``: the pages not to plan (default: those seen before, not seeds)."""
        assert self.earlier is not None
        root = self.settings.get("LINKCRAWL_DATA_DIR") or "data"
        authority = page_authority(root, self.earlier.crawl_id)
        if authority is None:
            self.logger.warning(
                "--revisit adaptive: crawl %s has no authority analysis (linkcrawl analyze): "
                "due pages are requested in its crawl order",
                self.earlier.crawl_id,
            )
        if done is None:
            done = {url for url in self.seen if url not in seeds}  # fetched before a resume
        else:
            done = set(done)
        # A crawl of other seeds (--since) may hold pages out of this crawl's scope.
        done |= {
            url
            for url in self.earlier.schedule_rows()["url"]
            if not self.in_scope(url, registered_domain(host_of(url)))
        }
        # A crawl shared through Redis caps pages in its scheduler (self.max_pages is 0
        # there); the plan still gives the budget to the most authoritative due pages.
        # (Not "if shared": scrapy-redis's scheduler has a length, 0 while its queue is empty.)
        budget = self.settings.getint("LINKCRAWL_MAX_PAGES_PER_DOMAIN") if shared is not None else 0
        # A worker carrying a lost worker's pages plans at the same moment it did: pages
        # that fell due since were reserved as not due, and are carried, not requested.
        now_ms = int(time.time() * 1000)
        lastmod = self.sitemaps.lastmod if self.sitemaps is not None else None
        if carry_only and shared is not None:
            now_ms = shared.revisit_plan_time() or now_ms
            lastmod = shared.revisit_lastmod()  # as it read the sitemaps
        plan = plan_revisits(
            self.earlier,
            now_ms,
            authority,
            max_pages=budget or self.max_pages,
            domain_of=lambda url: registered_domain(host_of(url)),
            exclude=done,
            lastmod=lastmod,
        )
        self._planned = frozenset([*plan.due, *plan.not_due, *plan.over_budget])
        self.seen |= self._planned
        stats = self.crawler.stats
        stats.set_value("linkcrawl/revisit/due", len(plan.due))
        stats.set_value("linkcrawl/revisit/not_due", len(plan.not_due))
        stats.set_value("linkcrawl/revisit/over_budget", len(plan.over_budget))
        stats.set_value("linkcrawl/revisit/due_by_lastmod", len(plan.by_lastmod))
        if shared is not None and not carry_only:
            shared.reserve([*plan.not_due, *plan.over_budget])
            made_due = {url: lastmod[url] for url in plan.by_lastmod} if lastmod else {}
            shared.revisit_plan_ready(now_ms, made_due)
        seed_set = set(seeds)
        for rank, url in enumerate([] if carry_only else plan.due):
            before = self.earlier.page(url)
            assert before is not None
            self.scheduled[registered_domain(host_of(url))] += 1
            found_by = "seed" if url in seed_set else before.discovered_by or "link"
            meta = self._depth_meta(0 if url in seed_set else before.depth, found_by)
            yield scrapy.Request(
                url,
                callback=self.parse,
                errback=self.failed,
                # Ahead of newly found links, the most authoritative first.
                priority=len(plan.due) - rank,
                meta=meta,
            )
        for reason, urls in (("not_due", plan.not_due), ("over_budget", plan.over_budget)):
            for url in urls:
                item = self._unrequested(url, reason)
                yield item
                depth = item.depth
                for request in self._leads(item, None if depth is None else depth + 1, 0):
                    yield request

    def _unrequested(self, url: str, reason: str) -> PageItem:
        """The row of an earlier page carried forward without a request: the earlier
        row as it was (its fetch time included), its edges carried."""
        assert self.earlier is not None
        before = self.earlier.page(url)
        assert before is not None and before.fetched_at is not None
        self.crawler.stats.inc_value(f"linkcrawl/revisit/carried_{reason}")
        return PageItem(
            url=url,
            fetched_at=before.fetched_at,
            domain=registered_domain(host_of(url)),
            status=before.status,
            content_type=before.content_type,
            title=before.title,
            description=before.description,
            headings=before.headings,
            text=before.text,
            canonical=before.canonical,
            meta_robots=before.meta_robots,
            x_robots_tag=before.x_robots_tag,
            noindex=before.noindex,
            nofollow=before.nofollow,
            depth=before.depth,
            bytes=before.bytes,
            discovered_by=before.discovered_by,
            etag=before.etag,
            last_modified=before.last_modified,
            content_sha1=before.content_sha1,
            edges_from=self.earlier.crawl_id,
            revisit=reason,
            revisit_interval_s=before.revisit_interval_s,
            next_due=before.next_due,
            carried=self.earlier.edges(url),
        )

    def _revisited(self, item: PageItem) -> None:
        """--revisit adaptive: a requested page's next interval, shrunk when it changed
        (parsed anew), grown when it did not (carried); a new page gets the first one."""
        assert self.earlier is not None and self.schedule is not None
        item.revisit = "due"
        if item.status is None or not 200 <= item.status < 300:
            return  # not a page to schedule: requested again next time
        before = self.earlier.page(item.url)
        if before is None:
            interval = self.schedule.initial_s
        else:
            interval = self.schedule.next_interval(
                before.revisit_interval_s, changed=item.carried is None
            )
        item.revisit_interval_s = interval
        item.next_due = item.fetched_at + interval * 1000

    def _leads(self, item: PageItem, next_depth: int | None, hops: int) -> Iterable[Any]:
        """The requests for a page's link targets (a parsed page's or a carried one's)."""
        if item.carried is not None:
            carried = item.carried
            leads: Any = zip(
                carried["target"].to_pylist(),
                carried["target_domain"].to_pylist(),
                carried["kind"].to_pylist(),
                strict=True,
            )
        else:
            leads = zip(item.target, item.target_domain, item.kind, strict=True)
        for target, target_domain, kind in leads:
            if kind not in _CRAWLABLE_KINDS:
                continue
            is_redirect = kind in ("redirect", "refresh")
            if is_redirect and hops >= self.max_redirects:
                self._skip("redirect-chain")  # the edge is kept; the next hop is not fetched
                continue
            found_by = "redirect" if is_redirect else "link"
            request = self._follow(target, target_domain, next_depth, found_by)
            if request is not None:
                if is_redirect:
                    request.meta["redirect_hops"] = hops + 1
                yield request

    # -- callbacks --------------------------------------------------------------------------

    async def parse(self, response: Response) -> list[Any]:
        # A coroutine returning its output, not an async generator: Scrapy feeds an async
        # generator that awaits to CONCURRENT_ITEMS waiting tasks, a hundred futures a page.
        url = normalize_url(response.url) or response.url
        domain = registered_domain(host_of(url))
        headers = response.headers
        content_type = (headers.get(b"Content-Type") or b"").decode("latin-1") or None
        x_robots = [v.decode("latin-1") for v in headers.getlist(b"X-Robots-Tag")]
        latency = response.meta.get("download_latency")
        depth = self.click_depth(response.meta)
        etag, last_modified = response_validators(headers)
        item = PageItem(
            url=url,
            fetched_at=int(time.time() * 1000),
            domain=domain,
            status=response.status,
            content_type=content_type,
            x_robots_tag=", ".join(x_robots) if x_robots else None,
            depth=depth,
            bytes=len(response.body),
            elapsed_ms=int(latency * 1000) if latency is not None else None,
            discovered_by=response.meta.get("discovered_by"),
            ip=server_address(response),
            etag=etag,
            last_modified=last_modified,
            content_sha1=content_digest(response.body) if response.status != 304 else None,
            not_modified=response.status == 304,
        )
        if self.earlier is not None and self._carry(item):
            pass  # its edges are the earlier crawl's: nothing to parse
        elif 300 <= response.status < 400 and b"Location" in headers:
            location = (headers[b"Location"] or b"").decode("latin-1")
            target = absolute_url(location, url)
            if target:
                item.target.append(target)
                item.anchor.append("")
                item.rel.append("")
                item.follow.append(True)
                item.position.append(None)
                item.kind.append("redirect")
                item.target_domain.append(registered_domain(host_of(target)))
        elif isinstance(response, TextResponse) and (
            content_type is None or content_type.encode("latin-1").lower().startswith(_HTML_TYPES)
        ):
            renderer = self.renderer
            try:
                links, item.target_domain = await self._extract(
                    response, url, x_robots, shell=renderer is not None and renderer.wants_signals
                )
                reason = None
                if renderer is not None and response.status == 200:
                    reason = renderer.why(url, links)
                if reason is not None:
                    assert renderer is not None
                    links, item.target_domain, item.origin = await self._rendered(
                        renderer, response, url, x_robots, links, item.target_domain, reason
                    )
            except ParseFailed as failed:
                item.error = failed.error  # over its time budget: a row without links
            except ParseCancelled:
                self.crawler.stats.inc_value("linkcrawl/parse_cancelled")
                return []  # the crawl stopped uncleanly: no row, so a resume fetches it again
            else:
                item.title = links.title
                item.description = links.description
                item.headings = links.headings
                item.text = links.text
                item.canonical = links.canonical
                item.meta_robots = links.meta_robots
                item.noindex = links.noindex
                item.nofollow = links.nofollow
                item.target = links.target
                item.anchor = links.anchor
                item.rel = links.rel
                item.follow = links.follow
                item.position = links.position
                item.kind = links.kind
                self._bound_links(item)
        if self.adaptive:
            self._revisited(item)
        judged = self.evidence.observe(url, item)  # what the trap guard judges patterns by
        out: list[Any] = [item, *self._judged(judged)]
        next_depth = None if depth is None else depth + 1
        hops = response.meta.get("redirect_hops", 0)
        # The links of a carried page lead on as those of a parsed page do: the new crawl
        # reaches what the earlier one did, within its own depth and scope.
        out.extend(self._leads(item, next_depth, hops))
        return out

    def _carry(self, item: PageItem) -> bool:
        """Make ``item`` a page whose edges are carried from the earlier crawl, when it is
        unchanged: the server answered 304 to our validators, or the body's digest (and
        the X-Robots-Tag, which sets follow) is the earlier crawl's. Its row then repeats
        what the earlier row read from the page; its fetch (time, depth, how it was found)
        is this crawl's."""
        assert self.earlier is not None
        before = self.earlier.page(item.url)
        if before is None:
            return False
        if item.status == 304:
            self.crawler.stats.inc_value("linkcrawl/incremental/not_modified")
            # A 304 may repeat or update the validators; else they stay as they were.
            item.etag = item.etag or before.etag
            item.last_modified = item.last_modified or before.last_modified
        elif (
            item.status == before.status
            and item.content_sha1 is not None
            and item.content_sha1 == before.content_sha1
            and item.x_robots_tag == before.x_robots_tag
        ):
            self.crawler.stats.inc_value("linkcrawl/incremental/same_digest")
        else:
            return False
        item.status = before.status
        item.content_type = before.content_type
        item.title = before.title
        item.description = before.description
        item.headings = before.headings
        item.text = before.text
        item.canonical = before.canonical
        item.meta_robots = before.meta_robots
        item.x_robots_tag = before.x_robots_tag
        item.noindex = before.noindex
        item.nofollow = before.nofollow
        item.bytes = before.bytes
        item.content_sha1 = before.content_sha1
        item.edges_from = self.earlier.crawl_id
        item.carried = self.earlier.edges(item.url)
        return True

    async def _extract(
        self, response: TextResponse, url: str, x_robots: list[str], shell: bool = False
    ) -> tuple[PageLinks, list[str]]:
        """The page's links and their targets' domains: from the parse pool, within the
        page's time budget, or here in the reactor's thread when the pool is off. With
        ``shell``, also the signals of a client-rendered shell (``links.shell``)."""
        if self.parse_pool is None:
            return extract_page(self.extractor, response, url, x_robots, shell)
        job = PageJob(
            response_class=next(c for c in _TEXT_RESPONSES if isinstance(response, c)),
            url=response.url,
            headers=dict(response.headers),
            body=response.body,
            page_url=url,
            x_robots_tag=tuple(x_robots),
            shell=shell,
        )
        return await maybe_deferred_to_future(self.parse_pool.submit(job))

    async def _rendered(
        self,
        renderer: Renderer,
        response: TextResponse,
        url: str,
        x_robots: list[str],
        links: PageLinks,
        domains: list[str],
        reason: str,
    ) -> tuple[PageLinks, list[str], list[str]]:
        """The links of the page as Chromium renders it, their targets' domains and
        origins (``html`` or ``rendered``), through the same extraction as the HTML; the
        HTML's own links (origin ``html``) when rendering failed."""
        try:
            rendered = await renderer.render(response)
        except Exception as exc:
            renderer.failed()
            self.logger.warning("rendering %s failed: %s; its HTML's links are kept", url, exc)
            return links, domains, []
        try:
            found, found_domains = await self._extract(rendered, url, x_robots)
        except ParseFailed as failed:
            renderer.failed()
            self.logger.warning("the rendered %s: %s; its HTML's links are kept", url, failed)
            return links, domains, []
        origins = link_origins(links, found)
        renderer.observe(url, reason, origins.count("rendered"))
        return found, found_domains, origins

    def _bound_links(self, item: PageItem) -> None:
        """Apply the per-page caps: links beyond ``LINKCRAWL_MAX_LINKS_PER_PAGE`` are dropped
        and targets longer than ``LINKCRAWL_MAX_TARGET_LENGTH`` are skipped; both counted in
        the stats (``linkcrawl/skipped/links-capped``, ``linkcrawl/skipped/target-too-long``,
        both links, and ``linkcrawl/links_capped``, pages) and
        noted in the page's ``error`` column as ``links-capped:<found>``."""
        found = len(item.target)
        keep = None
        if self.max_target_length and any(len(t) > self.max_target_length for t in item.target):
            keep = [i for i, t in enumerate(item.target) if len(t) <= self.max_target_length]
            self.crawler.stats.inc_value("linkcrawl/skipped/target-too-long", found - len(keep))
        if self.max_links and len(keep if keep is not None else item.target) > self.max_links:
            kept = keep if keep is not None else list(range(found))
            keep = kept[: self.max_links]
            self.crawler.stats.inc_value("linkcrawl/links_capped")
            # The links dropped, with the other skips (the manifest's ``skipped``).
            self.crawler.stats.inc_value("linkcrawl/skipped/links-capped", len(kept) - len(keep))
            item.error = f"links-capped:{found}"
        if keep is None:
            return
        names = ["target", "anchor", "rel", "follow", "position", "kind", "target_domain"]
        for name in [*names, "origin"] if item.origin else names:
            column = getattr(item, name)
            setattr(item, name, [column[i] for i in keep])

    def parse_external(self, response: Response) -> Iterable[Any]:
        """Record the status of a link target outside the crawl's scope; not parsed."""
        request = response.request
        assert request is not None  # a callback's response carries its request
        if request.method == "HEAD" and response.status in (400, 403, 405, 501):
            # Some servers refuse HEAD; ask again with GET before calling the link broken.
            yield request.replace(method="GET", dont_filter=True)
            return
        url = normalize_url(response.url) or response.url
        latency = response.meta.get("download_latency")
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1") or None
        yield PageItem(
            url=url,
            fetched_at=int(time.time() * 1000),
            domain=registered_domain(host_of(url)),
            status=response.status,
            content_type=ctype,
            depth=self.click_depth(response.meta),
            bytes=len(response.body),
            elapsed_ms=int(latency * 1000) if latency is not None else None,
            discovered_by=response.meta.get("discovered_by"),
            ip=server_address(response),
            not_modified=False,
        )

    def failed(self, failure: Any) -> Iterable[Any]:
        request = failure.request
        url = normalize_url(request.url) or request.url
        yield PageItem(
            url=url,
            fetched_at=int(time.time() * 1000),
            domain=registered_domain(host_of(url)),
            error=error_name(failure),
            depth=self.click_depth(request.meta),
            discovered_by=request.meta.get("discovered_by"),
        )
