"""Referring IPs and subnets of a target: the servers its referring domains' linking pages
came from (``pages.ip``), grouped by /24 (IPv4) and /48 (IPv6) next to the referring
domains, and the check for many referring domains on one subnet."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.errors import DatasetError, first_line
from linkcrawl.reports.target import parse_target

__all__ = [
    "IPS_PER_SUBNET_MAX",
    "SUBNET_MIN_DOMAINS",
    "NetworkReport",
    "network_flags",
    "referring_networks",
    "subnet_of",
]

# Majestic's published figures: referring IPs per referring subnet is about 1.23 for a
# typical profile, and under 1.8 for 99 % of them. Above that, many of the linking sites
# share hosting: a network of sites run by one party is the usual reason.
IPS_PER_SUBNET_MAX = 1.8
# A subnet is named as hosting many referring domains from this many on.
SUBNET_MIN_DOMAINS = 3


@functools.cache
def subnet_of(ip: str) -> str | None:
    """The /24 of an IPv4 address, the /48 of an IPv6 one; None for what is not an address.

    >>> subnet_of("203.0.113.7"), subnet_of("2001:db8:1:2::5")
    ('203.0.113.0/24', '2001:db8:1::/48')
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass
class NetworkReport:
    """``summary``: target, crawl_id, referring_domains, domains_with_ip (those with a
    known address: not through a proxy), referring_ips, referring_subnets, ips_per_subnet,
    flags (reasons). ``subnets``: one row per subnet, most referring domains first:
    ``subnet``, ``referring_domains``, ``ips``, ``domains`` (sorted). ``domains``: each
    referring domain with its ``ips`` and ``subnets`` (lists)."""

    summary: dict[str, Any]
    subnets: pd.DataFrame
    domains: pd.DataFrame = field(repr=False)


def network_flags(referring_domains: int, ips: int, subnets: pd.DataFrame) -> list[str]:
    """Reasons to look at a profile's hosting: referring IPs per subnet above
    :data:`IPS_PER_SUBNET_MAX`, and each subnet with :data:`SUBNET_MIN_DOMAINS` or more
    referring domains (with its share of them)."""
    out = []
    n_subnets = len(subnets)
    if n_subnets and ips / n_subnets > IPS_PER_SUBNET_MAX:
        out.append(
            f"{ips:,} referring IPs on {n_subnets:,} subnets: {ips / n_subnets:.2f} per "
            f"subnet, above {IPS_PER_SUBNET_MAX} (typical: about 1.23)"
        )
    names: list[Any] = subnets["subnet"].tolist() if n_subnets else []
    counts: list[Any] = subnets["referring_domains"].tolist() if n_subnets else []
    for subnet, count in zip(names, counts, strict=True):
        k = int(count)
        if k >= SUBNET_MIN_DOMAINS:
            out.append(
                f"{k:,} of {referring_domains:,} referring domains "
                f"({k / referring_domains:.0%}) on subnet {subnet}"
            )
    return out


def referring_networks(
    data_dir: Path | str | Dataset = "data", target: str = "", crawl_id: str | None = None
) -> NetworkReport:
    """The referring IPs and subnets of ``target``: the addresses of the pages that link to
    it from other registered domains (``inbound.parquet`` joined to ``pages.ip``).

    A referring domain's IPs are those of its linking pages the crawl fetched directly;
    a page fetched through a proxy has no address and is left out (``domains_with_ip``
    says how many domains are counted).

    Examples
    --------
    >>> report = referring_networks("data", "example.com")       # doctest: +SKIP
    >>> report.summary["ips_per_subnet"], report.summary["flags"]  # doctest: +SKIP
    """
    parsed = parse_target(target)
    ds = data_dir if isinstance(data_dir, Dataset) else open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    inbound = ds.authority_arrow("inbound", crawl_id)
    try:
        links = inbound.to_table(columns=["source", "source_domain"], filter=parsed.expression())
    except (pa.ArrowException, OSError) as exc:
        where = ds.authority_path("inbound", crawl_id)
        raise DatasetError(f"{where}: {first_line(exc)}") from None
    linking = links.to_pandas().drop_duplicates()
    pages = ds.arrow("pages", crawl_id)
    if "ip" in pages.schema.names and len(linking):
        urls = pa.array(sorted(set(linking["source"])), pa.string())
        found = pages.to_table(columns=["url", "ip"], filter=pc.field("url").isin(urls))
        ips = found.to_pandas().dropna().drop_duplicates()
    else:
        ips = pd.DataFrame({"url": [], "ip": []})
    rows = linking.merge(ips, left_on="source", right_on="url", how="inner")
    rows["subnet"] = rows["ip"].map(subnet_of)
    rows = rows.dropna(subset=["subnet"])
    per_domain = (
        rows.groupby("source_domain")
        .agg(ips=("ip", lambda v: sorted(set(v))), subnets=("subnet", lambda v: sorted(set(v))))
        .reset_index()
        .rename(columns={"source_domain": "domain"})
    )
    per_subnet = (
        rows.groupby("subnet")
        .agg(
            referring_domains=("source_domain", "nunique"),
            ips=("ip", "nunique"),
            domains=("source_domain", lambda v: sorted(set(v))),
        )
        .reset_index()
        .sort_values(["referring_domains", "subnet"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    referring = int(linking["source_domain"].nunique())
    n_ips = int(rows["ip"].nunique())
    n_subnets = len(per_subnet)
    summary: dict[str, Any] = {
        "target": parsed.name,
        "crawl_id": crawl_id,
        "referring_domains": referring,
        "domains_with_ip": len(per_domain),
        "referring_ips": n_ips,
        "referring_subnets": n_subnets,
        "ips_per_subnet": n_ips / n_subnets if n_subnets else None,
    }
    summary["flags"] = network_flags(len(per_domain), n_ips, per_subnet)
    return NetworkReport(summary, per_subnet, per_domain)
