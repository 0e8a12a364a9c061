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
from linkcrawl.dataset.schemas import AUTHORITY_SCHEMAS, DICTIONARY_COLUMNS, ROW_GROUP_SIZE
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
        links, domains = len(graph.source), graph.n_domains
        say(f"analyze {crawl_id}: {graph.n_pages} pages, {links} links, {domains} domains")
        staging = dataset.root / ".staging"
        if getattr(options, "relevance", False) or definition.relevance_weight > 0:
            _relevance(dataset, crawl_id, graph, definition, out, staging, say)
        # The domain table and the pages' counts need no page PageRank: a second thread
        # computes them while this one iterates (numpy and scipy release the GIL).
        with ThreadPoolExecutor(1) as pool:
            domains_done = pool.submit(_domain_table, graph, self.solver, definition)
            counts_done = pool.submit(_inbound_counts, graph, graph.target, graph.n_pages)
            source, target, weight = graph.collapsed(keep_zero=False)
            page_pr = self.solver(source, target, weight, graph.n_pages, definition)
            out_weight = np.bincount(source, weights=weight, minlength=graph.n_pages)
            linked = np.bincount(target, weights=weight, minlength=graph.n_pages) > 0
            del source, target, weight
            page_floor = floor(page_pr[out_weight == 0].sum(), graph.n_pages, definition.damping)
            page_authority = authority_scale(page_pr, page_floor, linked)
            say(f"analyze {crawl_id}: page PageRank done")
            not_self = graph.source != graph.target
            pages = _ranked(
                AUTHORITY_SCHEMAS["pages"], page_pr, url=graph.urls,
                domain=graph.domains.take(pa.array(graph.page_domain)), pagerank=page_pr,
                authority=page_authority,
                inlinks=np.bincount(graph.target[not_self], minlength=graph.n_pages),
                **counts_done.result(),
            )  # fmt: skip
            write_table_atomic(pages, out / "pages.parquet", staging)
            del pages, not_self
            domains, domain_authority = domains_done.result()
            say(f"analyze {crawl_id}: domain PageRank done")
            values = (page_pr, out_weight, page_authority, domain_authority, definition)
            rows, schema = _inbound_rows(graph, *values, pool), AUTHORITY_SCHEMAS["inbound"]
            encoded = DICTIONARY_COLUMNS["authority/inbound"]
            write_tables_atomic(rows, schema, out / "inbound.parquet", staging, encoded)
        # domains.parquet last: on an object store it marks a whole analysis.
        write_table_atomic(domains, out / "domains.parquet", staging)


def _relevance(
    dataset: Dataset,
    crawl_id: str,
    graph: CrawlGraph,
    definition: Definition,
    out: Path | RemotePath,
    staging: Path | RemotePath,
    say: Callable[[str], None],
) -> None:
    """Score the links between domains (relevance.parquet) and, with a relevance weight,
    fold the scores into the links' weights before PageRank."""
    from linkcrawl.analysis.relevance import (
        has_page_text,
        link_relevance,
        page_documents,
        relevance_table,
    )

    if not has_page_text(dataset, crawl_id):
        return  # a crawl without page text (before schema 4): nothing to score
    scored = link_relevance(graph, *page_documents(dataset, crawl_id))
    say(f"analyze {crawl_id}: relevance of {len(scored.source)} linked page pairs done")
    write_table_atomic(relevance_table(graph, scored), out / "relevance.parquet", staging)
    if definition.relevance_weight > 0:
        graph.weigh_by_relevance(scored.of_links(), definition)


SPARSE = MemoryEngine(sparse_pagerank)
NETWORKX = MemoryEngine(networkx_pagerank)


def _ranked(schema: pa.Schema, scores: np.ndarray, **columns: Any) -> pa.Table:
    """A table of ``schema`` from columns by id (Arrow arrays or numpy; NaN -> null), a
    row per id, highest score first (a stable sort: ties in id order, first seen in the
    crawl first), ranked from 1."""
    order = np.argsort(-scores, kind="stable")

    def pick(v: Any) -> pa.Array:
        if isinstance(v, pa.Array):
            return v.take(pa.array(order))
        return pa.array(v[order], from_pandas=True)

    ranked = {name: pick(v) for name, v in columns.items()}
    return pa.table({**ranked, "rank": np.arange(1, len(order) + 1)}, schema=schema)


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, ascending (``keys`` is sorted in place): a
    sort and a comparison, which numpy 2.4's np.unique takes many times longer for."""
    keys.sort()
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _inbound_counts(graph: CrawlGraph, target: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Over the links from another domain, per id of ``target`` (page or domain, by link
    row): distinct referring domains, inbound links, and the followed share of them."""
    cross = graph.source_domain != graph.target_domain
    target, follow = target[cross], graph.follow[cross]
    span = max(n, 1)
    pairs = _distinct(graph.source_domain[cross].astype(np.int64) * span + target)
    inbound_links = np.bincount(target, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        follow_share = np.bincount(target[follow], minlength=n) / inbound_links
    return {"referring_domains": np.bincount(pairs % span, minlength=n),
            "inbound_links": inbound_links, "follow_share": follow_share}  # fmt: skip


def _domain_table(
    graph: CrawlGraph, solver: Solver, definition: Definition
) -> tuple[pa.Table, np.ndarray]:
    """domains.parquet, and the authority of each domain id. The domain graph: A -> B,
    unweighted, when a followed link goes from a page on A to a page on B, A != B."""
    n = graph.n_domains
    followed = (graph.source_domain != graph.target_domain) & graph.follow
    source_domain, target_domain = graph.source_domain[followed], graph.target_domain[followed]
    pairs = _distinct(source_domain.astype(np.int64) * n + target_domain)
    source, target = pairs // n, pairs % n  # sorted by source, then target
    pr = solver(source, target, np.ones(len(pairs)), n, definition)
    domain_floor = floor(pr[np.bincount(source, minlength=n) == 0].sum(), n, definition.damping)
    authority = authority_scale(pr, domain_floor, np.bincount(target, minlength=n) > 0)
    counts = _inbound_counts(graph, graph.target_domain, n)
    schema = AUTHORITY_SCHEMAS["domains"]
    table = _ranked(schema, pr, domain=graph.domains, pagerank=pr, authority=authority, **counts)
    return table, authority


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
    # Within a target domain, rank = position - the position where the domain starts + 1.
    position = np.arange(len(links))
    starts = np.concatenate(([True], target_domain[1:] != target_domain[:-1]))
    rank = position - np.maximum.accumulate(np.where(starts, position, 0)) + 1
    edge_rows = links if graph.rows is None else graph.rows[links]
    strings = {}
    for name in ("anchor", "rel", "position", "kind"):
        column = graph.edges.column(name)
        if pa.types.is_dictionary(column.type):
            dictionary, (ids,) = number_strings([column])
            strings[name] = (dictionary, ids[edge_rows])
        else:  # read plain (anchors): one array, taken from by edge row
            strings[name] = (column.combine_chunks(), edge_rows)

    def text(name: str, a: int, b: int) -> pa.Array:
        values, ids = strings[name]
        picked = ids[a:b]
        return values.take(pa.array(picked, mask=picked < 0))

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
        return pa.table(columns, schema=AUTHORITY_SCHEMAS["inbound"])

    bounds = [*range(0, max(len(links), 1), _INBOUND_CHUNK), len(links)]
    pending = pool.submit(build, bounds[0], bounds[1])
    for a, b in pairwise(bounds[1:]):
        ready, pending = pending.result(), pool.submit(build, a, b)
        yield ready
    yield pending.result()
