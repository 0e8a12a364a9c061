"""The Parquet pipeline: buffers page items in columns and writes edges and pages part files
(and sitemaps part files of the sitemap entries, linkcrawl.crawl.sitemaps).

Rows are flushed as a part file every ``LINKCRAWL_FLUSH_ROWS`` edge (or page) rows or every
``LINKCRAWL_FLUSH_SECONDS`` seconds, whichever comes first, so a long crawl writes steadily
and a crash loses at most the batch in flight. The first part is written
``LINKCRAWL_FIRST_FLUSH_SECONDS`` after the first page, and the interval then doubles up to
``LINKCRAWL_FLUSH_SECONDS``: a crawl killed in its first minute still leaves a dataset that
pandas, DuckDB and polars read. An edges part and the pages part written
with it share a number, and the pages part is written second: a pages row on disk means
its edges are on disk too. The crawl manifest is written when the spider opens (status
``running``), after every flush (counts of what is on disk), and when it closes
(``finished``, or ``interrupted`` after SIGINT/SIGTERM).

The first part that cannot be written (a full disk) stops the crawl (close reason
``write-failed``): fetching pages whose rows cannot be kept would only lose them, and an
edges part whose pages part failed is removed, so that parts stay paired.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scrapy import signals

from linkcrawl.crawl.items import PageItem
from linkcrawl.crawl.render import render_summary
from linkcrawl.crawl.sitemaps import SitemapItem
from linkcrawl.dataset.layout import manifest_path, utcnow
from linkcrawl.dataset.manifest import build_manifest, read_manifest, write_manifest
from linkcrawl.dataset.reader import Dataset
from linkcrawl.dataset.schemas import EDGES_SCHEMA, PAGES_SCHEMA, SITEMAPS_SCHEMA, TIMESTAMP
from linkcrawl.dataset.write import PartWriter, clean_staging, drop_unpaired_parts
from linkcrawl.extract.urls import registered_domain

# Settings recorded in the manifest: enough to tell how a crawl was run.
_RECORDED_SETTINGS = (
    "USER_AGENT",
    "ROBOTSTXT_OBEY",
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "DOWNLOAD_DELAY",
    "AUTOTHROTTLE_ENABLED",
    "DOWNLOAD_TIMEOUT",
    "DOWNLOAD_MAXSIZE",
    "LINKCRAWL_MAX_DEPTH",
    "URLLENGTH_LIMIT",
    "LINKCRAWL_MAX_PAGES_PER_DOMAIN",
    "LINKCRAWL_SAME_HOST",
    "LINKCRAWL_SITEMAPS",
    "LINKCRAWL_RENDER",
    "LINKCRAWL_RENDER_PATTERN",
    "LINKCRAWL_REVISIT",
    "LINKCRAWL_FLUSH_ROWS",
    "LINKCRAWL_FLUSH_SECONDS",
    "LINKCRAWL_FIRST_FLUSH_SECONDS",
)
# Close reasons after which the crawl's queue was not empty: it can be resumed.
_INTERRUPTED_REASONS = ("shutdown", "cancelled", "forced-shutdown", "write-failed")
# Scrapy signals that linkcrawl.crawl.runner.run_scrapy, which owns the process's SIGINT and
# SIGTERM handlers, sends to the pipeline: the first stop signal (say at once what a
# graceful stop will still write) and the second (write the rows fetched so far, now).
stop_requested = object()
stop_now = object()
# The finish reason (then ": <why>") of a worker of a Redis crawl that lost its Redis.
REDIS_LOST = "redis unreachable"
# The per-page columns copied from the item as they are (outlinks is computed).
_PAGE_FIELDS = tuple(f.name for f in PAGES_SCHEMA if f.name != "outlinks")
# The per-link columns copied from the item's parallel lists.
_LINK_FIELDS = ("target", "anchor", "rel", "follow", "position", "kind", "target_domain")
# The sitemaps table's columns copied from a SitemapItem's parallel lists.
_SITEMAP_LISTS = ("url", "domain", "lastmod", "changefreq", "priority")


def _sitemap_columns() -> dict[str, list[Any]]:
    return {f.name: [] for f in SITEMAPS_SCHEMA}


class ColumnBuffer:
    """One batch of pages and their links, held as Python lists, one per column.

    Appending a page costs a handful of list appends and seven ``extend`` calls; the
    columns that repeat a page value for each of its links (source, source_domain,
    discovered_at), and ordinal and internal, are built once per batch with numpy and
    Arrow compute, not per link in Python.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.pages: dict[str, list[Any]] = {name: [] for name in _PAGE_FIELDS}
        self.outlinks: list[int] = []
        self.links: dict[str, list[Any]] = {name: [] for name in _LINK_FIELDS}
        self.domains: list[str] = []
        self.page_rows = 0
        self.edge_rows = 0
        # Of those, the rows built from the pages' link lists, and their count per page.
        self.list_rows = 0
        self.list_counts: list[int] = []
        # Links are "html" unless a page says otherwise: the per-link list is kept only
        # from the first page that gives one (rows before it are "html").
        self.origin: list[str] = []
        self.origin_from: int | None = None
        # Edges rows carried forward from an earlier crawl (linkcrawl.crawl.incremental),
        # one Arrow table per page, written after the rows built from the lists.
        self.carried: list[pa.Table] = []

    def add(self, item: PageItem) -> int:
        """Buffer one page and its links; returns its number of links.

        Raises ValueError, buffering nothing, when the link lists differ in length.
        """
        if item.carried is not None:
            return self._add_carried(item)
        n = len(item.target)
        lists = [getattr(item, name) for name in _LINK_FIELDS]
        if any(len(values) != n for values in lists):
            lengths = ", ".join(f"{k} {len(v)}" for k, v in zip(_LINK_FIELDS, lists, strict=True))
            raise ValueError(f"page {item.url}: link lists differ in length ({lengths})")
        origin = item.origin
        if origin and len(origin) != n:
            raise ValueError(f"page {item.url}: link lists differ in length (origin {len(origin)})")
        pages = self.pages
        for name in _PAGE_FIELDS:
            pages[name].append(getattr(item, name))
        self.domains.append(item.domain)
        self.outlinks.append(n)
        self.list_counts.append(n)
        self.page_rows += 1
        if n:
            for column, values in zip(self.links.values(), lists, strict=True):
                column.extend(values)
            if origin:
                if self.origin_from is None:
                    self.origin_from = self.list_rows
                self.origin.extend(origin)
            elif self.origin_from is not None:
                self.origin.extend(["html"] * n)
            self.list_rows += n
            self.edge_rows += n
        return n

    def _add_carried(self, item: PageItem) -> int:
        """Buffer a page whose edges rows come as they are from an earlier crawl."""
        n = item.carried.num_rows
        pages = self.pages
        for name in _PAGE_FIELDS:
            pages[name].append(getattr(item, name))
        self.domains.append(item.domain)
        self.outlinks.append(n)
        self.list_counts.append(0)
        self.page_rows += 1
        if n:
            self.carried.append(item.carried)
            self.edge_rows += n
        return n

    def pages_table(self) -> pa.Table:
        cols = self.pages
        arrays = []
        for field in PAGES_SCHEMA:
            if field.name == "outlinks":
                arrays.append(pa.array(self.outlinks, pa.int32()))
            elif field.type == TIMESTAMP:
                arrays.append(pa.array(cols[field.name], pa.int64()).cast(TIMESTAMP))
            else:
                arrays.append(pa.array(cols[field.name], field.type))
        return pa.Table.from_arrays(arrays, schema=PAGES_SCHEMA)

    def _origin(self) -> pa.Array:
        html = pa.scalar("html", pa.string())
        if self.origin_from is None:
            return pa.repeat(html, self.list_rows)
        head = pa.repeat(html, self.origin_from)
        return pa.concat_arrays([head, pa.array(self.origin, pa.string())])

    def edges_table(self) -> pa.Table:
        built = self._built_edges()
        if not self.carried:
            return built
        # Each carried page's rows stay one run, as they were in the earlier crawl.
        return pa.concat_tables([built, *self.carried])

    def _built_edges(self) -> pa.Table:
        counts = np.asarray(self.list_counts, dtype=np.int64)
        # Row i of the batch is link number (i - first row of its page) of page page_of[i].
        page_of = np.repeat(np.arange(len(counts)), counts)
        first_row = np.cumsum(counts) - counts
        ordinal = np.arange(self.list_rows, dtype=np.int64) - first_row[page_of]
        take = pa.array(page_of)
        source = pa.array(self.pages["url"], pa.string()).take(take)
        source_domain = pa.array(self.domains, pa.string()).take(take)
        fetched = np.asarray(self.pages["fetched_at"], dtype=np.int64)[page_of]
        links = self.links
        target_domain = pa.array(links["target_domain"], pa.string())
        columns = {
            "source": source,
            "target": pa.array(links["target"], pa.string()),
            "anchor": pa.array(links["anchor"], pa.string()),
            "rel": pa.array(links["rel"], pa.string()),
            "follow": pa.array(links["follow"], pa.bool_()),
            "position": pa.array(links["position"], pa.string()),
            "kind": pa.array(links["kind"], pa.string()),
            "ordinal": pa.array(ordinal.astype(np.int32)),
            "source_domain": source_domain,
            "target_domain": target_domain,
            "internal": pc.equal(source_domain, target_domain),
            "discovered_at": pa.array(fetched).cast(TIMESTAMP),
            "origin": self._origin(),
        }
        return pa.Table.from_arrays([columns[f.name] for f in EDGES_SCHEMA], schema=EDGES_SCHEMA)


