"""Under --check-external, one log line per unreachable external host, not one per request."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.http import Request

log = logging.getLogger(__name__)

# Scrapy's loggers that report a failed download once per request: the retry middleware's
# "Gave up retrying" and the robots.txt middleware's "Error downloading" (with a traceback).
_LOGGERS = ("scrapy.downloadermiddlewares.retry", "scrapy.downloadermiddlewares.robotstxt")


class ExternalCheckLog(logging.Filter):
    """An extension that keeps the per-request failure lines of external checks (HEAD
    requests to other domains, whose failures are pages rows with their error) out of the
    log while the crawl runs, and logs one line per failing host when it closes.

    A site that is down is one fact, not one traceback for each of its thousand links. The
    filter sits on two Scrapy loggers only for the length of the crawl.
    """

    def __init__(self) -> None:
        super().__init__()
        self.external_hosts: set[str] = set()
        self.failed: dict[str, tuple[set[str], str]] = {}  # host -> (URLs, first reason)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ExternalCheckLog:
        if not crawler.settings.getbool("LINKCRAWL_CHECK_EXTERNAL"):
            raise NotConfigured
        ext = cls()
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.request_scheduled, signal=signals.request_scheduled)
        return ext

    def request_scheduled(self, request: Request, spider: Any) -> None:
        if request.meta.get("external"):
            self.external_hosts.add(_host(request.url))

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, dict) else {}
        request = args.get("request")
        if not isinstance(request, Request):
            return True
        host = _host(request.url)
        if request.meta.get("dont_obey_robotstxt") and request.url.endswith("/robots.txt"):
            # robots.txt of a host only checked: its failure is the host's, told below
            return host not in self.external_hosts
        if not request.meta.get("external"):
            return True
        reason = args.get("reason") or args.get("f_exception")
        urls, _ = self.failed.setdefault(
            host, (set(), str(reason).splitlines()[0] if reason else "")
        )
        urls.add(request.url)
        return False

    def spider_opened(self, spider: Any) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self)

    def spider_closed(self, spider: Any) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).removeFilter(self)
        for host, (urls, reason) in sorted(self.failed.items()):
            log.warning("external check: %s: %d URL(s) failed: %s", host, len(urls), reason)


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
