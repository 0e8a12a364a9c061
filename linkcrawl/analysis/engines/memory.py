"""The in-memory engines: the crawl's graph as numpy arrays, PageRank by the scipy power
iteration (``sparse``) or by networkx (``networkx``, the reference), and the three
authority tables built from them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from linkcrawl.analysis.definition import Definition, authority_scale, floor
from linkcrawl.analysis.graph import CrawlGraph, load_graph, number_strings
from linkcrawl.analysis.pagerank import Solver, networkx_pagerank, sparse_pagerank
from linkcrawl.dataset.layout import RemotePath
from linkcrawl.dataset.reader import Dataset
from linkcrawl.dataset.schemas import (
    DICTIONARY_COLUMNS,
    DOMAINS_SCHEMA,
    INBOUND_SCHEMA,
    PAGE_AUTHORITY_SCHEMA,
    ROW_GROUP_SIZE,
)
from linkcrawl.dataset.write import write_table_atomic, write_tables_atomic

__all__ = ["NETWORKX", "SPARSE", "MemoryEngine"]

# Rows of inbound.parquet built at a time: whole row groups, few enough that the chunk
# being built and the one being written take little memory.
_INBOUND_CHUNK = 4 * ROW_GROUP_SIZE


@dataclass(frozen=True)
class MemoryEngine:
    """An :class:`~linkcrawl.analysis.engines.Engine` holding the graph in this process's
    memory; ``solver`` computes PageRank (the only difference between sparse and networkx)."""

    solver: Solver

    def analyze(
        self,
        dataset: Dataset,
        crawl_id: str,
        definition: Definition,
        out: Path | RemotePath,
        options: Any,
        say: Callable[[str], None],
    ) -> None:
        graph = load_graph(dataset, crawl_id, definition=definition)
        # The edges as read are freed now; pyarrow's pool keeps freed memory for its next
        # arrays, but what comes next is numpy's (malloc's): hand it back.
        pa.default_memory_pool().release_unused()
        say(
            f"analyze {crawl_id}: {graph.n_pages} pages, {len(graph.source)} links, "
            f"{graph.n_domains} domains"
        )
        staging = dataset.root / ".staging"
        # The domain table and the pages' counts need no page PageRank: a second thread
        # computes them while this one iterates (numpy and scipy release the GIL).
        with ThreadPoolExecutor(1) as pool:
            domains_done = pool.submit(_domain_table, graph, self.solver, definition)
            counts_done = pool.submit(_page_counts, graph)
            source, target, weight = graph.collapsed(keep_zero=False)
            page_pr = self.solver(source, target, weight, graph.n_pages, definition)
            out_weight = np.bincount(source, weights=weight, minlength=graph.n_pages)
            linked = np.bincount(target, weights=weight, minlength=graph.n_pages) > 0
            del source, target, weight
            page_floor = floor(page_pr[out_weight == 0].sum(), graph.n_pages, definition.damping)
            page_authority = authority_scale(page_pr, page_floor, linked)
            say(f"analyze {crawl_id}: page PageRank done")
            pages = _pages_table(graph, page_pr, page_authority, counts_done.result())
            write_table_atomic(pages, out / "pages.parquet", staging)
            del pages
            domains, domain_authority = domains_done.result()
            say(f"analyze {crawl_id}: domain PageRank done")
            rows = _inbound_rows(
                graph, page_pr, out_weight, page_authority, domain_authority, definition, pool
            )
            write_tables_atomic(
                rows, INBOUND_SCHEMA, out / "inbound.parquet", staging, _INBOUND_DICTIONARY
            )
        # domains.parquet last: on an object store it marks a whole analysis.
        write_table_atomic(domains, out / "domains.parquet", staging)


SPARSE = MemoryEngine(sparse_pagerank)
NETWORKX = MemoryEngine(networkx_pagerank)

_INBOUND_DICTIONARY = DICTIONARY_COLUMNS["authority/inbound"]


def _ranks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rank of each id, 1 for the highest score (a stable sort: ties keep id order,
    first seen in the crawl first), and the ids in rank order."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks, order


def _distinct_per(of: np.ndarray, per: np.ndarray, n: int) -> np.ndarray:
    """For each value of ``per`` in range(n), how many distinct values of ``of`` it has."""
    if len(of) == 0:
        return np.zeros(n, dtype=np.int64)
    span = int(of.max()) + 1
    pairs = np.unique(per.astype(np.int64) * span + of)
    return np.bincount(pairs // span, minlength=n).astype(np.int64)


def _link_counts(target: np.ndarray, followed: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inbound links per target id, and the followed share of them (NaN for none)."""
    inbound_links = np.bincount(target, minlength=n).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return inbound_links, np.bincount(followed, minlength=n) / inbound_links


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), from_pandas=True)  # NaN -> null


