"""Per-brand risk reports from scored posts: a scored file (the output of ``radar score``)
or stored posts with their predictions (the caller reads the store).

Both are read as rows in the batch contract's columns (:func:`report_from_rows`, the one
implementation): each row gets a brand (``nlp.brands``), customers and brands are scored
(``nlp.risk``), and the result turns into records for JSON and CSV. Every row is
accounted for: scored into a customer, excluded with a reason, without a brand, or
unreadable (with the first reasons kept for the message).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import math
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from nlp.brands import BrandBook, BrandCounter, Resolution
from nlp.classifier.contract import score_record
from nlp.dumps import DumpError, DumpReader, dump_format, peek_columns
from nlp.errors import RowError
from nlp.glossary import FIELDS, HEADLINE
from nlp.risk import (
    SCORE_VERSION,
    BrandWindow,
    Exclusions,
    RiskConfig,
    RiskPost,
    parse_window,
    rank_windows,
    score_brands,
)
from nlp.spreadsheet import from_spreadsheet, spreadsheet_safe
from nlp.taxonomy import THEME_KEYS
from nlp.times import parse_time
from nlp.trend import trend_label
from nlp.types import Post, Prediction

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
    unknown_brands: Mapping[str, int]  # brand values the book does not know (kept as brands)
    brand_sources: Mapping[str, Mapping[str, int]]  # brand -> how it was found -> posts
    has_book: bool  # whether a brand book was read ("column" brands are in it)
    exclusions: Exclusions
    model_versions: tuple[str, ...]
    posts: Mapping[str, RiskPost]
    min_customers_ranked: int = RiskConfig.min_customers_ranked

    @property
    def latest_end(self) -> datetime | None:
        """End of the latest window; None when the posts are undated (one window)."""
        return max((w.risk.window_end for w in self.windows if w.risk.window_end is not None),
                   default=None)

    def latest(self) -> list[BrandWindow]:
        """Each brand's result in the latest window: the ranked brands, highest at-risk share
        first, then those with too few customers to rank (:func:`nlp.risk.rank_windows`)."""
        end = self.latest_end
        return rank_windows(w for w in self.windows if w.risk.window_end == end)

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


def read_scored(path: Path) -> Iterator[Mapping[str, Any] | str]:
    """A scored file's rows in the batch contract's columns; a row the file reader cannot
    read yields its reason instead (one item per row, in order).

    A CSV's cells lose the ``'`` that ``radar score`` put before a formula start
    (:func:`nlp.spreadsheet.from_spreadsheet`): an author ``@alice`` is the same author
    whichever format the scores were written in.
    """
    columns = peek_columns(path)
    csv_file = dump_format(path) == "csv"
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        found = f"columns are {columns}" if columns else "it has no rows"
        raise ReportError(f"{path}: no column(s) {missing} ({found}); expected the output of "
                          f"`radar score` (columns {list(REQUIRED)} at least)")
    for row in DumpReader(path).rows():
        if row.values is None:
            yield f"row {row.number}: {row.error}"
        elif csv_file:
            yield {k: from_spreadsheet(v) for k, v in row.values.items()}
        else:
            yield row.values


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
    data_brand = None if mentions_only else _text(values, "brand")
    if book is not None:
        resolution = book.resolve(data_brand, text)
    else:
        resolution = Resolution(data_brand, "column" if data_brand else "none")
    counter.add(resolution)
    return RiskPost(post_id=post_id, brand=resolution.brand or "",
                    author_id=_text(values, "author_id"), themes=themes, text=text, **fields)


def report_from_rows(rows: Iterable[Mapping[str, Any] | str], book: BrandBook | None = None,
                     config: RiskConfig = RiskConfig(), window: str = "7d",
                     mentions_only: bool = False, name: str = "the rows",
                     anchor: datetime | None = None) -> Report:
    """Score every brand in every window from scored rows in the batch contract's columns
    (``id``, ``brand``, ``author_id``, ``created_at``, ``text``, ``p_*``, ``model_version``).

    A row given as a string is one its reader could not read (the string says why). A
    post's brand is its ``brand`` value, canonicalised through ``book`` when the book
    knows it and kept as written when not, else the one brand whose handle or alias its
    text mentions (:meth:`nlp.brands.BrandBook.resolve`); ``mentions_only`` ignores the
    ``brand`` value. The book's handles are brand accounts, left out of the customers.
    ``anchor`` pins the window boundaries to ``anchor + k * window`` (as the monitor's
    history does); without it the latest window ends at the midnight after the last post.

    Raises:
        ReportError: no rows, or no row with a brand (``name`` says what was read).
        ValueError: ``window`` is not a window length.
    """
    length = parse_window(window)  # ValueError names the bad window
    if mentions_only and book is None:
        raise ReportError("brands from mentions need a brand book (--brands)")
    counter, versions = BrandCounter(), set()
    posts, problems = [], []
    rows_in = 0
    for rows_in, values in enumerate(rows, start=1):
        if isinstance(values, str):
            problems.append(values)
            continue
        if values.get("model_version"):
            versions.add(str(values["model_version"]))
        try:
            posts.append(_risk_post(values, book, counter, mentions_only))
        except (RowError, ValueError) as exc:
            problems.append(f"row {rows_in}: {exc}")
    if not rows_in:
        raise ReportError(f"{name}: nothing to report on: no rows")
    branded = [p for p in posts if p.brand]
    if not branded:
        reason = (f"{len(problems)} unreadable rows, e.g. {problems[0]}" if problems
                  else "no row has a brand (a brand value, or a mention the brand book knows)")
        raise ReportError(f"{name}: nothing to report on: {reason}")
    if book is not None:
        config = replace(config, excluded_authors=config.excluded_authors | book.handles)
    windows, exclusions = score_brands(branded, config, length, anchor)
    if all(w.risk.window_start is None for w in windows):
        window = "all"  # no dated post: one window, whatever was asked
    sources: dict[str, dict[str, int]] = {}
    for (brand, how), count in sorted(counter.by_brand.items(), key=lambda kv: -kv[1]):
        sources.setdefault(brand, {})[how] = count
    return Report(windows=windows, window=window, rows_in=rows_in,
                  unreadable=len(problems), unreadable_examples=tuple(problems[:EXAMPLES_KEPT]),
                  without_brand=len(posts) - len(branded), brands_found=dict(counter.how),
                  unknown_brands=dict(counter.unknown.most_common()), brand_sources=sources,
                  has_book=book is not None, exclusions=exclusions,
                  model_versions=tuple(sorted(versions)), posts={p.post_id: p for p in branded},
                  min_customers_ranked=config.min_customers_ranked)


def build_report(scored_path: Path, book: BrandBook | None = None,
                 config: RiskConfig = RiskConfig(), window: str = "7d",
                 mentions_only: bool = False, anchor: datetime | None = None) -> Report:
    """Read a scored file (the output of ``radar score``) and report on it
    (:func:`report_from_rows`).

    Raises:
        ReportError: the file is missing, unreadable as a whole, or has no usable row.
    """
    scored_path = Path(scored_path)
    try:  # read_scored reads lazily: a bad window is named before the file is opened
        return report_from_rows(read_scored(scored_path), book, config, window, mentions_only,
                                name=str(scored_path), anchor=anchor)
    except DumpError as exc:
        raise ReportError(str(exc)) from exc


def report_from_posts(scored: Iterable[tuple[Post, Prediction]], book: BrandBook | None = None,
                      config: RiskConfig = RiskConfig(), window: str = "7d",
                      mentions_only: bool = False, name: str = "the posts") -> Report:
    """Report on stored posts and their predictions, read as the rows of a scored file
    (:func:`report_from_rows`): a post's ``brand`` is its brand value, its id
    ``source:post_id`` (unique across sources)."""
    rows = ({**score_record(prediction, f"{post.source}:{post.post_id}", post.brand,
                            post.author_id, post.created_at), "text": post.text}
            for post, prediction in scored)
    return report_from_rows(rows, book, config, window, mentions_only, name)


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
        "trend_label": trend_label(r.trend, window.trend_significant, window.partial
                                   or window.previous_partial, window.earlier),
        "ranked": window.ranked,
        "partial": window.partial,
        "previous_partial": window.previous_partial,
        "drivers": {k: round(v, 6) for k, v in r.drivers.items()},
        "score_version": r.score_version,
    }


def report_records(report: Report) -> list[dict[str, Any]]:
    """Every brand-window, by brand then time; ``latest`` marks the table's rows."""
    end = report.latest_end
    return [window_record(w, w.risk.window_end == end)
            for w in sorted(report.windows,
                            key=lambda w: (w.risk.brand, _iso(w.risk.window_start) or ""))]


