"""Weighted PageRank of a crawl or of arrays of page ids, with either in-memory solver: the
scipy power iteration (:mod:`linkcrawl.analysis.iteration`) or networkx, the reference."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from linkcrawl.analysis.definition import DAMPING, MAX_ITER, TOL, Definition
from linkcrawl.analysis.graph import collapse_links, load_graph
from linkcrawl.analysis.iteration import power_iteration, transition_matrix
from linkcrawl.errors import DatasetError

__all__ = ["DAMPING", "MAX_ITER", "SOLVERS", "TOL", "pagerank", "pagerank_arrays"]

# A solver takes collapsed links (see collapse_links: sorted, one per pair, no self-links,
# weights > 0), the number of nodes and the definition, and returns the PageRank.
Solver = Callable[[np.ndarray, np.ndarray, np.ndarray, int, Definition], np.ndarray]


def sparse_pagerank(
    source: np.ndarray, target: np.ndarray, weight: np.ndarray, n: int, definition: Definition
) -> np.ndarray:
    """PageRank of collapsed links by the scipy power iteration."""
    d = definition
    return pagerank_arrays(source, target, weight, n, damping=d.damping, tol=d.tol,
                           max_iter=d.max_iter, collapsed=True)[0]  # fmt: skip


def networkx_pagerank(
    source: np.ndarray, target: np.ndarray, weight: np.ndarray, n: int, definition: Definition
) -> np.ndarray:
    """PageRank of collapsed links by ``networkx.pagerank``, its tolerance scaled so that
    it stops on the same absolute L1 change as the power iteration."""
    import networkx as nx

    d = definition
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_weighted_edges_from(zip(source.tolist(), target.tolist(), weight.tolist(), strict=True))
    try:  # nx.pagerank stops when the L1 change is below n * tol
        scores = nx.pagerank(G, alpha=d.damping, tol=d.tol / max(n, 1), max_iter=d.max_iter)
    except nx.PowerIterationFailedConvergence:
        message = f"networkx PageRank did not converge in {d.max_iter} iterations"
        raise DatasetError(message) from None
    return np.array([scores[i] for i in range(n)], dtype=np.float64)


SOLVERS: dict[str, Solver] = {"sparse": sparse_pagerank, "networkx": networkx_pagerank}


def pagerank_arrays(
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None,
    n: int,
    *,
    damping: float = DAMPING,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
    collapsed: bool = False,
) -> tuple[np.ndarray, int]:
    """Weighted PageRank of a graph given as arrays of page ids.

    Parameters
    ----------
    source, target
        Integer ids in ``range(n)``, one pair per link; ids no link names are nodes too.
    weight
        The weight of each link (>= 0); None for 1.
    damping, tol, max_iter
        The damping factor; stop when the L1 change between two iterates is below
        ``tol`` (absolute, not scaled by n as in ``networkx.pagerank``), or raise
        :class:`~linkcrawl.errors.DatasetError` after ``max_iter`` iterations.
    collapsed
        The links are already collapsed (no self-links, one per pair), as
        :func:`~linkcrawl.analysis.graph.collapse_links` returns them.

    Returns
    -------
    (pagerank, iterations)
        A float64 array of length n that sums to 1, and the iterations it took.

    Notes
    -----
    The iteration of :func:`~linkcrawl.analysis.iteration.power_iteration`, rule 3 of
    :class:`~linkcrawl.analysis.definition.Definition`. Self-links are dropped and
    parallel links count once at their highest weight, as in a ``networkx.DiGraph``.

    Examples
    --------
    >>> pr, _ = pagerank_arrays(np.array([0, 1]), np.array([1, 2]), None, 3)
    >>> round(float(pr.sum()), 12), bool(pr[2] > pr[1] > pr[0])
    (1.0, True)
    """
    w = np.ones(len(source)) if weight is None else np.asarray(weight, dtype=np.float64)
    if not collapsed:
        source, target, w = collapse_links(
            np.asarray(source, np.int64), np.asarray(target, np.int64), w, n, keep_zero=False
        )
    P, dangling = transition_matrix(source, target, w, n, damping)
    return power_iteration(P, dangling, damping=damping, tol=tol, max_iter=max_iter)


def pagerank(
    data_dir: Path | str = "data",
    crawl_id: str | None = None,
    *,
    engine: str = "sparse",
    position_weights: Mapping[str, float] | None = None,
    nofollow_weight: float = 0.0,
    damping: float = DAMPING,
    tol: float = TOL,
) -> pd.Series:
    """Page PageRank of one crawl, as a pandas Series indexed by URL (sums to 1).

    ``engine`` is ``"sparse"`` (scipy power iteration, the default) or ``"networkx"``
    (``nx.pagerank`` on :func:`~linkcrawl.analysis.page_graph`, with its tolerance scaled
    so that both stop on the same absolute L1 change). See docs/authority.md.

    Examples
    --------
    >>> pr = pagerank("data")                                   # doctest: +SKIP
    >>> pr.nlargest(10)                                         # doctest: +SKIP
    """
    if engine not in SOLVERS:
        raise DatasetError(f"unknown engine {engine!r}: use {' or '.join(SOLVERS)}")
    definition = Definition.make(position_weights, nofollow_weight, damping=damping, tol=tol)
    graph = load_graph(data_dir, crawl_id, definition=definition, inbound_columns=False)
    scores = SOLVERS[engine](*graph.collapsed(keep_zero=False), graph.n_pages, definition)
    index = pd.Index(graph.urls.to_numpy(zero_copy_only=False), name="url")
    return pd.Series(scores, index=index, name="pagerank")
