"""Join Parquet files written side by side into one file, without decoding a page.

pyarrow encodes and compresses a file's row groups on one thread. Two writers can each
write part of a table to a file of its own at the same time; joining those files is then
a matter of bytes: a Parquet file is ``PAR1``, its column chunks, a footer (Thrift's
compact encoding of ``FileMetaData``), the footer's length and ``PAR1`` again, and the
only absolute positions are the offsets that the footer records for each column chunk.
So the joined file is the first file's chunks, each later file's chunks after them, and
one footer: the first file's, holding every file's row groups with their offsets moved
by where their chunks now start. When each part but the last holds whole row groups
(:data:`linkcrawl.storage.ROW_GROUP_SIZE` rows each), the result is byte for byte the
file that one writer makes of all the rows.

The footer is read and written field by field with a small codec for Thrift's compact
protocol that keeps every field it does not change as it was, in the order it was. Only
files laid out as linkcrawl writes them are joined: no page index, bloom filter or
encryption (they add positions elsewhere in the file). Anything else raises
:class:`JoinError`, and the caller writes the file with one writer instead.

The Thrift compact protocol: https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md
The footer's fields: https://github.com/apache/parquet-format/blob/master/src/main/thrift/parquet.thrift
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"PAR1"

# Thrift compact types (the low four bits of a field header).
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_UUID = 13

# Field ids of parquet.thrift's structs that the join reads or changes.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_RG_COLUMNS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 5, 7
_CC_FILE_OFFSET, _CC_META = 2, 3
_CM_OFFSETS = (9, 10, 11)  # data_page_offset, index_page_offset, dictionary_page_offset
# The fields each struct may hold for the join to know every position in it: RowGroup
# (columns, sizes, rows, sorting columns, file offset, compressed size, ordinal);
# ColumnChunk (file path, file offset, metadata; not the page index or encryption);
# ColumnMetaData (all but 14 and 15, the bloom filter's offset and length).
_RG_FIELDS = frozenset(range(1, 8))
_CC_FIELDS = frozenset({1, 2, 3})
_CM_FIELDS = frozenset(range(1, 14)) | {16, 17}


class JoinError(ValueError):
    """The files cannot be joined (see the module's docstring)."""


@dataclass
class _Field:
    id: int
    type: int
    value: Any  # int, bytes (binary, double), bool, list, _Struct, or a raw map


@dataclass
class _List:
    type: int  # the elements' type
    items: list[Any]


_Struct = list[_Field]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise JoinError("footer ends early")
        b = self.data[self.at]
        self.at += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise JoinError("footer holds a malformed integer")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise JoinError("footer ends early")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def value(self, kind: int) -> Any:
        if kind in (_TRUE, _FALSE):  # an element of a list: one byte
            return self.byte()
        if kind == _BYTE:
            return self.byte()
        if kind in (_I16, _I32, _I64):
            return self.zigzag()
        if kind == _DOUBLE:
            return self.take(8)
        if kind == _UUID:
            return self.take(16)
        if kind == _BINARY:
            return self.take(self.varint())
        if kind in (_LIST, _SET):
            head = self.byte()
            size, element = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return _List(element, [self.value(element) for _ in range(size)])
        if kind == _MAP:
            start = self.at
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.value(types >> 4)
                    self.value(types & 0x0F)
            return self.data[start : self.at]  # kept as it was
        if kind == _STRUCT:
            return self.struct()
        raise JoinError(f"footer holds an unknown Thrift type {kind}")

    def struct(self) -> _Struct:
        fields: _Struct = []
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            kind, delta = head & 0x0F, head >> 4
            fid = last + delta if delta else self.zigzag()
            if kind in (_TRUE, _FALSE):
                fields.append(_Field(fid, kind, kind == _TRUE))
            else:
                fields.append(_Field(fid, kind, self.value(kind)))
            last = fid


def _varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(n: int, out: bytearray) -> None:
    _varint((n << 1) ^ (n >> 63), out)


def _write_value(kind: int, value: Any, out: bytearray) -> None:
    if kind in (_TRUE, _FALSE, _BYTE):
        out.append(value)
    elif kind in (_I16, _I32, _I64):
        _zigzag(value, out)
    elif kind in (_DOUBLE, _UUID, _MAP):
        out += value
    elif kind == _BINARY:
        _varint(len(value), out)
        out += value
    elif kind in (_LIST, _SET):
        size = len(value.items)
        if size < 15:
            out.append(size << 4 | value.type)
        else:
            out.append(0xF0 | value.type)
            _varint(size, out)
        for item in value.items:
            _write_value(value.type, item, out)
    elif kind == _STRUCT:
        _write_struct(value, out)


def _write_struct(fields: _Struct, out: bytearray) -> None:
    last = 0
    for field in fields:
        kind = (_TRUE if field.value else _FALSE) if field.type in (_TRUE, _FALSE) else field.type
        if 0 < field.id - last <= 15:
            out.append((field.id - last) << 4 | kind)
        else:
            out.append(kind)
            _zigzag(field.id, out)
        if kind not in (_TRUE, _FALSE):
            _write_value(kind, field.value, out)
        last = field.id
    out.append(0)


def _get(fields: _Struct, fid: int) -> _Field | None:
    return next((f for f in fields if f.id == fid), None)


def _footer(path: Path) -> tuple[int, _Struct]:
    """Where a Parquet file's footer starts, and the footer."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        if size < 12 or head != MAGIC:
            raise JoinError(f"{path.name}: not a Parquet file")
        f.seek(size - 8)
        tail = f.read(8)
        length = struct.unpack("<I", tail[:4])[0]
        if tail[4:] != MAGIC or length > size - 12:
            raise JoinError(f"{path.name}: not a Parquet file")
        f.seek(size - 8 - length)
        data = f.read(length)
    reader = _Reader(data)
    footer = reader.struct()
    if reader.at != len(data):
        raise JoinError(f"{path.name}: the footer has bytes after its end")
    return size - 8 - length, footer


def _move_row_group(row_group: _Struct, shift: int, ordinal: int) -> None:
    """Shift a row group's positions by ``shift`` bytes and give it its new ordinal."""
    for field in row_group:
        if field.id not in _RG_FIELDS:
            raise JoinError(f"row group field {field.id} is not known to the join")
        if field.id == _RG_FILE_OFFSET:
            field.value += shift
        elif field.id == _RG_ORDINAL:
            field.value = (ordinal + 0x8000) % 0x10000 - 0x8000  # an i16, as Parquet writes it
        elif field.id == _RG_COLUMNS:
            for chunk in field.value.items:
                _move_column_chunk(chunk, shift)


def _move_column_chunk(chunk: _Struct, shift: int) -> None:
    for field in chunk:
        if field.id not in _CC_FIELDS:
            raise JoinError(f"column chunk field {field.id} is not known to the join")
        if field.id == _CC_FILE_OFFSET and field.value:  # 0: not set, as some writers do
            field.value += shift
        elif field.id == _CC_META:
            for meta in field.value:
                if meta.id not in _CM_FIELDS:
                    raise JoinError(f"column metadata field {meta.id} is not known to the join")
                if meta.id in _CM_OFFSETS:
                    meta.value += shift


def join_parquet_files(first: Path, others: Sequence[Path]) -> None:
    """Append the row groups of ``others`` to the Parquet file ``first``, in order, in
    place: ``first`` becomes one file holding all their rows (see the module docstring).
    The files must share the schema, key-value metadata and writer; ``others`` are left
    as they were. Raises :class:`JoinError`, before changing ``first``, when the files
    cannot be joined."""
    body_end, footer = _footer(first)
    rows = _get(footer, _FILE_NUM_ROWS)
    groups = _get(footer, _FILE_ROW_GROUPS)
    if rows is None or groups is None:
        raise JoinError(f"{first.name}: the footer has no row count or row groups")
    same = [f for f in footer if f.id not in (_FILE_NUM_ROWS, _FILE_ROW_GROUPS)]
    for i, group in enumerate(groups.value.items):
        _move_row_group(group, 0, i)
    appended: list[tuple[Path, int]] = []
    position = body_end
    for other in others:
        end, other_footer = _footer(other)
        other_groups = _get(other_footer, _FILE_ROW_GROUPS)
        other_rows = _get(other_footer, _FILE_NUM_ROWS)
        if other_groups is None or other_rows is None:
            raise JoinError(f"{other.name}: the footer has no row count or row groups")
        if [f for f in other_footer if f.id not in (_FILE_NUM_ROWS, _FILE_ROW_GROUPS)] != same:
            raise JoinError(f"{other.name}: schema, metadata or writer differ from {first.name}'s")
        # Its chunks start after its own PAR1, and now at ``position``.
        for group in other_groups.value.items:
            _move_row_group(group, position - len(MAGIC), len(groups.value.items))
            groups.value.items.append(group)
        rows.value += other_rows.value
        appended.append((other, end))
        position += end - len(MAGIC)
    out = bytearray()
    _write_struct(footer, out)
    with open(first, "r+b") as f:
        f.truncate(body_end)
        f.seek(body_end)
        for other, end in appended:
            with open(other, "rb") as src:
                src.seek(len(MAGIC))
                _copy(src, f, end - len(MAGIC))
        f.write(bytes(out))
        f.write(struct.pack("<I", len(out)))
        f.write(MAGIC)


def _copy(src: Any, dst: Any, n: int) -> None:
    """Copy ``n`` bytes from one open file to another, in the kernel where it can."""
    dst.flush()
    src_fd, dst_fd = src.fileno(), dst.fileno()
    src_at, dst_at = src.tell(), dst.tell()
    try:
        if not hasattr(os, "copy_file_range"):
            raise OSError("no copy_file_range")
        while n > 0:
            copied = os.copy_file_range(src_fd, dst_fd, n, src_at, dst_at)
            if copied == 0:
                raise JoinError("a part file ends early")
            n, src_at, dst_at = n - copied, src_at + copied, dst_at + copied
        dst.seek(dst_at)
        return
    except OSError:  # no copy_file_range across these file systems: copy in user space
        src.seek(src_at)
        dst.seek(dst_at)
    while n > 0:
        block = src.read(min(n, 1 << 22))
        if not block:
            raise JoinError("a part file ends early")
        dst.write(block)
        n -= len(block)
