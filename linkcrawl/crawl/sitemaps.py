"""Sitemap discovery: each seed host's sitemaps (robots.txt ``Sitemap:`` lines, else
``/sitemap.xml``), sitemap indexes and gzip followed within the protocol's limits; the
entries become rows of the sitemaps table and, when in scope, requests for the frontier.

Everything is fetched by Scrapy's downloader (robots.txt rules, the address guard,
throttling) and parsed by ``scrapy.utils.sitemap.Sitemap``, lxml with entity resolution
off. When the reading starts and in what order (see docs/dataset.md, "How pages are
found"): in a crawl of one process the spider starts it once the link crawl has nothing
left to do, so that every page a link reaches is fetched by that link, with its click
depth; then each site reads one file at a time, the next once that file's pages are
fetched, so that a 1,000-file index never has more than one file's URLs queued.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from linkcrawl.crawl.items import PageItem
from linkcrawl.extract.urls import absolute_url, host_of, normalize_url, registered_domain

# Below every request of a known click depth (DEPTH_PRIORITY takes one per hop): the pages
# whose depth is unknown (from a sitemap, or linked only from such pages) come after the
# pages links reach, and the sitemap files after both.
UNKNOWN_DEPTH_PRIORITY = -1_000_000
SITEMAP_FILE_PRIORITY = -2_000_000
# The request meta key of a robots.txt or sitemap file request: how it was found
# ("robots": a Sitemap line, "fallback": /sitemap.xml guessed, "index": a child of an index),
# its index level (0 for a top-level file) and the redirects followed so far.
META = "linkcrawl_sitemap"


class RobotsReadAlready(IgnoreRequest):
    """A reader's robots.txt request not sent: the crawl's robots.txt middleware has just
    read that host's robots.txt (for its rules), and handed its Sitemap lines over."""


@dataclass(slots=True)
class SitemapItem:
    """The ``<url>`` entries of one sitemap file, as parallel lists (rows of the sitemaps
    table). ``lastmod`` and ``fetched_at`` are milliseconds since the Unix epoch (UTC)."""

    sitemap: str
    fetched_at: int
    url: list[str] = field(default_factory=list)
    domain: list[str] = field(default_factory=list)
    lastmod: list[int | None] = field(default_factory=list)
    changefreq: list[str | None] = field(default_factory=list)
    priority: list[float | None] = field(default_factory=list)


def parse_lastmod(text: str | None) -> int | None:
    """A W3C datetime (``2024``, ``2024-05``, ``2024-05-01``, ``2024-05-01T10:00+02:00``,
    with seconds and fractions) as milliseconds since the epoch, UTC; a time without a
    zone, or a date alone, is read as UTC. None when absent or unreadable."""
    if not text:
        return None
    text = text.strip()
    if len(text) == 4 and text.isdigit():
        text += "-01-01"
    elif len(text) == 7 and text[4] == "-":
        text += "-01"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        return None


# A time without a zone is local time somewhere: UTC-12 to UTC+14 (the zones in use).
_WEST_S = 12 * 3600
_EAST_S = 14 * 3600


def lastmod_bounds(text: str | None) -> tuple[int, int] | None:
    """The earliest and the latest moment (ms since the epoch, UTC) a ``<lastmod>`` value can
    mean, for deciding whether a page changed after it was fetched: a date alone is the
    whole day in UTC (``2024-05`` the month, ``2024`` the year); a time without a zone,
    which the W3C datetime profile does not allow, is any zone's reading of it; a time
    with a zone is that moment. None when absent or unreadable (as :func:`parse_lastmod`)."""
    start = parse_lastmod(text)
    if start is None:
        return None
    assert text is not None
    text = text.strip()
    if "T" not in text and " " not in text:
        moment = datetime.fromtimestamp(start / 1000, UTC)
        if len(text) == 4:
            end = moment.replace(year=moment.year + 1) if moment.year < 9999 else None
        elif len(text) == 7:
            month = moment.month % 12 + 1
            year = moment.year + (moment.month == 12)
            end = moment.replace(year=year, month=month) if year <= 9999 else None
        else:
            end = moment + timedelta(days=1)
        stop = int(end.timestamp() * 1000) if end is not None else start
        return start, max(start, stop - 1)
    try:
        zoned = datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return start, start
    if zoned:
        return start, start
    return start - _EAST_S * 1000, start + _WEST_S * 1000


