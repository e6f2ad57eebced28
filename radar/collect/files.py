"""File importers: review dumps and dataset exports into the post store.

One reader for every tabular format (:class:`nlp.dumps.DumpReader`, shared with
``radar score``) and one column mapping (:class:`nlp.dumps.ColumnMap`), plus built-in
mappings for the formats we know:

- ``csv`` / ``jsonl`` / ``parquet``: any review dump, columns named by ``ColumnMap``;
- ``airline-2015``: Twitter US Airline Sentiment (``Tweets.csv``, times in US Pacific; the
  release's "Delta" rows are JetBlue's, :func:`nlp.brands.airline_2015_brand`);
- ``complaints-2019``: Preotiuc-Pietro et al. (no header: id, text, is_complaint, domain);
- ``twcs``: Kaggle "Customer Support on Twitter" (inbound tweets are customers; the
  brand is the non-inbound author in the thread);
- ``snscrape``: snscrape's ``--jsonl`` output (tweets, toots, Reddit, Telegram).

Without a format, a file that looks like a known export (:func:`looks_like`: twcs or
airline-2015 by their CSV columns, in any order and after a pandas index column; snscrape
by its records' ``_type``) is imported as that; with another format forced, the result
(or the error) carries the hint to try the one it looks like.

Reading streams, so memory does not grow with the file (``twcs`` keeps sorted id pairs,
16 bytes per reply link, to find each customer's brand up its thread). Every row is accounted
for: rows in = new + already stored + rejected + skipped, and rejected rows go to the
store with their line number and reason.
"""

from __future__ import annotations

import re
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any

from nlp.brands import airline_2015_brand
from nlp.dumps import (
    FORMATS,
    ColumnMap,
    DumpError,
    DumpReader,
    RawRow,
    dump_format,
    peek_columns,
    row_to_post,
)
from nlp.errors import RowError
from nlp.times import parse_airline_time, parse_time
from nlp.types import Post
from radar.store import PostStore

IMPORT_FORMATS = ("csv", "jsonl", "parquet", "twcs", "airline-2015", "complaints-2019",
                  "snscrape")
TWCS_COLUMNS = ("tweet_id", "author_id", "inbound", "created_at", "text", "response_tweet_id",
                "in_response_to_tweet_id")
AIRLINE_COLUMNS = ("tweet_id", "airline", "name", "text", "tweet_created")
# The mirror's times carry no offset; the original release's read "... -0800", i.e.
# US Pacific time, which in February 2015 was UTC-8 with no daylight saving.
COMPLAINTS_HEADER = ("id", "text", "is_complaint", "domain")
# The formats :func:`looks_like` recognises, as hints name them.
KNOWN_EXPORTS = {"twcs": "a twcs export", "airline-2015": "an airline-2015 export",
                 "snscrape": "snscrape --jsonl output"}
_MENTION_RE = re.compile(r"(?<![\w@])@(\w+)")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# What converting one malformed row may raise (odd JSON types reaching a converter): the row
# is rejected with the message, the import goes on.
ROW_ERRORS = (RowError, ValueError, TypeError, OverflowError, KeyError, IndexError,
              AttributeError, RecursionError)

Progress = Callable[[int, int, int], None]  # (position, size, rows_done)


def guess_format(path: Path, encoding: str = "utf-8", delimiter: str | None = None) -> str:
    """The known export the file looks like (:func:`looks_like`), else its extension's format."""
    fmt = dump_format(path)
    return looks_like(path, encoding, delimiter) or fmt


def looks_like(path: Path, encoding: str = "utf-8", delimiter: str | None = None
               ) -> str | None:
    """``twcs``, ``airline-2015`` or ``snscrape`` where a file's header or first records are
    that export's, else ``None``.

    A CSV is twcs or airline-2015 when it has all of that export's columns, in any order
    (a pandas index column is not counted); a JSONL file is snscrape output when the first
    readable record of its first ten lines is.
    """
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt == "csv":
        found = set(peek_columns(path, "csv", encoding, delimiter))
        if found >= set(TWCS_COLUMNS):
            return "twcs"
        if found >= {*AIRLINE_COLUMNS, "airline_sentiment"}:
            return "airline-2015"
    elif fmt == "jsonl":
        from radar.collect.snscrape import is_snscrape_record

        rows = islice(DumpReader(path, "jsonl", encoding).rows(), 10)
        first = next((row.values for row in rows if row.values is not None), None)
        if is_snscrape_record(first):
            return "snscrape"
    return None


