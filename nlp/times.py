"""Times as posts and dumps give them, read into UTC datetimes: one home for every reader.

:func:`parse_time` reads what dumps, exports and platform APIs write without being told
the format (:data:`KNOWN_FORMATS`), or a ``strptime`` format when one is given;
:func:`parse_airline_time` the airline-2015 dataset's own formats. A time that cannot be
read raises :class:`~nlp.errors.RowError`, the quarantine reason.
"""

from __future__ import annotations

import re
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
    digit strings, are milliseconds from :data:`EPOCH_MS_FROM` (1e11) up, else seconds.
    ``time_format`` (a ``strptime`` format) overrides the guessing for text. Naive times are
    taken as UTC.

    Raises:
        RowError: the value is none of these; the message names the formats tried.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(value, value, column)
    elif isinstance(value, str) and time_format is not None:
        try:
            moment = datetime.strptime(value.strip(), time_format)
        except ValueError:
            raise RowError(f"time {value[:40]!r} in column {column!r} does not match "
                           f"{time_format!r}") from None
    elif isinstance(value, str):
        moment = _from_text(value, column)
    else:
        raise RowError(f"time in column {column!r} is a {type(value).__name__}, not a time")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _from_text(value: str, column: str) -> datetime:
    text = value.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    if _EPOCH_RE.fullmatch(text):
        return _from_epoch(float(text) if "." in text else int(text), value, column)
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
    seconds = number / 1000 if abs(number) >= EPOCH_MS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise RowError(f"time {value!r} in column {column!r} is out of range") from exc


def parse_airline_time(value: str) -> datetime:
    """An airline-2015 ``tweet_created`` -> UTC datetime.

    Kaggle's original ``Tweets.csv`` writes ``2015-02-24 11:35:52 -0800``; the mirror writes
    ``DD-MM-YYYY HH:MM`` without the offset (its README says ``HH.MM``), which is US Pacific
    time (UTC-8). All three are read.
    """
    text = value.strip()
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z").astimezone(UTC)
    except ValueError:
        pass
    local = datetime.strptime(text.replace(".", ":"), "%d-%m-%Y %H:%M")
    return (local - AIRLINE_UTC_OFFSET).replace(tzinfo=UTC)
