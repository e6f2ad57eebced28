"""Per-brand risk reports from a scored file (the output of ``radar score``).

Reads the scored rows, gives each a brand (``nlp.brands``), scores customers and
brands (``nlp.risk``), and turns the result into records for JSON and CSV. Every
row is accounted for: scored into a customer, excluded with a reason, without a
brand, or unreadable (with the first reasons kept for the message).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import math
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from nlp.brands import BrandBook, BrandCounter
from nlp.dumps import DumpError, DumpReader, peek_columns
from nlp.errors import RowError
from nlp.risk import BrandWindow, Exclusions, RiskConfig, RiskPost, parse_window, score_brands
from nlp.taxonomy import THEME_KEYS
from nlp.times import parse_time
from nlp.trend import trend_label

REQUIRED = ("id", "p_complaint", "p_positive")
PSEUDONYM_ENV = "RADAR_PSEUDONYM_KEY"
EXAMPLES_KEPT = 5


class ReportError(ValueError):
    """The scored file cannot be reported on; the message says what was expected."""


@dataclass(frozen=True)
class Report:
    """Risk per brand and window, and the accounting of every input row."""

    windows: list[BrandWindow]
    window: str
    rows_in: int
    unreadable: int
    unreadable_examples: tuple[str, ...]
    without_brand: int
    brands_found: Mapping[str, int]  # how brands were found: column, mention, unknown, ...
    unknown_brands: Mapping[str, int]
    exclusions: Exclusions
    model_versions: tuple[str, ...]
    posts: Mapping[str, RiskPost]

    @property
    def latest_end(self) -> datetime | None:
        """End of the latest window; None when the posts are undated (one window)."""
        return max((w.risk.window_end for w in self.windows if w.risk.window_end is not None),
                   default=None)

    def latest(self) -> list[BrandWindow]:
        """Each brand's result in the latest window, highest at-risk share first."""
        end = self.latest_end
        rows = [w for w in self.windows if w.risk.window_end == end]
        return sorted(rows, key=lambda w: (-w.risk.at_risk_share, w.risk.brand))

    def brand_window(self, brand: str) -> BrandWindow | None:
        """A brand's latest window (any case of its name)."""
        matches = [w for w in self.windows if w.risk.brand.casefold() == brand.casefold()]
        return max(matches, key=_end_key, default=None)


def _number(values: Mapping[str, Any], column: str, required: bool) -> float | None:
    value = values.get(column)
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        if required:
            raise RowError(f"no value in column {column!r}")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowError(f"column {column!r} holds {str(value)[:40]!r}, not a number") from None
    if not 0.0 <= number <= 1.0:
        raise RowError(f"column {column!r} holds {number}, not a probability in [0, 1]")
    return number


def _text(values: Mapping[str, Any], column: str) -> str | None:
    value = values.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def read_scored(path: Path, book: BrandBook | None, counter: BrandCounter,
                versions: set[str], mentions_only: bool = False) -> Iterator[RiskPost | str]:
    """The scored file's rows as ``RiskPost``; a row that cannot be read yields its reason.

    Model versions seen are added to ``versions``. ``mentions_only`` ignores the brand
    column and resolves every brand from the text's mentions (needs a brand book).
    """
    columns = peek_columns(path)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        found = f"columns are {columns}" if columns else "it has no rows"
        raise ReportError(f"{path}: no column(s) {missing} ({found}); expected the output of "
                          f"`radar score` (columns {list(REQUIRED)} at least)")
    reader = DumpReader(path)
    for row in reader.rows():
        if row.values is None:
            yield f"row {row.number}: {row.error}"
            continue
        if row.values.get("model_version"):
            versions.add(str(row.values["model_version"]))
        try:
            yield _risk_post(row.values, book, counter, mentions_only)
        except (RowError, ValueError) as exc:
            yield f"row {row.number}: {exc}"


def _risk_post(values: Mapping[str, Any], book: BrandBook | None,
               counter: BrandCounter, mentions_only: bool = False) -> RiskPost:
    post_id = _text(values, "id")
    if post_id is None:
        raise RowError("no value in column 'id'")
    themes = {t: p for t in THEME_KEYS
              if (p := _number(values, f"p_{t}", required=False)) is not None}
    text = _text(values, "text")
    fields = {  # parsed before the brand, so an unreadable row is not counted as branded
        "created_at": parse_time(values.get("created_at"), "created_at"),
        "p_complaint": _number(values, "p_complaint", required=True),
        "p_positive": _number(values, "p_positive", required=True),
        "churn_intent": _number(values, "p_churn_intent", required=False),
    }
    column_brand = None if mentions_only else _text(values, "brand")
    if book is not None:
        resolution = book.resolve(column_brand, text)
        counter.add(resolution)
        brand = resolution.brand
    else:
        brand = column_brand
        counter.how["column" if brand else "none"] += 1
    return RiskPost(post_id=post_id, brand=brand or "", author_id=_text(values, "author_id"),
                    themes=themes, text=text, **fields)


