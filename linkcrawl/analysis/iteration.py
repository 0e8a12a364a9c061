"""One power iteration, with restart and dangling vectors: PageRank, TrustRank and the
core-based PageRank of spam mass are all this loop with different vectors."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from linkcrawl.analysis.definition import MAX_ITER, TOL
from linkcrawl.errors import DatasetError

__all__ = ["power_iteration", "transition_matrix"]

# Links from which the matrix-vector product runs in two threads, half of the rows each
# (scipy's product releases the GIL); on small graphs the hand-off costs more than it saves.
_THREADED_LINKS = 1_000_000


def transition_matrix(
    source: np.ndarray, target: np.ndarray, weight: np.ndarray | None, n: int, damping: float
) -> tuple[sp.csr_matrix, np.ndarray]:
    """d · Pᵀ as CSR, row v holding the shares its linking pages pass to v, and the
    dangling pages (bool: no outgoing weight).

    The links are collapsed (one per pair, no self-links); weight None counts each 1;
    pairs of weight 0 pass nothing.
    """
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    w = np.ones(len(source)) if weight is None else np.asarray(weight, dtype=np.float64)
    out_weight = np.bincount(source, weights=w, minlength=n)
    dangling = out_weight == 0
    keep = w > 0
    if not keep.all():
        source, target, w = source[keep], target[keep], w[keep]
    share = w / out_weight[source]
    share *= damping
    P = sp.csr_matrix((share, (target, source)), shape=(n, n))
    return P, dangling


def power_iteration(
    P: sp.csr_matrix,
    dangling: np.ndarray,
    *,
    damping: float,
    restart: np.ndarray | None = None,
    dangling_to: np.ndarray | None = None,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
    what: str = "PageRank",
    threads: int | None = None,
) -> tuple[np.ndarray, int]:
    """x' = P x + d · (Σ_dangling x) · dangling_to + (1 − d) · restart, from x = restart,
    until ‖x' − x‖₁ < ``tol``; returns x and the iterations it took.

    ``P`` is :func:`transition_matrix`'s d · Pᵀ. ``restart`` (the random jump) and
    ``dangling_to`` (where a dangling page's rank goes) default to uniform 1/N;
    ``dangling_to`` sums to 1, ``restart`` may sum to less (core-based PageRank), and x
    then sums to Σ restart: it is renormalised to that sum at the end, removing the
    rounding drift of many additions. Raises DatasetError naming ``what`` if not
    converged in ``max_iter`` iterations. ``threads``: 1 or 2 threads for the product,
    each on half of the links; default 2 for a large graph on two cores or more.
    """
    n = P.shape[0]
    if n == 0:
        return np.zeros(0), 0
    start = np.full(n, 1.0 / n) if restart is None else np.asarray(restart, dtype=np.float64)
    # A uniform jump is one number added to every row.
    uniform_jump = (1.0 - damping) / n
    jump = None if restart is None else (1.0 - damping) * start
    total = 1.0 if restart is None else float(start.sum())
    x, x_next = start.copy(), np.empty(n)
    if threads is None:
        threads = 2 if P.nnz >= _THREADED_LINKS and (os.cpu_count() or 1) > 1 else 1
    blocks = _row_blocks(P) if threads > 1 else [(P, 0, n)]

    def step(block: tuple[sp.csr_matrix, int, int], spread: float) -> float:
        # Rows lo:hi of the next iterate and their part of the L1 change: each thread does
        # all the work on its rows, so that only the sum of two numbers is serial.
        rows, lo, hi = block
        out = x_next[lo:hi]
        if jump is None and dangling_to is None:
            np.add(rows @ x, spread / n + uniform_jump, out=out)
        else:
            np.add(rows @ x, uniform_jump if jump is None else jump[lo:hi], out=out)
            out += spread / n if dangling_to is None else spread * dangling_to[lo:hi]
        change = out - x[lo:hi]
        np.abs(change, out=change)
        return float(change.sum())

    with ThreadPoolExecutor(max(1, len(blocks) - 1)) as pool:
        for iteration in range(1, max_iter + 1):
            spread = damping * float(x[dangling].sum())
            rest = [pool.submit(step, block, spread) for block in blocks[1:]]
            err = step(blocks[0], spread) + sum(f.result() for f in rest)
            x, x_next = x_next, x
            if err < tol:
                s = float(x.sum())
                return (x / s * total if s > 0 else x), iteration
    raise DatasetError(f"{what} did not converge to L1 < {tol} in {max_iter} iterations")


def _row_blocks(P: sp.csr_matrix) -> list[tuple[sp.csr_matrix, int, int]]:
    """The rows of ``P`` in two blocks of about half its entries each (sharing its arrays)."""
    n = P.shape[0]
    cut = int(np.searchsorted(P.indptr, P.nnz // 2))
    at = int(P.indptr[cut])
    top = sp.csr_matrix((P.data[:at], P.indices[:at], P.indptr[: cut + 1]), shape=(cut, n))
    bottom = sp.csr_matrix((P.data[at:], P.indices[at:], P.indptr[cut:] - at), shape=(n - cut, n))
    return [(top, 0, cut), (bottom, cut, n)]
