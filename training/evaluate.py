"""Evaluation protocols and their yardsticks.

- complaints-2019: stratified k-fold cross-validation (10 in the papers), macro-F1 and
  accuracy, mean and standard deviation over folds.
- airline-sentiment-2015: a fixed, stratified, de-duplicated 80/20 split
  (``training.splits.dedup_split``), accuracy and macro-F1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import datasets
import numpy as np
from sklearn.metrics import accuracy_score, classification_report, f1_score
from sklearn.model_selection import StratifiedKFold

from nlp.classifier.baseline import BaselineClassifier
from nlp.taxonomy import SENTIMENTS
from training.baseline import fit_head, theme_training_rows
from training.config import BaselineConfig

# Published figures the product is held against (see README, "Baseline").
YARDSTICKS = {
    "complaints_macro_f1_2019_paper": 0.79,  # Preotiuc-Pietro et al. 2019, best model
    "complaints_macro_f1_transformers": (0.87, 0.882),  # Jin & Aletras 2020/2021
    "airline_accuracy_roberta": 0.869,
    "airline_macro_f1_roberta": 0.82,
}


@dataclass(frozen=True)
class CVResult:
    """Per-fold and summary scores of one cross-validation."""

    macro_f1: tuple[float, ...]
    accuracy: tuple[float, ...]

    def summary(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}_macro_f1_mean": float(np.mean(self.macro_f1)),
            f"{prefix}_macro_f1_std": float(np.std(self.macro_f1)),
            f"{prefix}_accuracy_mean": float(np.mean(self.accuracy)),
            f"{prefix}_accuracy_std": float(np.std(self.accuracy)),
        }


def cross_validate_complaints(ds: datasets.Dataset, config: BaselineConfig,
                              on_fold: Callable[[int, float, float], None] | None = None
                              ) -> CVResult:
    """Stratified ``config.cv_folds``-fold CV of the complaint head on complaints-2019."""
    texts = np.asarray(ds["text"], dtype=object)
    labels = np.asarray(ds["complaint"])
    folds = StratifiedKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
    f1s, accs = [], []
    for fold, (train_idx, test_idx) in enumerate(folds.split(texts, labels)):
        head = fit_head(texts[train_idx], labels[train_idx], config)
        predicted = head.classifier.predict(head.vectorizer.transform(texts[test_idx]))
        f1s.append(float(f1_score(labels[test_idx], predicted, average="macro")))
        accs.append(float(accuracy_score(labels[test_idx], predicted)))
        if on_fold is not None:
            on_fold(fold, f1s[-1], accs[-1])
    return CVResult(tuple(f1s), tuple(accs))


def evaluate_sentiment(model: BaselineClassifier, test: datasets.Dataset
                       ) -> tuple[dict[str, float], str]:
    """Accuracy and macro-F1 of the sentiment head, and sklearn's per-class report."""
    probs = model.predict_proba(test["text"])["sentiment"]
    predicted = [SENTIMENTS[i] for i in probs.argmax(axis=1)]
    gold = test["sentiment"]
    metrics = {
        "airline_accuracy": float(accuracy_score(gold, predicted)),
        "airline_macro_f1": float(f1_score(gold, predicted, average="macro")),
    }
    report = classification_report(gold, predicted, labels=list(SENTIMENTS), digits=3)
    return metrics, report


def evaluate_themes(model: BaselineClassifier, test: datasets.Dataset,
                    threshold: float = 0.5) -> dict[str, float]:
    """F1 of each theme head on test tweets whose theme label is known (mapped reasons)."""
    probs = model.predict_proba(test["text"])
    metrics = {}
    for theme in model.themes:
        rows, gold = theme_training_rows(test, theme)
        if not rows or sum(gold) == 0:
            continue
        predicted = (probs[f"theme:{theme}"][rows] >= threshold).astype(int)
        metrics[f"airline_theme_{theme}_f1"] = float(f1_score(gold, predicted))
    return metrics


def format_yardsticks(metrics: dict[str, float]) -> list[tuple[str, str, str]]:
    """Rows of (measure, ours, published) for the README and the CLI."""
    def fmt(key: str) -> str:
        mean, std = metrics.get(f"{key}_mean"), metrics.get(f"{key}_std")
        return "n/a" if mean is None else f"{mean:.3f} ± {std:.3f}"

    low, high = YARDSTICKS["complaints_macro_f1_transformers"]
    rows: Sequence[tuple[str, str, str]] = [
        ("complaints-2019 macro-F1 (CV)", fmt("complaints_macro_f1"),
         f"{YARDSTICKS['complaints_macro_f1_2019_paper']} (2019 paper); "
         f"{low}-{high} (transformers)"),
        ("complaints-2019 accuracy (CV)", fmt("complaints_accuracy"), "-"),
        ("airline accuracy (dedup 80/20)", f"{metrics.get('airline_accuracy', float('nan')):.3f}",
         f"{YARDSTICKS['airline_accuracy_roberta']} (RoBERTa)"),
        ("airline macro-F1 (dedup 80/20)", f"{metrics.get('airline_macro_f1', float('nan')):.3f}",
         f"{YARDSTICKS['airline_macro_f1_roberta']} (RoBERTa)"),
    ]
    return list(rows)
