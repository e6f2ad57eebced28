"""Monitoring cycles: collect, import, score what is new, update the risk history, alert.

One cycle (:func:`run_cycle`):

1. collects every configured query, resuming from its checkpoint (one failing source
   is reported and the others go on);
2. imports dump files not imported before (known by their sha256);
3. scores the posts that have no prediction from the current model version, in batches,
   each batch stored in one transaction (a stopped cycle loses nothing and the next one
   scores only what is left);
4. recomputes each brand's ``BrandRisk`` over the last ``history_windows`` windows
   (boundaries pinned to ``anchor``) and stores one point per brand, window and score
   version: a cycle over the same window replaces its point, never adds one;
5. finds alerts on each brand's latest window and delivers each at most once per channel;
   a delivery that fails is recorded in the result (``undelivered``) and sent again by the
   next cycles (for ``REDELIVER_FOR``).

:func:`run_monitor` repeats cycles every ``interval`` until SIGTERM or Ctrl-C, which
end it between steps, never inside a write.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nlp.dumps import sha256_file
from radar.monitor.config import CollectSpec, ImportSpec, MonitorConfig
from radar.store import PostStore

Log = Callable[[str], None]
REDELIVER_FOR = timedelta(days=14)  # how long a failed alert delivery keeps being retried


class StopRequested(Exception):
    """Raised inside a wait when a stop was asked for (not an error)."""


class Stop:
    """Set by SIGTERM/SIGINT; cycles check it between steps and waits end on it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self, *_: Any) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


@dataclass
class CycleResult:
    """What one cycle did; ``errors`` holds the steps that failed, with the reason, and
    ``undelivered`` the alert deliveries that failed (the next cycles send them again)."""

    started_at: datetime
    collected: dict[str, int] = field(default_factory=dict)  # "source query" -> new posts
    imported: dict[str, int] = field(default_factory=dict)  # file -> new posts
    scored: int = 0
    model_version: str | None = None
    points: int = 0
    alerts: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)  # "channel alert-key: reason"
    stopped: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class AlertOutcome:
    """What the alert step did: alerts found, deliveries sent, deliveries that failed."""

    found: int = 0
    sent: int = 0
    failed: tuple[str, ...] = ()  # "channel alert-key: reason"


def collect_step(spec: CollectSpec, store: PostStore, log: Log, stop: Stop | None = None
                 ) -> int:
    """Collect one query (resuming); returns the new posts. Raises CollectError, KeyError or
    NotInstalled (a source whose extra is missing)."""
    from radar.collect import load_source_module, parse_since
    from radar.collect.base import Query
    from radar.collect.runner import RunnerConfig, collect_posts

    module = load_source_module(spec.source)
    source = module.make_source(base_url=spec.base_url)
    query = Query(terms=spec.query, brand=spec.brand, since=parse_since(spec.since),
                  options=dict(spec.options))
    stored = store.get_checkpoint(source.name, query.key)
    if stored is not None and not stored.done:
        # A relative since ("30d") moves every cycle; an unfinished pass resumes with its own.
        query = replace(query, since=None)
    stop = stop if stop is not None else Stop()

    def wait(seconds: float) -> None:
        # A SIGTERM during a platform's Retry-After ends the wait and the collection.
        if stop.wait(seconds):
            raise StopRequested

    try:
        result = collect_posts(source, query, store, RunnerConfig(
            max_pages=spec.max_pages, max_requests=spec.max_requests,
            max_retries=spec.max_retries), sleep=wait)
    except StopRequested:
        log(f"collect {spec.source} {spec.query!r}: stopped while waiting; the next cycle "
            "resumes from the checkpoint")
        return 0
    log(f"collect {spec.source} {spec.query!r} ({spec.brand}): {result.posts_new} new, "
        f"{result.posts_seen} seen, {result.status}: {result.reason}")
    if result.status == "failed":
        raise RuntimeError(f"{spec.source} {spec.query!r}: {result.reason}")
    return result.posts_new


def import_step(spec: ImportSpec, store: PostStore, log: Log) -> dict[str, int]:
    """Import the spec's files not imported before; returns file -> new posts."""
    from radar.collect.files import import_file
    from radar.store.history import imported_file, mark_imported

    if spec.path.is_dir():
        files = sorted(p for p in spec.path.glob(spec.pattern) if p.is_file())
    elif spec.path.is_file():
        files = [spec.path]
    else:
        # run_cycle names the path: "import PATH: no such file or folder ..."
        raise FileNotFoundError(f"no such file or folder (imports of {spec.brand})")
    done: dict[str, int] = {}
    for path in files:
        digest = sha256_file(path)
        if imported_file(store, digest):
            continue
        result = import_file(path, store, spec.format, brand=spec.brand, source=spec.source)
        mark_imported(store, digest, str(path), result.run_id, datetime.now(UTC))
        log(f"import {path.name} ({spec.brand}): rows in {result.rows_in} = new "
            f"{result.posts_new} + seen {result.posts_seen} + rejected {result.rejected}")
        done[str(path)] = result.posts_new
    return done


