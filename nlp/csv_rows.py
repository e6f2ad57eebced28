"""Reading CSV records as they are written in the wild: delimiter sniffing and stray quotes.

What :class:`nlp.dumps.DumpReader` needs to get a CSV dump's records out of its lines, kept
apart from the format-neutral rest (decoding, row numbers, encoding and surrogate checks,
posts), because CSV's quoting rules take most of the code and the reasoning:

- :func:`sniff_delimiter` finds the delimiter (``,`` ``;`` tab ``|``) from the header and
  first lines by parsing them with each candidate, not from character counts.
- :class:`CsvRecords` reads the records, each with the physical lines it came from.

Why stray quotes need care: a quoted field may hold line breaks, so a ``"`` that opens by
mistake makes the csv module read on to the next quote anywhere in the file, taking every
row between into one field, or to the end of the file. A record read over several lines is
therefore tested (:func:`_runaway_quote`): the file ends inside the quotes, the field grows
past ``csv.field_size_limit``, the row has the wrong number of fields, the closing quote is
followed by more text (``"a"b``, found by the csv module's strict mode), or the lines after
the first read as whole rows of their own (:func:`_rows_inside`, which may look up to
:data:`LOOK_AHEAD_LINES` lines ahead). Any of these and the quote is taken for a stray one:
the line where it opens comes back as a rejected record with the reason, and the lines it
swallowed are read again as rows from the next line on (:class:`_LineFeed` hands them
back), so one stray quote costs one row, not the rest of the file.

Only the standard library is used here; :mod:`nlp.dumps` turns records into rows.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DELIMITERS = (",", ";", "\t", "|")  # the ones sniffed; on a tie the earlier one wins
INDEX_HEADERS = ("", "Unnamed: 0")  # what pandas (and R) call the row index they write
SNIFF_LINES = 50  # lines read to find the delimiter
LOOK_AHEAD_LINES = 50  # lines read ahead to test a multi-line CSV record for a stray quote
QUOTE_ADVICE = 'write a quote inside a field as two: ""'


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
        records = _sample_records(lines, delimiter)
        expected = width if width is not None else len(records[0]) if records else 0
        if expected < 2:
            continue
        rows = records if width is not None else records[1:]
        score = 1 + sum(len(r) == expected for r in rows)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_first_lines(path: Path, encoding: str) -> list[str]:
    """The file's first lines, decoded leniently: the sample the delimiter is sniffed from."""
    lines = []
    with path.open("rb") as fh:
        for line in iter(lambda: fh.readline(1 << 16), b""):
            lines.append(line.decode(encoding, errors="replace"))
            if len(lines) == SNIFF_LINES:
                break
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    return lines


def _sample_records(lines: Sequence[str], delimiter: str) -> list[list[str]]:
    """The non-empty records of a sample, up to the first line the csv module cannot parse
    (a runaway quote, a bare carriage return): the sniffing judges by the lines before it."""
    records = []
    try:
        for record in csv.reader(lines, delimiter=delimiter):
            if record:
                records.append(record)
    except csv.Error:
        pass
    return records


@dataclass(frozen=True)
class CsvRecord:
    """One CSV record and the ``(line number, text)`` lines it was read from, or why it is no
    record (``fields`` is ``None``).

    ``set_aside``: the line where a stray quote opens (``lines`` holds it alone); the lines
    the quote ran on over are read again as records of their own.
    """

    lines: list[tuple[int, str]]
    fields: list[str] | None
    error: str | None = None
    set_aside: bool = False