def _format_hint(path: Path, fmt: str, encoding: str, delimiter: str | None) -> str:
    """``this looks like a twcs export; try --format twcs`` where ``fmt`` is not what it looks
    like; empty otherwise (also where the file is too broken to tell)."""
    try:
        known = looks_like(path, encoding, delimiter)
    except DumpError:
        return ""
    if known is None or known == fmt:
        return ""
    return f"this looks like {KNOWN_EXPORTS[known]}; try --format {known}"


@dataclass(frozen=True)
class ImportResult:
    """What an import did; ``rows_in == posts_new + posts_seen + rejected + skipped``."""

    run_id: str
    path: Path
    format: str
    rows_in: int
    posts_new: int
    posts_seen: int
    rejected: int
    skipped: int
    skipped_reason: str
    no_brand: int
    first_rejects: tuple[tuple[str, str], ...]  # (where, reason) of the first few
    seconds: float
    hint: str = ""  # a forced format the file does not look like: the one to try instead


# A converter turns one row into a post, or a reason to skip it (not a customer post), or
# raises RowError/ValueError to reject it.
Converter = Callable[[RawRow], "Post | None"]


def _generic(columns: ColumnMap, source: str) -> Converter:
    def convert(row: RawRow) -> Post:
        post = row_to_post(row, columns, source)
        return replace(post, raw=row.values)
    return convert


def _airline(row: RawRow) -> Post:
    post = row_to_post(row, ColumnMap(text="text", id="tweet_id", brand="airline",
                                      author="name"), "airline-sentiment-2015")
    value = (row.values or {}).get("tweet_created") or ""
    try:
        created_at = parse_airline_time(value) if value.strip() else None
    except RowError:
        raise  # the format, but a time UTC cannot hold
    except ValueError:
        raise RowError(f"tweet_created {value[:40]!r} is neither DD-MM-YYYY HH:MM nor "
                       "YYYY-MM-DD HH:MM:SS -0800") from None
    return replace(post, created_at=created_at, raw=row.values,
                   brand=airline_2015_brand(post.brand, post.text))


def _complaints(row: RawRow) -> Post:
    post = row_to_post(row, ColumnMap(text="text", id="id"), "complaints-2019")
    return replace(post, raw=row.values)


def _snscrape(row: RawRow) -> Post:
    from radar.collect.snscrape import post_from_snscrape

    if row.values is None:
        raise RowError(row.error or "unreadable row")
    return post_from_snscrape(row.values)


class _TwcsBrands:
    """Which brand each customer tweet in a twcs file belongs to, from a first pass.

    Brand replies name the customer tweet they answer (``in_response_to_tweet_id``); a
    customer's follow-up answers a brand tweet, or the customer's own earlier tweet, up a
    thread that reaches the brand somewhere. Sorted int64 id pairs (16 bytes per link:
    brand tweets, brand replies, customer reply links) keep this compact instead of dicts
    of millions of entries.
    """

    MAX_HOPS = 50  # a thread deeper than this is not followed further

    def __init__(self, reader: DumpReader):
        answered, answered_by = array("q"), array("q")
        tweets, tweet_brand = array("q"), array("q")
        inbound, inbound_parent = array("q"), array("q")
        self.brands: list[str] = []
        index: dict[str, int] = {}
        for row in reader.rows():
            values = row.values
            if values is None:
                continue
            tweet_id = _int_or_none(values.get("tweet_id"))
            parent = _int_or_none(values.get("in_response_to_tweet_id"))
            flag = str(values.get("inbound", "")).strip().lower()
            if flag == "true":
                if tweet_id is not None and parent is not None:
                    inbound.append(tweet_id)
                    inbound_parent.append(parent)
                continue
            author = str(values.get("author_id") or "").strip()
            if flag != "false" or not author:
                continue
            brand = index.setdefault(author, len(index))
            if brand == len(self.brands):
                self.brands.append(author)
            if tweet_id is not None:
                tweets.append(tweet_id)
                tweet_brand.append(brand)
            if parent is not None:
                answered.append(parent)
                answered_by.append(brand)
        import numpy as np

        self._np = np
        self._answered, self._answered_by = _sorted_pair(np, answered, answered_by)
        self._tweets, self._tweet_brand = _sorted_pair(np, tweets, tweet_brand)
        self._inbound, self._inbound_parent = _sorted_pair(np, inbound, inbound_parent)
        self._handles = {name.casefold(): name for name in self.brands}

    def _lookup(self, keys, values, key: int | None) -> int | None:
        if key is None or not len(keys):
            return None
        at = int(self._np.searchsorted(keys, key))
        if at < len(keys) and keys[at] == key:
            return int(values[at])
        return None

    def brand_of(self, tweet_id: int | None, in_response_to: int | None, text: str) -> str | None:
        """The brand this tweet answers or that answered it, up its thread; else the brand
        account it @-names; else None."""
        current, parent = tweet_id, in_response_to
        for _ in range(self.MAX_HOPS):
            brand = self._lookup(self._tweets, self._tweet_brand, parent)
            if brand is None:
                brand = self._lookup(self._answered, self._answered_by, current)
            if brand is not None:
                return self.brands[brand]
            if parent is None:
                break
            current, parent = parent, self._lookup(self._inbound, self._inbound_parent, parent)
        for handle in _MENTION_RE.findall(text):
            if (found := self._handles.get(handle.casefold())) is not None:
                return found
        return None


