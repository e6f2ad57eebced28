"""The monitor's YAML config: brands, their sources and dump folders, window, alerts.

Example (``monitor.example.yaml`` in the repository root)::

    store: data/radar.db                     # or postgresql://...; --db overrides
    model: models:/complaint-radar@champion  # what scores new posts
    window: 7d                               # one history point per brand and window
    anchor: 2024-01-01                       # window boundaries: anchor + k * window (a Monday)
    history_windows: 12                      # windows recomputed each cycle
    interval: 1h                             # time between cycles without --once
    brands:
      AcmeTelco:
        collect:
          - {source: mastodon, query: acmetelco, since: 30d, max_pages: 20}
          - {source: x, query: "@AcmeTelco -is:retweet", max_requests: 50}
        imports:
          - {path: dumps/acme, format: csv, source: acme-reviews}  # each file imported once
    alerts:
      rules: {min_customers: 20, theme_jump: 0.15}
      channels:
        webhook: {url_env: RADAR_WEBHOOK_URL}
        email: {host: smtp.example.com, port: 587, from: radar@example.com,
                to: [cx@example.com], username_env: RADAR_SMTP_USER,
                password_env: RADAR_SMTP_PASSWORD, starttls: true}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from nlp.risk import parse_window
from radar.store.database import (
    StoreError,
    StoreTarget,
    describe_target,
    is_database_url,
    resolve_db_path,
)

DEFAULT_ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday: weekly windows run Mon-Mon


DEFAULT_BRAND_BOOK = Path("data/brands.yaml")
# Bounds on what a cycle does: a history of more windows, or a bigger scoring batch, is a
# typo (a window of 1h over 10,000 windows is 14 months).
MAX_HISTORY_WINDOWS = 10_000
MAX_HISTORY_SPAN = timedelta(days=36_600)  # 100 years back: further, dates overflow
MAX_SCORE_BATCH = 100_000
MODEL_EXPECTED = "text (a model folder or an MLflow URI such as models:/complaint-radar@champion)"
QUERY_EXPECTED = "text (search terms, an account or an app id)"


class MonitorConfigError(ValueError):
    """The monitor config is wrong; the message names the file, the entry and the fix."""


def _whole(value: Any, key: str, minimum: int, maximum: int | None = None) -> None:
    """A whole number in range; ``true`` and ``3.9`` are not whole numbers."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MonitorConfigError(f"{key} must be a whole number >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise MonitorConfigError(f"{key} must be a whole number <= {maximum}, got {value!r}")


def _text(value: Any, key: str, expected: str = "text", optional: bool = False) -> None:
    """Text that is not blank (or None, when ``optional``)."""
    if optional and value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise MonitorConfigError(f"{key} must be {expected}, got {value!r}")


def _length(value: Any, key: str, example: str) -> timedelta:
    """A window or interval: text such as 7d, never a bare number or 'all'."""
    if not isinstance(value, str):
        raise MonitorConfigError(f"{key} must be a length such as {example} (text), got "
                                 f"{value!r}")
    try:
        length = parse_window(value)
    except ValueError as exc:
        raise MonitorConfigError(f"{key}: {exc}") from None
    if length is None:
        raise MonitorConfigError(f"{key}: 'all' is not a length here; give e.g. 1h or 7d")
    return length


def _only(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed, key=str)
    if unknown:
        raise MonitorConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


@dataclass(frozen=True)
class CollectSpec:
    """One query to collect for a brand."""

    source: str
    query: str
    brand: str
    since: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    max_pages: int | None = None
    max_requests: int = 200
    max_retries: int = 5
    base_url: str | None = None

    def __post_init__(self) -> None:
        from radar.collect import SOURCES, parse_since

        if not isinstance(self.source, str) or self.source not in SOURCES:
            raise MonitorConfigError(f"source {self.source!r} is not one of {sorted(SOURCES)}")
        _text(self.query, "query", QUERY_EXPECTED)
        _text(self.brand, "brand")
        _text(self.since, "since", "an ISO 8601 date or time, or an age such as 30d",
              optional=True)
        try:
            parse_since(self.since)  # refuse a bad since now, not in every cycle
        except ValueError as exc:
            raise MonitorConfigError(str(exc)) from None
        for key, value in self.options.items():
            _text(key, "an option name")
            if not isinstance(value, str):
                raise MonitorConfigError(f"options.{key} must be text, got {value!r}")
        if self.max_pages is not None:
            _whole(self.max_pages, "max_pages", 1)
        _whole(self.max_requests, "max_requests", 1)
        _whole(self.max_retries, "max_retries", 0)
        if self.base_url is not None and not (isinstance(self.base_url, str) and
                                              self.base_url.startswith(("http://", "https://"))):
            raise MonitorConfigError(f"base_url must be an http(s) URL, got {self.base_url!r}")


