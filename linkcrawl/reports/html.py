"""`linkcrawl report`: one self-contained HTML file on a domain's backlink profile, with
inline SVG charts, readable offline and safe to open whatever the crawled pages said."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import io
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.dataset.reader import open_dataset
from linkcrawl.errors import DatasetError, LinkcrawlError, first_line
from linkcrawl.reports.monitor import broken
from linkcrawl.reports.target import parse_target

__all__ = ["REL_TYPES", "SCRIPT", "human_number", "link_type", "plural", "render_report", "report"]

# How each backlink is counted in the follow / nofollow split, most specific first.
log = logging.getLogger(__name__)

REL_TYPES = ("follow", "nofollow", "ugc", "sponsored", "page nofollow")
_ANCHOR_LABEL = 40  # characters of an anchor shown on a chart axis
_MAX_TICKS = 8  # date labels on a time axis; more would collide at 1280 px
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
.chart { text-align: center; }
.chart svg { max-width: 100%; height: auto; }
.chart table { text-align: left; }
.row { display: flex; flex-wrap: wrap; gap: 12px; }
.row > .chart { flex: 1 1 420px; }
.halves { display: flex; flex-wrap: wrap; gap: 16px; } .halves > div { flex: 1 1 420px; }
.note { color: #5b6776; font-style: italic; }
.flag { display: inline-block; background: #fde8e8; color: #9b1c1c; border-radius: 4px;
  padding: 0 5px; margin: 0 3px 2px 0; font-size: 12px; white-space: nowrap; }
.new { color: #146c2e; } .lost { color: #9b1c1c; }
td.bar { width: 60%; } td.bar div { background: #3b6fb6; height: 12px; }
table.sortable th { cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 10px; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 10px; }
input.filter { font: inherit; font-size: 13px; padding: 3px 6px; margin: 6px 0 0;
  border: 1px solid #b8c2cf; border-radius: 4px; width: 18em; }
p.cut { color: #5b6776; font-size: 13px; margin: 4px 0; }
.up { color: #146c2e; } .down { color: #9b1c1c; }
details pre { background: #fff; border: 1px solid #d5dbe3; padding: 6px; overflow-x: auto;
  font-size: 12px; max-height: 400px; }
"""
# The page's one script: sorts a table.sortable by the header clicked (or Enter on it) and
# filters its rows by the text typed above it. It reads text and moves rows, never writes
# HTML, so an anchor stays text; the CSP allows this script by its hash and nothing else.
SCRIPT = """
(function () {
  "use strict";
  function num(cell) {
    var v = parseFloat(cell.getAttribute("data-v"));
    return isNaN(v) ? -Infinity : v;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var body = table.tBodies[0];
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var filter = document.createElement("input");
    filter.type = "search";
    filter.className = "filter";
    filter.placeholder = "Filter rows";
    filter.setAttribute("aria-label", "Filter the rows of the table below");
    table.parentNode.insertBefore(filter, table);
    filter.addEventListener("input", function () {
      var query = filter.value.toLowerCase();
      Array.prototype.forEach.call(body.rows, function (row) {
        row.hidden = query !== "" && row.textContent.toLowerCase().indexOf(query) < 0;
      });
    });
    heads.forEach(function (th, col) {
      th.tabIndex = 0;
      th.title = "Sort by this column";
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = rows.every(function (r) { return r.cells[col].hasAttribute("data-v"); });
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col], d;
          if (numeric) {
            x = num(x); y = num(y);
            d = x < y ? -1 : x > y ? 1 : 0;
          } else {
            d = x.textContent.localeCompare(y.textContent);
          }
          return ascending ? d : -d;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sort();
        }
      });
    });
  });
})();
"""
# Rows of a table shown in the page; the full table goes to --csv-dir.
_TOP_ROWS = 50
_LONG_ROWS = 200
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


