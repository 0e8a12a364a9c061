"""The analysis, declared once: what a link weighs, how links collapse, how PageRank
iterates and stops, how it becomes a 0-100 authority, how ties are ordered.

Every engine (sparse and networkx in memory, duckdb out of core, spark on a cluster) and
the audit read these rules from here rather than restating them; docs/authority.md is the
specification they implement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from linkcrawl.errors import LinkcrawlError

__all__ = [
    "DAMPING",
    "DEFAULT_POSITION_WEIGHTS",
    "FULL_WEIGHT_KINDS",
    "HOST_PATTERN",
    "INBOUND_ORDER",
    "MAX_ITER",
    "RANK_ORDER",
    "RELEVANCE_STEPS",
    "TOL",
    "Definition",
    "authority_scale",
    "authority_sql",
    "floor",
    "order_sql",
    "position_weight_table",
]

# The probability of following a link rather than jumping to a random page.
DAMPING = 0.85
# Absolute L1 change between iterates at which the iteration stops. The distance to the
# fixed point is then at most TOL * DAMPING / (1 - DAMPING), under 6e-8.
TOL = 1e-8
MAX_ITER = 1000

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

# Relevance (--relevance-weight) is rounded to the nearest 1/RELEVANCE_STEPS before it
# scales a link's weight: the weights stay a few distinct levels (CrawlGraph.levels), and
# a difference in the third decimal of a cosine says nothing about a page anyway.
RELEVANCE_STEPS = 20

# Rule 6, the orders of the ranked tables as (column, descending) pairs: nodes by PageRank,
# ties by id (first seen); the inbound links of one target domain by the value they pass,
# then the stronger source page, then their row's place in the edges table ("row").
RANK_ORDER = (("pagerank", True), ("id", False))
INBOUND_ORDER = (("value", True), ("source_authority", True), ("row", False))

# The host of an absolute URL, group 1 (bracketed for an IPv6 literal): the domain of a
# fetched page that no link names. One pattern in the syntax RE2 (pyarrow, DuckDB) and
# Java (Spark) share.
HOST_PATTERN = r"^[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)"


def position_weight_table(position_weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """The default position weights updated with ``position_weights``.

    Raises :class:`~linkcrawl.errors.LinkcrawlError` for an unknown position or a weight
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


