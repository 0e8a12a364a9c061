"""The page graph of one crawl: edges read with pyarrow, URLs as integer ids, link weights.

Everything downstream (PageRank, domain roll-up, backlinks) works on :class:`CrawlGraph`,
whose columns are numpy arrays indexed by link row or by page id. ``page_graph`` turns it
into a ``networkx.DiGraph`` for notebooks and small crawls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from linkcrawl.dataset.reader import open_dataset
from linkcrawl.errors import DatasetError, LinkcrawlError
from linkcrawl.extract.urls import registered_domain

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
# Read and numbered in a thread of their own (see load_graph_alongside).
_URL_COLUMNS = ("source", "target")
# source too: a page's links are one run of rows, so its row groups hold few distinct sources.
_DICTIONARY_COLUMNS = [
    "source", "anchor", "rel", "position", "kind", "source_domain", "target_domain",
]  # fmt: skip
T = TypeVar("T")
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
    # The distinct weights a link can have, ascending, and the index of each link's among
    # them (uint8): weight == levels[0][levels[1]]. See collapse_links.
    levels: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_pages(self) -> int:
        return len(self.urls)

    @property
    def n_domains(self) -> int:
        return len(self.domains)

    def collapsed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The weighted page graph: one (source, target, weight) per linked pair of pages,
        self-links dropped, several links between a pair counted once at their highest
        weight. Sorted by source then target. Zero-weight pairs are kept."""
        return collapse_links(
            self.source, self.target, self.weight, self.n_pages, levels=self.levels
        )


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

    Returns (source, target, weight) sorted by source, then target: the column order of
    the transition matrix. One sort of an int64 key does the grouping, the maximum and
    the ordering at once: key = source | target | level in bit fields, where level is the
    rank of the weight among the distinct weights (a handful: follow x position). The sort
    is a stable (merge) sort, fast when the links come grouped by source page in
    increasing id order, as :func:`load_graph` numbers them. ``keep_zero=False`` drops
    pairs whose highest weight is 0. ``levels``: the distinct weights, ascending, and the
    index of each link's weight among them, when known (see :class:`CrawlGraph`).
    """
    keep = source != target
    if not keep_zero:
        keep &= weight > 0
    if levels is None:
        levels = _levels(weight[keep])
    elif not keep.all():
        levels = (levels[0], levels[1][keep])
    if not keep.all():
        source, target = source[keep], target[keep]  # the weights are in ``level``
    if len(source) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy(), np.zeros(0, np.float64)
    distinct, level = levels
    level_bits = max(len(distinct) - 1, 1).bit_length()
    target_bits = max(n - 1, 1).bit_length()
    if 2 * target_bits + level_bits <= 62:
        # Shifts and masks, not the divisions a key of (source * n + target) * levels
        # needs to be taken apart: a fifth of the time.
        key = source.astype(np.int64)
        key <<= target_bits
        key |= target
        key <<= level_bits
        key |= level
        key.sort(kind="stable")
        pair = key >> level_bits
        last = np.empty(len(pair), dtype=bool)
        np.not_equal(pair[1:], pair[:-1], out=last[:-1])
        last[-1] = True
        key = key[last]
        best = distinct[key & ((1 << level_bits) - 1)]
        key >>= level_bits
        return key >> target_bits, key & ((1 << target_bits) - 1), best
    # Graphs too large for one int64 key (over ~10^9 pages): sort on the columns instead.
    order = np.lexsort((level, target, source))
    source, target, level = source[order], target[order], level[order]
    last = np.ones(len(source), dtype=bool)
    last[:-1] = (source[1:] != source[:-1]) | (target[1:] != target[:-1])
    return source[last].astype(np.int64), target[last].astype(np.int64), distinct[level[last]]


def _levels(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(weight, return_inverse=True)`` for the few distinct weights of many
    links: one pass through a hash table (pandas) instead of a sort of every link."""
    import pandas as pd

    codes, uniques = pd.factorize(weight)
    order = np.argsort(uniques)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return uniques[order], rank[codes]


