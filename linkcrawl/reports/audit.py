"""Link audit, read and written: the trusted list, the audit of an analysed crawl (staged
as a new generation of its authority tables), and Google disavow files. The numbers and
flags are computed in :mod:`linkcrawl.analysis.audit`; docs/audit.md defines them."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import cast

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from linkcrawl.analysis.audit import (
    ANCHOR_MIN_DOMAINS,
    ANCHOR_SHARE,
    AUDITED_DOMAINS_SCHEMA,
    AUDITED_INBOUND_SCHEMA,
    FLAGS,
    GOOD_SHARE,
    LINK_FARM_MAX_DOMAINS,
    LINK_FARM_MIN_PAGES,
    LINK_FARM_TOP_SHARE,
    SITEWIDE_MIN_PAGES,
    SITEWIDE_SHARE,
    SPAM_MASS_MIN_PAGERANK,
    SPAM_MASS_THRESHOLD,
    AuditResult,
    _audit,
    _read_table,
    audit_into,
    audit_metadata,
    core_pagerank,
    previous_trusted,
    trustrank,
)
from linkcrawl.analysis.definition import DAMPING, TOL, Definition
from linkcrawl.dataset.layout import RemotePath, authority_path
from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.dataset.schemas import DICTIONARY_COLUMNS, PAGE_AUTHORITY_SCHEMA
from linkcrawl.dataset.write import staged_partition, write_tables_atomic
from linkcrawl.errors import DatasetError, LinkcrawlError
from linkcrawl.extract.urls import registered_domain
from linkcrawl.reports.disavow import DisavowEntry, DisavowLimitError, pack_disavow
from linkcrawl.reports.target import parse_target

__all__ = [
    "ANCHOR_MIN_DOMAINS",
    "ANCHOR_SHARE",
    "AUDITED_DOMAINS_SCHEMA",
    "AUDITED_INBOUND_SCHEMA",
    "FLAGS",
    "GOOD_SHARE",
    "LINK_FARM_MAX_DOMAINS",
    "LINK_FARM_MIN_PAGES",
    "LINK_FARM_TOP_SHARE",
    "SITEWIDE_MIN_PAGES",
    "SITEWIDE_SHARE",
    "SPAM_MASS_MIN_PAGERANK",
    "SPAM_MASS_THRESHOLD",
    "AuditResult",
    "DisavowLimitError",
    "audit",
    "audit_into",
    "core_pagerank",
    "disavow",
    "disavow_files",
    "normalise_domains",
    "previous_trusted",
    "read_trusted",
    "trustrank",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_TABLES = ("pages", "domains", "inbound")


def read_trusted(path: Path | str) -> list[str]:
    """Registered domains from a file of trusted domains: one a line, ``#`` comments,
    blank lines ignored; a URL or host is reduced to its registered domain."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LinkcrawlError(f"cannot read trusted domains {path}: {exc.strerror}") from None
    return normalise_domains(text.splitlines())


def normalise_domains(lines: Iterable[str]) -> list[str]:
    """Registered domains of lines holding a domain, host or URL (sorted, distinct)."""
    out = set()
    for line in lines:
        item = line.split("#", 1)[0].strip().lower()
        if not item:
            continue
        if "://" in item:
            item = item.split("://", 1)[1]
        host = item.split("/", 1)[0].split(":", 1)[0].rstrip(".")
        domain = registered_domain(host)
        if domain:
            out.add(domain)
    return sorted(out)


def _trusted_list(trusted: Iterable[str] | Path | str | None) -> list[str]:
    if isinstance(trusted, (str, Path)):
        return read_trusted(trusted)
    return normalise_domains(trusted or [])