def _domain_table(
    graph: CrawlGraph, solver: Solver, definition: Definition
) -> tuple[pa.Table, np.ndarray]:
    """domains.parquet, and the authority of each domain id. The domain graph: A -> B,
    unweighted, when a followed link goes from a page on A to a page on B, A != B."""
    n = graph.n_domains
    cross = graph.source_domain != graph.target_domain
    source_domain, target_domain = graph.source_domain[cross], graph.target_domain[cross]
    # The distinct pairs of linked domains, the low bit set when any of a pair's links is
    # followed: the last (largest) key of each pair says.
    keys = np.unique(
        (source_domain.astype(np.int64) * n + target_domain) << 1 | graph.follow[cross]
    )
    last = np.ones(len(keys), dtype=bool)
    last[:-1] = (keys[1:] >> 1) != (keys[:-1] >> 1)
    pairs = keys[last] >> 1
    followed = pairs[(keys[last] & 1).astype(bool)]  # sorted by source, then target
    edge_source, edge_target = followed // n, followed % n
    domain_pr = solver(edge_source, edge_target, np.ones(len(followed)), n, definition)
    dangling = np.bincount(edge_source, minlength=n) == 0
    domain_floor = floor(domain_pr[dangling].sum(), n, definition.damping)
    domain_authority = authority_scale(
        domain_pr, domain_floor, np.bincount(edge_target, minlength=n) > 0
    )
    referring = np.bincount(pairs % n, minlength=n).astype(np.int64)
    inbound_links, follow_share = _link_counts(
        target_domain, graph.target_domain[cross & graph.follow], n
    )
    rank, order = _ranks(domain_pr)
    table = pa.table(
        {
            "domain": graph.domains.take(pa.array(order)),
            "pagerank": domain_pr[order],
            "authority": domain_authority[order],
            "referring_domains": referring[order],
            "inbound_links": inbound_links[order],
            "follow_share": _nullable(follow_share[order]),
            "rank": rank[order],
        },
        schema=DOMAINS_SCHEMA,
    )
    return table, domain_authority


def _page_counts(graph: CrawlGraph) -> tuple[np.ndarray, ...]:
    """Per page: inlinks (from any other page), then referring domains, inbound links and
    followed share over the links from other domains."""
    n = graph.n_pages
    inlinks = np.bincount(graph.target[graph.source != graph.target], minlength=n).astype(np.int64)
    cross = graph.source_domain != graph.target_domain
    referring = _distinct_per(graph.source_domain[cross], graph.target[cross], n)
    return (
        inlinks,
        referring,
        *_link_counts(graph.target[cross], graph.target[cross & graph.follow], n),
    )


def _pages_table(
    graph: CrawlGraph,
    page_pr: np.ndarray,
    page_authority: np.ndarray,
    counts: tuple[np.ndarray, ...],
) -> pa.Table:
    """pages.parquet: one row per page, strongest first."""
    inlinks, referring, inbound_links, follow_share = counts
    rank, order = _ranks(page_pr)
    return pa.table(
        {
            "url": graph.urls.take(pa.array(order)),
            "domain": graph.domains.take(pa.array(graph.page_domain[order])),
            "pagerank": page_pr[order],
            "authority": page_authority[order],
            "inlinks": inlinks[order],
            "referring_domains": referring[order],
            "inbound_links": inbound_links[order],
            "follow_share": _nullable(follow_share[order]),
            "rank": rank[order],
        },
        schema=PAGE_AUTHORITY_SCHEMA,
    )


def _inbound_rows(
    graph: CrawlGraph,
    page_pr: np.ndarray,
    out_weight: np.ndarray,
    page_authority: np.ndarray,
    domain_authority: np.ndarray,
    definition: Definition,
    pool: ThreadPoolExecutor,
) -> Iterator[pa.Table]:
    """The rows of inbound.parquet, a chunk at a time (the next built in ``pool`` while
    one is written): one row per link from another domain, valued by the PageRank it
    passes, value = d · PR(source) · w(link) / Σ w(source's links), ordered by target
    domain, then value, highest first, then the stronger source page, remaining ties in
    edges-table order; ranked within its target domain."""
    links = np.flatnonzero(graph.source_domain != graph.target_domain)
    source = graph.source[links]
    source_out = out_weight[source]
    share = np.divide(
        graph.weight[links], source_out, out=np.zeros(len(links)), where=source_out > 0
    )
    value = definition.damping * page_pr[source] * share
    source_authority = page_authority[source]
    target_domain = graph.target_domain[links]
    order = np.lexsort((-source_authority, -value, target_domain))  # stable
    links, target_domain = links[order], target_domain[order]
    source, value, source_authority = source[order], value[order], source_authority[order]
    del order, share, source_out
    starts = np.ones(len(links), dtype=bool)
    starts[1:] = target_domain[1:] != target_domain[:-1]
    rank = (
        np.arange(len(links))
        - np.maximum.accumulate(np.where(starts, np.arange(len(links)), 0))
        + 1
    )
    edge_rows = links if graph.rows is None else graph.rows[links]
    strings = {}
    for name in ("anchor", "rel", "position", "kind"):
        dictionary, (ids,) = number_strings([graph.edges.column(name)])
        strings[name] = (dictionary, ids[edge_rows])

    def text(name: str, a: int, b: int) -> pa.Array:
        dictionary, ids = strings[name]
        picked = ids[a:b]
        return dictionary.take(pa.array(picked, mask=picked < 0))

    def build(a: int, b: int) -> pa.Table:
        source_domain = graph.source_domain[links[a:b]]
        columns = {
            "target": graph.urls.take(pa.array(graph.target[links[a:b]])),
            "target_domain": graph.domains.take(pa.array(target_domain[a:b])),
            "source": graph.urls.take(pa.array(source[a:b])),
            "source_domain": graph.domains.take(pa.array(source_domain)),
            "anchor": text("anchor", a, b),
            "rel": text("rel", a, b),
            "follow": pa.array(graph.follow[links[a:b]]),
            "position": text("position", a, b),
            "kind": text("kind", a, b),
            "source_authority": source_authority[a:b],
            "source_domain_authority": domain_authority[source_domain],
            "value": value[a:b],
            "rank": rank[a:b],
        }
        return pa.table(columns, schema=INBOUND_SCHEMA)

    bounds = [*range(0, len(links), _INBOUND_CHUNK), len(links)]
    if len(bounds) == 1:
        bounds.append(0)
    pending = pool.submit(build, bounds[0], bounds[1])
    for a, b in pairwise(bounds[1:]):
        ready, pending = pending.result(), pool.submit(build, a, b)
        yield ready
    yield pending.result()
