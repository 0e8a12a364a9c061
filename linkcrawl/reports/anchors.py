"""Anchor text classes of a target's backlinks (exact match, partial match, branded, naked
URL, generic, image, empty), their distribution by referring domains, and the
over-optimisation check of docs/backlinks.md."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.errors import DatasetError, first_line
from linkcrawl.extract.urls import registered_domain
from linkcrawl.reports.target import parse_target

__all__ = [
    "CLASSES",
    "EXACT_MATCH_MAX_SHARE",
    "EXACT_MATCH_MIN_DOMAINS",
    "AnchorReport",
    "anchor_classes",
    "classify_anchor",
    "generic_anchors",
    "normalise",
    "over_optimisation",
]

# In the order they are tried: an anchor is of the first class that holds.
CLASSES = (
    "redirect",  # redirects, meta refreshes, canonicals: no anchor by nature
    "image",  # an image link (kind image or area); its anchor is the alt text
    "empty",
    "naked",  # a URL or bare host name
    "generic",  # "click here", "read more", ... (generic_anchors.json)
    "exact",  # exactly a keyword
    "branded",  # the target's registered-domain label, spelled any way
    "partial",  # shares words with a keyword
    "other",
)
# A profile is over-optimised when more than this share of its referring domains use an
# exact-match anchor, and at least EXACT_MATCH_MIN_DOMAINS of them do (a handful of
# domains is no profile).
EXACT_MATCH_MAX_SHARE = 0.20
EXACT_MATCH_MIN_DOMAINS = 5
# A keyword's words of fewer characters ("a", "of", "to") do not make a partial match.
PARTIAL_MIN_CHARS = 3

_WORD = re.compile(r"[^\W_]+")
_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.\-]*://|www\.)", re.IGNORECASE)
_HOSTISH = re.compile(r"^([\w\-]+(?:\.[\w\-]+)+)\.?(?::\d+)?(?:[/?#]\S*)?$")
_NOT_ANCHORS = frozenset({"redirect", "refresh", "canonical"})
_IMAGES = frozenset({"image", "area"})


def words(text: str) -> list[str]:
    """The words of ``text``: runs of Unicode letters and digits, case-folded."""
    return _WORD.findall(text.casefold())


def normalise(text: str) -> str:
    """``text`` as anchors are compared: case-folded words joined by one space
    ("Read more »" and "read  MORE" are both "read more")."""
    return " ".join(words(text))


@functools.cache
def generic_anchors() -> frozenset[str]:
    """The generic anchors of every language in ``generic_anchors.json``, normalised."""
    raw = json.loads(
        resources.files("linkcrawl.reports").joinpath("generic_anchors.json").read_text("utf-8")
    )
    return frozenset(
        normalise(p) for lang, phrases in raw.items() if not lang.startswith("_") for p in phrases
    )


@functools.cache
def _is_host(host: str) -> bool:
    """Whether ``host`` has a registrable domain under a public suffix (``example.co.uk``,
    not ``node.js`` or ``2.0``): a subdomain of it has a registered domain of its own."""
    probe = "x." + host.lower()
    return registered_domain(probe) != probe


def _naked(anchor: str) -> bool:
    text = anchor.strip()
    if not text or " " in text:
        return False
    if _SCHEME.match(text):
        return True
    match = _HOSTISH.match(text)
    return bool(match and _is_host(match.group(1)))


@functools.cache
def brand_words(domain: str) -> tuple[str, ...]:
    """The words of a registered domain's label: ``alpha-example.com`` → ("alpha",
    "example"); an IDNA label is decoded first (``xn--bcher-kva.de`` → ("bücher",))."""
    label = domain.split(".", 1)[0]
    if label.startswith("xn--"):
        try:
            label = label.encode("ascii").decode("idna")
        except UnicodeError:
            pass
    return tuple(words(label))


def _contains_run(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(
        tuple(haystack[i : i + n]) == tuple(needle) for i in range(len(haystack) - n + 1)
    )


def classify_anchor(
    anchor: str,
    kind: str,
    domain: str,
    keywords: Iterable[str] = (),
) -> str:
    """The class of one anchor (:data:`CLASSES`) of a link to registered domain ``domain``.

    - ``redirect``: ``kind`` redirect, refresh or canonical; ``image``: kind image or area
      (the anchor is the alt text, whatever it says); ``empty``: no words.
    - ``naked``: a URL (``https://...``, ``www....``) or a host name under a public suffix
      (``example.com/page``), one token.
    - ``generic``: its words are a phrase of :func:`generic_anchors`.
    - ``exact``: its words are those of one of ``keywords``.
    - ``branded``: the words of the domain's label in a row (``alpha example``,
      ``Alpha-Example``) or the label's words written as one (``alphaexample``).
    - ``partial``: it has every word of a keyword, or at least half of a keyword's words
      of 3 or more characters.
    - ``other``: anything else.

    Examples
    --------
    >>> classify_anchor("Best Running Shoes!", "anchor", "shop.com", ["best running shoes"])
    'exact'
    >>> classify_anchor("shoes for running", "anchor", "shop.com", ["best running shoes"])
    'partial'
    >>> classify_anchor("Alpha-Example blog", "anchor", "alpha-example.com")
    'branded'
    """
    if kind in _NOT_ANCHORS:
        return "redirect"
    if kind in _IMAGES:
        return "image"
    found = words(anchor)
    if not found:
        return "empty"
    if _naked(anchor):
        return "naked"
    text = " ".join(found)
    if text in generic_anchors():
        return "generic"
    wanted = [words(k) for k in keywords]
    wanted = [k for k in wanted if k]
    if any(found == k for k in wanted):
        return "exact"
    brand = brand_words(domain)
    if _contains_run(found, brand) or (len(brand) > 1 and "".join(brand) in found):
        return "branded"
    have = set(found)
    for k in wanted:
        long = {w for w in k if len(w) >= PARTIAL_MIN_CHARS}
        if set(k) <= have or (long and 2 * len(long & have) >= len(long)):
            return "partial"
    return "other"


@dataclass
class AnchorReport:
    """The anchor classes of a target's backlinks.

    ``summary``: target, crawl_id, referring_domains, keywords (None: the target pages'
    titles were the keywords), exact_share (the share of referring domains with an
    exact-match anchor), over_optimised (the reason, or None). ``classes``: one row per
    class of :data:`CLASSES`: ``class``, ``referring_domains`` (domains with at least one
    link of the class; a domain may count in several), ``share`` (of all referring
    domains), ``links``. ``links``: the inbound rows with ``anchor_class``.
    """

    summary: dict[str, Any]
    classes: pd.DataFrame
    links: pd.DataFrame = field(repr=False)


def anchor_classes(
    data_dir: Path | str | Dataset = "data",
    target: str = "",
    crawl_id: str | None = None,
    *,
    keywords: Sequence[str] | None = None,
) -> AnchorReport:
    """The anchor class of every backlink of ``target`` and their distribution by
    referring domains (from ``inbound.parquet``, links from other registered domains).

    Parameters
    ----------
    data_dir
        The linkcrawl data directory (a path, an object store URI, or a Dataset).
    target
        A registered domain, a host or a URL prefix, as for ``backlinks``.
    crawl_id
        The crawl; default the newest finished one. It must have been analysed.
    keywords
        The phrases exact and partial matches are measured against. None (the default):
        for each link, the title of the page it points to, when the crawl fetched it.

    Examples
    --------
    >>> report = anchor_classes("data", "example.com", keywords=["shoes"])  # doctest: +SKIP
    >>> report.classes                                                  # doctest: +SKIP
    """
    parsed = parse_target(target)
    ds = data_dir if isinstance(data_dir, Dataset) else open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    inbound = ds.authority_arrow("inbound", crawl_id)
    try:
        table = inbound.to_table(filter=parsed.expression())
    except (pa.ArrowException, OSError) as exc:
        where = ds.authority_path("inbound", crawl_id)
        raise DatasetError(f"{where}: {first_line(exc)}") from None
    links = table.to_pandas()
    titles: dict[str, str] = {}
    if keywords is None and len(links):
        pages = ds.arrow("pages", crawl_id)
        urls = pc.unique(table.column("target")).cast(pa.string())
        found = pages.to_table(columns=["url", "title"], filter=pc.field("url").isin(urls))
        for url, title in zip(
            found.column("url").to_pylist(), found.column("title").to_pylist(), strict=True
        ):
            if title:
                titles[url] = title
    fixed = tuple(keywords or ())
    # Classified once per distinct anchor, kind, domain and title: a profile repeats them.
    keys = ["anchor", "kind", "target_domain", "_title"]
    links["_title"] = links["target"].map(titles).fillna("") if keywords is None else ""
    distinct = links[keys].drop_duplicates()
    distinct["anchor_class"] = [
        classify_anchor(a, k, d, fixed if keywords is not None else ((t,) if t else ()))
        for a, k, d, t in distinct.itertuples(index=False, name=None)
    ]
    classes = links[keys].merge(distinct, on=keys, how="left")["anchor_class"].to_numpy()
    links = links.drop(columns="_title")
    links["anchor_class"] = pd.Series(classes, index=links.index, dtype=object)
    referring = int(links["source_domain"].nunique())
    rows = []
    for name in CLASSES:
        of = links[links["anchor_class"] == name]
        n = int(of["source_domain"].nunique())
        rows.append(
            {
                "class": name,
                "referring_domains": n,
                "share": n / referring if referring else 0.0,
                "links": len(of),
            }
        )
    table_of = pd.DataFrame(rows)
    exact = int(table_of.loc[table_of["class"] == "exact", "referring_domains"].iloc[0])
    summary: dict[str, Any] = {
        "target": parsed.name,
        "crawl_id": crawl_id,
        "referring_domains": referring,
        "keywords": list(keywords) if keywords is not None else None,
        "exact_share": exact / referring if referring else None,
    }
    summary["over_optimised"] = over_optimisation(exact, referring)
    return AnchorReport(summary, table_of, links)


def over_optimisation(exact_domains: int, referring_domains: int) -> str | None:
    """The reason a profile is over-optimised, or None: more than
    :data:`EXACT_MATCH_MAX_SHARE` of its referring domains use an exact-match anchor, and
    at least :data:`EXACT_MATCH_MIN_DOMAINS` of them.

    >>> over_optimisation(6, 20)
    'over-optimised: 6 of 20 referring domains (30%) use an exact-match anchor, above 20%'
    >>> over_optimisation(2, 5) is None
    True
    """
    if referring_domains <= 0 or exact_domains < EXACT_MATCH_MIN_DOMAINS:
        return None
    share = exact_domains / referring_domains
    if share <= EXACT_MATCH_MAX_SHARE:
        return None
    return (
        f"over-optimised: {exact_domains:,} of {referring_domains:,} referring domains "
        f"({share:.0%}) use an exact-match anchor, above {EXACT_MATCH_MAX_SHARE:.0%}"
    )
