"""Reports over the authority tables: the ranked backlinks of a domain or URL prefix, and the
top domains."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from linkcrawl.dataset.reader import open_dataset
from linkcrawl.errors import DatasetError, first_line
from linkcrawl.reports.target import Target, parse_target, target_hint

__all__ = ["BacklinkReport", "Target", "backlinks", "parse_target", "target_hint", "top_domains"]

TOP = 10  # anchors and pages listed in a report's summary


@dataclass
class BacklinkReport:
    """The inbound links of a target: ``summary`` (a dict) and ``links`` (a DataFrame).

    ``summary`` holds target, crawl_id, referring_domains, inbound_links, followed_share
    (None when there are no inbound links), top_anchors (list of (anchor,
    referring_domains)) and top_pages (list of (url, referring_domains)). ``links`` holds
    the inbound.parquet rows of the target, highest value first, with ``relevance`` (the
    linking page against the target page) and ``domain_relevance`` (the referring domain
    against the target site) from relevance.parquet, null where the analysis has none.
    ``domains`` holds one row per referring domain: source_domain, links, followed,
    value (summed), source_domain_authority and relevance (its domain_relevance),
    strongest first.
    """

    summary: dict[str, Any]
    links: pd.DataFrame = field(repr=False)
    domains: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def backlinks(
    data_dir: Path | str = "data",
    target: str = "",
    crawl_id: str | None = None,
    limit: int | None = 50,
) -> BacklinkReport:
    """The ranked inbound links of a domain, host or URL prefix, from inbound.parquet.

    Only links from other registered domains count. Links are ordered by value, the
    PageRank each passes (see docs/authority.md), then by the source page's authority.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    target
        A registered domain (``alpha-example.com``), a host (``www.alpha-example.com``)
        or a URL prefix (``http://www.alpha-example.com/stories/``).
    crawl_id
        The crawl; default the newest finished one. It must have been analysed.
    limit
        At most this many rows in ``links`` (None: all); the summary counts all.

    Raises
    ------
    DatasetError
        No such crawl, or the crawl has not been analysed. A target without inbound links
        is not an error: its report is empty; when the crawl has it under another
        spelling (``https://`` for ``http://``, with or without ``www.``), the summary's
        ``hint`` says which.

    Examples
    --------
    >>> report = backlinks("data", "alpha-example.com", limit=20)   # doctest: +SKIP
    >>> report.summary["referring_domains"]                         # doctest: +SKIP
    """
    parsed = parse_target(target)
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    inbound = ds.authority_arrow("inbound", crawl_id)
    try:
        table = inbound.to_table(filter=parsed.expression())
        hint = None
        if not table.num_rows:
            hint = target_hint(parsed, lambda t: _has_rows(inbound, t))
    except (pa.ArrowException, OSError) as exc:
        where = ds.authority_path("inbound", crawl_id)
        raise DatasetError(f"{where}: {first_line(exc)}") from None
    links = _with_relevance(ds, crawl_id, parsed, table.to_pandas())
    links = links.sort_values(
        ["value", "source_authority", "rank"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    inbound = len(links)
    summary: dict[str, Any] = {
        "target": parsed.name,
        "crawl_id": crawl_id,
        "referring_domains": int(links["source_domain"].nunique()),
        "inbound_links": inbound,
        "followed_share": float(links["follow"].mean()) if inbound else None,
        "top_anchors": _top_by_referring_domains(links[links["anchor"] != ""], "anchor"),
        "top_pages": _top_by_referring_domains(links, "target"),
    }
    if hint:
        summary["hint"] = hint
    domains = _referring_domains(links)
    if limit is not None:
        links = links.head(limit)
    return BacklinkReport(summary, links, domains)


def _with_relevance(ds: Any, crawl_id: str, target: Target, links: pd.DataFrame) -> pd.DataFrame:
    """``links`` with relevance and domain_relevance of each (source, target) pair from
    relevance.parquet; null columns for an analysis without one (no page text, an engine
    that does not score relevance, an analysis before schema 4)."""
    try:
        path = ds.authority_path("relevance", crawl_id)
    except DatasetError:
        path = None
    if path is None or links.empty:
        unknown = pd.Series(dtype="float64", index=links.index)
        return links.assign(relevance=unknown, domain_relevance=unknown)
    scored = ds.authority_arrow("relevance", crawl_id).to_table(
        columns=["source", "target", "relevance", "domain_relevance"],
        filter=target.expression(),
    )
    return links.merge(scored.to_pandas(), on=["source", "target"], how="left", sort=False)


def _referring_domains(links: pd.DataFrame) -> pd.DataFrame:
    """One row per referring domain of ``links``, by the value its links pass."""
    columns = ["source_domain", "links", "followed", "value", "source_domain_authority",
               "relevance"]  # fmt: skip
    if links.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    grouped = links.groupby("source_domain", sort=False).agg(
        links=("source", "size"),
        followed=("follow", "sum"),
        value=("value", "sum"),
        source_domain_authority=("source_domain_authority", "first"),
        relevance=("domain_relevance", "max"),
    )
    grouped = grouped.reset_index().sort_values(
        ["value", "source_domain"], ascending=[False, True], kind="stable"
    )
    return grouped[columns].reset_index(drop=True)


def _has_rows(table: pads.Dataset, target: Target) -> bool:
    return table.to_table(columns=["target"], filter=target.expression()).num_rows > 0


def _top_by_referring_domains(links: pd.DataFrame, column: str) -> list[tuple[str, int]]:
    """The values of ``column`` linked from the most distinct source domains."""
    if links.empty:
        return []
    per_value = links.groupby(column, sort=False)["source_domain"].nunique()
    ranked = per_value.reset_index().sort_values(
        ["source_domain", column], ascending=[False, True], kind="stable"
    )
    values: list[Any] = ranked[column].tolist()
    counts: list[Any] = ranked["source_domain"].tolist()
    return [(str(v), int(c)) for v, c in zip(values, counts, strict=True)][:TOP]


def top_domains(
    data_dir: Path | str = "data", crawl_id: str | None = None, limit: int | None = 20
) -> pd.DataFrame:
    """The domains of an analysed crawl by authority, strongest first (domains.parquet).

    Raises :class:`~linkcrawl.storage.DatasetError` when there is no such crawl or it has
    not been analysed.

    Examples
    --------
    >>> top_domains("data", limit=5)[["domain", "authority", "referring_domains"]]  # doctest: +SKIP
    """
    domains: pd.DataFrame = open_dataset(data_dir).authority("domains", crawl_id)
    domains = domains.sort_values("rank", kind="stable").reset_index(drop=True)
    return domains.head(limit) if limit is not None else domains
