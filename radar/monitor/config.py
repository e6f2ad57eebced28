"""The monitor's YAML config: brands, their sources and dump folders, window, alerts.

Example (``monitor.example.yaml`` in the repository root)::

    store: data/radar.db                     # --db overrides; default $RADAR_DB or data/radar.db
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from nlp.risk import parse_window

DEFAULT_ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday: weekly windows run Mon-Mon


DEFAULT_BRAND_BOOK = Path("data/brands.yaml")


class MonitorConfigError(ValueError):
    """The monitor config is wrong; the message names the file, the entry and the fix."""


def _interval(text: str, where: str) -> timedelta:
    try:
        value = parse_window(str(text))
    except ValueError as exc:
        raise MonitorConfigError(f"{where}: {exc}") from None
    if value is None:
        raise MonitorConfigError(f"{where}: 'all' is not a length here; give e.g. 1h or 7d")
    return value


def _only(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
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


@dataclass(frozen=True)
class MonitorConfig:
    """Everything one monitoring cycle does; read with :func:`load_monitor_config`."""

    collect: tuple[CollectSpec, ...] = ()
    imports: tuple[ImportSpec, ...] = ()
    brands: tuple[str, ...] = ()
    store: Path | None = None
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
        if self.history_windows < 2:
            raise MonitorConfigError(f"history_windows must be >= 2 (a trend needs two), got "
                                     f"{self.history_windows}")
        if self.score_batch < 1:
            raise MonitorConfigError(f"score_batch must be >= 1, got {self.score_batch}")
        if self.backend not in ("torch", "onnx"):
            raise MonitorConfigError(f"backend must be torch or onnx, got {self.backend!r}")

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
        return {"brands": list(self.brands), "store": str(self.store) if self.store else None,
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
    _only(raw, {"store", "model", "backend", "window", "anchor", "history_windows", "interval",
                "brands", "alerts", "score_batch", "brand_book"}, where)
    brands = raw.get("brands") or {}
    if not isinstance(brands, dict) or not brands:
        raise MonitorConfigError(f"{where}: 'brands' must map each brand name to its "
                                 "collect/imports entries")
    collect: list[CollectSpec] = []
    imports: list[ImportSpec] = []
    for brand, entry in brands.items():
        at = f"{where}: brands.{brand}"
        entry = entry or {}
        if not isinstance(entry, dict):
            raise MonitorConfigError(f"{at}: expected a mapping with collect and/or imports")
        _only(entry, {"collect", "imports"}, at)
        for i, spec in enumerate(entry.get("collect") or []):
            try:
                collect.append(_collect_spec(spec, str(brand), f"{at}.collect[{i}]"))
            except (TypeError, ValueError) as exc:
                if isinstance(exc, MonitorConfigError):
                    raise
                raise MonitorConfigError(f"{at}.collect[{i}]: {exc}") from exc
        for i, spec in enumerate(entry.get("imports") or []):
            imports.append(_import_spec(spec, str(brand), base_dir, f"{at}.imports[{i}]"))
    alerts = raw.get("alerts") or {}
    if not isinstance(alerts, dict):
        raise MonitorConfigError(f"{where}: alerts must be a mapping (rules, channels)")
    _only(alerts, {"rules", "channels"}, f"{where}: alerts")
    anchor = raw.get("anchor", DEFAULT_ANCHOR)
    if not isinstance(anchor, datetime):
        try:
            anchor = datetime.fromisoformat(str(anchor))
        except ValueError:
            raise MonitorConfigError(f"{where}: anchor {anchor!r} is not an ISO 8601 date"
                                     ) from None
    anchor = anchor.replace(tzinfo=UTC) if anchor.tzinfo is None else anchor.astimezone(UTC)
    _check_alerts(alerts, f"{where}: alerts")
    store = raw.get("store")
    try:
        return MonitorConfig(
            collect=tuple(collect), imports=tuple(imports), brands=tuple(map(str, brands)),
            store=(base_dir / store) if store else None,
            model=str(raw.get("model", MonitorConfig.model)),
            backend=str(raw.get("backend", "torch")),
            window=_interval(raw.get("window", "7d"), f"{where}: window"),
            anchor=anchor, history_windows=int(raw.get("history_windows", 12)),
            interval=_interval(raw.get("interval", "1h"), f"{where}: interval"),
            alert_rules=dict(alerts.get("rules") or {}),
            channels=dict(alerts.get("channels") or {}),
            score_batch=int(raw.get("score_batch", 256)),
            brand_book=(base_dir / raw["brand_book"]) if raw.get("brand_book") else None)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, MonitorConfigError):
            raise
        raise MonitorConfigError(f"{where}: {exc}") from exc


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
    from radar.collect import SOURCES

    if not isinstance(spec, dict):
        raise MonitorConfigError(f"{at}: expected a mapping with source and query")
    _only(spec, {"source", "query", "since", "options", "max_pages", "max_requests",
                 "max_retries", "base_url"}, at)
    if spec.get("source") not in SOURCES:
        raise MonitorConfigError(f"{at}: source {spec.get('source')!r} is not one of "
                                 f"{sorted(SOURCES)}")
    if not spec.get("query"):
        raise MonitorConfigError(f"{at}: a query is needed")
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise MonitorConfigError(f"{at}: options must be a mapping of strings")
    from radar.collect import parse_since

    parse_since(spec.get("since"))  # refuse a bad since now, not in every cycle
    max_pages = spec.get("max_pages")
    if max_pages is not None and (not isinstance(max_pages, int) or max_pages < 1):
        raise MonitorConfigError(f"{at}: max_pages must be a whole number >= 1, got "
                                 f"{max_pages!r}")
    return CollectSpec(source=spec["source"], query=str(spec["query"]), brand=brand,
                       since=None if spec.get("since") is None else str(spec["since"]),
                       options={str(k): str(v) for k, v in options.items()},
                       max_pages=spec.get("max_pages"),
                       max_requests=int(spec.get("max_requests", 200)),
                       max_retries=int(spec.get("max_retries", 5)),
                       base_url=spec.get("base_url"))


def _import_spec(spec: Any, brand: str, base_dir: Path, at: str) -> ImportSpec:
    from radar.collect.files import IMPORT_FORMATS

    if not isinstance(spec, dict) or "path" not in spec:
        raise MonitorConfigError(f"{at}: expected a mapping with a path")
    _only(spec, {"path", "format", "pattern", "source"}, at)
    fmt = spec.get("format")
    if fmt is not None and fmt not in IMPORT_FORMATS:
        raise MonitorConfigError(f"{at}: format {fmt!r} is not one of {IMPORT_FORMATS}")
    return ImportSpec(path=base_dir / str(spec["path"]), brand=brand, format=fmt,
                      pattern=str(spec.get("pattern", "*")),
                      source=None if spec.get("source") is None else str(spec["source"]))
