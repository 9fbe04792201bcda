"""The one place that writes and reads published tables: Parquet, CSV and JSON Lines, byte-deterministic."""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import io
import json
from json.encoder import encode_basestring  # json.dumps' own (C) string encoder when ensure_ascii=False
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.ipc
import pyarrow.parquet as pq

import schemas
from flows.checksums import sha256_file

if TYPE_CHECKING:
    from pandera.pandas import Column

FORMATS = ("parquet", "csv", "jsonl")
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv", "jsonl": "application/jsonl"}
LIST_SEPARATOR = "; "
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 9, "use_dictionary": True, "write_statistics": True}
# Rows per Parquet row group. The writer holds one row group of Arrow data (twice, while it is
# joined into one block): a `papers` row with its 1,200-character abstract is ~1.6 KB in Arrow
# (2-3 KB in pandas), so 20,000 rows stay near 30-60 MB. pyarrow's own default (1,048,576 rows)
# would hold ~2 GB of papers. A table of at most this many rows is one row group, as before.
PARQUET_ROW_GROUP_ROWS = 20_000
# CSV and JSON Lines are rendered this many rows at a time: the text is the same, the peak memory
# of Python objects per row is bounded.
_CHUNK_ROWS = 20_000
_TEXT_FORMATS = ("csv", "jsonl")
# What makes a CSV field quoted: pandas' csv QUOTE_MINIMAL with "\n" line ends (a lone "\r" is
# left bare). RE2 syntax.
_CSV_SPECIAL = r'[,"\n]'
_COPY_BYTES = 1 << 20
# Bytes per write() call at most. On the benchmark machine (Linux 6.18, ext4) one write() of
# 4 MB or more costs ~10 times the CPU of the same bytes 1 MB at a time (~400 MB/s against
# ~4 GB/s: bench/results.md), and rendered rows come in pieces of 10-60 MB.
_WRITE_BYTES = 1 << 20


@dataclass(frozen=True)
class WrittenFile:
    """One file a TableWriter wrote: what datapackage.json and SHA256SUMS need, without re-reading it."""

    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Part:
    """Rows of a table rendered ahead, maybe in another process: CSV without header, JSON Lines, and Arrow (IPC) data.

    TableWriter.append adds them to a table with the bytes TableWriter.write would give for the
    same rows, so pool workers can do the rendering and the main process only concatenates.
    """

    table: str
    directory: Path
    stem: str
    rows: int

    def path(self, kind: str) -> Path:
        """The part's `csv`, `jsonl` or `arrow` file."""
        return self.directory / f"{self.stem}.{kind}"

    def read_arrow(self) -> pa.Table:
        """The part's rows as Arrow data (whole: for parts small enough to hold)."""
        with pa.ipc.open_file(pa.OSFile(str(self.path("arrow")))) as reader:
            return reader.read_all()

    def arrow_batches(self) -> Iterator[pa.RecordBatch]:
        with pa.ipc.open_file(pa.OSFile(str(self.path("arrow")))) as reader:
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index)


def open_for_writing(path: Path) -> io.BufferedWriter:
    """A new file to write, in any size of pieces: small writes are buffered, large ones reach the OS 1 MB at a time."""
    return io.BufferedWriter(_SlicedFileIO(path, "wb"), buffer_size=_WRITE_BYTES)


def open_for_arrow(path: Path) -> pa.NativeFile:
    """open_for_writing for Arrow's writers, buffered in Arrow.

    An Arrow IPC writer writes each buffer of each column of each record batch on its own (~90
    writes per batch of the spilled listings); through a Python file each is a Python call.
    """
    return pa.BufferedOutputStream(pa.PythonFile(_SlicedFileIO(path, "wb"), mode="w"), buffer_size=_WRITE_BYTES)


class _SlicedFileIO(io.FileIO):
    """A raw file whose writes reach the OS at most _WRITE_BYTES at a time."""

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _WRITE_BYTES):
            piece = view[start : start + _WRITE_BYTES]
            while piece:  # a raw write may take fewer bytes than it was given
                piece = piece[super().write(piece) :]
        return len(view)