class CsvRecords:
    """The records of a CSV file's numbered lines, read once, header first if it has one."""

    def __init__(self, lines: Iterator[tuple[int, str]], delimiter: str):
        self.delimiter = delimiter
        self._feed = _LineFeed(lines)
        self._reader = csv.reader(self._feed, delimiter=delimiter)

    def header(self) -> CsvRecord:
        """The header row, or why it cannot be read as one line of names (``error``; the
        caller names the file)."""
        feed = self._feed
        feed.start_record()
        try:
            header = next(self._reader)
        except StopIteration:
            return CsvRecord([], None, "empty file (a CSV dump needs a header row)")
        except csv.Error as exc:
            return CsvRecord(feed.taken, None, f"the header row (line 1) is unreadable "
                             f"({_csv_problem(str(exc))}); fix it or give the columns")
        last = feed.taken[-1][0]
        if feed.hit_end and last > 1:
            return CsvRecord(feed.taken, None, f"the header row (line 1) opens a quote that is "
                             f"never closed, so all {last} lines would be column names; fix "
                             f"the header ({QUOTE_ADVICE})")
        if last > 1 and (problem := _strict_problem(feed.taken, self.delimiter)):
            return CsvRecord(feed.taken, None, f"the header row (line 1) opens a quote that "
                             f"runs on to line {last} ({problem}); fix the header "
                             f"({QUOTE_ADVICE})")
        return CsvRecord(feed.taken, header)

    def records(self, width: int) -> Iterator[CsvRecord]:
        """The records after the header, blank lines left out; ``width``: the fields a row
        has, which tells a stray quote from a quoted field over several lines."""
        feed = self._feed
        while True:
            feed.start_record()
            record, error = None, None
            try:
                record = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                error = str(exc)
            lines = feed.taken
            if not lines:
                return  # nothing was left to read
            if record == []:
                continue  # a blank line is not a row (as in JSONL)
            if ((len(lines) > 1 or feed.hit_end)
                    and (runaway := _runaway_quote(record, error, feed, width, self.delimiter))):
                feed.read_again(lines[1:])  # the rows the quote swallowed are rows again
                yield CsvRecord(lines[:1], None, runaway, set_aside=True)
                continue
            if error is not None:
                yield CsvRecord(lines, None, f"unreadable CSV row ({_csv_problem(error)})")
                continue
            yield CsvRecord(lines, record)


class _LineFeed:
    """The lines a ``csv.reader`` reads: it remembers which physical lines the record being
    read took and whether it ran into the end of the file, and takes lines back to be read
    again (after a runaway quote, from the line after the one where the quote opened)."""

    def __init__(self, lines: Iterator[tuple[int, str]]):
        self._lines = lines
        self._again: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []
        self.hit_end = False

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self._again:
            item = self._again.popleft()
        else:
            item = next(self._lines, None)
            if item is None:
                self.hit_end = True
                raise StopIteration
        self.taken.append(item)
        return item[1]

    def start_record(self) -> None:
        self.taken = []
        self.hit_end = False

    def read_again(self, lines: list[tuple[int, str]]) -> None:
        self._again.extendleft(reversed(lines))

    def borrow(self) -> tuple[int, str] | None:
        """The next line, to look ahead (hand it back with :meth:`read_again`); ``None`` at
        the end."""
        return self._again.popleft() if self._again else next(self._lines, None)


def _runaway_quote(record: list[str] | None, error: str | None, feed: _LineFeed, width: int,
                   delimiter: str) -> str | None:
    """Why the record just read over several lines (or into the end of the file) is a quote
    that opened by mistake, not a quoted field with line breaks in it; ``None`` if it is not.

    A quoted field may hold line breaks, so a stray quote makes the csv module read on to
    the next quote, taking every row between into one field. The signs: the file ends inside
    the quotes, the field grows past the field size limit, the row comes out with the wrong
    number of fields, the quote that closes the field is followed by more text (``"a"b``),
    or the lines after the first read as whole rows of their own (:func:`_rows_inside`).
    """
    lines = feed.taken
    first, last = lines[0][0], lines[-1][0]
    if feed.hit_end and record is not None:
        what = f"is never closed (the file ends inside it, at line {last})"
    elif len(lines) == 1:
        return None
    elif error is not None:
        what = f"runs on past line {last} ({_csv_problem(error)})"
    elif len(record) != width:
        what = (f"runs on to line {last} and leaves the row with {len(record)} fields, "
                f"not {width}")
    elif problem := _strict_problem(lines, delimiter):
        what = f"runs on to line {last}, where a quote is followed by more text ({problem})"
    elif _rows_inside(feed, width, delimiter):
        what = (f"runs on to line {last}, over lines that read as rows of their own (it "
                "closes where a later row's quoted field opens)")
    else:
        return None
    again = (f"; line {first} is set aside and reading goes on at line {first + 1}"
             if len(lines) > 1 else "")
    return f"unbalanced quote: the quoted field that opens on line {first} {what}{again}; " \
           f"to fix the file, {QUOTE_ADVICE}"


