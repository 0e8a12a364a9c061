"""`linkcrawl analyze`: page and domain authority and the ranked inbound links of one crawl,
written as the three authority tables."""

from __future__ import annotations

import ctypes
import importlib
import inspect
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from linkcrawl.analysis.graph import (
    CrawlGraph,
    DomainLinks,
    _encode,
    collapse_links,
    load_graph_alongside,
)
from linkcrawl.analysis.pagerank import DAMPING, ENGINES, TOL, check_engine, run_engine
from linkcrawl.dataset.layout import RemotePath, authority_path, root_path
from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.dataset.schemas import (
    DICTIONARY_COLUMNS,
    DOMAINS_SCHEMA,
    INBOUND_SCHEMA,
    PAGE_AUTHORITY_SCHEMA,
    ROW_GROUP_SIZE,
)
from linkcrawl.dataset.write import (
    clean_staging,
    staged_partition,
    write_parts_atomic,
    write_table_atomic,
)
from linkcrawl.errors import DatasetError

__all__ = [
    "ANALYZE_ENGINES",
    "SCALE_OUT_ENGINES",
    "analysable_crawl",
    "analyze",
    "authority_scale",
]

# Engines that run the whole analysis themselves, outside this process's memory: each is a
# module linkcrawl.analysis.<name>_engine with an ``analyze`` taking analyze's arguments.
SCALE_OUT_ENGINES = ("duckdb", "spark")
ANALYZE_ENGINES = ENGINES + SCALE_OUT_ENGINES


def authority_scale(
    pagerank: np.ndarray, floor: float, linked: np.ndarray | None = None
) -> np.ndarray:
    """Authority 0-100 on a log scale: 100 · ln(pr / floor) / ln(max / floor).

    ``floor`` is the PageRank of a node that no counted link points to, so such a node
    scores 0 and the strongest scores 100; each step of 100 / ln(max / floor) points is a
    factor e in PageRank. All zeros when no node rises above the floor. ``linked`` (bool)
    marks the nodes with counted inlinks; the others score exactly 0, whatever rounding
    left in their PageRank.
    """
    if len(pagerank) == 0:
        return np.zeros(0)
    top = float(pagerank.max())
    if not top > floor * (1 + 1e-9):
        return np.zeros(len(pagerank))
    scores = np.log(np.maximum(pagerank, floor) / floor) * (100.0 / np.log(top / floor))
    if linked is not None:
        scores[~linked] = 0.0
    return np.clip(scores, 0.0, 100.0, out=scores)


def _floor(pagerank: np.ndarray, dangling: np.ndarray, damping: float) -> float:
    """The PageRank of a node with no counted inlinks: what the random jump and the
    dangling nodes' spread give every node."""
    n = len(pagerank)
    return ((1.0 - damping) + damping * float(pagerank[dangling].sum())) / n


def _ranks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rank of each id, 1 for the highest score (ties keep id order: first seen in the
    crawl first), and the ids in rank order."""
    order = _argsort_floats(-scores)
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks, order


def _unique_sorted(keys: np.ndarray) -> np.ndarray:
    """The distinct values of an int64 array, sorted (in place: ``keys`` is consumed).
    A sort and a comparison: faster here than np.unique's hash table."""
    if len(keys) == 0:
        return keys
    keys.sort()
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return keys[first]