def _sorted_pair(np, keys: array, values: array):
    keys_np = np.frombuffer(keys, dtype=np.int64) if len(keys) else np.zeros(0, np.int64)
    values_np = np.frombuffer(values, dtype=np.int64) if len(values) else np.zeros(0, np.int64)
    order = np.argsort(keys_np, kind="stable")
    return keys_np[order], values_np[order]


def _int_or_none(value: Any) -> int | None:
    """A tweet id as an int64 (what the thread arrays hold); ``None`` for anything else."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        number = int(float(text)) if "." in text else int(text)
    except (ValueError, OverflowError):  # "abc", "nan", "1.5e400"
        return None
    return number if INT64_MIN <= number <= INT64_MAX else None


def _twcs(brands: _TwcsBrands) -> Converter:
    def convert(row: RawRow) -> Post | None:
        if row.values is None:
            raise RowError(row.error or "unreadable row")
        values = row.values
        inbound = str(values.get("inbound", "")).strip().lower()
        if inbound == "false":
            return None  # the brand's own reply: not a customer post
        if inbound != "true":
            raise RowError(f"inbound is {values.get('inbound')!r}, expected True or False")
        post = row_to_post(row, ColumnMap(text="text", id="tweet_id", author="author_id"),
                           "twcs")
        created_at = parse_time(str(values.get("created_at") or "").strip(), "created_at")
        parent = _int_or_none(values.get("in_response_to_tweet_id"))
        brand = brands.brand_of(_int_or_none(values.get("tweet_id")), parent, post.text)
        return replace(post, created_at=created_at, brand=brand,
                       parent_id=str(parent) if parent is not None else None, raw=values)
    return convert


def _reader_and_converter(path: Path, fmt: str, columns: ColumnMap, source: str | None,
                          encoding: str) -> tuple[DumpReader, Converter, str]:
    """The reader for ``path`` in ``fmt`` and the converter for its rows, checked up front."""
    def reader(kind: str, **options) -> DumpReader:
        return DumpReader(path, kind, encoding, delimiter=columns.delimiter, **options)

    def header(kind: str) -> list[str]:
        return peek_columns(path, kind, encoding, columns.delimiter)

    if fmt in ("csv", "jsonl", "parquet"):
        resolved = columns.resolve(header(fmt), path)
        # The resolved path, not the name: two folders' reviews.csv must not share row-N ids.
        return reader(fmt), _generic(resolved, source or f"file:{path.resolve()}"), ""
    if fmt == "airline-2015":
        found = header("csv")
        if missing := [c for c in AIRLINE_COLUMNS if c not in found]:
            raise DumpError(f"{path}: not an airline-2015 export: no columns {missing} "
                            f"(found {found})")
        return reader("csv"), _airline, ""
    if fmt == "complaints-2019":
        return reader("csv", header=COMPLAINTS_HEADER), _complaints, ""
    if fmt == "twcs":
        found = header("csv")
        if missing := [c for c in TWCS_COLUMNS if c not in found]:
            raise DumpError(f"{path}: not a twcs export: no columns {missing} (found {found}); "
                            f"expected {', '.join(TWCS_COLUMNS)}")
        return reader("csv"), _twcs(_TwcsBrands(reader("csv"))), "the brands' own replies"
    if fmt == "snscrape":
        return reader("jsonl"), _snscrape, ""
    raise DumpError(f"unknown import format {fmt!r}; use one of {', '.join(IMPORT_FORMATS)}")


def iter_import(path: Path, fmt: str, columns: ColumnMap = ColumnMap(),
                source: str | None = None, encoding: str = "utf-8"
                ) -> tuple[DumpReader, Iterator[tuple[RawRow, Post | None, str | None]], str]:
    """Stream ``(row, post, None)``, ``(row, None, None)`` (skipped) or ``(row, None, reason)``."""
    reader, convert, skipped_reason = _reader_and_converter(Path(path), fmt, columns, source,
                                                            encoding)

    def rows() -> Iterator[tuple[RawRow, Post | None, str | None]]:
        for row in reader.rows():
            try:
                yield row, convert(row), None
            except ROW_ERRORS as exc:
                yield row, None, _reason(exc)
    return reader, rows(), skipped_reason


def _reason(exc: Exception) -> str:
    """A rejected row's reason: the message of a RowError or ValueError (written for people),
    the type as well for anything else; lone surrogates escaped, so the store can hold it."""
    reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
    return reason.encode("utf-8", "backslashreplace").decode("utf-8")


def import_file(path: Path, store: PostStore, fmt: str | None = None,
                columns: ColumnMap = ColumnMap(), brand: str | None = None,
                source: str | None = None, encoding: str = "utf-8", chunk_size: int = 2000,
                progress: Progress | None = None, max_reported: int = 10) -> ImportResult:
    """Import a file into ``store``, a chunk per transaction; see the module docstring.

    Args:
        fmt: one of :data:`IMPORT_FORMATS`; ``None`` guesses from the extension and header.
            A forced format the file does not look like sets ``ImportResult.hint`` (and
            ends a whole-file error) with the format to try.
        brand: given to posts that have none (a dump of one brand's reviews).
        source: the posts' ``source`` for generic dumps (default ``file:<absolute path>``),
            so ``row-N`` ids of files without an id column never collide across files. Give
            one when the same dump may be imported again from another place.

    Raises:
        DumpError: the file as a whole cannot be imported (missing, unknown format, missing
            columns, unreadable header, bad delimiter); nothing is stored.
    """
    path = Path(path)
    if not path.is_file():
        raise DumpError(f"{path}: no such file")
    if chunk_size < 1:
        raise DumpError(f"chunk_size must be >= 1, got {chunk_size}")
    forced = fmt is not None
    fmt = fmt or guess_format(path, encoding, columns.delimiter)
    hint = _format_hint(path, fmt, encoding, columns.delimiter) if forced else ""
    started = time.perf_counter()
    try:
        reader, rows, skipped_reason = iter_import(path, fmt, columns, source, encoding)
    except DumpError as exc:
        if hint:
            raise DumpError(f"{exc}; {hint}") from exc
        raise
    run_id = store.start_run("import", fmt, str(path.resolve()), brand)
    rows_in = new = seen = rejected = skipped = no_brand = 0
    first: list[tuple[str, str]] = []
    posts: list[Post] = []
    rejects: list[tuple[int, str, Any]] = []

    def flush() -> None:
        nonlocal new, seen
        counts = store.add_rows(run_id, posts, rejects)
        new, seen = new + counts.new, seen + counts.seen
        posts.clear()
        rejects.clear()
        if progress is not None:
            progress(reader.position, reader.size, rows_in)

    try:
        for row, post, reason in rows:
            rows_in += 1
            if reason is not None:
                rejected += 1
                rejects.append((row.line or row.number, f"{row.where}: {reason}",
                                row.values if row.values is not None else row.raw))
                if len(first) < max_reported:
                    first.append((row.where, reason))
            elif post is None:
                skipped += 1
            else:
                if post.brand is None and brand is not None:
                    post = replace(post, brand=brand)
                no_brand += post.brand is None
                posts.append(post)
            if len(posts) + len(rejects) >= chunk_size:
                flush()
        flush()
    except KeyboardInterrupt:
        store.finish_run(run_id, "interrupted", f"stopped by the user after {rows_in} rows; "
                         "importing again is safe (posts are upserted)")
        raise
    except Exception as exc:
        store.finish_run(run_id, "failed", f"after {rows_in} rows: {exc}; the rows stored so "
                         "far are kept, and importing again is safe")
        raise
    if rows_in != new + seen + rejected + skipped:
        raise RuntimeError(f"import accounting broke: {rows_in} rows in, {new} new + {seen} "
                           f"seen + {rejected} rejected + {skipped} skipped")
    store.finish_run(run_id, "done", f"{rows_in} rows: {new} new, {seen} already stored, "
                     f"{rejected} rejected, {skipped} skipped")
    return ImportResult(run_id=run_id, path=path, format=fmt, rows_in=rows_in, posts_new=new,
                        posts_seen=seen, rejected=rejected, skipped=skipped,
                        skipped_reason=skipped_reason, no_brand=no_brand,
                        first_rejects=tuple(first), seconds=time.perf_counter() - started,
                        hint=hint)
