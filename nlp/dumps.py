"""Reading review dumps and exports (CSV, JSONL, Parquet) as posts, row by row.

Streaming readers: memory does not grow with the file. A row that cannot become
a :class:`~nlp.types.Post` is not dropped: it comes back as a :class:`RawRow`
with the reason, for the caller to quarantine. ``ColumnMap`` is the column
mapping that batch scoring and the importers share.

CSV files are read as they are written in the wild: the delimiter (``,`` ``;`` tab ``|``)
is found from the header and first lines unless given, and a stray quote costs one row, not
the rest of the file (both in :mod:`nlp.csv_rows`); a leading unnamed column, the row index
``pandas.DataFrame.to_csv`` and R's ``write.csv`` write (header cell empty or
``Unnamed: 0``), is not a column of the dump.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nlp.csv_rows import (
    DELIMITERS,
    INDEX_HEADERS,
    CsvRecords,
    read_first_lines,
    sniff_delimiter,
)
from nlp.errors import RowError
from nlp.times import parse_time
from nlp.types import Post

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# Columns used when the mapping does not name one and the file has a column of that name.
DEFAULT_NAMES = {"text": ("text",), "id": ("id", "post_id", "tweet_id"), "brand": ("brand",),
                 "author": ("author_id", "author"), "time": ("created_at", "time", "date")}
# Nesting one JSONL record may have. A dump's records need a few levels; thousands make
# Python's parser (and every serialiser after it) run out of stack.
MAX_JSON_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape of a UTF-16 surrogate (\ud800-\udfff): json joins a high and a low one into
# one character and leaves a lone one in the string, where no encoder can write it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_FREE_CODECS = {"utf-8", "utf-8-sig", "ascii", "iso8859-1", "cp1252"}


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
                                f"columns are {_listed(columns)}")
            if chosen is None:
                chosen = next((name for name in defaults if name in columns), None)
            resolved[field] = chosen
        if resolved["text"] is None:
            split = len(columns) == 1 and any(d in columns[0] for d in DELIMITERS)
            raise DumpError(f"{path}: no text column; name it with --text-col "
                            f"(columns are {_listed(columns)})"
                            + ("; if the header is split by another delimiter, give it with "
                               "--delimiter" if split else ""))
        return ColumnMap(**resolved, time_format=self.time_format, delimiter=self.delimiter)

    def to_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "id": self.id, "brand": self.brand, "author": self.author,
                "time": self.time, "time_format": self.time_format, "delimiter": self.delimiter}


def _listed(columns: Sequence[str], most: int = 20) -> str:
    """The columns for a message: all of them, or the first ``most`` and how many more."""
    shown = list(columns[:most])
    return f"{shown}" + (f" and {len(columns) - most:,} more" if len(columns) > most else "")


def _check_delimiter(delimiter: str) -> None:
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise DumpError(f"delimiter {delimiter!r}: give one character other than a quote or "
                        "a line break, e.g. ',' ';' '|' or '\\t' (tab)")


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
    as an error (quarantined by the caller) and reading goes on. So does every other row
    that cannot be read: a JSONL line that is no JSON object, nests deeper than
    :data:`MAX_JSON_DEPTH` or holds a lone surrogate; a CSV row of the wrong width, with a
    field over ``csv.field_size_limit`` or a quote that is never closed (the row where it
    opens is set aside and reading resumes on the next line, so one stray quote costs one
    row, not the rest of the file); a Parquet value Python cannot hold. ``header`` names the
    columns of a CSV file that has no header row. ``delimiter`` is the CSV delimiter;
    ``None`` sniffs it (:func:`~nlp.csv_rows.sniff_delimiter`), and ``self.delimiter`` then
    tells which.
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
        # Codecs such as utf-7 or unicode_escape decode to lone surrogates; these cannot.
        self._may_surrogate = codecs.lookup(encoding).name not in _SURROGATE_FREE_CODECS
        self.header = list(header) if header is not None else None
        if delimiter is not None:
            _check_delimiter(delimiter)
        self.delimiter = delimiter
        self.index_column = False  # whether a leading unnamed index column is left out
        self._bad_lines: dict[int, str] = {}
        self._surrogate_lines: set[int] = set()  # lines the codec decoded to lone surrogates
        self.columns: list[str] = []
        self._column_set: set[str] = set()  # the JSONL columns seen, for linear-time lookups
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

    def _text_lines(self) -> Iterator[tuple[int, str]]:
        """``(line number, text)`` of each physical line, decoded leniently (see below)."""
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                self._bytes_read += len(line)
                try:
                    text = line.decode(self.encoding)
                except UnicodeDecodeError as exc:
                    # Kept readable so the row around it can be reported, then rejected.
                    self._bad_lines[number] = (
                        f"line {number} is not valid {self.encoding} (byte "
                        f"0x{line[exc.start]:02x} at column {exc.start + 1}); re-encode the "
                        "file or give its encoding")
                    text = line.decode(self.encoding, errors="replace")
                if self._may_surrogate and _SURROGATE.search(text):
                    self._surrogate_lines.add(number)
                if number == 1 and text.startswith("\ufeff"):
                    text = text[1:]  # a byte-order mark is not part of the first column name
                yield number, text

    def _encoding_error(self, first: int, last: int) -> str | None:
        for number in range(first, last + 1):
            if number in self._bad_lines:
                return self._bad_lines.pop(number)
        return None

    def _has_surrogate_line(self, first: int, last: int) -> bool:
        return any(n in self._surrogate_lines for n in range(first, last + 1))

    def _csv_rows(self) -> Iterator[RawRow]:
        """The CSV rows, from the records :class:`~nlp.csv_rows.CsvRecords` reads."""
        if self.delimiter is None:
            width = len(self.header) if self.header is not None else None
            self.delimiter = sniff_delimiter(read_first_lines(self.path, self.encoding), width)
        records = CsvRecords(self._text_lines(), self.delimiter)
        if self.header is not None:
            header = list(self.header)
        else:
            header = self._csv_header(records)
            self.index_column = len(header) > 1 and header[0].strip() in INDEX_HEADERS
        self.columns = header[1:] if self.index_column else header
        for number, read in enumerate(records.records(len(header)), start=1):
            lines = read.lines
            start, end = lines[0][0], lines[-1][0]
            if read.set_aside:  # a stray quote is why the line is rejected, not its bytes
                self._encoding_error(start, start)
                self._surrogate_lines.discard(start)
            if read.error is not None:
                yield RawRow(number, None, read.error,
                             raw=_escaped("".join(t for _, t in lines).rstrip("\r\n")),
                             line=start)
                continue
            record = read.fields
            reason = None
            if self._surrogate_lines and self._has_surrogate_line(start, end):
                self._surrogate_lines.difference_update(range(start, end + 1))
                names = header if len(header) == len(record) else range(1, len(record) + 1)
                reason = _surrogate_error(dict(zip(names, record, strict=True)))
                record = [_escaped(field) for field in record]  # storable as raw values
            if encoding_error := self._encoding_error(start, end):
                yield RawRow(number, None, encoding_error, raw=record, line=start)
                continue
            if reason is not None:
                yield RawRow(number, None, reason, raw=record, line=start)
                continue
            if len(record) != len(header):
                yield RawRow(number, None, f"expected {len(header)} fields, found "
                                           f"{len(record)}", raw=record, line=start)
                continue
            values = record[1:] if self.index_column else record
            yield RawRow(number, dict(zip(self.columns, values, strict=True)), line=start)

    def _csv_header(self, records: CsvRecords) -> list[str]:
        """The header row, or :class:`DumpError` where it cannot be read as one line of names."""
        header = records.header()
        if header.error is not None:
            raise DumpError(f"{self.path}: {header.error}")
        last = header.lines[-1][0]
        if error := self._encoding_error(1, last):
            raise DumpError(f"{self.path}: the header row is unreadable: {error}")
        if self._has_surrogate_line(1, last):
            raise DumpError(f"{self.path}: the header row holds a lone surrogate "
                            f"({_surrogate_in(header.fields)}) after decoding as "
                            f"{self.encoding}; give the file's real encoding")
        return header.fields

    def _jsonl_rows(self) -> Iterator[RawRow]:
        number = 0
        for where, line in self._text_lines():
            if not line.strip():
                continue  # blank lines are not rows
            number += 1
            if error := self._encoding_error(where, where):
                yield RawRow(number, None, error, raw=_escaped(line.rstrip("\n")), line=where)
                continue
            value, error = self._json_value(line, where)
            if error is not None:
                yield RawRow(number, None, error, raw=_escaped(line.rstrip("\n")), line=where)
                continue
            if not isinstance(value, dict):
                yield RawRow(number, None, f"expected a JSON object, found "
                                           f"{type(value).__name__}", raw=value, line=where)
                continue
            for key in value:
                if key not in self._column_set:
                    self._column_set.add(key)
                    self.columns.append(key)
            yield RawRow(number, value, line=where)

    def _json_value(self, line: str, where: int) -> tuple[Any, str | None]:
        """One JSONL line's value, or why it is no row: not JSON, too deep, a lone surrogate."""
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON ({exc.msg})"
        except RecursionError:
            return None, _TOO_DEEP
        except ValueError as exc:  # an integer of more digits than Python converts
            return None, f"invalid JSON ({_value_problem(exc)})"
        if (line.count("[") + line.count("{") > MAX_JSON_DEPTH
                and _deeper_than(value, MAX_JSON_DEPTH)):
            return None, _TOO_DEEP
        if where in self._surrogate_lines or ("\\u" in line and _SURROGATE_ESCAPE.search(line)):
            self._surrogate_lines.discard(where)
            if (reason := _surrogate_error(value)) is not None:
                return None, reason
        return value, None

    def _parquet_rows(self, batch_size: int) -> Iterator[RawRow]:
        batches = self._parquet.iter_batches(batch_size=batch_size)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception as exc:  # pyarrow raises several types for a corrupt page
                raise DumpError(f"{self.path}: the Parquet data after row {self._rows_seen:,} "
                                f"is unreadable ({exc}); the rows before it were read") from exc
            try:
                rows = batch.to_pylist()
            except _PARQUET_VALUE_ERRORS:
                rows = None  # some value Python cannot hold: find it row by row
            if rows is not None:
                for values in rows:
                    self._rows_seen += 1
                    yield RawRow(self._rows_seen, values)
                continue
            for index in range(batch.num_rows):
                self._rows_seen += 1
                yield parquet_row(batch, index, self._rows_seen)


