"""The site audit: one registered domain's own pages and internal links, as SEO tools audit
a site (click depth, link score, orphans, and the internal links that point at problems).
docs/site-audit.md defines every field and issue.

The graph work runs on integer ids: every URL of the site is numbered once (pyarrow), the
set work (joins, counts, the issue lists) is polars over those ids, depth is scipy's
breadth-first search, and the link score is the analysis's own PageRank and 0-100 scale
(:mod:`linkcrawl.analysis.definition`, :mod:`linkcrawl.analysis.pagerank`) on the site's
internal graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

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
    pages: pd.DataFrame = field(repr=False)
    _issues: dict[str, pl.DataFrame] = field(repr=False, default_factory=dict)

    def issue(self, name: str) -> pd.DataFrame:
        """The rows of issue ``name`` (see :data:`ISSUES`), the one to fix first on top."""
        if name not in ISSUES:
            raise LinkcrawlError(f"unknown issue {name!r}: choose from {', '.join(ISSUES)}")
        return _pandas(self._issues[name])

    def counts(self) -> pd.DataFrame:
        """One row per issue: issue, rows, and what it lists."""
        names = list(ISSUES)
        return pd.DataFrame(
            {
                "issue": names,
                "rows": [self._issues[n].height for n in names],
                "description": [ISSUES[n] for n in names],
            }
        )


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
    pages, sitemaps, edges = _read(ds, crawl_id, name)
    if pages.height == 0 and sitemaps.height == 0:
        raise LinkcrawlError(f"crawl {crawl_id} has no page of {name}{_crawled_hint(ds, crawl_id)}")
    seeds = [
        str(s) for s in (ds.manifest(crawl_id).fields.get("seeds") or []) if isinstance(s, str)
    ]
    return _audit(pages, sitemaps, edges, seeds, name, crawl_id, max_depth_ok, engine, definition)


# -- reading ---------------------------------------------------------------------------------

_PAGE_READ = ["url", "status", "error", "title", "canonical", "noindex", "content_type",
              "depth", "fetched_at", "discovered_by"]  # fmt: skip
_EDGE_READ = ["source", "target", "anchor", "rel", "follow", "position", "kind", "ordinal",
              "target_domain"]  # fmt: skip


def _read(ds: Dataset, crawl_id: str, domain: str) -> tuple[pl.DataFrame, ...]:
    """The site's pages (one row per URL, its last fetch), its sitemap entries, and the
    links on its pages."""
    try:
        pages = ds.arrow("pages", crawl_id).to_table(columns=_PAGE_READ)
        hosts = url_hosts(pages.column("url"))
        distinct = pc.unique(hosts).to_pylist()
        ours = [h for h in distinct if h is not None and registered_domain(h) == domain]
        pages = pages.filter(pc.is_in(hosts, pa.array(ours, pa.string())))
        sitemaps = ds.arrow("sitemaps", crawl_id).to_table(
            columns=["url", "sitemap"], filter=pc.field("domain") == domain
        )
        edges = ds.arrow("edges", crawl_id).to_table(
            columns=_EDGE_READ, filter=pc.field("source_domain") == domain
        )
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{ds.root}: crawl {crawl_id}: {first_line(exc)}") from None
    page_frame = pl.from_arrow(pages)
    edge_frame = pl.from_arrow(edges)
    assert isinstance(page_frame, pl.DataFrame) and isinstance(edge_frame, pl.DataFrame)
    if page_frame["url"].n_unique() < page_frame.height:
        # A resumed crawl can hold a page twice: its last fetch counts, and its links once.
        page_frame = page_frame.sort("fetched_at").unique("url", keep="last", maintain_order=True)
        edge_frame = edge_frame.unique(
            ["source", "ordinal", "target", "kind"], keep="first", maintain_order=True
        )
    sitemap_frame = pl.from_arrow(sitemaps)
    assert isinstance(sitemap_frame, pl.DataFrame)
    sitemap_frame = sitemap_frame.unique("url", keep="first", maintain_order=True)
    return page_frame, sitemap_frame, edge_frame


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


def _audit(
    pages: pl.DataFrame,
    sitemaps: pl.DataFrame,
    edges: pl.DataFrame,
    seed_urls: list[str],
    domain: str,
    crawl_id: str,
    max_depth_ok: int,
    engine: str,
    definition: Definition,
) -> SiteAudit:
    # Number every URL once: pages, sitemap entries, link ends and canonicals.
    urls, (page_id, sitemap_id, source, target, canonical) = number_strings(
        [
            _strings(pages["url"]),
            _strings(sitemaps["url"]),
            _strings(edges["source"]),
            _strings(edges["target"]),
            _strings(pages["canonical"]),
        ]
    )
    n = len(urls)
    kind = edges["kind"]
    position = edges["position"]
    links = pl.DataFrame(
        {
            "src": source,
            "dst": target,
            "follow": edges["follow"],
            "kind": kind,
            "position": position,
            "internal": edges["target_domain"] == domain,
            "clickable": kind.is_in(LINK_KINDS),
            "redirect": kind.is_in(REDIRECT_KINDS),
            "row": np.arange(edges.height),
        }
    )
    # Per URL id: fetched, status (-1: none), robots-blocked, network error, noindex,
    # canonical id (-1: none).
    fetched = np.zeros(n, bool)
    fetched[page_id] = True
    status = np.full(n, -1, np.int32)
    status[page_id] = pages["status"].fill_null(-1).to_numpy()
    error = pages["error"]
    blocked = np.zeros(n, bool)
    blocked[page_id] = (error == _ROBOTS).fill_null(False).to_numpy()
    network = np.zeros(n, bool)
    network[page_id] = (pages["status"].is_null() & error.is_not_null()).to_numpy() & ~blocked[
        page_id
    ]
    noindex = np.zeros(n, bool)
    noindex[page_id] = pages["noindex"].fill_null(False).to_numpy()
    canon = np.full(n, -1, np.int64)
    canon[page_id] = canonical
    canonicalised = (canon >= 0) & (canon != np.arange(n))
    html = np.zeros(n, bool)
    html[page_id] = pages["content_type"].fill_null("text/html").str.contains("html").to_numpy()

    # Redirects: each redirecting URL's next hop, then its final target and hops.
    hop = links.filter(pl.col("redirect")).group_by("src").agg(pl.col("dst").first())
    nxt = np.full(n, -1, np.int64)
    nxt[hop["src"].to_numpy()] = hop["dst"].to_numpy()
    redirects = nxt >= 0
    final, hops, loop = _resolve_redirects(nxt)
    ok = fetched & (status == 200) & ~redirects
    eligible = ok & ~canonicalised  # may receive link score

    # Depth from the seeds over followed internal links and redirects.
    in_site = np.zeros(n, bool)
    in_site[page_id] = True
    in_site[sitemap_id] = True
    internal = links.filter(pl.col("internal"))
    in_site[internal["dst"].to_numpy()] = True
    seeds = _seeds(urls, seed_urls, pages, page_id, in_site)
    walk = internal.filter(pl.col("follow") & (pl.col("clickable") | pl.col("redirect")))
    depth = _depth(walk["src"].to_numpy(), walk["dst"].to_numpy(), n, seeds)
    content_walk = walk.filter(~pl.col("position").fill_null(CONTENT).is_in(NAVIGATION + FOOTER))
    content_depth = _depth(content_walk["src"].to_numpy(), content_walk["dst"].to_numpy(), n, seeds)

    # Link score: the analysis's PageRank on the eligible pages; a link to a redirect counts
    # for the redirect's final target.
    node = np.full(n, -1, np.int64)
    node[ok] = np.arange(int(ok.sum()))
    score_links = internal.filter(pl.col("clickable"))
    s = score_links["src"].to_numpy()
    t = final[score_links["dst"].to_numpy()]
    keep = (node[s] >= 0) & (t >= 0)
    keep[keep] &= eligible[t[keep]]
    weight = _weights(score_links, definition)
    link_score = np.full(n, np.nan)
    link_score[ok] = _link_score(
        node[s[keep]], node[t[keep]], weight[keep], int(ok.sum()), engine, definition
    )

    # Inlinks and outlinks, over clickable links between two different URLs.
    clicks = links.filter(pl.col("clickable") & (pl.col("src") != pl.col("dst")))
    boilerplate = pl.col("position").fill_null(CONTENT)
    inbound = (
        clicks.filter(pl.col("internal"))
        .group_by("dst")
        .agg(
            inlinks=pl.col("follow").sum(),
            inlinks_nofollow=(~pl.col("follow")).sum(),
            unique_inlinks=pl.col("src").n_unique(),
            inlinks_content=(pl.col("follow") & ~boilerplate.is_in(NAVIGATION + FOOTER)).sum(),
            inlinks_navigation=(pl.col("follow") & boilerplate.is_in(NAVIGATION)).sum(),
            inlinks_footer=(pl.col("follow") & boilerplate.is_in(FOOTER)).sum(),
        )
    )
    outbound = clicks.group_by("src").agg(
        outlinks_internal=pl.col("internal").sum(), outlinks_external=(~pl.col("internal")).sum()
    )
    linked = np.zeros(n, bool)
    reach = internal.filter(
        (pl.col("clickable") | pl.col("redirect")) & (pl.col("src") != pl.col("dst"))
    )
    linked[reach["dst"].to_numpy()] = True

    in_sitemap = np.zeros(n, bool)
    in_sitemap[sitemap_id] = True
    by_sitemap = np.zeros(n, bool)
    by_sitemap[page_id] = (pages["discovered_by"] == "sitemap").fill_null(False).to_numpy()
    orphan = (in_sitemap | by_sitemap) & ~linked

    reason = _not_indexable(fetched, status, blocked, network, redirects, noindex, canonicalised)

    # The per-page table: the site's fetched pages and its sitemap URLs.
    rows = np.flatnonzero(fetched | in_sitemap)
    url_text = pl.Series("url", urls.take(pa.array(rows)))
    page_of = np.full(n, -1, np.int64)
    page_of[page_id] = np.arange(pages.height)
    at = page_of[rows]

    def from_pages(column: str) -> pl.Series:
        values = pages[column].gather(np.maximum(at, 0))
        return pl.select(pl.when(pl.Series(at >= 0)).then(values).otherwise(None)).to_series()

    ids = pl.Series("id", rows)
    redirect_to = np.where(redirects[rows] & (final[rows] >= 0), final[rows], -1)
    frame = pl.DataFrame(
        {
            "id": ids,
            "url": url_text,
            "status": _nullable(status[rows]),
            "indexable": reason[rows] == "",
            "not_indexable_because": pl.Series(reason[rows]).replace("", None),
            "depth": _nullable(depth[rows]),
            "content_depth": _nullable(content_depth[rows]),
            "link_score": pl.Series(link_score[rows], nan_to_null=True),
            "in_sitemap": in_sitemap[rows],
            "orphan": orphan[rows],
            "canonical": _url_or_null(urls, np.where(canonicalised[rows], canon[rows], -1)),
            "redirect_to": _url_or_null(urls, redirect_to),
            "redirect_hops": _nullable(np.where(redirects[rows], hops[rows], -1)),
            "title": from_pages("title"),
            "discovered_by": from_pages("discovered_by"),
            "error": from_pages("error"),
        }
    )
    counts = ["inlinks", "inlinks_nofollow", "unique_inlinks", "inlinks_content",
              "inlinks_navigation", "inlinks_footer"]  # fmt: skip
    frame = (
        frame.join(inbound.rename({"dst": "id"}), on="id", how="left")
        .join(outbound.rename({"src": "id"}), on="id", how="left")
        .with_columns(
            pl.col(c).fill_null(0).cast(pl.Int64)
            for c in [*counts, "outlinks_internal", "outlinks_external"]
        )
        .sort(["link_score", "url"], descending=[True, False], nulls_last=True)
    )

    state = _State(
        urls=urls, edges=edges, links=links, frame=frame, status=status, fetched=fetched,
        blocked=blocked, network=network, noindex=noindex, canon=canon,
        canonicalised=canonicalised, redirects=redirects, final=final, hops=hops, loop=loop,
        link_score=link_score, ok=ok, html=html, in_sitemap=in_sitemap, sitemaps=sitemaps,
        sitemap_id=sitemap_id, seeds=seeds, max_depth_ok=max_depth_ok,
    )  # fmt: skip
    issues = _issues(state)
    summary: dict[str, Any] = {
        "domain": domain,
        "crawl_id": crawl_id,
        "pages": frame.height,
        "fetched": int(fetched[rows].sum()),
        "indexable": int(frame["indexable"].sum()),
        "in_sitemap": int(in_sitemap.sum()),
        "sitemap_entries": sitemaps.height,
        "seeds": urls.take(pa.array(seeds, pa.int64())).to_pylist(),
        "max_depth": None if frame["depth"].is_null().all() else int(frame["depth"].max()),  # type: ignore[arg-type]
        "max_depth_ok": max_depth_ok,
        "issues": {name: rows.height for name, rows in issues.items()},
    }
    pages_out = _pandas(frame.drop("id").select(PAGE_COLUMNS))
    return SiteAudit(summary, pages_out, issues)


@dataclass
class _State:
    urls: pa.Array
    edges: pl.DataFrame
    links: pl.DataFrame
    frame: pl.DataFrame
    status: np.ndarray
    fetched: np.ndarray
    blocked: np.ndarray
    network: np.ndarray
    noindex: np.ndarray
    canon: np.ndarray
    canonicalised: np.ndarray
    redirects: np.ndarray
    final: np.ndarray
    hops: np.ndarray
    loop: np.ndarray
    link_score: np.ndarray
    ok: np.ndarray
    html: np.ndarray
    in_sitemap: np.ndarray
    sitemaps: pl.DataFrame
    sitemap_id: np.ndarray
    seeds: np.ndarray
    max_depth_ok: int


def _strings(column: pl.Series) -> pa.ChunkedArray:
    """A polars text column as the Arrow strings number_strings takes."""
    return pa.chunked_array([column.to_arrow()]).cast(pa.string())


def _nullable(values: np.ndarray) -> pl.Series:
    """Whole numbers, -1 as null."""
    return pl.Series(values.astype(np.int64)).set(pl.Series(values < 0), None)


def _url_or_null(urls: pa.Array, ids: np.ndarray) -> pl.Series:
    ids = np.asarray(ids, np.int64)
    return pl.Series(urls.take(pa.array(np.maximum(ids, 0), mask=ids < 0)))


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
    if not ids and pages.height:
        crawl_depth = pages["depth"].fill_null(np.iinfo(np.int16).max).to_numpy()
        ids.update(page_id[crawl_depth == crawl_depth.min()].tolist())
    return np.array(sorted(ids), np.int64)


def _depth(source: np.ndarray, target: np.ndarray, n: int, seeds: np.ndarray) -> np.ndarray:
    """Fewest links from any seed to each id (-1: unreachable), by breadth-first search."""
    depth = np.full(n, -1, np.int64)
    if n == 0 or len(seeds) == 0:
        return depth
    graph = sp.csr_matrix((np.ones(len(source)), (source, target)), shape=(n, n))
    distance = dijkstra(graph, directed=True, indices=seeds, unweighted=True, min_only=True)
    reached = np.isfinite(distance)
    depth[reached] = distance[reached].astype(np.int64)
    return depth


def _weights(links: pl.DataFrame, definition: Definition) -> np.ndarray:
    """Each link's weight by the definition's rule 1, computed once per (follow, kind,
    position) combination."""
    keys = ["follow", "kind", "position"]
    combos = links.select(keys).unique()
    weights = combos.with_columns(
        weight=pl.Series(
            [definition.weight(f, k, p) for f, k, p in combos.iter_rows()], dtype=pl.Float64
        )
    )
    joined = links.select(keys).join(weights, on=keys, how="left", nulls_equal=True,
                                     maintain_order="left")  # fmt: skip
    return joined["weight"].to_numpy()


def _link_score(
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    n: int,
    engine: str,
    definition: Definition,
) -> np.ndarray:
    """The analysis's PageRank of the site graph on its 0-100 scale (rules 2-4 of
    :class:`~linkcrawl.analysis.definition.Definition`)."""
    if n == 0:
        return np.zeros(0)
    s, t, w = collapse_links(source, target, weight, n, keep_zero=False)
    pagerank = SOLVERS[engine](s, t, w, n, definition)
    out_weight = np.bincount(s, weights=w, minlength=n)
    linked = np.bincount(t, weights=w, minlength=n) > 0
    lowest = floor(pagerank[out_weight == 0].sum(), n, definition.damping)
    return authority_scale(pagerank, lowest, linked)


def _not_indexable(
    fetched: np.ndarray,
    status: np.ndarray,
    blocked: np.ndarray,
    network: np.ndarray,
    redirects: np.ndarray,
    noindex: np.ndarray,
    canonicalised: np.ndarray,
) -> np.ndarray:
    """Why each URL is not indexable ("" when it is): the first reason that applies."""
    conditions = [
        ~fetched,
        blocked,
        network,
        redirects,
        (status >= 400) & (status < 500),
        status >= 500,
        status != 200,
        noindex,
        canonicalised,
    ]
    reasons = ["not-crawled", "robots-blocked", "network-error", "redirect", "client-error",
               "server-error", "non-200", "noindex", "canonicalised"]  # fmt: skip
    return np.select(conditions, reasons, default="")


# -- the issues ------------------------------------------------------------------------------


def _issues(st: _State) -> dict[str, pl.DataFrame]:
    urls, frame = st.urls, st.frame

    def url(ids: pl.Expr | pl.Series | np.ndarray) -> pl.Series:
        values = ids.to_numpy() if isinstance(ids, pl.Series) else np.asarray(ids)
        return _url_or_null(urls, values)

    # The internal clickable links, with their text and the linking page's score.
    clicks = st.links.filter(
        pl.col("clickable") & pl.col("internal") & (pl.col("src") != pl.col("dst"))
    )
    rows = clicks["row"].to_numpy()
    link_table = pl.DataFrame(
        {
            "src": clicks["src"],
            "dst": clicks["dst"],
            "source": url(clicks["src"]),
            "target": url(clicks["dst"]),
            "anchor": st.edges["anchor"].gather(rows),
            "rel": st.edges["rel"].gather(rows),
            "follow": clicks["follow"],
            "position": clicks["position"],
            "kind": clicks["kind"],
            "source_link_score": pl.Series(
                st.link_score[clicks["src"].to_numpy()], nan_to_null=True
            ),
        }
    )

    def links_to(mask: np.ndarray, **extra: Any) -> pl.DataFrame:
        hit = link_table.filter(pl.Series(mask[link_table["dst"].to_numpy()]))
        dst = hit["dst"].to_numpy()
        columns = {name: make(dst) for name, make in extra.items()}
        out = hit.with_columns(**columns) if columns else hit
        return _ordered(out.select([*_LINK_COLUMNS, *columns]), "source_link_score", "source")

    def status_of(ids: np.ndarray) -> pl.Series:
        values = st.status[np.maximum(ids, 0)]
        return _nullable(np.where(ids >= 0, values, -1))

    error_text = np.full(len(st.status), None, dtype=object)
    page_errors = frame.filter(pl.col("error").is_not_null())
    error_text[page_errors["id"].to_numpy()] = page_errors["error"].to_numpy()

    def page_issue(mask: pl.Expr, *columns: str) -> pl.DataFrame:
        picked = frame.filter(mask).select(["url", *columns, "link_score"])
        return _ordered(picked, "link_score", "url")

    issues: dict[str, pl.DataFrame] = {}
    issues["orphans"] = page_issue(
        pl.col("orphan"), "status", "in_sitemap", "discovered_by", "not_indexable_because"
    )
    answered = pl.Series(st.ok[frame["id"].to_numpy()])
    single = frame.filter(answered & (pl.col("inlinks") == 1)).select(["id", "url", "link_score"])
    only = (
        link_table.filter(pl.col("follow"))
        .join(single.select(pl.col("id").alias("dst")), on="dst", how="semi")
        .select(pl.col("dst").alias("id"), "source", "source_link_score")
    )
    issues["single_inlink"] = _ordered(
        single.join(only, on="id", how="left").drop("id"), "source_link_score", "url"
    )
    issues["too_deep"] = page_issue(pl.col("depth") > st.max_depth_ok, "depth", "content_depth")
    issues["links_to_redirect"] = links_to(
        st.redirects,
        final_target=lambda d: url(st.final[d]),
        final_status=lambda d: status_of(st.final[d]),
        hops=lambda d: pl.Series(st.hops[d]),
        loop=lambda d: pl.Series(st.loop[d]),
    )
    broken = st.fetched & ((st.status >= 400) | st.network)
    issues["links_to_error"] = links_to(
        broken,
        status=lambda d: status_of(d),
        error=lambda d: pl.Series(error_text[d], dtype=pl.String),
    )
    issues["links_to_noindex"] = links_to(st.noindex)
    issues["links_to_canonicalised"] = links_to(
        st.canonicalised, canonical=lambda d: url(st.canon[d])
    )
    issues["links_to_blocked"] = links_to(st.blocked)
    issues["redirect_chains"] = _redirect_chains(st, link_table, url, status_of)
    issues["canonical_chains"] = _canonical_issue(
        st, st.canonicalised & st.canonicalised[np.maximum(st.canon, 0)], url, status_of, True
    )
    target_bad = st.fetched[np.maximum(st.canon, 0)] & (st.status[np.maximum(st.canon, 0)] != 200)
    issues["canonical_to_non_200"] = _canonical_issue(
        st, st.canonicalised & target_bad, url, status_of, False
    )
    issues["nofollowed_internal"] = _ordered(
        link_table.filter(~pl.col("follow")).select([*_LINK_COLUMNS, "rel"]),
        "source_link_score",
        "source",
    )
    in_map = np.zeros(len(st.status), bool)
    in_map[st.sitemap_id] = True
    sitemap_of = st.sitemaps.select(pl.col("url"), pl.col("sitemap"))

    def sitemap_issue(mask: np.ndarray, *columns: str) -> pl.DataFrame:
        picked = frame.filter(pl.Series(mask[frame["id"].to_numpy()]))
        picked = picked.join(sitemap_of, on="url", how="left")
        return _ordered(
            picked.select(["url", "sitemap", *columns, "link_score"]), "link_score", "url"
        )

    errors = in_map & st.fetched & ~st.redirects & ((st.status >= 400) | st.network | st.blocked)
    issues["sitemap_non_200"] = sitemap_issue(errors, "status", "error")
    issues["sitemap_noindex"] = sitemap_issue(in_map & st.noindex)
    issues["sitemap_redirect"] = sitemap_issue(
        in_map & st.redirects, "status", "redirect_to", "redirect_hops"
    )
    issues["sitemap_canonicalised"] = sitemap_issue(in_map & st.canonicalised, "canonical")
    html = pl.Series(st.html[frame["id"].to_numpy()])
    issues["no_outlinks"] = page_issue(
        answered & html & (pl.col("outlinks_internal") + pl.col("outlinks_external") == 0),
        "inlinks",
    )
    return issues


def _redirect_chains(
    st: _State, link_table: pl.DataFrame, url: Any, status_of: Any
) -> pl.DataFrame:
    """One row per chain head: a redirecting URL that a page links to, a seed, a sitemap
    entry, or no other redirect's target; with two hops or more, or a loop."""
    n = len(st.status)
    head = np.zeros(n, bool)
    head[link_table["dst"].to_numpy()] = True
    head[st.seeds] = True
    head[st.sitemap_id] = True
    redirect_targets = st.links.filter(pl.col("redirect"))["dst"].to_numpy()
    is_target = np.zeros(n, bool)
    is_target[redirect_targets] = True
    head |= ~is_target
    pick = np.flatnonzero(st.redirects & head & ((st.hops >= 2) | st.loop))
    inbound = link_table.group_by("dst").agg(
        inlinks=pl.len(), top_source_link_score=pl.col("source_link_score").max()
    )
    # The chains themselves, walked hop by hop (chains are short; heads are few).
    hop = st.links.filter(pl.col("redirect")).group_by("src").agg(pl.col("dst").first())
    step = dict(zip(hop["src"].to_list(), hop["dst"].to_list(), strict=True))
    chains = []
    for u in pick.tolist():
        path, seen, at = [u], {u}, u
        while at in step:
            at = step[at]
            path.append(at)
            if at in seen:
                break
            seen.add(at)
        chains.append(" -> ".join(urls_of(st.urls, path)))
    out = pl.DataFrame(
        {
            "dst": pick,
            "url": url(pick),
            "hops": st.hops[pick],
            "loop": st.loop[pick],
            "final_target": url(st.final[pick]),
            "final_status": status_of(st.final[pick]),
            "chain": pl.Series(chains, dtype=pl.String),
        }
    )
    out = out.join(inbound, on="dst", how="left").with_columns(pl.col("inlinks").fill_null(0))
    return _ordered(out.drop("dst"), "top_source_link_score", "url")


