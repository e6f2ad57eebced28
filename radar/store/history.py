"""The risk history in the post store: points per brand and window, their customers,
alerts and deliveries, and the dump files a monitor has imported.

One point per (brand, window, score version): a later cycle over the same window
replaces it, so the history never double counts, and a model upgrade shows as a new
``model_version`` on the same series. The SQL is plain SQL, as in :mod:`radar.store`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nlp.risk import BrandWindow, data_coverage, is_partial
from radar.store import PostStore, format_time, parse_stored_time

KEY_SEPARATOR = "\t"  # between source and post_id in a stored post key
FILE_SOURCE = "file:"  # a file import's source: file:<absolute path> (radar.collect.files)
# A customer "has" a theme when it drives at least this share of their risk. A model gives
# every theme some probability, so every complaining customer has every driver a little;
# filters and alert examples need the themes that matter for the customer.
THEME_MIN_SHARE = 0.15


def has_theme(drivers: Mapping[str, float], theme: str,
              min_share: float = THEME_MIN_SHARE) -> bool:
    """Whether ``theme`` is one of the drivers that matter for a customer."""
    return drivers.get(theme, 0.0) >= min_share


def post_key(source: str, post_id: str) -> str:
    """One string per stored post (the risk formula's ``post_id``)."""
    return f"{source}{KEY_SEPARATOR}{post_id}"


def split_post_key(key: str) -> tuple[str, str]:
    source, _, post_id = key.partition(KEY_SEPARATOR)
    return source, post_id


def display_source(source: str) -> str:
    """A stored post's source as a page, an export or an alert shows it.

    A file import's ``file:<absolute path>`` becomes ``file:<file name>``: where the
    server keeps its files is nobody's business but the server's. Other sources (``x``,
    ``mastodon``, ...) are shown as stored.
    """
    if not source.startswith(FILE_SOURCE):
        return source
    name = re.split(r"[\\/]", source[len(FILE_SOURCE):])[-1]
    return FILE_SOURCE + name if name else "file"


@dataclass(frozen=True)
class HistoryPoint:
    """A brand's risk in one window, as the monitor stored it."""

    brand: str
    window_start: datetime
    window_end: datetime
    score_version: str
    model_version: str
    customers: int
    posts: int
    at_risk_share: float
    ci_low: float
    ci_high: float
    ci_method: str
    expected_at_risk: float
    previous_share: float | None
    trend: float | None
    trend_low: float | None  # the interval of the change against the previous window
    trend_high: float | None
    trend_significant: bool | None
    drivers: Mapping[str, float]
    computed_at: datetime
    # Read, not stored: from the store's posts when the history is read (nlp.risk.is_partial).
    partial: bool = False  # the posts cover this window only in part
    previous_partial: bool = False  # ... or the window before it (the trend is not compared)
    earlier: bool = False  # the brand has an earlier point

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601 UTC)."""
        out = dict(self.__dict__)
        for name in ("window_start", "window_end", "computed_at"):
            out[name] = out[name].isoformat().replace("+00:00", "Z")
        out["drivers"] = dict(self.drivers)
        return out


_POINT_COLUMNS = ("brand", "window_start", "window_end", "score_version", "model_version",
                  "customers", "posts", "at_risk_share", "ci_low", "ci_high", "ci_method",
                  "expected_at_risk", "previous_share", "trend", "trend_low", "trend_high",
                  "trend_significant",
                  "drivers", "computed_at")


def _point(row: tuple, coverage: tuple[datetime, datetime] | None = None,
           earlier: bool = False) -> HistoryPoint:
    values = dict(zip(_POINT_COLUMNS, row, strict=True))
    for name in ("window_start", "window_end", "computed_at"):
        values[name] = parse_stored_time(values[name])
    values["drivers"] = json.loads(values["drivers"])
    flag = values["trend_significant"]
    values["trend_significant"] = None if flag is None else bool(flag)
    start, end = values["window_start"], values["window_end"]
    return HistoryPoint(**values, partial=is_partial(start, end, coverage),
                        previous_partial=is_partial(start - (end - start), start, coverage),
                        earlier=earlier)


def post_coverage(store: PostStore, until: datetime | None = None
                  ) -> tuple[datetime, datetime] | None:
    """The days the store's dated posts cover (any brand, up to ``until``), as
    :func:`nlp.risk.data_coverage`; None without a dated post. A window outside it is
    partial: collection began after its start, or it is still running."""
    bound, params = ("", ()) if until is None else (" AND created_at <= ?",
                                                     (format_time(until),))
    # Two queries: SQLite reads one end of the posts_created index for a lone MIN or MAX,
    # but scans all of it for both in one query.
    first, last = (store.db.execute(f"SELECT {end}(created_at) FROM posts WHERE created_at IS "
                                    f"NOT NULL{bound}", params).fetchone()[0]
                   for end in ("MIN", "MAX"))
    if not first:
        return None
    return data_coverage(parse_stored_time(first), parse_stored_time(last))


def save_brand_windows(store: PostStore, windows: Iterable[BrandWindow], model_version: str,
                       computed_at: datetime) -> int:
    """Store each brand-window and its customers, replacing what an earlier cycle stored."""
    count = 0
    with store.transaction():
        for window in windows:
            r = window.risk
            key = (r.brand, format_time(r.window_start), format_time(r.window_end),
                   r.score_version)
            store.db.execute(
                f"INSERT INTO risk_history ({', '.join(_POINT_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(_POINT_COLUMNS))}) "
                "ON CONFLICT (brand, window_start, window_end, score_version) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _POINT_COLUMNS[4:]),
                (*key, model_version, r.customers, window.posts, r.at_risk_share, r.ci_low,
                 r.ci_high, window.ci_method, r.expected_at_risk, window.previous_share,
                 r.trend, window.trend_low, window.trend_high,
                 None if window.trend_significant is None
                 else int(window.trend_significant),
                 json.dumps(dict(r.drivers)), format_time(computed_at)))
            store.db.execute(
                "DELETE FROM risk_customers WHERE brand = ? AND window_start = ? AND "
                "window_end = ? AND score_version = ?", key)
            store.db.executemany(
                "INSERT INTO risk_customers (brand, window_start, window_end, score_version, "
                "customer, risk, drivers, post_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((*key, c.author_id, c.risk, json.dumps(dict(c.themes)),
                  json.dumps(list(c.post_ids))) for c in window.customers))
            count += 1
    return count


def brand_history(store: PostStore, brand: str, score_version: str) -> list[HistoryPoint]:
    """A brand's points, earliest window first."""
    rows = store.db.execute(
        f"SELECT {', '.join(_POINT_COLUMNS)} FROM risk_history WHERE brand = ? AND "
        "score_version = ? ORDER BY window_start", (brand, score_version)).fetchall()
    coverage = post_coverage(store)
    return [_point(row, coverage, i > 0) for i, row in enumerate(rows)]