def build_report(scored_path: Path, book: BrandBook | None = None,
                 config: RiskConfig = RiskConfig(), window: str = "7d",
                 mentions_only: bool = False) -> Report:
    """Read a scored file and score every brand in every window.

    ``mentions_only`` takes every post's brand from its mentions, not the brand column.

    Raises:
        ReportError: the file is missing, unreadable as a whole, or has no usable row.
    """
    scored_path = Path(scored_path)
    length = parse_window(window)  # ValueError names the bad window
    if mentions_only and book is None:
        raise ReportError("brands from mentions need a brand book (--brands)")
    try:
        reader_rows = list(read_scored(scored_path, book, counter := BrandCounter(),
                                       versions := set(), mentions_only))
    except DumpError as exc:
        raise ReportError(str(exc)) from exc
    posts = [r for r in reader_rows if isinstance(r, RiskPost)]
    problems = [r for r in reader_rows if isinstance(r, str)]
    branded = [p for p in posts if p.brand]
    if not branded:
        reason = (f"{len(problems)} unreadable rows, e.g. {problems[0]}" if problems
                  else "no row has a brand (brand column or a mention the brand book knows)")
        raise ReportError(f"{scored_path}: nothing to report on: {reason}")
    if book is not None:
        config = replace(config, excluded_authors=config.excluded_authors | book.handles)
    windows, exclusions = score_brands(branded, config, length)
    if all(w.risk.window_start is None for w in windows):
        window = "all"  # no dated post: one window, whatever was asked
    return Report(windows=windows, window=window, rows_in=len(reader_rows),
                  unreadable=len(problems), unreadable_examples=tuple(problems[:EXAMPLES_KEPT]),
                  without_brand=len(posts) - len(branded), brands_found=dict(counter.how),
                  unknown_brands=dict(counter.unknown.most_common()), exclusions=exclusions,
                  model_versions=tuple(sorted(versions)), posts={p.post_id: p for p in branded})


# --- output records ---------------------------------------------------------------------


def _end_key(window: BrandWindow) -> float:
    return window.risk.window_end.timestamp() if window.risk.window_end else 0.0


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def window_record(window: BrandWindow, latest: bool) -> dict[str, Any]:
    """One brand-window as a plain dict (the JSON and CSV rows)."""
    r = window.risk
    return {
        "brand": r.brand, "window_start": _iso(r.window_start), "window_end": _iso(r.window_end),
        "latest": latest, "customers": r.customers, "posts": window.posts,
        "at_risk_share": round(r.at_risk_share, 6), "ci_low": round(r.ci_low, 6),
        "ci_high": round(r.ci_high, 6), "ci_method": window.ci_method,
        "expected_at_risk": round(r.expected_at_risk, 3),
        "previous_share": None if window.previous_share is None
        else round(window.previous_share, 6),
        "previous_customers": window.previous_customers,
        "trend": None if r.trend is None else round(r.trend, 6),
        "trend_label": trend_label(r.trend, window.trend_significant),
        "drivers": {k: round(v, 6) for k, v in r.drivers.items()},
        "score_version": r.score_version,
    }


def report_records(report: Report) -> list[dict[str, Any]]:
    """Every brand-window, by brand then time; ``latest`` marks the table's rows."""
    end = report.latest_end
    return [window_record(w, w.risk.window_end == end)
            for w in sorted(report.windows,
                            key=lambda w: (w.risk.brand, _iso(w.risk.window_start) or ""))]


def write_json(records: list[dict[str, Any]], path: Path) -> None:
    """The records as a JSON list, written under a temporary name and renamed."""
    _write_atomically(path, json.dumps(records, indent=2, ensure_ascii=False) + "\n")


def write_csv(records: list[dict[str, Any]], path: Path) -> None:
    """The records as CSV (``drivers`` as a JSON string), written atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]) if records else ["brand"])
        writer.writeheader()
        for record in records:
            row = dict(record)
            row["drivers"] = json.dumps(row["drivers"])
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    os.replace(tmp, path)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- customers ----------------------------------------------------------------------------


class Pseudonymizer:
    """Stable pseudonyms for authors: keyed HMAC, key from ``RADAR_PSEUDONYM_KEY``.

    Without the variable the key is random per run, so pseudonyms cannot be reversed by
    hashing public handles, and they are stable only within one report.
    """

    def __init__(self, key: str | None = None):
        key = key if key is not None else os.environ.get(PSEUDONYM_ENV)
        self._key = key.encode() if key else secrets.token_bytes(32)

    def __call__(self, customer: str) -> str:
        if customer.startswith("post:"):
            return customer  # a review without an author identifies nobody
        digest = hmac.new(self._key, customer.casefold().encode(), hashlib.sha256).hexdigest()
        return f"c_{digest[:12]}"


def _masked(text: str | None) -> str | None:
    """The post with @handles and links masked (what a pseudonymised listing shows)."""
    from nlp.text import normalize_text

    return None if text is None else normalize_text(text)


def customer_rows(report: Report, brand: str, min_risk: float = 0.5, limit: int = 20,
                  reveal: bool = False) -> tuple[BrandWindow, list[dict[str, Any]]]:
    """A brand's at-risk customers in its latest window, with the posts that drove each.

    Raises:
        ReportError: the brand is not in the report (the message lists the brands that are).
    """
    window = report.brand_window(brand)
    if window is None:
        known = sorted({w.risk.brand for w in report.windows})
        raise ReportError(f"no brand {brand!r} in the report; brands: {', '.join(known)}")
    name = (lambda c: c) if reveal else Pseudonymizer()
    rows = []
    for customer in window.customers:
        if customer.risk < min_risk or len(rows) >= limit:
            break
        posts = [report.posts[i] for i in customer.post_ids if i in report.posts]
        written = next((p.author_id for p in posts if p.author_id), customer.author_id)
        rows.append({
            "customer": written if reveal else name(customer.author_id),
            "risk": customer.risk,
            "drivers": dict(sorted(customer.themes.items(), key=lambda kv: -kv[1])),
            # Post ids and raw text lead back to the author: only when revealing.
            "posts": [{"id": p.post_id if reveal else None, "created_at": _iso(p.created_at),
                       "text": p.text if reveal else _masked(p.text)} for p in posts],
        })
    return window, rows