def urls_of(urls: pa.Array, ids: list[int]) -> list[str]:
    return [str(u) for u in urls.take(pa.array(ids, pa.int64())).to_pylist()]


def _canonical_issue(
    st: _State, mask: np.ndarray, url: Any, status_of: Any, chain: bool
) -> pl.DataFrame:
    ids = np.flatnonzero(mask)
    to = st.canon[ids]
    columns: dict[str, Any] = {"url": url(ids), "canonical": url(to)}
    if chain:
        columns["canonical_of_canonical"] = url(st.canon[to])
    else:
        columns["canonical_status"] = status_of(to)
    columns["link_score"] = pl.Series(st.link_score[ids], nan_to_null=True)
    return _ordered(pl.DataFrame(columns), "link_score", "url")


def _ordered(frame: pl.DataFrame, score: str, tie: str) -> pl.DataFrame:
    """Strongest first (missing scores last), then by ``tie``: a stable, total order."""
    return frame.sort([score, tie], descending=[True, False], nulls_last=True, maintain_order=True)


def _pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """A polars frame as pandas: whole-number columns with nulls as Python ints and None
    (the exports write them as numbers and empty cells), text as Python strings."""
    out = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if dtype.is_integer() and frame[name].null_count():
            out[name] = pd.Series(frame[name].to_list(), dtype=object, index=out.index)
    return out