def latest_points(store: PostStore, score_version: str) -> list[HistoryPoint]:
    """Each brand's latest window."""
    rows = store.db.execute(
        f"SELECT {', '.join('h.' + c for c in _POINT_COLUMNS)}, EXISTS (SELECT 1 FROM "
        "risk_history e WHERE e.brand = h.brand AND e.score_version = h.score_version AND "
        "e.window_end <= h.window_start) FROM risk_history h "
        "WHERE h.score_version = ? AND h.window_end = (SELECT MAX(l.window_end) FROM "
        "risk_history l WHERE l.brand = h.brand AND l.score_version = h.score_version) "
        "ORDER BY h.brand", (score_version,)).fetchall()
    coverage = post_coverage(store)
    return [_point(row[:-1], coverage, bool(row[-1])) for row in rows]


@dataclass(frozen=True)
class StoredPost:
    """One post that drove a customer's risk, as stored: unmasked, for the caller to mask."""

    source: str
    post_id: str
    text: str
    url: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class WindowCustomer:
    """A customer of one brand-window: their risk, its drivers (biggest first), their posts."""

    customer: str  # the author id as collected; callers show a pseudonym
    risk: float
    drivers: Mapping[str, float]
    posts: tuple[StoredPost, ...]


def window_customers(store: PostStore, point: HistoryPoint, min_risk: float = 0.0,
                     theme: str | None = None, limit: int = 50) -> list[WindowCustomer]:
    """The customers of one point, riskiest first, with the posts that drove each.

    ``theme`` keeps the customers for whom it drives at least ``THEME_MIN_SHARE`` of
    their risk (:func:`has_theme`). Each post carries its text,
    time, source and URL as stored; callers decide what to show (pseudonyms, masking).
    """
    rows = store.db.execute(
        "SELECT customer, risk, drivers, post_keys FROM risk_customers WHERE brand = ? AND "
        "window_start = ? AND window_end = ? AND score_version = ? AND risk >= ? "
        "ORDER BY risk DESC, customer",
        (point.brand, format_time(point.window_start), format_time(point.window_end),
         point.score_version, min_risk)).fetchall()
    out: list[WindowCustomer] = []
    for customer, risk, drivers_json, keys_json in rows:
        drivers = json.loads(drivers_json)
        if theme is not None and not has_theme(drivers, theme):
            continue
        posts = []
        for key in json.loads(keys_json):
            source, post_id = split_post_key(key)
            found = store.db.execute(
                "SELECT text, url, created_at FROM posts WHERE source = ? AND post_id = ?",
                (source, post_id)).fetchone()
            if found is not None:
                posts.append(StoredPost(source=source, post_id=post_id, text=found[0],
                                        url=found[1], created_at=parse_stored_time(found[2])))
        out.append(WindowCustomer(
            customer=customer, risk=risk,
            drivers=dict(sorted(drivers.items(), key=lambda kv: -kv[1])), posts=tuple(posts)))
        if len(out) >= limit:
            break
    return out


