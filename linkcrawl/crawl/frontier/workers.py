"""Hands URLs between the worker processes of one crawl (``linkcrawl crawl --workers N``).

Each worker owns some of the crawl's registered domains (or hosts, with ``--same-host``).
A worker that finds a link into a domain another worker owns does not drop it: it writes it
to that worker's inbox, a folder of small files under ``data/.jobs/<crawl_id>/exchange/``,
and the owner schedules it. So N workers crawl what one process would, each domain's
politeness and duplicate filter staying in one process.

A worker closes only when every worker is idle and every URL sent has been received
(each worker publishes its idle flag and its sent/received counts in a status file), so
no worker stops while another may still hand it work. A worker whose process is gone
counts as idle.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured

from linkcrawl.dataset.layout import _pid_alive


class WorkerExchange:
    """A Scrapy extension, on in worker processes only (``LINKCRAWL_DOMAIN_OWNERS`` set)."""

    poll_seconds = 0.5

    def __init__(self, crawler: Any, me: str, owners: dict[str, str], root: Path) -> None:
        self.crawler = crawler
        self.me = me
        self.owners = owners
        self.workers = sorted(set(owners.values()))
        self.root = root
        self.inbox = root / "inbox" / me
        self.outbox: dict[str, list[str]] = defaultdict(list)
        self.sent = 0
        self.received = 0
        self._seq = 0
        self._idle: bool | None = None
        self._loop: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> WorkerExchange:
        settings = crawler.settings
        owners = settings.getdict("LINKCRAWL_DOMAIN_OWNERS")
        me = settings.get("LINKCRAWL_WORKER")
        if not owners or not me:
            raise NotConfigured  # silently: only worker processes use it
        root = (
            Path(settings.get("LINKCRAWL_DATA_DIR"))
            / ".jobs"
            / settings.get("LINKCRAWL_CRAWL_ID")
            / "exchange"
        )
        ext = cls(crawler, me, owners, root)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    # -- lifecycle ------------------------------------------------------------------------

    def spider_opened(self, spider: Any) -> None:
        from twisted.internet import task  # not at module level: it must not pick a reactor

        for folder in (self.inbox, self.root / "status", self.root / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        # Counts survive a resume: the status file is the record of what was exchanged.
        previous = self._read_status(self.me)
        self.sent = previous.get("sent", 0)
        self.received = previous.get("received", 0)
        spider.exchange = self
        self._publish(idle=False)
        self._loop = task.LoopingCall(self.tick)
        self._loop.start(self.poll_seconds, now=False)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.flush()

    def spider_idle(self, spider: Any) -> None:
        self.flush()
        if self.poll():
            raise DontCloseSpider
        self._publish(idle=True)
        if not self.all_done():
            raise DontCloseSpider

    # -- sending and receiving ----------------------------------------------------------------

    def owner(self, key: str) -> str | None:
        """The worker that owns a registered domain (or host), or None if no one does."""
        return self.owners.get(key)

    def send(self, worker: str, url: str, depth: int) -> None:
        self.outbox[worker].append(f"{depth}\t{url}")

    def tick(self) -> None:
        self.flush()
        self.poll()

    def flush(self) -> None:
        """Write pending URLs to their owners' inboxes, one file per owner, atomically."""
        wrote = False
        for worker, lines in self.outbox.items():
            if not lines:
                continue
            self._seq += 1
            name = f"{self.me}-{os.getpid()}-{self._seq:08d}.tsv"
            tmp = self.root / "tmp" / name
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            inbox = self.root / "inbox" / worker
            inbox.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, inbox / name)
            self.sent += len(lines)
            lines.clear()
            wrote = True
        if wrote:
            self._publish(idle=False)

    def poll(self) -> int:
        """Schedule the URLs other workers sent; returns how many arrived."""
        arrived = 0
        spider = self.crawler.spider
        for path in sorted(self.inbox.glob("*.tsv")):
            try:
                text = path.read_text(encoding="utf-8")
                path.unlink()
            except FileNotFoundError:
                continue
            lines = [line for line in text.splitlines() if line]
            arrived += len(lines)
            self.received += len(lines)
            # Busy before scheduling: no one may see this worker idle with work in hand.
            self._publish(idle=False)
            for line in lines:
                depth, _, url = line.partition("\t")
                request = spider.follow_handed_over(url, int(depth))
                if request is not None:
                    self.crawler.engine.crawl(request)
        return arrived

    # -- termination ------------------------------------------------------------------------

    def _publish(self, idle: bool) -> None:
        self._idle = idle
        status = {"idle": idle, "sent": self.sent, "received": self.received, "pid": os.getpid()}
        tmp = self.root / "tmp" / f"status-{self.me}.json"
        tmp.write_text(json.dumps(status), encoding="utf-8")
        os.replace(tmp, self.root / "status" / f"{self.me}.json")

    def _read_status(self, worker: str) -> dict[str, Any]:
        try:
            return json.loads((self.root / "status" / f"{worker}.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def all_done(self) -> bool:
        """True when every worker is idle (or gone) and every URL sent was received."""
        sent = received = 0
        for worker in self.workers:
            status = self._read_status(worker)
            if not status:
                return False  # not started yet
            if not status["idle"] and _pid_alive(status.get("pid"), None):
                return False
            sent += status["sent"]
            received += status["received"]
        if sent != received:
            return False
        return not any((self.root / "inbox").glob("*/*.tsv"))
