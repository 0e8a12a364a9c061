"""One Scrapy process of a crawl: its settings, and running the link spider with
linkcrawl's own handling of SIGINT and SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from linkcrawl.dataset.layout import RemotePath, manifest_path, root_path
from linkcrawl.errors import LinkcrawlError
from linkcrawl.spiders.links import LinkSpider

__all__ = ["crawl_settings", "project_settings", "run_scrapy"]


def project_settings() -> Settings:
    """linkcrawl's settings module, overlaid with the module that ``SCRAPY_SETTINGS_MODULE``
    names, if any: a server keeps its own defaults there (politeness, link weights)."""
    settings = Settings()
    settings.setmodule("linkcrawl.settings", priority="project")
    own = os.environ.get("SCRAPY_SETTINGS_MODULE")
    if own and own != "linkcrawl.settings":
        try:
            settings.setmodule(own, priority="project")
        except ImportError as exc:
            raise LinkcrawlError(
                f"SCRAPY_SETTINGS_MODULE={own}: cannot import it ({exc})"
            ) from None
    return settings


def crawl_settings(
    data_dir: Path | str | RemotePath,
    crawl_id: str,
    *,
    max_depth: int | None = None,
    max_pages: int | None = None,
    concurrency: int | None = None,
    same_host: bool = False,
    progress_seconds: float = 0.0,
    since: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    manifest_fields: Mapping[str, Any] | None = None,
) -> Settings:
    """The Scrapy settings of one crawl: linkcrawl's defaults (and the user's settings
    module, see :func:`project_settings`), then the options, then ``overrides``
    (``-s NAME=VALUE``) last. ``since`` makes it an incremental crawl on that finished
    crawl. ``manifest_fields`` go into the crawl's manifest as they are
    (``LINKCRAWL_MANIFEST_FIELDS``: the options of :func:`crawl_options`)."""
    settings = project_settings()
    settings.set("LINKCRAWL_DATA_DIR", str(data_dir), priority="cmdline")
    settings.set("LINKCRAWL_CRAWL_ID", crawl_id, priority="cmdline")
    root = root_path(data_dir)
    # Scrapy's JOBDIR is a local folder: none for an object store (--resume rebuilds the
    # queue from the rows written there).
    jobdir = str(root / ".jobs" / crawl_id) if isinstance(root, Path) else None
    settings.set("JOBDIR", jobdir, priority="cmdline")
    if max_depth is not None:
        # Not Scrapy's DEPTH_LIMIT, where 0 means no limit: here 0 means the seeds only.
        settings.set("LINKCRAWL_MAX_DEPTH", max_depth, priority="cmdline")
    if max_pages is not None:
        settings.set("LINKCRAWL_MAX_PAGES_PER_DOMAIN", max_pages, priority="cmdline")
    if concurrency is not None:
        settings.set("CONCURRENT_REQUESTS", concurrency, priority="cmdline")
    if same_host:
        settings.set("LINKCRAWL_SAME_HOST", True, priority="cmdline")
    if progress_seconds:
        settings.set("LINKCRAWL_PROGRESS_SECONDS", progress_seconds, priority="cmdline")
    if since:
        # An incremental crawl: the finished crawl it builds on (linkcrawl.crawl.incremental).
        settings.set("LINKCRAWL_SINCE", since, priority="cmdline")
    for name, value in (overrides or {}).items():
        settings.set(name, value, priority="cmdline")
    if manifest_fields:
        settings.set("LINKCRAWL_MANIFEST_FIELDS", dict(manifest_fields), priority="cmdline")
    return settings


def run_scrapy(
    settings: Settings,
    seeds: list[str],
    crawl_id: str,
    *,
    spider: type[LinkSpider] = LinkSpider,
    **spider_args: Any,
) -> str | None:
    """Run the link spider (or ``spider``, a subclass of it, with ``spider_args``: an
    archive import) in this process; returns Scrapy's finish reason.

    SIGINT and SIGTERM are handled here, not by Scrapy: the first stops the crawl
    gracefully (the requests in flight finish, every row is written) and is acknowledged at
    once on stderr with what is still to be written; the second writes the rows fetched so
    far, marks the crawl interrupted and stops the process without waiting (Scrapy's own
    second-signal handler would stop the reactor with the buffered rows unwritten).
    """
    from linkcrawl.crawl.pipeline import stop_now, stop_requested

    # A signal during the seconds of start-up, before the reactor runs, would raise
    # KeyboardInterrupt in the middle of an import (or kill the process): it is held, and
    # acted on once the reactor runs.
    held: list[int] = []
    received: list[int] = []
    forced: list[str] = []
    reactor: Any = None

    def on_signal(signum: int, _frame: Any) -> None:
        # Only reactor.callFromThread here: the interrupted code may be anywhere.
        if reactor is None or not reactor.running:
            held.append(signum)
        else:
            reactor.callFromThread(act, signum)

    def act(signum: int) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            answers = crawler.signals.send_catch_log(signal=stop_requested, signame=name)
            if not any(answer for _, answer in answers):
                again = "Ctrl-C" if signum == signal.SIGINT else name
                line = f"stopping: finishing the requests in flight ({again} again to stop now)"
                print(line, file=sys.stderr, flush=True)
            stopping = process.stop()
            stopping.addBoth(lambda _: stop_reactor())
        elif len(received) == 2:
            crawler.signals.send_catch_log(signal=stop_now)
            forced.append("forced-shutdown")
            stop_reactor()

    def stop_reactor() -> None:
        with contextlib.suppress(RuntimeError):  # already stopping
            reactor.stop()

    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, on_signal) for sig in stop_signals}
    try:
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(spider)
        process.crawl(crawler, seeds=seeds, crawl_id=crawl_id, **spider_args)
        from twisted.internet import reactor as installed  # the one CrawlerProcess installed

        reactor = installed

        def act_on_held() -> None:
            try:
                started = crawler.engine.running
            except RuntimeError:  # Scrapy's "not set yet"
                started = False
            if held and not started and crawler.crawling:
                # A graceful stop before the engine runs would not stop it: wait for it.
                reactor.callLater(0.05, act_on_held)
                return
            for signum in held:
                act(signum)
            held.clear()

        reactor.callWhenRunning(act_on_held)
        process.start(install_signal_handlers=False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if forced:
        return forced[0]
    if not crawler.stats:
        return None
    error = crawler.stats.get_value("linkcrawl/write_error")
    root = settings.get("LINKCRAWL_DATA_DIR") or "data"
    if error and not manifest_path(root, crawl_id).is_file():
        raise LinkcrawlError(
            f"cannot write to {root} ({error}): nothing of crawl {crawl_id} written"
        )
    return crawler.stats.get_value("finish_reason")