def _per_distinct(values: pd.Series, f: Callable[[Any], Any]) -> pd.Series:
    """``values.map(f)``, with ``f`` called once per distinct value: a profile's anchors
    repeat."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = pd.Series(uniques).map(f)
    return pd.Series(mapped.array.take(codes), index=values.index, name=values.name)


def _link_types(rel: pd.Series, follow: pd.Series) -> np.ndarray:
    """:func:`link_type` of each row, computed once per distinct (rel, follow): a profile
    of a million backlinks spells rel a few ways."""
    rel_codes, rels = pd.factorize(rel, use_na_sentinel=False)
    pairs, codes = np.unique(rel_codes * 2 + np.asarray(follow, dtype=bool), return_inverse=True)
    types = np.array([link_type(rels[p // 2], bool(p % 2)) for p in pairs], dtype=object)
    return types[codes.reshape(-1)]


def _svg(draw: Callable[[Any], None], size: tuple[float, float]) -> str:
    """A matplotlib figure drawn by ``draw(fig)`` as an inline ``<svg>`` element.

    Text stays text (``svg.fonttype`` none: small, selectable, escaped by matplotlib's
    XML writer); mathtext is off, so that an anchor with ``$`` signs is drawn as written;
    no date and a fixed hash salt keep the output the same from run to run.
    """
    # A Figure of its own, saved by the SVG backend savefig picks for format="svg": no
    # pyplot, so the caller's backend and figures are left as they were.
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, ScalarFormatter

    rc: Any = {
        "svg.fonttype": "none",
        "svg.hashsalt": "linkcrawl",
        "text.parse_math": False,
        "font.size": 10,
        "font.family": "DejaVu Sans",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.formatter.limits": (-30, 30),  # no 1e6 on an axis
        "axes.formatter.useoffset": False,
    }
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=size)
        draw(fig)
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                if type(axis.get_major_formatter()) is ScalarFormatter:
                    axis.set_major_formatter(FuncFormatter(_tick))
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _tick(value: float, _pos: Any = None) -> str:
    return human_number(int(value) if float(value).is_integer() else value)


def _date_labels(started: Iterable[Any], ids: Iterable[str]) -> list[str]:
    """Each crawl's label on a time axis: its start date, with the time (UTC) when two
    crawls started the same day, and the crawl id when the start is unknown."""
    at = pd.to_datetime(pd.Series(list(started), dtype=object), utc=True)
    ids = [str(i) for i in ids]
    days = [
        ts.strftime("%Y-%m-%d") if not pd.isna(ts) else i for ts, i in zip(at, ids, strict=True)
    ]
    for form in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d ({id})"):
        if len(set(days)) == len(days):
            break
        days = [
            ts.strftime(form.replace("{id}", i.replace("%", "%%"))) if not pd.isna(ts) else i
            for ts, i in zip(at, ids, strict=True)
        ]
    return days


def _time_axis(ax: Any, labels: list[str]) -> None:
    """Dates on ``ax``'s x axis, at most _MAX_TICKS of them, slanted when they would touch."""
    step = max(1, math.ceil(len(labels) / _MAX_TICKS))
    x = list(range(0, len(labels), step))
    slant = len(x) > 3 or any(len(label) > 10 for label in labels)
    ax.set_xticks(x, [labels[i] for i in x], rotation=30 if slant else 0,
                  ha="right" if slant else "center")  # fmt: skip
    ax.set_xlim(-0.5, len(labels) - 0.5)


def _short(text: str, limit: int = _ANCHOR_LABEL) -> str:
    text = " ".join(str(text).split()) or "(no anchor text)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _relevance_section(
    ds: Any, crawl_id: str, domain: str, tables: dict[str, pd.DataFrame]
) -> list[str]:
    """The relevance distribution: referring domains by their relevance to the site
    (relevance.parquet's domain_relevance, docs/authority.md), in tenths, and the share of
    backlinks from relevant pages."""
    parts = ["<h2>Relevance distribution</h2>"]
    try:
        ds.authority_path("relevance", crawl_id)
    except DatasetError:
        parts.append(_note("No relevance scores: the crawl kept no page text, or the analysis "
                           "did not score it (docs/authority.md)."))  # fmt: skip
        return parts
    scored = (
        ds.authority_arrow("relevance", crawl_id)
        .to_table(
            columns=["source_domain", "relevance", "domain_relevance"],
            filter=pc.field("target_domain") == domain,
        )
        .to_pandas()
    )
    per_domain = scored.groupby("source_domain", sort=False)["domain_relevance"].first()
    known = per_domain.dropna()
    if known.empty:
        parts.append(_note(f"No referring domain of {domain} has text to compare."))
        return parts
    bins = [f"{b / 10:.1f}–{(b + 1) / 10:.1f}" for b in range(10)]
    tenth = (known * 10).clip(upper=9.999).astype(int)
    counts = [int((tenth == b).sum()) for b in range(10)]
    tables["relevance_histogram"] = pd.DataFrame({"relevance": bins, "referring_domains": counts})
    pages = scored.relevance.dropna()
    relevant = float((pages >= 0.5).mean()) if len(pages) else 0.0
    parts.append(
        f"<p>{_e(plural(len(known), 'referring domain'))} scored: median relevance "
        f"{_e(human_number(float(known.median())))}; "
        f"{_e(f'{100 * relevant:.0f}')}% of the {_e(plural(len(pages), 'linked page pair'))} "
        "score 0.5 or more. Relevance is the TF-IDF cosine of the linking pages' text with "
        "the site's, 0 (nothing in common) to 1.</p>"
    )
    parts.append(
        '<div class="chart">'
        + _bar_chart(bins, counts, "relevance to the site (0–1)", "referring domains", (10, 3))
        + "</div>"
    )
    unknown = len(per_domain) - len(known)
    if unknown:
        parts.append(_note(f"{plural(unknown, 'referring domain')} without text to compare."))
    return parts