class PartWriter:
    """Renders chunks of a table into a Part (see TableWriter.append)."""

    def __init__(self, table: str, directory: Path, stem: str) -> None:
        self._part = Part(table, directory, stem, 0)
        self._rows = 0
        self._csv = open_for_writing(self._part.path("csv"))
        self._jsonl = open_for_writing(self._part.path("jsonl"))
        self._arrow_file = open_for_arrow(self._part.path("arrow"))
        self._arrow = pa.ipc.new_file(self._arrow_file, schemas.arrow_schema(table))

    def write(self, frame: pd.DataFrame) -> None:
        """Render the rows of one chunk (conformed, in key order after the previous chunk)."""
        self.write_arrow(to_arrow(self._part.table, frame))

    def write_arrow(self, arrow: pa.Table) -> None:
        """Render rows already in Arrow with the table's schema."""
        for piece in _csv_rows(arrow):
            self._csv.write(piece)
        for piece in _jsonl_rows(arrow):
            self._jsonl.write(piece)
        self._arrow.write_table(arrow)
        self._rows += arrow.num_rows

    def close(self) -> Part:
        for handle in (self._csv, self._jsonl, self._arrow, self._arrow_file):  # the Arrow writer's footer, then its file
            handle.close()
        return Part(self._part.table, self._part.directory, self._part.stem, self._rows)


class TableWriter:
    """Writes one table in every format, chunk by chunk, with memory bounded by a row group.

    Chunks come conformed (`schemas.conform` columns and dtypes) and in primary-key order, each
    after the previous one. Whatever the chunking, the files are the bytes `render` gives for all
    the rows at once: the CSV and JSON Lines text of a row does not depend on the other rows, and
    Parquet row groups are cut every `row_group_rows` rows from Arrow data buffered across chunks,
    never at chunk edges. Memory held: one chunk plus at most one row group.

    Appended parts' text is copied (and hashed) by a thread of the writer's own while the calling
    thread encodes their Parquet: both release the GIL, so a table takes two cores, not one.
    """

    def __init__(self, table: str, directory: Path, row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> None:
        self.table = table
        self.directory = directory
        self.row_group_rows = row_group_rows
        self._rows = 0
        self._pending: list[pa.Table] = []  # Arrow rows not yet in a row group
        self._pending_rows = 0
        self._row_groups = 0
        self._written: dict[str, WrittenFile] | None = None
        self._parquet = pq.ParquetWriter(self._path("parquet"), schemas.arrow_schema(table), **PARQUET_OPTIONS)
        self._text = {file_format: _HashingFile(self._path(file_format)) for file_format in _TEXT_FORMATS}
        self._text["csv"].write(_csv_header(table))
        # One thread: parts are copied in the order they were appended.
        self._copier = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"copy-{table}")
        self._copy_buffer = bytearray(_COPY_BYTES)  # the copier's alone
        self._copies: list[concurrent.futures.Future] = []

    def write(self, frame: pd.DataFrame) -> None:
        """Append the rows of one chunk (zero rows is fine)."""
        if self._written is not None:
            raise ValueError(f"{self.table}: write after close")
        arrow = to_arrow(self.table, frame)
        self._wait_for_copies()  # its text goes after the parts appended before it
        for piece in _csv_rows(arrow):
            self._text["csv"].write(piece)
        for piece in _jsonl_rows(arrow):
            self._text["jsonl"].write(piece)
        self._buffer_parquet(arrow)
        self._rows += len(frame)

    def append(self, part: Part, consume: bool = False) -> None:
        """Append rows rendered ahead (PartWriter): the files get the bytes `write` would give them.

        `consume` removes the part's files as soon as they are in the table. The memory their
        pages held is then what the next parts' text is written into: on the benchmark machine,
        memory freed a moment ago can cost a quarter of memory left idle (bench/fresh_memory.py).
        """
        if self._written is not None:
            raise ValueError(f"{self.table}: append after close")
        if part.table != self.table:
            raise ValueError(f"{self.table}: cannot append a part of {part.table}")
        self._copies.append(self._copier.submit(self._copy_text, part, consume))
        for batch in part.arrow_batches():
            self._buffer_parquet(pa.Table.from_batches([batch]))
        if consume:
            part.path("arrow").unlink()
        self._rows += part.rows

    def close(self) -> dict[str, WrittenFile]:
        """Finish every file; returns rows, bytes and sha256 per file name. Closing twice returns the same."""
        if self._written is None:
            try:
                self._written = self._finish()
            except BaseException:
                self._abort()
                raise
        return self._written

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, error_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if error_type is None:
            self.close()
        elif self._written is None:
            self._abort()

    def _copy_text(self, part: Part, consume: bool) -> None:
        view = memoryview(self._copy_buffer)  # one buffer, reused: no fresh memory per read
        for file_format in _TEXT_FORMATS:
            with open(part.path(file_format), "rb", buffering=0) as source:
                while size := source.readinto(self._copy_buffer):
                    self._text[file_format].write(view[:size])
            if consume:
                part.path(file_format).unlink()

    def _wait_for_copies(self) -> None:
        """Every part appended so far copied; a copy that failed raises here."""
        copies, self._copies = self._copies, []
        for copy in copies:
            copy.result()

    def _finish(self) -> dict[str, WrittenFile]:
        self._wait_for_copies()
        self._copier.shutdown()
        if self._pending_rows or not self._row_groups:
            # The last, partial row group; an empty table is one empty row group, as pq.write_table writes it.
            self._write_row_group(pa.concat_tables(self._pending or [schemas.arrow_schema(self.table).empty_table()]))
        self._parquet.close()
        parquet = self._path("parquet")
        written = {parquet.name: WrittenFile(self._rows, parquet.stat().st_size, sha256_file(parquet))}
        for file_format, file in self._text.items():
            file.close()
            written[table_file(self.table, file_format)] = WrittenFile(self._rows, file.bytes, file.digest.hexdigest())
        return written

    def _path(self, file_format: str) -> Path:
        return self.directory / table_file(self.table, file_format)

    def _buffer_parquet(self, arrow: pa.Table) -> None:
        self._pending.append(arrow)
        self._pending_rows += arrow.num_rows
        while self._pending_rows >= self.row_group_rows:
            pending = pa.concat_tables(self._pending)
            self._write_row_group(pending.slice(0, self.row_group_rows))
            rest = pending.slice(self.row_group_rows)
            self._pending, self._pending_rows = [rest], rest.num_rows

    def _write_row_group(self, rows: pa.Table) -> None:
        # One contiguous block per column: the column writer cuts pages and falls back from
        # dictionary encoding at Arrow chunk edges too, so chunked input could change the bytes.
        self._parquet.write_table(rows.combine_chunks(), row_group_size=self.row_group_rows)
        self._row_groups += 1

    def _abort(self) -> None:
        """Close every handle and remove the files: a half-written table must not pass for a whole one."""
        self._copier.shutdown(cancel_futures=True)
        self._parquet.close()
        for file in self._text.values():
            file.close()
        for file_format in FORMATS:
            self._path(file_format).unlink(missing_ok=True)


