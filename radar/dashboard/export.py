"""CSV exports of the dashboard's tables: the overview (one row per brand) and a brand's
at-risk customers (one row per post), built from the same view models as the pages, so a
file holds what the page shows: pseudonyms, masked texts.

Text cells that a spreadsheet would read as a formula get a leading ``'``
(:func:`nlp.spreadsheet.spreadsheet_safe`, the rule every CSV of the project follows).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from nlp.spreadsheet import spreadsheet_safe
from radar.dashboard.views import TOP_DRIVERS, BrandRow, CustomerView, percent

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
SHARE_DIGITS = 4

OVERVIEW_COLUMNS = (
    "brand", "at_risk_share", "ci_low", "ci_high", "ci_method", "trend", "trend_change",
    *(f"driver_{i}{part}" for i in range(1, TOP_DRIVERS + 1) for part in ("", "_share")),
    "customers", "posts", "ranked", "window_start_utc", "window_end_utc", "partial",
    "updated_utc", "model_version", "score_version")
CUSTOMER_COLUMNS = ("brand", "window_start_utc", "window_end_utc", "customer", "risk",
                    "drivers", "post_time_utc", "post_source", "post_text", "post_url")


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A header and rows as CSV text, every cell through
    :func:`nlp.spreadsheet.spreadsheet_safe` (numbers stay numbers)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return out.getvalue()


def _time(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _share(value: float | None) -> float | str:
    return "" if value is None else round(value, SHARE_DIGITS)


def _flag(value: bool) -> str:
    return "yes" if value else "no"


def overview_csv(rows: Sequence[BrandRow]) -> str:
    """The overview's table, one row per brand in its order."""
    def cells(row: BrandRow) -> list[object]:
        drivers: list[object] = []
        for i in range(TOP_DRIVERS):
            d = row.drivers[i] if i < len(row.drivers) else None
            drivers += [d.label, _share(d.share)] if d else ["", ""]
        return [row.brand, _share(row.at_risk_share), _share(row.ci_low), _share(row.ci_high),
                row.ci_method, row.trend, _share(row.trend_change), *drivers, row.customers,
                row.posts, _flag(row.ranked), _time(row.window_start), _time(row.window_end),
                _flag(row.partial), _time(row.computed_at), row.model_version,
                row.score_version]

    return write_csv(OVERVIEW_COLUMNS, (cells(r) for r in rows))


def customers_csv(row: BrandRow, customers: Sequence[CustomerView]) -> str:
    """The brand page's customers table for the window of ``row``: one row per post (a
    customer without a stored post gets one row with the post cells empty)."""
    window = [row.brand, _time(row.window_start), _time(row.window_end)]
    lines = []
    for c in customers:
        who = [*window, c.pseudonym, _share(c.risk),
               "; ".join(f"{d.label} {percent(d.share, 0)}" for d in c.drivers)]
        lines += [[*who, _time(p.created_at), p.source, p.text, p.url or ""]
                  for p in c.posts] or [[*who, "", "", "", ""]]
    return write_csv(CUSTOMER_COLUMNS, lines)


def csv_filename(*parts: str) -> str:
    """``complaint-radar_<parts>.csv`` with only letters, digits, dots and dashes (a
    header-safe name whatever the brand is called)."""
    safe = [re.sub(r"[^A-Za-z0-9.-]+", "-", part).strip("-") or "x" for part in parts]
    return "_".join(["complaint-radar", *safe]) + ".csv"
