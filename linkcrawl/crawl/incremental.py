"""Incremental recrawls: conditional requests from an earlier crawl's validators, and the
edges of unchanged pages carried forward from it (``linkcrawl crawl --incremental``).

The base is the dataset's own rows, not Scrapy's HTTP cache (``HttpCacheMiddleware`` with
``RFC2616Policy``). The cache keeps every response whole (headers and body) in its own
storage, per machine, to replay it into the spider; a recurring crawl would keep a second
copy of every site beside the dataset, and re-parse each unchanged page to get back the
links it already has as rows. The pages table already holds what a conditional request
needs (``etag``, ``last_modified``) and what tells an unchanged body from a server that
sends no validators (``content_sha1``), and the edges table holds the answer: an
unchanged page's edges are copied as they are, without parsing. That also works where a
cache cannot: with ``--data`` in an object store, and for ``--workers`` and ``--redis``
workers on other machines, which all read the same earlier crawl.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scrapy.exceptions import NotConfigured

from linkcrawl.dataset.layout import RemotePath
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.dataset.schemas import EDGES_SCHEMA
from linkcrawl.errors import LinkcrawlError
from linkcrawl.extract.urls import normalize_url, registered_domain

__all__ = [
    "ConditionalRequests",
    "EarlierCrawl",
    "EarlierPage",
    "content_digest",
    "resolve_since",
    "response_validators",
]

# The pages columns an incremental crawl reads of the earlier crawl: the validators, and
# what a carried page's row repeats (the page is the same, so is what was read from it).
_PAGE_COLUMNS = (
    "url", "status", "content_type", "title", "canonical", "meta_robots", "x_robots_tag",
    "noindex", "nofollow", "bytes", "etag", "last_modified", "content_sha1", "fetched_at",
    "depth", "discovered_by", "revisit_interval_s", "next_due", "description", "headings",
    "text",
)  # fmt: skip


def content_digest(body: bytes) -> str:
    """The pages table's ``content_sha1``: the SHA-1 of the body as received (decompressed),
    in hex."""
    return hashlib.sha1(body, usedforsecurity=False).hexdigest()


def response_validators(headers: Any) -> tuple[str | None, int | None]:
    """A response's ETag (as sent) and Last-Modified (ms since the epoch, UTC; None when
    absent or not an HTTP date)."""
    raw = headers.get(b"ETag")
    etag = raw.decode("latin-1").strip() or None if raw else None
    modified = headers.get(b"Last-Modified")
    if not modified:
        return etag, None
    try:
        moment = parsedate_to_datetime(modified.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return etag, None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # an HTTP date is GMT
    return etag, int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class EarlierPage:
    """One page of the earlier crawl that answered 2xx and was parsed: what its row said."""

    status: int
    content_type: str | None
    title: str | None
    canonical: str | None
    meta_robots: str | None
    x_robots_tag: str | None
    noindex: bool | None
    nofollow: bool | None
    bytes: int | None
    etag: str | None
    last_modified: int | None  # ms since the epoch
    content_sha1: str | None
    # What an adaptive revisit (linkcrawl.crawl.revisit) needs: None when not recorded.
    fetched_at: int | None = None  # ms since the epoch
    depth: int | None = None
    discovered_by: str | None = None
    revisit_interval_s: int | None = None
    next_due: int | None = None  # ms since the epoch
    # The page text (null before schema version 4).
    description: str | None = None
    headings: str | None = None
    text: str | None = None


class EarlierCrawl:
    """The crawl an incremental crawl builds on, read once when the crawl starts.

    Its pages rows that answered 2xx without an error (the last row of a URL fetched
    twice) give each URL's validators and digest; its edges are read whole into one Arrow
    table sorted by source and ordinal, and a page's edges are a slice of it (an index of
    where each source's run starts), so carrying a page forward copies no row in Python.

    ``domains``: only the pages and edges of these registered domains or hosts (a
    ``--workers`` worker holds those it owns); None: all.
    """

    def __init__(
        self, data_dir: Path | RemotePath | str, crawl_id: str, domains: set[str] | None = None
    ) -> None:
        self.crawl_id = crawl_id
        ds = open_dataset(data_dir)
        edges = ds.arrow("edges", crawl_id)
        pages = ds.arrow("pages", crawl_id)
        present = set(pages.schema.names)
        columns = [c for c in _PAGE_COLUMNS if c in present]
        ok = (pc.field("status") >= 200) & (pc.field("status") < 300) & pc.field("error").is_null()
        table = pages.to_table(columns=columns, filter=ok).sort_by("fetched_at")
        registered: list[str] | None = None
        if domains is not None:
            hosts = _host_column(table["url"])
            owned = [
                h
                for h in pc.unique(hosts).to_pylist()
                if h is not None and (h in domains or registered_domain(h) in domains)
            ]
            table = table.filter(pc.is_in(hosts, pa.array(owned, pa.string())))
            registered = sorted({registered_domain(d) for d in domains})
        self._pages = table
        urls = table["url"].to_pylist()
        # The last row of a URL wins: dict assignment keeps it (rows sorted by fetch time).
        self._row = {url: i for i, url in enumerate(urls)}
        filt = pc.field("source_domain").isin(registered) if registered is not None else None
        links = edges.to_table(columns=EDGES_SCHEMA.names, filter=filt)
        links = links.sort_by([("source", "ascending"), ("ordinal", "ascending")])
        self._edges = links.cast(EDGES_SCHEMA).combine_chunks()
        self._runs: dict[str, tuple[int, int]] = {}
        if self._edges.num_rows:
            runs = pc.run_end_encode(self._edges["source"].combine_chunks())
            ends = np.asarray(runs.run_ends)
            starts = np.concatenate([[0], ends[:-1]])
            for source, start, end in zip(runs.values.to_pylist(), starts, ends, strict=True):
                self._runs[source] = (int(start), int(end - start))

    def __len__(self) -> int:
        return len(self._row)

    def page(self, url: str) -> EarlierPage | None:
        """What the earlier crawl's row of ``url`` said, if it fetched it with a 2xx."""
        i = self._row.get(url)
        if i is None:
            return None
        row = self._pages.slice(i, 1).to_pylist()[0]
        modified = row.get("last_modified")
        return EarlierPage(
            status=row["status"],
            content_type=row.get("content_type"),
            title=row.get("title"),
            canonical=row.get("canonical"),
            meta_robots=row.get("meta_robots"),
            x_robots_tag=row.get("x_robots_tag"),
            noindex=row.get("noindex"),
            nofollow=row.get("nofollow"),
            bytes=row.get("bytes"),
            etag=row.get("etag"),
            last_modified=int(modified.timestamp() * 1000) if modified is not None else None,
            content_sha1=row.get("content_sha1"),
            fetched_at=_ms(row.get("fetched_at")),
            depth=row.get("depth"),
            discovered_by=row.get("discovered_by"),
            revisit_interval_s=row.get("revisit_interval_s"),
            next_due=_ms(row.get("next_due")),
            description=row.get("description"),
            headings=row.get("headings"),
            text=row.get("text"),
        )

    def __contains__(self, url: object) -> bool:
        return url in self._row

    def schedule_rows(self) -> dict[str, list[Any]]:
        """Each URL's row (the last of a URL fetched twice), in fetch order: ``url``,
        ``next_due`` and ``fetched_at`` (ms since the epoch; None when not recorded)."""
        rows = sorted(self._row.values())
        urls = pc.take(self._pages["url"], rows).to_pylist() if rows else []
        columns: dict[str, list[Any]] = {"url": urls}
        for name in ("next_due", "fetched_at"):
            if name in self._pages.column_names and rows:
                taken = pc.take(self._pages[name], rows)
                columns[name] = pc.cast(taken, pa.int64()).to_pylist()
            else:
                columns[name] = [None] * len(urls)
        return columns

    def validators(self, url: str) -> dict[str, str]:
        """The conditional request headers for ``url``: If-None-Match from its ETag,
        If-Modified-Since from its Last-Modified; none when the earlier crawl has neither."""
        i = self._row.get(url)
        if i is None:
            return {}
        headers = {}
        if "etag" in self._pages.column_names:
            etag = self._pages["etag"][i].as_py()
            if etag:
                headers["If-None-Match"] = etag
        if "last_modified" in self._pages.column_names:
            modified = self._pages["last_modified"][i].as_py()
            if modified is not None:
                headers["If-Modified-Since"] = format_datetime(
                    modified.astimezone(UTC), usegmt=True
                )
        return headers

    def edges(self, url: str) -> pa.Table:
        """The earlier crawl's edges rows of page ``url`` (none if it had no links)."""
        start, length = self._runs.get(url, (0, 0))
        return self._edges.slice(start, length)