def table_file(table: str, file_format: str) -> str:
    """File name of a table in a format: `papers.parquet`."""
    return f"{table}.{file_format}"


def to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table with the declared schema (no pandas metadata, so no library versions)."""
    return pa.Table.from_pandas(frame, schema=schemas.arrow_schema(table), preserve_index=False).replace_schema_metadata(None)


def render(table: str, frame: pd.DataFrame, file_format: str) -> bytes:
    """A table's bytes in one format, in memory: the bytes `write` and TableWriter put in the file."""
    if file_format == "parquet":
        buffer = pa.BufferOutputStream()
        pq.write_table(to_arrow(table, frame), buffer, row_group_size=PARQUET_ROW_GROUP_ROWS, **PARQUET_OPTIONS)
        return buffer.getvalue().to_pybytes()
    if file_format == "csv":
        return _csv_header(table) + b"".join(_csv_rows(to_arrow(table, frame)))
    if file_format == "jsonl":
        return b"".join(_jsonl_rows(to_arrow(table, frame)))
    raise ValueError(f"unknown format {file_format!r}")


def write(table: str, frame: pd.DataFrame, directory: Path) -> dict[str, WrittenFile]:
    """Write a whole table in every format into `directory`; returns rows, bytes and sha256 per file name."""
    with TableWriter(table, directory) as writer:
        writer.write(frame)
    return writer.close()


def read(table: str, path: Path) -> pd.DataFrame:
    """Read a published table file of any format back into the declared columns and dtypes."""
    suffix = path.suffix.lstrip(".")
    if suffix == "parquet":
        return from_arrow(table, pq.read_table(path))
    if suffix == "jsonl":
        frame = pd.DataFrame([json.loads(line) for line in path.read_text("utf-8").splitlines()], columns=schemas.TABLES[table].columns)
    elif suffix == "csv":
        frame = _read_csv(table, path)
    else:
        raise ValueError(f"unknown format of {path}")
    return _restore(table, frame)


