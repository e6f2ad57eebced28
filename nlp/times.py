"""Times as posts and dumps give them, read into UTC datetimes: one home for every reader.

:func:`parse_time` reads what dumps, exports and platform APIs write without being told
the format (:data:`KNOWN_FORMATS`), or a ``strptime`` format when one is given;
:func:`parse_airline_time` the airline-2015 dataset's own formats. A time that cannot be
read raises :class:`~nlp.errors.RowError`, the quarantine reason.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from nlp.errors import RowError

AIRLINE_UTC_OFFSET = timedelta(hours=-8)  # the mirror's airline times are US Pacific
TWITTER_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Tue Oct 31 22:10:47 +0000 2017" (API v1.1)
# Epoch numbers at least this large are milliseconds: as seconds they would be after the
# year 5138, as milliseconds they are after March 1973.
EPOCH_MS_FROM = 10**11
KNOWN_FORMATS = ("ISO 8601", "year-first slashes ('2017/10/31 22:10')",
                 "Twitter's 'Tue Oct 31 22:10:47 +0000 2017'",
                 "RFC 2822 ('Tue, 31 Oct 2017 22:10:47 +0000')",
                 "epoch seconds or milliseconds")
_EPOCH_RE = re.compile(r"[+-]?\d+(\.\d*)?")
# Year first with slashes, as spreadsheets and some exports write it: "2017/10/31",
# "2017/10/31 22:10", "2017/10/31 22:10:47" (no offset: UTC).
_SLASH_RE = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
# Day or month first ("07/03/2020"): which comes first is not knowable from one value.
_AMBIGUOUS_RE = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}(?:[ T].*)?")
# RFC 2822's shape, checked first: email.utils' parser also takes things that are not
# dates in it ("Tue May 14 2024 17:58"), which should not pass as times.
_RFC2822_RE = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+"
                         r"\d{1,2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|UT|GMT|Z|[ECMP][SD]T)")


def parse_time(value: Any, column: str, time_format: str | None = None) -> datetime | None:
    """A time as dumps write it -> UTC datetime; ``None`` for an empty value.

    Without ``time_format``, text is tried as ISO 8601 (``2017-10-31T22:10:47Z``,
    ``20171031``), year-first slashes (``2017/10/31 22:10``), Twitter's
    ``Tue Oct 31 22:10:47 +0000 2017``, RFC 2822 (``Tue, 31 Oct 2017 22:10:47 +0000``), then
    as an epoch number; day- or month-first dates (``07/03/2020``) are refused, since one
    value cannot say which comes first. Epoch times, numbers or
    digit strings, are milliseconds from :data:`EPOCH_MS_FROM` (1e11) up, else seconds; a
    digit string is ISO 8601 only as an eight-digit date (Python reads longer ones, such
    as ``1111111111111``, as odd ISO times). ``time_format`` (a ``strptime`` format)
    overrides the guessing for text. Naive times are taken as UTC.

    Raises:
        RowError: the value is none of these, or a time that UTC cannot hold (before year 1
            or after 9999 once its offset is applied); the message names the formats tried.
    """
    if value is None or (isinstance(value, str) and value == ""):
        return None
    try:
        moment = _parse(value, column, time_format)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except RowError:
        raise
    except (OverflowError, ValueError) as exc:
        # "9999-12-31T23:00:00-08:00" is a valid time whose UTC is in year 10000.
        raise RowError(f"time {_shown(value)} in column {column!r} is out of range for a "
                       f"UTC time ({exc})") from None


def _parse(value: Any, column: str, time_format: str | None) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(value, value, column)
    if isinstance(value, str) and time_format is not None:
        try:
            return datetime.strptime(value.strip(), time_format)
        except ValueError:
            raise RowError(f"time {value[:40]!r} in column {column!r} does not match "
                           f"{time_format!r}") from None
    if isinstance(value, str):
        return _from_text(value, column)
    raise RowError(f"time in column {column!r} is a {type(value).__name__}, not a time")


def _shown(value: Any) -> str:
    """``value`` for a message: its repr, cut to 40 characters (an int of 5,000 digits has
    no repr at all)."""
    try:
        shown = repr(value)
    except ValueError:
        return f"<a number of more than {sys.get_int_max_str_digits():,} digits>"
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _from_text(value: str, column: str) -> datetime:
    text = value.strip()
    epoch = _EPOCH_RE.fullmatch(text)
    if not epoch or len(text) == 8:  # "20171031" is ISO 8601's basic date
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    if epoch:
        try:
            number = float(text) if "." in text else int(text)
        except ValueError:  # more digits than Python turns into an int
            raise RowError(f"time {_shown(value)} in column {column!r} is out of range") from None
        return _from_epoch(number, value, column)
    slash = _SLASH_RE.fullmatch(text)
    if slash:
        try:
            return datetime(*(int(part or 0) for part in slash.groups()))
        except ValueError:
            pass  # the shape, but no such date ("2017/02/31")
    try:
        return datetime.strptime(text, TWITTER_TIME_FORMAT)
    except ValueError:
        pass
    if _RFC2822_RE.fullmatch(text):
        try:
            return parsedate_to_datetime(text)
        except ValueError:
            pass  # the shape, but no such date ("31 Feb 2017 ...")
    if _AMBIGUOUS_RE.fullmatch(text):
        raise RowError(f"time {value[:40]!r} in column {column!r} puts the day or the month "
                       "first, and one value cannot say which: give --time-format, e.g. "
                       "'%d/%m/%Y %H:%M' or '%m/%d/%Y %H:%M'")
    raise RowError(f"unparseable time {value[:40]!r} in column {column!r} (expected "
                   f"{', '.join(KNOWN_FORMATS)})")


def _from_epoch(number: int | float, value: Any, column: str) -> datetime:
    try:
        seconds = number / 1000 if abs(number) >= EPOCH_MS_FROM else number
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise RowError(f"time {_shown(value)} in column {column!r} is out of range") from exc


def parse_airline_time(value: str) -> datetime:
    """An airline-2015 ``tweet_created`` -> UTC datetime.

    Kaggle's original ``Tweets.csv`` writes ``2015-02-24 11:35:52 -0800``; the mirror writes
    ``DD-MM-YYYY HH:MM`` without the offset (its README says ``HH.MM``), which is US Pacific
    time (UTC-8). All three are read.

    Raises:
        ValueError: the value is in none of these formats.
        RowError: (a ValueError) it is, but its UTC time is after year 9999 or before year 1.
    """
    text = value.strip()
    try:
        try:
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z").astimezone(UTC)
        except ValueError:
            pass
        local = datetime.strptime(text.replace(".", ":"), "%d-%m-%Y %H:%M")
        return (local - AIRLINE_UTC_OFFSET).replace(tzinfo=UTC)
    except OverflowError:
        raise RowError(f"tweet_created {text[:40]!r} is out of range for a UTC time") from None
