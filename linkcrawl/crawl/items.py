"""The item a spider yields: one per fetched (or failed) page, carrying that page's links.

One item per page, not per link: a Scrapy item per link costs more than the crawl itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class PageItem:
    """A fetched or failed URL and the links found on it, as parallel lists.

    ``fetched_at`` is milliseconds since the Unix epoch (UTC). For a redirect the links
    hold one edge of kind ``redirect`` to the Location. ``discovered_by`` says how the
    crawl found the URL (seed, link, sitemap, redirect). ``origin`` is per link (html or
    rendered); left empty, every link of the page is ``html``. ``ip`` is the server address
    of the connection (None through a proxy).

    ``etag``, ``last_modified`` (ms since the epoch) and ``content_sha1`` are the
    response's validators and body digest. A page whose edges an incremental crawl carries
    forward from an earlier crawl (linkcrawl.crawl.incremental) names that crawl in
    ``edges_from`` and holds its edges rows in ``carried`` (a ``pyarrow.Table`` of the
    edges schema); its link lists are then empty.

    ``description``, ``headings`` and ``text`` are the page text kept for relevance
    (:class:`linkcrawl.extract.links.PageLinks`).
    """

    url: str
    fetched_at: int
    domain: str
    status: int | None = None
    error: str | None = None
    content_type: str | None = None
    title: str | None = None
    canonical: str | None = None
    meta_robots: str | None = None
    x_robots_tag: str | None = None
    noindex: bool | None = None
    nofollow: bool | None = None
    depth: int | None = None
    bytes: int | None = None
    elapsed_ms: int | None = None
    discovered_by: str | None = None
    ip: str | None = None
    etag: str | None = None
    last_modified: int | None = None
    content_sha1: str | None = None
    not_modified: bool | None = None
    edges_from: str | None = None
    revisit: str | None = None
    revisit_interval_s: int | None = None
    next_due: int | None = None
    description: str | None = None
    headings: str | None = None
    text: str | None = None
    carried: Any = None
    target: list[str] = field(default_factory=list)
    anchor: list[str] = field(default_factory=list)
    rel: list[str] = field(default_factory=list)
    follow: list[bool] = field(default_factory=list)
    position: list[str | None] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    target_domain: list[str] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)

    @property
    def outlinks(self) -> int:
        return self.carried.num_rows if self.carried is not None else len(self.target)