def audit(
    data_dir: Path | str | Dataset = "data",
    crawl_id: str | None = None,
    trusted: Iterable[str] | Path | str | None = None,
    *,
    damping: float = DAMPING,
    tol: float = TOL,
    candidates: int = 20,
    good_share: float = GOOD_SHARE,
    progress: Callable[[str], None] | None = None,
    target: str | None = None,
    keywords: Sequence[str] | None = None,
) -> AuditResult:
    """Trust, spam mass and link flags of an analysed crawl, written into its authority
    tables.

    Writes a new generation of ``authority/crawl_id=<id>/``: ``domains.parquet`` with
    ``trust``, ``spam_mass`` and ``flags``, ``inbound.parquet`` with
    ``source_domain_trust``, ``source_domain_spam_mass``, ``flags`` and ``flag_reasons``
    (schemas :data:`AUDITED_DOMAINS_SCHEMA`, :data:`AUDITED_INBOUND_SCHEMA`), and
    ``pages.parquet`` as it was. The three replace the old ones together (as analyze's
    do); the old files are never changed. Run ``analyze`` first; running ``audit`` again
    replaces the audit columns, and ``analyze`` re-audits with the same trusted list.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory (a path, an object store URI, or a Dataset).
    crawl_id
        The crawl; default the newest finished one.
    trusted
        Trusted domains (an iterable of domains, or the path of a file with one a line).
        Without them trust and spam mass are null, the spam-mass flag is never raised, and
        ``candidates`` lists domains to review as seeds, by inverse PageRank.
    damping, tol
        As for PageRank (docs/authority.md).
    candidates
        How many seed candidates to suggest.
    good_share
        The share of the crawl's domains estimated to be good. A trusted list is a small
        sample of the good domains, so the core-based PageRank p′ is scaled by
        γ = max(1, good_share · N / |core|) before m = 1 − γ·p′/p (clipped to [0, 1]), as
        Gyöngyi et al. (2006) do to estimate the mass from a core smaller than the good
        part of the web. ``good_share=0`` gives the unscaled m = 1 − p′/p.
    progress
        Called with a short line at each stage (the CLI prints them to stderr).
    target, keywords
        Also check the anchor profile of ``target`` (a domain, host or URL prefix) against
        ``keywords`` (default: the linked pages' titles): when it is over-optimised
        (:func:`linkcrawl.reports.anchors.over_optimisation`), the reason is one of the
        result's ``notes``; so is each hosting flag of
        :func:`linkcrawl.reports.networks.network_flags` (many referring domains on one
        subnet).

    Returns
    -------
    AuditResult

    Examples
    --------
    >>> result = audit("data", trusted="trusted.txt")                # doctest: +SKIP
    >>> result.domains.sort_values("spam_mass", ascending=False)     # doctest: +SKIP
    """
    result = _audit_tables(
        data_dir, crawl_id, trusted, damping, tol, candidates, good_share, progress
    )
    if target is not None:
        from linkcrawl.reports.anchors import anchor_classes
        from linkcrawl.reports.networks import referring_networks

        profile = anchor_classes(data_dir, target, result.crawl_id, keywords=keywords).summary
        if profile["over_optimised"]:
            result.notes.append(f"{profile['target']}: {profile['over_optimised']}")
        hosting = referring_networks(data_dir, target, result.crawl_id).summary
        result.notes.extend(f"{hosting['target']}: {line}" for line in hosting["flags"])
    return result


def _audit_tables(
    data_dir: Path | str | Dataset,
    crawl_id: str | None,
    trusted: Iterable[str] | Path | str | None,
    damping: float,
    tol: float,
    candidates: int,
    good_share: float,
    progress: Callable[[str], None] | None,
) -> AuditResult:
    trusted_list = _trusted_list(trusted)
    definition = Definition.make(damping=damping, tol=tol)
    ds = data_dir if isinstance(data_dir, Dataset) else open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    # Whole files with the columns analyze writes, checked by the reader.
    current = {name: ds.authority_path(name, crawl_id) for name in _TABLES}
    say = progress or (lambda line: None)
    root = ds.root
    if isinstance(root, RemotePath):
        # There is no rename in an object store: the partition is emptied before the new
        # generation is written, so the tables are read first.
        tables = {name: _read_table(path) for name, path in current.items()}
        with staged_partition(root, "authority", crawl_id) as out:
            write_tables_atomic(
                [tables["pages"].cast(PAGE_AUTHORITY_SCHEMA)],
                PAGE_AUTHORITY_SCHEMA,
                out / "pages.parquet",
                cast(Path, root / ".staging"),  # not used in an object store
                DICTIONARY_COLUMNS["authority/pages"],
            )
            return _audit(
                ds,
                crawl_id,
                dict(tables),
                out,
                trusted_list,
                definition,
                say,
                good_share=good_share,
                candidates=candidates,
            )
    # The new generation starts as second links to the current files; the audit replaces
    # two of them by new files, so the current generation stays whole until the swap.
    with staged_partition(root, "authority", crawl_id) as out:
        for name, path in current.items():
            _link_or_copy(cast(Path, path), cast(Path, out) / f"{name}.parquet")
        return audit_into(
            ds,
            crawl_id,
            out,
            trusted_list,
            definition,
            say,
            good_share=good_share,
            candidates=candidates,
        )


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def _clean(text: str, limit: int = 80) -> str:
    """One line of attacker-written text, for a comment: control characters and line
    breaks become spaces, and long text is cut."""
    text = _CONTROL.sub(" ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def disavow(
    data_dir: Path | str | Dataset = "data",
    target: str = "",
    crawl_id: str | None = None,
    *,
    min_flags: int = 1,
    trusted: Iterable[str] | Path | str | None = None,
    urls: bool = False,
    reasons: bool = True,
) -> str:
    """A disavow file for Google's Disavow tool: the domains whose links to ``target``
    carry at least ``min_flags`` distinct flags.

    One ``domain:example.com`` line per domain (with ``urls``: one linking page URL per
    line), sorted, each after ``#`` comment lines giving its flags and reasons. Trusted
    domains (those of the audit, and ``trusted``) are never listed. No timestamp: the same
    audit gives the same file byte for byte. The file keeps within Google's limits
    (:mod:`linkcrawl.reports.disavow`: :data:`~linkcrawl.reports.disavow.MAX_LINES`
    lines, :data:`~linkcrawl.reports.disavow.MAX_BYTES` bytes,
    :data:`~linkcrawl.reports.disavow.MAX_URL_CHARS` characters per URL) or is refused:
    :func:`disavow_files` splits it instead.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    target
        A registered domain, or a host or http(s) URL whose registered domain is meant
        (read as every report reads TARGET: :func:`linkcrawl.reports.target.parse_target`).
    crawl_id
        The crawl; default the newest finished one. It must have been audited.
    min_flags
        Distinct flags a domain's (or page's) links must carry between them to be listed.
    trusted
        More domains never to list (iterable, or a file with one a line).
    urls
        List the linking pages, one URL a line, instead of their domains.
    reasons
        Write each entry's flags and reasons as comments above it (without: one line per
        entry, about a third of the lines).

    Raises
    ------
    DisavowLimitError
        The file would exceed one of Google's limits; the message names it.
    """
    return disavow_files(
        data_dir,
        target,
        crawl_id,
        min_flags=min_flags,
        trusted=trusted,
        urls=urls,
        reasons=reasons,
        split=False,
    )[0]