def _check_fraction(name: str, value: float, low: float, high: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise LinkcrawlError(f"{name} must be between {low} and {high}, not {value}")
    return value


@dataclass(frozen=True)
class Definition:
    """One analysis: the link weights and the PageRank parameters. Built once from the
    user's options (validated here), then handed to the engine.

    The rules it stands for, in the order an engine applies them:

    1. **Weight of a link** (:meth:`weight`): follow weight (1, or ``nofollow_weight`` for
       a nofollow, ugc or sponsored link) x position weight (``position_weights``; a null
       position and a position without a weight count as content), except that a
       redirect, refresh or canonical passes full position weight. With
       ``relevance_weight`` α > 0, a link from one domain to another is also scaled by
       (1 − α) + α · r, r its relevance (:mod:`linkcrawl.analysis.relevance`) rounded to
       the nearest 1/:data:`RELEVANCE_STEPS` (:meth:`relevance_factor`); a link within a
       domain, or one whose pages have no text, keeps its weight.
    2. **Collapse**: self-links are dropped; several links from one page to another count
       once, at their highest weight; pairs of weight 0 pass nothing (their page may
       then be dangling). Pages are nodes whether or not a link names them.
    3. **Iteration** (:func:`linkcrawl.analysis.iteration.power_iteration`):
       x' = d · (Pᵀx + (Σ_dangling x) / N) + (1 − d) / N from x = 1/N, P[u, v] = w(u, v) /
       Σ_v w(u, v); stop when ‖x' − x‖₁ < ``tol`` (absolute), fail after ``max_iter``.
    4. **Scale** (:func:`floor`, :func:`authority_scale`): 100 · ln(pr / floor) /
       ln(max / floor), floor the PageRank of a page no counted link points to; pages
       without counted inlinks score exactly 0.
    5. **Domains**: the same iteration on the domain graph: one unweighted edge A -> B
       when any followed link goes from a page on A to a page on B, A != B.
    6. **Ties**: ranks order by score descending, then by id ascending, ids numbered in
       the order the crawl first met each URL or domain.

    The output columns and their Parquet encodings are the schemas of
    :mod:`linkcrawl.dataset.schemas` (``AUTHORITY_SCHEMAS``, ``DICTIONARY_COLUMNS``).
    """

    position_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_POSITION_WEIGHTS)
    )
    nofollow_weight: float = 0.0
    damping: float = DAMPING
    tol: float = TOL
    max_iter: int = MAX_ITER
    relevance_weight: float = 0.0

    @classmethod
    def make(
        cls,
        position_weights: Mapping[str, float] | None = None,
        nofollow_weight: float = 0.0,
        damping: float = DAMPING,
        tol: float = TOL,
        max_iter: int = MAX_ITER,
        relevance_weight: float = 0.0,
    ) -> Definition:
        """A definition from user options, each checked: one clear error, never a
        silently odd analysis."""
        tol, nofollow_weight = float(tol), float(nofollow_weight)
        if not (math.isfinite(tol) and tol > 0):
            raise LinkcrawlError(f"tolerance must be > 0, not {tol}")
        if not (math.isfinite(nofollow_weight) and nofollow_weight >= 0):
            raise LinkcrawlError(f"nofollow weight must be >= 0, not {nofollow_weight}")
        return cls(
            position_weights=position_weight_table(position_weights),
            nofollow_weight=nofollow_weight,
            damping=_check_fraction("damping", damping, 0.0, 1.0 - 1e-9),
            tol=tol,
            max_iter=int(max_iter),
            relevance_weight=_check_fraction("relevance weight", relevance_weight, 0.0, 1.0),
        )

    def relevance_factors(self) -> np.ndarray:
        """The factor of rule 1 for a link of relevance step q = round(r · STEPS), at index
        q for q = 0..STEPS; the last entry (1.0) is a link that relevance does not scale."""
        steps = np.arange(RELEVANCE_STEPS + 1) / RELEVANCE_STEPS
        alpha = self.relevance_weight
        return np.append((1.0 - alpha) + alpha * steps, 1.0)

    def relevance_factor(self, relevance: float | None) -> float:
        """The factor of rule 1 for one link between domains of this ``relevance`` (None
        or NaN: unknown, 1.0)."""
        if relevance is None or math.isnan(relevance):
            return 1.0
        return float(self.relevance_factors()[round(relevance * RELEVANCE_STEPS)])

    def weight(self, follow: bool, kind: str | None, position: str | None) -> float:
        """The weight of one link (rule 1)."""
        by_follow = 1.0 if follow else self.nofollow_weight
        if kind in FULL_WEIGHT_KINDS:
            return by_follow
        content = self.position_weights["content"]
        return by_follow * self.position_weights.get(position or "content", content)

    def weight_sql(self, follow: str, kind: str, position: str) -> str:
        """Rule 1 as one SQL expression over the named columns (DuckDB and Spark SQL)."""

        def num(value: float) -> str:
            return repr(float(value))

        full = ", ".join(f"'{k}'" for k in FULL_WEIGHT_KINDS)
        by_follow = f"(CASE WHEN {follow} THEN 1.0 ELSE {num(self.nofollow_weight)} END)"
        by_position = " ".join(
            f"WHEN '{p}' THEN {num(w)}" for p, w in sorted(self.position_weights.items())
        )
        content = num(self.position_weights["content"])
        return (
            f"({by_follow} * (CASE WHEN {kind} IN ({full}) THEN 1.0 "
            f"ELSE (CASE {position} {by_position} ELSE {content} END) END))"
        )


def order_sql(order: tuple[tuple[str, bool], ...], **columns: str) -> str:
    """An ORDER BY list for ``order`` (:data:`RANK_ORDER`, :data:`INBOUND_ORDER`), each
    column renamed as ``columns`` says (``row="rk"``)."""
    return ", ".join(
        f"{columns.get(name, name)} {'DESC' if descending else 'ASC'}" for name, descending in order
    )


def floor(dangling_mass: float, n: int, damping: float) -> float:
    """The PageRank of a node with no counted inlinks: what the random jump and the
    dangling nodes' spread give every node, ((1 − d) + d · Σ_dangling pr) / N."""
    return ((1.0 - damping) + damping * float(dangling_mass)) / n


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


def authority_sql(pagerank: str, linked: str, floor: float, top: float) -> str:
    """:func:`authority_scale` as one SQL expression (DuckDB and Spark SQL) over the named
    columns, given the floor and the largest PageRank."""
    if not top > floor * (1 + 1e-9):
        return "CAST(0.0 AS DOUBLE)"
    lo = f"CAST({float(floor)!r} AS DOUBLE)"
    scale = f"CAST({100.0 / math.log(top / floor)!r} AS DOUBLE)"
    score = f"ln(greatest({pagerank}, {lo}) / {lo}) * {scale}"
    return f"(CASE WHEN {linked} THEN least(greatest({score}, 0.0), 100.0) ELSE 0.0 END)"