_TOO_DEEP = (f"JSON nested deeper than {MAX_JSON_DEPTH} levels; expected one JSON object per "
             "line with a few levels at most (arrays or objects inside each other)")


def _value_problem(exc: ValueError) -> str:
    if "integer string conversion" in str(exc):
        return f"a number of more than {sys.get_int_max_str_digits():,} digits"
    return str(exc)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep in ``value`` (no recursion)."""
    if not isinstance(value, (dict, list)):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _surrogate_in(value: Any) -> str | None:
    """The first lone surrogate in a value (strings, keys, nested lists and dicts) as
    ``U+D800``; ``None`` if there is none."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if found := _SURROGATE.search(item):
                return f"U+{ord(found.group()):04X}"
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def _surrogate_error(value: Any) -> str | None:
    """The reason a row holding a lone surrogate is rejected, naming its column; ``None`` if
    it holds none. Such a string cannot be encoded as UTF-8, so neither the store, the
    scored file nor the tokenizer can take it."""
    if isinstance(value, dict):
        for name, item in value.items():
            if (code := _surrogate_in(name) or _surrogate_in(item)) is not None:
                return (f"column {name!r} holds a lone surrogate ({code}), half of a UTF-16 "
                        "pair and not text (a JSON \\udXXX escape without its partner, or a "
                        "file decoded with the wrong codec); expected Unicode text: fix the "
                        "row where it was written or re-export it")
        return None
    if (code := _surrogate_in(value)) is not None:
        return (f"the line holds a lone surrogate ({code}), half of a UTF-16 pair and not "
                "text; expected Unicode text: fix the row where it was written")
    return None


