"""Link audit: TrustRank, spam mass and toxic-link flags on the authority tables, and
Google disavow files. How each number and flag is defined: docs/audit.md."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from linkcrawl.analysis.authority import _unique_sorted
from linkcrawl.analysis.graph import load_graph
from linkcrawl.analysis.pagerank import DAMPING, MAX_ITER, TOL, pagerank_arrays
from linkcrawl.dataset.layout import authority_path
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.dataset.schemas import DOMAINS_SCHEMA, INBOUND_SCHEMA
from linkcrawl.dataset.write import staged_partition, write_table_atomic
from linkcrawl.errors import DatasetError, LinkcrawlError
from linkcrawl.extract.urls import registered_domain

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
    "audit",
    "core_pagerank",
    "disavow",
    "read_trusted",
    "trustrank",
]

# -- thresholds (docs/audit.md explains each choice)
# A domain is a spam-mass domain when at least this share of its PageRank comes from
# outside the trusted core ...
SPAM_MASS_THRESHOLD = 0.75
# ... and its PageRank is at least this many times the floor (the PageRank of a domain that
# no one links to): spam mass of a domain nobody links to says nothing, only rank that was
# gained needs explaining.
SPAM_MASS_MIN_PAGERANK = 3.0
# The share of a crawl's domains assumed good, to scale the core-based PageRank of a small
# trusted core (see audit()). Half: most domains a crawl reaches are not spam, and a lower
# estimate would call good domains spam (and put them in a disavow file).
GOOD_SHARE = 0.5
# Sitewide: the source domain links to the target domain from at least this share of its
# crawled pages, and has at least this many crawled pages (on a 2-page site every link is
# on half its pages).
SITEWIDE_SHARE = 0.5
SITEWIDE_MIN_PAGES = 4
# Link farm: many pages, few outbound domains, most external links to one target.
LINK_FARM_MIN_PAGES = 5
LINK_FARM_MAX_DOMAINS = 3
LINK_FARM_TOP_SHARE = 0.5
# Exact-match anchor over-use: one anchor used by at least this share of a target's
# referring domains, and by at least this many of them.
ANCHOR_SHARE = 0.3
ANCHOR_MIN_DOMAINS = 3
# Anchors that say nothing about the target's keywords: their over-use is not
# optimisation (a brand name or bare URL is excluded separately).
GENERIC_ANCHORS = frozenset(
    {
        "", "here", "click here", "this", "link", "website", "site", "web site", "home",
        "homepage", "read more", "more", "visit", "visit site", "source", "via", "this site",
        "learn more", "more info", "go", "url",
    }
)  # fmt: skip

# The flags, in the order they are listed.
FLAGS = ("spam-mass", "link-farm", "sitewide", "reciprocal", "anchor-overuse")

_FLAG_LIST = pa.list_(pa.string())
_TRUSTED_KEY = b"linkcrawl.audit.trusted"

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
_AUDIT_COLUMNS = {
    "domains": [f.name for f in AUDITED_DOMAINS_SCHEMA if f.name not in DOMAINS_SCHEMA.names],
    "inbound": [f.name for f in AUDITED_INBOUND_SCHEMA if f.name not in INBOUND_SCHEMA.names],
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_URLISH = re.compile(r"^(?:[a-z][a-z0-9+.\-]*://|www\.)|^[\w\-]+(?:\.[\w\-]+)+/?$", re.I)


@dataclass
class AuditResult:
    """What :func:`audit` computed for one crawl.

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


def _power_iteration(
    source: np.ndarray,
    target: np.ndarray,
    n: int,
    jump: np.ndarray,
    dangling_to: np.ndarray,
    damping: float,
    tol: float,
) -> np.ndarray:
    """x ← d · (Pᵀx + (Σ_dangling x) · dangling_to) + (1 − d) · jump, on unweighted edges
    (collapsed: distinct pairs, no self-links), from x = jump. ``dangling_to`` sums to 1;
    ``jump`` may sum to less than 1 (core-based PageRank), and x then sums to Σ jump.

    linkcrawl.analysis.pagerank has no personalised restart: this is the same iteration
    with the uniform vectors replaced by given ones."""
    import scipy.sparse as sp

    out_degree = np.bincount(source, minlength=n).astype(np.float64)
    dangling = out_degree == 0
    P = sp.csr_matrix(
        (damping / out_degree[source], (target, source)), shape=(n, n), dtype=np.float64
    )
    x = jump.astype(np.float64).copy()
    base = (1.0 - damping) * jump
    for _ in range(MAX_ITER):
        x_next = P @ x + damping * x[dangling].sum() * dangling_to + base
        err = np.abs(x_next - x).sum()
        x = x_next
        if err < tol:
            return x
    raise DatasetError(f"TrustRank did not converge to L1 < {tol} in {MAX_ITER} iterations")


