"""Metrics over the multi-task heads, calibration and decision thresholds, all fitted on dev.

- ``head_metrics``: threshold-free scores for model selection (sentiment macro-F1 from the
  argmax; average precision for complaint, each theme and churn), on rows whose label is
  present. Average precision does not depend on where the threshold sits, so early
  stopping does not reward a lucky threshold.
- ``fit_calibration``: one temperature per head (per theme for themes) minimising the
  negative log-likelihood on gold dev, then one decision threshold per binary label
  maximising F1 on gold dev. Rankings are unchanged by a temperature; only the
  probabilities become honest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_fscore_support,
)

from nlp.taxonomy import SCHEMA

TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(8.0), 61))
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.025), 3)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _binary_rows(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return (mask > 0) & (values >= 0)


def _ap(gold: np.ndarray, scores: np.ndarray) -> float | None:
    if gold.sum() == 0 or gold.sum() == len(gold):
        return None
    return float(average_precision_score(gold, scores))


def head_metrics(logits: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]
                 ) -> dict[str, float]:
    """Selection metrics for one split (see the module docstring)."""
    out: dict[str, float] = {}
    rows = labels["sentiment_mask"] > 0
    if rows.any():
        gold, pred = labels["sentiment"][rows], logits["sentiment"][rows].argmax(axis=1)
        out["sentiment_macro_f1"] = float(f1_score(gold, pred, average="macro",
                                                   labels=range(len(SCHEMA.sentiments))))
        out["sentiment_accuracy"] = float(accuracy_score(gold, pred))
    for key in ("complaint", "churn_intent"):
        rows = _binary_rows(labels[key], labels[f"{key}_mask"])
        ap = _ap((labels[key][rows] >= 0.5).astype(int), logits[key][rows])
        if ap is not None:
            out[f"{key}_ap"] = ap
    rows = labels["themes_mask"] > 0
    aps = []
    for i, theme in enumerate(SCHEMA.theme_keys):
        ap = _ap((labels["themes"][rows, i] >= 0.5).astype(int), logits["themes"][rows, i])
        if ap is not None:
            out[f"theme_{theme}_ap"] = ap
            aps.append(ap)
    if aps:
        out["themes_mean_ap"] = float(np.mean(aps))
    return out


def dev_score(metrics: Mapping[str, float]) -> float:
    """One number to select epochs and champions by: the mean over the four tasks present."""
    parts = [metrics[k] for k in ("sentiment_macro_f1", "complaint_ap", "themes_mean_ap",
                                  "churn_intent_ap") if k in metrics]
    return float(np.mean(parts)) if parts else 0.0


def _nll_binary(logits: np.ndarray, gold: np.ndarray, t: float) -> float:
    p = np.clip(sigmoid(logits / t), 1e-7, 1 - 1e-7)
    return float(-np.mean(gold * np.log(p) + (1 - gold) * np.log(1 - p)))


def _best_temperature_binary(logits: np.ndarray, gold: np.ndarray) -> float:
    if len(gold) == 0 or gold.min() == gold.max():
        return 1.0
    return float(min(TEMPERATURES, key=lambda t: _nll_binary(logits, gold, t)))


# A threshold fitted on a handful of positives follows them, not the label: below this
# many dev positives a label keeps the default threshold.
MIN_THRESHOLD_POSITIVES = 8
DEFAULT_THRESHOLD = 0.5


def _best_threshold(probs: np.ndarray, gold: np.ndarray, domains: np.ndarray | None = None
                    ) -> float:
    """The threshold with the best F1; with ``domains``, the best mean of each domain's F1
    over the domains holding at least MIN_THRESHOLD_POSITIVES positives (pooled F1 when
    fewer than two do), so a domain with fewer dev items still has an equal say."""
    if gold.sum() < MIN_THRESHOLD_POSITIVES:
        return DEFAULT_THRESHOLD
    groups = [np.ones(len(gold), bool)]
    if domains is not None:
        counted = [domains == d for d in np.unique(domains)
                   if gold[domains == d].sum() >= MIN_THRESHOLD_POSITIVES]
        groups = counted if len(counted) >= 2 else groups
    scores = [np.mean([f1_score(gold[g], (probs[g] >= t).astype(int), zero_division=0)
                       for g in groups]) for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(scores))])


def fit_calibration(logits: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                    domains: np.ndarray | None = None) -> tuple[dict, dict[str, float]]:
    """Temperatures per head and F1-best thresholds per binary label, both from ``labels``.

    ``domains`` (one name per row, e.g. in-domain / out-of-domain): thresholds maximise the
    mean of the domains' F1 instead of the pooled F1 (:func:`_best_threshold`).
    """
    domains = None if domains is None else np.asarray(domains)
    calibration: dict = {}
    thresholds: dict[str, float] = {}
    rows = labels["sentiment_mask"] > 0
    if rows.any():
        gold, z = labels["sentiment"][rows], logits["sentiment"][rows]

        def nll(t: float) -> float:
            p = softmax(z / t)[np.arange(len(gold)), gold]
            return float(-np.mean(np.log(np.clip(p, 1e-7, 1))))

        calibration["sentiment"] = float(min(TEMPERATURES, key=nll))
    for key in ("complaint", "churn_intent"):
        rows = _binary_rows(labels[key], labels[f"{key}_mask"])
        gold = (labels[key][rows] >= 0.5).astype(float)
        t = _best_temperature_binary(logits[key][rows], gold)
        calibration[key] = t
        thresholds[key] = _best_threshold(sigmoid(logits[key][rows] / t), gold,
                                          None if domains is None else domains[rows])
    rows = labels["themes_mask"] > 0
    temps = []
    for i, theme in enumerate(SCHEMA.theme_keys):
        gold = (labels["themes"][rows, i] >= 0.5).astype(float)
        z = logits["themes"][rows, i]
        t = _best_temperature_binary(z, gold)
        temps.append(t)
        thresholds[theme] = _best_threshold(sigmoid(z / t), gold,
                                            None if domains is None else domains[rows])
    calibration["themes"] = temps
    return calibration, thresholds


def decide(probs: Mapping[str, np.ndarray], thresholds: Mapping[str, float]
           ) -> dict[str, np.ndarray]:
    """Yes/no per binary label from calibrated probabilities."""
    out = {key: probs[key] >= thresholds[key] for key in ("complaint", "churn_intent")}
    for i, theme in enumerate(SCHEMA.theme_keys):
        out[theme] = probs["themes"][:, i] >= thresholds[theme]
    return out


def prf(gold: Sequence[int], predicted: Sequence[int]) -> dict[str, float]:
    """Precision, recall, F1 and support of the positive class."""
    p, r, f, _ = precision_recall_fscore_support(gold, predicted, average="binary",
                                                 zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f),
            "support": int(np.sum(gold))}


def prediction_scores(predictions: Sequence, schema=SCHEMA) -> dict[str, np.ndarray]:
    """Any classifier's predictions as the arrays :func:`head_metrics` reads.

    Probabilities stand in for logits: average precision depends only on the ranking and
    the sentiment argmax is the same, so a model of any kind is scored like the network.
    A theme or churn the model does not predict scores 0 everywhere.
    """
    return {
        "sentiment": np.asarray([[p.sentiment_probs[s] for s in schema.sentiments]
                                 for p in predictions], dtype=np.float32),
        "complaint": np.asarray([p.complaint for p in predictions], dtype=np.float32),
        "themes": np.asarray([[p.themes.get(t, 0.0) for t in schema.theme_keys]
                              for p in predictions], dtype=np.float32).reshape(
                                  len(predictions), len(schema.themes)),
        "churn_intent": np.asarray([p.churn_intent or 0.0 for p in predictions],
                                   dtype=np.float32),
    }