def read_columns(path: Path, columns: list[str], filters: list | None = None) -> pd.DataFrame:
    """Some columns of a published Parquet file (rows matching `filters`, pyarrow's syntax), for summaries of large tables."""
    return pq.read_table(path, columns=columns, filters=filters).to_pandas(types_mapper=_types_mapper)


def from_arrow(table: str, arrow: pa.Table) -> pd.DataFrame:
    """Arrow data of a table (as written, or any part of it) as a frame with the declared columns and dtypes."""
    return _restore(table, arrow.to_pandas(types_mapper=_types_mapper))


def frame_of_values(columns: Mapping[str, Column], values: Mapping[str, Sequence]) -> pd.DataFrame:
    """Python values of declared columns (a sequence per column; a missing one is empty) as a frame in the declared dtypes.

    Each column goes through Arrow (`pa.array`: one C loop over its values) instead of pandas'
    inference over objects; list columns stay Python lists, as the schemas' checks expect them.
    """
    lists = {name: pd.Series(list(values.get(name, ())), dtype=object) for name, column in columns.items() if schemas.is_list_column(column)}
    arrow = pa.table({name: pa.array(values.get(name, ()), schemas.arrow_type(column)) for name, column in columns.items() if name not in lists})
    frame = arrow.to_pandas(types_mapper=_types_mapper).assign(**lists)
    return frame[list(columns)].astype({name: column.dtype.type for name, column in columns.items() if name not in lists})


def count_rows(path: Path) -> int:
    """Rows in a published file, read cheaply (Parquet footer, lines of JSON Lines, CSV parsed block by block)."""
    suffix = path.suffix.lstrip(".")
    if suffix == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if suffix == "jsonl":
        return _count_lines(path)
    return _count_csv_rows(path)


class _HashingFile:
    """A file opened for writing that counts and hashes its bytes as they go out."""

    def __init__(self, path: Path) -> None:
        self._handle = open_for_writing(path)
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self.digest.update(data)
        self.bytes += len(data)

    def close(self) -> None:
        self._handle.close()