@dataclass(frozen=True)
class ImportSpec:
    """A dump file, or a folder of them, to import for a brand (each file once)."""

    path: Path
    brand: str
    format: str | None = None
    pattern: str = "*"
    # Name the source when the files are rolling exports of one system with stable ids, so
    # a row repeated in the next export is the same post (default: one source per file).
    source: str | None = None

    def __post_init__(self) -> None:
        from radar.collect.files import IMPORT_FORMATS

        if not isinstance(self.path, Path):
            raise MonitorConfigError(f"path must be a file or folder, got {self.path!r}")
        _text(self.brand, "brand")
        if self.format is not None and self.format not in IMPORT_FORMATS:
            raise MonitorConfigError(f"format {self.format!r} is not one of {IMPORT_FORMATS}")
        _text(self.pattern, "pattern", "a file name pattern such as *.csv (text)")
        _text(self.source, "source", optional=True)


@dataclass(frozen=True)
class MonitorConfig:
    """Everything one monitoring cycle does; read with :func:`load_monitor_config`."""

    collect: tuple[CollectSpec, ...] = ()
    imports: tuple[ImportSpec, ...] = ()
    brands: tuple[str, ...] = ()
    store: StoreTarget | None = None  # a SQLite file or a postgresql:// URL
    model: str = "models:/complaint-radar@champion"
    backend: str = "torch"
    window: timedelta = timedelta(days=7)
    anchor: datetime = DEFAULT_ANCHOR
    history_windows: int = 12
    interval: timedelta = timedelta(hours=1)
    alert_rules: Mapping[str, Any] = field(default_factory=dict)
    channels: Mapping[str, Any] = field(default_factory=dict)
    score_batch: int = 256
    # The brands' own accounts (their posts never count as a customer's), as in `radar report`;
    # default data/brands.yaml when it exists.
    brand_book: Path | None = None

    def __post_init__(self) -> None:
        for brand in self.brands:
            _text(brand, "a brand name")
        _text(self.model, "model", MODEL_EXPECTED)
        if self.backend not in ("torch", "onnx"):
            raise MonitorConfigError(f"backend must be torch or onnx, got {self.backend!r}")
        for key in ("window", "interval"):
            value = getattr(self, key)
            if not isinstance(value, timedelta) or value <= timedelta(0):
                raise MonitorConfigError(f"{key} must be a positive length, got {value!r}")
        if not isinstance(self.anchor, datetime) or self.anchor.tzinfo is None:
            raise MonitorConfigError(f"anchor must be a time with a time zone, got "
                                     f"{self.anchor!r}")
        _whole(self.history_windows, "history_windows", 2, MAX_HISTORY_WINDOWS)  # a trend: 2
        span = (self.history_windows + 1) * self.window  # one more window is read
        if span > MAX_HISTORY_SPAN:
            raise MonitorConfigError(
                f"history_windows {self.history_windows} of window {self.window.days} days "
                f"reach back {span.days:,} days; keep it within {MAX_HISTORY_SPAN.days:,} "
                "(fewer or shorter windows)")
        _whole(self.score_batch, "score_batch", 1, MAX_SCORE_BATCH)
        if self.store is not None and not isinstance(self.store, Path) \
                and not is_database_url(self.store):
            raise MonitorConfigError(f"store must be a path or a postgresql:// URL, got "
                                     f"{self.store!r}")
        if self.brand_book is not None and not isinstance(self.brand_book, Path):
            raise MonitorConfigError(f"brand_book must be a path, got {self.brand_book!r}")
        for key in ("alert_rules", "channels"):
            if not isinstance(getattr(self, key), Mapping):
                raise MonitorConfigError(f"{key} must be a mapping, got "
                                         f"{getattr(self, key)!r}")

    def excluded_authors(self) -> frozenset[str]:
        """The brand book's handles: the brands' own posts and replies are not customers'."""
        from nlp.brands import BrandBook

        path = self.brand_book or DEFAULT_BRAND_BOOK
        if self.brand_book is None and not path.is_file():
            return frozenset()
        try:
            return frozenset(BrandBook.from_yaml(path).handles)
        except (OSError, ValueError) as exc:
            raise MonitorConfigError(f"brand_book {path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        store = describe_target(self.store) if self.store else None
        return {"brands": list(self.brands), "store": store,
                "model": self.model, "backend": self.backend, "window": str(self.window),
                "anchor": self.anchor.isoformat(), "history_windows": self.history_windows,
                "interval": str(self.interval), "collect": len(self.collect),
                "imports": len(self.imports), "channels": sorted(self.channels)}


def load_monitor_config(path: Path) -> MonitorConfig:
    """Read and check a monitor YAML file (paths in it are relative to the file)."""
    path = Path(path)
    if not path.is_file():
        raise MonitorConfigError(f"{path}: no such file (see monitor.example.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError on bad dates
        raise MonitorConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise MonitorConfigError(f"{path}: expected a mapping at the top level")
    return monitor_config_from_dict(raw, path.parent, str(path))


def monitor_config_from_dict(raw: Mapping[str, Any], base_dir: Path,
                             where: str = "config") -> MonitorConfig:
    """Check every key's type and range; a message names ``where``, the entry, the value
    and what is expected (``m.yaml: brands.Acme.collect[0]: max_requests must be a whole
    number >= 1, got -1``)."""
    _only(raw, {"store", "model", "backend", "window", "anchor", "history_windows", "interval",
                "brands", "alerts", "score_batch", "brand_book"}, where)
    brands = raw.get("brands") or {}
    if not isinstance(brands, dict) or not brands:
        raise MonitorConfigError(f"{where}: 'brands' must map each brand name to its "
                                 "collect/imports entries")
    collect: list[CollectSpec] = []
    imports: list[ImportSpec] = []
    for brand, entry in brands.items():
        _brand_name(brand, where)
        at = f"{where}: brands.{brand}"
        entry = entry or {}
        if not isinstance(entry, dict):
            raise MonitorConfigError(f"{at}: expected a mapping with collect and/or imports")
        _only(entry, {"collect", "imports"}, at)
        for i, spec in enumerate(_entries(entry, "collect", at)):
            collect.append(_collect_spec(spec, brand, f"{at}.collect[{i}]"))
        for i, spec in enumerate(_entries(entry, "imports", at)):
            imports.append(_import_spec(spec, brand, base_dir, f"{at}.imports[{i}]"))
    alerts = raw.get("alerts") or {}
    if not isinstance(alerts, dict):
        raise MonitorConfigError(f"{where}: alerts must be a mapping (rules, channels), got "
                                 f"{alerts!r}")
    _only(alerts, {"rules", "channels"}, f"{where}: alerts")
    for key, what in (("rules", "rule to value"), ("channels", "channel to its settings")):
        if not isinstance(alerts.get(key) or {}, dict):
            raise MonitorConfigError(f"{where}: alerts: {key} must be a mapping of {what}, "
                                     f"got {alerts[key]!r}")
    _check_alerts(alerts, f"{where}: alerts")
    try:
        window = _length(raw.get("window", "7d"), "window", "7d, 36h or 2w")
        interval = _length(raw.get("interval", "1h"), "interval", "1h, 12h or 1d")
        return MonitorConfig(
            collect=tuple(collect), imports=tuple(imports), brands=tuple(brands),
            store=_store(raw.get("store"), base_dir),
            model=raw.get("model", MonitorConfig.model),
            backend=raw.get("backend", MonitorConfig.backend),
            window=window, anchor=_anchor(raw.get("anchor", DEFAULT_ANCHOR)),
            history_windows=raw.get("history_windows", MonitorConfig.history_windows),
            interval=interval, alert_rules=dict(alerts.get("rules") or {}),
            channels=dict(alerts.get("channels") or {}),
            score_batch=raw.get("score_batch", MonitorConfig.score_batch),
            brand_book=_path(raw.get("brand_book"), "brand_book", base_dir))
    except MonitorConfigError as exc:
        raise MonitorConfigError(f"{where}: {exc}") from None


def _brand_name(brand: Any, where: str) -> None:
    """A brand name is text: YAML reads ``null:`` as None, ``yes:`` as True, ``123:`` as a
    number, and printing those as brands ("None", "True") hides the mistake."""
    if isinstance(brand, str) and brand.strip():
        return
    hint = f"; quote it ('{brand}': ...)" if isinstance(brand, bool | int | float | date) else ""
    raise MonitorConfigError(f"{where}: brands: a brand name must be text, got {brand!r}{hint}")


def _entries(entry: Mapping[str, Any], key: str, at: str) -> list[Any]:
    value = entry.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MonitorConfigError(f"{at}: {key} must be a list of entries, got {value!r}")
    return value


def _path(value: Any, key: str, base_dir: Path) -> Path | None:
    """A path in the config, relative to its folder; absent (None) means the default."""
    if value is None:
        return None
    _text(value, key, "a path (text)")
    return base_dir / value


def _store(value: Any, base_dir: Path) -> StoreTarget | None:
    """The store: a path relative to the config's folder, or a PostgreSQL URL as given."""
    if isinstance(value, str) and is_database_url(value):
        try:
            return resolve_db_path(value)
        except StoreError as exc:
            raise MonitorConfigError(f"store: {exc}") from exc
    return _path(value, "store", base_dir)


def _anchor(value: Any) -> datetime:
    """A YAML date or time (read as such) or an ISO 8601 string; UTC when it has no zone."""
    expected = f"anchor must be an ISO 8601 date or time such as 2024-01-01, got {value!r}"
    if isinstance(value, datetime):
        anchor = value
    elif isinstance(value, date):
        anchor = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            anchor = datetime.fromisoformat(value)
        except ValueError:
            raise MonitorConfigError(expected) from None
    else:
        raise MonitorConfigError(expected)
    return anchor.replace(tzinfo=UTC) if anchor.tzinfo is None else anchor.astimezone(UTC)


def _check_alerts(alerts: Mapping[str, Any], at: str) -> None:
    """Alert rules and channels are checked at start, not when the first alert fires."""
    from radar.monitor.alerts import AlertRules
    from radar.monitor.notify import channels_from_config

    try:
        AlertRules.from_dict(alerts.get("rules") or {})
    except (TypeError, ValueError) as exc:
        raise MonitorConfigError(f"{at}.rules: {exc}") from exc
    try:
        channels_from_config(alerts.get("channels") or {})
    except (TypeError, ValueError) as exc:
        raise MonitorConfigError(f"{at}.channels: {exc}") from exc


def _collect_spec(spec: Any, brand: str, at: str) -> CollectSpec:
    from radar.collect import SOURCES, load_source_module

    if not isinstance(spec, dict):
        raise MonitorConfigError(f"{at}: expected a mapping with source and query")
    _only(spec, {"source", "query", "since", "options", "max_pages", "max_requests",
                 "max_retries", "base_url"}, at)
    source, query, since = spec.get("source"), spec.get("query"), spec.get("since")
    if not isinstance(source, str) or source not in SOURCES:
        raise MonitorConfigError(f"{at}: source {source!r} is not one of {sorted(SOURCES)}")
    if isinstance(query, int) and not isinstance(query, bool):
        query = str(query)  # an app id: 389801252
    if isinstance(since, date):  # YAML reads 2024-06-01 as a date
        since = since.isoformat()
    elif since is not None and not isinstance(since, str):
        raise MonitorConfigError(f"{at}: since must be an ISO 8601 date or time, or an age "
                                 f"such as 30d, got {since!r}")
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise MonitorConfigError(f"{at}: options must be a mapping of option to value, got "
                                 f"{options!r}")
    for key, value in options.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise MonitorConfigError(f"{at}: options.{key} must be text or a number, got "
                                     f"{value!r}")
    known = load_source_module(source).OPTIONS
    unknown = sorted(set(options) - set(known), key=str)
    if unknown:
        raise MonitorConfigError(f"{at}: {source} has no option {unknown}; its options are "
                                 f"{sorted(known) or 'none'} (see `radar sources`)")
    try:
        return CollectSpec(source=source, query=query, brand=brand, since=since,
                           options={str(k): str(v) for k, v in options.items()},
                           max_pages=spec.get("max_pages"),
                           max_requests=spec.get("max_requests", CollectSpec.max_requests),
                           max_retries=spec.get("max_retries", CollectSpec.max_retries),
                           base_url=spec.get("base_url"))
    except MonitorConfigError as exc:
        raise MonitorConfigError(f"{at}: {exc}") from None


def _import_spec(spec: Any, brand: str, base_dir: Path, at: str) -> ImportSpec:
    if not isinstance(spec, dict) or "path" not in spec:
        raise MonitorConfigError(f"{at}: expected a mapping with a path")
    _only(spec, {"path", "format", "pattern", "source"}, at)
    try:
        _text(spec["path"], "path", "a file or folder (text)")
        return ImportSpec(path=base_dir / spec["path"], brand=brand, format=spec.get("format"),
                          pattern=spec.get("pattern", ImportSpec.pattern),
                          source=spec.get("source"))
    except MonitorConfigError as exc:
        raise MonitorConfigError(f"{at}: {exc}") from None
