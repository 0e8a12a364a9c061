"""The Parquet pipeline: buffers page items in columns and writes edges and pages part files.

Rows are flushed as a part file every ``LINKCRAWL_FLUSH_ROWS`` edge rows or every
``LINKCRAWL_FLUSH_SECONDS`` seconds, whichever comes first, so a long crawl writes steadily
and a crash loses at most the batch in flight. The crawl manifest is written when the
spider opens (status ``running``) and when it closes (``finished`` or ``interrupted``).
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import Any

import pyarrow as pa
from scrapy import signals

from linkcrawl import __version__
from linkcrawl.items import PageItem
from linkcrawl.storage import (
    EDGES_SCHEMA,
    PAGES_SCHEMA,
    PartWriter,
    clean_staging,
    manifest_path,
    read_manifest,
    utcnow,
    write_manifest,
)

_PAGE_COLUMNS = [f.name for f in PAGES_SCHEMA if f.name != "outlinks"]
# Settings recorded in the manifest: enough to tell how a crawl was run.
_RECORDED_SETTINGS = (
    "USER_AGENT", "ROBOTSTXT_OBEY", "CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN",
    "DOWNLOAD_DELAY", "AUTOTHROTTLE_ENABLED", "DOWNLOAD_TIMEOUT", "DOWNLOAD_MAXSIZE",
    "DEPTH_LIMIT", "URLLENGTH_LIMIT", "LINKCRAWL_MAX_PAGES_PER_DOMAIN", "LINKCRAWL_SAME_HOST",
)


class _Columns:
    """Column buffers for one table."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.clear()

    def clear(self) -> None:
        self.cols: dict[str, list[Any]] = {n: [] for n in self.names}
        self.rows = 0

    def to_table(self, schema: pa.Schema) -> pa.Table:
        arrays = []
        for f in schema:
            values = self.cols[f.name]
            if pa.types.is_timestamp(f.type):
                arrays.append(pa.array(values, pa.int64()).cast(f.type))
            else:
                arrays.append(pa.array(values, f.type))
        return pa.Table.from_arrays(arrays, schema=schema)


