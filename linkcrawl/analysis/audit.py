"""The link audit, computed from the authority tables: TrustRank, core-based PageRank and
spam mass on the domain graph, and the toxic-link flags of every inbound link.

docs/audit.md is the specification. Everything here reads the tables that ``analyze``
wrote (whatever engine wrote them), never the edges again: inbound.parquet holds every
link between two domains, which is all the domain graph and the flags need.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkcrawl.analysis.definition import Definition, floor
from linkcrawl.analysis.iteration import power_iteration, transition_matrix
from linkcrawl.dataset.layout import RemotePath, authority_path
from linkcrawl.dataset.schemas import (
    DICTIONARY_COLUMNS,
    DOMAINS_SCHEMA,
    INBOUND_SCHEMA,
)
from linkcrawl.dataset.write import write_tables_atomic
from linkcrawl.errors import DatasetError, LinkcrawlError

if TYPE_CHECKING:
    from linkcrawl.dataset.reader import Dataset

__all__ = [
    "ANCHOR_MIN_DOMAINS",
    "ANCHOR_SHARE",
    "AUDITED_DOMAINS_SCHEMA",
    "AUDITED_INBOUND_SCHEMA",
    "FLAGS",
    "GENERIC_ANCHORS",
    "GOOD_SHARE",
    "LINK_FARM_MAX_DOMAINS",
    "LINK_FARM_MIN_PAGES",
    "LINK_FARM_TOP_SHARE",
    "SITEWIDE_MIN_PAGES",
    "SITEWIDE_SHARE",
    "SPAM_MASS_MIN_PAGERANK",
    "SPAM_MASS_THRESHOLD",
    "AuditResult",
    "audit_into",
    "core_pagerank",
    "previous_trusted",
    "trustrank",
]

# -- thresholds (docs/audit.md gives the reason for each)
SPAM_MASS_THRESHOLD = 0.75
SPAM_MASS_MIN_PAGERANK = 3.0
GOOD_SHARE = 0.5
SITEWIDE_SHARE = 0.5
SITEWIDE_MIN_PAGES = 4
LINK_FARM_MIN_PAGES = 5
LINK_FARM_MAX_DOMAINS = 3
LINK_FARM_TOP_SHARE = 0.5
ANCHOR_SHARE = 0.3
ANCHOR_MIN_DOMAINS = 3
# Anchors that say nothing about the target's keywords: their over-use is not
# optimisation (a brand name or bare URL is excluded separately).
GENERIC_ANCHORS = frozenset(
    {
        "",
        "here",
        "click here",
        "this",
        "link",
        "website",
        "site",
        "web site",
        "home",
        "homepage",
        "read more",
        "more",
        "visit",
        "visit site",
        "source",
        "via",
        "this site",
        "learn more",
        "more info",
        "go",
        "url",
    }
)

# The flags, in the order they are listed.
FLAGS = ("spam-mass", "link-farm", "sitewide", "reciprocal", "anchor-overuse")

_FLAG_LIST = pa.list_(pa.string())
TRUSTED_KEY = b"linkcrawl.audit.trusted"
GOOD_SHARE_KEY = b"linkcrawl.audit.good_share"

AUDITED_DOMAINS_SCHEMA = (
    DOMAINS_SCHEMA.append(pa.field("trust", pa.float64()))
    .append(pa.field("spam_mass", pa.float64()))
    .append(pa.field("flags", _FLAG_LIST, nullable=False))
)
AUDITED_INBOUND_SCHEMA = (
    INBOUND_SCHEMA.append(pa.field("source_domain_trust", pa.float64()))
    .append(pa.field("source_domain_spam_mass", pa.float64()))
    .append(pa.field("flags", _FLAG_LIST, nullable=False))
    .append(pa.field("flag_reasons", _FLAG_LIST, nullable=False))
)

# Text rules as regular expressions (Rust's, in polars): the whitespace of Python's
# str.split(), and the characters a reason must not carry (control characters and line
# breaks: an anchor must not start a line of a disavow file).
_WHITESPACE = r"[\s\x1c-\x1f]+"
_CONTROL = r"[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}]+"
# A URL or a bare host name as anchor text.
_URLISH = r"(?i)^(?:[a-z][a-z0-9+.\-]*://|www\.)|^[\w\-]+(?:\.[\w\-]+)+/?$"


@dataclass
class AuditResult:
    """What an audit computed for one crawl.

    ``domains`` is domains.parquet with ``trust``, ``spam_mass`` and ``flags`` (pandas);
    ``candidates`` the domains to review as trusted seeds when no list was given (by
    inverse PageRank, highest first; empty otherwise); ``notes`` what the user should know
    (trust not computed, trusted domains absent from the crawl).
    """

    crawl_id: str
    trusted: list[str]
    trust_computed: bool
    domains: pd.DataFrame
    candidates: pd.DataFrame
    flagged_links: int
    notes: list[str] = field(default_factory=list)


def trustrank(
    source: np.ndarray,
    target: np.ndarray,
    n: int,
    seeds: Iterable[int],
    definition: Definition | None = None,
) -> np.ndarray:
    """TrustRank (Gyöngyi, Garcia-Molina & Pedersen 2004) of an unweighted graph of
    distinct pairs without self-links.

    PageRank whose random jump goes only to the trusted ``seeds`` (uniformly), and whose
    dangling nodes' rank returns to the seeds too, so that trust reaches only what the
    seeds link to, directly or not. Sums to 1. The same as
    ``nx.pagerank(G, personalization={seed: 1 for seed in seeds})``. Damping and
    tolerance are the definition's (default :class:`Definition`).
    """
    definition = definition or Definition()
    ids = np.unique(np.fromiter(seeds, dtype=np.int64))
    if len(ids) == 0:
        raise LinkcrawlError("TrustRank needs at least one trusted domain")
    restart = np.zeros(n)
    restart[ids] = 1.0 / len(ids)
    return _iterate(source, target, n, definition, "TrustRank", restart, restart)


def core_pagerank(
    source: np.ndarray,
    target: np.ndarray,
    n: int,
    core: Iterable[int],
    definition: Definition | None = None,
) -> np.ndarray:
    """Core-based PageRank p′ (Gyöngyi, Berkhin, Garcia-Molina & Pedersen 2006) of an
    unweighted graph of distinct pairs without self-links.

    The PageRank of docs/authority.md (dangling rank spread uniformly) with the random
    jump restricted to the trusted core: 1/N on each core node, 0 elsewhere. It is linear
    in the jump vector, so p′ ≤ p node by node and p − p′ is the PageRank that comes from
    outside the core; spam mass is m = 1 − p′/p. Sums to |core| / N.
    """
    definition = definition or Definition()
    ids = np.unique(np.fromiter(core, dtype=np.int64))
    restart = np.zeros(n)
    restart[ids] = 1.0 / n
    return _iterate(source, target, n, definition, "core-based PageRank", restart, None)


def _iterate(
    source: np.ndarray,
    target: np.ndarray,
    n: int,
    definition: Definition,
    what: str,
    restart: np.ndarray | None,
    dangling_to: np.ndarray | None,
) -> np.ndarray:
    P, dangling = transition_matrix(source, target, None, n, definition.damping)
    x, _ = power_iteration(
        P,
        dangling,
        damping=definition.damping,
        restart=restart,
        dangling_to=dangling_to,
        tol=definition.tol,
        max_iter=definition.max_iter,
        what=what,
    )
    return x


def previous_trusted(dataset: Dataset, crawl_id: str) -> list[str] | None:
    """The trusted domains the crawl's current authority tables were audited with (their
    metadata ``linkcrawl.audit.trusted``); None when they were not audited (or there are
    none). An empty list: audited without a trusted list."""
    meta = audit_metadata(dataset, crawl_id)
    return None if meta is None else meta[0]


def audit_metadata(dataset: Dataset, crawl_id: str) -> tuple[list[str], float] | None:
    """The trusted domains and ``good_share`` the crawl's current authority tables were
    audited with; None when they were not audited."""
    path = authority_path(dataset.root, crawl_id) / "domains.parquet"
    try:
        schema = _read_schema(path)
    except (OSError, pa.ArrowException):
        return None
    meta = schema.metadata or {}
    if "flags" not in schema.names or TRUSTED_KEY not in meta:
        return None
    try:
        trusted = [str(d) for d in json.loads(meta[TRUSTED_KEY])]
        good_share = float(meta.get(GOOD_SHARE_KEY, GOOD_SHARE))
    except (ValueError, TypeError):
        return None
    return trusted, good_share


def _read_schema(path: Path | RemotePath) -> pa.Schema:
    if isinstance(path, RemotePath):
        with path.open_input_file() as fh:
            return pq.read_schema(fh)
    return pq.read_schema(path)


def _read_table(
    source: pa.Table | Path | RemotePath,
    columns: Sequence[str] | None = None,
    dictionary: Sequence[str] | None = None,
) -> pa.Table:
    if isinstance(source, pa.Table):
        return source.select(list(columns)) if columns else source
    try:
        if isinstance(source, RemotePath):
            with source.open_input_file() as fh:
                return pq.read_table(fh, columns=columns, read_dictionary=dictionary)
        return pq.read_table(source, columns=columns, read_dictionary=dictionary)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{source}: {str(exc).splitlines()[0]}") from None


def audit_into(
    dataset: Dataset,
    crawl_id: str,
    out: Path | RemotePath,
    trusted: Iterable[str],
    definition: Definition,
    say: Callable[[str], None] | None = None,
    *,
    good_share: float | None = None,
    candidates: int = 20,
) -> AuditResult:
    """Audit the authority tables in folder ``out`` (domains.parquet, inbound.parquet and
    pages.parquet of ``crawl_id``, as analyze writes them into its staged partition) and
    write domains.parquet and inbound.parquet there again with the audit columns
    (:data:`AUDITED_DOMAINS_SCHEMA`, :data:`AUDITED_INBOUND_SCHEMA`).

    ``trusted`` are registered domains (see ``linkcrawl.reports.audit.normalise_domains``);
    ``good_share`` None takes the one the crawl's current tables were audited with, else
    :data:`GOOD_SHARE`. The caller swaps ``out`` in; nothing else is written.
    """
    sources: dict[str, pa.Table | Path | RemotePath] = {
        name: out / f"{name}.parquet" for name in ("domains", "inbound", "pages")
    }
    if isinstance(out, RemotePath):
        # An object is rewritten under its own name: read it whole before.
        sources["inbound"] = _read_table(sources["inbound"], INBOUND_SCHEMA.names)
    return _audit(
        dataset,
        crawl_id,
        sources,
        out,
        list(trusted),
        definition,
        say or (lambda line: None),
        good_share=good_share,
        candidates=candidates,
    )


def _audit(
    dataset: Dataset,
    crawl_id: str,
    sources: dict[str, pa.Table | Path | RemotePath],
    out: Path | RemotePath,
    trusted: list[str],
    definition: Definition,
    say: Callable[[str], None],
    *,
    good_share: float | None,
    candidates: int,
) -> AuditResult:
    """The audit of the tables in ``sources`` (files or tables read already), written to
    ``out``: inbound.parquet first, then domains.parquet (which marks a whole generation
    on an object store)."""
    if good_share is None:
        previous = audit_metadata(dataset, crawl_id)
        good_share = GOOD_SHARE if previous is None else previous[1]
    domains_tbl = _read_table(sources["domains"], DOMAINS_SCHEMA.names)
    names = domains_tbl.column("domain").combine_chunks()
    n = len(names)
    # The columns the flags group by are read as dictionaries: the file's own encoding,
    # codes without hashing every row.
    inbound = _read_table(sources["inbound"], INBOUND_SCHEMA.names, dictionary=_CODED)
    links = _Links.read(inbound, names)
    inbound = _as_strings(inbound)
    say(f"audit {crawl_id}: {n} domains, {len(links.s)} links between domains")

    # -- the domain graph of docs/authority.md section 3, from the links between domains:
    # each pair of domains once, an edge when any of its links is followed.
    link_pairs, pair_of, counts = np.unique(
        links.s * n + links.t, return_inverse=True, return_counts=True
    )
    followed = np.bincount(pair_of, weights=links.follow, minlength=len(link_pairs)) > 0
    pairs = link_pairs[followed]
    dom_source, dom_target = pairs // n, pairs % n
    out_domains = np.bincount(dom_source, minlength=n)
    pagerank = _iterate(dom_source, dom_target, n, definition, "domain PageRank", None, None)

    notes: list[str] = []
    known = set(names.to_pylist())
    present = sorted(d for d in set(trusted) if d in known)
    absent = sorted(d for d in set(trusted) if d not in known)
    if absent:
        notes.append(f"trusted domains not in crawl {crawl_id}, ignored: {', '.join(absent)}")
    trusted_ids = np.zeros(n, dtype=bool)
    if present:
        seeds = pc.index_in(pa.array(present, pa.string()), value_set=names)
        trusted_ids[seeds.to_numpy(zero_copy_only=False)] = True
    seed_ids = np.flatnonzero(trusted_ids)
    trust = spam_mass = np.full(n, np.nan)
    candidates_df = pd.DataFrame({"domain": [], "inverse_pagerank": [], "outbound_domains": []})
    if len(seed_ids):
        trust = trustrank(dom_source, dom_target, n, seed_ids, definition)
        core = core_pagerank(dom_source, dom_target, n, seed_ids, definition)
        gamma = max(1.0, good_share * n / len(seed_ids))
        spam_mass = np.clip(1.0 - gamma * core / pagerank, 0.0, 1.0)
    else:
        if trusted:
            notes.append("none of the trusted domains is in the crawl")
        notes.append(
            "trust and spam mass not computed (no trusted domains): review the candidates "
            "(domains that link out to many, by inverse PageRank) and pass a list with "
            "--trusted"
        )
        inverse = _iterate(dom_target, dom_source, n, definition, "inverse PageRank", None, None)
        top = np.argsort(-inverse, kind="stable")[:candidates]
        candidates_df = pd.DataFrame(
            {
                "domain": names.take(pa.array(top)).to_pylist(),
                "inverse_pagerank": inverse[top],
                "outbound_domains": out_domains[top].astype(np.int64),
            }
        )
    say(f"audit {crawl_id}: trust and spam mass done")

    # -- domain flags
    domain_floor = floor(float(pagerank[out_domains == 0].sum()), n, definition.damping)
    scaled_pr = pagerank / domain_floor if n else pagerank
    with np.errstate(invalid="ignore"):
        spam_domain = (spam_mass >= SPAM_MASS_THRESHOLD) & (scaled_pr >= SPAM_MASS_MIN_PAGERANK)
    crawled = _crawled_pages(dataset, crawl_id, sources["pages"], names)
    ext_links = np.bincount(links.s, minlength=n)
    # The target domain each source domain links to most (links, not pages), of equal
    # counts the higher-ranked one (the lower row of domains.parquet).
    top_target = np.zeros(n, dtype=np.int64)
    top_links = np.zeros(n, dtype=np.int64)
    if len(link_pairs):
        src = link_pairs // n
        order = np.lexsort((-counts, src))
        first = np.ones(len(order), dtype=bool)
        first[1:] = src[order][1:] != src[order][:-1]
        best = order[first]
        top_target[src[best]] = link_pairs[best] % n
        top_links[src[best]] = counts[best]
    top_share = np.where(ext_links > 0, top_links / np.maximum(ext_links, 1), 0.0)
    farm = (
        (crawled >= LINK_FARM_MIN_PAGES)
        & (out_domains >= 1)
        & (out_domains <= LINK_FARM_MAX_DOMAINS)
        & (top_share >= LINK_FARM_TOP_SHARE)
    )
    spam_domain &= ~trusted_ids
    farm &= ~trusted_ids
    referring = np.bincount(link_pairs % n, minlength=n)  # distinct other domains per target

    # Python's own formatting of the numbers (np.char.mod: a C loop over the domains).
    name_col = pl.Series("name", names)
    domain_text = pl.DataFrame(
        {
            "name": name_col,
            "mass": np.char.mod("%.2f", np.nan_to_num(spam_mass)),
            "scaled": np.char.mod("%.1f", scaled_pr),
            "crawled": crawled,
            "out_domains": out_domains,
            "share": np.char.mod("%.0f%%", top_share * 100),
            "top_name": name_col.gather(pl.Series(top_target)),
        }
    ).select(
        pl.concat_str(
            pl.col("name"),
            pl.lit(" spam mass "),
            pl.col("mass"),
            pl.lit(f" (>= {SPAM_MASS_THRESHOLD}), PageRank "),
            pl.col("scaled"),
            pl.lit(" times that of an unlinked domain"),
        ).alias("spam"),
        pl.concat_str(
            pl.col("name"),
            pl.lit(" has "),
            pl.col("crawled"),
            pl.lit(" crawled pages linking to "),
            pl.col("out_domains"),
            pl.lit(" domain(s), "),
            pl.col("share"),
            pl.lit(" of its external links to "),
            pl.col("top_name"),
        ).alias("farm"),
    )
    domain_bits = spam_domain.astype(np.int64) | (farm.astype(np.int64) << 1)

    meta = dict(DOMAINS_SCHEMA.metadata or {})
    meta[TRUSTED_KEY] = json.dumps(present).encode()
    meta[GOOD_SHARE_KEY] = repr(float(good_share)).encode()
    new_domains = pa.Table.from_arrays(
        [
            *domains_tbl.columns,
            _float_column(trust),
            _float_column(spam_mass),
            _FLAG_SETS.take(pa.array(domain_bits)),
        ],
        schema=AUDITED_DOMAINS_SCHEMA.with_metadata(meta),
    )

    # -- the links' flags and reasons
    s, t = links.s, links.t
    reverse = (link_pairs % n) * n + link_pairs // n
    reciprocal = (followed & _member(reverse, pairs))[pair_of] & ~trusted_ids[s]
    n_pages = _distinct_per_group([pair_of], links.page)
    sitewide = (
        (crawled[s] >= SITEWIDE_MIN_PAGES)
        & (n_pages >= SITEWIDE_SHARE * crawled[s])
        & ~trusted_ids[s]
    )
    n_anchor = _distinct_per_group([t, links.anchor], s)
    overuse = (n_anchor >= ANCHOR_MIN_DOMAINS) & (n_anchor >= ANCHOR_SHARE * referring[t])
    overuse &= ~_branded(t[overuse], links.anchor[overuse], names, links.anchors, overuse)
    bits = domain_bits[s]
    for k, on in ((2, sitewide), (3, reciprocal), (4, overuse)):
        bits |= on.astype(np.int64) << k
    flagged = int(np.count_nonzero(bits))

    source_name = pl.Series(names).gather(pl.Series(s))  # per row, once
    reasons = [
        _strings(domain_text["spam"]).take(pa.array(s[spam_domain[s]])),
        _strings(domain_text["farm"]).take(pa.array(s[farm[s]])),
        _text(
            sitewide,
            source_name,
            " links to ",
            ("t", names, t),
            " from ",
            n_pages,
            " of its ",
            crawled[s],
            " crawled pages",
        ),
        _text(reciprocal, source_name, " and ", ("t", names, t), " link to each other"),
        _text(
            overuse,
            'anchor "',
            ("a", _quoted(links.anchors), links.anchor),
            '" used by ',
            n_anchor,
            " of the ",
            referring[t],
            " referring domains of ",
            ("t", names, t),
        ),
    ]
    del source_name
    flags = _FLAG_SETS.take(pa.array(bits))
    flag_reasons = _lists_of(bits, reasons)
    source_trust = _float_column(trust).take(pa.array(s))
    source_mass = _float_column(spam_mass).take(pa.array(s))
    added = [source_trust, source_mass, flags, flag_reasons]
    del links, s, t, bits, reasons, pair_of

    staging = cast(Path, dataset.root / ".staging")  # not used in an object store
    write_tables_atomic(
        [_with_columns(inbound, added)],
        AUDITED_INBOUND_SCHEMA,
        out / "inbound.parquet",
        staging,
        [*DICTIONARY_COLUMNS["authority/inbound"], "flags", "flag_reasons"],
    )
    write_tables_atomic(
        [new_domains],
        new_domains.schema,
        out / "domains.parquet",
        staging,
        DICTIONARY_COLUMNS["authority/domains"],
    )
    return AuditResult(
        crawl_id=crawl_id,
        trusted=present,
        trust_computed=bool(len(seed_ids)),
        domains=new_domains.to_pandas(),
        candidates=candidates_df,
        flagged_links=flagged,
        notes=notes,
    )


# Every set of flags as a list, at the number whose bit k says FLAGS[k]: a link's flags
# are a take from it.
_FLAG_SETS = pa.array(
    [[f for k, f in enumerate(FLAGS) if bits >> k & 1] for bits in range(1 << len(FLAGS))],
    _FLAG_LIST,
)


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _strings(values: pl.Series) -> pa.Array:
    return values.to_arrow().cast(pa.string())


def _float_column(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), from_pandas=True)  # NaN -> null


@dataclass
class _Links:
    """The links between domains (inbound.parquet's rows, in its order) as integers: the
    source and target domain (rows of domains.parquet), the source page, and the anchor
    normalised (ids into ``anchors``); and the follow flag."""

    s: np.ndarray
    t: np.ndarray
    page: np.ndarray
    anchor: np.ndarray
    anchors: pa.Array
    follow: np.ndarray

    @classmethod
    def read(cls, table: pa.Table, names: pa.Array) -> _Links:
        ids = {}
        for column in ("source_domain", "target_domain"):
            codes, values = _codes(table.column(column))
            domain = pc.index_in(values, value_set=names)
            if domain.null_count:
                unknown = values.filter(domain.is_null())[0].as_py()
                raise DatasetError(
                    f"inbound.parquet names domain {unknown!r}, which domains.parquet does "
                    "not: run `linkcrawl analyze` again"
                )
            ids[column] = domain.to_numpy(zero_copy_only=False).astype(np.int64)[codes]
        page, _ = _codes(table.column("source"))
        anchor, raw = _codes(table.column("anchor"))
        # Anchors as docs/audit.md compares them (lower case, whitespace collapsed),
        # normalised once per distinct anchor.
        normal = pl.Series(raw).str.to_lowercase().str.replace_all(_WHITESPACE, " ")
        normal = normal.str.strip_chars(" ")
        normal_codes, anchors = _codes(pa.chunked_array([normal.to_arrow().cast(pa.string())]))
        return cls(
            s=ids["source_domain"],
            t=ids["target_domain"],
            page=page,
            anchor=normal_codes[anchor],
            anchors=anchors,
            follow=table.column("follow").to_numpy(),
        )


_CODED = ["source_domain", "target_domain", "source", "anchor"]


def _as_strings(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary columns as plain strings, as the schema has them."""
    for i, column in enumerate(table.columns):
        if pa.types.is_dictionary(column.type):
            table = table.set_column(i, table.field(i).name, column.cast(pa.string()))
    return table


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """A string column as codes (int64) into its distinct values."""
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    column = column.unify_dictionaries()
    values = column.chunks[0].dictionary if column.num_chunks else pa.array([], pa.string())
    codes = np.concatenate(
        [np.zeros(0, np.int64)]
        + [c.indices.to_numpy(zero_copy_only=False).astype(np.int64) for c in column.chunks]
    )
    return codes, values.cast(pa.string())


def _distinct_per_group(keys: list[np.ndarray], values: np.ndarray) -> np.ndarray:
    """For each row, the number of distinct ``values`` among the rows with its ``keys``."""
    frame = pl.DataFrame({f"k{i}": k for i, k in enumerate(keys)} | {"v": values})
    counted = frame.select(pl.col("v").n_unique().over(*(f"k{i}" for i in range(len(keys)))))
    return counted.to_series().to_numpy().astype(np.int64)


def _branded(
    t: np.ndarray, anchor: np.ndarray, names: pa.Array, anchors: pa.Array, where: np.ndarray
) -> np.ndarray:
    """For the rows ``where`` (given their target domains ``t`` and anchor ids), whether
    the anchor is a brand, a URL or generic: its frequency is no sign of optimisation.
    A full-length bool array (False outside ``where``)."""
    out = np.zeros(len(where), dtype=bool)
    if not len(t):
        return out
    pairs = pl.DataFrame({"t": t, "a": anchor})
    distinct = pairs.unique()
    domain = pl.Series(names).gather(distinct["t"])
    label = domain.str.split(".").list.first()
    text = pl.Series(anchors).gather(distinct["a"])
    frame = pl.DataFrame({"domain": domain, "label": label, "text": text})

    def contains(word: pl.Expr) -> pl.Expr:
        return (word != "") & pl.col("text").str.contains(word, literal=True)

    branded = frame.select(
        pl.col("text").is_in(sorted(GENERIC_ANCHORS))
        | pl.col("text").str.contains(_URLISH)
        | contains(pl.col("label"))
        | contains(pl.col("label").str.replace_all("-", " ", literal=True))
        | contains(pl.col("label").str.replace_all("-", "", literal=True))
        | contains(pl.col("domain"))
    ).to_series()
    marked = pairs.join(
        distinct.with_columns(branded=branded), on=["t", "a"], how="left", maintain_order="left"
    )
    out[where] = marked["branded"].to_numpy()
    return out


def _quoted(anchors: pa.Array) -> pa.Array:
    """Anchors as a reason quotes them: control characters and line breaks become spaces,
    and one longer than 60 characters is cut."""
    quoted = pl.Series(anchors).str.replace_all(_CONTROL, " ").str.strip_chars(" ")
    cut = pl.select(
        pl.when(quoted.str.len_chars() > 60)
        .then(pl.concat_str(quoted.str.slice(0, 59), pl.lit("…")))
        .otherwise(quoted)
    ).to_series()
    return _strings(cut)


def _text(where: np.ndarray, *parts: Any) -> pa.Array:
    """One string per row ``where`` is true, joined from ``parts``: literal strings, per-row
    arrays (numpy, or a polars Series), and ``(name, values, codes)`` for values[codes]."""
    rows = np.flatnonzero(where)
    index = pl.Series(rows)
    columns: list[pl.Expr] = []
    for part in parts:
        if isinstance(part, str):
            columns.append(pl.lit(part))
        elif isinstance(part, tuple):
            _, values, codes = part
            columns.append(pl.lit(pl.Series(values).gather(pl.Series(codes[rows]))))
        elif isinstance(part, pl.Series):
            columns.append(pl.lit(part.gather(index)))
        else:
            columns.append(pl.lit(pl.Series(part[rows])))
    return _strings(pl.select(pl.concat_str(columns)).to_series())


def _lists_of(bits: np.ndarray, reasons: list[pa.Array]) -> pa.Array:
    """A list per row of the reasons whose bit is set in ``bits``, in bit order;
    ``reasons[k]`` holds one string per row with bit k set, in row order."""
    counts = np.zeros(len(bits), dtype=np.int64)
    for k in range(len(reasons)):
        counts += bits >> k & 1
    offsets = np.concatenate([[0], np.cumsum(counts)])
    # Where each reason goes among all of them: after its row's earlier ones.
    position = np.empty(int(offsets[-1]), dtype=np.int64)
    done = np.zeros(len(bits), dtype=np.int64)
    at = 0
    for k in range(len(reasons)):
        rows = np.flatnonzero(bits >> k & 1)
        position[at : at + len(rows)] = offsets[rows] + done[rows]
        done[rows] += 1
        at += len(rows)
    order = np.empty_like(position)
    order[position] = np.arange(len(position))
    values = pa.concat_arrays(reasons).take(pa.array(order))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=_FLAG_LIST)