def _csv_header(table: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(schemas.TABLES[table].columns)
    return buffer.getvalue().encode("utf-8")


def _csv_rows(arrow: pa.Table) -> Iterator[bytes]:
    """CSV text of the rows, without header, a bounded number of rows at a time.

    The text pandas' `to_csv` gives for the frame (`csv` QUOTE_MINIMAL: a field is quoted when it
    holds a comma, a quote or a line feed; nulls empty; flags `true`/`false`; lists joined by
    LIST_SEPARATOR), built column by column in Arrow: Python sees only floats. tests/test_formats.py
    holds it to pandas.
    """
    for start in range(0, arrow.num_rows, _CHUNK_ROWS):
        chunk = arrow.slice(start, _CHUNK_ROWS)
        pieces: list[str | pa.Array] = []
        for index, column in enumerate(chunk.columns):
            if index:
                pieces.append(",")
            pieces += _csv_cells(column.combine_chunks())
        yield _concatenated(_joined(pieces + ["\n"]))


def _csv_cells(values: pa.Array) -> list[str | pa.Array]:
    """The CSV field of each value, as pieces of text to join (_joined)."""
    kind = values.type
    if pa.types.is_boolean(kind):
        return [pc.if_else(values, "true", "false").fill_null("")]
    if pa.types.is_floating(kind):
        return [_floats_as_text(values, "", lambda value: "" if value != value else float.__repr__(value))]
    if pa.types.is_list(kind):
        values = pc.binary_join(values, LIST_SEPARATOR)
    elif not pa.types.is_string(kind):
        return [values.cast(pa.string()).fill_null("")]  # integers and dates: `12`, `2025-11-13`
    return _csv_quoted(values.fill_null(""))


def _csv_quoted(values: pa.Array) -> list[str | pa.Array]:
    """Fields holding a comma, quote or line feed quoted, their quotes doubled; in Arrow, as most abstracts need it."""
    # Few fields hold a quote; a field that holds one is quoted too, as a quote is special.
    doubled = _replaced(values, _holding(values, _is_quote), lambda held: pc.replace_substring(held, '"', '""'))
    # A regex here: nearly every abstract holds a comma, and the search stops at the first.
    special = pc.match_substring_regex(values, _CSV_SPECIAL)
    if not pc.any(special).as_py():
        return [doubled]  # most columns of ids, names and slugs
    quote = pc.if_else(special, '"', "")
    return [quote, doubled, quote]  # the field itself is copied once, into its line


def _jsonl_rows(arrow: pa.Table) -> Iterator[bytes]:
    """JSON Lines text of the rows, a bounded number of rows at a time.

    The text is what `json.dumps(row, ensure_ascii=False, separators=(",", ":"))` gives for each
    row as a dict, built column by column in Arrow with json's escapes (tests/test_formats.py
    holds it to json.dumps). Each line is joined in one pass: `{"name":` value `,"name":` ... `}`.
    """
    for start in range(0, arrow.num_rows, _CHUNK_ROWS):
        chunk = arrow.slice(start, _CHUNK_ROWS)
        pieces: list[str | pa.Array] = []
        for index, (name, column) in enumerate(zip(chunk.column_names, chunk.columns)):
            pieces += [("," if index else "{") + json.dumps(name, ensure_ascii=False) + ":", *_json_pieces(column.combine_chunks())]
        yield _concatenated(_joined(pieces + ["}\n"]))


def _json_pieces(values: pa.Array) -> list[str | pa.Array]:
    """The JSON text of each value as pieces to join (_joined).

    In a column without nulls every value has the same quotes or brackets around it: they are
    pieces of their own, not added to a copy of each value.
    """
    if not values.null_count and (enclosed := _json_enclosed(values)) is not None:
        return list(enclosed)
    return [_json_values(values)]


def _json_values(values: pa.Array) -> pa.Array:
    """The JSON text of each value, as json.dumps writes it (ensure_ascii=False)."""
    if (enclosed := _json_enclosed(values)) is not None:
        opening, inside, closing = enclosed
        return pc.if_else(values.is_null(), "null", _wrapped(inside, opening, closing))
    kind = values.type
    if pa.types.is_boolean(kind):
        return pc.if_else(values, "true", "false").fill_null("null")
    if pa.types.is_integer(kind):
        return values.cast(pa.string()).fill_null("null")
    if pa.types.is_floating(kind):
        return _floats_as_text(values, "null", json.dumps)
    return pa.array([json.dumps(value) for value in values.to_pylist()], pa.string())


def _json_enclosed(values: pa.Array) -> tuple[str, pa.Array, str] | None:
    """A string, date or list column's JSON text as (opening, the text inside each value, closing); None for other kinds."""
    kind = values.type
    if pa.types.is_string(kind):
        return '"', _json_escaped(values), '"'
    if pa.types.is_date(kind):
        return '"', values.cast(pa.string()), '"'
    if pa.types.is_list(kind):
        return "[", _json_items(values), "]"
    return None


def _json_items(values: pa.ListArray) -> pa.Array:
    """The JSON array items of each list of strings, without its brackets: `"a","b"`."""
    items = _wrapped(_json_escaped(pc.list_flatten(values)), '"', '"')
    return pc.binary_join(pa.ListArray.from_arrays(_list_offsets(values), items), ",")


def _joined(pieces: list[str | pa.Array]) -> pa.Array:
    """The pieces joined row by row, each text piece given to every row (consecutive ones first made one)."""
    merged: list[str | pa.Array] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return pc.binary_join_element_wise(*merged, "")


def _floats_as_text(values: pa.Array, null: str, text: Callable[[float], str]) -> pa.Array:
    """`text` of each float, in Python (its shortest repr is not Arrow's), and `null` for nulls without a call each."""
    present = values.is_valid()
    texts = pa.array([text(value) for value in values.filter(present).to_pylist()], pa.string())
    return pc.replace_with_mask(pa.array([null] * len(values), pa.string()), present, texts)


def _json_escaped(values: pa.Array) -> pa.Array:
    """Strings with json's escapes: `"`, `\\` and the control characters U+0000 to U+001F."""
    # In Python, one string at a time: few strings need it, and json's encoder is exact.
    return _replaced(values, _holding(values, _is_json_special),
                     lambda held: pa.array([encode_basestring(value)[1:-1] for value in held.to_pylist()], pa.string()))


def _is_quote(data: np.ndarray) -> np.ndarray:
    return data == ord('"')


def _is_json_special(data: np.ndarray) -> np.ndarray:
    """What json.dumps (ensure_ascii=False) escapes."""
    return (data < 0x20) | (data == ord('"')) | (data == ord("\\"))


def _holding(values: pa.Array, marks: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Which strings hold a byte that `marks` marks in their UTF-8 data, as a mask.

    Only ASCII bytes are marked, and in UTF-8 no other character has a byte below 0x80. One
    pass over the data buffer in numpy: a regex (RE2) reads a string without a match to its
    end, ~5 times slower, and most abstracts hold no quote or backslash.
    """
    if not len(values):
        return np.zeros(0, bool)
    offsets = np.frombuffer(values.buffers()[1], np.int32, count=len(values) + 1, offset=values.offset * 4)
    if offsets[-1] == offsets[0]:
        return np.zeros(len(values), bool)
    data = np.frombuffer(values.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    held = np.zeros(len(values), bool)
    held[np.searchsorted(offsets, np.flatnonzero(marks(data)) + offsets[0], side="right") - 1] = True
    return held & values.is_valid().to_numpy(zero_copy_only=False)


def _replaced(values: pa.Array, rows: np.ndarray, replace: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`replace` applied to the strings of `rows` (a mask), the others kept as they are."""
    if not rows.any():
        return values
    mask = pa.array(rows)
    return pc.replace_with_mask(values, mask, replace(values.filter(mask)))


def _list_offsets(values: pa.ListArray) -> pa.Array:
    """Offsets of a list array's items after list_flatten (which drops the items of null lists and slices)."""
    lengths = pc.list_value_length(values).fill_null(0)
    return pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(lengths).cast(pa.int32())])


