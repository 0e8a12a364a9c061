"""The page graph of one crawl as numpy arrays (:class:`CrawlGraph`): edges read with
pyarrow, URLs and domains numbered in crawl order, links weighed by the definition."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from linkcrawl.analysis.definition import RELEVANCE_STEPS, Definition
from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.errors import DatasetError
from linkcrawl.extract.urls import registered_domain

__all__ = ["CrawlGraph", "collapse_links", "load_graph", "page_graph", "url_hosts"]

# Columns of the edges table the analysis reads; anchor and rel only feed inbound.parquet.
_GRAPH_COLUMNS = ["source", "target", "follow", "position", "kind", "ordinal",
                  "source_domain", "target_domain"]  # fmt: skip
_INBOUND_COLUMNS = ["anchor", "rel"]
# Read as Parquet's dictionary pages, which skips materialising millions of repeated
# strings. source too: a page's links are one run of rows, so a row group holds few
# distinct sources; anchors repeat (navigation, footers) across the pages of a site.
# The columns read as dictionaries: those the writer dictionary-encodes (DICTIONARY_COLUMNS),
# whose pages pyarrow hands over as they are. Anchors are written plain (they overflow the
# dictionary page), and reading them as a dictionary would hash ten million strings.
_DICTIONARY_COLUMNS = ["source", "rel", "position", "kind", "source_domain", "target_domain"]
_HOST = r"^[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^@/?#]*@)?(?P<host>\[[^\]]*\]|[^:/?#]*)"


@dataclass
class CrawlGraph:
    """The links of one crawl as arrays.

    Page ids index ``urls``, numbered by first appearance among the link sources, then
    the targets, then the fetched pages; domain ids index ``domains``, by first
    appearance among the source then the target domains. Link rows are the edges
    table's rows after de-duplication on (source, ordinal, target, kind), self-links
    included.
    """

    crawl_id: str
    urls: pa.Array  # page id -> URL
    page_domain: np.ndarray  # page id -> domain id
    domains: pa.Array  # domain id -> registered domain
    source: np.ndarray  # link row -> page id
    target: np.ndarray
    source_domain: np.ndarray  # link row -> domain id
    target_domain: np.ndarray
    follow: np.ndarray  # bool
    # The distinct weights a link can have, ascending, and the index of each link's among
    # them: weight == levels[level]. A handful of weights, so that collapse_links can
    # carry a link's weight in a few bits of its sort key.
    levels: np.ndarray
    level: np.ndarray
    rows: np.ndarray | None  # link row -> row of the edges table read (None: identity)
    edges: pa.Table  # anchor, rel, position, kind as read, for inbound.parquet

    @property
    def n_pages(self) -> int:
        return len(self.urls)

    @property
    def n_domains(self) -> int:
        return len(self.domains)

    @property
    def weight(self) -> np.ndarray:
        """The weight of each link row (Definition.weight)."""
        return self.levels[self.level]

    def weigh_by_relevance(self, relevance: np.ndarray, definition: Definition) -> None:
        """Scale each link's weight by its relevance factor (Definition rule 1), given the
        relevance of each link row (NaN: not scaled): the levels become the distinct
        products of a weight and a factor."""
        factors = definition.relevance_factors()
        unscaled = len(factors) - 1
        known = ~np.isnan(relevance)
        step = np.full(len(relevance), unscaled, dtype=np.intp)
        step[known] = np.rint(relevance[known] * RELEVANCE_STEPS).astype(np.intp)
        products = np.outer(self.levels, factors).ravel()
        distinct, index = np.unique(products, return_inverse=True)
        combined = self.level.astype(np.intp) * len(factors) + step
        self.levels, self.level = distinct, index.astype(np.uint16)[combined]

    def collapsed(self, keep_zero: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The weighted page graph: see :func:`collapse_links`."""
        levels = (self.levels, self.level)
        return collapse_links(self.source, self.target, self.weight, self.n_pages,
                              keep_zero=keep_zero, levels=levels)  # fmt: skip