def trustrank(
    source: np.ndarray,
    target: np.ndarray,
    n: int,
    seeds: Iterable[int],
    *,
    damping: float = DAMPING,
    tol: float = TOL,
) -> np.ndarray:
    """TrustRank (Gyöngyi, Garcia-Molina & Pedersen 2004) of an unweighted graph.

    PageRank whose random jump goes only to the trusted ``seeds`` (uniformly), and whose
    dangling nodes' rank returns to the seeds too, so that trust reaches only what the
    seeds link to, directly or not. Sums to 1. The same as
    ``nx.pagerank(G, personalization={seed: 1 for seed in seeds})``.
    """
    seeds = np.unique(np.fromiter(seeds, dtype=np.int64))
    if len(seeds) == 0:
        raise LinkcrawlError("TrustRank needs at least one trusted domain")
    restart = np.zeros(n)
    restart[seeds] = 1.0 / len(seeds)
    return _power_iteration(source, target, n, restart, restart, damping, tol)


def core_pagerank(
    source: np.ndarray,
    target: np.ndarray,
    n: int,
    core: Iterable[int],
    *,
    damping: float = DAMPING,
    tol: float = TOL,
) -> np.ndarray:
    """Core-based PageRank p′ (Gyöngyi, Berkhin, Garcia-Molina & Pedersen 2006).

    The PageRank of docs/authority.md (dangling rank spread uniformly) with the random
    jump vector restricted to the trusted core: 1/N on each core node, 0 elsewhere. It is
    linear in the jump vector, so p′ ≤ p node by node and p − p′ is the PageRank that
    comes from outside the core; spam mass is m = 1 − p′/p. Sums to |core| / N.
    """
    core = np.unique(np.fromiter(core, dtype=np.int64))
    jump = np.zeros(n)
    jump[core] = 1.0 / n
    return _power_iteration(source, target, n, jump, np.full(n, 1.0 / n), damping, tol)


def _read_authority(path: Path, table: str) -> pa.Table:
    if not path.is_file():
        raise DatasetError(
            f"{path} is missing: run `linkcrawl analyze` before the audit ({table} table)"
        )
    try:
        tbl = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{path}: {str(exc).splitlines()[0]}") from None
    # A second audit replaces the first one's columns.
    return tbl.drop_columns([c for c in _AUDIT_COLUMNS[table] if c in tbl.column_names])