def _wrapped(values: pa.Array, before: str, after: str) -> pa.Array:
    """before + value + after for each value (null stays null)."""
    return pc.binary_join_element_wise(before, values, after, "")


def _concatenated(lines: pa.Array) -> bytes:
    """The strings one after another, as one UTF-8 text: the data buffer of the strings, between their first and last offsets."""
    if not len(lines):
        return b""
    offsets = np.frombuffer(lines.buffers()[1], np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    return lines.buffers()[2][offsets[0] : offsets[-1]].to_pybytes()


def _count_lines(path: Path) -> int:
    """Lines in a text file, the last one counted with or without its line end (as iterating it would)."""
    block = bytearray(_COPY_BYTES)
    lines = 0
    last = b"\n"
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(block):
            lines += block.count(b"\n", 0, size)
            last = block[size - 1 : size]
    return lines + (last != b"\n")


def _count_csv_rows(path: Path) -> int:
    # Every row is parsed (a row with too many or too few fields fails), but only the first column
    # is converted, as text: the count is all that matters, and converting every column held
    # ~80 MB more for the 3 GB `papers.csv` of 50,000 profiles. (As text, because the streaming
    # reader infers types from its first block and fails on a later block that does not fit.)
    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    parse_options = pyarrow.csv.ParseOptions(newlines_in_values=True)
    convert_options = pyarrow.csv.ConvertOptions(column_types=dict.fromkeys(header[:1], pa.string()), include_columns=header[:1])
    with pyarrow.csv.open_csv(path, parse_options=parse_options, convert_options=convert_options) as reader:
        return sum(batch.num_rows for batch in reader)


def _read_csv(table: str, path: Path) -> pd.DataFrame:
    columns = schemas.TABLES[table].schema.columns
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    for name, column in columns.items():
        values = frame[name]
        if schemas.is_list_column(column):
            frame[name] = values.map(lambda text: text.split(LIST_SEPARATOR) if text else [])
            continue
        missing = values == ""
        arrow_type = schemas.arrow_type(column)
        if pa.types.is_boolean(arrow_type):
            frame[name] = values.map({"true": True, "false": False})
        elif pa.types.is_string(arrow_type):
            frame[name] = values.where(~missing, None) if column.nullable else values
        else:
            frame[name] = values.where(~missing, None)
    return frame


def _restore(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    for name, column in schemas.TABLES[table].schema.columns.items():
        if schemas.is_list_column(column):
            frame[name] = frame[name].map(lambda values: [] if values is None else list(values))
        elif pa.types.is_date32(schemas.arrow_type(column)) and not isinstance(frame[name].dtype, pd.ArrowDtype):
            frame[name] = pd.to_datetime(frame[name]).dt.date
    return schemas.conform(table, frame)


def _types_mapper(arrow_type: pa.DataType):
    if pa.types.is_date32(arrow_type):
        return pd.ArrowDtype(arrow_type)
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_floating(arrow_type):
        return pd.Float64Dtype()
    return None