def _ms(moment: Any) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def _host_column(urls: Any) -> Any:
    """The host of each URL (lower-cased by normalisation already)."""
    hosts = pc.extract_regex(urls, r"^[a-z]+://(?:[^@/]*@)?(?P<host>[^/:?#]*)")
    return pc.struct_field(hosts, "host")


class ConditionalRequests:
    """Downloader middleware of an incremental crawl: a page request of a URL the earlier
    crawl fetched carries its validators (If-None-Match, If-Modified-Since), so that an
    unchanged page costs a 304 and no body.

    Off (NotConfigured) unless ``LINKCRAWL_SINCE`` names the earlier crawl; the validators
    come from the spider's :class:`EarlierCrawl`. Requests that are not page requests
    (robots.txt, sitemaps, checks of external links) are left alone.
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> ConditionalRequests:
        if not crawler.settings.get("LINKCRAWL_SINCE"):
            raise NotConfigured  # no message: Scrapy would log a warning for it
        return cls(crawler)

    def process_request(self, request: Any, spider: Any = None) -> None:
        earlier = getattr(self.crawler.spider, "earlier", None)
        if earlier is None or request.method != "GET" or request.meta.get("external"):
            return
        if request.headers.get(b"If-None-Match") or request.headers.get(b"If-Modified-Since"):
            return
        headers = earlier.validators(request.url)
        if not headers:
            url = normalize_url(request.url)
            headers = earlier.validators(url) if url else {}
        for name, value in headers.items():
            request.headers[name] = value


def resolve_since(data_dir: Path | RemotePath, seeds: list[str], since: str | None) -> str:
    """The crawl an incremental crawl of ``seeds`` builds on: ``since`` if it names a
    finished crawl, else the newest finished crawl whose seeds are the same; a
    LinkcrawlError in one line when there is none."""
    if not (data_dir / "crawls").is_dir():
        raise LinkcrawlError(
            f"--incremental: no crawl in {data_dir} to build on; run a full crawl first"
        )
    manifests = open_dataset(data_dir).manifests()
    if since is not None:
        found = next((m for m in manifests if m.crawl_id == since), None)
        if found is None:
            known = ", ".join(m.crawl_id for m in manifests[:3]) or "none"
            raise LinkcrawlError(f"--since: no crawl {since!r} in {data_dir} (newest: {known})")
        if found.status != "finished":
            raise LinkcrawlError(
                f"--since {since}: that crawl is {found.status}, not finished; "
                "an incremental crawl builds on a finished one"
            )
        return since
    from linkcrawl.spiders.links import parse_seeds

    wanted = set(seeds)
    for m in manifests:
        if m.status != "finished" or m.fields.get("imported"):
            continue
        if set(parse_seeds(m.fields.get("seeds") or [])) == wanted:
            return m.crawl_id
    raise LinkcrawlError(
        f"--incremental: no finished crawl of these seeds in {data_dir}; run a full crawl "
        "first, or name the crawl to build on with --since CRAWL_ID"
    )
