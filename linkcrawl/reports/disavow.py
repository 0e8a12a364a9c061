"""Google's limits on a disavow file, declared once, and the packing of a disavow list into
one file or several that each keep within them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from linkcrawl.errors import DisavowLimitError

__all__ = [
    "MAX_BYTES",
    "MAX_LINES",
    "MAX_URL_CHARS",
    "DisavowEntry",
    "DisavowLimitError",
    "pack_disavow",
]

# Google Search Console help, "Disavow links to your site" (support.google.com/webmasters/
# answer/2648487): UTF-8 or 7-bit ASCII text, one URL or `domain:` a line, `#` comments.
MAX_URL_CHARS = 2_048  # the longest URL a line may hold
MAX_LINES = 100_000  # lines in a file, blank and comment lines included
# "2MB": read as 2,000,000 bytes, the smaller of the two readings, so that a file this
# packs is accepted whichever Google means.
MAX_BYTES = 2_000_000


@dataclass(frozen=True)
class DisavowEntry:
    """One listed domain or page: ``line`` is ``domain:example.com`` or a URL, ``comments``
    the ``# ...`` lines that explain it (written just above it)."""

    line: str
    comments: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The entry as written: a blank line, its comments, then the line itself."""
        return ["", *self.comments, self.line]


def _size(lines: Sequence[str]) -> tuple[int, int]:
    """Lines and UTF-8 bytes of ``lines`` written one a line, each ending in a newline."""
    return len(lines), sum(len(line.encode("utf-8")) + 1 for line in lines)


def pack_disavow(
    header: Sequence[str],
    entries: Sequence[DisavowEntry],
    *,
    split: bool = False,
    empty_note: str = "# nothing qualifies",
    max_lines: int = MAX_LINES,
    max_bytes: int = MAX_BYTES,
    max_url_chars: int = MAX_URL_CHARS,
) -> list[str]:
    """The text of the disavow file(s) for ``entries``, each within Google's limits.

    Without ``split``, one file (a list of one text) or :class:`DisavowLimitError` naming
    the limit it would exceed. With ``split``, as many files as needed, each with the
    ``header`` lines and ``# part i of n``, an entry never cut from its comments. A URL
    over ``max_url_chars`` is refused either way: no split makes it shorter.

    The limits default to :data:`MAX_LINES`, :data:`MAX_BYTES` and :data:`MAX_URL_CHARS`.
    """
    for entry in entries:
        if not entry.line.startswith("domain:") and len(entry.line) > max_url_chars:
            raise DisavowLimitError(
                f"a URL of {len(entry.line):,} characters is over Google's limit of "
                f"{max_url_chars:,} characters per URL ({entry.line[:60]}…): list its domain "
                "instead",
                "url-length",
            )
    if not entries:
        return [_text([*header, empty_note])]
    whole = [*header, *(line for entry in entries for line in entry.lines())]
    lines, size = _size(whole)
    if not split:
        if lines > max_lines:
            raise DisavowLimitError(
                f"the disavow file would have {lines:,} lines, over Google's limit of "
                f"{max_lines:,} lines: raise --min-flags, leave out the reasons "
                "(--no-reasons) or write several files (--split)",
                "lines",
            )
        if size > max_bytes:
            raise DisavowLimitError(
                f"the disavow file would be {size:,} bytes, over Google's limit of "
                f"{max_bytes:,} bytes: raise --min-flags, leave out the reasons "
                "(--no-reasons) or write several files (--split)",
                "bytes",
            )
        return [_text(whole)]
    # The part line's length depends on the number of parts, unknown until the packing is
    # done: room is kept for the widest it can be (n no more than the entries).
    widest = f"# part {len(entries)} of {len(entries)}"
    head_lines, head_bytes = _size([*header, widest])
    parts: list[list[DisavowEntry]] = [[]]
    used_lines, used_bytes = head_lines, head_bytes
    for entry in entries:
        n, b = _size(entry.lines())
        if head_lines + n > max_lines or head_bytes + b > max_bytes:
            raise DisavowLimitError(
                f"one entry ({entry.line[:60]}) with its comments does not fit in a file "
                "within Google's limits: leave out the reasons (--no-reasons)",
                "entry",
            )
        if parts[-1] and (used_lines + n > max_lines or used_bytes + b > max_bytes):
            parts.append([])
            used_lines, used_bytes = head_lines, head_bytes
        parts[-1].append(entry)
        used_lines += n
        used_bytes += b
    if len(parts) == 1:
        return [_text(whole)]
    return [
        _text(
            [*header, f"# part {i} of {len(parts)}"]
            + [line for entry in part for line in entry.lines()]
        )
        for i, part in enumerate(parts, 1)
    ]


def _text(lines: Sequence[str]) -> str:
    return "\n".join(lines) + "\n"