def _distinct_pairs_count(a: np.ndarray, b: np.ndarray, n_b: int) -> np.ndarray:
    """For each value of ``b``, how many distinct values of ``a`` it is paired with."""
    if len(a) == 0:
        return np.zeros(n_b, dtype=np.int64)
    span = int(a.max()) + 1
    pairs = _unique_sorted(b.astype(np.int64) * span + a)
    return np.bincount(pairs // span, minlength=n_b).astype(np.int64)


def _inbound_counts(
    source_domain: np.ndarray, target: np.ndarray, follow: np.ndarray, cross: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The counts of each page, per target id (``n`` of them), over the links from other
    domains (``cross``): referring domains, inbound links, and the followed share of
    those links (NaN where there are none). (_domain_table counts domains the same way.)"""
    cross_target = target[cross]
    referring = _distinct_pairs_count(source_domain[cross], cross_target, n)
    return (referring, *_link_counts(cross_target, target[cross & follow], n))


def _link_counts(
    cross_target: np.ndarray, followed_target: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inbound links per target id, and the followed share of them (NaN for none)."""
    inbound_links = np.bincount(cross_target, minlength=n).astype(np.int64)
    followed_links = np.bincount(followed_target, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        follow_share = followed_links / inbound_links
    return inbound_links, follow_share


def analyze(
    data_dir: Path | str = "data",
    crawl_id: str | None = None,
    engine: str = "sparse",
    position_weights: Mapping[str, float] | None = None,
    nofollow_weight: float = 0.0,
    *,
    damping: float = DAMPING,
    tol: float = TOL,
    progress: Callable[[str], None] | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> str:
    """Compute page and domain authority of one crawl and rank its inbound links.

    Writes ``authority/crawl_id=<id>/pages.parquet``, ``domains.parquet`` and
    ``inbound.parquet`` under ``data_dir`` and returns the crawl id. The three tables of
    one analysis appear together: they are written into a directory under
    ``data/.staging/`` that then replaces the crawl's authority directory whole (on an
    object store the old tables are deleted first; see
    :func:`linkcrawl.storage.staged_partition`).

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    crawl_id
        The crawl to analyse; default the newest finished crawl.
    engine
        ``"sparse"`` (scipy power iteration in memory, the default), ``"networkx"`` (the
        reference; small crawls only), ``"duckdb"`` (SQL over the Parquet files, out of
        core under a memory limit) or ``"spark"`` (PySpark, on a cluster or ``local[N]``).
        All four write the same tables; docs/scaling.md says which for which size.
    position_weights
        Link weight by position on the page, updating the defaults content 1.0, header
        0.5, navigation 0.5, sidebar 0.4, footer 0.25.
    nofollow_weight
        Weight of a nofollow, ugc or sponsored link (default 0: it passes nothing).
    damping, tol
        PageRank damping factor, and the absolute L1 change at which iteration stops.
    progress
        Called with a short line at each stage (the CLI prints them to stderr).
    engine_options
        Options of the duckdb engine (``memory_limit``, ``threads``, ``temp_directory``)
        or the spark engine (``master``, ``spark_conf``).

    Raises
    ------
    DatasetError
        No such data directory or crawl, a crawl that is still running or being pruned,
        or an unknown engine.

    Examples
    --------
    >>> crawl_id = analyze("data")                               # doctest: +SKIP
    >>> import pandas as pd                                      # doctest: +SKIP
    >>> pd.read_parquet(f"data/authority/crawl_id={crawl_id}/domains.parquet")  # doctest: +SKIP
    """
    if engine in SCALE_OUT_ENGINES:
        if isinstance(data_dir, str | os.PathLike) and isinstance(root_path(data_dir), RemotePath):
            raise DatasetError(
                f"{data_dir}: the {engine} engine needs a local data directory "
                "(the sparse engine reads and writes object stores)"
            )
        module = importlib.import_module(f"linkcrawl.analysis.engines.{engine}")
        takes = inspect.signature(module.analyze).parameters
        unknown = [k for k in engine_options or {} if k not in takes or k == "data_dir"]
        if unknown:
            raise DatasetError(f"the {engine} engine takes no option {', '.join(unknown)}")
        return module.analyze(
            data_dir,
            crawl_id,
            position_weights=position_weights,
            nofollow_weight=nofollow_weight,
            damping=damping,
            tol=tol,
            progress=progress,
            **(engine_options or {}),
        )
    check_engine(engine, ANALYZE_ENGINES)
    if engine_options:
        raise DatasetError(f"the {engine} engine takes no options ({', '.join(engine_options)})")
    with _allocation_settings():
        return _analyze_in_memory(
            data_dir, crawl_id, engine, position_weights, nofollow_weight,
            damping=damping, tol=tol, say=progress or (lambda line: None),
        )  # fmt: skip


@contextmanager
def _allocation_settings() -> Iterator[None]:
    """Allocate the analysis's large, short-lived arrays the cheaper way, meanwhile. Each
    figure is analyze on web-1m in runs alternating with and without the setting:

    - pyarrow allocates with the C library's malloc, not its default mimalloc: 6.47 s
      against 7.23 s (kernel time 2.9 s against 4.2 s), and 0.15 GB less at the peak.
    - numpy does not ask for transparent huge pages. On a 2-core cloud VM, faulting in
      huge pages made each fresh 80 MB array cost 0.1 s more than 4 KiB pages did:
      6.26 s against 6.87 s.
    - glibc's malloc keeps freed memory for the next arrays instead of handing it back to
      the OS, to fault it in again page by page (it is handed back at the end), and all
      threads allocate from one arena: 5.75 s against 6.37 s, 1.3M page faults down to
      0.8M. The arena limit cannot be undone; it stays for the rest of the process
      (glibc offers no way back).

    A user's own choice (``ARROW_DEFAULT_MEMORY_POOL``, ``NUMPY_MADVISE_HUGEPAGE``,
    ``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``) is kept.
    """
    previous = pa.default_memory_pool()
    switch_pool = (
        "ARROW_DEFAULT_MEMORY_POOL" not in os.environ and previous.backend_name != "system"
    )
    madvise = _numpy_madvise_hugepage()
    switch_madvise = madvise is not None and "NUMPY_MADVISE_HUGEPAGE" not in os.environ
    libc = _glibc()
    keep_freed = libc is not None and "MALLOC_MMAP_THRESHOLD_" not in os.environ
    if switch_pool:
        pa.set_memory_pool(pa.system_memory_pool())
    if switch_madvise:
        madvise(False)
    if libc is not None and "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(_M_ARENA_MAX, 1)
    if keep_freed:
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1)
    try:
        yield
    finally:
        if switch_pool:
            pa.set_memory_pool(previous)
        if switch_madvise:
            madvise(True)
        if keep_freed:
            libc.mallopt(_M_MMAP_THRESHOLD, _MALLOC_DEFAULT_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, _MALLOC_DEFAULT_THRESHOLD)
            # The freed memory goes back to the OS in the background: 0.07 s on web-1m
            # that a caller need not wait for (and that a CLI process about to exit
            # does not need at all).
            threading.Thread(
                target=libc.malloc_trim, args=(0,), name="linkcrawl-malloc-trim", daemon=True
            ).start()


# mallopt(3) parameters, and glibc's default for both thresholds.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_MALLOC_DEFAULT_THRESHOLD = 128 * 1024


def _glibc() -> Any:
    """The GNU C library, through ctypes, or None (another libc or platform)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
    except (OSError, AttributeError):
        return None
    return libc


def _numpy_madvise_hugepage() -> Callable[[bool], bool] | None:
    """numpy's switch for asking Linux for huge pages for large arrays (None if this
    numpy has none, or has it off already)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    get = getattr(multiarray, "_get_madvise_hugepage", None)
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if get is None or setter is None or not get():
        return None
    return setter


def analysable_crawl(data_dir: Path | str | Dataset, crawl_id: str | None) -> str:
    """The crawl an analysis of ``crawl_id`` reads (by default the newest finished one),
    after removing the staging leftovers of analyses that died; DatasetError if it is
    still running (its tables would be of the part on disk so far, and read as the whole)
    or being pruned."""
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    status = ds.manifest(crawl_id).status
    if status == "running":
        raise DatasetError(
            f"crawl {crawl_id} is still running: analyze it once it has finished "
            "(or stop it; an interrupted crawl can be analysed)"
        )
    if status == "pruning":
        raise DatasetError(f"crawl {crawl_id} is being pruned: there is nothing to analyze")
    if status == "failed":
        failure = ds.manifest(crawl_id).fields.get("failure") or "every seed failed"
        raise DatasetError(f"crawl {crawl_id} failed ({failure}): there is nothing to analyze")
    if ds.arrow("pages", crawl_id).count_rows() == 0:
        # A crawl stopped before its first page: an empty graph has no authority to scale.
        raise DatasetError(f"crawl {crawl_id} has no pages on disk: there is nothing to analyze")
    clean_staging(ds.root)
    return crawl_id


def _analyze_in_memory(
    data_dir: Path | str,
    crawl_id: str | None,
    engine: str,
    position_weights: Mapping[str, float] | None,
    nofollow_weight: float,
    *,
    damping: float,
    tol: float,
    say: Callable[[str], None],
) -> str:
    """analyze with the sparse or networkx engine: the graph in this process's memory."""
    crawl_id = analysable_crawl(data_dir, crawl_id)

    def domain_work(
        links: DomainLinks,
    ) -> tuple[tuple[pa.Table, np.ndarray], _InboundStrings] | None:
        # Neither needs page ids: done while another thread numbers the URLs. A crawl
        # without links has its domains from its pages only, known later.
        if links.n_domains == 0:
            return None
        return _domain_table(links, engine, damping, tol), _inbound_strings(links)

    graph, early = load_graph_alongside(
        data_dir,
        crawl_id,
        domain_work,
        position_weights=position_weights,
        nofollow_weight=nofollow_weight,
    )
    say(
        f"analyze {graph.crawl_id}: {graph.n_pages} pages, {len(graph.source)} links, "
        f"{graph.n_domains} domains"
    )

    root = root_path(data_dir)  # a local Path, or a RemotePath in an object store
    staging = root / ".staging"

    # The pages' inbound counts and the PageRank-free part of the inbound table need no
    # page PageRank: a second thread computes them meanwhile (the sparse power iteration
    # runs on one core), and domain authority too if loading could not. Then the inbound
    # table, the largest, is built and written in that thread while this one writes the
    # page table. numpy, scipy, pyarrow and Parquet release the GIL.
    with ThreadPoolExecutor(1) as pool:
        domains_done: Future[tuple[pa.Table, np.ndarray]]
        if early is not None:
            domains_done = Future()
            domains_done.set_result(early[0])
            strings = early[1]
        else:
            domains_done = pool.submit(_domain_table, graph, engine, damping, tol)
            strings = None
        counts_done = pool.submit(_page_counts, graph)
        prep_done = pool.submit(_inbound_prep, graph, strings)
        del early, strings

        # -- page authority
        source, target, weight = collapse_links(
            graph.source, graph.target, graph.weight, graph.n_pages, keep_zero=False,
            levels=graph.levels,
        )  # fmt: skip
        page_pr = run_engine(
            engine, source, target, weight, graph.n_pages, damping=damping, tol=tol
        )
        out_weight = np.bincount(source, weights=weight, minlength=graph.n_pages)
        page_floor = _floor(page_pr, out_weight == 0, damping)
        page_linked = np.bincount(target, weights=weight, minlength=graph.n_pages) > 0
        page_authority = authority_scale(page_pr, page_floor, page_linked)
        del source, target, weight
        say(f"analyze {graph.crawl_id}: page PageRank done")

        with staged_partition(root, "authority", graph.crawl_id) as out:
            inbound_done = pool.submit(
                _write_inbound, graph, prep_done, page_pr, out_weight, page_authority,
                domains_done, damping, out / "inbound.parquet", staging,
            )  # fmt: skip
            try:
                pages = _pages_table(graph, page_pr, page_authority, counts_done.result())
                write_table_atomic(pages, out / "pages.parquet", staging)
                del pages
                pa.default_memory_pool().release_unused()
                domains, _ = domains_done.result()
                say(f"analyze {graph.crawl_id}: domain PageRank done")
            finally:
                # Its file is in the staging directory, removed when the block fails.
                inbound_done.exception()
            inbound_done.result()
            # domains.parquet last: on an object store it marks a whole analysis.
            write_table_atomic(domains, out / "domains.parquet", staging)
    say(f"analyze {graph.crawl_id}: wrote {authority_path(root, graph.crawl_id)}")
    return graph.crawl_id


def _domain_table(
    links: CrawlGraph | DomainLinks, engine: str, damping: float, tol: float
) -> tuple[pa.Table, np.ndarray]:
    """Domain PageRank and counts: domains.parquet, and the authority of each domain id.
    A -> B when a followed link goes from a page on A to a page on B, A != B, unweighted."""
    sd, td = links.source_domain, links.target_domain
    cross = sd != td
    n_dom = links.n_domains
    # The distinct pairs of domains linked, and whether any of each pair's links is
    # followed (the low bit, the largest of a pair's keys), from one sort: the pairs
    # give referring domains, the followed ones the domain graph.
    cross_target = td[cross]
    # int32 keys while they fit (under 32,768 domains): they sort in 0.6 of the time.
    keys = sd[cross].astype(np.int32 if n_dom < 1 << 15 else np.int64, copy=False)
    keys *= n_dom
    keys += cross_target
    keys <<= 1
    keys |= links.follow[cross]
    keys.sort()
    last = np.empty(len(keys), dtype=bool)
    if len(keys):
        np.not_equal(keys[1:] >> 1, keys[:-1] >> 1, out=last[:-1])
        last[-1] = True
    pairs = keys[last]
    del keys
    followed_pair = (pairs & 1).astype(bool)
    pairs >>= 1
    # Sorted by source, then target, as run_engine takes them.
    dom_pairs = pairs[followed_pair]
    dom_source, dom_target = dom_pairs // n_dom, dom_pairs % n_dom
    ones = np.ones(len(dom_source))
    domain_pr = run_engine(engine, dom_source, dom_target, ones, n_dom, damping=damping, tol=tol)
    domain_floor = _floor(domain_pr, np.bincount(dom_source, minlength=n_dom) == 0, damping)
    domain_linked = np.bincount(dom_target, minlength=n_dom) > 0
    domain_authority = authority_scale(domain_pr, domain_floor, domain_linked)
    referring = np.bincount(pairs % n_dom, minlength=n_dom).astype(np.int64)
    inbound_links, follow_share = _link_counts(cross_target, td[cross & links.follow], n_dom)
    domain_rank, order = _ranks(domain_pr)
    table = pa.table(
        {
            "domain": links.domains.take(pa.array(order)),
            "pagerank": domain_pr[order],
            "authority": domain_authority[order],
            "referring_domains": referring[order],
            "inbound_links": inbound_links[order],
            # NaN (no inbound links) -> null
            "follow_share": pa.array(follow_share[order], pa.float64(), from_pandas=True),
            "rank": domain_rank[order],
        },
        schema=DOMAINS_SCHEMA,
    )
    return table, domain_authority


def _page_counts(graph: CrawlGraph) -> tuple[np.ndarray, ...]:
    """Per page: inlinks (from any other page), then referring domains, inbound links and
    followed share over the links from other domains."""
    n = graph.n_pages
    not_self = graph.source != graph.target
    inlinks = np.bincount(graph.target[not_self], minlength=n).astype(np.int64)
    page_cross = graph.source_domain != graph.target_domain
    counts = _inbound_counts(graph.source_domain, graph.target, graph.follow, page_cross, n)
    return (inlinks, *counts)


def _pages_table(
    graph: CrawlGraph,
    page_pr: np.ndarray,
    page_authority: np.ndarray,
    counts: tuple[np.ndarray, ...],
) -> pa.Table:
    """pages.parquet: one row per page, strongest first."""
    inlinks, page_referring, inbound_links, follow_share = counts
    page_rank, order = _ranks(page_pr)
    return pa.table(
        {
            "url": graph.urls.take(pa.array(order)),
            "domain": graph.domains.take(pa.array(graph.page_domain[order])),
            "pagerank": page_pr[order],
            "authority": page_authority[order],
            "inlinks": inlinks[order],
            "referring_domains": page_referring[order],
            "inbound_links": inbound_links[order],
            # NaN (no inbound links) -> null
            "follow_share": pa.array(follow_share[order], pa.float64(), from_pandas=True),
            "rank": page_rank[order],
        },
        schema=PAGE_AUTHORITY_SCHEMA,
    )


# The string columns of inbound.parquet (storage.DICTIONARY_COLUMNS says why). The float
# and rank columns are nearly all distinct: a dictionary on them costs a fifth of the write.
_INBOUND_DICTIONARY = DICTIONARY_COLUMNS["authority/inbound"]

# Rows of inbound.parquet built at a time, at least: whole target domains, cut near
# multiples of this. Small enough that the writer starts soon after page PageRank, and
# that the chunks built and being written take little memory.
_INBOUND_CHUNK = 2 * ROW_GROUP_SIZE
# Rows of inbound.parquet from which it is written as two parts at once, then joined: a
# writer (encoding and compressing) is the slowest stage, and it runs on one core.
_INBOUND_PARTS_MIN = 4 * _INBOUND_CHUNK


def _write_inbound(
    graph: CrawlGraph,
    prep: Future[_InboundPrep],
    page_pr: np.ndarray,
    out_weight: np.ndarray,
    page_authority: np.ndarray,
    domains: Future[tuple[pa.Table, np.ndarray]],
    damping: float,
    path: Path,
    staging: Path,
) -> None:
    """Build inbound.parquet chunk by chunk and write it atomically, the chunks (each a
    run of whole target domains) built while the ones before are encoded and compressed:
    by two threads for one writer, or a large table as two halves, each built by one
    thread for its own writer, then joined into one file (see :func:`_inbound_parts`)."""
    with ThreadPoolExecutor(2) as builders:
        parts = _inbound_parts(
            graph, prep.result(), page_pr, out_weight, page_authority, domains, damping, builders
        )
        write_parts_atomic(parts, INBOUND_SCHEMA, path, staging, _INBOUND_DICTIONARY)


@dataclass
class _InboundPrep:
    """What inbound.parquet needs that page PageRank does not change, for each link from
    another domain, grouped by target domain (in edges-table order within each): its page
    and domain ids, weight, follow flag and string columns as ids into small
    dictionaries; and where the chunks built at a time start and end."""

    source: np.ndarray
    target: np.ndarray
    source_domain: np.ndarray
    target_domain: np.ndarray
    weight: np.ndarray
    follow: np.ndarray
    strings: dict[str, tuple[pa.Array, np.ndarray]]
    bounds: list[int]


@dataclass
class _InboundStrings:
    """The link rows from another domain, and their string columns as ids into small
    dictionaries (:func:`_string_ids`)."""

    cross: np.ndarray
    strings: dict[str, tuple[pa.Array, np.ndarray]]


def _inbound_strings(
    links: CrawlGraph | DomainLinks, rows: np.ndarray | None = None
) -> _InboundStrings:
    """``rows``: the edges table's row of each link row, None for the identity."""
    cross = np.flatnonzero(links.source_domain != links.target_domain)
    edge_rows = rows[cross] if rows is not None else cross
    return _InboundStrings(
        cross=cross,
        strings={
            name: _string_ids(links.edges.column(name), edge_rows)
            for name in ("anchor", "rel", "position", "kind")
        },
    )


def _inbound_prep(graph: CrawlGraph, strings: _InboundStrings | None = None) -> _InboundPrep:
    """The prep of the inbound table; ``strings`` when already known for the graph's rows."""
    if strings is None:
        strings = _inbound_strings(graph, graph.rows)
    by_domain = _argsort_ids(graph.target_domain[strings.cross], graph.n_domains)
    rows = strings.cross[by_domain]
    target_domain = graph.target_domain[rows]
    ends = np.cumsum(np.bincount(target_domain, minlength=graph.n_domains))
    # Each chunk ends at the first domain boundary at or after a multiple of the size.
    cuts = ends[np.searchsorted(ends, np.arange(_INBOUND_CHUNK, len(rows), _INBOUND_CHUNK))]
    bounds = sorted({0, len(rows), *cuts.tolist()})
    return _InboundPrep(
        source=graph.source[rows],
        target=graph.target[rows],
        source_domain=graph.source_domain[rows],
        target_domain=target_domain,
        weight=graph.weight[rows],
        follow=graph.follow[rows],
        strings={name: (d, ids[by_domain]) for name, (d, ids) in strings.strings.items()},
        bounds=bounds,
    )


def _inbound_parts(
    graph: CrawlGraph,
    prep: _InboundPrep,
    page_pr: np.ndarray,
    out_weight: np.ndarray,
    page_authority: np.ndarray,
    domains: Future[tuple[pa.Table, np.ndarray]],
    damping: float,
    builders: ThreadPoolExecutor,
) -> list[Iterator[pa.Table]]:
    """The rows of inbound.parquet as streams of tables, one per part of the file to be
    written at the same time (see :func:`storage.write_parts_atomic`), in chunks of whole
    target domains: built two at a time in ``builders`` for one part, and for two parts
    by the thread that takes them (as many chunks in memory as for one part). One row
    per link from another domain, valued by the PageRank it passes:
    value = d · PR(source) · w(link) / Σ w(source's links), ranked within target_domain.

    From :data:`_INBOUND_PARTS_MIN` rows on there are two parts, cut at a multiple of
    ``ROW_GROUP_SIZE`` rows near the middle, so that the joined file has the row groups,
    and the bytes, of one write of the whole. The chunk that the cut falls in is built
    first: its head ends the first part and its tail starts the second.
    """
    domain_authority = domains.result()[1]

    def build(a: int, b: int) -> pa.Table:
        source = prep.source[a:b]
        source_out = out_weight[source]
        share = np.divide(prep.weight[a:b], source_out, out=np.zeros(b - a), where=source_out > 0)
        value = damping * page_pr[source] * share
        source_authority = page_authority[source]
        target_domain = prep.target_domain[a:b]
        order = _inbound_order(target_domain, value, source_authority, graph.n_domains)
        sorted_domain = target_domain[order]
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = sorted_domain[1:] != sorted_domain[:-1]
        group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
        source_domain = prep.source_domain[a:b][order]
        columns = {
            "target": graph.urls.take(pa.array(prep.target[a:b][order])),
            "target_domain": graph.domains.take(pa.array(sorted_domain)),
            "source": graph.urls.take(pa.array(source[order])),
            "source_domain": graph.domains.take(pa.array(source_domain)),
            "anchor": _take_strings(*prep.strings["anchor"], a, b, order),
            "rel": _take_strings(*prep.strings["rel"], a, b, order),
            "follow": pa.array(prep.follow[a:b][order]),
            "position": _take_strings(*prep.strings["position"], a, b, order),
            "kind": _take_strings(*prep.strings["kind"], a, b, order),
            "source_authority": source_authority[order],
            "source_domain_authority": domain_authority[source_domain],
            "value": value[order],
            "rank": (np.arange(len(order)) - group_start + 1).astype(np.int64),
        }
        return pa.table(columns, schema=INBOUND_SCHEMA)

    def built(
        spans: list[tuple[int, int]],
        ahead: int,
        first: Callable[[], pa.Table] | None = None,
        last: Callable[[], pa.Table] | None = None,
    ) -> Iterator[pa.Table]:
        # Chunks in order: ``ahead`` of them built in the pool while the one before is
        # written, or none ahead, built when taken.
        if first is not None:
            yield first()
        pending = deque(builders.submit(build, a, b) for a, b in spans[:ahead])
        for a, b in spans[ahead:]:
            if ahead:
                table = pending.popleft().result()
                pending.append(builders.submit(build, a, b))
            else:
                table = build(a, b)
            yield table
        while pending:
            yield pending.popleft().result()
        if last is not None:
            yield last()

    spans = list(pairwise(prep.bounds)) or [(0, 0)]
    rows = spans[-1][1]
    cut = rows // 2 // ROW_GROUP_SIZE * ROW_GROUP_SIZE
    if rows < _INBOUND_PARTS_MIN or cut == 0:
        return [built(spans, ahead=2)]
    k = next(i for i, (_, b) in enumerate(spans) if b > cut)
    a, b = spans[k]
    if a == cut:
        return [built(spans[:k], ahead=0), built(spans[k:], ahead=0)]
    straddle = builders.submit(build, a, b)
    return [
        built(spans[:k], ahead=0, last=lambda: straddle.result().slice(0, cut - a)),
        built(spans[k + 1 :], ahead=0, first=lambda: straddle.result().slice(cut - a)),
    ]


def _argsort_floats(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` for float64 keys without NaN, in a third to a
    half of its time (numpy merge-sorts floats): a radix sort (:func:`_radix_argsort`) of
    the keys' bits, mapped to order as the floats do: the sign bit flipped for positive
    keys, every bit for negative ones. -0.0 sorts as 0.0, as it compares."""
    mapped = (key + 0.0).view(np.uint64)  # a copy, and -0.0 + 0.0 is 0.0
    flip = mapped >> 63
    flip *= np.uint64(0x7FFF_FFFF_FFFF_FFFF)
    flip |= np.uint64(1 << 63)
    mapped ^= flip
    del flip
    varying = int(np.bitwise_or.reduce(mapped)) ^ int(np.bitwise_and.reduce(mapped))
    return _radix_argsort(mapped, varying)


def _argsort_ids(ids: np.ndarray, n: int) -> np.ndarray:
    """Stable argsort of ids in ``range(n)`` (:func:`_radix_argsort`: one pass for up to
    65,536 domains)."""
    return _radix_argsort(ids, (1 << max(n - 1, 1).bit_length()) - 1)


def _radix_argsort(keys: np.ndarray, varying: int) -> np.ndarray:
    """Stable argsort of non-negative integer keys, 16 bits at a time, least significant
    first, each pass a stable sort of 16-bit integers (which numpy radix-sorts in linear
    time). Digits with no bit set in ``varying`` (the same in every key) are skipped."""
    shifts = [s for s in range(0, 8 * keys.dtype.itemsize, 16) if (varying >> s) & 0xFFFF]
    order = np.arange(len(keys))
    for i, shift in enumerate(shifts):
        # astype keeps the low 16 bits of the shifted key: its digit
        step = np.argsort((keys >> shift if shift else keys).astype(np.uint16), kind="stable")
        order = step if i == 0 else order[step]
        if i + 1 < len(shifts):
            keys = keys[step]
    return order


def _inbound_order(
    target_domain: np.ndarray, value: np.ndarray, source_authority: np.ndarray, n_domains: int
) -> np.ndarray:
    """The order of inbound.parquet: by target domain; within it, highest value first,
    then the stronger source page; remaining ties in edges-table order.

    Two stable sorts, of one key and then of the domain (by radix). The key is -value for
    links that pass PageRank, and for those that pass none (nofollow: value 0, the largest
    group of equal values) it is the source's distance below the top authority, so they
    come last, strongest source first. A third sort runs only over the few runs of equal
    positive value within a domain whose source authorities differ.
    """
    if len(value) == 0:
        return np.zeros(0, dtype=np.int64)
    key = np.where(value > 0, -value, float(source_authority.max()) - source_authority)
    order = _argsort_floats(key)
    order = order[_argsort_ids(target_domain[order], n_domains)]
    k, d = key[order], target_domain[order]
    del key
    tie = (k[1:] == k[:-1]) & (d[1:] == d[:-1])
    if not tie.any():
        return order
    a = source_authority[order]
    run = np.cumsum(np.concatenate(([True], ~tie)))  # run id of each position
    differs = np.zeros(run[-1] + 1, dtype=bool)
    differs[run[1:][tie & (a[1:] != a[:-1])]] = True
    at = np.flatnonzero(differs[run])
    if len(at):
        # np.lexsort is stable: within a run, equal authorities keep their order.
        order[at] = order[at][np.lexsort((-a[at], run[at]))]
    return order


def _string_ids(column: pa.ChunkedArray, rows: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """The distinct strings of ``column`` (plain strings, or dictionary arrays with a
    dictionary per chunk, as Parquet row groups are read) and the id of each of
    ``column[rows]`` (-1 for null)."""
    dictionary, (ids,) = _encode([column])
    return dictionary, ids[rows]


def _take_strings(
    dictionary: pa.Array, ids: np.ndarray, a: int, b: int, order: np.ndarray
) -> pa.Array:
    """Rows a:b of a column given as :func:`_string_ids`, in ``order``, as plain strings."""
    picked = ids[a:b][order]
    missing = picked < 0
    return dictionary.take(pa.array(picked, mask=missing if missing.any() else None))
