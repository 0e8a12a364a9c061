"""Link intersect: the referring domains of competitors that do not link to a target, the
link-building prospect list, from the inbound table of an analysed crawl."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa

from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.errors import DatasetError, LinkcrawlError, first_line
from linkcrawl.reports.target import Target, parse_target

__all__ = ["IntersectReport", "intersect"]

_COLUMNS = [
    "target",
    "target_domain",
    "source",
    "source_domain",
    "anchor",
    "follow",
    "value",
    "source_authority",
    "source_domain_authority",
]


@dataclass
class IntersectReport:
    """What :func:`intersect` found.

    ``summary``: target, competitors, crawl_id, min_competitors, prospects (how many
    domains), and referring_domains (each competitor's and the target's, in a dict).
    ``domains``: one row per prospect domain, best first: ``domain``, ``authority`` (its
    domain authority, 0–100), ``competitors`` (how many of the competitors it links to),
    ``linked`` (their names, in the order given), ``links`` and ``followed`` (its links to
    them), ``pages`` (its linking pages, the one passing the most value first).
    ``links``: every link of a prospect domain to a competitor: ``domain``, ``source``,
    ``target``, ``competitor``, ``anchor``, ``follow``, ``value``, ``source_authority``,
    in the order of ``domains``, then by value.
    """

    summary: dict[str, Any]
    domains: pd.DataFrame = field(repr=False)
    links: pd.DataFrame = field(repr=False)


def _matches(target: Target) -> pl.Expr:
    """The polars condition on inbound rows that :meth:`Target.expression` is in Arrow."""
    on_domain = pl.col("target_domain") == target.domain
    if target.kind == "prefix":
        return on_domain & pl.col("target").str.starts_with(target.name)
    if target.kind == "host":
        return on_domain & pl.col("target").str.contains(target.host_pattern)
    return on_domain


def intersect(
    data_dir: Path | str | Dataset = "data",
    target: str = "",
    competitors: Sequence[str] = (),
    crawl_id: str | None = None,
    *,
    min_competitors: int = 1,
) -> IntersectReport:
    """The domains that link to at least ``min_competitors`` of the ``competitors`` but not
    to ``target``: where the competitors get links that the target does not.

    Reads ``inbound.parquet`` (links from other registered domains, as
    :func:`~linkcrawl.reports.backlinks.backlinks` counts them). A domain "links to" a
    target when any of its pages does, followed or not: one nofollow link to the target
    is enough to leave a domain out, as it is already a referring domain. The target's own
    registered domain is never a prospect. Prospects are ranked by domain authority, then
    by how many competitors they link to, then by their links to them, then by name.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory (a path, an object store URI, or a Dataset).
    target
        The site to find prospects for: a registered domain, a host or a URL prefix, as
        for ``backlinks``.
    competitors
        One or more competitors, each a domain, host or URL prefix.
    crawl_id
        The crawl; default the newest finished one. It must have been analysed.
    min_competitors
        How many of the competitors a domain must link to (1 to their number).

    Returns
    -------
    IntersectReport

    Examples
    --------
    >>> rivals = ["bravo-example.co.uk", "echo-example.io"]
    >>> report = intersect("data", "alpha-example.com", rivals, min_competitors=2)  # doctest: +SKIP
    >>> report.domains[["domain", "authority", "linked"]]  # doctest: +SKIP
    """
    if not competitors:
        raise LinkcrawlError("give at least one competitor")
    mine = parse_target(target)
    theirs = [parse_target(c) for c in competitors]
    names = [t.name for t in theirs]
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise LinkcrawlError(f"competitor {twice} is given twice")
    if mine.name in names:
        raise LinkcrawlError(f"{mine.name} is the target and a competitor")
    if not 1 <= min_competitors <= len(theirs):
        raise LinkcrawlError(
            f"--min must be between 1 and the number of competitors ({len(theirs)}), "
            f"not {min_competitors}"
        )
    ds = data_dir if isinstance(data_dir, Dataset) else open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    inbound = ds.authority_arrow("inbound", crawl_id)
    wanted = mine.expression()
    for other in theirs:
        wanted = wanted | other.expression()
    try:
        # The filter on target_domain skips the row groups of other domains.
        table = inbound.to_table(filter=wanted, columns=_COLUMNS)
    except (pa.ArrowException, OSError) as exc:
        where = ds.authority_path("inbound", crawl_id)
        raise DatasetError(f"{where}: {first_line(exc)}") from None
    rows = pl.from_arrow(table)
    assert isinstance(rows, pl.DataFrame)
    rows = rows.with_columns(
        _matches(mine).alias("_target"),
        *(_matches(t).alias(f"_c{i}") for i, t in enumerate(theirs)),
    )
    flags = ["_target", *(f"_c{i}" for i in range(len(theirs)))]
    referring = {
        t.name: rows.filter(pl.col(flag))["source_domain"].n_unique()
        for t, flag in zip([mine, *theirs], flags, strict=True)
    }
    linking_target = rows.filter(pl.col("_target"))["source_domain"].unique()
    # One row per link and competitor it points at (prefixes may overlap).
    links = (
        rows.filter(
            ~pl.col("source_domain").is_in(linking_target.implode())
            & (pl.col("source_domain") != mine.domain)
        )
        .with_columns(
            pl.concat_list(pl.when(pl.col(f"_c{i}")).then(pl.lit(i)) for i in range(len(theirs)))
            .list.drop_nulls()
            .alias("_hit")
        )
        .explode("_hit")
        .drop_nulls("_hit")
    )
    per_domain = (
        links.group_by("source_domain")
        .agg(
            pl.col("source_domain_authority").max().alias("authority"),
            pl.col("_hit").unique().sort().alias("_hits"),
            pl.len().alias("links"),
            pl.col("follow").sum().cast(pl.Int64).alias("followed"),
            pl.col("source").sort_by("value", "source", descending=[True, False]).alias("_pages"),
        )
        .with_columns(
            pl.col("_hits").list.len().cast(pl.Int64).alias("competitors"),
            pl.col("_pages").list.unique(maintain_order=True).alias("pages"),
        )
        .filter(pl.col("competitors") >= min_competitors)
        .sort(
            ["authority", "competitors", "links", "source_domain"],
            descending=[True, True, True, False],
            nulls_last=True,
        )
    )
    lookup = pl.DataFrame({"_hit": list(range(len(names))), "competitor": names})
    linked = per_domain["_hits"].to_list()
    domains = per_domain.select(
        pl.col("source_domain").alias("domain"),
        "authority",
        "competitors",
        pl.Series("linked", [[names[i] for i in hits] for hits in linked], pl.List(pl.String)),
        "links",
        "followed",
        "pages",
    )
    order = per_domain.select("source_domain").with_row_index("_order")
    link_rows = (
        links.join(order, on="source_domain")
        .join(lookup.with_columns(pl.col("_hit").cast(links["_hit"].dtype)), on="_hit")
        .sort(
            ["_order", "value", "source", "target", "_hit"],
            descending=[False, True, False, False, False],
        )
        .select(
            pl.col("source_domain").alias("domain"),
            "source",
            "target",
            "competitor",
            "anchor",
            "follow",
            "value",
            "source_authority",
        )
    )
    summary: dict[str, Any] = {
        "target": mine.name,
        "competitors": names,
        "crawl_id": crawl_id,
        "min_competitors": min_competitors,
        "prospects": domains.height,
        "referring_domains": referring,
    }
    return IntersectReport(summary, domains.to_pandas(), link_rows.to_pandas())
