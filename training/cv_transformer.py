"""complaints-2019 stratified k-fold cross-validation of the fine-tuned encoder.

The papers' protocol (Preotiuc-Pietro et al. 2019; Jin & Aletras 2020): 10 stratified
folds, macro-F1 and accuracy averaged over folds. Each fold fine-tunes a fresh MiniLM-L6
with the same multi-task network, only the complaint label present (the other tasks
are masked out), for the config's epochs. The epoch is chosen on a 10% slice of the
fold's *training* part, never on the held-out fold; the decision threshold is 0.5
(no tuning on the fold either).

On 2 CPU cores one fold of ~3,100 posts costs about 2 epochs x 100 s; 10 folds take
about 35-40 minutes (``radar evaluate --complaints-cv``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from nlp.console import make_console
from nlp.taxonomy import SCHEMA
from training import datasets as registry
from training.config import FineTuneConfig
from training.finetune import Encoded

DATASET = "complaints-2019"


def _complaint_only(ids: list[list[int]], labels: np.ndarray, n_themes: int) -> Encoded:
    n = len(ids)
    return Encoded(ids, {
        "sentiment": np.full(n, -1, np.int64), "sentiment_mask": np.zeros(n, np.float32),
        "complaint": labels.astype(np.float32), "complaint_mask": np.ones(n, np.float32),
        "themes": np.zeros((n, n_themes), np.float32), "themes_mask": np.zeros(n, np.float32),
        "churn_intent": np.zeros(n, np.float32), "churn_intent_mask": np.zeros(n, np.float32),
    })


def cross_validate(config: FineTuneConfig, folds: int = 10, epochs: int = 2,
                   max_rows: int | None = None, console: Console | None = None,
                   on_fold: Callable[[int, dict], None] | None = None) -> dict:
    """Stratified ``folds``-fold CV of the encoder + complaint head on complaints-2019."""
    import torch
    from transformers import AutoTokenizer

    from nlp.classifier.multitask import build_network
    from nlp.text import normalize_text
    from training.finetune import fit, predict_logits
    from training.train_transformer import find_encoder_dir

    console = console or make_console(stderr=True)
    started = time.perf_counter()
    ds = registry.load(DATASET)
    texts = [normalize_text(t) for t in ds["text"]]
    labels = np.asarray(ds["complaint"], dtype=np.int64)
    if max_rows is not None and max_rows < len(texts):
        keep, _ = train_test_split(np.arange(len(texts)), train_size=max_rows,
                                   random_state=config.seed, stratify=labels)
        keep = np.sort(keep)
        texts, labels = [texts[i] for i in keep], labels[keep]
    encoder_dir = Path(config.encoder_dir) if config.encoder_dir else find_encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    ids = tokenizer(texts, truncation=True, max_length=config.max_length)["input_ids"]
    fold_config = dataclasses.replace(config, epochs=epochs, patience=epochs,
                                      task_weights={"complaint": 1.0})
    n_themes = len(SCHEMA.themes)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    results = []
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        fit_idx, select_idx = train_test_split(train_idx, test_size=0.1,
                                               random_state=config.seed,
                                               stratify=labels[train_idx])
        part = {name: _complaint_only([ids[i] for i in idx], labels[idx], n_themes)
                for name, idx in (("fit", fit_idx), ("select", select_idx),
                                  ("test", test_idx))}
        network = build_network(encoder_dir, SCHEMA, config.dropout, config.encoder_config,
                                config.seed + fold)
        fold_started = time.perf_counter()
        fitted = fit(network, part["fit"], part["select"], fold_config,
                     tokenizer.pad_token_id, len(SCHEMA.sentiments), console)
        logits = predict_logits(fitted.network, part["test"], config.eval_batch_size,
                                tokenizer.pad_token_id)
        predicted = (logits["complaint"] >= 0.0).astype(int)  # p >= 0.5
        gold = labels[test_idx]
        row = {"fold": fold, "macro_f1": float(f1_score(gold, predicted, average="macro")),
               "accuracy": float(accuracy_score(gold, predicted)),
               "best_epoch": fitted.best_epoch, "test_rows": len(test_idx),
               "seconds": round(time.perf_counter() - fold_started, 1)}
        results.append(row)
        console.print(f"fold {fold + 1}/{folds}: macro-F1 {row['macro_f1']:.3f}, accuracy "
                      f"{row['accuracy']:.3f} ({row['seconds']:.0f} s)")
        if on_fold is not None:
            on_fold(fold, row)
        del network, fitted
        torch.manual_seed(config.seed)
    f1s = [r["macro_f1"] for r in results]
    accs = [r["accuracy"] for r in results]
    return {"dataset": DATASET, "folds": folds, "epochs": epochs, "rows": len(labels),
            "max_length": config.max_length, "lr": config.lr, "seed": config.seed,
            "macro_f1_mean": float(np.mean(f1s)), "macro_f1_std": float(np.std(f1s)),
            "accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "seconds": round(time.perf_counter() - started, 1), "per_fold": results}


def save_cv(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def read_cv(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


CV_NOTE = ("complaints-2019 CV: {folds} stratified folds over {rows:,} tweets, {epochs} epochs "
           "per fold, epoch chosen on 10% of each fold's training part, threshold 0.5; "
           "{seconds:.0f} s in all.")