class ParquetPipeline:
    """Writes :class:`~linkcrawl.items.PageItem` s to the dataset as part files."""

    def __init__(self, crawler: Any) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.root = settings.get("LINKCRAWL_DATA_DIR") or "data"
        self.flush_rows = settings.getint("LINKCRAWL_FLUSH_ROWS", 65_536)
        self.flush_seconds = settings.getfloat("LINKCRAWL_FLUSH_SECONDS", 60.0)
        self.progress_seconds = settings.getfloat("LINKCRAWL_PROGRESS_SECONDS", 0.0)
        self.worker = settings.get("LINKCRAWL_WORKER") or None
        self.settings = settings
        self.edges = _Columns([f.name for f in EDGES_SCHEMA])
        self.pages = _Columns([f.name for f in PAGES_SCHEMA])
        self.counts = {"pages": 0, "edges": 0, "errors": 0}
        self._last_flush = self._last_progress = time.monotonic()
        self._started = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Any) -> ParquetPipeline:
        pipeline = cls(crawler)
        # The close reason (finished, shutdown, ...) is known only to this signal, which
        # Scrapy sends after the pipelines' close_spider.
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    # -- lifecycle --------------------------------------------------------------------------

    def open_spider(self, spider: Any = None) -> None:
        spider = spider or self.crawler.spider
        self.crawl_id = spider.crawl_id
        clean_staging(self.root, max_age_s=3600.0 if self.worker else 0.0)
        self.edge_writer = PartWriter(self.root, "edges", self.crawl_id, EDGES_SCHEMA,
                                      self.worker)
        self.page_writer = PartWriter(self.root, "pages", self.crawl_id, PAGES_SCHEMA,
                                      self.worker)
        path = manifest_path(self.root, self.crawl_id)
        previous = read_manifest(path).fields if path.is_file() else {}
        self.previous_counts = previous.get("counts", {"pages": 0, "edges": 0, "errors": 0})
        self.manifest = {
            **previous,
            "crawl_id": self.crawl_id,
            "status": "running",
            "seeds": list(spider.seeds),
            "scope": sorted(spider.scope),
            "settings": {k: self.settings.get(k) for k in _RECORDED_SETTINGS},
            "versions": _versions(),
            "started_at": previous.get("started_at") or utcnow().isoformat(),
            "resumed_at": [*previous.get("resumed_at", []), utcnow().isoformat()]
            if previous else [],
            "finished_at": None,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "counts": self.previous_counts,
            "schema_version": EDGES_SCHEMA.metadata[b"linkcrawl.schema_version"].decode(),
        }
        write_manifest(self.root, self.manifest)

    def close_spider(self, spider: Any = None) -> None:
        self.flush()

    def spider_closed(self, spider: Any, reason: str) -> None:
        """Mark the manifest: ``finished``, or ``interrupted`` when the crawl was shut down
        (SIGINT, SIGTERM) before its queue was empty."""
        interrupted = reason in ("shutdown", "cancelled") or reason.startswith("error")
        self.manifest.update(
            status="interrupted" if interrupted else "finished",
            finish_reason=reason,
            finished_at=utcnow().isoformat(),
            counts=self._total_counts(),
        )
        write_manifest(self.root, self.manifest)
        if self.progress_seconds:
            self._print_progress(final=True)

    # -- items ------------------------------------------------------------------------------

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, PageItem):
            return item
        pages = self.pages.cols
        for name in _PAGE_COLUMNS:
            pages[name].append(getattr(item, name))
        n = len(item.target)
        pages["outlinks"].append(n)
        self.pages.rows += 1
        self.counts["pages"] += 1
        if item.error is not None or (item.status is not None and item.status >= 400):
            self.counts["errors"] += 1
        if n:
            e = self.edges.cols
            e["source"].extend([item.url] * n)
            e["target"].extend(item.target)
            e["anchor"].extend(item.anchor)
            e["rel"].extend(item.rel)
            e["follow"].extend(item.follow)
            e["position"].extend(item.position)
            e["kind"].extend(item.kind)
            e["ordinal"].extend(range(n))
            e["source_domain"].extend([item.domain] * n)
            e["target_domain"].extend(item.target_domain)
            domain = item.domain
            e["internal"].extend([d == domain for d in item.target_domain])
            e["discovered_at"].extend([item.fetched_at] * n)
            self.edges.rows += n
            self.counts["edges"] += n
        now = time.monotonic()
        if self.edges.rows >= self.flush_rows or self.pages.rows >= self.flush_rows or (
            now - self._last_flush >= self.flush_seconds
        ):
            self.flush()
        if self.progress_seconds and now - self._last_progress >= self.progress_seconds:
            self._print_progress()
        return item

    def flush(self) -> None:
        """Write the buffered rows as one edges and one pages part file."""
        # Pages last: a page row on disk means its edges are on disk too.
        if self.edges.rows:
            self.edge_writer.write(self.edges.to_table(EDGES_SCHEMA))
            self.edges.clear()
        if self.pages.rows:
            self.page_writer.write(self.pages.to_table(PAGES_SCHEMA))
            self.pages.clear()
        self._last_flush = time.monotonic()
        self.manifest["counts"] = self._total_counts()
        write_manifest(self.root, self.manifest)

    def _total_counts(self) -> dict[str, int]:
        return {k: self.previous_counts.get(k, 0) + v for k, v in self.counts.items()}

    def _print_progress(self, final: bool = False) -> None:
        self._last_progress = time.monotonic()
        elapsed = max(self._last_progress - self._started, 1e-9)
        c = self.counts
        line = (f"crawl {self.crawl_id}: {c['pages']} pages, {c['edges']} edges, "
                f"{c['errors']} errors, {c['pages'] / elapsed:.1f} pages/s")
        print(line + (" (done)" if final else ""), file=sys.stderr, flush=True)


def _versions() -> dict[str, str]:
    import scrapy  # noqa: PLC0415 - only for the record

    return {
        "linkcrawl": __version__,
        "scrapy": scrapy.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
    }
