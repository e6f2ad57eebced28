"""The days a dashboard page covers: ``?from=YYYY-MM-DD&to=YYYY-MM-DD``, inclusive, in UTC.

A window (``[window_start, window_end)``, as the monitor stores it) is in the range when
it overlaps it, so a one-day range shows the window holding that day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from radar.store.history import HistoryPoint

FROM_PARAM, TO_PARAM = "from", "to"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(name: str, value: str | None) -> date | None:
    """A ``YYYY-MM-DD`` query value; None when absent or blank (an empty form field).

    Raises:
        ValueError: not a calendar date in that form; the message names the parameter.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a date; expected YYYY-MM-DD, "
                         "e.g. 2024-01-31") from None


@dataclass(frozen=True)
class DateRange:
    """The days a page shows, both ends included; an open end has no bound."""

    first_day: date | None = None
    last_day: date | None = None

    def __post_init__(self) -> None:
        if self.first_day and self.last_day and self.first_day > self.last_day:
            raise ValueError(f"{FROM_PARAM}={self.first_day} is after {TO_PARAM}="
                             f"{self.last_day}; pick a {FROM_PARAM} on or before the "
                             f"{TO_PARAM} date")

    @classmethod
    def parse(cls, first: str | None, last: str | None) -> DateRange:
        """The range of the ``from`` and ``to`` query values.

        Raises:
            ValueError: a value is not a date, or ``from`` is after ``to``.
        """
        return cls(parse_day(FROM_PARAM, first), parse_day(TO_PARAM, last))

    @property
    def is_set(self) -> bool:
        return self.first_day is not None or self.last_day is not None

    def covers(self, window_start: datetime, window_end: datetime) -> bool:
        """Whether the window ``[window_start, window_end)`` overlaps the range."""
        if self.last_day is not None and window_start.astimezone(UTC).date() > self.last_day:
            return False
        return self.first_day is None or \
            window_end > datetime.combine(self.first_day, time(), UTC)

    def select(self, history: Iterable[HistoryPoint]) -> list[HistoryPoint]:
        """The points whose window overlaps the range, in their order."""
        return [p for p in history if self.covers(p.window_start, p.window_end)]

    def params(self) -> dict[str, str]:
        """The query parameters that carry the range (none for the whole history)."""
        out = {}
        if self.first_day is not None:
            out[FROM_PARAM] = self.first_day.isoformat()
        if self.last_day is not None:
            out[TO_PARAM] = self.last_day.isoformat()
        return out

    def describe(self) -> str:
        """The days in words, after "the days": ``from 2024-01-08 to 2024-01-21``,
        ``from 2024-01-08 on``, ``up to 2024-01-21``."""
        if self.first_day and self.last_day:
            return f"from {self.first_day} to {self.last_day}"
        if self.first_day:
            return f"from {self.first_day} on"
        return f"up to {self.last_day}" if self.last_day else "of the whole history"