def _clean(text: str, limit: int = 80) -> str:
    """One line of attacker-written text, for a reason or a comment: control characters
    and line breaks become spaces, and long text is cut."""
    text = _CONTROL.sub(" ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _normal_anchor(anchor: str) -> str:
    return " ".join(str(anchor).lower().split())


def _is_branded(anchor: str, domain: str) -> bool:
    """A brand, URL or generic anchor: its frequency is no sign of optimisation."""
    if anchor in GENERIC_ANCHORS or _URLISH.match(anchor):
        return True
    label = domain.split(".", 1)[0]
    words = {label, label.replace("-", " "), label.replace("-", ""), domain}
    return any(w and w in anchor for w in words)


def audit(
    data_dir: Path | str = "data",
    crawl_id: str | None = None,
    trusted: Iterable[str] | Path | str | None = None,
    *,
    damping: float = DAMPING,
    tol: float = TOL,
    candidates: int = 20,
    good_share: float = GOOD_SHARE,
) -> AuditResult:
    """Trust, spam mass and link flags of an analysed crawl, written into its authority
    tables.

    Rewrites ``authority/crawl_id=<id>/domains.parquet`` with ``trust``, ``spam_mass`` and
    ``flags``, and ``inbound.parquet`` with ``source_domain_trust``,
    ``source_domain_spam_mass``, ``flags`` and ``flag_reasons`` (each file atomically;
    schemas :data:`AUDITED_DOMAINS_SCHEMA`, :data:`AUDITED_INBOUND_SCHEMA`). Run
    ``analyze`` first; running ``audit`` again replaces the audit columns.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
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

    Returns
    -------
    AuditResult

    Examples
    --------
    >>> result = audit("data", trusted="trusted.txt")                # doctest: +SKIP
    >>> result.domains.sort_values("spam_mass", ascending=False)     # doctest: +SKIP
    """
    if isinstance(trusted, (str, Path)):
        trusted_list = read_trusted(trusted)
    else:
        trusted_list = normalise_domains(trusted or [])
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    root = Path(ds.root)
    out = authority_path(root, crawl_id)
    domains_tbl = _read_authority(ds.authority_path("domains", crawl_id), "domains")
    inbound_tbl = _read_authority(ds.authority_path("inbound", crawl_id), "inbound")

    # -- the domain graph, as docs/authority.md section 3 defines it
    graph = load_graph(data_dir, crawl_id, inbound_columns=False)
    names = graph.domains.to_pylist()
    n = len(names)
    index = {d: i for i, d in enumerate(names)}
    sd, td = graph.source_domain, graph.target_domain
    followed = (sd != td) & graph.follow
    pairs = _unique_sorted(sd[followed].astype(np.int64) * n + td[followed])
    dom_source, dom_target = pairs // n, pairs % n
    pagerank, _ = pagerank_arrays(
        dom_source, dom_target, None, n, damping=damping, tol=tol, collapsed=True
    )

    notes: list[str] = []
    seeds = [index[d] for d in trusted_list if d in index]
    absent = [d for d in trusted_list if d not in index]
    if absent:
        notes.append(f"trusted domains not in crawl {crawl_id}, ignored: {', '.join(absent)}")
    trust = spam_mass = np.full(n, np.nan)
    candidates_df = pd.DataFrame({"domain": [], "inverse_pagerank": [], "outbound_domains": []})
    if seeds:
        trust = trustrank(dom_source, dom_target, n, seeds, damping=damping, tol=tol)
        core = core_pagerank(dom_source, dom_target, n, seeds, damping=damping, tol=tol)
        gamma = max(1.0, good_share * n / len(seeds))
        spam_mass = np.clip(1.0 - gamma * core / pagerank, 0.0, 1.0)
    else:
        if trusted_list:
            notes.append("none of the trusted domains is in the crawl")
        notes.append(
            "trust and spam mass not computed (no trusted domains): review the candidates "
            "(domains that link out to many, by inverse PageRank) and pass a list with "
            "--trusted"
        )
        inverse, _ = pagerank_arrays(dom_target, dom_source, None, n, damping=damping, tol=tol)
        out_domains = np.bincount(dom_source, minlength=n)
        top = np.argsort(-inverse, kind="stable")[:candidates]
        candidates_df = pd.DataFrame(
            {
                "domain": [names[i] for i in top],
                "inverse_pagerank": inverse[top],
                "outbound_domains": out_domains[top].astype(np.int64),
            }
        )

    # -- domain flags
    dangling = np.bincount(dom_source, minlength=n) == 0
    floor = ((1.0 - damping) + damping * float(pagerank[dangling].sum())) / n if n else 1.0
    scaled_pr = pagerank / floor
    spam_domain = (spam_mass >= SPAM_MASS_THRESHOLD) & (scaled_pr >= SPAM_MASS_MIN_PAGERANK)
    crawled = _crawled_pages(ds, crawl_id)
    crawled_pages = np.array([crawled.get(d, 0) for d in names], dtype=np.int64)
    out_domains = np.bincount(dom_source, minlength=n)
    cross = sd != td
    ext_links = np.bincount(sd[cross], minlength=n)
    # The target domain each source domain links to most (links, not pages).
    top_target = np.full(n, -1)
    top_links = np.zeros(n, dtype=np.int64)
    if cross.any():
        link_pairs, counts = np.unique(
            sd[cross].astype(np.int64) * n + td[cross], return_counts=True
        )
        src = link_pairs // n
        order = np.lexsort((-counts, src))
        first = np.ones(len(order), dtype=bool)
        first[1:] = src[order][1:] != src[order][:-1]
        best = order[first]
        top_target[src[best]] = link_pairs[best] % n
        top_links[src[best]] = counts[best]
    with np.errstate(invalid="ignore", divide="ignore"):
        top_share = np.where(ext_links > 0, top_links / np.maximum(ext_links, 1), 0.0)
    farm = (
        (crawled_pages >= LINK_FARM_MIN_PAGES)
        & (out_domains >= 1)
        & (out_domains <= LINK_FARM_MAX_DOMAINS)
        & (top_share >= LINK_FARM_TOP_SHARE)
    )
    trusted_ids = np.zeros(n, dtype=bool)
    trusted_ids[seeds] = True
    spam_domain &= ~trusted_ids
    farm &= ~trusted_ids

    domain_flags = [
        [f for f, on in (("spam-mass", spam_domain[i]), ("link-farm", farm[i])) if on]
        for i in range(n)
    ]
    farm_reason = {
        i: (
            f"{names[i]} has {crawled_pages[i]} crawled pages linking to {out_domains[i]} "
            f"domain(s), {top_share[i]:.0%} of its external links to {names[top_target[i]]}"
        )
        for i in np.flatnonzero(farm)
    }
    spam_reason = {
        i: (
            f"{names[i]} spam mass {spam_mass[i]:.2f} (>= {SPAM_MASS_THRESHOLD}), PageRank "
            f"{scaled_pr[i]:.1f} times that of an unlinked domain"
        )
        for i in np.flatnonzero(spam_domain)
    }

    # -- the domains table
    dom_names = domains_tbl.column("domain").to_pylist()
    ids = np.array([index.get(d, -1) for d in dom_names], dtype=np.int64)
    have = ids >= 0

    def per_row(values: np.ndarray) -> pa.Array:
        col = np.full(len(ids), np.nan)
        col[have] = values[ids[have]]
        return pa.array(col, pa.float64(), from_pandas=True)  # NaN -> null

    new_domains = domains_tbl.append_column("trust", per_row(trust))
    new_domains = new_domains.append_column("spam_mass", per_row(spam_mass))
    new_domains = new_domains.append_column(
        "flags",
        pa.array([domain_flags[i] if i >= 0 else [] for i in ids.tolist()], _FLAG_LIST),
    )
    meta = dict(DOMAINS_SCHEMA.metadata or {})
    meta[_TRUSTED_KEY] = json.dumps(sorted(names[i] for i in seeds)).encode()
    new_domains = new_domains.cast(AUDITED_DOMAINS_SCHEMA.with_metadata(meta))

    # -- the inbound table: each link's flags and reasons
    inbound = inbound_tbl.select(
        ["target_domain", "source", "source_domain", "anchor", "follow"]
    ).to_pandas()
    s_id = inbound.source_domain.map(index).fillna(-1).astype(np.int64).to_numpy()
    t_id = inbound.target_domain.map(index).fillna(-1).astype(np.int64).to_numpy()
    known = (s_id >= 0) & (t_id >= 0)
    edge_set = set(pairs.tolist())
    pair_key = s_id * n + t_id
    back_key = t_id * n + s_id
    forward = np.fromiter((k in edge_set for k in pair_key.tolist()), bool, len(pair_key))
    backward = np.fromiter((k in edge_set for k in back_key.tolist()), bool, len(back_key))
    reciprocal = known & forward & backward

    # Sitewide: distinct source pages per (source domain, target domain).
    pages_per_pair = inbound.groupby(["source_domain", "target_domain"], sort=False)[
        "source"
    ].transform("nunique")
    src_crawled = inbound.source_domain.map(crawled).fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sitewide_share = pages_per_pair / src_crawled.where(src_crawled > 0)
    sitewide = ((src_crawled >= SITEWIDE_MIN_PAGES) & (sitewide_share >= SITEWIDE_SHARE)).to_numpy()

    # Anchor over-use: distinct referring domains per (target domain, anchor).
    norm = inbound.anchor.map(_normal_anchor)
    referring = inbound.groupby("target_domain", sort=False)["source_domain"].transform("nunique")
    per_anchor = (
        pd.DataFrame({"t": inbound.target_domain, "a": norm, "s": inbound.source_domain})
        .groupby(["t", "a"], sort=False)["s"]
        .transform("nunique")
    )
    branded = np.fromiter(
        (
            _is_branded(a, t)
            for a, t in zip(norm.tolist(), inbound.target_domain.tolist(), strict=True)
        ),
        bool,
        len(norm),
    )
    anchor_overuse = (
        ~branded
        & (per_anchor >= ANCHOR_MIN_DOMAINS).to_numpy()
        & (per_anchor >= ANCHOR_SHARE * referring).to_numpy()
    )

    link_flags: list[list[str]] = []
    link_reasons: list[list[str]] = []
    flagged = 0
    rows = zip(
        s_id.tolist(), t_id.tolist(), inbound.source_domain.tolist(),
        inbound.target_domain.tolist(), norm.tolist(), reciprocal.tolist(),
        sitewide.tolist(), anchor_overuse.tolist(), pages_per_pair.tolist(),
        src_crawled.tolist(), per_anchor.tolist(), referring.tolist(), strict=True,
    )  # fmt: skip
    for s, _t, s_name, t_name, anchor, recip, site, over, n_pages, n_crawled, n_a, n_r in rows:
        flags: list[str] = []
        reasons: list[str] = []
        source_trusted = s >= 0 and trusted_ids[s]
        if s >= 0 and spam_domain[s]:
            flags.append("spam-mass")
            reasons.append(spam_reason[s])
        if s >= 0 and farm[s]:
            flags.append("link-farm")
            reasons.append(farm_reason[s])
        if site and not source_trusted:
            flags.append("sitewide")
            reasons.append(
                f"{s_name} links to {t_name} from {n_pages} of its {n_crawled} crawled pages"
            )
        if recip and not source_trusted:
            flags.append("reciprocal")
            reasons.append(f"{s_name} and {t_name} link to each other")
        if over:
            flags.append("anchor-overuse")
            reasons.append(
                f'anchor "{_clean(anchor, 60)}" used by {n_a} of the {n_r} referring domains '
                f"of {t_name}"
            )
        flagged += bool(flags)
        link_flags.append(flags)
        link_reasons.append(reasons)
    del inbound

    def source_values(values: np.ndarray) -> pa.Array:
        col = np.full(len(s_id), np.nan)
        col[s_id >= 0] = values[s_id[s_id >= 0]]
        return pa.array(col, pa.float64(), from_pandas=True)

    new_inbound = inbound_tbl.append_column("source_domain_trust", source_values(trust))
    new_inbound = new_inbound.append_column("source_domain_spam_mass", source_values(spam_mass))
    new_inbound = new_inbound.append_column("flags", pa.array(link_flags, _FLAG_LIST))
    new_inbound = new_inbound.append_column("flag_reasons", pa.array(link_reasons, _FLAG_LIST))
    new_inbound = new_inbound.cast(AUDITED_INBOUND_SCHEMA)

    staging = root / ".staging"
    # The audited tables replace the analysis's together, pages.parquet with them (as a
    # second link to the same file): never audited inbound beside unaudited domains.
    with staged_partition(root, "authority", crawl_id) as tables:
        if (out / "pages.parquet").is_file():
            _link_or_copy(out / "pages.parquet", tables / "pages.parquet")
        write_table_atomic(new_inbound, tables / "inbound.parquet", staging)
        write_table_atomic(new_domains, tables / "domains.parquet", staging)
    return AuditResult(
        crawl_id=crawl_id,
        trusted=sorted(names[i] for i in seeds),
        trust_computed=bool(seeds),
        domains=new_domains.to_pandas(),
        candidates=candidates_df,
        flagged_links=flagged,
        notes=notes,
    )


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def _crawled_pages(ds: object, crawl_id: str) -> dict[str, int]:
    """Pages fetched successfully (status below 400, no error) per registered domain."""
    from linkcrawl.analysis.graph import url_hosts

    pages = ds.arrow("pages", crawl_id).to_table(columns=["url", "status", "error"])  # type: ignore[attr-defined]
    frame = pages.to_pandas()
    ok = frame.error.isna() & (frame.status.fillna(0) < 400) & (frame.status.fillna(0) >= 200)
    urls = frame.url[ok].drop_duplicates()
    if urls.empty:
        return {}
    hosts = pd.Series(url_hosts(pa.array(urls.tolist(), pa.string())).to_pylist())
    resolved = {h: registered_domain(h or "") for h in hosts.unique().tolist()}
    return hosts.map(resolved).value_counts().to_dict()


def disavow(
    data_dir: Path | str = "data",
    target: str = "",
    crawl_id: str | None = None,
    *,
    min_flags: int = 1,
    trusted: Iterable[str] | Path | str | None = None,
) -> str:
    """A disavow file for Google's Disavow tool: the domains whose links to ``target``
    carry at least ``min_flags`` distinct flags.

    One ``domain:example.com`` line per domain, sorted, each after ``#`` comment lines
    giving its flags and reasons. Trusted domains (those of the audit, and ``trusted``)
    are never listed. No timestamp: the same audit gives the same file byte for byte.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    target
        A registered domain, or a host or URL whose registered domain is meant.
    crawl_id
        The crawl; default the newest finished one. It must have been audited.
    min_flags
        Distinct flags a domain's links must carry between them to be listed.
    trusted
        More domains never to list (iterable, or a file with one a line).
    """
    if min_flags < 1:
        raise LinkcrawlError(f"--min-flags must be at least 1, not {min_flags}")
    domain = _target_domain(target)
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    # Checked by the reader first: whole files of the columns analyze writes.
    for table in ("domains", "inbound"):
        ds.authority_path(table, crawl_id)
    out = authority_path(Path(ds.root), crawl_id)
    inbound, audited_trusted = _audited(out)
    if isinstance(trusted, (str, Path)):
        never = set(read_trusted(trusted))
    else:
        never = set(normalise_domains(trusted or []))
    never |= set(audited_trusted)
    rows = inbound[inbound.target_domain == domain]
    lines = [
        f"# linkcrawl disavow file for {domain}, crawl {crawl_id}",
        f"# domains whose links to {domain} carry at least {min_flags} distinct flag(s);",
        "# trusted domains are never listed. Review before uploading to Google.",
    ]
    listed = 0
    for source_domain, group in rows.groupby("source_domain", sort=True):
        if source_domain in never:
            continue
        reasons: dict[str, str] = {}
        for flags, why in zip(group["flags"], group["flag_reasons"], strict=True):
            for flag, reason in zip(flags, why, strict=True):
                reasons.setdefault(flag, reason)
        if len(reasons) < min_flags:
            continue
        lines.append("")
        for flag in sorted(reasons, key=FLAGS.index):
            lines.append(f"# {flag}: {_clean(reasons[flag], 200)}")
        lines.append(f"domain:{_clean(source_domain, 253)}")
        listed += 1
    if not listed:
        lines.append("# no domain qualifies")
    return "\n".join(lines) + "\n"


def _target_domain(target: str) -> str:
    text = target.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.split("/", 1)[0].split(":", 1)[0].rstrip(".")
    domain = registered_domain(host) if host else ""
    if not domain:
        raise DatasetError(f"bad target {target!r}: give a domain, host or URL")
    return domain


def _audited(out: Path) -> tuple[pd.DataFrame, list[str]]:
    """inbound.parquet's audit columns and the audit's trusted domains; DatasetError when
    the crawl has not been audited."""
    inbound_path, domains_path = out / "inbound.parquet", out / "domains.parquet"
    if not inbound_path.is_file() or not domains_path.is_file():
        raise DatasetError(f"{out}: no authority tables: run `linkcrawl analyze` first")
    schema = pq.read_schema(domains_path)
    inbound_schema = pq.read_schema(inbound_path)
    if "flags" not in inbound_schema.names or "flags" not in schema.names:
        raise DatasetError(
            f"{out}: not audited since the last analysis: run `linkcrawl audit` first"
        )
    trusted = json.loads((schema.metadata or {}).get(_TRUSTED_KEY, b"[]"))
    inbound = pq.read_table(
        inbound_path, columns=["target_domain", "source_domain", "flags", "flag_reasons"]
    ).to_pandas()
    return inbound, trusted