def report_document(report: Report, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``--json`` file: what the headline figure is, the one-line meaning of each field,
    the settings behind the windows, then the brand-window ``records``."""
    return {"measure": HEADLINE, "score_version": SCORE_VERSION,
            "model_versions": list(report.model_versions), "window": report.window,
            "min_customers_ranked": report.min_customers_ranked, "fields": dict(FIELDS),
            "windows": records}


def write_json(document: dict[str, Any] | list[dict[str, Any]], path: Path) -> None:
    """The document as JSON, written under a temporary name and renamed."""
    _write_atomically(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def write_csv(records: list[dict[str, Any]], path: Path) -> None:
    """The records as CSV (``drivers`` as a JSON string), written atomically.

    Safe to open in a spreadsheet: a text cell (a brand) starting with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return gets a leading ``'``
    (:func:`nlp.spreadsheet.spreadsheet_safe`); numbers (a negative trend) stay numbers.
    :func:`write_json` keeps every text exactly.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]) if records else ["brand"])
        writer.writeheader()
        for record in records:
            row = dict(record)
            row["drivers"] = json.dumps(row["drivers"])
            writer.writerow({k: "" if v is None else spreadsheet_safe(v)
                             for k, v in row.items()})
    os.replace(tmp, path)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- customers ----------------------------------------------------------------------------


class Pseudonymizer:
    """Stable pseudonyms for customers: keyed HMAC, key from ``RADAR_PSEUDONYM_KEY``.

    An author becomes ``c_<12 hex>``. A post without an author counts as a customer of
    its own under ``post:<post id>`` (:attr:`nlp.risk.RiskPost.customer`); its id can
    lead back to the author or hold a server path (a file import's source), so it
    becomes ``anon_<12 hex>``, an anonymous customer. Without the variable the key is
    random per run, so pseudonyms cannot be reversed by hashing public handles, and they
    are stable only within one report.
    """

    def __init__(self, key: str | None = None):
        key = key if key is not None else os.environ.get(PSEUDONYM_ENV)
        self._key = key.encode() if key else secrets.token_bytes(32)

    def __call__(self, customer: str) -> str:
        authorless = customer.startswith("post:")
        # Post ids are case-sensitive; author handles are not.
        name = customer if authorless else customer.casefold()
        digest = hmac.new(self._key, name.encode(), hashlib.sha256).hexdigest()
        return f"{'anon' if authorless else 'c'}_{digest[:12]}"


def _masked(text: str | None) -> str | None:
    """The post as a pseudonymised listing shows it (:func:`nlp.text.mask_for_display`:
    handles, links, e-mail addresses, phone and card numbers masked)."""
    from nlp.text import mask_for_display

    return None if text is None else mask_for_display(text)


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