def parse_priority(text: str | None) -> float | None:
    """``<priority>`` as a float in [0, 1]; None when absent, unreadable or out of range."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and 0.0 <= value <= 1.0 else None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a normalised URL."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


class SitemapReader:
    """Reads the sitemaps of a crawl's seed hosts for a :class:`~linkcrawl.spiders.links.
    LinkSpider`, whose callbacks (``parse_robots_sitemaps``, ``parse_sitemap``,
    ``sitemap_failed``) call the methods of the same names here: request callbacks must be
    spider methods to survive a disk queue (JOBDIR).

    Settings: ``LINKCRAWL_SITEMAP_MAX_URLS`` (entries read per file, the protocol's 50,000),
    ``LINKCRAWL_SITEMAP_MAX_BYTES`` (uncompressed bytes per file, 50 MB),
    ``LINKCRAWL_SITEMAP_INDEX_DEPTH`` (levels of index files followed: 1 reads an index's
    sitemaps, 2 also an index listed in an index), and
    ``LINKCRAWL_ROBOTSTXT_MAX_BYTES`` for the robots.txt read for its Sitemap lines.

    Stats: ``linkcrawl/sitemaps/files`` (files read), ``linkcrawl/sitemaps/entries`` (rows),
    ``linkcrawl/sitemaps/none`` (hosts with no sitemap), and skips as
    ``linkcrawl/skipped/<reason>``: ``sitemap-urls-over-limit`` (entries beyond the limit),
    ``sitemap-too-large`` (files), ``sitemap-index-depth`` (files beyond the index depth),
    ``sitemap-out-of-scope`` (files outside the crawl's scope), ``sitemap-max-pages`` (files
    not read once their domain's --max-pages is reached), ``sitemap-bad-url`` (entries
    whose loc is not an http(s) URL).
    """

    def __init__(self, spider: Any, settings: Any) -> None:
        self.spider = spider
        self.max_urls = settings.getint("LINKCRAWL_SITEMAP_MAX_URLS", 50_000)
        self.max_bytes = settings.getint("LINKCRAWL_SITEMAP_MAX_BYTES", 50 * 1024 * 1024)
        self.index_depth = settings.getint("LINKCRAWL_SITEMAP_INDEX_DEPTH", 2)
        self.robots_bytes = settings.getint("LINKCRAWL_ROBOTSTXT_MAX_BYTES", 500 * 1024)
        self.max_redirects = settings.getint("LINKCRAWL_MAX_REDIRECTS", 10)
        self.started = False
        # Sitemap file URLs found: one file is read once however many point to it.
        self.files: set[str] = set()
        # Per registered domain: the files found and not requested yet (url, found, level),
        # whether one is being read, and how many of its entries' pages are still to come.
        # One file of a site at a time, the next once its pages are all fetched, so that
        # only one file's entries of each site are ever queued; sites go on side by side.
        # ``eager`` (a --workers worker, whose idle is the exchange's): each file is
        # requested as it is found.
        self.pending: defaultdict[str, deque[tuple[str, str, int]]] = defaultdict(deque)
        self.reading: set[str] = set()
        self.outstanding: Counter[str] = Counter()
        self.eager = False
        spider.crawler.signals.connect(self._page_done, signal=signals.item_scraped)
        # host -> the Sitemap lines of its robots.txt, as the crawl's robots.txt middleware
        # read it (linkcrawl.crawl.middlewares): robots.txt is then not fetched again.
        self.robots: dict[str, list[str]] = {}
        # --revisit adaptive reads the sitemaps before it plans (:meth:`start_planning`):
        # ``known`` holds the URLs of the earlier crawl, whose newest lastmod (the latest
        # moment its value can mean) goes to ``lastmod``; entries new to the crawl wait in
        # ``deferred`` until the link crawl is done, as they would have without the plan.
        self.known: Any = None
        self.lastmod: dict[str, int] = {}
        self.deferred: list[str] = []

    def robots_read(self, host: str, body: bytes, url: str) -> None:
        """Note the ``Sitemap:`` lines of ``host``'s robots.txt (``body``, from ``url``;
        empty for a robots.txt that failed)."""
        urls: list[str] = []
        for line in sitemap_urls_from_robots(body, base_url=url):
            found = normalize_url(line)
            if found and found not in urls:
                urls.append(found)
        self.robots[host] = urls

    def robots_known(self, request: Any) -> bool:
        """True for this reader's robots.txt request of a host whose Sitemap lines it has
        (the crawl's robots.txt middleware read them for the request's own rules: an
        adaptive revisit reads the sitemaps before any page is requested)."""
        state = request.meta.get(META)
        if state is None or state["found"] != "robots.txt" or state["hops"]:
            return False
        return self.robots.get(host_of(normalize_url(request.url) or request.url)) is not None

    def _stat(self, name: str, n: int = 1) -> None:
        self.spider.crawler.stats.inc_value(name, n)

    def _skip(self, reason: str, n: int = 1) -> None:
        self._stat(f"linkcrawl/skipped/{reason}", n)

    # -- requests ---------------------------------------------------------------------------

    def start(self, eager: bool = False) -> list[scrapy.Request]:
        """The requests that start reading the seed hosts' sitemaps: the first file named
        in a robots.txt already read, else /sitemap.xml; a robots.txt request for a host
        whose robots.txt the crawl did not read (ROBOTSTXT_OBEY off, or no request of this
        run went there). ``eager``: every file as it is found (see ``pending``)."""
        self.started = True
        self.eager = eager
        requests: list[scrapy.Request] = []
        for origin in dict.fromkeys(origin_of(seed) for seed in self.spider.seeds):
            declared = self.robots.get(host_of(origin + "/"))
            if declared is None:
                requests.append(self._robots_request(f"{origin}/robots.txt", 0))
            elif not declared:
                requests.extend(self._fallback(origin + "/robots.txt"))
            else:
                for url in declared:
                    request = self._add_file(url, "robots", 0)
                    if request is not None:
                        requests.append(request)
        requests.extend(self._next())
        return requests

    def start_planning(self, known: Any) -> list[scrapy.Request]:
        """Start reading the sitemaps for an adaptive revisit's plan, before any page is
        requested: the entries of URLs in ``known`` (a container of the earlier crawl's
        URLs) give their lastmod (``lastmod``), the others are kept for later
        (``deferred``); no entry is requested while planning."""
        self.known = known
        return self.start()

    def stop_planning(self) -> list[str]:
        """The plan is made: from now on entries are requested as usual. Returns the
        entries new to the crawl found while planning, to be requested by the caller."""
        self.known = None
        deferred, self.deferred = self.deferred, []
        return deferred

    def follow_deferred(self) -> list[scrapy.Request]:
        """The requests of the entries new to the crawl that planning found."""
        requests = []
        for url in self.stop_planning():
            request = self.spider._follow(url, registered_domain(host_of(url)), None, "sitemap")
            if request is not None:
                requests.append(request)
        return requests

    def on_idle(self) -> list[scrapy.Request]:
        """At the spider's idle: start, or request the next file of each site (nothing is
        in flight: a page that never made a row, a request dropped, is not waited for)."""
        if not self.started:
            return self.start()
        return [*self.follow_deferred(), *self.unstall()]

    def unstall(self) -> list[scrapy.Request]:
        """Nothing is in flight: the next file of each site, whatever is still awaited (a
        request dropped on the way never answers)."""
        self.reading.clear()
        self.outstanding.clear()
        return list(self._next())

    def _page_done(self, item: Any = None, response: Any = None, spider: Any = None) -> None:
        """A pages row written: one page fewer to come of its site's current file."""
        if not isinstance(item, PageItem) or item.discovered_by != "sitemap":
            return
        if item.url in self.files or self.eager:
            return  # a sitemap file's own row
        domain = registered_domain(host_of(item.url))
        if self.outstanding[domain] > 0:
            self.outstanding[domain] -= 1
            if not self.outstanding[domain]:
                del self.outstanding[domain]
                for request in self._next(domain):
                    self.spider.crawler.engine.crawl(request)

    def _next(self, domain: str | None = None) -> Iterator[scrapy.Request]:
        """The next pending file's request of ``domain`` (default: of every site), unless
        one of that site is being read or its pages are still to come."""
        for site in [domain] if domain is not None else list(self.pending):
            queue = self.pending.get(site)
            while queue and site not in self.reading and not self.outstanding[site]:
                url, found, level = queue.popleft()
                request = self._file_request(url, found, level)
                if request is not None:
                    self.reading.add(site)
                    yield request
            if not queue:
                self.pending.pop(site, None)

    def _add_file(self, url: str, found: str, level: int) -> scrapy.Request | None:
        """Note a sitemap file found (unless known or out of scope): pending, or, when
        ``eager``, its request."""
        if url in self.files:
            return None
        if not self.spider.in_scope(url, registered_domain(host_of(url))):
            self._skip("sitemap-out-of-scope")
            return None
        self.files.add(url)
        if self.eager:
            return self._file_request(url, found, level)
        self.pending[registered_domain(host_of(url))].append((url, found, level))
        return None

    def _robots_request(self, url: str, hops: int) -> scrapy.Request:
        meta: dict[str, Any] = {META: {"found": "robots.txt", "level": 0, "hops": hops}}
        if self.robots_bytes:
            meta["download_maxsize"] = self.robots_bytes
        return scrapy.Request(
            url,
            callback=self.spider.parse_robots_sitemaps,
            errback=self.spider.sitemap_failed,
            priority=SITEMAP_FILE_PRIORITY,
            dont_filter=True,
            meta=meta,
        )

    def _file_request(
        self, url: str, found: str, level: int, hops: int = 0
    ) -> scrapy.Request | None:
        """A request for a sitemap file, unless out of scope or of a domain whose
        --max-pages is reached."""
        spider = self.spider
        domain = registered_domain(host_of(url))
        if not spider.in_scope(url, domain):
            self._skip("sitemap-out-of-scope")
            return None
        if spider.max_pages and spider.scheduled[domain] >= spider.max_pages:
            if found != "fallback":  # /sitemap.xml is a guess: there may be none to skip
                self._skip("sitemap-max-pages")
            return None
        self.files.add(url)
        return scrapy.Request(
            url,
            callback=spider.parse_sitemap,
            errback=spider.sitemap_failed,
            priority=SITEMAP_FILE_PRIORITY,
            # Read once per run by ``files``; not by Scrapy's duplicate filter, whose JOBDIR
            # copy would keep a resumed crawl from reading its sitemaps again.
            dont_filter=True,
            # A gzip file is cut at the limit as it downloads; its uncompressed size is
            # checked when it is read.
            meta={
                META: {"found": found, "level": level, "hops": hops},
                "download_maxsize": self.max_bytes,
                "discovered_by": "sitemap",
            },
        )

    def _redirect(self, response: Any) -> scrapy.Request | None:
        """The next hop of a redirected robots.txt or sitemap file (REDIRECT_ENABLED is off
        for the spider, which records redirects of pages as edges)."""
        state = response.meta[META]
        location = (response.headers.get(b"Location") or b"").decode("latin-1")
        target = absolute_url(location, response.url) if location else None
        target = normalize_url(target) if target else None
        # Google follows 5 redirects of a robots.txt (as linkcrawl.crawl.middlewares does).
        most = min(self.max_redirects, 5) if state["found"] == "robots.txt" else self.max_redirects
        if target is None or state["hops"] >= most:
            return None
        if state["found"] == "robots.txt":
            return self._robots_request(target, state["hops"] + 1)
        return self._file_request(target, state["found"], state["level"], state["hops"] + 1)

    # -- callbacks --------------------------------------------------------------------------

    def parse_robots_sitemaps(self, response: Any) -> Iterator[Any]:
        """The host's Sitemap lines, or /sitemap.xml when robots.txt has none (or fails)."""
        if 300 <= response.status < 400:
            request = self._redirect(response)
            if request is not None:
                yield request
                return
        host = host_of(normalize_url(response.url) or response.url)
        self.robots_read(host, response.body if response.status == 200 else b"", response.url)
        yield from self._declared(host, response.url)

    def _declared(self, host: str, robots_url: str) -> Iterator[scrapy.Request]:
        """The files named by ``host``'s robots.txt, or /sitemap.xml when it names none."""
        urls = self.robots[host]
        if not urls:
            yield from self._fallback(robots_url)
            return
        for url in urls:
            request = self._add_file(url, "robots", 0)
            if request is not None:
                yield request
        yield from self._next()

    def _fallback(self, robots_url: str) -> Iterator[scrapy.Request]:
        request = self._add_file(f"{origin_of(robots_url)}/sitemap.xml", "fallback", 0)
        if request is not None:
            yield request
        yield from self._next()

    def parse_sitemap(self, response: Any) -> Iterator[Any]:
        """Rows for the file's entries and requests for those in scope; a child request for
        each sitemap of an index; a pages row with its error for a file that fails."""
        site = registered_domain(host_of(response.url))
        hop = False
        try:
            for out in self._parse_sitemap(response):
                if isinstance(out, scrapy.Request):
                    if META in out.meta:
                        hop = True
                    elif not self.eager:
                        self.outstanding[registered_domain(host_of(out.url))] += 1
                yield out
        finally:
            if not hop:  # a redirect's next hop is the same file, still being read
                self.reading.discard(site)
        if not hop:
            # The site's next file now if this one queued no page of it (an index, say),
            # else once they are all fetched (_page_done).
            yield from self._next(site)

    def _parse_sitemap(self, response: Any) -> Iterator[Any]:
        state = response.meta[META]
        url = normalize_url(response.url) or response.url
        guessed = state["found"] == "fallback"
        if 300 <= response.status < 400:
            request = self._redirect(response)
            if request is not None:
                yield request
            elif not guessed:
                yield self._error_row(response, "sitemap-redirect-failed")
            return
        if response.status != 200:
            # /sitemap.xml was only a guess: a site without one is not in error.
            if guessed:
                self._stat("linkcrawl/sitemaps/none")
            else:
                yield self._error_row(response, "sitemap-http-error")
            return
        body, error = self._body(response)
        sitemap = None
        if body is not None:
            try:
                sitemap = Sitemap(body)
            except Exception:  # lxml's syntax errors, or no element at all
                sitemap = None
            if sitemap is not None and sitemap.type not in ("urlset", "sitemapindex"):
                sitemap = None
            if sitemap is None:
                error = "sitemap-malformed"
        if sitemap is None:
            if guessed and error == "sitemap-malformed":
                # A catch-all page served for /sitemap.xml is not a sitemap.
                self._stat("linkcrawl/sitemaps/none")
            else:
                if error == "sitemap-too-large":
                    self._skip("sitemap-too-large")
                yield self._error_row(response, error or "sitemap-malformed")
            return
        self._stat("linkcrawl/sitemaps/files")
        entries = 0
        over = 0
        item = SitemapItem(sitemap=url, fetched_at=int(time.time() * 1000))
        index = sitemap.type == "sitemapindex"
        for entry in sitemap:
            loc = entry.get("loc")
            if not loc:
                continue
            if entries >= self.max_urls:
                over += 1
                continue
            entries += 1
            target = normalize_url(loc)
            if target is None:
                self._skip("sitemap-bad-url")
                continue
            if index:
                if state["level"] >= self.index_depth:
                    self._skip("sitemap-index-depth")
                    continue
                request = self._add_file(target, "index", state["level"] + 1)
                if request is not None:
                    yield request
                continue
            domain = registered_domain(host_of(target))
            item.url.append(target)
            item.domain.append(domain)
            item.lastmod.append(parse_lastmod(entry.get("lastmod")))
            changefreq = (entry.get("changefreq") or "").strip().lower()
            item.changefreq.append(changefreq or None)
            item.priority.append(parse_priority(entry.get("priority")))
            if self.known is not None:
                self._plan_entry(target, entry.get("lastmod"), item.fetched_at)
                continue
            request = self.spider._follow(target, domain, None, "sitemap")
            if request is not None:
                yield request
        if item.url:
            self._stat("linkcrawl/sitemaps/entries", len(item.url))
            yield item
        if over:
            self._skip("sitemap-urls-over-limit", over)
            yield self._error_row(response, "sitemap-too-many-urls")
        elif any(e.level_name == "FATAL" for e in sitemap.xmliter.error_log):
            # lxml recovered what it could: the entries before the damage are kept.
            yield self._error_row(response, "sitemap-malformed")

    def _plan_entry(self, url: str, lastmod: str | None, now_ms: int) -> None:
        """While planning: note the lastmod of a page of the earlier crawl (a value that
        cannot be true yet, in the future, is left out), or keep a new URL for later."""
        if url not in self.known:
            if url not in self.spider.seen:
                self.deferred.append(url)
            return
        bounds = lastmod_bounds(lastmod)
        if bounds is None:
            return
        earliest, latest = bounds
        if earliest > now_ms:
            self._stat("linkcrawl/revisit/lastmod_future")
            return
        if latest > self.lastmod.get(url, -1):
            self.lastmod[url] = latest

    def _body(self, response: Any) -> tuple[bytes | None, str | None]:
        """The file's XML, gunzipped when it is gzip; or None and why not."""
        body: bytes = response.body
        if gzip_magic_number(response):
            try:
                body = gunzip(body, max_size=self.max_bytes)
            except ValueError:  # Scrapy's decompression-over-max-size error
                return None, "sitemap-too-large"
            except (OSError, EOFError, zlib.error, struct.error):
                return None, "sitemap-malformed"
        if self.max_bytes and len(body) > self.max_bytes:
            return None, "sitemap-too-large"
        return body, None

    def sitemap_failed(self, failure: Any) -> Iterator[Any]:
        """A robots.txt that fails falls back to /sitemap.xml; a sitemap file that fails is
        a pages row with its error (unless it was the /sitemap.xml guess)."""
        from linkcrawl.spiders.links import error_name

        request = failure.request
        state = request.meta[META]
        if state["found"] == "robots.txt":
            if failure.check(RobotsReadAlready):
                yield from self._declared(host_of(normalize_url(request.url) or request.url),
                                          request.url)  # fmt: skip
            else:
                yield from self._fallback(request.url)
            return
        site = registered_domain(host_of(request.url))
        self.reading.discard(site)
        if state["found"] == "fallback":
            self._stat("linkcrawl/sitemaps/none")
            yield from self._next(site)
            return
        error = error_name(failure)
        if error == "too-large":
            error = "sitemap-too-large"
            self._skip("sitemap-too-large")
        yield self._page_row(request.url, error=error)
        yield from self._next(site)

    def _error_row(self, response: Any, error: str) -> PageItem:
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1") or None
        return self._page_row(
            response.url,
            error=error,
            status=response.status,
            content_type=ctype,
            bytes=len(response.body),
        )

    def _page_row(self, url: str, **columns: Any) -> PageItem:
        url = normalize_url(url) or url
        return PageItem(
            url=url,
            fetched_at=int(time.time() * 1000),
            domain=registered_domain(host_of(url)),
            discovered_by="sitemap",
            **columns,
        )