def _encode(
    columns: list[pa.ChunkedArray | Any],
) -> tuple[pa.Array, list[np.ndarray]]:
    """Number the strings of several columns against one dictionary.

    Chunks may be plain strings or dictionary arrays (as Parquet's dictionary pages are
    read): a dictionary chunk costs the hashing of its dictionary only, then a numpy
    gather. A column may also be a polars string Series, or a stream of them read on
    demand (the target URLs, which polars reads from Parquet in half pyarrow's time; see
    :func:`_number_pieces`). Ids follow first appearance, columns in the order given.
    Returns the dictionary and each column's ids (int32; -1 for null).
    """
    columns = [_uniform(c) if isinstance(c, pa.ChunkedArray) else c for c in columns]
    unified = _unify_dictionaries(columns)
    if unified is not None:
        return unified
    pieces: list[Any] = []
    for column in columns:
        if not isinstance(column, pa.ChunkedArray):
            pieces.append(column)
            continue
        for chunk in column.chunks:
            pieces.append(chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk)
    if not pieces:
        return pa.array([], pa.string()), [np.zeros(0, np.int32) for _ in columns]
    dictionary, piece_ids = _number_pieces(pieces)
    out, i = [], 0
    for column in columns:
        if not isinstance(column, pa.ChunkedArray):
            out.append(piece_ids[i])
            i += 1
            continue
        k = column.num_chunks
        maps = piece_ids[i : i + k]
        i += k
        if not any(pa.types.is_dictionary(c.type) for c in column.chunks):
            out.append(np.concatenate(maps) if maps else np.zeros(0, np.int32))
            continue
        # Dictionary chunks: each chunk's indices through its map, followed by a -1 for
        # null. (A single gather through all maps laid end to end needs an np.repeat of
        # the offsets, which costs more than the gathers.)
        out.append(
            np.concatenate(
                [
                    np.append(m, np.int32(-1))[_ids(c.indices, null=len(m))]
                    for c, m in zip(column.chunks, maps, strict=True)
                ]
            )
        )
    return dictionary, out


def _unify_dictionaries(columns: list[Any]) -> tuple[pa.Array, list[np.ndarray]] | None:
    """:func:`_encode` for columns that are all dictionary chunks of one type (the small
    columns of the edges, as Parquet's dictionary pages are read): pyarrow unifies the
    chunks' dictionaries, in order of first appearance as :func:`_encode` numbers them,
    and maps the indices in C++, in half the time of hashing the dictionaries here.
    None for other columns."""
    chunked = [column for column in columns if isinstance(column, pa.ChunkedArray)]
    chunks = [chunk for column in chunked for chunk in column.chunks]
    if (
        len(chunks) == 0
        or len(chunked) != len(columns)
        or not pa.types.is_dictionary(chunks[0].type)
        or any(chunk.type != chunks[0].type for chunk in chunks)
    ):
        return None
    unified = pa.chunked_array(chunks, type=chunks[0].type).unify_dictionaries()
    dictionary = unified.chunks[0].dictionary
    if not pa.types.is_string(dictionary.type):
        return None
    ids = np.concatenate([_ids(chunk.indices) for chunk in unified.chunks])
    bounds = np.cumsum([0] + [len(column) for column in columns])
    return dictionary, [ids[a:b] for a, b in pairwise(bounds.tolist())]


# Below this many strings pyarrow's dictionary_encode is as fast as hashing, and simpler.
_HASH_MIN = 100_000


def _is_arrow(piece: Any) -> bool:
    return isinstance(piece, pa.Array | pa.ChunkedArray)


def _number_pieces(pieces: list[Any]) -> tuple[pa.Array, list[np.ndarray]]:
    """Number the strings of ``pieces`` by first appearance: the distinct strings, and each
    piece's ids (int32; -1 for null). A piece is an Arrow string array, a polars string
    Series, or a stream: a callable that gives an iterator of them, read on demand (the
    target URLs, a file at a time, so that they are numbered while they are read and
    never all held at once).

    Many strings (the URLs of a large crawl) are numbered by their 64-bit hashes, which
    polars computes, and a pandas hash table over the integers, in first appearance
    order: less than half the time of pyarrow's ``dictionary_encode``, which hashes and
    copies every string into its memo table on one core. A second, independent hash must
    agree within each group of equal first hashes; if it ever does not (two URLs whose
    first hashes collide: odds of 1 in 10^7 for a million distinct URLs), the strings are
    numbered by ``dictionary_encode`` instead (streams read again), so ids are always the
    same as its. Only a collision of both hashes at once (~10^-26) would go unnoticed.
    """
    known = sum(len(p) for p in pieces if not callable(p))
    if known >= _HASH_MIN or any(callable(p) for p in pieces):
        numbered = _number_by_hash(pieces)
        if numbered is not None:
            return numbered
    arrays = [[_as_arrow(p) for p in (piece() if callable(piece) else [piece])] for piece in pieces]
    strings = pa.chunked_array([a for piece in arrays for a in piece], type=pa.string())
    encoded = pc.dictionary_encode(strings)
    dictionary = encoded.chunks[-1].dictionary if encoded.num_chunks else pa.array([], pa.string())
    # pyarrow's hash kernel grows one dictionary across the chunks; every chunk shares it.
    if any(len(c.dictionary) != len(dictionary) for c in encoded.chunks):
        encoded = encoded.unify_dictionaries()
        dictionary = encoded.chunks[-1].dictionary
    ids = np.concatenate([_ids(c.indices) for c in encoded.chunks] or [np.zeros(0, np.int32)])
    bounds = np.cumsum([0] + [sum(len(a) for a in piece) for piece in arrays])
    return dictionary, [ids[a:b] for a, b in pairwise(bounds.tolist())]