# --- alerts -------------------------------------------------------------------------------


def record_alert(store: PostStore, alert_key: str, brand: str, window_end: datetime,
                 kind: str, payload: Mapping[str, Any], created_at: datetime) -> bool:
    """Keep an alert once; False when this alert (same key) was already recorded."""
    # One statement: two monitors recording the same alert at once (PostgreSQL runs them
    # side by side) must not fail on the key; the row count says who kept it.
    inserted = store.db.execute(
        "INSERT INTO alerts (alert_key, brand, window_end, kind, payload, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (alert_key) DO NOTHING",
        (alert_key, brand, format_time(window_end), kind, json.dumps(payload, default=str),
         format_time(created_at))).rowcount
    return inserted == 1


@dataclass(frozen=True)
class AlertDelivery:
    """How sending one alert on one channel went: ``sent`` or ``failed``, after how many tries."""

    channel: str
    attempts: int
    status: str
    last_error: str | None


@dataclass(frozen=True)
class StoredAlert:
    """A recorded alert: its row, the JSON payload the monitor wrote, and its deliveries."""

    alert_key: str
    brand: str
    window_end: datetime
    kind: str
    payload: Mapping[str, Any]  # as written (``Alert.to_payload``); not re-modelled here
    deliveries: tuple[AlertDelivery, ...]  # by channel name


_ALERT_COLUMNS = "alert_key, brand, window_end, kind, payload"


def _stored_alert(store: PostStore, row: tuple) -> StoredAlert:
    key, brand, window_end, kind, payload = row
    deliveries = store.db.execute(
        "SELECT channel, attempts, status, last_error FROM alert_deliveries WHERE "
        "alert_key = ? ORDER BY channel", (key,)).fetchall()
    return StoredAlert(alert_key=key, brand=brand, window_end=parse_stored_time(window_end),
                       kind=kind, payload=json.loads(payload),
                       deliveries=tuple(AlertDelivery(*d) for d in deliveries))


