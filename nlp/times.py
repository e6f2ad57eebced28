"""Times as posts and dumps give them, read into UTC datetimes: one home for every reader.

:func:`parse_time` reads what dumps and platform APIs write (ISO 8601, epoch seconds, a
``strptime`` format); :func:`parse_airline_time` the airline-2015 dataset's own formats.
A time that cannot be read raises :class:`~nlp.errors.RowError`, the quarantine reason.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nlp.errors import RowError

AIRLINE_UTC_OFFSET = timedelta(hours=-8)  # the mirror's airline times are US Pacific


def parse_time(value: Any, column: str, time_format: str | None = None) -> datetime | None:
    """ISO 8601 text (or ``time_format``), epoch seconds, or a datetime -> UTC.

    Naive times are taken as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and time_format is not None:
        try:
            moment = datetime.strptime(value.strip(), time_format)
        except ValueError:
            raise RowError(f"time {value[:40]!r} in column {column!r} does not match "
                           f"{time_format!r}") from None
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RowError(f"time {value!r} in column {column!r} is out of range") from exc
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RowError(f"unparseable time {value[:40]!r} in column {column!r} "
                           "(expected ISO 8601)") from None
    else:
        raise RowError(f"time in column {column!r} is a {type(value).__name__}, not a time")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


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