def _as_arrow(piece: Any) -> pa.Array:
    """A piece as an Arrow ``string`` array (polars hands over large or view strings)."""
    if _is_arrow(piece):
        return piece
    if isinstance(piece, _Hashed):
        piece = piece.series
    array = piece.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.string())


# Strings hashed at a time: polars copies what it hashes, and a copy of all the URLs of a
# large crawl at once would be the peak memory of the whole analysis.
_HASH_BATCH = 1 << 20


def _batches(pieces: list[Any]) -> Iterator[tuple[Any, int, int]]:
    """The strings of ``pieces`` as polars Series of about :data:`_HASH_BATCH` strings (a
    few Arrow pieces converted together; polars Series and the items of a stream as they
    come), each with the range of pieces it ends: (series, first piece, pieces ended)."""
    import polars as pl

    arrow: list[pa.Array] = []
    n, first = 0, 0
    for i, piece in enumerate(pieces):
        if _is_arrow(piece):
            arrow.append(piece)
            n += len(piece)
            if n >= _HASH_BATCH:
                yield pl.from_arrow(pa.chunked_array(arrow, type=pa.string())), first, i + 1
                arrow, n, first = [], 0, i + 1
            continue
        if arrow:
            yield pl.from_arrow(pa.chunked_array(arrow, type=pa.string())), first, i
            arrow, n = [], 0
        items = piece() if callable(piece) else [piece]
        for item in items:
            yield (pl.from_arrow(item) if _is_arrow(item) else item), i, i
        yield pl.Series([], dtype=pl.String), i, i + 1
        first = i + 1
    if arrow:
        yield pl.from_arrow(pa.chunked_array(arrow, type=pa.string())), first, len(pieces)


def _number_by_hash(pieces: list[Any]) -> tuple[pa.Array, list[np.ndarray]] | None:
    """Distinct strings in first appearance order and the int32 ids of each piece's, or
    None when a string is null or two distinct strings share a 64-bit hash (see
    :func:`_number_pieces`)."""
    try:
        numbering = _HashNumbering(sum(len(p) for p in pieces if not callable(p)))
    except ImportError:  # a pandas that moved its internals: dictionary_encode does it
        return None
    out: list[np.ndarray] = []
    held: list[np.ndarray] = []  # ids of the batches since the last piece ended
    for series, first, ended in _batches(pieces):
        ids = numbering.add(series)
        if ids is None:
            return None
        held.append(ids)
        if ended > first:
            ids = np.concatenate(held)
            held = []
            lengths = (
                [len(pieces[i]) for i in range(first, ended)] if ended - first > 1 else [len(ids)]
            )
            out.extend(np.split(ids, np.cumsum(lengths)[:-1]))
    return numbering.strings(), out


def _hashes(series: Any) -> tuple[np.ndarray, np.ndarray]:
    """The two independent 64-bit hashes of each string of a polars Series."""
    return series.hash(seed=0).to_numpy(), series.hash(seed=1).to_numpy()


@dataclass
class _Hashed:
    """A polars string Series and its :func:`_hashes`, computed where it was read."""

    series: Any
    hashes: tuple[np.ndarray, np.ndarray]

    def __len__(self) -> int:
        return len(self.series)