def collapse_links(
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    n: int,
    *,
    keep_zero: bool = True,
    levels: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse parallel links to their highest weight and drop self-links.

    Returns (source, target, weight), one row per linked pair of pages, sorted by source
    then target: the order of the transition matrix. ``keep_zero=False`` drops pairs
    whose highest weight is 0. ``levels``: the distinct weights, ascending, and the index
    of each link's weight among them, when known (see :class:`CrawlGraph`).

    One sort of an int64 key does the grouping, the maximum and the order at once: key =
    source, target and weight level in bit fields, so that the last key of each pair
    holds its highest weight.
    """
    keep = source != target
    if levels is None:
        levels = np.unique(weight, return_inverse=True)
    distinct, level = levels
    if not keep_zero:
        keep &= distinct[level] > 0
    source, target, level = source[keep], target[keep], level[keep]
    level_bits = max(len(distinct) - 1, 1).bit_length()
    target_bits = max(n - 1, 1).bit_length()
    if 2 * target_bits + level_bits > 62:  # some 10^9 pages, beyond memory anyway
        raise DatasetError(f"{n} pages are too many for the in-memory engines: use duckdb")
    key = source.astype(np.int64)
    key <<= target_bits
    key |= target
    key <<= level_bits
    key |= level
    key.sort()  # equal keys are equal links: no order among them to keep
    last = np.ones(len(key), dtype=bool)
    last[:-1] = (key[1:] >> level_bits) != (key[:-1] >> level_bits)
    key = key[last]
    best = distinct[key & ((1 << level_bits) - 1)]
    key >>= level_bits
    return key >> target_bits, key & ((1 << target_bits) - 1), best


def number_strings(columns: list[pa.ChunkedArray]) -> tuple[pa.Array, list[np.ndarray]]:
    """The distinct strings of several columns by first appearance (columns in the order
    given), and each column's ids (int32, -1 for null). A chunk read as Parquet's
    dictionary pages costs the hashing of its dictionary only (which lists a row group's
    values as they first appear in it), then a gather of its indices."""
    pieces = [
        c.dictionary if pa.types.is_dictionary(c.type) else c for x in columns for c in x.chunks
    ]
    if not pieces:
        return pa.array([], pa.string()), [np.zeros(0, np.int32) for _ in columns]
    encoded = pc.dictionary_encode(pa.chunked_array(pieces, pa.string()))
    # The hash kernel grows one dictionary over the chunks: the last chunk's is all of it.
    dictionary = encoded.chunks[-1].dictionary
    codes = iter(_ids(c.indices) for c in encoded.chunks)
    out = []
    for column in columns:
        ids = [
            np.append(next(codes), np.int32(-1))[_ids(c.indices, null=len(c.dictionary))]
            if pa.types.is_dictionary(c.type)
            else next(codes)
            for c in column.chunks
        ]
        out.append(np.concatenate(ids) if ids else np.zeros(0, np.int32))
    return dictionary, out


def _ids(indices: pa.Array, null: int = -1) -> np.ndarray:
    if indices.null_count:
        indices = pc.fill_null(indices, null)
    return indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def url_hosts(urls: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The host of each URL, by one pyarrow regex over the whole column."""
    return pc.struct_field(pc.extract_regex(urls, _HOST), [0])


def _dedupe_rows(
    source: np.ndarray, ordinal: np.ndarray, target: np.ndarray, kind: np.ndarray
) -> np.ndarray | None:
    """Rows to keep so that (source, ordinal, target, kind) is unique (a resumed crawl can
    hold a page twice), or None when it already is. A crawl written once holds a page's
    links as one run of rows with increasing ordinals, and source ids by first appearance
    increase from run to run: one pass checks that before any sort."""
    if len(source) < 2:
        return None
    step = np.diff(source)
    if (step >= 0).all() and ((step > 0) | (np.diff(ordinal) > 0)).all():
        return None
    order = np.lexsort((kind, target, ordinal, source))  # stable: the first row is kept
    s, o, t, k = source[order], ordinal[order], target[order], kind[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (s[1:] != s[:-1]) | (o[1:] != o[:-1]) | (t[1:] != t[:-1]) | (k[1:] != k[:-1])
    if first.all():
        return None
    return np.sort(order[first])


def _read_edges(dataset: pads.Dataset, columns: list[str]) -> pa.Table:
    """Read edges columns, the repetitive string columns as dictionary arrays."""
    if not getattr(dataset, "files", None):
        return dataset.to_table(columns=columns)
    read = pads.ParquetReadOptions(dictionary_columns=set(_DICTIONARY_COLUMNS) & set(columns))
    fmt = pads.ParquetFileFormat(read_options=read)
    # No schema given: one would cast the dictionary columns back to plain strings.
    return pads.dataset(dataset.files, format=fmt, filesystem=dataset.filesystem).to_table(
        columns=columns
    )


def _link_levels(
    definition: Definition,
    follow: np.ndarray,
    kind: tuple[pa.Array, np.ndarray],
    position: tuple[pa.Array, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The weight of each link as (distinct weights ascending, each link's index among
    them): :meth:`Definition.weight` of each (follow, kind, position) combination, a
    few, gathered by link. ``kind`` and ``position``: dictionary and ids (-1 for null)."""
    # Id -1 (null) picks the last entry, the None appended to each dictionary.
    kinds, positions = [*kind[0].to_pylist(), None], [*position[0].to_pylist(), None]
    weight = [
        [[definition.weight(f, k, p) for p in positions] for k in kinds] for f in (False, True)
    ]
    distinct, index = np.unique(np.array(weight), return_inverse=True)
    index = index.reshape(2, len(kinds), len(positions))
    return distinct, index.astype(np.uint8)[follow.astype(np.intp), kind[1], position[1]]


def load_graph(
    data_dir: Path | str | Dataset = "data",
    crawl_id: str | None = None,
    *,
    position_weights: Mapping[str, float] | None = None,
    nofollow_weight: float = 0.0,
    inbound_columns: bool = True,
    definition: Definition | None = None,
) -> CrawlGraph:
    """Read one crawl's edges and pages and turn them into a :class:`CrawlGraph`.

    ``data_dir`` is the data directory (or an open Dataset), ``crawl_id`` by default the
    newest finished crawl; the links are weighed by ``definition``, or by one made of
    ``position_weights`` and ``nofollow_weight``; ``inbound_columns`` also reads anchor
    and rel, which inbound.parquet needs.
    """
    if definition is None:
        definition = Definition.make(position_weights, nofollow_weight)
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    columns = _GRAPH_COLUMNS + (_INBOUND_COLUMNS if inbound_columns else [])
    try:
        edges = _read_edges(ds.arrow("edges", crawl_id), columns)
        fetched = ds.arrow("pages", crawl_id).to_table(columns=["url"]).column("url")
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"{ds.root}: crawl {crawl_id}: {str(exc).splitlines()[0]}") from None
    with ThreadPoolExecutor(1) as pool:
        # The URLs are the most strings to number, on one core: a thread of their own
        # while this one numbers the domains and weighs the links.
        urls_of = [edges.column("source"), edges.column("target"), fetched]
        numbering = pool.submit(number_strings, urls_of)
        domains, (source_domain, target_domain) = number_strings(
            [edges.column("source_domain"), edges.column("target_domain")]
        )
        follow = edges.column("follow").to_numpy()
        kinds, (kind_id,) = number_strings([edges.column("kind")])
        positions, (position_id,) = number_strings([edges.column("position")])
        levels, level = _link_levels(definition, follow, (kinds, kind_id), (positions, position_id))
        urls, (source, target, _) = numbering.result()
    rows = _dedupe_rows(source, edges.column("ordinal").to_numpy(), target, kind_id)
    if rows is not None:
        source, target, level, follow = source[rows], target[rows], level[rows], follow[rows]
        source_domain, target_domain = source_domain[rows], target_domain[rows]
    page_domain = np.full(len(urls), -1, dtype=np.int32)
    page_domain[target] = target_domain
    page_domain[source] = source_domain
    missing = np.flatnonzero(page_domain < 0)
    if len(missing):
        # Fetched pages that neither link nor are linked to: resolve their hosts, each once.
        hosts = url_hosts(urls.take(pa.array(missing))).to_pylist()
        resolved = {h: registered_domain(h or "") for h in set(hosts)}
        known = {d: i for i, d in enumerate(domains.to_pylist())}
        for page, host in zip(missing.tolist(), hosts, strict=True):
            page_domain[page] = known.setdefault(resolved[host], len(known))
        domains = pa.array(list(known), pa.string())
    inbound = [c for c in ("anchor", "rel", "position", "kind") if c in edges.column_names]
    fields = (source, target, source_domain, target_domain, follow, levels, level, rows)
    return CrawlGraph(crawl_id, urls, page_domain, domains, *fields, edges.select(inbound))


def page_graph(
    data_dir: Path | str = "data",
    crawl_id: str | None = None,
    *,
    position_weights: Mapping[str, float] | None = None,
    nofollow_weight: float = 0.0,
) -> Any:
    """The weighted page graph of one crawl as a ``networkx.DiGraph``.

    Nodes are URLs (every link source and target, and every fetched page) with a
    ``domain`` attribute; an edge u -> v carries ``weight``, the highest link weight among
    u's links to v (follow weight x position weight; 0 for nofollow by default), and
    ``links``, how many links u has to v. Self-links are left out. ``nx.pagerank(G)`` on
    it gives the page PageRank that ``linkcrawl analyze --engine networkx`` writes (with
    ``tol`` scaled, see docs/authority.md). Meant for notebooks and small crawls: a
    million-page crawl takes gigabytes as a DiGraph.

    Examples
    --------
    >>> import networkx as nx                                   # doctest: +SKIP
    >>> G = page_graph("data")                                  # doctest: +SKIP
    >>> pr = nx.pagerank(G, tol=1e-12, max_iter=10_000)         # doctest: +SKIP
    """
    import networkx as nx

    graph = load_graph(data_dir, crawl_id, position_weights=position_weights,
                       nofollow_weight=nofollow_weight, inbound_columns=False)  # fmt: skip
    keep = graph.source != graph.target
    # int64: ids are int32, and source * n_pages overflows int32 beyond 46,341 pages.
    key = graph.source[keep].astype(np.int64) * graph.n_pages + graph.target[keep]
    _, links = np.unique(key, return_counts=True)  # sorted by (source, target), as collapsed
    source, target, weight = graph.collapsed()
    urls, domains = graph.urls.to_pylist(), graph.domains.to_pylist()
    G = nx.DiGraph(crawl_id=graph.crawl_id)
    page_domains = [domains[d] for d in graph.page_domain.tolist()]
    G.add_nodes_from((url, {"domain": d}) for url, d in zip(urls, page_domains, strict=True))
    edges = zip(source.tolist(), target.tolist(), weight.tolist(), links.tolist(), strict=True)
    G.add_edges_from((urls[s], urls[t], {"weight": w, "links": c}) for s, t, w, c in edges)
    return G
