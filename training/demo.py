"""The end-to-end demo: verified data -> baseline (trained or reused) -> scored airline tweets."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.progress import track

from nlp.classifier import load_classifier, predict_posts
from nlp.summary import BrandSummary, summarize_brands
from nlp.types import Post, Prediction
from training import datasets as registry
from training.config import BaselineConfig
from training.train import TrainResult, ensure_baseline

SCORE_BATCH = 1024


@dataclass(frozen=True)
class DemoResult:
    """The per-brand summaries and the model run they came from."""

    summaries: list[BrandSummary]
    train: TrainResult
    posts: int


def run_demo(config: BaselineConfig, tracking_uri: str | None = None,
             console: Console | None = None) -> DemoResult:
    """Verify the datasets, get the baseline, score every airline tweet, roll up per brand."""
    console = console or Console(stderr=True)
    for name, spec in sorted(registry.REGISTRY.items()):
        where, path = registry.resolve_path(spec)
        console.print(f"[green]verified[/green] {name}: {path} ({where}, sha256 ok)",
                      soft_wrap=True)
    result = ensure_baseline(config, tracking_uri, console)
    classifier = load_classifier(result.model_dir)

    # Note: the sentiment head was trained on 80% of these tweets; the held-out
    # figures are in the model's metrics, this is the product's view of the data.
    posts = [Post.from_record(row) for row in registry.load("airline-sentiment-2015")]
    predictions: list[Prediction] = []
    for start in track(range(0, len(posts), SCORE_BATCH), console=console,
                       description=f"scoring {len(posts)} airline tweets"):
        predictions.extend(predict_posts(classifier, posts[start:start + SCORE_BATCH]))
    return DemoResult(summarize_brands(posts, predictions), result, len(posts))
