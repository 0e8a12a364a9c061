"""The page graph of one crawl: edges read with pyarrow, URLs as integer ids, link weights.

Everything downstream (PageRank, domain roll-up, backlinks) works on :class:`CrawlGraph`,
whose columns are numpy arrays indexed by link row or by page id. ``page_graph`` turns it
into a ``networkx.DiGraph`` for notebooks and small crawls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.storage import LinkcrawlError, open_dataset
from linkcrawl.urls import registered_domain

__all__ = [
    "DEFAULT_POSITION_WEIGHTS",
    "FULL_WEIGHT_KINDS",
    "CrawlGraph",
    "load_graph",
    "page_graph",
    "position_weight_table",
]

# Where a link sits on its page says how much the page vouches for it: a link in the body
# text is an editorial choice, one in a sitewide footer is boilerplate repeated on every page.
DEFAULT_POSITION_WEIGHTS: dict[str, float] = {
    "content": 1.0,
    "header": 0.5,
    "navigation": 0.5,
    "sidebar": 0.4,
    "footer": 0.25,
    # Only refresh and canonical links sit in <head>, and they pass full weight by kind.
    "head": 1.0,
}
# A redirect, meta refresh or canonical says "this page is now that one": it passes full
# weight whatever its position (redirect edges have none).
FULL_WEIGHT_KINDS = ("redirect", "refresh", "canonical")

# Columns of the edges table the analysis reads; anchor and rel only feed inbound.parquet.
_GRAPH_COLUMNS = [
    "source", "target", "follow", "position", "kind", "ordinal",
    "source_domain", "target_domain",
]  # fmt: skip
_INBOUND_COLUMNS = ["anchor", "rel"]
_HOST = r"^[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^@/?#]*@)?(?P<host>\[[^\]]*\]|[^:/?#]*)"


def position_weight_table(position_weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """The default position weights updated with ``position_weights``.

    Raises :class:`~linkcrawl.storage.LinkcrawlError` for an unknown position or a weight
    that is negative or not finite.
    """
    table = dict(DEFAULT_POSITION_WEIGHTS)
    for position, weight in (position_weights or {}).items():
        if position not in table:
            raise LinkcrawlError(
                f"unknown link position {position!r} in position weights; "
                f"use {', '.join(sorted(table))}"
            )
        weight = float(weight)
        if not math.isfinite(weight) or weight < 0:
            raise LinkcrawlError(f"position weight for {position} must be >= 0, not {weight}")
        table[position] = weight
    return table


@dataclass
class CrawlGraph:
    """The links of one crawl as arrays.

    Page ids index ``urls``; domain ids index ``domains``. Link rows are the edges table's
    rows after de-duplication on (source, ordinal, target, kind), self-links included.
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
    weight: np.ndarray  # float64: follow weight x position weight
    rows: np.ndarray | None  # link row -> row of the edges table read (None: identity)
    edges: pa.Table  # the columns read, for inbound.parquet

    @property
    def n_pages(self) -> int:
        return len(self.urls)

    @property
    def n_domains(self) -> int:
        return len(self.domains)

    def collapsed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The weighted page graph: one (source, target, weight) per linked pair of pages,
        self-links dropped, several links between a pair counted once at their highest
        weight. Sorted by target then source. Zero-weight pairs are kept."""
        return collapse_links(self.source, self.target, self.weight, self.n_pages)


def collapse_links(
    source: np.ndarray, target: np.ndarray, weight: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse parallel links to their highest weight and drop self-links.

    Returns (source, target, weight) sorted by target, then source: the CSR order of the
    transposed transition matrix. One sort of an int64 key does the grouping, the maximum
    and the ordering at once: key = (target * n + source) * L + level, where level is the
    rank of the weight among the distinct weights (a handful: follow x position).
    """
    keep = source != target
    source, target, weight = source[keep], target[keep], weight[keep]
    if len(source) == 0:
        return source.astype(np.int64), target.astype(np.int64), weight.astype(np.float64)
    levels, level = np.unique(weight, return_inverse=True)
    n_levels = len(levels)
    if n * n * n_levels < 2**62:
        key = target.astype(np.int64) * n
        key += source
        key *= n_levels
        key += level
        key.sort()
        pair = key // n_levels
        last = np.empty(len(pair), dtype=bool)
        np.not_equal(pair[1:], pair[:-1], out=last[:-1])
        last[-1] = True
        best = levels[(key[last] % n_levels)]
        pair = pair[last]
        return pair % n, pair // n, best
    # Graphs too large for one int64 key (over ~10^9 pages): sort on the columns instead.
    order = np.lexsort((level, source, target))
    source, target, level = source[order], target[order], level[order]
    last = np.ones(len(source), dtype=bool)
    last[:-1] = (source[1:] != source[:-1]) | (target[1:] != target[:-1])
    return source[last], target[last], levels[level[last]]


