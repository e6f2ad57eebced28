"""The end-to-end demo: verified data -> baseline (trained or reused) -> scored airline tweets
-> ex-customers at risk per brand.

It takes the path a user takes: the tweets are written as a review dump, scored by
``score_dump`` (what ``radar score`` runs) and reported on by ``build_report`` (what
``radar report`` runs), so the demo exercises the product, not a shortcut.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from nlp.batch import BatchResult, score_dump
from nlp.brands import BrandBook
from nlp.classifier import load_classifier
from nlp.report import Report, build_report
from training import datasets as registry
from training.config import BaselineConfig
from training.train import TrainResult, ensure_baseline

DEMO_DIR = Path("data/processed/demo")
BRANDS_PATH = Path("data/brands.yaml")
DEMO_WINDOW = "4d"  # the 8 days of tweets in two halves: the latest half, trend vs the first
DUMP_FIELDS = ("post_id", "text", "brand", "author_id", "created_at")


@dataclass(frozen=True)
class DemoResult:
    """The scoring run, the risk report and the model run they came from."""

    batch: BatchResult
    report: Report
    train: TrainResult
    scored_path: Path


def write_airline_dump(path: Path) -> int:
    """The airline tweets as a JSONL review dump (id, text, brand, author, time); row count."""
    rows = registry.load("airline-sentiment-2015")
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({k: row[k] for k in DUMP_FIELDS}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return len(rows)


def run_demo(config: BaselineConfig, tracking_uri: str | None = None,
             console: Console | None = None, demo_dir: Path = DEMO_DIR,
             window: str = DEMO_WINDOW) -> DemoResult:
    """Verify the datasets, get the baseline, score the airline tweets, report risk per brand."""
    console = console or Console(stderr=True)
    for name, spec in sorted(registry.REGISTRY.items()):
        where, path = registry.resolve_path(spec)
        console.print(f"[green]verified[/green] {name}: {path} ({where}, sha256 ok)",
                      soft_wrap=True)
    result = ensure_baseline(config, tracking_uri, console)
    classifier = load_classifier(result.model_dir)

    # Note: the sentiment head was trained on 80% of these tweets; the held-out
    # figures are in the model's metrics, this is the product's view of the data.
    demo_dir.mkdir(parents=True, exist_ok=True)
    dump_path = demo_dir / "airline-2015.jsonl"
    scored_path = demo_dir / "airline-2015.scored.parquet"
    rows = write_airline_dump(dump_path)
    console.print(f"scoring {rows:,} airline tweets -> {scored_path}", soft_wrap=True)
    parts = scored_path.with_name(scored_path.name + ".parts")
    batch = score_dump(dump_path, scored_path, classifier, resume=parts.exists())
    book = BrandBook.from_yaml(BRANDS_PATH) if BRANDS_PATH.is_file() else None
    report = build_report(scored_path, book, window=window)
    return DemoResult(batch, report, result, scored_path)
