"""What the read commands print: tables that fit the terminal, exact CSV and JSON exports,
and text from crawled pages made harmless to a terminal."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

import numpy as np
import pandas as pd

from linkcrawl.errors import UnknownColumn

__all__ = [
    "TABLE_LIMIT",
    "Output",
    "UnknownColumn",
    "escape_terminal",
    "neutralise_formula",
    "to_json",
]

# Rows a table shows unless --limit says otherwise; exports have no default limit.
TABLE_LIMIT = 20
# C0/C1 control characters (ESC among them: colours, OSC 8 hyperlinks, window titles) and
# the bidirectional overrides and isolates (which make a URL read as another) in
# attacker-written anchors and URLs would let a page drive the user's terminal; the line and
# paragraph separators would break a line where the reader sees none.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{_UNSAFE}]")
# In a table cell a newline or tab would break the row apart as well.
_CELL_CONTROL = re.compile(f"[\t\n{_UNSAFE}]")
# json.dumps already writes C0 as \u escapes; the rest of the unsafe set is escaped the same
# way after it, which leaves the JSON text decoding to exactly the same values.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MIN_WIDTH = 5  # a column is never cut narrower than this when the table must shrink
_GAP = "  "


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_terminal(value: Any) -> Any:
    """``value`` with control and bidirectional-override characters written as escapes
    (``\\x1b``, ``\\u202e``), for a line on a terminal; other values unchanged."""
    if isinstance(value, str):
        return _CONTROL.sub(_escape_char, value)
    return value


def neutralise_formula(value: Any) -> Any:
    """A string a spreadsheet would run as a formula, with a leading ``'`` (OWASP's advice
    for CSV); other values unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _iso(value: datetime | date) -> str:
    if isinstance(value, pd.Timestamp) and value.tzinfo is not None:
        value = value.tz_convert("UTC")
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _plain(value: Any) -> Any:
    """A cell as a JSON value: numbers, strings, booleans, None, lists; timestamps ISO 8601."""
    if type(value) is str:
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        # JSON has no NaN or infinity: a missing value is null
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return _iso(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def to_json(document: Any) -> str:
    """``document`` as one line of JSON: non-ASCII text as is, and the characters that
    could drive a terminal as ``\\u`` escapes (the same values once decoded)."""
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, default=_json_default)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _json_default(value: Any) -> Any:
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
    return plain


def _column(series: pd.Series) -> list[Any]:
    """A column as plain Python values (see :func:`_plain`), a whole column at a time: an
    export of a million rows goes through here."""
    kind = series.dtype.kind
    if kind in "biu":  # numpy booleans and integers, which cannot be missing
        return series.tolist()
    if kind == "f":
        return [v if math.isfinite(v) else None for v in series.tolist()]
    if kind == "M":
        utc = isinstance(series.dtype, pd.DatetimeTZDtype)
        times = series.dt.tz_convert("UTC") if utc else series
        base = times.dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
        micro = times.dt.microsecond.fillna(0).astype("int64").tolist()
        zone = "Z" if utc else ""
        # as datetime.isoformat writes them: microseconds only when there are some
        return [
            (f"{b}.{m:06d}{zone}" if m else f"{b}{zone}") if known else None
            for b, m, known in zip(base, micro, times.notna().tolist(), strict=True)
        ]
    return [_plain(v) for v in series.astype(object).tolist()]


def _text(value: Any) -> str:
    """A cell as CSV or table text: lists as ``a, b``, timestamps ISO 8601, missing empty."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    return str(value)


def _human(value: Any) -> str:
    """A number as a person reads it: thousands separators, a few significant digits,
    never scientific notation."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    # four significant digits (a share, an authority, a PageRank value), at most 12 decimals
    decimals = min(12, max(0, 3 - math.floor(math.log10(magnitude))))
    return f"{value:.{decimals}f}"