def _rows_inside(feed: _LineFeed, width: int, delimiter: str) -> bool:
    """Whether the lines after the first of a well-formed record over several lines read as
    rows of their own, the last of them (the one holding the record's closing quote) a clean
    row: ``width`` fields, strict quoting, no quote inside an unquoted field, closed within
    :data:`LOOK_AHEAD_LINES` lines.

    That is what a stray quote closed by the opening quote of a later row's field looks
    like (``"stray`` ... ``id,"`` + line break + ``text",brand``), which the record alone
    cannot tell from a real multi-line field. A real one fails here: the quote that closes
    it stands inside an unquoted field, or opens a field that does not close cleanly. Both
    readings are valid CSV only where a multi-line text ends in a comma, quote or line break
    and a later text starts with one; the stray quote is chosen then, so a line is rejected
    where it can be seen, rather than rows vanishing into one field where they cannot.
    """
    inside = [text for _, text in feed.taken[1:]]
    borrowed: list[tuple[int, str]] = []

    def source() -> Iterator[str]:
        yield from inside
        for _ in range(LOOK_AHEAD_LINES):
            if (item := feed.borrow()) is None:
                return
            borrowed.append(item)
            yield item[1]

    counted = _Counted(source())
    reader = csv.reader(counted, delimiter=delimiter)
    try:
        while True:
            start = len(counted.lines)
            try:
                record = next(reader)
            except csv.Error:
                record = None  # a malformed row of its own, if it ends before the last line
            except StopIteration:
                return False
            if len(counted.lines) < len(inside):
                continue
            own = counted.lines[start:]
            return (record is not None and not counted.ended and len(record) == width
                    and _strict_problem(own, delimiter) is None
                    and not _bare_quote("".join(own), delimiter))
    finally:
        feed.read_again(borrowed)


class _Counted:
    """An iterator of lines that keeps the lines it has handed out, and knows when it ran
    out."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self.lines: list[str] = []
        self.ended = False

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> str:
        try:
            line = next(self._lines)
        except StopIteration:
            self.ended = True
            raise
        self.lines.append(line)
        return line


def _bare_quote(text: str, delimiter: str) -> bool:
    """Whether a quote stands inside an unquoted field of a record (``he said "hi"``) that
    the csv module's strict mode has accepted."""
    quoted, at_start, index = False, True, 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == '"':
                if text.startswith('"', index + 1):
                    index += 1  # a doubled quote, inside the field
                else:
                    quoted = False
        elif char == '"':
            if not at_start:
                return True
            quoted = True
        at_start = not quoted and char in (delimiter, "\n", "\r")
        index += 1
    return False


def _strict_problem(lines: Sequence[str] | Sequence[tuple[int, str]], delimiter: str
                    ) -> str | None:
    """What the csv module's strict mode finds wrong with these lines (texts, or numbered
    texts), if anything."""
    texts = (line if isinstance(line, str) else line[1] for line in lines)
    try:
        for _ in csv.reader(texts, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return str(exc)
    return None


def _csv_problem(error: str) -> str:
    """The csv module's error as a person can act on it."""
    if "field larger than field limit" in error:
        return (f"a field longer than {csv.field_size_limit():,} characters, the most one CSV "
                "field may hold")
    if "new-line character seen in unquoted field" in error:
        return ("a line break inside an unquoted field (a bare carriage return, \\r): quote "
                "the field or remove the \\r")
    return error