class _HashNumbering:
    """Strings numbered by first appearance, a batch at a time, by their 64-bit hashes in
    a pandas hash table (see :func:`_number_pieces`): for each id, the second hash of its
    first string, to check every later string with the same first hash against, and the
    first string itself."""

    def __init__(self, expected: int) -> None:
        from pandas._libs.hashtable import UInt64HashTable, UInt64Vector

        self._vector = UInt64Vector
        size = max(expected // 8, 1024)
        self._table = UInt64HashTable(size)
        self._check = np.empty(size, dtype=np.uint64)
        self._strings: list[pa.Array] = []
        self.count = 0

    def add(self, series: Any) -> np.ndarray | None:
        """The ids (int32) of a polars string Series, numbering the strings not seen yet;
        None for a null, or a collision of first hashes."""
        hashes, check = series.hashes if isinstance(series, _Hashed) else _hashes(series)
        series = series.series if isinstance(series, _Hashed) else series
        if series.null_count():
            return None
        ids = self._table.get_labels(hashes, self._vector(), self.count, -1)
        del hashes
        # New ids rise one by one from self.count, each where its string first appears:
        # where the running maximum rises (older ids count as self.count - 1).
        running = np.maximum.accumulate(np.maximum(ids, self.count - 1))
        first = np.empty(len(ids), dtype=bool)
        if len(ids):
            first[0] = running[0] >= self.count
            np.greater(running[1:], running[:-1], out=first[1:])
        new = np.flatnonzero(first)
        del running, first
        end = self.count + len(new)
        if end > len(self._check):
            self._check = np.resize(self._check, max(end, 2 * len(self._check)))
        self._check[self.count : end] = check[new]
        if not np.array_equal(self._check[ids], check):
            return None
        if len(new):
            self._strings.append(_as_arrow(series.gather(new)))
        self.count = end
        return ids.astype(np.int32)

    def strings(self) -> pa.Array:
        """The distinct strings, in id order."""
        if not self._strings:
            return pa.array([], pa.string())
        return pa.concat_arrays(self._strings)


def _uniform(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` with all chunks plain strings or all dictionary arrays."""
    kinds = {pa.types.is_dictionary(c.type) for c in column.chunks}
    if len(kinds) < 2:
        return column
    return pa.chunked_array(
        [c if pa.types.is_dictionary(c.type) else pc.dictionary_encode(c) for c in column.chunks]
    )


def _ids(indices: pa.Array, null: int = -1) -> np.ndarray:
    if indices.null_count:
        indices = pc.fill_null(indices, null)
    # int32 ids (pyarrow's index type) halve the memory of every per-link array; code
    # that multiplies ids casts to int64 first.
    return indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def url_hosts(urls: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The host of each URL, by one pyarrow regex over the whole column."""
    return pc.struct_field(pc.extract_regex(urls, _HOST), [0])


def _dedupe_rows(
    source: np.ndarray, ordinal: np.ndarray, target: np.ndarray, kind: np.ndarray
) -> np.ndarray | None:
    """Rows to keep so that (source, ordinal, target, kind) is unique, or None when it
    already is.

    A resumed crawl can hold a page twice. A crawl written once holds each page's links
    as one run of rows with increasing ordinals; with source ids numbered by first
    appearance, the runs' ids then increase strictly. That check is one pass; only when
    it fails are the rows sorted to find the duplicates.
    """
    if len(source) < 2:
        return None
    # Runs whose ids increase strictly: ids never decrease from one row to the next, and
    # where they stay the same (within a run), the ordinal rises.
    step = np.diff(source)
    if (step >= 0).all() and ((step > 0) | (np.diff(ordinal) > 0)).all():
        return None
    order = np.lexsort((kind, target, ordinal, source))
    s, o, t, k = source[order], ordinal[order], target[order], kind[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (s[1:] != s[:-1]) | (o[1:] != o[:-1]) | (t[1:] != t[:-1]) | (k[1:] != k[:-1])
    if first.all():
        return None
    return np.sort(order[first])


def _read_edges(dataset: pads.Dataset, columns: list[str]) -> pa.Table:
    """Read edges columns, the low-cardinality string columns as Parquet stores them
    (dictionary pages), which skips materialising millions of repeated strings."""
    files = getattr(dataset, "files", None)
    if not files:
        return dataset.to_table(columns=columns)
    dictionary_columns = [c for c in _DICTIONARY_COLUMNS if c in columns]
    fmt = pads.ParquetFileFormat(
        read_options=pads.ParquetReadOptions(dictionary_columns=dictionary_columns)
    )
    # No schema given: one would cast the dictionary columns back to plain strings.
    return pads.dataset(files, format=fmt, filesystem=dataset.filesystem).to_table(columns=columns)


def _target_stream(dataset: pads.Dataset) -> Callable[[], Iterator[Any]]:
    """The target column of the edges as a stream (see :func:`_number_pieces`): polars
    Series, a file at a time, read by polars (in half the time pyarrow takes) and hashed
    in a thread while the previous file is numbered; or Arrow chunks, when the files are
    not on the local file system, which polars cannot open by themselves."""
    files = getattr(dataset, "files", None)

    def arrow() -> Iterator[Any]:
        yield from dataset.to_table(columns=["target"]).column("target").chunks

    if not files or not isinstance(dataset.filesystem, pafs.LocalFileSystem):
        return arrow

    def local() -> Iterator[Any]:
        import polars as pl

        def read(path: str) -> _Hashed:
            try:
                series = pl.read_parquet(
                    path, columns=["target"], hive_partitioning=False
                ).to_series()
            except pl.exceptions.PolarsError as exc:
                # The same one line as pyarrow's errors give (load_graph turns OSError
                # into one).
                raise OSError(str(exc).strip().splitlines()[0]) from None
            return _Hashed(series, _hashes(series))

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(read, files[0])
            for path in [*files[1:], None]:
                hashed = pending.result()
                if path is not None:
                    pending = pool.submit(read, path)
                yield hashed
                del hashed

    return local


@dataclass
class DomainLinks:
    """The links of one crawl by domain, as :func:`load_graph_alongside` has them before
    the URLs are numbered: link rows are the edges table's rows as read, not yet
    de-duplicated."""

    domains: pa.Array  # domain id -> registered domain
    source_domain: np.ndarray  # link row -> domain id
    target_domain: np.ndarray
    follow: np.ndarray
    weight: np.ndarray
    edges: pa.Table  # anchor, rel, position, kind (those read)

    @property
    def n_domains(self) -> int:
        return len(self.domains)


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
    graph, _ = load_graph_alongside(
        data_dir,
        crawl_id,
        None,
        position_weights=position_weights,
        nofollow_weight=nofollow_weight,
        inbound_columns=inbound_columns,
    )
    return graph


def load_graph_alongside(
    data_dir: Path | str,
    crawl_id: str | None,
    work: Callable[[DomainLinks], T] | None,
    *,
    position_weights: Mapping[str, float] | None = None,
    nofollow_weight: float = 0.0,
    inbound_columns: bool = True,
) -> tuple[CrawlGraph, T | None]:
    """:func:`load_graph`, calling ``work`` on the links by domain while another thread
    numbers the URLs (the longest step of loading, which leaves a core free).

    Returns the graph and what ``work`` returned, or None in its place when the graph's
    links or domains turned out other than ``work`` saw them: when de-duplication
    dropped rows (a resumed crawl that wrote a page twice), or when pages that neither
    link nor are linked to added domains. Then the caller computes it again from the graph.
    """
    weights = position_weight_table(position_weights)
    nofollow_weight = float(nofollow_weight)
    if not math.isfinite(nofollow_weight) or nofollow_weight < 0:
        raise LinkcrawlError(f"nofollow weight must be >= 0, not {nofollow_weight}")
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    columns = _GRAPH_COLUMNS + (_INBOUND_COLUMNS if inbound_columns else [])
    edges_dataset = ds.arrow("edges", crawl_id)

    # Numbering the URLs is the longest step: once this thread has read the sources, a
    # thread numbers them, then the target URLs, read and hashed a file at a time (outside
    # the GIL), then the fetched pages, while this one reads the other columns, numbers
    # the small ones, weighs the links and does ``work``. Sources come first, so that ids
    # follow the crawl order of pages (see _dedupe_rows).
    def fetched() -> Iterator[pa.Array]:
        yield from pages_dataset.to_table(columns=["url"]).column("url").chunks

    def number_urls(sources: pa.ChunkedArray) -> tuple[pa.Array, list[np.ndarray]]:
        # The pages are read when their turn comes: their reading does not hold up the
        # numbering of the targets.
        return _encode([sources, _target_stream(edges_dataset), fetched])

    def failed(exc: BaseException) -> DatasetError:
        return DatasetError(f"{ds.root}: crawl {crawl_id}: {str(exc).splitlines()[0]}")

    with ThreadPoolExecutor(1) as pool:
        try:
            # The sources first (a tenth of a second: read as Parquet's dictionary pages),
            # so that the numbering starts with all of pyarrow's reader threads.
            sources = _read_edges(edges_dataset, ["source"]).column("source")
            # Opened in this thread: ``ds`` is not to be shared across threads (arrow()
            # swaps its settings while it lists files).
            pages_dataset = ds.arrow("pages", crawl_id)
            numbering = pool.submit(number_urls, sources)
            del sources
            edges = _read_edges(edges_dataset, [c for c in columns if c not in _URL_COLUMNS])
        except (pa.ArrowInvalid, OSError) as exc:
            raise failed(exc) from None
        domains, (source_domain, target_domain) = _encode(
            [edges.column("source_domain"), edges.column("target_domain")]
        )
        ordinal = edges.column("ordinal").to_numpy()
        kind_dict, (kind,) = _encode([edges.column("kind")])
        follow = edges.column("follow").to_numpy()
        position_dict, (position,) = _encode([edges.column("position")])
        levels = _weight_levels(
            follow, kind, kind_dict, position, position_dict, weights, nofollow_weight
        )
        weight = levels[0][levels[1]]
        inbound = edges.select(
            [c for c in ("anchor", "rel", "position", "kind") if c in edges.column_names]
        )
        done = None
        if work is not None:
            done = work(DomainLinks(domains, source_domain, target_domain, follow, weight, inbound))
        try:
            urls, (source, target, _fetched) = numbering.result()
        except (pa.ArrowInvalid, OSError) as exc:
            raise failed(exc) from None
    del edges, _fetched
    rows = _dedupe_rows(source, ordinal, target, kind)
    if rows is not None:
        source, target = source[rows], target[rows]
        source_domain, target_domain = source_domain[rows], target_domain[rows]
        follow, weight = follow[rows], weight[rows]
        levels = (levels[0], levels[1][rows])
        done = None

    n = len(urls)
    page_domain = np.full(n, -1, dtype=np.int32)
    page_domain[target] = target_domain
    page_domain[source] = source_domain
    missing = np.flatnonzero(page_domain < 0)
    if len(missing):
        # Fetched pages that neither link nor are linked to: resolve their hosts, each once.
        hosts = url_hosts(urls.take(pa.array(missing)))
        extra = [registered_domain(h or "") for h in hosts.to_pylist()]
        n_domains = len(domains)
        domains, (page_domain_missing,) = _extend_dictionary(domains, extra)
        page_domain[missing] = page_domain_missing
        if len(domains) != n_domains:
            done = None
    graph = CrawlGraph(
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
        edges=inbound,
        levels=levels,
    )
    return graph, done


def _weight_levels(
    follow: np.ndarray,
    kind: np.ndarray,
    kind_dict: pa.Array,
    position: np.ndarray,
    position_dict: pa.Array,
    position_weights: Mapping[str, float],
    nofollow_weight: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The weight of each link, follow weight x position weight, as the distinct weights
    (ascending) and each link's index among them: computed for each of the few
    (follow, kind, position) combinations, then gathered by link.

    A redirect, refresh or canonical passes full weight whatever its position; a null
    position (redirects) and positions without a weight count as content. ``kind`` and
    ``position`` are ids into their dictionaries, -1 for null.
    """
    n_kind, n_position = len(kind_dict) + 1, len(position_dict) + 1  # the last: null
    full = np.array([k in FULL_WEIGHT_KINDS for k in kind_dict.to_pylist()] + [False])
    by_position = np.array(
        [position_weights.get(p, 1.0) for p in position_dict.to_pylist()] + [1.0]
    )
    combination = np.multiply.outer(
        np.array([nofollow_weight, 1.0]),
        np.where(full[:, None], 1.0, by_position[None, :]),
    )  # [follow, kind, position]
    distinct, index = np.unique(combination.ravel(), return_inverse=True)
    index = index.astype(np.uint8 if len(distinct) <= 256 else np.int32)
    code = follow.astype(np.int32)
    code *= n_kind
    code += np.where(kind < 0, n_kind - 1, kind)
    code *= n_position
    code += np.where(position < 0, n_position - 1, position)
    return distinct, index[code]


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
    # int64: ids are int32, and source * n_pages overflows int32 beyond 46,341 pages.
    key = graph.source[keep].astype(np.int64) * graph.n_pages + graph.target[keep]
    _, links = np.unique(key, return_counts=True)
    source, target, weight = graph.collapsed()  # sorted by (source, target), as np.unique
    order = slice(None)
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