def _width(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide characters take two, combining
    marks none."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _shorten(text: str, width: int) -> str:
    if _width(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        w = _width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + "…"


def _fit(widths: list[int], floors: list[int], room: int) -> list[int]:
    """Column widths that fit ``room`` terminal columns where they can: each column is cut
    from the widest first, none below its floor. May still be too wide."""
    widths = list(widths)
    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - room
    while excess > 0:
        cuttable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not cuttable:
            break
        widest = max(cuttable, key=widths.__getitem__)
        others = [widths[i] for i in cuttable if i != widest]
        floor = max(max(others, default=0), floors[widest])
        cut = min(excess, widths[widest] - floor) or 1
        widths[widest] -= cut
        excess -= cut
    return widths


def _widths(
    names: list[str], columns: list[list[str]], numeric: list[bool], room: int
) -> list[int]:
    """Numbers are never cut, only their long headers; then text, widest column first."""
    data = [max(map(_width, c), default=0) for c in columns]
    natural = [max(_width(n), d) for n, d in zip(names, data, strict=True)]
    header_floors = [
        max(d, min(_width(n), _MIN_WIDTH)) if num else w
        for n, d, w, num in zip(names, data, natural, numeric, strict=True)
    ]
    widths = _fit(natural, header_floors, room)
    text_floors = [
        h if num else min(w, _MIN_WIDTH)
        for h, w, num in zip(header_floors, widths, numeric, strict=True)
    ]
    return _fit(widths, text_floors, room)


def render_table(frame: pd.DataFrame, width: int) -> str:
    """``frame`` as aligned text at most ``width`` columns wide: numbers right-aligned and
    formatted for people, long cells cut with an ellipsis, unsafe characters escaped."""
    names = [escape_terminal(str(c)) for c in frame.columns]
    columns: list[list[str]] = []
    numeric: list[bool] = []
    for name in frame.columns:
        values = [_plain(v) for v in frame[name].tolist()]
        is_number = all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
        )
        numeric.append(is_number and any(v is not None for v in values))
        cells = []
        for v in values:
            if v is None:
                cells.append("")
            elif is_number:
                cells.append(_human(v))
            else:
                cells.append(_CELL_CONTROL.sub(_escape_char, _text(v)))
        columns.append(cells)
    widths = _widths(names, columns, numeric, width)
    # Too narrow even so: the last columns go (the commands put the telling ones first).
    hidden = 0
    while len(widths) > 1 and sum(widths) + len(_GAP) * (len(widths) - 1) > width:
        hidden += 1
        widths = _widths(names[:-hidden], columns[:-hidden], numeric[:-hidden], width)
    if hidden:
        names, columns, numeric = names[:-hidden], columns[:-hidden], numeric[:-hidden]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for text, w, right in zip(cells, widths, numeric, strict=True):
            text = _shorten(text, w)
            pad = " " * (w - _width(text))
            parts.append(pad + text if right else text + pad)
        return _GAP.join(parts).rstrip()

    rows = [line(names)]
    rows += [line(cells) for cells in zip(*columns, strict=True)]
    if hidden:
        left_out = ", ".join(map(str, list(frame.columns)[-hidden:]))
        rows.append(_shorten(f"(not shown, too narrow: {left_out}; --columns to choose)", width))
    return "\n".join(rows)


@dataclass
class Output:
    """How a read command prints rows: its --format, --limit and --columns, and where.

    ``limit`` None means the format's default (``TABLE_LIMIT`` rows in a table, every row
    in csv and json); 0 means every row. On a terminal, CSV cells are escaped as a table's
    are; JSON always escapes the characters that could drive a terminal, as ``\\u``
    escapes that decode to the exact values.
    """

    fmt: str = "table"
    limit: int | None = None
    columns: tuple[str, ...] | None = None
    command: str = "linkcrawl"
    stream: IO[str] | None = None
    terminal: bool = False
    width: int = field(default_factory=lambda: shutil.get_terminal_size().columns)
    # called with a line for stderr (a note on a cut export)
    note: Callable[[str], None] = lambda line: None
    # called with the text to write on stdout
    write: Callable[[str], None] = lambda text: None
    # how to see the rows a table leaves out
    see_all: str = "--limit 0 for all, or --format csv"

    @property
    def row_limit(self) -> int | None:
        if self.limit is None:
            return TABLE_LIMIT if self.fmt == "table" else None
        return self.limit or None

    def pick(self, frame: pd.DataFrame, default: Iterable[str] | None = None) -> pd.DataFrame:
        """The columns of ``frame`` to print: --columns, else ``default`` (those of it
        that ``frame`` has) in a table and every column in an export."""
        if self.columns:
            unknown = [c for c in self.columns if c not in frame.columns]
            if unknown:
                raise UnknownColumn(
                    f"unknown column {unknown[0]!r} for {self.command}: "
                    f"choose from {', '.join(map(str, frame.columns))}"
                )
            return frame[list(self.columns)]
        if default is not None and self.fmt == "table":
            return frame[[c for c in default if c in frame.columns]]
        return frame

    def rows(
        self,
        frame: pd.DataFrame,
        *,
        title: str | None = None,
        default: Iterable[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Print ``frame``: a table under ``title``, CSV, or JSON ``{"rows": [...],
        "total": N, **extra}``; the rows cut to the limit, and a table says when it was cut."""
        frame = self.pick(frame, default)
        total = len(frame)
        limit = self.row_limit
        shown = frame.head(limit) if limit is not None else frame
        if self.fmt == "json":
            names = list(map(str, shown.columns))
            columns = [_column(shown[c]) for c in shown.columns]
            records = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
            self.write(to_json({"rows": records, "total": total, **(extra or {})}) + "\n")
            return
        if self.fmt == "csv":
            self.write(self.csv(shown))
            if len(shown) < total:
                self.note(f"{len(shown):,} of {total:,} rows (--limit {limit})")
            return
        if title is not None:
            self.write(escape_terminal(title) + "\n")
        if shown.empty:
            self.write("  (none)\n")
            return
        self.write(render_table(shown, self.width) + "\n")
        if len(shown) < total:
            self.write(f"{len(shown):,} of {total:,} rows; {self.see_all}\n")

    def csv(self, frame: pd.DataFrame) -> str:
        """``frame`` as CSV text: exact values, formulas neutralised, lists as ``a, b``;
        on a terminal, unsafe characters escaped too."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([self._csv_text(str(c)) for c in frame.columns])
        columns = []
        for name in frame.columns:
            values = _column(frame[name])
            if frame[name].dtype.kind == "O":
                # Only text can be a formula: numbers, missing values and booleans stay.
                values = [
                    self._csv_text(v if type(v) is str else _text(v))
                    if isinstance(v, (str, list))
                    else v
                    for v in values
                ]
            columns.append(values)
        # the csv module writes floats with repr: the shortest text that reads back exactly
        writer.writerows(zip(*columns, strict=True))
        return out.getvalue()

    def _csv_text(self, text: str) -> str:
        text = neutralise_formula(text)
        return escape_terminal(text) if self.terminal else text

    def text(self, line: str) -> str:
        """A line of free text for stdout: escaped on a terminal, exact when redirected."""
        return escape_terminal(line) if self.terminal else line
