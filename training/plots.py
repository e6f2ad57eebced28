"""Figures logged with each fine-tuning run: confusion matrices and per-theme PR curves."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_curve

from nlp.taxonomy import SCHEMA


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def confusion_figure(gold: Mapping[str, np.ndarray], predicted: Mapping[str, np.ndarray],
                     title: str):
    """One confusion matrix per label (sentiment 3x3, each binary label 2x2)."""
    plt = _pyplot()
    keys = list(gold)
    cols = 4
    rows = int(np.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        labels = list(SCHEMA.sentiments) if key == "sentiment" else ["no", "yes"]
        matrix = confusion_matrix(gold[key], predicted[key], labels=range(len(labels)))
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("gold", fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pr_curves_figure(gold: np.ndarray, probs: np.ndarray, title: str):
    """Precision-recall curve of each theme (and churn, when given as the last column)."""
    plt = _pyplot()
    names = list(SCHEMA.theme_keys) + (["churn_intent"] if probs.shape[1] > len(SCHEMA.themes)
                                       else [])
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, name in enumerate(names):
        if gold[:, i].sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(gold[:, i], probs[:, i])
        ax.plot(recall, precision, label=f"{name} (n={int(gold[:, i].sum())})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title)
    fig.tight_layout()
    return fig
