"""Downloader middlewares: Crawl-delay from robots.txt, honoured per host.

Scrapy's robots.txt support obeys Disallow but ignores Crawl-delay. This middleware reads
the delay from each robots.txt that Scrapy's RobotsTxtMiddleware fetches (its request
passes through here too), caps it, and holds the host's download slot to at least that
delay; AutoThrottle is told not to lower it.
"""

from __future__ import annotations

from typing import Any

from protego import Protego
from scrapy.utils.httpobj import urlparse_cached


class CrawlDelayMiddleware:
    """Honours ``Crawl-delay`` per host, capped at ``LINKCRAWL_CRAWL_DELAY_MAX`` seconds."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.user_agent = crawler.settings.get("ROBOTSTXT_USER_AGENT") or "linkcrawl"
        self.cap = crawler.settings.getfloat("LINKCRAWL_CRAWL_DELAY_MAX", 30.0)
        self.enabled = crawler.settings.getbool("ROBOTSTXT_OBEY")
        self.delays: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> CrawlDelayMiddleware:
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
        if (
            self.enabled
            and request.meta.get("dont_obey_robotstxt")
            and urlparse_cached(request).path == "/robots.txt"
            and response.status == 200
        ):
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