def _bar_chart(
    labels: list[str],
    values: Sequence[float],
    xlabel: str,
    ylabel: str,
    size: tuple[float, float] = (5.2, 3.2),
) -> str:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ax.bar(range(len(values)), values, color="#3b6fb6")
        # Slanted when the labels side by side would be wider than their share of the axis
        # (about 6.5 px a character at 10 pt, 72 px an inch).
        room = size[0] * 72 * 0.8 / max(len(labels), 1)
        slant = max((len(label) for label in labels), default=0) * 6.5 > room
        ax.set_xticks(range(len(values)), labels, rotation=30 if slant else 0,
                      ha="right" if slant else "center")  # fmt: skip
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        for i, v in enumerate(values):
            if v == 0:
                continue  # an empty bin says nothing a bar of height 0 does not
            ax.annotate(human_number(v), (i, v), ha="center", va="bottom", fontsize=9)
        ax.margins(y=0.15)
        ax.yaxis.get_major_locator().set_params(integer=True)

    return _svg(draw, size)


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
    labels = _date_labels(per_crawl.started_at, per_crawl.crawl_id)

    def draw(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        x = list(range(len(labels)))
        # Thick under dashed: when every referring domain is followed the lines coincide.
        left.plot(x, per_crawl.referring_domains, marker="o", markersize=8, linewidth=3,
                  label="all")  # fmt: skip
        left.plot(x, per_crawl.followed_referring_domains, marker="s", linestyle="--",
                  label="followed")  # fmt: skip
        left.set_title("Referring domains")
        left.set_ylabel("referring domains")
        left.legend(frameon=False, loc="lower left")
        right.plot(x, per_crawl.links, marker="o", color="#b65f3b")
        right.set_title("Backlinks")
        right.set_ylabel("links")
        for ax in (left, right):
            _time_axis(ax, labels)
            ax.set_xlabel("crawl date (UTC)")
            ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1] * 1.1, 1))
            ax.yaxis.get_major_locator().set_params(integer=True)

    return _svg(draw, (10, 3.4))


def _velocity_chart(per_step: pd.DataFrame) -> str:
    """Referring domains gained (up) and lost (down) at each crawl after the first, by
    date (labelled as on the history chart)."""
    labels = _date_labels(per_step.started_at, per_step.crawl_id)[1:]
    changes = per_step.iloc[1:]
    width = 0.8 if len(labels) > 4 else 0.35

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        x = list(range(len(labels)))
        gained = changes.new.fillna(0).astype(int).tolist()
        lost = changes.lost.fillna(0).astype(int).tolist()
        ax.bar(x, gained, width, color="#2e8b57", label="gained")
        ax.bar(x, [-v for v in lost], width, color="#c0392b", label="lost")
        ax.axhline(0, color="#5b6776", linewidth=0.8)
        _time_axis(ax, labels)
        ax.set_xlabel("crawl date (UTC)")
        ax.set_ylabel("referring domains")
        ax.yaxis.get_major_locator().set_params(integer=True)
        top = max(gained + lost + [1])
        ax.set_ylim(-top * 1.2, top * 1.2)
        from matplotlib.ticker import FuncFormatter

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _tick(abs(v))))
        ax.legend(frameon=False, loc="upper left")

    return _svg(draw, (10, 3))


def _table(
    frame: pd.DataFrame,
    columns: dict[str, str],
    numeric: Iterable[str] = (),
    *,
    sortable: bool = True,
    percent: Iterable[str] = ("share",),
) -> str:
    """An HTML table of ``frame``'s ``columns`` (name -> heading), every cell escaped;
    numeric cells carry their exact value (``data-v``) for the page's sorting."""
    numeric = set(numeric)
    percent = set(percent) & numeric
    head = "".join(f"<th>{_e(h)}</th>" for h in columns.values())
    body = []
    for row in frame[list(columns)].itertuples(index=False):
        cells = []
        for name, value in zip(columns, row, strict=True):
            if name in percent:
                shown = "" if human_number(value) == "" else f"{value:.0%}"
                cells.append(f'<td class="num" data-v="{_sort_key(value)}">{shown}</td>')
            elif name in numeric:
                cells.append(f'<td class="num" data-v="{_sort_key(value)}">{_number(value)}</td>')
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
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cut_table(
    tables: dict[str, pd.DataFrame],
    name: str,
    frame: pd.DataFrame,
    columns: dict[str, str],
    what: tuple[str, str],
    *,
    numeric: Iterable[str] = (),
    limit: int = _TOP_ROWS,
) -> str:
    """The first ``limit`` rows of ``frame`` as a table, saying how many of how many it
    shows when it cuts; the whole ``frame`` is kept in ``tables`` as ``name``.csv."""
    tables[name] = frame
    shown = _table(frame.head(limit), columns, numeric)
    if len(frame) <= limit:
        return shown
    one, many = what
    return (
        f'<p class="cut">Showing the first {human_number(limit)} of '
        f"{_e(plural(len(frame), one, many))}; the whole table: "
        f"<code>--csv-dir DIR</code> writes {_e(name)}.csv.</p>" + shown
    )