def _escaped(text: str) -> str:
    """``text`` with any lone surrogate written as ``\\ud800``, so it can be stored."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# What pyarrow raises turning a value into Python: invalid UTF-8 (a UnicodeDecodeError), a
# timestamp past year 9999 (OverflowError, ValueError), a type it cannot convert.
_PARQUET_VALUE_ERRORS = (ValueError, TypeError, ArithmeticError, NotImplementedError, IndexError)


def parquet_rows(batch, numbers: list[int]) -> list[RawRow]:
    """An Arrow batch's rows, numbered ``numbers``: each row's values, or (a row holding a
    value Python cannot hold) which columns fail and why. The Spark engine's reader."""
    try:
        return [RawRow(n, values) for n, values in zip(numbers, batch.to_pylist(), strict=True)]
    except _PARQUET_VALUE_ERRORS:
        return [parquet_row(batch, i, n) for i, n in enumerate(numbers)]


def parquet_row(batch, index: int, number: int) -> RawRow:
    """Row ``index`` of a batch one of whose values Python cannot hold: its values, or which
    columns fail and why."""
    try:
        return RawRow(number, batch.slice(index, 1).to_pylist()[0])
    except _PARQUET_VALUE_ERRORS:
        pass
    values: dict[str, Any] = {}
    problems = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            values[name] = column[index].as_py()
        except UnicodeDecodeError:
            problems.append(f"column {name!r} is not valid UTF-8 text")
            values[name] = None
        except _PARQUET_VALUE_ERRORS as exc:
            problems.append(f"column {name!r} holds a value Python cannot hold ({exc})")
            values[name] = None
    return RawRow(number, None, "; ".join(problems) + "; fix the value where the file was "
                  "written, or drop the row", raw=values)


def peek_columns(path: Path, fmt: str | None = None, encoding: str = "utf-8",
                 delimiter: str | None = None) -> list[str]:
    """The dump's columns: the CSV header (less an index column), the Parquet schema, or the
    first JSONL object's keys (lines that are no readable object are passed over)."""
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
    try:
        text = str(value).strip()
    except ValueError:  # an int of more digits than Python writes out
        raise RowError(f"a {type(value).__name__} too long to write as text") from None
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