def disavow_files(
    data_dir: Path | str | Dataset = "data",
    target: str = "",
    crawl_id: str | None = None,
    *,
    min_flags: int = 1,
    trusted: Iterable[str] | Path | str | None = None,
    urls: bool = False,
    reasons: bool = True,
    split: bool = True,
) -> list[str]:
    """The disavow file of :func:`disavow` as one text or, with ``split``, as several,
    each within Google's limits, each with the header and ``# part i of n``; an entry is
    never separated from its comments. Google keeps one disavow file per property, so
    parts are for review and hand-off; one file needs fewer entries (``min_flags``) or no
    reasons. Raises :class:`DisavowLimitError` as :func:`disavow` does (with ``split``,
    only for a URL over the length limit)."""
    if min_flags < 1:
        raise LinkcrawlError(f"--min-flags must be at least 1, not {min_flags}")
    domain = parse_target(target).domain  # TARGET as every report reads it
    ds = data_dir if isinstance(data_dir, Dataset) else open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    # Checked by the reader first: whole files of the columns analyze writes.
    inbound_path = ds.authority_path("inbound", crawl_id)
    ds.authority_path("domains", crawl_id)
    audited = audit_metadata(ds, crawl_id)
    inbound_names = _read_schema_names(inbound_path)
    if audited is None or "flags" not in inbound_names:
        out = authority_path(ds.root, crawl_id)
        raise DatasetError(
            f"{out}: not audited since the last analysis: run `linkcrawl audit` first"
        )
    never = set(_trusted_list(trusted)) | set(audited[0])
    rows = pl.from_arrow(_read_inbound_of(inbound_path, domain))
    assert isinstance(rows, pl.DataFrame)
    key = "source" if urls else "source_domain"
    # One reason per flag and entry: the first link's, in the table's order (by value).
    found = (
        rows.filter(~pl.col("source_domain").is_in(sorted(never)))
        .with_row_index("row")
        .explode("flags", "flag_reasons")
        .drop_nulls("flags")
        .group_by(key, "flags")
        .agg(pl.col("flag_reasons").sort_by("row").first())
    )
    listed = (
        found.group_by(key)
        .agg(pl.col("flags"), pl.col("flag_reasons"))
        .filter(pl.col("flags").list.len() >= min_flags)
        .sort(key)
    )
    what = "pages" if urls else "domains"
    header = [
        f"# linkcrawl disavow file for {domain}, crawl {crawl_id}",
        f"# {what} whose links to {domain} carry at least {min_flags} distinct flag(s);",
        "# trusted domains are never listed. Review before uploading to Google.",
    ]
    entries = []
    for name, flags, why in listed.iter_rows():
        comments: tuple[str, ...] = ()
        if reasons:
            pairs = sorted(zip(flags, why, strict=True), key=lambda f: FLAGS.index(f[0]))
            comments = tuple(f"# {flag}: {_clean(reason, 200)}" for flag, reason in pairs)
        # A URL is written whole (the limit on its length is checked, not cut to fit);
        # a crawled URL is normalised, so it holds no control character.
        line = _clean(name, 10**9) if urls else f"domain:{_clean(name, 253)}"
        entries.append(DisavowEntry(line, comments))
    return pack_disavow(header, entries, split=split, empty_note=f"# no {what[:-1]} qualifies")


def _read_schema_names(path: Path | RemotePath) -> list[str]:
    if isinstance(path, RemotePath):
        with path.open_input_file() as fh:
            return pq.read_schema(fh).names
    return pq.read_schema(path).names


def _read_inbound_of(path: Path | RemotePath, domain: str) -> pa.Table:
    """The flags of the links to ``domain``: row groups of other target domains are
    skipped by their statistics."""
    columns = ["source", "source_domain", "flags", "flag_reasons"]
    flt = [("target_domain", "=", domain)]
    if isinstance(path, RemotePath):
        with path.open_input_file() as fh:
            return pq.read_table(fh, columns=columns, filters=flt)
    return pq.read_table(path, columns=columns, filters=flt)