def human_number(value: Any, digits: int = 3) -> str:
    """A number as a person reads it: thousands separated, never in scientific notation.

    >>> human_number(1234567), human_number(12.345), human_number(0.0000123456)
    ('1,234,567', '12.3', '0.0000123')
    >>> human_number(float("nan")), human_number(0.0)
    ('', '0')
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v == 0:
            return "0"
        if abs(v) >= 1:
            return f"{v:,.1f}"
        return np.format_float_positional(
            v, precision=digits, unique=False, fractional=False, trim="-"
        )
    return str(value)


def plural(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the noun that agrees with it: the report's one way to count things.

    >>> plural(1, "domain"), plural(2, "domain"), plural(1234, "reply", "replies")
    ('1 domain', '2 domains', '1,234 replies')
    """
    word = one if n == 1 else (many if many is not None else one + "s")
    return f"{human_number(int(n))} {word}"


def _signed(value: float, digits: int = 1) -> str:
    """A change with its sign: ``+3``, ``−1.5``, ``±0``."""
    if value == 0:
        return "±0"
    text = f"{abs(value):,.{digits}f}" if isinstance(value, float) else f"{abs(value):,}"
    return ("+" if value > 0 else "−") + text


def _number(value: Any) -> str:
    return _e(human_number(value))


def _sort_key(value: Any) -> str:
    """A numeric cell's exact value for the page's sorting (data-v)."""
    if human_number(value) == "":
        return ""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return ""


def _card(value: str, label: str, cls: str = "") -> str:
    b = f'<b class="{cls}">' if cls else "<b>"
    return f'<div class="card">{b}{value}</b><span>{_e(label)}</span></div>'


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
    title: str | None = None,
    date: dt.date | None = None,
) -> str:
    """The report of ``target``'s backlinks in one crawl, as an HTML document (a string).

    See :func:`report`.
    """
    return _render(data_dir, target, crawl_id, warn, site_audit, title, date)[0]


def _render(
    data_dir: Path | str,
    target: str,
    crawl_id: str | None,
    warn: Callable[[str], None] | None,
    site_audit: Any,
    title: str | None,
    date: dt.date | None,
) -> tuple[str, dict[str, pd.DataFrame]]:
    """The HTML, and every table of it in full by CSV file name (without ``.csv``)."""
    from linkcrawl.reports.monitor import BacklinkScan

    domain = parse_target(target).domain
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    # The changes, the history and the new and lost links read one scan of the edges.
    with BacklinkScan(ds, domain, crawl_id) as scan:
        return _render_sections(ds, domain, crawl_id, scan, target, warn, site_audit, title, date)


