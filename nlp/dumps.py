"""Reading review dumps and exports (CSV, JSONL, Parquet) as posts, row by row.

Streaming readers: memory does not grow with the file. A row that cannot become
a :class:`~nlp.types.Post` is not dropped: it comes back as a :class:`RawRow`
with the reason, for the caller to quarantine. ``ColumnMap`` is the column
mapping that batch scoring and the importers share.

CSV files are read as they are written in the wild: the delimiter (``,`` ``;`` tab ``|``)
is found from the header and first lines unless given (:func:`sniff_delimiter`), and a
leading unnamed column, the row index ``pandas.DataFrame.to_csv`` and R's ``write.csv``
write (header cell empty or ``Unnamed: 0``), is not a column of the dump.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nlp.errors import RowError
from nlp.times import parse_time
from nlp.types import Post

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# Columns used when the mapping does not name one and the file has a column of that name.
DEFAULT_NAMES = {"text": ("text",), "id": ("id", "post_id", "tweet_id"), "brand": ("brand",),
                 "author": ("author_id", "author"), "time": ("created_at", "time", "date")}
DELIMITERS = (",", ";", "\t", "|")  # the ones sniffed; on a tie the earlier one wins
INDEX_HEADERS = ("", "Unnamed: 0")  # what pandas (and R) call the row index they write
SNIFF_LINES = 50  # lines read to find the delimiter


def sha256_file(path: Path) -> str:
    """The file's sha256 (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DumpError(ValueError):
    """The dump as a whole cannot be read (unknown format, missing column, ...)."""


def dump_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet``, from the file name's extension."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise DumpError(
            f"{path}: unknown format {path.suffix!r}; use one of {', '.join(sorted(FORMATS))}"
        ) from None


@dataclass(frozen=True)
class ColumnMap:
    """Which columns of a dump hold a post's fields. ``None``: use the default name if present."""

    text: str | None = None
    id: str | None = None
    brand: str | None = None
    author: str | None = None
    time: str | None = None
    time_format: str | None = None  # strptime format for the time column; None: guessed
    delimiter: str | None = None  # CSV field delimiter; None: sniffed from the first lines

    def __post_init__(self) -> None:
        if self.delimiter is not None:
            # "\t" and "tab" as typed in a shell, where a literal tab is awkward
            delimiter = {"\\t": "\t", "tab": "\t"}.get(self.delimiter, self.delimiter)
            _check_delimiter(delimiter)
            object.__setattr__(self, "delimiter", delimiter)

    def resolve(self, columns: Sequence[str], path: Path) -> ColumnMap:
        """Fill unnamed fields from the defaults; fail if a named or required column is absent."""
        resolved = {}
        for field, defaults in DEFAULT_NAMES.items():
            chosen = getattr(self, field)
            if chosen is not None and chosen not in columns:
                raise DumpError(f"{path}: no column {chosen!r} (--{field}-col); "
                                f"columns are {list(columns)}")
            if chosen is None:
                chosen = next((name for name in defaults if name in columns), None)
            resolved[field] = chosen
        if resolved["text"] is None:
            split = len(columns) == 1 and any(d in columns[0] for d in DELIMITERS)
            raise DumpError(f"{path}: no text column; name it with --text-col "
                            f"(columns are {list(columns)})"
                            + ("; if the header is split by another delimiter, give it with "
                               "--delimiter" if split else ""))
        return ColumnMap(**resolved, time_format=self.time_format, delimiter=self.delimiter)

    def to_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "id": self.id, "brand": self.brand, "author": self.author,
                "time": self.time, "time_format": self.time_format, "delimiter": self.delimiter}


def _check_delimiter(delimiter: str) -> None:
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise DumpError(f"delimiter {delimiter!r}: give one character other than a quote or "
                        "a line break, e.g. ',' ';' '|' or '\\t' (tab)")


def sniff_delimiter(lines: Sequence[str], width: int | None = None) -> str:
    """The CSV delimiter of a file's first ``lines`` (header first, unless ``width`` is given).

    Each of :data:`DELIMITERS` parses the lines (quoted fields honoured); the winner is the
    one under which the header has several fields and most rows have as many (``width``:
    the known number of fields, for a file without a header). Ties and files of one
    column fall back to the comma. Not :class:`csv.Sniffer`: it guesses from character
    counts, which punctuation in review text misleads, and it guesses ``doublequote=False``
    for files with no ``""`` in their first lines, which would mis-split later rows.
    """
    best, best_score = ",", 0
    for delimiter in DELIMITERS:
        records = [r for r in csv.reader(lines, delimiter=delimiter) if r]
        expected = width if width is not None else len(records[0]) if records else 0
        if expected < 2:
            continue
        rows = records if width is not None else records[1:]
        score = 1 + sum(len(r) == expected for r in rows)
        if score > best_score:
            best, best_score = delimiter, score
    return best