def _encode(arrays: list[pa.ChunkedArray]) -> tuple[pa.Array, list[np.ndarray]]:
    """Dictionary-encode several string columns against one dictionary.

    Returns the dictionary and each column's indices as an int64 numpy array."""
    chunks = [c for arr in arrays for c in arr.chunks]
    if not chunks:
        return pa.array([], pa.string()), [np.zeros(0, np.int64) for _ in arrays]
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.string()))
    dictionary = encoded.chunks[-1].dictionary
    # pyarrow's hash kernel grows one dictionary across the chunks; every chunk shares it.
    if any(len(c.dictionary) != len(dictionary) for c in encoded.chunks):
        encoded = encoded.unify_dictionaries()
        dictionary = encoded.chunks[-1].dictionary
    out, i = [], 0
    for arr in arrays:
        k = arr.num_chunks
        parts = [encoded.chunks[j].indices.to_numpy(zero_copy_only=False) for j in range(i, i + k)]
        out.append(
            np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64)
        )
        i += k
    return dictionary, out


def _hosts(urls: pa.Array) -> pa.Array:
    """The host of each URL, by one pyarrow regex over the whole column."""
    return pc.struct_field(pc.extract_regex(urls, _HOST), [0])


def _dedupe_rows(
    source: np.ndarray, ordinal: np.ndarray, target: np.ndarray, kind: np.ndarray
) -> np.ndarray | None:
    """Rows to keep so that (source, ordinal, target, kind) is unique, or None when it
    already is. A resumed crawl can hold a page twice; a crawl that was not resumed has
    unique (source, ordinal), which one sort checks."""
    if len(source) < 2:
        return None
    span = int(ordinal.max()) + 1 if len(ordinal) else 1
    key = source * span + ordinal
    key.sort()
    if not (key[1:] == key[:-1]).any():
        return None
    order = np.lexsort((kind, target, ordinal, source))
    s, o, t, k = source[order], ordinal[order], target[order], kind[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (s[1:] != s[:-1]) | (o[1:] != o[:-1]) | (t[1:] != t[:-1]) | (k[1:] != k[:-1])
    return np.sort(order[first])


def load_graph(
    data_dir: Path | str = "data",
    crawl_id: str | None = None,
    *,
    position_weights: Mapping[str, float] | None = None,
    nofollow_weight: float = 0.0,
    inbound_columns: bool = True,
) -> CrawlGraph:
    """Read one crawl's edges and pages and turn them into a :class:`CrawlGraph`.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    crawl_id
        The crawl; default the newest finished one.
    position_weights
        Weights by link position, updating :data:`DEFAULT_POSITION_WEIGHTS`.
    nofollow_weight
        Weight of a nofollow, ugc or sponsored link relative to a followed one (default 0).
    inbound_columns
        Also read anchor and rel (needed for inbound.parquet).
    """
    weights = position_weight_table(position_weights)
    nofollow_weight = float(nofollow_weight)
    if not math.isfinite(nofollow_weight) or nofollow_weight < 0:
        raise LinkcrawlError(f"nofollow weight must be >= 0, not {nofollow_weight}")
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    columns = _GRAPH_COLUMNS + (_INBOUND_COLUMNS if inbound_columns else [])
    edges = ds.arrow("edges", crawl_id).to_table(columns=columns)
    page_urls = ds.arrow("pages", crawl_id).to_table(columns=["url"]).column("url")

    urls, (source, target, _fetched) = _encode(
        [edges.column("source"), edges.column("target"), page_urls]
    )
    domains, (source_domain, target_domain) = _encode(
        [edges.column("source_domain"), edges.column("target_domain")]
    )
    ordinal = edges.column("ordinal").to_numpy().astype(np.int64)
    kind_dict, (kind,) = _encode([edges.column("kind")])
    rows = _dedupe_rows(source, ordinal, target, kind)
    if rows is not None:
        source, target, kind = source[rows], target[rows], kind[rows]
        source_domain, target_domain = source_domain[rows], target_domain[rows]

    follow = edges.column("follow").to_numpy()
    position = pc.fill_null(edges.column("position"), "content")
    position_dict, (position,) = _encode([position])
    if rows is not None:
        follow, position = follow[rows], position[rows]
    position_w = np.array([weights.get(p, 1.0) for p in position_dict.to_pylist()] or [1.0])
    kind_full = np.array([k in FULL_WEIGHT_KINDS for k in kind_dict.to_pylist()] or [False])
    weight = np.where(follow, 1.0, nofollow_weight)
    weight *= np.where(kind_full[kind], 1.0, position_w[position]) if len(kind) else 1.0

    n = len(urls)
    page_domain = np.full(n, -1, dtype=np.int64)
    page_domain[target] = target_domain
    page_domain[source] = source_domain
    missing = np.flatnonzero(page_domain < 0)
    if len(missing):
        # Fetched pages that neither link nor are linked to: resolve their hosts, each once.
        hosts = _hosts(urls.take(pa.array(missing)))
        extra = [registered_domain(h or "") for h in hosts.to_pylist()]
        domains, (page_domain_missing,) = _extend_dictionary(domains, extra)
        page_domain[missing] = page_domain_missing
    return CrawlGraph(
        crawl_id=crawl_id,
        urls=urls,
        page_domain=page_domain,
        domains=domains,
        source=source,
        target=target,
        source_domain=source_domain,
        target_domain=target_domain,
        follow=follow,
        weight=weight,
        rows=rows,
        edges=edges,
    )


def _extend_dictionary(dictionary: pa.Array, values: list[str]) -> tuple[pa.Array, list[Any]]:
    """Ids of ``values`` in ``dictionary``, appending the ones it lacks."""
    known = {v: i for i, v in enumerate(dictionary.to_pylist())}
    ids = []
    for v in values:
        if v not in known:
            known[v] = len(known)
        ids.append(known[v])
    return pa.array(list(known), pa.string()), [np.array(ids, dtype=np.int64)]


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
    graph = load_graph(
        data_dir,
        crawl_id,
        position_weights=position_weights,
        nofollow_weight=nofollow_weight,
        inbound_columns=False,
    )
    return to_networkx(graph)


def to_networkx(graph: CrawlGraph) -> Any:
    """Build the ``networkx.DiGraph`` of a :class:`CrawlGraph` (see :func:`page_graph`)."""
    import networkx as nx

    keep = graph.source != graph.target
    key = graph.source[keep] * graph.n_pages + graph.target[keep]
    _, links = np.unique(key, return_counts=True)
    source, target, weight = graph.collapsed()
    # collapsed() is sorted by (target, source); np.unique by (source, target).
    order = np.lexsort((target, source))
    urls = graph.urls.to_pylist()
    domains = graph.domains.to_pylist()
    G = nx.DiGraph(crawl_id=graph.crawl_id)
    G.add_nodes_from(
        (url, {"domain": domains[d]})
        for url, d in zip(urls, graph.page_domain.tolist(), strict=True)
    )
    G.add_edges_from(
        (urls[s], urls[t], {"weight": w, "links": c})
        for s, t, w, c in zip(
            source[order].tolist(),
            target[order].tolist(),
            weight[order].tolist(),
            links.tolist(),
            strict=True,
        )
    )
    return G
