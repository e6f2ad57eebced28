"""The end-to-end demo: verified data -> model -> scored airline tweets -> ex-customers at
risk per brand.

The model is the fine-tuned champion registered in MLflow (``models:/complaint-radar@champion``)
when there is one; otherwise the demo config (``training/configs/demo.yaml``, about 10
minutes on 2 CPU cores) is trained, registered (it becomes the champion, there being none)
and reused from then on. A baseline config (``kind: tfidf-logreg``) runs the demo on the
TF-IDF baseline instead.

It takes the path a user takes: the tweets are written as a review dump, scored by
``score_dump`` (what ``radar score`` runs) and reported on by ``build_report`` (what
``radar report`` runs), so the demo exercises the product, not a shortcut.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from nlp.batch import BatchResult, score_dump
from nlp.brands import BrandBook
from nlp.classifier import CHAMPION_URI, Classifier, ModelLoadError, load_classifier
from nlp.console import labelled, make_console
from nlp.report import Report, build_report
from training import datasets as registry
from training.config import BaselineConfig, FineTuneConfig
from training.train import ensure_baseline

DEMO_DIR = Path("data/processed/demo")
BRANDS_PATH = Path("data/brands.yaml")
# The 8 days of tweets (Feb 17-24, 2015, UTC) in two whole halves: the latest half, trend
# against the first. 7-day windows would leave the earlier one holding a single day (a
# partial window, no trend). The terminal table and the dashboard's store use these same
# windows, from the same anchor (the report's latest window end).
DEMO_WINDOW = "4d"
DUMP_FIELDS = ("post_id", "text", "brand", "author_id", "created_at")


@dataclass(frozen=True)
class DemoResult:
    """The scoring run, the risk report and the model run they came from."""

    batch: BatchResult
    report: Report
    model: str  # which model scored, in words
    scored_path: Path
    store_path: Path | None = None  # the dashboard's data (`radar serve --db ...`)
    history_points: int = 0


def write_airline_dump(path: Path) -> int:
    """The airline tweets as a JSONL review dump (id, text, brand, author, time); row count."""
    rows = registry.load("airline-sentiment-2015")
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({k: row[k] for k in DUMP_FIELDS}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return len(rows)


def demo_classifier(config: BaselineConfig | FineTuneConfig, tracking_uri: str | None,
                    console: Console) -> tuple[Classifier, str]:
    """The model the demo scores with, and how it was chosen (see the module docstring)."""
    if isinstance(config, BaselineConfig):
        result = ensure_baseline(config, tracking_uri, console)
        classifier = load_classifier(result.model_dir)
        return classifier, f"TF-IDF baseline {classifier.model_version} ({result.model_dir})"
    try:
        classifier = load_classifier(CHAMPION_URI, tracking_uri)
        return classifier, (f"fine-tuned champion {classifier.model_version} "
                            f"({CHAMPION_URI}, run {classifier.meta.get('run_id')})")
    except ModelLoadError:
        console.print(f"no champion registered yet; training {config.name} "
                      f"(about 10 minutes on 2 CPU cores; reused afterwards) ...")
    from training.train_transformer import ensure_transformer

    run = ensure_transformer(config, tracking_uri, console)
    classifier = load_classifier(run.model_dir)
    how = "champion" if run.champion else "not the champion"
    return classifier, (f"fine-tuned {classifier.model_version} ({run.model_dir}, "
                        f"registered v{run.version}, {how})" if run.version else
                        f"fine-tuned {classifier.model_version} ({run.model_dir})")


def run_demo(config: BaselineConfig | FineTuneConfig, tracking_uri: str | None = None,
             console: Console | None = None, demo_dir: Path = DEMO_DIR,
             window: str = DEMO_WINDOW) -> DemoResult:
    """Verify the datasets, get the model, score the airline tweets, report risk per brand."""
    console = console or make_console(stderr=True)
    for name, spec in sorted(registry.REGISTRY.items()):
        where, path = registry.resolve_path(spec)
        console.print(labelled("verified", "green", f"{name}: {path} ({where}, sha256 ok)"),
                      soft_wrap=True)
    classifier, which = demo_classifier(config, tracking_uri, console)
    console.print(f"model: {which}", soft_wrap=True)
    if classifier.meta.get("kind") == "multitask-transformer":
        from training.train_transformer import heldout_lines

        lines = heldout_lines(classifier.meta.get("metrics", {}))
        for line in lines or ["no held-out figures recorded with this model (trained before "
                              "issue [H]); `radar evaluate` measures them"]:
            console.print(f"its held-out figures: {line}", soft_wrap=True)

    # Note: the model was trained on most of these tweets; its held-out figures are in
    # its metrics and model card, this is the product's view of the data.
    demo_dir.mkdir(parents=True, exist_ok=True)
    dump_path = demo_dir / "airline-2015.jsonl"
    scored_path = demo_dir / "airline-2015.scored.parquet"
    rows = write_airline_dump(dump_path)
    console.print(f"scoring {rows:,} airline tweets -> {scored_path}", soft_wrap=True)
    parts = scored_path.with_name(scored_path.name + ".parts")
    batch = score_dump(dump_path, scored_path, classifier, resume=parts.exists())
    book = BrandBook.from_yaml(BRANDS_PATH) if BRANDS_PATH.is_file() else None
    report = build_report(scored_path, book, window=window)
    store_path, points = store_for_dashboard(scored_path, demo_dir / "radar.db", console,
                                             window, report.latest_end)
    return DemoResult(batch, report, which, scored_path, store_path, points)


def store_for_dashboard(scored_path: Path, store_path: Path, console: Console,
                        window: str = DEMO_WINDOW, anchor: datetime | None = None
                        ) -> tuple[Path, int]:
    """Put the scored tweets into a post store with their risk history and alerts, as a
    monitoring cycle would, so the dashboard has the demo's data.

    The history's windows are ``window`` long and pinned to ``anchor`` (give the terminal
    report's ``latest_end``), so the dashboard shows the very windows the report printed.
    """
    from nlp.risk import parse_window
    from radar.monitor.config import DEFAULT_ANCHOR, MonitorConfig
    from radar.monitor.cycle import alert_step, risk_step, store_scored_dump
    from radar.store import open_store

    with open_store(store_path) as store:
        rows, version = store_scored_dump(store, scored_path, "airline-sentiment-2015")
        config = MonitorConfig(window=parse_window(window) or timedelta(days=7),
                               anchor=anchor or DEFAULT_ANCHOR,
                               brand_book=BRANDS_PATH if BRANDS_PATH.is_file() else None)
        now = datetime.now(UTC)
        windows = risk_step(store, config, version, now)
        alerts, _ = alert_step(store, config, windows, now, lambda message: None)
    console.print(f"dashboard data: {rows:,} posts, {len(windows)} risk points ({window} "
                  "windows, as in the table), "
                  f"{alerts} alerts -> {store_path}", soft_wrap=True)
    return store_path, len(windows)