def _render_sections(
    ds: Any,
    domain: str,
    crawl_id: str,
    scan: Any,
    target: str,
    warn: Callable[[str], None] | None,
    site_audit: Any,
    title: str | None,
    date: dt.date | None,
) -> tuple[str, dict[str, pd.DataFrame]]:
    domains = ds.authority("domains", crawl_id)
    inbound_table = ds.authority_arrow("inbound", crawl_id)
    try:
        inbound = inbound_table.to_table(filter=pc.field("target_domain") == domain).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        where = ds.authority_path("inbound", crawl_id)
        raise DatasetError(f"{where}: {first_line(exc)}") from None
    audited = "flags" in inbound.columns
    tables: dict[str, pd.DataFrame] = {}
    parts: list[str] = []
    row = domains[domains.domain == domain]
    authority_now = None if row.empty else float(row.iloc[0].authority)
    started_at: Any = ds.manifest(crawl_id).fields.get("started_at")
    started = pd.to_datetime(started_at, utc=True)

    # -- what changed since the previous crawl
    parts.append("<h2>Since the previous crawl</h2>")
    changes = None
    try:
        per_step = scan.velocity()
    except LinkcrawlError as exc:
        per_step = None
        parts.append(_note(f"No comparison: {exc}"))
        _skipped(warn, "changes", exc)
    if per_step is not None:
        at = per_step.index[per_step.crawl_id == crawl_id]
        if len(at) == 0 or at[0] == per_step.index[0]:
            parts.append(_note("No earlier finished crawl to compare with: crawl again."))
        else:
            now, before = per_step.loc[at[0]], per_step.loc[at[0] - 1]
            changes = (now, before)
            when = _date_labels([before.started_at], [before.crawl_id])[0]
            cards = [
                _card(human_number(int(now.referring_domains)), "referring domains now"),
                _card(f"+{human_number(int(now.new))}", "gained", "up" if now.new else ""),
                _card(f"−{human_number(int(now.lost))}", "lost", "down" if now.lost else ""),
                _card(_signed(int(now.net)), "net change"),
            ]
            sentence = (
                f"Since the crawl of {when} ({before.crawl_id}): "
                f"{plural(int(now.new), 'referring domain')} gained, {int(now.lost):,} lost"
            )
            try:
                old = ds.authority("domains", str(before.crawl_id))
                old_row = old[old.domain == domain]
            except LinkcrawlError:
                old_row = None
            if authority_now is not None and old_row is not None and not old_row.empty:
                was = float(old_row.iloc[0].authority)
                cards.append(_card(_signed(authority_now - was), "domain authority change"))
                sentence += (
                    f"; domain authority {human_number(was)} → {human_number(authority_now)}"
                )
            else:
                sentence += "; the earlier crawl has no authority to compare (not analysed)"
            parts.append(f'<div class="cards">{"".join(cards)}</div>')
            parts.append(f"<p>{_e(sentence)}.</p>")

    # -- authority summary
    parts.append("<h2>Authority</h2>")
    if row.empty:
        parts.append(_note(f"{domain} is not in crawl {crawl_id}."))
    else:
        r = row.iloc[0]
        cards = [
            _card(human_number(float(r.authority)), "domain authority (0-100)"),
            _card(f"{int(r['rank']):,} / {len(domains):,}", "rank among crawled domains"),
            _card(human_number(int(r.referring_domains)), "referring domains"),
            _card(human_number(int(r.inbound_links)), "backlinks"),
            _card(
                "–" if pd.isna(r.follow_share) else f"{r.follow_share:.0%}",
                "followed backlinks",
            ),
            _card(_e(human_number(float(r.pagerank))), "domain PageRank"),
        ]
        if "trust" in row.columns:
            cards.append(
                _card("–" if pd.isna(r.trust) else _e(human_number(float(r.trust))), "TrustRank")
            )
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
        per_crawl = scan.history(links=False).referring_domains
    except LinkcrawlError as exc:
        per_crawl = None
        parts.append(_note(f"No history: {exc}"))
        _skipped(warn, "history", exc)
    if per_crawl is not None and not per_crawl.empty:
        parts.append(f'<div class="chart">{_history_chart(per_crawl)}</div>')
        if per_step is not None and len(per_step) > 1:
            parts.append("<h3>Referring domains gained and lost at each crawl</h3>")
            parts.append(f'<div class="chart">{_velocity_chart(per_step)}</div>')
        over_time = per_crawl.assign(date=_date_labels(per_crawl.started_at, per_crawl.crawl_id))
        if per_step is not None:
            over_time = over_time.merge(
                per_step[["crawl_id", "new", "lost"]], on="crawl_id", how="left"
            )
        else:
            over_time = over_time.assign(new=None, lost=None)
        parts.append(
            _cut_table(
                tables,
                "history",
                over_time,
                {
                    "date": "crawl date (UTC)",
                    "crawl_id": "crawl",
                    "referring_domains": "referring domains",
                    "followed_referring_domains": "followed referring domains",
                    "links": "backlinks",
                    "new": "gained",
                    "lost": "lost",
                },
                ("crawl", "crawls"),
                numeric=("referring_domains", "followed_referring_domains", "links", "new", "lost"),
            )
        )
        if len(per_crawl) == 1:
            parts.append(_note("One finished crawl so far: crawl again to see a trend."))

    # -- referring domains
    parts.append("<h2>Referring domains</h2>")
    if inbound.empty:
        parts.append(_note(f"No backlinks to {domain} in crawl {crawl_id}."))
    else:
        # Each domain's most used anchor (spacing aside), ties to the first in text order:
        # one sort, not a function call per domain (a big profile has 100,000 of them).
        spelled = _per_distinct(inbound.anchor.fillna(""), lambda t: " ".join(str(t).split()))
        top_anchor = (
            pd.DataFrame({"source_domain": inbound.source_domain, "top_anchor": spelled})
            .value_counts()
            .reset_index(name="n")
            .sort_values(["source_domain", "n", "top_anchor"], ascending=[True, False, True])
            .drop_duplicates("source_domain")[["source_domain", "top_anchor"]]
        )
        referring = (
            inbound.assign(followed=inbound.follow.astype(bool))
            .groupby("source_domain", sort=False)
            .agg(
                authority=("source_domain_authority", "max"),
                links=("source", "size"),
                followed_links=("followed", "sum"),
                linking_pages=("source", "nunique"),
                value=("value", "sum"),
            )
            .reset_index()
            .merge(top_anchor, on="source_domain", how="left")
            .sort_values(["authority", "links", "source_domain"], ascending=[False, False, True])
            .reset_index(drop=True)
        )
        referring["followed_links"] = referring.followed_links.astype(int)
        parts.append(
            _cut_table(
                tables,
                "referring_domains",
                referring,
                {
                    "source_domain": "referring domain",
                    "authority": "domain authority",
                    "links": "backlinks",
                    "followed_links": "followed",
                    "linking_pages": "linking pages",
                    "value": "value passed",
                    "top_anchor": "most used anchor",
                },
                ("referring domain", "referring domains"),
                numeric=("authority", "links", "followed_links", "linking_pages", "value"),
            )
        )
        # -- authority histogram
        parts.append("<h2>Authority of the referring domains</h2>")
        bins = [f"{10 * b}–{10 * b + 10}" for b in range(10)]
        scores = referring.authority.dropna()
        counts = [int(((scores >= 10 * b) & (scores < 10 * b + 10)).sum()) for b in range(9)]
        counts.append(int((scores >= 90).sum()))
        tables["authority_histogram"] = pd.DataFrame(
            {"authority": bins, "referring_domains": counts}
        )
        parts.append(
            '<div class="chart">'
            + _bar_chart(bins, counts, "domain authority (0–100)", "referring domains", (10, 3))
            + "</div>"
        )
        unknown = int(referring.authority.isna().sum())
        if unknown:
            parts.append(_note(f"{plural(unknown, 'referring domain')} without an authority."))

    # -- relevance distribution
    parts.extend(_relevance_section(ds, crawl_id, domain, tables))

    # -- new and lost referring domains
    parts.append("<h2>New and lost referring domains</h2>")
    if changes is None:
        parts.append(_note("No earlier finished crawl to compare with."))
    else:
        now, before = changes
        moved = pd.DataFrame(
            {
                "change": ["new"] * len(now.new_domains) + ["lost"] * len(now.lost_domains),
                "domain": list(now.new_domains) + list(now.lost_domains),
            }
        )
        moved = moved.merge(domains[["domain", "authority"]], on="domain", how="left").sort_values(
            ["change", "authority", "domain"], ascending=[False, False, True]
        )
        parts.append(
            f"<p>Crawl {_e(before.crawl_id)} → {_e(crawl_id)}: "
            f'<span class="new">{_e(plural(int(now.new), "new referring domain"))}</span>, '
            f'<span class="lost">{_e(plural(int(now.lost), "lost referring domain"))}</span>.</p>'
        )
        tables["referring_domain_changes"] = moved.reset_index(drop=True)
        # New and lost side by side, each cut on its own: one list cut at N rows would
        # show only new domains whenever more than N were gained.
        halves = []
        for kind in ("new", "lost"):
            of = moved[moved.change == kind].reset_index(drop=True)
            if of.empty:
                continue
            halves.append(
                f"<div><h3>{'New' if kind == 'new' else 'Lost'} referring domains</h3>"
                + _cut_table(
                    {},
                    "referring_domain_changes",
                    of,
                    {"domain": "referring domain", "authority": "authority"},
                    (f"{kind} referring domain", f"{kind} referring domains"),
                    numeric=("authority",),
                )
                + "</div>"
            )
        if halves:
            parts.append(f'<div class="halves">{"".join(halves)}</div>')

    # -- anchors
    parts.append("<h2>Anchor text</h2>")
    if inbound.empty:
        parts.append(_note(f"No backlinks to {domain} in crawl {crawl_id}."))
    else:
        try:
            from linkcrawl.reports.anchors import anchor_classes

            classes = anchor_classes(ds, domain, crawl_id)
        except LinkcrawlError as exc:
            parts.append(_note(f"Anchor classes could not be computed: {exc}"))
            _skipped(warn, "anchor classes", exc)
        else:
            parts.append("<h3>Anchor classes, by referring domains</h3>")
            parts.append(
                _cut_table(
                    tables,
                    "anchor_classes",
                    classes.classes,
                    {
                        "class": "class",
                        "referring_domains": "referring domains",
                        "share": "share of referring domains",
                        "links": "backlinks",
                    },
                    ("class", "classes"),
                    numeric=("referring_domains", "share", "links"),
                )
            )
            if classes.summary.get("over_optimised"):
                flag = _e(classes.summary["over_optimised"])
                parts.append(f'<p><span class="flag">over-optimised</span> {flag}</p>')
            parts.append(
                _note(
                    "Exact and partial matches are measured against the title of the page "
                    "each link points to (docs/audit.md)."
                )
            )
        # Anchors are counted as the audit counts them (case and spacing aside), each shown
        # as its most frequent spelling.
        shown = _per_distinct(inbound.anchor, lambda a: " ".join(str(a).split()))
        spellings = pd.DataFrame(
            {"key": shown.str.lower(), "anchor": shown, "source_domain": inbound.source_domain}
        )
        spelling = (
            spellings[["key", "anchor"]]
            .value_counts()
            .reset_index(name="n")
            .sort_values(["key", "n", "anchor"], ascending=[True, False, True])
            .drop_duplicates("key")[["key", "anchor"]]
        )
        anchors = (
            spellings.groupby("key", sort=False)
            .agg(
                referring_domains=("source_domain", "nunique"),
                links=("source_domain", "size"),
            )
            .reset_index()
            .merge(spelling, on="key", how="left")
            .sort_values(["referring_domains", "links", "key"], ascending=[False, False, True])
        )
        anchors = anchors.assign(
            share=anchors.referring_domains / inbound.source_domain.nunique()
        ).drop(columns="key")
        top = anchors.head(15)
        parts.append("<h3>Most used anchors</h3>")
        parts.append(f'<div class="chart">{_anchor_chart(top)}</div>')
        parts.append(
            _cut_table(
                tables,
                "anchors",
                anchors.reset_index(drop=True),
                {
                    "anchor": "anchor",
                    "referring_domains": "referring domains",
                    "share": "share of referring domains",
                    "links": "links",
                },
                ("anchor", "anchors"),
                numeric=("referring_domains", "share", "links"),
            )
        )

        # -- follow split and position split
        types = _link_types(inbound.rel, inbound.follow)
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
        best = inbound.assign(type=types).sort_values(
            ["value", "source_authority"], ascending=False
        )
        link_columns = {
            "source": "linking page",
            "anchor": "anchor",
            "target": "target page",
            "type": "type",
            "position": "position",
            "source_domain_authority": "source domain authority",
            "source_authority": "source page authority",
            "value": "value",
        }
        parts.append(
            _cut_table(
                tables,
                "backlinks",
                best[[*link_columns, "source_domain", "rel", "follow"]].reset_index(drop=True),
                link_columns,
                ("backlink", "backlinks"),
                numeric=("source_domain_authority", "source_authority", "value"),
            )
        )

    # -- new and lost
    parts.append("<h2>New and lost backlinks since the previous crawl</h2>")
    try:
        link_changes = scan.diff()
    except LinkcrawlError as exc:
        parts.append(_note(str(exc)))
        _skipped(warn, "new and lost links", exc)
    else:
        new, lost = (link_changes.change == "new").sum(), (link_changes.change == "lost").sum()
        parts.append(
            f"<p>Crawl {_e(link_changes.attrs.get('old_id'))} → {_e(crawl_id)}: "
            f'<span class="new">{_e(plural(int(new), "new backlink"))}</span>, '
            f'<span class="lost">{_e(plural(int(lost), "lost backlink"))}</span>.</p>'
        )
        if not link_changes.empty:
            parts.append(
                _cut_table(
                    tables,
                    "backlink_changes",
                    link_changes,
                    {
                        "change": "change",
                        "source": "linking page",
                        "target": "target page",
                        "anchor": "anchor",
                        "reason": "reason",
                    },
                    ("backlink", "backlinks"),
                    limit=_LONG_ROWS,
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
                _cut_table(
                    tables,
                    "broken_links",
                    broken_links.assign(
                        answer=[
                            str(int(s)) if pd.notna(s) else str(e)
                            for s, e in zip(broken_links.status, broken_links.error, strict=True)
                        ]
                    ),
                    {
                        "target": "broken page",
                        "answer": "status or error",
                        "source": "linking page",
                        "anchor": "anchor",
                        "referring_domains": "referring domains",
                    },
                    ("broken link", "broken links"),
                    numeric=("referring_domains",),
                    limit=_LONG_ROWS,
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
                f"<p>{len(flagged):,} of {_e(plural(len(inbound), 'backlink'))} from "
                f"{_e(plural(flagged.source_domain.nunique(), 'domain'))} carry at least one "
                "flag (docs/audit.md).</p>"
            )
            flag_columns = {
                "source_domain": "source domain",
                "source": "linking page",
                "anchor": "anchor",
                "flags": "flags",
                "flag_reasons": "reasons",
            }
            parts.append(
                _cut_table(
                    tables,
                    "flagged_backlinks",
                    flagged[[*flag_columns, "target"]].reset_index(drop=True),
                    flag_columns,
                    ("flagged backlink", "flagged backlinks"),
                    limit=_LONG_ROWS + 100,
                )
            )

    parts.extend(_site_section(ds, target, crawl_id, warn, site_audit))

    heading = title or f"Backlink report: {domain}"
    today = date or dt.datetime.now(dt.UTC).date()
    crawl_date = "" if pd.isna(started) else started.strftime(", started %Y-%m-%d %H:%M UTC")
    sub = (
        f"Report of {today.isoformat()} · from crawl {crawl_id}{crawl_date} · "
        f"{plural(len(inbound), 'backlink')} from "
        f"{plural(inbound.source_domain.nunique(), 'referring domain')} to {domain}"
    )
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        # One script, allowed by its hash; no network: whatever slipped through could
        # neither run nor call home.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        f"style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(heading)}</title>\n<style>{_CSS}</style></head>\n<body><main>\n"
        f"<h1>{_e(heading)}</h1>\n"
        f'<p class="sub">{_e(sub)}</p>\n'
        + "\n".join(parts)
        + f"\n</main><script>{SCRIPT}</script></body></html>\n"
    )
    return document, tables


def report(
    data_dir: Path | str = "data",
    target: str = "",
    out: Path | str | None = None,
    crawl_id: str | None = None,
    *,
    warn: Callable[[str], None] | None = None,
    csv_dir: Path | str | None = None,
    title: str | None = None,
    date: dt.date | None = None,
) -> str:
    """Write the HTML report of a domain's backlinks; returns the HTML.

    One self-contained file (inline CSS and SVG charts, one inline script allowed by its
    hash, no network) with: what changed since the previous crawl (referring domains
    gained and lost, authority change), the authority summary, referring domains and
    backlinks over the finished crawls by date, the referring domains and the authority
    histogram of them, the relevance distribution of the referring domains, new and lost
    referring domains, the anchor classes and anchors,
    the follow / nofollow / ugc / sponsored and position splits, the top backlinks by
    value, new and lost links, broken links, the flagged links with their reasons (after
    ``linkcrawl audit``) and the site audit. Tables sort by a click on a header and filter
    by the text typed above them; a cut table says how many of how many rows it shows.
    Every anchor and URL is HTML-escaped.

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
        A folder to write every table of the report to in full, as CSV (``backlinks.csv``,
        ``referring_domains.csv``, ...), and the site audit's lists: one file per issue
        and ``pages.csv`` (None: only the rows the report shows).
    title
        The report's heading (default ``Backlink report: DOMAIN``).
    date
        The report's date (default today, UTC).

    Examples
    --------
    >>> report("data", "example.com", "report.html", csv_dir="report-csv")  # doctest: +SKIP
    """
    audit = _audit_of_site(data_dir, target, crawl_id, warn)
    text, tables = _render(data_dir, target, crawl_id, warn, audit or False, title, date)
    if csv_dir is not None:
        # Before the HTML is written: a folder that cannot be made leaves the old report.
        folder = Path(csv_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LinkcrawlError(f"--csv-dir {folder}: {exc.strerror or exc}") from None
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    if csv_dir is not None:
        from linkcrawl.reports.output import Output

        csv = Output(fmt="csv").csv
        for name, frame in tables.items():
            (folder / f"{name}.csv").write_text(csv(frame), encoding="utf-8")
        if audit is not None:
            _write_site_csvs(audit, folder)
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


def _bars(labels: list[str], values: list[int], heading: str, counted: str = "URLs") -> str:
    """A bar chart as an HTML table (label, bar, count): no SVG, nothing to load."""
    top = max(values, default=0) or 1
    rows = "".join(
        f'<tr><td>{_e(label)}</td><td class="bar"><div style="width:{100 * v / top:.1f}%">'
        f'</div></td><td class="num">{v:,}</td></tr>'
        for label, v in zip(labels, values, strict=True)
    )
    return (
        f"<table><thead><tr><th>{_e(heading)}</th><th></th><th>{_e(counted)}</th></tr></thead>"
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
            "`linkcrawl report --csv-dir DIR` also writes them to DIR."
        )
    )
    csv = Output(fmt="csv").csv
    for name in ISSUES:
        # The count and the top rows: a list of a million links is not made a pandas frame.
        total, head = audit.issue_top(name, _SITE_TOP)
        if not total:
            continue
        parts.append(f"<h3>{_e(name)} ({total:,})</h3>")
        if total > _SITE_TOP:
            parts.append(
                f'<p class="cut">Showing the first {_SITE_TOP} of {_e(plural(total, "row"))}'
                f"; the whole list: <code>--csv-dir DIR</code> writes {_e(name)}.csv.</p>"
            )
        top = head.astype(object).where(head.notna(), None)
        numeric = [c for c in top.columns if c.endswith(("score", "status", "hops", "depth"))]
        parts.append(_table(top, {c: c for c in top.columns}, numeric=numeric))
        if total <= _SITE_CSV_ROWS:
            parts.append(
                f'<details id="site-{_e(name)}"><summary>all {total:,} rows as CSV'
                f"</summary><pre>{_e(csv(audit.issue(name)))}</pre></details>"
            )
    return parts
