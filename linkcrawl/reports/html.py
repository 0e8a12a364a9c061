"""`linkcrawl report`: one self-contained HTML file on a domain's backlink profile, with
inline SVG charts, readable offline and safe to open whatever the crawled pages said."""

from __future__ import annotations

import html
import io
import logging
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.dataset.reader import open_dataset
from linkcrawl.errors import DatasetError, LinkcrawlError, first_line
from linkcrawl.reports.monitor import broken
from linkcrawl.reports.target import parse_target

__all__ = ["REL_TYPES", "link_type", "render_report", "report"]

# How each backlink is counted in the follow / nofollow split, most specific first.
log = logging.getLogger(__name__)

REL_TYPES = ("follow", "nofollow", "ugc", "sponsored", "page nofollow")
_ANCHOR_LABEL = 40  # characters of an anchor shown on a chart axis
_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d2733; background: #f6f7f9; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; border-bottom: 2px solid #d5dbe3;
  padding-bottom: 4px; }
p.sub { color: #5b6776; margin: 0 0 18px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid #d5dbe3; border-radius: 8px;
  padding: 10px 16px; min-width: 130px; }
.card b { display: block; font-size: 24px; }
.card span { color: #5b6776; font-size: 13px; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px;
  margin: 8px 0; }
th, td { border: 1px solid #d5dbe3; padding: 4px 7px; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
td.url { overflow-wrap: anywhere; min-width: 12em; }
th { background: #eaeef3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.chart { background: #fff; border: 1px solid #d5dbe3; border-radius: 8px; padding: 6px;
  margin: 8px 0; }
.chart svg { max-width: 100%; height: auto; }
.row { display: flex; flex-wrap: wrap; gap: 12px; }
.row > .chart { flex: 1 1 420px; }
.note { color: #5b6776; font-style: italic; }
.flag { display: inline-block; background: #fde8e8; color: #9b1c1c; border-radius: 4px;
  padding: 0 5px; margin: 0 3px 2px 0; font-size: 12px; white-space: nowrap; }
.new { color: #146c2e; } .lost { color: #9b1c1c; }
td.bar { width: 60%; } td.bar div { background: #3b6fb6; height: 12px; }
details pre { background: #fff; border: 1px solid #d5dbe3; padding: 6px; overflow-x: auto;
  font-size: 12px; max-height: 400px; }
"""
# Rows of an issue shown in the site section, and the most rows of one embedded as CSV.
_SITE_TOP = 5
_SITE_CSV_ROWS = 2000


def _e(value: Any) -> str:
    """Attacker-controlled text (anchors, URLs, domains) as HTML text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def link_type(rel: str, follow: bool) -> str:
    """The split a backlink falls in: sponsored, ugc or nofollow by its rel (in that order
    of precedence), ``page nofollow`` when the page said nofollow, else ``follow``."""
    tokens = set(str(rel or "").lower().split())
    for kind in ("sponsored", "ugc", "nofollow"):
        if kind in tokens:
            return kind
    return "follow" if follow else "page nofollow"


def _svg(draw: Callable[[Any], None], size: tuple[float, float]) -> str:
    """A matplotlib figure drawn by ``draw(fig)`` as an inline ``<svg>`` element.

    Text stays text (``svg.fonttype`` none: small, selectable, escaped by matplotlib's
    XML writer); mathtext is off, so that an anchor with ``$`` signs is drawn as written;
    no date and a fixed hash salt keep the output the same from run to run.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rc: Any = {
        "svg.fonttype": "none",
        "svg.hashsalt": "linkcrawl",
        "text.parse_math": False,
        "font.size": 10,
        "font.family": "DejaVu Sans",
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    with plt.rc_context(rc):
        fig = plt.figure(figsize=size)
        try:
            draw(fig)
            fig.tight_layout()
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg", metadata={"Date": None})
        finally:
            plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _short(text: str, limit: int = _ANCHOR_LABEL) -> str:
    text = " ".join(str(text).split()) or "(no anchor text)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bar_chart(labels: list[str], values: list[float], xlabel: str, ylabel: str) -> str:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ax.bar(range(len(values)), values, color="#3b6fb6")
        ax.set_xticks(range(len(values)), labels)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        for i, v in enumerate(values):
            ax.annotate(f"{v:g}", (i, v), ha="center", va="bottom", fontsize=9)
        ax.margins(y=0.15)

    return _svg(draw, (5.2, 3.2))


def _anchor_chart(anchors: pd.DataFrame) -> str:
    labels = [_short(a) for a in anchors.anchor]

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        ax.barh(y, anchors.referring_domains, color="#3b6fb6")
        ax.set_yticks(y, labels)
        ax.set_xlabel("referring domains using the anchor")
        ax.set_ylabel("anchor text")
        ax.xaxis.get_major_locator().set_params(integer=True)

    return _svg(draw, (9.5, 0.8 + 0.32 * max(len(labels), 3)))


def _history_chart(per_crawl: pd.DataFrame) -> str:
    labels = per_crawl.crawl_id.astype(str).tolist()

    def draw(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        x = list(range(len(labels)))
        left.plot(x, per_crawl.referring_domains, marker="o", label="all")
        left.plot(x, per_crawl.followed_referring_domains, marker="s", label="followed")
        left.set_title("Referring domains")
        left.set_ylabel("referring domains")
        left.legend(frameon=False)
        right.plot(x, per_crawl.links, marker="o", color="#b65f3b")
        right.set_title("Backlinks")
        right.set_ylabel("links")
        for ax in (left, right):
            ax.set_xticks(x, labels, rotation=30 if len(labels) > 3 else 0, ha="right")
            ax.set_xlabel("crawl")
            ax.set_ylim(bottom=0)
            ax.yaxis.get_major_locator().set_params(integer=True)

    return _svg(draw, (10, 3.4))


def _table(frame: pd.DataFrame, columns: dict[str, str], numeric: Iterable[str] = ()) -> str:
    """An HTML table of ``frame``'s ``columns`` (name -> heading), every cell escaped."""
    numeric = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in columns.values())
    body = []
    for row in frame[list(columns)].itertuples(index=False):
        cells = []
        for name, value in zip(columns, row, strict=True):
            if name in numeric:
                cells.append(f'<td class="num">{_number(value)}</td>')
            elif name == "flags":
                spans = "".join(f'<span class="flag">{_e(f)}</span>' for f in value)
                cells.append(f"<td>{spans}</td>")
            elif name == "flag_reasons":
                cells.append("<td>" + "<br>".join(_e(r) for r in value) + "</td>")
            elif name in ("source", "target"):
                cells.append(f'<td class="url">{_e(value)}</td>')
            elif name == "change":
                cells.append(f'<td class="{_e(value)}">{_e(value)}</td>')
            else:
                cells.append(f"<td>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"
    return _e(f"{value:,}" if isinstance(value, int) else value)


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{value}</b><span>{_e(label)}</span></div>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _skipped(warn: Callable[[str], None] | None, section: str, exc: LinkcrawlError) -> None:
    # The page says it too, but a scheduled job reads stderr, not the HTML.
    line = f"report: skipped the {section} section: {exc}"
    if warn is None:
        log.warning("%s", line)
    else:
        warn(line)


def render_report(
    data_dir: Path | str,
    target: str,
    crawl_id: str | None = None,
    *,
    warn: Callable[[str], None] | None = None,
    site_audit: Any = None,
) -> str:
    """The report of ``target``'s backlinks in one crawl, as an HTML document (a string).

    See :func:`report`.
    """
    domain = parse_target(target).domain
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    domains = ds.authority("domains", crawl_id)
    inbound_table = ds.authority_arrow("inbound", crawl_id)
    try:
        inbound = inbound_table.to_table(filter=pc.field("target_domain") == domain).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        where = ds.authority_path("inbound", crawl_id)
        raise DatasetError(f"{where}: {first_line(exc)}") from None
    audited = "flags" in inbound.columns
    parts: list[str] = []

    # -- authority summary
    row = domains[domains.domain == domain]
    parts.append("<h2>Authority</h2>")
    if row.empty:
        parts.append(_note(f"{domain} is not in crawl {crawl_id}."))
    else:
        r = row.iloc[0]
        cards = [
            _card(f"{r.authority:.1f}", "domain authority (0-100)"),
            _card(f"{int(r['rank']):,} / {len(domains):,}", "rank among crawled domains"),
            _card(f"{int(r.referring_domains):,}", "referring domains"),
            _card(f"{int(r.inbound_links):,}", "backlinks"),
            _card(
                "–" if pd.isna(r.follow_share) else f"{r.follow_share:.0%}",
                "followed backlinks",
            ),
            _card(f"{r.pagerank:.2e}", "domain PageRank"),
        ]
        if "trust" in row.columns:
            cards.append(_card("–" if pd.isna(r.trust) else f"{r.trust:.2e}", "TrustRank"))
            cards.append(
                _card("–" if pd.isna(r.spam_mass) else f"{r.spam_mass:.2f}", "spam mass (0-1)")
            )
        parts.append(f'<div class="cards">{"".join(cards)}</div>')
        if "trust" in row.columns and pd.isna(r.trust):
            parts.append(_note("Trust not computed: the audit ran without trusted domains."))
        if "flags" in row.columns and len(r["flags"]):
            flags = "".join(f'<span class="flag">{_e(f)}</span>' for f in r["flags"])
            parts.append(f"<p>Domain flags: {flags}</p>")

    # -- over time
    parts.append("<h2>Referring domains and backlinks over time</h2>")
    try:
        from linkcrawl.reports.monitor import history

        per_crawl = history(ds, domain, links=False).referring_domains
    except LinkcrawlError as exc:
        per_crawl = None
        parts.append(_note(f"No history: {exc}"))
        _skipped(warn, "history", exc)
    if per_crawl is not None and not per_crawl.empty:
        parts.append(f'<div class="chart">{_history_chart(per_crawl)}</div>')
        parts.append(
            _table(
                per_crawl,
                {
                    "crawl_id": "crawl",
                    "started_at": "started (UTC)",
                    "referring_domains": "referring domains",
                    "followed_referring_domains": "followed referring domains",
                    "links": "backlinks",
                },
                numeric=("referring_domains", "followed_referring_domains", "links"),
            )
        )
        if len(per_crawl) == 1:
            parts.append(_note("One finished crawl so far: crawl again to see a trend."))

    # -- anchors
    parts.append("<h2>Anchor text</h2>")
    if inbound.empty:
        parts.append(_note(f"No backlinks to {domain} in crawl {crawl_id}."))
    else:
        # Anchors are counted as the audit counts them (case and spacing aside), each shown
        # as its most frequent spelling.
        shown = inbound.anchor.map(lambda a: " ".join(str(a).split()))
        anchors = (
            pd.DataFrame(
                {"key": shown.str.lower(), "anchor": shown, "source_domain": inbound.source_domain}
            )
            .groupby("key", sort=False)
            .agg(
                anchor=("anchor", lambda a: a.value_counts().index[0]),
                referring_domains=("source_domain", "nunique"),
                links=("source_domain", "size"),
            )
            .reset_index()
            .sort_values(["referring_domains", "links", "key"], ascending=[False, False, True])
        )
        top = anchors.head(15)
        parts.append(f'<div class="chart">{_anchor_chart(top)}</div>')
        parts.append(
            _table(
                anchors.head(50).assign(
                    share=anchors.referring_domains / inbound.source_domain.nunique()
                ),
                {
                    "anchor": "anchor",
                    "referring_domains": "referring domains",
                    "share": "share of referring domains",
                    "links": "links",
                },
                numeric=("referring_domains", "share", "links"),
            )
        )

        # -- follow split and position split
        types = [link_type(r, f) for r, f in zip(inbound.rel, inbound.follow, strict=True)]
        type_counts = pd.Series(types).value_counts()
        type_labels = [t for t in REL_TYPES if t in type_counts.index]
        positions = inbound.position.fillna("none (redirect)").value_counts()
        parts.append("<h2>Follow / nofollow / ugc / sponsored, and link position</h2>")
        parts.append(
            '<div class="row"><div class="chart">'
            + _bar_chart(
                type_labels,
                [int(type_counts[t]) for t in type_labels],
                "link type (rel)",
                "backlinks",
            )
            + '</div><div class="chart">'
            + _bar_chart(
                [_short(p, 18) for p in positions.index],
                positions.astype(int).tolist(),
                "position on the linking page",
                "backlinks",
            )
            + "</div></div>"
        )

        # -- top backlinks
        parts.append("<h2>Top backlinks by value</h2>")
        parts.append(
            _note(
                "Value: the PageRank the link passes, d · PR(source) · w(link) / W(source) "
                "(docs/authority.md)."
            )
        )
        best = inbound.sort_values(["value", "source_authority"], ascending=False).head(50)
        parts.append(
            _table(
                best.assign(
                    type=[link_type(r, f) for r, f in zip(best.rel, best.follow, strict=True)]
                ),
                {
                    "source": "linking page",
                    "anchor": "anchor",
                    "target": "target page",
                    "type": "type",
                    "position": "position",
                    "source_domain_authority": "source domain authority",
                    "source_authority": "source page authority",
                    "value": "value",
                },
                numeric=("source_domain_authority", "source_authority", "value"),
            )
        )

    # -- new and lost
    parts.append("<h2>New and lost backlinks since the previous crawl</h2>")
    try:
        from linkcrawl.reports.monitor import diff

        changes = diff(ds, new_id=crawl_id, target=domain)
    except LinkcrawlError as exc:
        parts.append(_note(str(exc)))
        _skipped(warn, "new and lost links", exc)
    else:
        new, lost = (changes.change == "new").sum(), (changes.change == "lost").sum()
        parts.append(
            f"<p>Crawl {_e(changes.attrs.get('old_id'))} → {_e(crawl_id)}: "
            f'<span class="new">{new} new</span>, <span class="lost">{lost} lost</span>.</p>'
        )
        if not changes.empty:
            parts.append(
                _table(
                    changes.head(200),
                    {
                        "change": "change",
                        "source": "linking page",
                        "target": "target page",
                        "anchor": "anchor",
                        "reason": "reason",
                    },
                )
            )

    # -- broken
    parts.append("<h2>Broken links</h2>")
    try:
        broken_links = broken(ds, crawl_id, target=domain)
    except LinkcrawlError as exc:
        parts.append(_note(f"Broken links could not be listed: {exc}"))
        _skipped(warn, "broken links", exc)
    else:
        if broken_links.empty:
            parts.append(_note(f"No link to a broken page of {domain} in crawl {crawl_id}."))
        else:
            parts.append(
                _table(
                    broken_links.head(200).assign(
                        answer=[
                            str(int(s)) if pd.notna(s) else str(e)
                            for s, e in zip(broken_links.status, broken_links.error, strict=True)
                        ][:200]
                    ),
                    {
                        "target": "broken page",
                        "answer": "status or error",
                        "source": "linking page",
                        "anchor": "anchor",
                        "referring_domains": "referring domains",
                    },
                    numeric=("referring_domains",),
                )
            )

    # -- flagged links
    parts.append("<h2>Flagged backlinks</h2>")
    if not audited:
        parts.append(_note(f"Crawl {crawl_id} has not been audited: run `linkcrawl audit` first."))
    elif not inbound.empty:
        flagged = inbound[inbound["flags"].map(len) > 0]
        if flagged.empty:
            parts.append(_note("No backlink carries a flag."))
        else:
            flagged = flagged.assign(n_flags=flagged["flags"].map(len)).sort_values(
                ["n_flags", "source_domain", "source"], ascending=[False, True, True]
            )
            parts.append(
                f"<p>{len(flagged):,} of {len(inbound):,} backlinks from "
                f"{flagged.source_domain.nunique():,} domains carry at least one flag "
                "(docs/audit.md).</p>"
            )
            parts.append(
                _table(
                    flagged.head(300),
                    {
                        "source_domain": "source domain",
                        "source": "linking page",
                        "anchor": "anchor",
                        "flags": "flags",
                        "flag_reasons": "reasons",
                    },
                )
            )

    parts.extend(_site_section(ds, target, crawl_id, warn, site_audit))

    title = f"Backlink report: {domain}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        # No script, no network: whatever slipped through could neither run nor call home.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style></head>\n<body><main>\n"
        f"<h1>{_e(title)}</h1>\n"
        f'<p class="sub">linkcrawl, crawl {_e(crawl_id)} · {len(inbound):,} backlinks from '
        f"{inbound.source_domain.nunique():,} referring domains</p>\n"
        + "\n".join(parts)
        + "\n</main></body></html>\n"
    )


def report(
    data_dir: Path | str = "data",
    target: str = "",
    out: Path | str | None = None,
    crawl_id: str | None = None,
    *,
    warn: Callable[[str], None] | None = None,
    csv_dir: Path | str | None = None,
) -> str:
    """Write the HTML report of a domain's backlinks; returns the HTML.

    One self-contained file (inline CSS and SVG charts, no script, no network) with the
    authority summary, referring domains and backlinks over the finished crawls, the
    anchor text distribution, the follow / nofollow / ugc / sponsored and position splits,
    the top backlinks by value, new and lost links since the previous crawl, broken links,
    and the flagged links with their reasons (after ``linkcrawl audit``). Every anchor and
    URL is HTML-escaped.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    target
        A registered domain, or a host or URL whose registered domain is meant.
    out
        Where to write the file (None: only return the HTML).
    crawl_id
        The crawl; default the newest finished one. It must have been analysed.
    warn
        Called with one line for each section left out (its data could not be read);
        default: a logged warning.
    csv_dir
        A folder to write the site audit's full lists to, as CSV: one file per issue and
        ``pages.csv`` (None: only the rows the report embeds).

    Examples
    --------
    >>> report("data", "example.com", "report.html", csv_dir="report-csv")  # doctest: +SKIP
    """
    audit = _audit_of_site(data_dir, target, crawl_id, warn)
    text = render_report(data_dir, target, crawl_id, warn=warn, site_audit=audit or False)
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    if csv_dir is not None and audit is not None:
        _write_site_csvs(audit, Path(csv_dir))
    return text


def _audit_of_site(
    data_dir: Path | str, target: str, crawl_id: str | None, warn: Callable[[str], None] | None
) -> Any:
    from linkcrawl.reports.site_audit import site

    try:
        return site(data_dir, target, crawl_id)
    except LinkcrawlError as exc:
        _skipped(warn, "site audit", exc)
        return None


def _write_site_csvs(audit: Any, folder: Path) -> None:
    from linkcrawl.reports.output import Output
    from linkcrawl.reports.site_audit import ISSUES

    folder.mkdir(parents=True, exist_ok=True)
    csv = Output(fmt="csv").csv
    (folder / "pages.csv").write_text(csv(audit.pages), encoding="utf-8")
    for name in ISSUES:
        (folder / f"{name}.csv").write_text(csv(audit.issue(name)), encoding="utf-8")


def _bars(labels: list[str], values: list[int], heading: str) -> str:
    """A bar chart as an HTML table (label, bar, count): no SVG, nothing to load."""
    top = max(values, default=0) or 1
    rows = "".join(
        f'<tr><td>{_e(label)}</td><td class="bar"><div style="width:{100 * v / top:.1f}%">'
        f'</div></td><td class="num">{v:,}</td></tr>'
        for label, v in zip(labels, values, strict=True)
    )
    return (
        f"<table><thead><tr><th>{_e(heading)}</th><th></th><th>URLs</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _site_section(
    ds: Any, target: str, crawl_id: str, warn: Callable[[str], None] | None, audit: Any
) -> list[str]:
    """The site audit of the target's own domain (docs/site-audit.md): depth histogram,
    link score distribution, and each issue's count with its top rows; the full lists as
    CSV (embedded when short, and written to ``csv_dir`` by :func:`report`)."""
    from linkcrawl.reports.output import Output
    from linkcrawl.reports.site_audit import ISSUES

    parts = ["<h2>Site audit</h2>"]
    if audit is None:
        audit = _audit_of_site(ds, target, crawl_id, warn)
    if not audit:
        parts.append(_note("The crawl has no page of this domain to audit."))
        return parts
    s = audit.summary
    pages = audit.pages_polars
    parts.append(
        '<div class="cards">'
        + _card(f"{s['pages']:,}", "URLs of the site")
        + _card(f"{s['indexable']:,}", "indexable")
        + _card(f"{s['in_sitemap']:,}", "in a sitemap")
        + _card("–" if s["max_depth"] is None else str(s["max_depth"]), "deepest click depth")
        + "</div>"
    )
    depth = pages["depth"]
    deepest = int(depth.max()) if depth.drop_nulls().len() else -1
    labels = [str(d) for d in range(deepest + 1)] + ["not reached"]
    values = [int((depth == d).sum()) for d in range(deepest + 1)] + [int(depth.null_count())]
    scores = pages["link_score"]
    bins = [f"{10 * b}–{10 * b + 10}" for b in range(10)] + ["no score"]
    counts = [int(((scores >= 10 * b) & (scores < 10 * b + 10)).sum()) for b in range(9)]
    counts.append(int((scores >= 90).sum()))
    counts.append(int(scores.null_count()))
    parts.append(
        '<div class="row"><div class="chart">'
        + _bars(labels, values, "click depth from the seeds")
        + '</div><div class="chart">'
        + _bars(bins, counts, "link score (internal PageRank, 0–100)")
        + "</div></div>"
    )
    counts_frame = audit.counts()
    parts.append(
        _table(counts_frame, {"issue": "issue", "rows": "rows", "description": "what it lists"},
               numeric=("rows",))
    )  # fmt: skip
    parts.append(
        _note(
            "Full lists: `linkcrawl site DOMAIN --issue NAME --format csv`; "
            "`linkcrawl report --out FILE` also writes them to FILE's -site/ folder."
        )
    )
    csv = Output(fmt="csv").csv
    for name in ISSUES:
        rows = audit.issue(name)
        if rows.empty:
            continue
        parts.append(f"<h3>{_e(name)} ({len(rows):,})</h3>")
        top = rows.head(_SITE_TOP).astype(object).where(rows.head(_SITE_TOP).notna(), None)
        numeric = [c for c in top.columns if c.endswith(("score", "status", "hops", "depth"))]
        parts.append(_table(top, {c: c for c in top.columns}, numeric=numeric))
        if len(rows) <= _SITE_CSV_ROWS:
            parts.append(
                f'<details id="site-{_e(name)}"><summary>all {len(rows):,} rows as CSV'
                f"</summary><pre>{_e(csv(rows))}</pre></details>"
            )
    return parts