def alert_payloads(store: PostStore, brand: str | None = None) -> list[StoredAlert]:
    """Recorded alerts (newest first), with their deliveries."""
    where, params = ("WHERE brand = ?", (brand,)) if brand else ("", ())
    rows = store.db.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts {where} "
                            "ORDER BY window_end DESC, alert_key", params).fetchall()
    return [_stored_alert(store, row) for row in rows]


def undelivered_alerts(store: PostStore, channels: Iterable[str], since: datetime
                       ) -> list[StoredAlert]:
    """Alerts recorded since ``since`` (oldest first) that some channel has not sent yet."""
    channels = set(channels)
    if not channels:
        return []
    rows = store.db.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE created_at >= ? "
                            "ORDER BY created_at, alert_key", (format_time(since),)).fetchall()
    alerts = [_stored_alert(store, row) for row in rows]
    return [a for a in alerts
            if not channels <= {d.channel for d in a.deliveries if d.status == "sent"}]


def delivery_status(store: PostStore, alert_key: str, channel: str) -> str | None:
    row = store.db.execute("SELECT status FROM alert_deliveries WHERE alert_key = ? AND "
                           "channel = ?", (alert_key, channel)).fetchone()
    return None if row is None else row[0]


def record_delivery(store: PostStore, alert_key: str, channel: str, attempts: int,
                    status: str, last_error: str | None, at: datetime) -> None:
    """The outcome of delivering an alert on a channel (``sent`` or ``failed``)."""
    store.db.execute(
        "INSERT INTO alert_deliveries (alert_key, channel, attempts, status, last_error, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (alert_key, channel) DO UPDATE SET "
        "attempts = alert_deliveries.attempts + excluded.attempts, status = excluded.status, "
        "last_error = excluded.last_error, updated_at = excluded.updated_at",
        (alert_key, channel, attempts, status, last_error, format_time(at)))


# --- imported dump files -------------------------------------------------------------------


def imported_file(store: PostStore, sha256: str) -> bool:
    return store.db.execute("SELECT 1 FROM imported_files WHERE sha256 = ?",
                            (sha256,)).fetchone() is not None


def mark_imported(store: PostStore, sha256: str, path: str, run_id: str, at: datetime) -> None:
    store.db.execute(
        "INSERT INTO imported_files (sha256, path, run_id, imported_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (sha256) DO NOTHING", (sha256, path, run_id, format_time(at)))


# --- scored posts for the risk formula --------------------------------------------------------


def iter_scored(store: PostStore, model_version: str, brand: str,
                since: datetime | None = None, batch_size: int = 2000):
    """A brand's posts with their prediction from ``model_version`` (posts not yet scored
    by it are left out), streamed as ``(Post, Prediction)`` in key order."""
    return store.scored_posts(model_version, brand, since, by_key=True, batch_size=batch_size)


def stored_brands(store: PostStore) -> list[str]:
    """Every brand some stored post counts for."""
    return [row[0] for row in store.db.execute(
        "SELECT DISTINCT brand FROM post_brands ORDER BY brand").fetchall()]


def latest_post_time(store: PostStore, brand: str, until: datetime | None = None
                     ) -> datetime | None:
    """The newest dated post counting for ``brand`` (at or before ``until`` if given)."""
    bound, params = ("", (brand,)) if until is None else (" AND created_at <= ?",
                                                           (brand, format_time(until)))
    row = store.db.execute(  # from the (brand, created_at) index alone
        f"SELECT MAX(created_at) FROM post_brands WHERE brand = ?{bound}", params).fetchone()
    return parse_stored_time(row[0]) if row and row[0] else None