def _crawled_pages(
    dataset: Dataset, crawl_id: str, pages: pa.Table | Path | RemotePath, names: pa.Array
) -> np.ndarray:
    """Pages fetched successfully (status 200-399, no error) per domain id, each URL once;
    a page's domain is the one pages.parquet gives its URL."""
    fetched = dataset.arrow("pages", crawl_id).to_table(
        columns=["url"],
        filter=(
            pc.field("error").is_null() & (pc.field("status") >= 200) & (pc.field("status") < 400)
        ),
    )
    urls = _frame(fetched).unique("url")
    page_domains = _frame(_read_table(pages, ["url", "domain"]))
    counts = urls.join(page_domains, on="url", how="inner").group_by("domain").len()
    ids = pc.index_in(counts["domain"].to_arrow().cast(pa.string()), value_set=names)
    keep = ids.is_valid()
    crawled = np.zeros(len(names), dtype=np.int64)
    crawled[ids.filter(keep).to_numpy()] = counts["len"].to_numpy()[
        keep.to_numpy(zero_copy_only=False)
    ]
    return crawled


def _member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Whether each of ``keys`` is in the sorted, distinct ``sorted_keys``."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.searchsorted(sorted_keys, keys)
    at[at == len(sorted_keys)] = 0
    return sorted_keys[at] == keys


def _with_columns(inbound: pa.Table, added: list[pa.Array]) -> pa.Table:
    """The base columns of inbound.parquet with the audit columns ``added``."""
    return pa.Table.from_arrays([*inbound.columns, *added], schema=AUDITED_INBOUND_SCHEMA)