@dataclass(frozen=True)
class RawRow:
    """One input row: its 1-based number, its values, or why it could not be read.

    ``line`` is the physical line of the file where the row starts (CSV, JSONL), for
    messages a person can jump to; ``None`` for Parquet.
    """

    number: int
    values: dict[str, Any] | None
    error: str | None = None
    raw: Any = None
    line: int | None = None

    @property
    def where(self) -> str:
        """``row 12 (line 14)``: how messages point at the row."""
        return f"row {self.number}" + (f" (line {self.line})" if self.line is not None else "")


class DumpReader:
    """Streams the rows of one dump; ``position`` / ``size`` tell how far it has read.

    A line that is not valid in ``encoding`` does not stop the read: its row comes back
    as an error (quarantined by the caller) and reading goes on. ``header`` names the
    columns of a CSV file that has no header row. ``delimiter`` is the CSV delimiter;
    ``None`` sniffs it (:func:`sniff_delimiter`), and ``self.delimiter`` then tells which.
    """

    def __init__(self, path: Path, fmt: str | None = None, encoding: str = "utf-8",
                 header: Sequence[str] | None = None, delimiter: str | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DumpError(f"{self.path}: no such file")
        self.format = fmt or dump_format(self.path)
        if self.format not in set(FORMATS.values()):
            raise DumpError(f"{self.path}: unknown format {self.format!r}")
        try:
            "".encode(encoding)
        except LookupError:
            raise DumpError(f"unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)"
                            ) from None
        self.encoding = encoding
        self.header = list(header) if header is not None else None
        if delimiter is not None:
            _check_delimiter(delimiter)
        self.delimiter = delimiter
        self.index_column = False  # whether a leading unnamed index column is left out
        self._bad_lines: dict[int, str] = {}
        self._line = 0
        self.columns: list[str] = []
        self._bytes_read = 0
        self._parquet = None
        if self.format == "parquet":
            import pyarrow.parquet as pq

            try:
                self._parquet = pq.ParquetFile(self.path)
            except Exception as exc:  # pyarrow raises several types for a bad file
                raise DumpError(f"{self.path}: not a readable Parquet file ({exc})") from exc
            self.columns = list(self._parquet.schema_arrow.names)
            self.size = self._parquet.metadata.num_rows
        else:
            self.size = self.path.stat().st_size
        self._rows_seen = 0

    @property
    def position(self) -> int:
        """Bytes read (CSV/JSONL) or rows read (Parquet), comparable with ``size``."""
        if self._parquet is not None:
            return self._rows_seen
        return self._bytes_read

    def rows(self, batch_size: int = 4096) -> Iterator[RawRow]:
        if self.format == "parquet":
            yield from self._parquet_rows(batch_size)
        elif self.format == "csv":
            yield from self._csv_rows()
        else:
            yield from self._jsonl_rows()

    def _text_lines(self) -> Iterator[str]:
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                self._bytes_read += len(line)
                self._line = number
                try:
                    text = line.decode(self.encoding)
                except UnicodeDecodeError as exc:
                    # Kept readable so the row around it can be reported, then rejected.
                    self._bad_lines[number] = (
                        f"line {number} is not valid {self.encoding} (byte "
                        f"0x{line[exc.start]:02x} at column {exc.start + 1}); re-encode the "
                        "file or give its encoding")
                    text = line.decode(self.encoding, errors="replace")
                if number == 1 and text.startswith("\ufeff"):
                    text = text[1:]  # a byte-order mark is not part of the first column name
                yield text

    def _encoding_error(self, first: int, last: int) -> str | None:
        for number in range(first, last + 1):
            if number in self._bad_lines:
                return self._bad_lines.pop(number)
        return None

    def _first_lines(self) -> list[str]:
        """The file's first lines, decoded leniently: the sample the delimiter is sniffed from."""
        lines = []
        with self.path.open("rb") as fh:
            for line in iter(lambda: fh.readline(1 << 16), b""):
                lines.append(line.decode(self.encoding, errors="replace"))
                if len(lines) == SNIFF_LINES:
                    break
        if lines:
            lines[0] = lines[0].removeprefix("\ufeff")
        return lines

    def _csv_rows(self) -> Iterator[RawRow]:
        if self.delimiter is None:
            width = len(self.header) if self.header is not None else None
            self.delimiter = sniff_delimiter(self._first_lines(), width)
        reader = csv.reader(self._text_lines(), delimiter=self.delimiter)
        if self.header is not None:
            header = list(self.header)
        else:
            try:
                header = next(reader)
            except StopIteration:
                raise DumpError(f"{self.path}: empty file (a CSV dump needs a header row)"
                                ) from None
            if error := self._encoding_error(1, reader.line_num):
                raise DumpError(f"{self.path}: the header row is unreadable: {error}")
            self.index_column = len(header) > 1 and header[0].strip() in INDEX_HEADERS
        self.columns = header[1:] if self.index_column else header
        number = 0
        while True:
            number += 1
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRow(number, None, f"unreadable CSV row ({exc})", line=start)
                continue
            if not record:
                number -= 1  # a blank line is not a row (as in JSONL)
                continue
            if error := self._encoding_error(start, reader.line_num):
                yield RawRow(number, None, error, raw=record, line=start)
                continue
            if len(record) != len(header):
                yield RawRow(number, None, f"expected {len(header)} fields, found "
                                           f"{len(record)}", raw=record, line=start)
                continue
            values = record[1:] if self.index_column else record
            yield RawRow(number, dict(zip(self.columns, values, strict=True)), line=start)

    def _jsonl_rows(self) -> Iterator[RawRow]:
        number = 0
        for line in self._text_lines():
            if not line.strip():
                continue  # blank lines are not rows
            number += 1
            where = self._line
            if error := self._encoding_error(where, where):
                yield RawRow(number, None, error, raw=line.rstrip("\n"), line=where)
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RawRow(number, None, f"invalid JSON ({exc.msg})", raw=line.rstrip("\n"),
                             line=where)
                continue
            if not isinstance(value, dict):
                yield RawRow(number, None, f"expected a JSON object, found "
                                           f"{type(value).__name__}", raw=value, line=where)
                continue
            for key in value:
                if key not in self.columns:
                    self.columns.append(key)
            yield RawRow(number, value, line=where)

    def _parquet_rows(self, batch_size: int) -> Iterator[RawRow]:
        for batch in self._parquet.iter_batches(batch_size=batch_size):
            for values in batch.to_pylist():
                self._rows_seen += 1
                yield RawRow(self._rows_seen, values)


def peek_columns(path: Path, fmt: str | None = None, encoding: str = "utf-8",
                 delimiter: str | None = None) -> list[str]:
    """The dump's columns: the CSV header (less an index column), the Parquet schema, or the
    first JSONL object's keys."""
    reader = DumpReader(path, fmt, encoding, delimiter=delimiter)
    if reader.format == "parquet":
        return reader.columns
    for row in reader.rows():
        if reader.format == "csv" or row.values is not None:
            return reader.columns
    return reader.columns


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def row_to_post(row: RawRow, columns: ColumnMap, source: str) -> Post:
    """Turn a row into a post, or raise :class:`RowError` with the reason."""
    if row.values is None:
        raise RowError(row.error or "unreadable row")
    values = row.values
    text = values.get(columns.text)
    if text is None:
        raise RowError(f"no value in text column {columns.text!r}")
    if not isinstance(text, str):
        raise RowError(f"text column {columns.text!r} holds a {type(text).__name__}, not text")
    if not text.strip():
        raise RowError(f"empty text in column {columns.text!r}")
    post_id = _optional_text(values.get(columns.id)) if columns.id else None
    return Post(
        source=source,
        post_id=post_id or f"row-{row.number}",
        text=text,
        brand=_optional_text(values.get(columns.brand)) if columns.brand else None,
        author_id=_optional_text(values.get(columns.author)) if columns.author else None,
        created_at=_created_at(values, columns) if columns.time else None,
    )


def _created_at(values: dict[str, Any], columns: ColumnMap) -> datetime | None:
    try:
        return parse_time(values.get(columns.time), columns.time, columns.time_format)
    except RowError as exc:
        if columns.time_format is not None or "--time-format" in str(exc):
            raise
        raise RowError(f"{exc}; give its strptime format with --time-format") from None