def score_step(store: PostStore, classifier: Any, batch_size: int, stop: Stop,
               log: Log, brand: str | None = None,
               progress: Callable[[int], None] | None = None) -> int:
    """Score the posts (of ``brand``) without a prediction from this model version, a batch
    per write; ``progress`` gets the posts scored so far after each batch."""
    version = classifier.model_version
    scored = 0
    after = None
    while not stop:
        batch = store.unscored_batch(version, batch_size, after, brand)
        if not batch:
            break
        predictions = classifier.predict([p.text for p in batch], keys=[p.key for p in batch])
        store.save_predictions(predictions)
        scored += len(predictions)
        after = batch[-1].key
        if progress is not None:
            progress(scored)
    if scored:
        log(f"scored {scored} new posts with {version}")
    return scored


def risk_step(store: PostStore, config: MonitorConfig, model_version: str,
              now: datetime) -> list:
    """Recompute and store each brand's last ``history_windows`` windows; returns them."""
    from nlp.risk import RiskConfig, RiskPost, score_brands
    from radar.store.history import (
        iter_scored,
        latest_post_time,
        post_coverage,
        post_key,
        save_brand_windows,
        stored_brands,
    )

    brands = list(config.brands) or stored_brands(store)
    # What the store covers (any brand): a window it covers in part is marked partial and
    # its trend is not compared, the same rule as `radar report` (nlp.risk.is_partial).
    coverage = post_coverage(store, until=now)
    risk_config = RiskConfig(excluded_authors=config.excluded_authors())
    windows = []
    for brand in brands:
        # A post dated in the future (a wrong clock) must not move the history's end.
        last = latest_post_time(store, brand, until=now)
        if last is None:
            continue  # nothing dated yet: a history needs dated posts
        end = config.anchor + (((last - config.anchor) // config.window) + 1) * config.window
        # One window more than is kept, so the oldest kept window still has its trend.
        horizon = end - (config.history_windows + 1) * config.window
        posts = [replace(RiskPost.from_prediction(prediction, brand, post.author_id,
                                                  post.created_at, post.text),
                         post_id=post_key(post.source, post.post_id))
                 for post, prediction in iter_scored(store, model_version, brand, horizon)
                 if post.created_at is not None and post.created_at < end]
        if posts:
            scored, _ = score_brands(posts, risk_config, config.window, config.anchor,
                                     coverage)
            windows.extend(w for w in scored if w.risk.window_start is not None
                           and w.risk.window_start >= horizon + config.window)
    save_brand_windows(store, windows, model_version, now)
    return windows


def alert_step(store: PostStore, config: MonitorConfig, windows: list, now: datetime,
               log: Log, stop: Stop | None = None) -> tuple[int, int]:
    """Find alerts on the brands' latest windows and deliver them; (found, delivered).

    :func:`deliver_alerts` does it and also says which deliveries failed.
    """
    outcome = deliver_alerts(store, config, windows, now, log, stop)
    return outcome.found, outcome.sent


def deliver_alerts(store: PostStore, config: MonitorConfig, windows: list, now: datetime,
                   log: Log, stop: Stop | None = None) -> AlertOutcome:
    """Find alerts on the brands' latest windows and deliver them, with the alerts whose
    delivery failed in an earlier cycle; raises ValueError when the channels cannot be
    built (the alerts are recorded, then)."""
    from nlp.risk import SCORE_VERSION
    from radar.monitor.alerts import Alert, AlertRules, find_alerts
    from radar.monitor.notify import FAILED, SENT, channels_from_config, deliver
    from radar.store.history import brand_history, undelivered_alerts, window_customers

    rules = AlertRules.from_dict(config.alert_rules)
    brands = sorted({w.risk.brand for w in windows})
    history = {b: brand_history(store, b, SCORE_VERSION) for b in brands}
    alerts = find_alerts(history, lambda point: window_customers(store, point, 0.0, None, 50),
                         rules)
    try:
        channels, config_error = channels_from_config(config.channels), None
    except ValueError as exc:  # e.g. a missing secret: record the alerts, then say so
        channels, config_error = [], exc
    # Alerts whose delivery failed in an earlier cycle are sent again even when their
    # window is no longer among the latest (for REDELIVER_FOR after they were recorded).
    found = {a.key for a in alerts}
    earlier = [Alert.from_payload(a.payload) for a in
               undelivered_alerts(store, [c.name for c in channels], now - REDELIVER_FOR)
               if a.alert_key not in found]
    if not alerts and not earlier:
        return AlertOutcome()
    results = deliver(store, alerts + earlier, channels, now=now,
                      sleep=(lambda s: stop.wait(s)) if stop is not None else time.sleep)
    sent = sum(1 for r in results if r.status == SENT)
    failed = tuple(f"{r.channel} {r.alert_key}: {r.error}" for r in results
                   if r.status == FAILED)
    log(f"alerts: {len(alerts)} found, {sent} deliveries sent"
        + (f", {len(failed)} failed (sent again by the next cycles)" if failed else "")
        + ("" if channels else " (no channels configured: recorded only)"))
    if config_error is not None:
        raise ValueError(f"{len(alerts)} alerts recorded but not sent: {config_error}")
    return AlertOutcome(len(alerts), sent, failed)


def run_cycle(config: MonitorConfig, store: PostStore, load_model: Callable[[], Any],
              stop: Stop | None = None, log: Log = print) -> CycleResult:
    """One monitoring cycle (see the module docstring); never raises for one failing step."""
    stop = stop if stop is not None else Stop()  # a Stop is falsy until set
    started = time.perf_counter()
    result = CycleResult(started_at=datetime.now(UTC))
    for spec in config.collect:
        if stop:
            break
        try:
            result.collected[f"{spec.source} {spec.query}"] = collect_step(spec, store, log,
                                                                           stop)
        except Exception as exc:  # noqa: BLE001 - one source must not stop the cycle
            result.errors.append(f"collect {spec.source} {spec.query!r}: {exc}")
    for spec in config.imports:
        if stop:
            break
        try:
            result.imported.update(import_step(spec, store, log))
        except Exception as exc:  # noqa: BLE001 - one dump must not stop the cycle
            result.errors.append(f"import {spec.path}: {exc}")
    if not stop:
        try:
            classifier = load_model()
        except Exception as exc:  # noqa: BLE001 - reported; history needs a model
            result.errors.append(f"model: {exc}")
            classifier = None
        windows = None
        if classifier is not None:
            result.model_version = classifier.model_version
            try:
                result.scored = score_step(store, classifier, config.score_batch, stop, log)
            except Exception as exc:  # noqa: BLE001 - what was scored is kept; go on
                result.errors.append(f"scoring: {type(exc).__name__}: {exc}")
            if not stop:
                now = datetime.now(UTC)
                try:
                    windows = risk_step(store, config, classifier.model_version, now)
                    result.points = len(windows)
                except Exception as exc:  # noqa: BLE001 - reported; the loop goes on
                    result.errors.append(f"risk history: {type(exc).__name__}: {exc}")
        if windows is not None and not stop:
            try:
                outcome = deliver_alerts(store, config, windows, now, log, stop)
                result.alerts, result.delivered = outcome.found, outcome.sent
                result.undelivered.extend(outcome.failed)
            except Exception as exc:  # noqa: BLE001 - alerts must not lose the history
                result.errors.append(f"alerts: {exc}")
    result.stopped = bool(stop)
    result.seconds = time.perf_counter() - started
    return result


def run_monitor(config: MonitorConfig, store_path: Path | None, once: bool,
                load_model: Callable[[], Any], log: Log = print,
                on_cycle: Callable[[CycleResult], None] | None = None) -> list[CycleResult]:
    """Cycles until stopped (``once``: one). SIGTERM and Ctrl-C stop between steps."""
    from radar.store import StoreError, open_store

    stop = Stop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for sig in previous:
            signal.signal(sig, stop.set)
    model: list[Any] = []

    def cached_model() -> Any:
        if not model:
            model.append(load_model())
        return model[0]

    results = []
    try:
        while True:
            try:
                store = open_store(store_path)
            except StoreError as exc:
                if not results:
                    raise  # a first cycle that cannot open its store: a set-up error
                # A shared server restarting must not end a long-running monitor: this
                # cycle fails, the next one tries again.
                results.append(CycleResult(started_at=datetime.now(UTC),
                                           errors=[f"store: {exc}"]))
                log(f"store unavailable, cycle skipped: {exc}")
            else:
                with store:
                    results.append(run_cycle(config, store, cached_model, stop, log))
            if on_cycle is not None:
                on_cycle(results[-1])
            if once or stop:
                break
            log(f"next cycle in {config.interval}; Ctrl-C or SIGTERM stops")
            if stop.wait(config.interval.total_seconds()):
                break
    finally:
        if in_main:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return results


def store_scored_dump(store: PostStore, scored_path: Path, source: str,
                      batch_size: int = 2000) -> tuple[int, str | None]:
    """Store a scored dump's posts and predictions as they are (no second scoring).

    Returns the rows stored and the model version that scored them. The demo uses this to
    give the dashboard its data.
    """
    import pyarrow.parquet as pq

    from nlp.classifier.contract import prediction_from_record
    from nlp.times import parse_time
    from nlp.types import Post

    rows, version = 0, None
    for batch in pq.ParquetFile(scored_path).iter_batches(batch_size=batch_size):
        records = batch.to_pylist()
        posts = [Post(source=source, post_id=str(r["id"]), text=r.get("text") or "",
                      brand=r.get("brand"), author_id=r.get("author_id"),
                      created_at=parse_time(r.get("created_at"), "created_at"))
                 for r in records]
        predictions = [prediction_from_record(r, source) for r in records]
        with store.transaction():
            store.save_posts(posts)
            store.save_predictions(predictions)
        rows += len(records)
        version = version or (predictions[0].model_version if predictions else None)
    return rows, version
