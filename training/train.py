"""Train, evaluate, save and track the baseline in one reproducible run."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nlp.classifier import ModelLoadError, read_model_meta
from nlp.console import make_console
from training import datasets as registry
from training.baseline import fit_baseline
from training.config import BaselineConfig
from training.evaluate import cross_validate_complaints, evaluate_sentiment, evaluate_themes
from training.splits import dedup_split, stratified_subsample
from training.tracking import library_versions, start_run


@dataclass(frozen=True)
class TrainResult:
    """Where the trained model went, which MLflow run holds it, and what it scored."""

    model_dir: Path
    run_id: str | None
    metrics: dict[str, float]
    reused: bool = False


def dataset_fingerprints() -> dict[str, str]:
    """sha256 of each registered dataset file (verified, so these are the registered ones)."""
    return {name: spec.sha256 for name, spec in sorted(registry.REGISTRY.items())}


def train_baseline(config: BaselineConfig, tracking_uri: str | None = None,
                   console: Console | None = None) -> TrainResult:
    """Evaluate the baseline with the standard protocols, fit it, save it and log the run."""
    console = console or make_console(stderr=True)
    started = time.perf_counter()
    complaints = stratified_subsample(
        registry.load("complaints-2019"), "complaint", config.subsample, config.seed)
    airline = stratified_subsample(
        registry.load("airline-sentiment-2015"), "sentiment", config.subsample, config.seed)
    split = dedup_split(airline, "sentiment", config.test_size, config.seed)
    console.print(
        f"complaints-2019: {len(complaints)} rows; airline-sentiment-2015: {len(airline)} rows "
        f"-> {split.duplicates_dropped} duplicate texts dropped "
        f"({split.conflicting_labels} with conflicting labels), "
        f"train {len(split.train)} / test {len(split.test)}"
    )
    sizes = {"complaints_rows": len(complaints), "airline_rows": len(airline),
             "airline_duplicates_dropped": split.duplicates_dropped,
             "airline_train_rows": len(split.train), "airline_test_rows": len(split.test)}

    with start_run(config.experiment, config.name, tracking_uri) as run:
        run.log_params({**config.to_dict(), **sizes})
        run.set_tags({**{f"data.{k}.sha256": v for k, v in dataset_fingerprints().items()},
                      **{f"lib.{k}": v for k, v in library_versions().items()},
                      "config_fingerprint": config.fingerprint()})

        with _progress(console) as progress:
            task = progress.add_task(f"complaints-2019 {config.cv_folds}-fold CV",
                                     total=config.cv_folds)

            def on_fold(fold: int, f1: float, acc: float) -> None:
                run.log_metrics({"complaints_fold_macro_f1": f1,
                                 "complaints_fold_accuracy": acc}, step=fold)
                progress.advance(task)

            cv = cross_validate_complaints(complaints, config, on_fold=on_fold)
        metrics = cv.summary("complaints")

        console.print("fitting the final heads ...")
        meta = _model_meta(config, sizes, run.run_id)
        model = fit_baseline(complaints, split.train, config, meta)
        sentiment_metrics, sentiment_report = evaluate_sentiment(model, split.test)
        metrics.update(sentiment_metrics)
        metrics.update(evaluate_themes(model, split.test))
        metrics["train_seconds"] = round(time.perf_counter() - started, 1)
        model.meta["metrics"] = metrics
        run.log_metrics(metrics)
        run.log_text(sentiment_report, "airline_sentiment_report.txt")
        run.log_dict({"cv_macro_f1": list(cv.macro_f1), "cv_accuracy": list(cv.accuracy),
                      **metrics}, "metrics.json")

        model_dir = Path(config.model_dir)
        _save_atomically(model, model_dir)
        run.log_dir(model_dir, "model")
    return TrainResult(model_dir, run.run_id, metrics)


def ensure_baseline(config: BaselineConfig, tracking_uri: str | None = None,
                    console: Console | None = None) -> TrainResult:
    """Reuse the saved baseline if it was trained from this config and these datasets."""
    console = console or make_console(stderr=True)
    model_dir = Path(config.model_dir)
    try:
        meta, _ = read_model_meta(model_dir)
    except ModelLoadError:
        meta = None
    if (meta is not None and meta.get("config_fingerprint") == config.fingerprint()
            and meta.get("data") == dataset_fingerprints()):
        console.print(f"reusing {model_dir} ({meta['model_version']}, run {meta.get('run_id')})")
        return TrainResult(model_dir, meta.get("run_id"), meta.get("metrics", {}), reused=True)
    return train_baseline(config, tracking_uri, console)


def _model_meta(config: BaselineConfig, sizes: dict[str, int], run_id: str) -> dict[str, Any]:
    fingerprint = config.fingerprint()
    return {
        "name": config.name,
        "kind": config.kind,
        "model_version": f"{config.name}-{fingerprint[:10]}",
        "config": config.to_dict(),
        "config_fingerprint": fingerprint,
        "data": dataset_fingerprints(),
        "sizes": sizes,
        "run_id": run_id,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "libraries": library_versions(),
    }


def _save_atomically(model: Any, model_dir: Path) -> None:
    save_atomically(model.save, model_dir)


def save_atomically(write: Callable[[Path], None], model_dir: Path) -> None:
    """``write(folder)`` into a sibling temp folder, then swap it in: a crash or a full disk
    never leaves half a model, and a failed write leaves no temp folder behind."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}-", dir=model_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is shared like any other
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if model_dir.exists():
        old = model_dir.with_name(f".{model_dir.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        model_dir.rename(old)
        tmp.rename(model_dir)
        shutil.rmtree(old)
    else:
        tmp.rename(model_dir)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console)
