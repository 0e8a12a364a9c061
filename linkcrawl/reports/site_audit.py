"""The site audit: one registered domain's own pages and internal links, as SEO tools audit
a site (click depth, link score, orphans, and the internal links that point at problems).
docs/site-audit.md defines every field and issue.

Everything runs on integer ids: every URL of the site is numbered once (pyarrow), a link
is a row of id arrays; counts are bincounts over masks of those rows, distinct linking
pages and the tables are polars, depth is scipy's breadth-first search,
and the link score is the analysis's own PageRank solver and 0-100 scale
(:mod:`linkcrawl.analysis.definition`, :mod:`linkcrawl.analysis.pagerank`) on the site's
internal graph. A million-page site never becomes a frame of link strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from linkcrawl.analysis.definition import Definition, authority_scale, floor
from linkcrawl.analysis.graph import collapse_links, number_strings, url_hosts
from linkcrawl.analysis.pagerank import SOLVERS
from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.errors import DatasetError, LinkcrawlError, first_line
from linkcrawl.extract.urls import registered_domain
from linkcrawl.reports.target import parse_target

__all__ = [
    "CONTENT",
    "FOOTER",
    "ISSUES",
    "LINK_KINDS",
    "MAX_DEPTH_OK",
    "NAVIGATION",
    "PAGE_COLUMNS",
    "REDIRECT_KINDS",
    "SiteAudit",
    "site",
]

# Links a visitor can click: what inlinks, outlinks, depth and link score count.
LINK_KINDS = ("anchor", "image", "area")
# "This URL is now that one": a level of depth (as Screaming Frog counts), passed through
# by the link score, reported as chains.
REDIRECT_KINDS = ("redirect", "refresh")
# Where a link sits: boilerplate repeated on every page, or the page's own content (a
# link without a position, and one in <head>, is content).
NAVIGATION = ("header", "navigation", "sidebar")
FOOTER = ("footer",)
CONTENT = "content"
MAX_DEPTH_OK = 3
# Redirect hops followed when resolving a chain; the crawl stops at LINKCRAWL_MAX_REDIRECTS
# (10) anyway, so a chain still redirecting after this many is a loop.
_MAX_HOPS = 64
_ROBOTS = "robots-disallowed"

# The per-page table's columns, in order (docs/site-audit.md defines each).
PAGE_COLUMNS = [
    "url", "status", "indexable", "not_indexable_because", "depth", "content_depth",
    "link_score", "inlinks", "inlinks_nofollow", "unique_inlinks", "inlinks_content",
    "inlinks_navigation", "inlinks_footer", "outlinks_internal", "outlinks_external",
    "in_sitemap", "orphan", "canonical", "redirect_to", "redirect_hops", "title",
    "discovered_by", "error",
]  # fmt: skip

# Every issue list: name -> what it lists. Its rows come first by the link score of the
# page to fix (the linking page for a link), so the fixes that matter most come first.
ISSUES: dict[str, str] = {
    "orphans": "pages in a sitemap (or found only through one) that no crawled page links to",
    "single_inlink": "pages with exactly one followed internal inlink",
    "too_deep": "pages deeper than --max-depth-ok clicks from the seeds",
    "links_to_redirect": "internal links to a redirect, with its final target and hops",
    "links_to_error": "internal links to 4xx, 5xx or network errors",
    "links_to_noindex": "internal links to noindex pages",
    "links_to_canonicalised": "internal links to pages canonicalised to another URL",
    "links_to_blocked": "internal links to URLs blocked by robots.txt",
    "redirect_chains": "redirects of two hops or more, and redirect loops",
    "canonical_chains": "canonicals to a page that is canonicalised in turn",
    "canonical_to_non_200": "canonicals to a URL that did not answer 200",
    "nofollowed_internal": "internal links that are nofollow (rel or page-wide)",
    "sitemap_non_200": "sitemap URLs that answered an error or were blocked",
    "sitemap_noindex": "sitemap URLs that are noindex",
    "sitemap_redirect": "sitemap URLs that redirect",
    "sitemap_canonicalised": "sitemap URLs canonicalised to another URL",
    "no_outlinks": "pages that answered 200 with no links out (dead ends)",
}

_LINK_COLUMNS = ["source", "target", "anchor", "follow", "position", "kind", "source_link_score"]


@dataclass
class SiteAudit:
    """The audit of one site: ``pages`` (a DataFrame, one row per URL, the strongest page
    first), ``summary`` (a dict) and the issue lists (:meth:`issue`, :meth:`counts`)."""

    summary: dict[str, Any]
    _pages: pl.DataFrame = field(repr=False)
    _issues: dict[str, pl.DataFrame | _Lazy] = field(repr=False, default_factory=dict)
    _pages_pandas: pd.DataFrame | None = field(repr=False, default=None)

    @property
    def pages(self) -> pd.DataFrame:
        """One row per URL of the site (its fetched pages and sitemap entries), the
        strongest link score first; the columns are :data:`PAGE_COLUMNS`."""
        if self._pages_pandas is None:  # built on first use: --issues needs none of it
            self._pages_pandas = _pandas(self._pages)
        return self._pages_pandas

    @property
    def pages_polars(self) -> pl.DataFrame:
        """:attr:`pages` as a polars DataFrame."""
        return self._pages

    def issue(self, name: str) -> pd.DataFrame:
        """The rows of issue ``name`` (see :data:`ISSUES`), the one to fix first on top."""
        return _pandas(self._issue(name))

    def issue_top(self, name: str, n: int) -> tuple[int, pd.DataFrame]:
        """How many rows issue ``name`` has, and the first ``n`` of them as :meth:`issue`
        gives them (without making the whole list a pandas frame)."""
        rows = self._issue(name)
        return rows.height, _pandas(rows.head(n), like=rows)

    def _issue(self, name: str) -> pl.DataFrame:
        if name not in ISSUES:
            raise LinkcrawlError(f"unknown issue {name!r}: choose from {', '.join(ISSUES)}")
        rows = self._issues[name]
        if isinstance(rows, _Lazy):
            rows = self._issues[name] = rows.build()
        return rows

    def counts(self) -> pd.DataFrame:
        """One row per issue: issue, rows, and what it lists."""
        names = list(ISSUES)
        return pd.DataFrame(
            {
                "issue": names,
                "rows": [_height(self._issues[n]) for n in names],
                "description": [ISSUES[n] for n in names],
            }
        )


@dataclass
class _Lazy:
    """An issue list built when it is asked for: its rows are counted without reading
    the anchors of every link (``--issues`` prints counts only)."""

    rows: int
    build: Callable[[], pl.DataFrame]


def _height(rows: pl.DataFrame | _Lazy) -> int:
    return rows.rows if isinstance(rows, _Lazy) else rows.height


def site(
    data_dir: Path | str | Dataset = "data",
    domain: str = "",
    crawl_id: str | None = None,
    *,
    max_depth_ok: int = MAX_DEPTH_OK,
    engine: str = "sparse",
    position_weights: Mapping[str, float] | None = None,
) -> SiteAudit:
    """The site audit of ``domain`` in one crawl: per page status, indexability, click
    depth, inlinks and outlinks, link score, sitemap and orphan flags; and the issue lists.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory (or an open Dataset).
    domain
        The site: a registered domain, or a host or URL whose registered domain it is.
    crawl_id
        The crawl; default the newest finished one. It need not have been analysed.
    max_depth_ok
        Pages deeper than this are listed as ``too_deep``.
    engine
        The PageRank solver of the link score: ``sparse`` (the default) or ``networkx``.
    position_weights
        The link weights by position, as ``linkcrawl analyze`` takes them (default:
        the analysis's own, see docs/authority.md).

    Returns
    -------
    SiteAudit

    Raises
    ------
    LinkcrawlError
        A bad domain, no such crawl, or a crawl without a page of the domain.

    Examples
    --------
    >>> audit = site("data", "example.com")                     # doctest: +SKIP
    >>> audit.pages.nlargest(10, "link_score")                  # doctest: +SKIP
    >>> audit.issue("links_to_redirect")                        # doctest: +SKIP
    """
    if not isinstance(max_depth_ok, int) or max_depth_ok < 0:
        raise LinkcrawlError(f"max depth must be a whole number >= 0, not {max_depth_ok!r}")
    if engine not in SOLVERS:
        raise LinkcrawlError(f"unknown engine {engine!r}: use {' or '.join(SOLVERS)}")
    definition = Definition.make(position_weights)
    try:
        name = parse_target(domain).domain
    except LinkcrawlError:
        raise LinkcrawlError(
            f"bad domain {domain!r}: give a registered domain (example.com), a host or a URL"
        ) from None
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    pages, sitemaps, edges, anchors = _read(ds, crawl_id, name)
    if pages.height == 0 and sitemaps.height == 0:
        raise LinkcrawlError(f"crawl {crawl_id} has no page of {name}{_crawled_hint(ds, crawl_id)}")
    seeds = [
        str(s) for s in (ds.manifest(crawl_id).fields.get("seeds") or []) if isinstance(s, str)
    ]
    # What pyarrow's pool kept from decoding the files, and then the link URLs' strings
    # once numbered, go back to the system: what comes next is numpy's memory.
    pa.default_memory_pool().release_unused()
    st = _arrays(pages, sitemaps, edges, seeds, name)
    st.read_anchors = anchors
    del edges
    pa.default_memory_pool().release_unused()
    return _audit(st, name, crawl_id, max_depth_ok, engine, definition)


# -- reading ---------------------------------------------------------------------------------

_PAGE_READ = ["url", "status", "error", "title", "canonical", "noindex", "content_type",
              "depth", "fetched_at", "discovered_by"]  # fmt: skip
# Anchors (plain strings, a tenth of the bytes) are read only when a list of links is
# asked for.
_EDGE_READ = ["source", "target", "rel", "follow", "position", "kind", "target_domain"]
# Read as Parquet's dictionary pages: a few distinct values over millions of rows (source:
# a page's links are one run of rows), numbered without hashing every row.
_EDGE_DICTIONARY = {"source", "rel", "position", "kind", "target_domain", "source_domain"}


def _read(
    ds: Dataset, crawl_id: str, domain: str
) -> tuple[pl.DataFrame, pl.DataFrame, pa.Table, Callable[[], pa.ChunkedArray] | None]:
    """The site's pages (one row per URL, its last fetch), its sitemap entries, the links
    on its pages (an Arrow table, one row per link, each page's links once), and how to
    read their anchors later, row for row (None: the table has them)."""
    try:
        pages = ds.arrow("pages", crawl_id).to_table(columns=_PAGE_READ)
        # A host's registered domain is its last labels (case aside): only the URLs that
        # spell the domain, and those that are not ASCII (other dots), can be the site's.
        urls = pages.column("url")
        pages = pages.filter(
            pc.or_(
                pc.match_substring(urls, domain, ignore_case=True),
                pc.invert(pc.string_is_ascii(urls)),
            )
        )
        hosts = url_hosts(pages.column("url"))
        distinct = pc.unique(hosts).to_pylist()
        ours = [h for h in distinct if h is not None and registered_domain(h) == domain]
        pages = pages.filter(pc.is_in(hosts, pa.array(ours, pa.string())))
        sitemaps = ds.arrow("sitemaps", crawl_id).to_table(
            columns=["url", "sitemap"], filter=pc.field("domain") == domain
        )
        twice = pc.count_distinct(pages.column("url")).as_py() < pages.num_rows
        edge_files = plain = ds.arrow("edges", crawl_id)
        only_site = pc.field("source_domain") == domain
        if getattr(edge_files, "files", None):
            read = pads.ParquetReadOptions(dictionary_columns=_EDGE_DICTIONARY)
            edge_files = pads.dataset(
                edge_files.files,
                format=pads.ParquetFileFormat(read_options=read),
                filesystem=edge_files.filesystem,
            )
        # A resumed crawl can hold a page twice: its links are then told apart by ordinal.
        # Then the anchors too, read with the links they are deduplicated with.
        columns = [*_EDGE_READ, "ordinal", "anchor"] if twice else _EDGE_READ
        local = isinstance(ds.root, Path) and getattr(edge_files, "files", None)
        edges = _site_links(plain, domain, columns) if local else None
        if edges is None:
            edges = edge_files.to_table(columns=columns, filter=only_site)
        links = edge_files

        def anchors() -> pa.ChunkedArray:
            # The same scan, in the same order (both keep the files' row order).
            read = _site_links(plain, domain, ["anchor"]) if local else None
            try:
                if read is None:
                    read = links.to_table(columns=["anchor"], filter=only_site)
                return read.column("anchor")
            except (pa.ArrowException, OSError) as exc:
                raise DatasetError(f"{ds.root}: crawl {crawl_id}: {first_line(exc)}") from None
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{ds.root}: crawl {crawl_id}: {first_line(exc)}") from None
    page_frame = pl.from_arrow(pages)
    assert isinstance(page_frame, pl.DataFrame)
    if twice:
        # The page's last fetch counts, in the place where the crawl first met the URL.
        page_frame = page_frame.with_row_index("first")
        first = page_frame.group_by("url").agg(pl.col("first").min())
        page_frame = (
            page_frame.drop("first")
            .sort("fetched_at", maintain_order=True)
            .unique("url", keep="last", maintain_order=True)
            .join(first, on="url")
            .sort("first")
            .drop("first")
        )
        edges = _distinct_links(edges)
    sitemap_frame = pl.from_arrow(sitemaps)
    assert isinstance(sitemap_frame, pl.DataFrame)
    sitemap_frame = sitemap_frame.unique("url", keep="first", maintain_order=True)
    return page_frame, sitemap_frame, edges, None if twice else anchors


# Above this share of the crawl's links on the site's pages, they are read by pyarrow.
_LATE_DECODING_SHARE = 0.5


def _site_links(files: Any, domain: str, columns: list[str]) -> pa.Table | None:
    """The links on the site's pages (these columns), in the files' row order, read by
    polars, whose filter decodes the other columns only where ``source_domain`` matches
    (pyarrow's decodes every column of every row first); typed as the dataset's columns.
    None when most links are the site's, or polars cannot read the files (pyarrow's
    reader then says why)."""
    try:
        scan = pl.scan_parquet(files.files, hive_partitioning=False)
        on_site = pl.col("source_domain") == domain
        # A filter that keeps most links gains nothing from decoding late, and pyarrow's
        # dictionary reading numbers the source URLs without hashing each row: a crawl of
        # one site goes the pyarrow way.
        share = scan.select(on_site.mean()).collect().item()
        if share is None or share > _LATE_DECODING_SHARE:
            return None
        frame = scan.filter(on_site).select(columns).collect()
    except pl.exceptions.PolarsError:
        return None
    return frame.to_arrow().cast(pa.schema([files.schema.field(c) for c in columns]))


def _distinct_links(edges: pa.Table) -> pa.Table:
    """The first row of each (source, ordinal, target, kind): a page's links once."""
    _, (source, target) = number_strings([edges.column("source"), edges.column("target")])
    _, (kind,) = number_strings([edges.column("kind")])
    keys = pl.DataFrame(
        {"s": source, "o": edges.column("ordinal").to_numpy(), "t": target, "k": kind}
    ).with_row_index("row")
    rows = keys.unique(["s", "o", "t", "k"], keep="first", maintain_order=True)["row"]
    return edges.take(pa.array(rows.to_numpy()))


def _crawled_hint(ds: Dataset, crawl_id: str) -> str:
    domains = (
        ds.arrow("edges", crawl_id).to_table(columns=["source_domain"]).column("source_domain")
    )
    found = sorted(pc.unique(domains).to_pylist())
    if not found:
        return ""
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return f" (its sites: {', '.join(found[:5])}{more})"


# -- the audit -------------------------------------------------------------------------------


def _codes(column: pa.ChunkedArray) -> tuple[list[Any], np.ndarray]:
    """A low-cardinality column as its distinct values (None appended last) and each row's
    index among them (a null row: the None)."""
    values, (codes,) = number_strings([column])
    return [*values.to_pylist(), None], codes


def _lookup(coded: tuple[list[Any], np.ndarray], test: Any) -> np.ndarray:
    """``test(value)`` of each row (bool), computed once per distinct value."""
    values, codes = coded
    return np.array([bool(test(v)) for v in values])[codes]


@dataclass
class _Site:
    """The site as arrays over URL ids (``urls``) and link rows (the edges read)."""

    urls: pa.Array
    edges: pa.Table
    kind: tuple[list[Any], np.ndarray]
    position: tuple[list[Any], np.ndarray]
    pages: pl.DataFrame
    page_id: np.ndarray
    sitemap_id: np.ndarray
    sitemaps: pl.DataFrame
    src: np.ndarray
    dst: np.ndarray
    follow: np.ndarray
    clickable: np.ndarray  # anchor, image, area
    redirect: np.ndarray  # redirect, refresh
    internal: np.ndarray
    navigation: np.ndarray  # position header, navigation, sidebar
    footer: np.ndarray
    fetched: np.ndarray
    status: np.ndarray  # -1: none
    blocked: np.ndarray
    network: np.ndarray
    noindex: np.ndarray
    canon: np.ndarray  # -1: none
    canonicalised: np.ndarray
    html: np.ndarray
    redirects: np.ndarray
    final: np.ndarray
    hops: np.ndarray
    loop: np.ndarray
    ok: np.ndarray
    seeds: np.ndarray
    in_sitemap: np.ndarray
    link_score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    read_anchors: Callable[[], pa.ChunkedArray] | None = None
    inlinks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n(self) -> int:
        return len(self.urls)

    def anchors(self) -> pa.ChunkedArray:
        """The anchor of each link row, read on first use."""
        if "anchor" not in self.edges.column_names:
            assert self.read_anchors is not None
            self.edges = self.edges.append_column("anchor", self.read_anchors())
        return self.edges.column("anchor")


def _audit(
    st: _Site,
    domain: str,
    crawl_id: str,
    max_depth_ok: int,
    engine: str,
    definition: Definition,
) -> SiteAudit:
    pages, sitemaps = st.pages, st.sitemaps
    n, src, dst = st.n, st.src, st.dst
    not_self = src != dst

    # Depth from the seeds over followed internal links and redirects; and over content
    # links only (redirects have no position: they count there too).
    walk = st.internal & st.follow & (st.clickable | st.redirect)
    depth = _depth(src[walk], dst[walk], n, st.seeds)
    content = walk & ~st.navigation & ~st.footer
    content_depth = _depth(src[content], dst[content], n, st.seeds)

    # Link score: the analysis's PageRank over the pages that answered 200; a link to a
    # redirect counts for its final target; canonicalised pages receive nothing.
    node = np.full(n, -1, np.int64)
    n_nodes = int(st.ok.sum())
    node[st.ok] = np.arange(n_nodes)
    scored = np.flatnonzero(st.internal & st.clickable)
    s, t = src[scored], st.final[dst[scored]]
    keep = (node[s] >= 0) & (t >= 0)
    keep[keep] &= st.ok[t[keep]] & ~st.canonicalised[t[keep]]
    scored = scored[keep]
    weight = _weights(st, scored, definition)
    link_score = np.full(n, np.nan)
    link_score[st.ok] = _link_score(
        node[s[keep]], node[t[keep]], weight, n_nodes, engine, definition
    )
    st.link_score = link_score

    # Inlinks and outlinks: clickable links between two different URLs.
    clicks = st.clickable & not_self
    inbound = clicks & st.internal
    followed = inbound & st.follow

    def count(mask: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return np.bincount(ids[mask], minlength=n)

    inlinks = count(followed, dst)
    st.inlinks = inlinks
    pairs = pl.Series(dst[inbound].astype(np.int64) * n + src[inbound]).unique().to_numpy()
    columns_by_count = {
        "inlinks": inlinks,
        "inlinks_nofollow": count(inbound & ~st.follow, dst),
        "unique_inlinks": np.bincount(pairs // max(n, 1), minlength=n),
        "inlinks_content": count(followed & ~st.navigation & ~st.footer, dst),
        "inlinks_navigation": count(followed & st.navigation, dst),
        "inlinks_footer": count(followed & st.footer, dst),
        "outlinks_internal": count(clicks & st.internal, src),
        "outlinks_external": count(clicks & ~st.internal, src),
    }
    linked = np.zeros(n, bool)
    linked[dst[st.internal & (st.clickable | st.redirect) & not_self]] = True
    by_sitemap = np.zeros(n, bool)
    by_sitemap[st.page_id] = (pages["discovered_by"] == "sitemap").fill_null(False).to_numpy()
    orphan = (st.in_sitemap | by_sitemap) & ~linked
    reason = _not_indexable(st)

    # The per-page table: the site's fetched pages and its sitemap URLs.
    rows = np.flatnonzero(st.fetched | st.in_sitemap)
    page_of = np.full(n, -1, np.int64)
    page_of[st.page_id] = np.arange(pages.height)
    at = page_of[rows]
    present = pl.Series(at >= 0)

    def from_pages(column: str) -> pl.Series:
        values = pages[column].gather(np.maximum(at, 0))
        return pl.select(pl.when(present).then(values).otherwise(None)).to_series()

    redirect_to = np.where(st.redirects[rows] & (st.final[rows] >= 0), st.final[rows], -1)
    frame = pl.DataFrame(
        {
            "id": rows,
            "url": pl.Series(st.urls.take(pa.array(rows))),
            "status": _nullable(st.status[rows]),
            "indexable": reason[rows] == "",
            "not_indexable_because": pl.Series(reason[rows]).replace("", None),
            "depth": _nullable(depth[rows]),
            "content_depth": _nullable(content_depth[rows]),
            "link_score": pl.Series(link_score[rows], nan_to_null=True),
            **{name: values[rows] for name, values in columns_by_count.items()},
            "in_sitemap": st.in_sitemap[rows],
            "orphan": orphan[rows],
            "canonical": _url_or_null(
                st.urls, np.where(st.canonicalised[rows], st.canon[rows], -1)
            ),
            "redirect_to": _url_or_null(st.urls, redirect_to),
            "redirect_hops": _nullable(np.where(st.redirects[rows], st.hops[rows], -1)),
            "title": from_pages("title"),
            "discovered_by": from_pages("discovered_by"),
            "error": from_pages("error"),
        }
    )
    # Strongest first, ties (and pages without a score, last) in the order the crawl
    # first met them: rule 6 of the analysis.
    order = np.lexsort((rows, -np.nan_to_num(link_score[rows], nan=-1.0)))
    frame = frame[order]

    issues = _issues(st, frame, max_depth_ok)
    depths = frame["depth"].drop_nulls()
    summary: dict[str, Any] = {
        "domain": domain,
        "crawl_id": crawl_id,
        "pages": frame.height,
        "fetched": int(st.fetched[rows].sum()),
        "indexable": int(frame["indexable"].sum()),
        "in_sitemap": int(st.in_sitemap.sum()),
        "sitemap_entries": sitemaps.height,
        "seeds": st.urls.take(pa.array(st.seeds, pa.int64())).to_pylist(),
        "max_depth": int(depths.max()) if len(depths) else None,  # type: ignore[arg-type]
        "max_depth_ok": max_depth_ok,
        "issues": {name: _height(rows) for name, rows in issues.items()},
    }
    return SiteAudit(summary, frame.select(PAGE_COLUMNS), issues)


def _arrays(
    pages: pl.DataFrame,
    sitemaps: pl.DataFrame,
    edges: pa.Table,
    seed_urls: list[str],
    domain: str,
) -> _Site:
    # Number every URL once: pages, sitemap entries, link ends and canonicals.
    urls, (page_id, sitemap_id, src, dst, canonical) = number_strings(
        [
            _strings(pages["url"]),
            _strings(sitemaps["url"]),
            edges.column("source"),
            edges.column("target"),
            _strings(pages["canonical"]),
        ]
    )
    n = len(urls)
    kind = _codes(edges.column("kind"))
    position = _codes(edges.column("position"))
    clickable = _lookup(kind, lambda k: k in LINK_KINDS)
    redirect = _lookup(kind, lambda k: k in REDIRECT_KINDS)
    navigation = _lookup(position, lambda p: p in NAVIGATION)
    footer = _lookup(position, lambda p: p in FOOTER)
    internal = _lookup(_codes(edges.column("target_domain")), lambda d: d == domain)
    follow = edges.column("follow").to_numpy()

    def per_url(values: Any, default: Any, dtype: Any) -> np.ndarray:
        out = np.full(n, default, dtype)
        out[page_id] = values
        return out

    fetched = per_url(True, False, bool)
    status = per_url(pages["status"].fill_null(-1).to_numpy(), -1, np.int32)
    error = pages["error"]
    blocked = per_url((error == _ROBOTS).fill_null(False).to_numpy(), False, bool)
    network = fetched & (status < 0) & ~blocked
    noindex = per_url(pages["noindex"].fill_null(False).to_numpy(), False, bool)
    canon = per_url(canonical, -1, np.int64)
    canonicalised = (canon >= 0) & (canon != np.arange(n))
    html = per_url(
        pages["content_type"].fill_null("text/html").str.contains("html").to_numpy(), False, bool
    )

    # Redirects: each redirecting URL's first hop, then its final target and hops.
    hop_rows = np.flatnonzero(redirect)
    first_of, first = np.unique(src[hop_rows], return_index=True)
    nxt = np.full(n, -1, np.int64)
    nxt[first_of] = dst[hop_rows[first]]
    redirects = nxt >= 0
    final, hops, loop = _resolve_redirects(nxt)
    ok = fetched & (status == 200) & ~redirects

    in_site = np.zeros(n, bool)
    in_site[page_id] = True
    in_site[sitemap_id] = True
    in_site[dst[internal]] = True
    in_sitemap = np.zeros(n, bool)
    in_sitemap[sitemap_id] = True
    seeds = _seeds(urls, seed_urls, pages, page_id, in_site)
    # What the issue lists show of a link; the URL columns are numbered now, and go.
    shown = edges.select(
        [c for c in ("anchor", "rel", "position", "kind") if c in edges.column_names]
    )
    return _Site(
        urls=urls, edges=shown, kind=kind, position=position, pages=pages, page_id=page_id,
        sitemap_id=sitemap_id, sitemaps=sitemaps, src=src, dst=dst, follow=follow,
        clickable=clickable,
        redirect=redirect, internal=internal, navigation=navigation, footer=footer,
        fetched=fetched, status=status, blocked=blocked, network=network, noindex=noindex,
        canon=canon, canonicalised=canonicalised, html=html, redirects=redirects,
        final=final, hops=hops, loop=loop, ok=ok, seeds=seeds, in_sitemap=in_sitemap,
    )  # fmt: skip


def _strings(column: pl.Series) -> pa.ChunkedArray:
    """A polars text column as the Arrow strings number_strings takes."""
    return pa.chunked_array([column.to_arrow()]).cast(pa.string())


def _nullable(values: np.ndarray) -> pl.Series:
    """Whole numbers, -1 as null."""
    values = np.asarray(values)
    return pl.Series(values.astype(np.int64)).set(pl.Series(values < 0), None)


def _url_or_null(urls: pa.Array, ids: np.ndarray) -> pl.Series:
    ids = np.asarray(ids, np.int64)
    return pl.Series(urls.take(pa.array(np.maximum(ids, 0), mask=ids < 0)), dtype=pl.String)


def _resolve_redirects(nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per URL id: the final target of its redirects (itself when it does not redirect,
    -1 in a loop), the hops to it, and whether its chain loops. The hops of a loop are the
    redirects until a URL repeats."""
    n = len(nxt)
    final = np.arange(n, dtype=np.int64)
    hops = np.zeros(n, np.int64)
    loop = np.zeros(n, bool)
    start = np.flatnonzero(nxt >= 0)
    current = nxt[start].copy()
    count = np.ones(len(start), np.int64)
    for _ in range(_MAX_HOPS):
        more = nxt[current] >= 0
        if not more.any():
            break
        current[more] = nxt[current[more]]
        count[more] += 1
    final[start], hops[start] = current, count
    # Still redirecting after _MAX_HOPS hops: a loop (few), walked one by one.
    for u in start[nxt[current] >= 0].tolist():
        seen, at = {u}, u
        while nxt[at] >= 0 and int(nxt[at]) not in seen:
            at = int(nxt[at])
            seen.add(at)
        final[u], hops[u], loop[u] = -1, len(seen), True
    return final, hops, loop


def _seeds(
    urls: pa.Array,
    seed_urls: list[str],
    pages: pl.DataFrame,
    page_id: np.ndarray,
    in_site: np.ndarray,
) -> np.ndarray:
    """The ids the depth counts from: the crawl's seeds on the site (its manifest's, and
    the pages it fetched as seeds); else, for a site the crawl reached through links, the
    site's pages of the lowest crawl depth."""
    ids = set(page_id[(pages["discovered_by"] == "seed").fill_null(False).to_numpy()].tolist())
    if seed_urls:
        known = pc.index_in(pa.array(seed_urls, pa.string()), value_set=urls).to_pylist()
        ids.update(i for i in known if i is not None and in_site[i])
    crawl_depth = pages["depth"]
    if not ids and crawl_depth.drop_nulls().len():
        lowest = crawl_depth.min()
        ids.update(page_id[(crawl_depth == lowest).fill_null(False).to_numpy()].tolist())
    return np.array(sorted(ids), np.int64)


def _depth(source: np.ndarray, target: np.ndarray, n: int, seeds: np.ndarray) -> np.ndarray:
    """Fewest links from any seed to each id (-1: unreachable): scipy's breadth-first
    search from one extra node linked to every seed, its tree's depths by pointer jumping
    (each pass doubles the steps counted, so a 1,000-deep chain takes ten passes)."""
    depth = np.full(n, -1, np.int64)
    if n == 0 or len(seeds) == 0:
        return depth
    root = n
    s = np.concatenate([np.full(len(seeds), root), source])
    t = np.concatenate([seeds, target])
    graph = sp.csr_matrix((np.ones(len(s), np.int8), (s, t)), shape=(n + 1, n + 1))
    order, parent = breadth_first_order(graph, root, directed=True, return_predecessors=True)
    up = np.full(n + 1, root, np.int64)
    up[order] = parent[order]
    up[root] = root
    steps = np.zeros(n + 1, np.int64)
    steps[order] = 1
    steps[root] = 0
    while (up[order] != root).any():
        steps += steps[up]
        up = up[up]
    depth[order[1:]] = steps[order[1:]] - 1  # seeds are one step from the extra node
    return depth


def _weights(st: _Site, rows: np.ndarray, definition: Definition) -> tuple[np.ndarray, np.ndarray]:
    """The weight of each link row by the definition's rule 1, computed once per (follow,
    kind, position) combination: the distinct weights ascending, and each row's index."""
    (kind_values, kind), (position_values, position) = st.kind, st.position
    follow = st.follow[rows].astype(np.intp)
    table = np.array(
        [
            [[definition.weight(f, k, p) for p in position_values] for k in kind_values]
            for f in (False, True)
        ]
    )
    # As the analysis carries them: the distinct weights, and each link's index among them.
    levels, index = np.unique(table, return_inverse=True)
    level = index.reshape(table.shape).astype(np.uint8)[follow, kind[rows], position[rows]]
    return levels, level


def _link_score(
    source: np.ndarray,
    target: np.ndarray,
    weight: tuple[np.ndarray, np.ndarray],
    n: int,
    engine: str,
    definition: Definition,
) -> np.ndarray:
    """The analysis's PageRank of the site graph on its 0-100 scale (rules 2-4 of
    :class:`~linkcrawl.analysis.definition.Definition`)."""
    if n == 0:
        return np.zeros(0)
    levels, level = weight
    s, t, w = collapse_links(
        source, target, levels[level], n, keep_zero=False, levels=(levels, level)
    )
    pagerank = SOLVERS[engine](s, t, w, n, definition)
    out_weight = np.bincount(s, weights=w, minlength=n)
    linked = np.bincount(t, weights=w, minlength=n) > 0
    lowest = floor(pagerank[out_weight == 0].sum(), n, definition.damping)
    return authority_scale(pagerank, lowest, linked)


def _not_indexable(st: _Site) -> np.ndarray:
    """Why each URL is not indexable ("" when it is): the first reason that applies."""
    status = st.status
    conditions = [
        ~st.fetched,
        st.blocked,
        st.network,
        st.redirects,
        (status >= 400) & (status < 500),
        status >= 500,
        status != 200,
        st.noindex,
        st.canonicalised,
    ]
    reasons = ["not-crawled", "robots-blocked", "network-error", "redirect", "client-error",
               "server-error", "non-200", "noindex", "canonicalised"]  # fmt: skip
    return np.select(conditions, reasons, default="")


# -- the issues ------------------------------------------------------------------------------


def _issues(st: _Site, frame: pl.DataFrame, max_depth_ok: int) -> dict[str, pl.DataFrame | _Lazy]:
    urls, n = st.urls, st.n
    score = st.link_score
    # The internal clickable links between two URLs: the links an issue lists.
    link_rows = np.flatnonzero(st.clickable & st.internal & (st.src != st.dst))
    link_dst = st.dst[link_rows]
    # The place of each URL in the page table, strongest first: links are listed by their
    # source's place, then their target's.
    ids = frame["id"].to_numpy()
    rank = np.full(n, n, np.int64)
    rank[ids] = np.arange(len(ids))

    def by_source(rows: np.ndarray) -> np.ndarray:
        return rows[np.lexsort((rank[st.dst[rows]], rank[st.src[rows]]))]

    def url(ids: np.ndarray) -> pl.Series:
        return _url_or_null(urls, ids)

    def status_of(ids: np.ndarray) -> pl.Series:
        ids = np.asarray(ids)
        return _nullable(np.where(ids >= 0, st.status[np.maximum(ids, 0)], -1))

    def link_frame(rows: np.ndarray) -> pl.DataFrame:
        taken = pa.array(rows, pa.int64())
        position = st.edges.column("position").take(taken)
        return pl.DataFrame(
            {
                "source": url(st.src[rows]),
                "target": url(st.dst[rows]),
                "anchor": pl.Series(st.anchors().take(taken), dtype=pl.String),
                "follow": st.follow[rows],
                "position": pl.Series(position.cast(pa.string()), dtype=pl.String),
                "kind": pl.Series(
                    st.edges.column("kind").take(taken).cast(pa.string()), dtype=pl.String
                ),
                "source_link_score": pl.Series(score[st.src[rows]], nan_to_null=True),
            }
        )

    def links_to(mask: np.ndarray, **extra: Any) -> _Lazy:
        rows = link_rows[mask[link_dst]]

        def build() -> pl.DataFrame:
            ordered = by_source(rows)
            out = link_frame(ordered)
            dst = st.dst[ordered]
            columns = {name: make(dst) for name, make in extra.items()}
            return out.with_columns(**columns) if columns else out

        return _Lazy(len(rows), build)

    error_text = np.full(n, None, dtype=object)
    errors_at = frame.filter(pl.col("error").is_not_null())
    error_text[errors_at["id"].to_numpy()] = errors_at["error"].to_numpy()

    def page_issue(mask: np.ndarray | pl.Expr, *columns: str) -> pl.DataFrame:
        # The page table's order: the strongest page first.
        where = pl.Series(mask[ids]) if isinstance(mask, np.ndarray) else mask
        return frame.filter(where).select(["url", *columns, "link_score"])

    issues: dict[str, pl.DataFrame | _Lazy] = {}
    issues["orphans"] = page_issue(
        pl.col("orphan"), "status", "in_sitemap", "discovered_by", "not_indexable_because"
    )
    # The single linking page of each page that answered 200 with one followed inlink.
    single = st.ok & (st.inlinks == 1)
    only = by_source(link_rows[single[link_dst] & st.follow[link_rows]])
    issues["single_inlink"] = pl.DataFrame(
        {
            "url": url(st.dst[only]),
            "link_score": pl.Series(score[st.dst[only]], nan_to_null=True),
            "source": url(st.src[only]),
            "source_link_score": pl.Series(score[st.src[only]], nan_to_null=True),
        }
    )
    issues["too_deep"] = page_issue(pl.col("depth") > max_depth_ok, "depth", "content_depth")
    issues["links_to_redirect"] = links_to(
        st.redirects,
        final_target=lambda d: url(st.final[d]),
        final_status=lambda d: status_of(st.final[d]),
        hops=lambda d: pl.Series(st.hops[d]),
        loop=lambda d: pl.Series(st.loop[d]),
    )
    issues["links_to_error"] = links_to(
        st.fetched & ((st.status >= 400) | st.network),
        status=status_of,
        error=lambda d: pl.Series(error_text[d], dtype=pl.String),
    )
    issues["links_to_noindex"] = links_to(st.noindex)
    issues["links_to_canonicalised"] = links_to(
        st.canonicalised, canonical=lambda d: url(st.canon[d])
    )
    issues["links_to_blocked"] = links_to(st.blocked)
    issues["redirect_chains"] = _redirect_chains(st, link_rows, url, status_of, rank)
    to = np.maximum(st.canon, 0)
    issues["canonical_chains"] = _canonical_issue(
        st, st.canonicalised & st.canonicalised[to], url, status_of, rank, chain=True
    )
    issues["canonical_to_non_200"] = _canonical_issue(
        st,
        st.canonicalised & st.fetched[to] & (st.status[to] != 200),
        url,
        status_of,
        rank,
        chain=False,
    )
    nofollow = link_rows[~st.follow[link_rows]]

    def nofollowed() -> pl.DataFrame:
        rows = by_source(nofollow)
        rel = pl.Series(st.edges.column("rel").take(pa.array(rows)).cast(pa.string()))
        return link_frame(rows).with_columns(rel=rel)

    issues["nofollowed_internal"] = _Lazy(len(nofollow), nofollowed)
    sitemap_of = st.sitemaps.select("url", "sitemap")
    in_map = st.in_sitemap

    def sitemap_issue(mask: np.ndarray, *columns: str) -> pl.DataFrame:
        picked = frame.filter(pl.Series(mask[ids]))
        picked = picked.join(sitemap_of, on="url", how="left", maintain_order="left")
        return picked.select(["url", "sitemap", *columns, "link_score"])

    failed = st.fetched & ~st.redirects & ((st.status >= 400) | st.network | st.blocked)
    issues["sitemap_non_200"] = sitemap_issue(in_map & failed, "status", "error")
    issues["sitemap_noindex"] = sitemap_issue(in_map & st.noindex)
    issues["sitemap_redirect"] = sitemap_issue(
        in_map & st.redirects, "status", "redirect_to", "redirect_hops"
    )
    issues["sitemap_canonicalised"] = sitemap_issue(in_map & st.canonicalised, "canonical")
    issues["no_outlinks"] = page_issue(
        pl.Series((st.ok & st.html)[ids])
        & (pl.col("outlinks_internal") + pl.col("outlinks_external") == 0),
        "inlinks",
    )
    return issues


def _redirect_chains(
    st: _Site, link_rows: np.ndarray, url: Any, status_of: Any, rank: np.ndarray
) -> pl.DataFrame:
    """One row per chain head (a redirecting URL that a page links to, a seed, a sitemap
    entry, or no other redirect's target) with two hops or more, or a loop."""
    head = np.zeros(st.n, bool)
    head[st.dst[link_rows]] = True
    head[st.seeds] = True
    head[st.sitemap_id] = True
    is_target = np.zeros(st.n, bool)
    is_target[st.dst[st.redirect]] = True
    head |= ~is_target
    pick = np.flatnonzero(st.redirects & head & ((st.hops >= 2) | st.loop))
    # The chains, walked hop by hop: chains are short, and their heads few.
    hop_rows = np.flatnonzero(st.redirect)
    step: dict[int, int] = {}
    for s, t in zip(st.src[hop_rows].tolist(), st.dst[hop_rows].tolist(), strict=True):
        step.setdefault(s, t)
    chains = []
    for u in pick.tolist():
        path, seen, at = [u], {u}, u
        while at in step:
            at = step[at]
            path.append(at)
            if at in seen:
                break
            seen.add(at)
        chains.append(" -> ".join(str(v) for v in st.urls.take(pa.array(path)).to_pylist()))
    to_head = link_rows[head[st.dst[link_rows]] & st.redirects[st.dst[link_rows]]]
    inbound = (
        pl.DataFrame({"id": st.dst[to_head], "score": st.link_score[st.src[to_head]]})
        .group_by("id")
        .agg(inlinks=pl.len(), top_source_link_score=pl.col("score").fill_nan(None).max())
    )
    out = pl.DataFrame(
        {
            "id": pick,
            "place": rank[pick],
            "url": url(pick),
            "hops": st.hops[pick],
            "loop": st.loop[pick],
            "final_target": url(st.final[pick]),
            "final_status": status_of(st.final[pick]),
            "chain": pl.Series(chains, dtype=pl.String),
        }
    )
    out = out.join(inbound, on="id", how="left").with_columns(
        pl.col("inlinks").fill_null(0).cast(pl.Int64)
    )
    out = out.sort(["top_source_link_score", "place"], descending=[True, False], nulls_last=True)
    return out.drop("id", "place")


def _canonical_issue(
    st: _Site, mask: np.ndarray, url: Any, status_of: Any, rank: np.ndarray, *, chain: bool
) -> pl.DataFrame:
    ids = np.flatnonzero(mask)
    ids = ids[np.argsort(rank[ids], kind="stable")]
    to = st.canon[ids]
    columns: dict[str, Any] = {"url": url(ids), "canonical": url(to)}
    if chain:
        columns["canonical_of_canonical"] = url(st.canon[to])
    else:
        columns["canonical_status"] = status_of(to)
    columns["link_score"] = pl.Series(st.link_score[ids], nan_to_null=True)
    return pl.DataFrame(columns)


def _pandas(frame: pl.DataFrame, like: pl.DataFrame | None = None) -> pd.DataFrame:
    """A polars frame as pandas: whole-number columns with nulls as Python ints and None
    (the exports write them as numbers and empty cells), text as Python strings. With
    ``like`` (the frame that ``frame`` is the first rows of), a column is converted as it
    would be in ``like``."""
    out = frame.to_pandas()
    whole = frame if like is None else like
    for name, dtype in frame.schema.items():
        if dtype.is_integer() and whole[name].null_count():
            out[name] = pd.Series(frame[name].to_list(), dtype=object, index=out.index)
    return out