class ParquetPipeline:
    """Writes :class:`~linkcrawl.crawl.items.PageItem` s to the dataset as part files.

    Settings: ``LINKCRAWL_DATA_DIR``, ``LINKCRAWL_FLUSH_ROWS``, ``LINKCRAWL_FLUSH_SECONDS``,
    ``LINKCRAWL_FIRST_FLUSH_SECONDS``, ``LINKCRAWL_PROGRESS_SECONDS`` (progress on a
    terminal), ``LINKCRAWL_PROGRESS_JOURNAL_SECONDS`` (progress when stderr is not a
    terminal), ``LINKCRAWL_WORKER`` (the name of this process when several processes write
    one crawl: it goes into the part file names).
    """

    def __init__(self, crawler: Any) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.root = settings.get("LINKCRAWL_DATA_DIR") or "data"
        self.flush_rows = max(1, settings.getint("LINKCRAWL_FLUSH_ROWS", 65_536))
        self.flush_seconds = settings.getfloat("LINKCRAWL_FLUSH_SECONDS", 60.0)
        first = settings.getfloat("LINKCRAWL_FIRST_FLUSH_SECONDS", 2.0)
        if self.flush_seconds > 0 and first > 0:
            first = min(first, self.flush_seconds)
        else:
            first = self.flush_seconds
        # Seconds from the last flush (or the first page) to the next timed flush.
        self._flush_interval = first
        self.progress_seconds = settings.getfloat("LINKCRAWL_PROGRESS_SECONDS", 0.0)
        # On a terminal the progress line is rewritten in place; in a journal (a file, a
        # pipe, systemd) a line every few seconds would drown everything else.
        # Scrapy's own log lines (-v) would land in the middle of a line rewritten in place.
        verbose = str(settings.get("LOG_LEVEL", "")).upper() in ("DEBUG", "INFO")
        self.tty = _isatty(sys.stderr) and not verbose
        if self.progress_seconds and not self.tty:
            self.progress_seconds = settings.getfloat("LINKCRAWL_PROGRESS_JOURNAL_SECONDS", 30.0)
        self._line_open = False  # an in-place progress line is on the terminal
        self.worker = settings.get("LINKCRAWL_WORKER") or None
        # Off in the worker processes of a multi-worker crawl: their parent owns the manifest.
        self.owns_manifest = settings.getbool("LINKCRAWL_WRITE_MANIFEST", True)
        self.settings = settings
        self.buffer = ColumnBuffer()
        self.counts = {"pages": 0, "edges": 0, "errors": 0, "sitemaps": 0}
        self.previous_counts = {"pages": 0, "edges": 0, "errors": 0, "sitemaps": 0}
        # The sitemaps table's rows of this batch (linkcrawl.crawl.sitemaps), one list per
        # column; on resume, the sitemap files whose rows are on disk already.
        self.sitemap_rows = _sitemap_columns()
        self.sitemaps_done: set[str] | None = None
        # Totals whose rows are on disk, set by the writer thread after each part pair.
        self.on_disk = dict(self.previous_counts)
        # Pages fetched after a failed write (or a forced stop), whose rows were not kept.
        self.lost_pages = 0
        # On resume: URLs whose rows are on disk or in the buffer. A resumed crawl may fetch
        # a page twice (Scrapy's queue state is older or newer than the dataset); its rows
        # are written once.
        self.done: set[str] | None = None
        self.manifest: dict[str, Any] = {}
        self._last_flush = self._last_progress = self._started = time.monotonic()
        self._first_item: float | None = None
        self._timer: Any = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="linkcrawl-parquet")
        self.frontier: Any = None
        self._pending: Future[None] | None = None
        self.write_error: str | None = None
        # Set once the crawl's final status is in the manifest (closed, or stopped at once).
        self.stopped = False
        self.budget = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> ParquetPipeline:
        pipeline = cls(crawler)
        # The close reason (finished, shutdown, ...) is known only to this signal, which
        # Scrapy sends after the pipelines' close_spider.
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(pipeline.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(pipeline.stop_requested, signal=stop_requested)
        crawler.signals.connect(pipeline.stop_now, signal=stop_now)
        return pipeline

    # -- lifecycle --------------------------------------------------------------------------

    def open_spider(self, spider: Any = None) -> None:
        spider = spider or self.crawler.spider
        self.crawl_id = spider.crawl_id
        clean_staging(self.root)
        # One worker of a crawl shared through Redis (linkcrawl.crawl.frontier.redis): the manifest
        # is the whole crawl's, merged by the frontier; this process keeps its own section.
        self.frontier = getattr(spider, "frontier", None)
        if self.frontier is not None:
            self.frontier.pipeline = self
        path = manifest_path(self.root, self.crawl_id)
        # "is None", not "not": scrapy-redis's Scheduler has a __len__, so a worker joining
        # while the shared queue was empty read the crawl's manifest as its own, resumed.
        resuming = path.is_file() and self.frontier is None
        previous = read_manifest(path).fields if resuming else {}
        if previous:
            # Resuming: what is on disk is the truth, not the counts of the last manifest.
            drop_unpaired_parts(self.root, self.crawl_id, self.worker)
            dataset = Dataset(self.root)
            self.previous_counts = dataset.counts(self.crawl_id)
            self.on_disk = dict(self.previous_counts)
            urls = dataset.arrow("pages", self.crawl_id).to_table(columns=["url"])["url"]
            self.done = set(urls.to_pylist())
            # A resumed crawl reads its sitemaps again: the rows of each file are one part's
            # (one item), so a file on disk is on disk whole and is not written twice.
            files = dataset.arrow("sitemaps", self.crawl_id).to_table(columns=["sitemap"])
            self.sitemaps_done = set(pc.unique(files["sitemap"]).to_pylist())
        self.edge_writer = PartWriter(self.root, "edges", self.crawl_id, EDGES_SCHEMA, self.worker)
        self.page_writer = PartWriter(self.root, "pages", self.crawl_id, PAGES_SCHEMA, self.worker)
        self.sitemap_writer = PartWriter(
            self.root, "sitemaps", self.crawl_id, SITEMAPS_SCHEMA, self.worker
        )
        # An edges part and its pages part share a number; pages-only parts skip one in edges.
        self.next_part = max(
            self.edge_writer.next_part, self.page_writer.next_part, self.sitemap_writer.next_part
        )
        self.budget = _page_budget(spider, self.settings)
        self.manifest = build_manifest(
            self.crawl_id,
            base=previous,
            opened_at=utcnow(),
            status="running",
            seeds=list(spider.seeds),
            scope=sorted(getattr(spider, "scope", ())),
            settings=recorded_settings(self.settings),
            finished_at=None,
            finish_reason=None,
            counts=dict(self.previous_counts),
            # The crawl's options as linkcrawl.crawl.runner recorded them (a resume restores them).
            **self.settings.getdict("LINKCRAWL_MANIFEST_FIELDS"),
        )
        try:
            self._write_manifest()
        except OSError as exc:
            # A full disk at start: one line, and spider_opened closes the crawl at once
            # (the engine cannot be closed while it opens).
            self.write_error = f"{type(exc).__name__}: {_one_line(exc)}"
            self._note_write_error()
            self.manifest = {}  # none on disk: nothing to mark at the end
        if self.flush_seconds > 0 or self.progress_seconds > 0:
            # A slow crawl yields few items; the timer flushes (and reports) on time even
            # between them.
            from twisted.internet import task  # here: no reactor import at module load

            periods = [p for p in (self._flush_interval, self.progress_seconds) if p > 0]
            self._timer = task.LoopingCall(self._flush_if_due)
            self._timer.start(min([*periods, 1.0]), now=False)

    def spider_opened(self, spider: Any) -> None:
        if self.write_error is not None:
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(self.crawler.engine.close_spider_async(reason="write-failed"))

    def close_spider(self, spider: Any = None) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        try:
            self.flush(wait=True)
        finally:
            self._writer.shutdown(wait=True)

    def spider_closed(self, spider: Any, reason: str) -> None:
        """Mark the manifest: ``finished``, or ``interrupted`` when the crawl was shut down
        (SIGINT, SIGTERM) or failed before its queue was empty."""
        if not self.manifest or self.stopped:
            return  # open_spider failed, or stop_now already marked the crawl
        self._finish(reason)

    def _finish(self, reason: str) -> None:
        self.stopped = True
        counts = self._total_counts()
        if self.write_error:
            reason = f"error writing parts: {self.write_error}"
            # Some rows never reached disk: count what did.
            try:
                counts = Dataset(self.root).counts(self.crawl_id)
            except Exception:  # an unreadable partition: the last pair known written
                counts = dict(self.on_disk)
        elif self.lost_pages:
            counts = dict(self.on_disk)
        interrupted = reason in _INTERRUPTED_REASONS or reason.startswith(("error", REDIS_LOST))
        render = self.manifest.get("render")
        if self.settings.get("LINKCRAWL_RENDER", "never") != "never":
            # What rendering did (linkcrawl.crawl.render); a resumed crawl's run counts its own.
            mode = self.settings.get("LINKCRAWL_RENDER")
            render = {"mode": mode, **render_summary(self.crawler.stats.get_stats())}
        self.manifest = build_manifest(
            self.crawl_id,
            base=self.manifest,
            status="interrupted" if interrupted else "finished",
            finish_reason=reason,
            finished_at=utcnow(),
            counts=counts,
            # A resumed crawl's skips add to those of its earlier runs.
            skipped=add_skipped(
                self.manifest.get("skipped"), skipped_counts(self.crawler.stats.get_stats())
            ),
            render=render,
        )
        if not self.owns_manifest and self.frontier is None:
            self._hand_over_skipped()
        try:
            self._write_manifest()
        except OSError as exc:
            self._say(
                f"crawl {self.crawl_id}: cannot mark the crawl {self.manifest['status']} in "
                f"its manifest ({_one_line(exc)})"
            )
        if self.progress_seconds:
            self._print_progress(final=True, reason=None if not interrupted else reason)

    # -- stopping (sent by linkcrawl.crawl.runner.run_scrapy) -------------------------------------

    def stop_requested(self, signame: str = "SIGINT") -> str:
        """Say, at once, what a graceful stop will still do; returns the line printed."""
        stats = self.crawler.stats
        in_flight = 0
        if stats is not None:
            in_flight = max(
                0,
                (stats.get_value("downloader/request_count") or 0)
                - (stats.get_value("downloader/response_count") or 0)
                - (stats.get_value("downloader/exception_count") or 0),
            )
        total = self._total_counts()
        pages = total["pages"] - self.on_disk["pages"]
        links = total["edges"] - self.on_disk["edges"]
        again = "Ctrl-C" if signame == "SIGINT" else signame
        line = (
            f"stopping: finishing {in_flight:,} request{'s' * (in_flight != 1)} in flight, "
            f"then writing {pages:,} pages / {links:,} links to {self.root} ({again} again "
            "to stop now, rows fetched so far are still written)"
        )
        self._say(line)
        return line

    def stop_now(self) -> str:
        """Write every row fetched so far, synchronously, and mark the crawl interrupted:
        the process stops right after, without Scrapy's graceful close."""
        if not self.manifest or self.stopped:
            return ""
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self.flush(wait=True)
        self._finish("forced-shutdown")
        disk = self.on_disk
        line = (
            f"stopped: {disk['pages']:,} pages / {disk['edges']:,} links of crawl "
            f"{self.crawl_id} on disk in {self.root}"
        )
        self._say(line)
        return line

    # -- items ------------------------------------------------------------------------------

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, SitemapItem):
            return self._add_sitemap(item)
        if not isinstance(item, PageItem):
            return item
        if self.write_error is not None or self.stopped:
            # Its rows cannot be kept; the crawl is stopping.
            self.lost_pages += 1
            return item
        if self.done is not None:
            if item.url in self.done:
                return item
            self.done.add(item.url)
        if self._first_item is None:
            # The first timed flush counts from the first page, not from start-up.
            self._first_item = self._last_flush = time.monotonic()
        n = self.buffer.add(item)
        self.counts["pages"] += 1
        self.counts["edges"] += n
        if item.error is not None or (item.status is not None and item.status >= 400):
            self.counts["errors"] += 1
        if self.buffer.edge_rows >= self.flush_rows or self.buffer.page_rows >= self.flush_rows:
            self.flush()
        elif self.progress_seconds or self.flush_seconds:
            self._flush_if_due()
        return item

    def _add_sitemap(self, item: SitemapItem) -> SitemapItem:
        """Buffer the rows of one sitemap file (the batch is flushed with the pages)."""
        if self.write_error is not None or self.stopped:
            return item
        if self.sitemaps_done is not None:
            if item.sitemap in self.sitemaps_done:
                return item
            self.sitemaps_done.add(item.sitemap)
        if self._first_item is None:
            self._first_item = self._last_flush = time.monotonic()
        n = len(item.url)
        rows = self.sitemap_rows
        rows["sitemap"].extend([item.sitemap] * n)
        rows["fetched_at"].extend([item.fetched_at] * n)
        for name in _SITEMAP_LISTS:
            rows[name].extend(getattr(item, name))
        self.counts["sitemaps"] += n
        if self._sitemap_row_count() >= self.flush_rows:
            self.flush()
        return item

    def _sitemap_row_count(self) -> int:
        return len(self.sitemap_rows["url"])

    def _sitemaps_table(self) -> pa.Table | None:
        rows, self.sitemap_rows = self.sitemap_rows, _sitemap_columns()
        if not rows["url"]:
            return None
        arrays = [
            pa.array(rows[f.name], pa.int64()).cast(TIMESTAMP)
            if f.type == TIMESTAMP
            else pa.array(rows[f.name], f.type)
            for f in SITEMAPS_SCHEMA
        ]
        return pa.Table.from_arrays(arrays, schema=SITEMAPS_SCHEMA)

    def _flush_if_due(self) -> None:
        now = time.monotonic()
        if (
            self._flush_interval
            and (self.buffer.page_rows or self._sitemap_row_count())
            and now - self._last_flush >= self._flush_interval
        ):
            self.flush()
            # Back off from the early first part to the normal interval.
            self._flush_interval = min(self._flush_interval * 2, self.flush_seconds)
        if self.progress_seconds and now - self._last_progress >= self.progress_seconds:
            self._print_progress()

    def flush(self, wait: bool = False) -> None:
        """Hand the buffered rows to the writer thread as one edges and one pages part file
        of one number; with ``wait``, return once they are on disk.

        The Arrow tables are built here; encoding, compression, fsync and rename run in
        the writer thread (pyarrow releases the GIL), so the crawl goes on meanwhile. One
        batch is in flight at most: a second flush first waits for the first. After a
        failed write nothing more is written: the buffered rows are dropped.
        """
        buffer = self.buffer
        if self.write_error is not None:
            self.sitemap_rows = _sitemap_columns()
        if buffer.page_rows and self.write_error is not None:
            self.lost_pages += buffer.page_rows
            buffer.clear()
        elif buffer.page_rows or self._sitemap_row_count():
            sitemaps = self._sitemaps_table()
            edges = buffer.edges_table() if buffer.edge_rows else None
            pages = buffer.pages_table()
            urls = buffer.pages["url"]
            buffer.clear()
            part, self.next_part = self.next_part, self.next_part + 1
            counts = self._total_counts()
            self.drain()
            if self.write_error is not None:
                self.lost_pages += pages.num_rows  # the batch in flight failed
            else:
                if self.frontier is not None:
                    # Before the write: a worker that dies while writing leaves its batch's
                    # requests to the others, unless the pages part made it to disk.
                    self.frontier.batch_started(part, urls)
                pending = self._writer.submit(
                    self._write_batch, edges, pages, part, counts, sitemaps
                )
                self._pending = pending
                pending.add_done_callback(self._batch_done)
        if wait:
            self.drain()
        self._last_flush = time.monotonic()

    def drain(self) -> None:
        """Wait until the batch in flight is on disk; a failed write stops the crawl."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except Exception as exc:
            self._write_failed(exc)

    def _note_write_error(self) -> None:
        # For linkcrawl.crawl.runner.run_scrapy, and for anyone reading the crawl's stats.
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("linkcrawl/write_error", self.write_error)

    def _batch_done(self, future: Future[None]) -> None:
        # In the writer thread: a failure stops the crawl now, not at the next flush.
        if future.cancelled() or future.exception() is None:
            return
        # Only a reactor already installed (importing it here would install one).
        reactor = sys.modules.get("twisted.internet.reactor")
        if reactor is not None and reactor.running:
            reactor.callFromThread(self._write_failed, future.exception())

    def _write_failed(self, exc: BaseException) -> None:
        """Stop the crawl at the first failed write, with one line that says why."""
        if self.write_error is not None:
            return
        # Its rows are lost: the crawl must not read finished, and a resume fetches
        # those pages again (they are not on disk).
        self.write_error = f"{type(exc).__name__}: {_one_line(exc)}"
        self._note_write_error()
        self._say(
            f"crawl {self.crawl_id}: cannot write part files to {self.root} "
            f"({self.write_error}); stopping the crawl"
        )
        try:
            engine = self.crawler.engine
        except RuntimeError:  # Scrapy's "not set yet": no crawl is running this pipeline
            engine = None
        if engine is not None and getattr(engine, "spider", None) is not None:
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(engine.close_spider_async(reason="write-failed"))

    def _write_batch(
        self,
        edges: pa.Table | None,
        pages: pa.Table,
        part: int,
        counts: dict[str, int],
        sitemaps: pa.Table | None = None,
    ) -> None:
        # Edges first: a pages row on disk means its edges are on disk too.
        edges_written = False
        if sitemaps is not None:
            # Unpaired: a sitemap file's rows are one part, on disk whole or not at all,
            # and a resumed crawl writes a file's rows only if none are on disk.
            self.sitemap_writer.write(sitemaps, part=part)
        try:
            if edges is not None:
                edges_written = self.edge_writer.write(edges, part=part) is not None
            self.page_writer.write(pages, part=part)
        except BaseException:
            if edges_written:
                # Its pages part is not on disk: the pair is both or neither.
                try:
                    drop_unpaired_parts(self.root, self.crawl_id, self.worker)
                except OSError:
                    pass  # the next start (resume) drops it before anything else
            raise
        self.on_disk = counts
        if self.frontier is not None:
            self.frontier.batch_written(part)
        # The manifest counts what is on disk, batch by batch.
        self.manifest["counts"] = counts
        self._write_manifest()

    def _hand_over_skipped(self) -> None:
        """A worker of a ``--workers`` crawl writes no manifest: its parent adds up the
        workers' skips from this file in each worker's JOBDIR."""
        jobdir = self.settings.get("JOBDIR")
        if not jobdir:
            return
        path = Path(jobdir) / SKIPPED_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.manifest["skipped"]), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            self._say(f"crawl {self.crawl_id}: cannot record its skips ({_one_line(exc)})")

    def _write_manifest(self) -> None:
        if self.frontier is not None:
            self.frontier.write_manifest(self.manifest)
        elif self.owns_manifest:
            write_manifest(self.root, self.manifest)

    def _total_counts(self) -> dict[str, int]:
        return {k: self.previous_counts.get(k, 0) + v for k, v in self.counts.items()}

    # -- what a person reads -----------------------------------------------------------------

    def _say(self, line: str) -> None:
        """One line on stderr, below an in-place progress line if one is shown."""
        if self._line_open:
            sys.stderr.write("\n")
            self._line_open = False
        print(line, file=sys.stderr, flush=True)

    def progress_line(self) -> str:
        """Pages, links, queue, errors, rate and, with a page budget, the time left."""
        now = time.monotonic()
        c = self.counts
        elapsed = now - (self._first_item or self._started)
        rate = c["pages"] / elapsed if elapsed > 0 else 0.0
        parts = [f"{c['pages']:,} pages", f"{c['edges']:,} links"]
        stats = self.crawler.stats
        if stats is not None:
            queued = (stats.get_value("scheduler/enqueued") or 0) - (
                stats.get_value("scheduler/dequeued") or 0
            )
            parts.append(f"queue {max(0, queued):,}")
        parts += [f"{c['errors']:,} errors", f"{rate:,.1f} pages/s"]
        if self.budget:
            done = self._total_counts()["pages"]
            left = max(0, self.budget - done)
            eta = _duration(left / rate) if rate > 0 else "?"
            parts.append(f"{done:,}/{self.budget:,} pages budget, ETA {eta}")
        who = f"crawl {self.crawl_id}" + (f" {self.worker}" if self.worker else "")
        return f"{who}: " + ", ".join(parts)

    def _print_progress(self, final: bool = False, reason: str | None = None) -> None:
        """The progress line; ``final`` with the ``reason`` of an interrupted crawl."""
        self._last_progress = time.monotonic()
        line = self.progress_line()
        if final:
            # "(done)" only for a crawl that finished: a stopped one says why it stopped.
            line += f" (stopped: {reason})" if reason else " (done)"
        if self.tty:
            sys.stderr.write(f"\r{line}\x1b[K" + ("\n" if final else ""))
            sys.stderr.flush()
            self._line_open = not final
        else:
            print(line, file=sys.stderr, flush=True)


def _page_budget(spider: Any, settings: Any) -> int:
    """Pages this process fetches at most (``--max-pages`` times its domains); 0: none."""
    per_domain = settings.getint("LINKCRAWL_MAX_PAGES_PER_DOMAIN", 0)
    if per_domain <= 0 or settings.get("LINKCRAWL_REDIS_URL"):
        return 0
    owners = settings.getdict("LINKCRAWL_DOMAIN_OWNERS")
    worker = settings.get("LINKCRAWL_WORKER") or None
    if owners and worker:
        keys = {k for k, owner in owners.items() if owner == worker}
    else:
        keys = set(getattr(spider, "scope", ()))
    return per_domain * len({registered_domain(k) for k in keys})


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def skipped_counts(stats: dict[str, Any]) -> dict[str, int]:
    """What the crawl did not request, by reason: the spider's ``linkcrawl/skipped/<reason>``
    stats (URLs, except ``max-depth``, ``target-too-long`` and ``links-capped``: links)."""
    prefix = "linkcrawl/skipped/"
    return {
        key.removeprefix(prefix): int(value)
        for key, value in sorted(stats.items())
        if key.startswith(prefix) and value
    }


def add_skipped(*counts: dict[str, int] | None) -> dict[str, int]:
    """Skip counts by reason, added up (``None`` counts as none)."""
    total: dict[str, int] = {}
    for each in counts:
        for reason, n in (each or {}).items():
            total[reason] = total.get(reason, 0) + int(n)
    return dict(sorted(total.items()))


# A --workers worker leaves its skips here, in its own JOBDIR, for the parent's manifest.
SKIPPED_FILE = "skipped.json"


def recorded_settings(settings: Any) -> dict[str, Any]:
    """The settings a manifest records of a crawl (``settings``): enough to tell how it ran."""
    return {name: settings.get(name) for name in _RECORDED_SETTINGS}
