"""Running a crawl: settings, the JOBDIR that makes it resumable, and the Scrapy process."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from linkcrawl.spiders.links import LinkSpider, parse_seeds
from linkcrawl.storage import (
    LinkcrawlError,
    manifest_path,
    new_crawl_id,
    read_manifest,
    validate_crawl_id,
)

__all__ = ["crawl", "crawl_settings", "read_seeds_file"]


def read_seeds_file(path: Path | str) -> list[str]:
    """Seed URLs from a file: one a line, ``#`` starts a comment, blank lines skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LinkcrawlError(f"seeds file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LinkcrawlError(f"seeds file {path} cannot be read: {exc}") from None
    seeds = []
    for line in text.splitlines():
        line = line.partition("#")[0].strip()
        if line:
            seeds.append(line)
    return seeds


def crawl_settings(
    data_dir: Path | str,
    crawl_id: str,
    *,
    max_depth: int | None = None,
    max_pages: int | None = None,
    concurrency: int | None = None,
    same_host: bool = False,
    progress_seconds: float = 0.0,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """The Scrapy settings of one crawl: linkcrawl's defaults, then the options, then
    ``overrides`` (``-s NAME=VALUE``) last."""
    settings = Settings()
    settings.setmodule("linkcrawl.settings", priority="project")
    settings.set("LINKCRAWL_DATA_DIR", str(data_dir), priority="cmdline")
    settings.set("LINKCRAWL_CRAWL_ID", crawl_id, priority="cmdline")
    settings.set("JOBDIR", str(Path(data_dir) / ".jobs" / crawl_id), priority="cmdline")
    if max_depth is not None:
        settings.set("DEPTH_LIMIT", max_depth, priority="cmdline")
    if max_pages is not None:
        settings.set("LINKCRAWL_MAX_PAGES_PER_DOMAIN", max_pages, priority="cmdline")
    if concurrency is not None:
        settings.set("CONCURRENT_REQUESTS", concurrency, priority="cmdline")
    if same_host:
        settings.set("LINKCRAWL_SAME_HOST", True, priority="cmdline")
    if progress_seconds:
        settings.set("LINKCRAWL_PROGRESS_SECONDS", progress_seconds, priority="cmdline")
    for name, value in (overrides or {}).items():
        settings.set(name, value, priority="cmdline")
    return settings


def crawl(
    seeds: Iterable[str] = (),
    *,
    data_dir: Path | str = "data",
    crawl_id: str | None = None,
    resume: str | None = None,
    max_depth: int | None = None,
    max_pages: int | None = None,
    concurrency: int | None = None,
    same_host: bool = False,
    settings: Mapping[str, Any] | None = None,
    progress_seconds: float = 0.0,
) -> str:
    """Crawl the registered domains of ``seeds`` into ``data_dir``; return the crawl id.

    ``resume`` continues an interrupted crawl (its seeds come from its manifest) into the
    same crawl partition, from its JOBDIR. Runs Scrapy's reactor in this process, so call
    it once per process (a notebook can run ``linkcrawl crawl`` as a subprocess instead).

    >>> crawl(["http://example.com/"], data_dir="data", max_pages=50)   # doctest: +SKIP
    '20261122T030000Z'
    """
    data_dir = Path(data_dir)
    seed_list = parse_seeds(list(seeds))
    if resume is not None:
        crawl_id = validate_crawl_id(resume)
        path = manifest_path(data_dir, crawl_id)
        if not path.is_file():
            raise LinkcrawlError(f"cannot resume: no crawl {crawl_id!r} in {data_dir}")
        manifest = read_manifest(path)
        if manifest.status == "running":
            raise LinkcrawlError(
                f"cannot resume {crawl_id}: it is still running (pid {manifest.fields.get('pid')})"
            )
        if manifest.status == "finished":
            raise LinkcrawlError(f"cannot resume {crawl_id}: it already finished")
        seed_list = seed_list or parse_seeds(manifest.fields.get("seeds", []))
    else:
        crawl_id = validate_crawl_id(crawl_id or new_crawl_id())
        if manifest_path(data_dir, crawl_id).is_file():
            raise LinkcrawlError(
                f"crawl {crawl_id} already exists in {data_dir}: choose "
                f"another --crawl-id, or --resume {crawl_id}"
            )
    if not seed_list:
        raise LinkcrawlError("no seed URLs: give URLs as arguments or in --seeds FILE")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LinkcrawlError(f"cannot create data directory {data_dir}: {exc.strerror}") from None
    scrapy_settings = crawl_settings(
        data_dir,
        crawl_id,
        max_depth=max_depth,
        max_pages=max_pages,
        concurrency=concurrency,
        same_host=same_host,
        progress_seconds=progress_seconds,
        overrides=settings,
    )
    process = CrawlerProcess(scrapy_settings)
    process.crawl(LinkSpider, seeds=seed_list, crawl_id=crawl_id)
    process.start()
    manifest = read_manifest(manifest_path(data_dir, crawl_id))
    if manifest.status == "finished":
        # The queue is empty and every page is on disk: the job state is no longer needed.
        shutil.rmtree(scrapy_settings["JOBDIR"], ignore_errors=True)
    return crawl_id
