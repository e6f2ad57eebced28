"""Distillation: a large frozen teacher relabels the corpus for the small served model.

Issue [H] item 3. all-mpnet-base-v2 (``training.teacher``) transfers to new industries
better than MiniLM-L6, but embeds about 34 posts/s on 2 CPU cores: too slow to serve or to
fine-tune here. So it teaches instead:

1. the teacher embeds every ``train`` post and the gold dev items the student trains on
   (mean pooling, 64 tokens, as the student reads a post); embeddings are cached per corpus
   and teacher under ``data/processed/teacher/``;
2. one logistic head per theme and for churn intent is fitted on those embeddings: gold
   labels where a row has them (gold dev, written posts), the weak label at 0.5 elsewhere,
   gold rows weighted by ``gold_weight``;
3. the heads' probabilities replace the *weak* theme and churn targets of ``train``
   (gold and mapped labels stay), and the student fine-tunes on them as usual.

Held-out industries are not in ``train``, so the teacher never sees them either. Nothing
here runs in the tests with real weights: the teacher is a training-time tool.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import datasets
import numpy as np
from rich.console import Console

from nlp.taxonomy import THEME_KEYS
from nlp.text import normalize_text

TEACHER_CACHE = Path("data/processed/teacher")
KEYS = (*THEME_KEYS, "churn_intent")


def embed_texts(folder: Path, texts: list[str], console: Console, batch_size: int = 64,
                max_length: int = 64) -> np.ndarray:
    """Mean-pooled last-layer embeddings of ``texts`` (shortest first, for cheap padding)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    started, step = time.perf_counter(), max(1, len(texts) // batch_size // 10)
    with torch.inference_mode():
        for n, start in enumerate(range(0, len(texts), batch_size)):
            index = order[start:start + batch_size]
            enc = tokenizer([normalize_text(texts[i]) for i in index], truncation=True,
                            max_length=max_length, padding=True, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out[index] = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
            if n % step == 0:
                done = min(start + batch_size, len(texts))
                console.print(f"teacher: {done:,}/{len(texts):,} posts embedded, "
                              f"{time.perf_counter() - started:.0f} s")
    return out


def cached_embeddings(folder: Path, texts: list[str], console: Console,
                      cache_dir: Path | None = None) -> np.ndarray:
    """``embed_texts`` of the distinct texts, kept on disk per teacher and set of texts."""
    unique = sorted(set(texts))
    digest = hashlib.sha256("\n".join([str(folder.resolve()), *unique]).encode()).hexdigest()
    path = Path(cache_dir or TEACHER_CACHE) / f"{folder.name}-{digest[:16]}.npy"
    if path.is_file():
        vectors = np.load(path)
    else:
        vectors = embed_texts(folder, unique, console)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    row = {text: i for i, text in enumerate(unique)}
    return vectors[[row[t] for t in texts]]


def _targets(split: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """0/1 targets per key, and which rows are gold (not weak) for the themes and churn."""
    themes = np.asarray(split["themes"], dtype=np.float32).reshape(len(split), -1)
    y = np.column_stack([themes, np.asarray(split["churn_intent"], dtype=np.float32)]) >= 0.5
    gold = np.column_stack([np.asarray(split["themes_source"]) != "weak",
                            np.asarray(split["churn_intent_source"]) != "weak"])
    return y.astype(int), gold


def distil_targets(train: datasets.Dataset, dev_fit: datasets.Dataset, teacher_dir: Path,
                   console: Console, gold_weight: float = 3.0, mix: float = 1.0
                   ) -> datasets.Dataset:
    """``train`` with its weak theme and churn targets replaced by the teacher's (module doc).

    ``mix`` < 1 keeps part of the weak target: ``mix * teacher + (1 - mix) * weak``.
    """
    from sklearn.linear_model import LogisticRegression

    x_train = cached_embeddings(Path(teacher_dir), list(train["text"]), console)
    x_dev = cached_embeddings(Path(teacher_dir), list(dev_fit["text"]), console)
    y_train, gold_train = _targets(train)
    y_dev, _ = _targets(dev_fit)
    x = np.concatenate([x_train, x_dev])
    probs = np.zeros_like(y_train, dtype=np.float32)
    for j, key in enumerate(KEYS):
        y = np.concatenate([y_train[:, j], y_dev[:, j]])
        is_gold = gold_train[:, 0 if j < len(THEME_KEYS) else 1]
        weight = np.concatenate([np.where(is_gold, gold_weight, 1.0),
                                 np.full(len(x_dev), gold_weight)])
        if y.min() == y.max():
            probs[:, j] = y[0]
            continue
        head = LogisticRegression(max_iter=1000, C=1.0)
        head.fit(x, y, sample_weight=weight)
        probs[:, j] = head.predict_proba(x_train)[:, 1]
        console.print(f"teacher head {key}: {int(y.sum()):,} positives; mean p on train "
                      f"{probs[:, j].mean():.3f}")
    weak_themes = np.asarray(train["themes"], dtype=np.float32).reshape(len(train), -1)
    weak_churn = np.asarray(train["churn_intent"], dtype=np.float32)
    themes = np.where(gold_train[:, :1], weak_themes,
                      mix * probs[:, :-1] + (1 - mix) * weak_themes)
    churn = np.where(gold_train[:, -1], weak_churn, mix * probs[:, -1] + (1 - mix) * weak_churn)
    columns = {
        "themes": [list(map(float, row)) for row in themes],
        "churn_intent": [float(v) for v in churn],
        "themes_source": [("teacher" if s == "weak" else s) for s in train["themes_source"]],
        "churn_intent_source": [("teacher" if s == "weak" else s)
                                for s in train["churn_intent_source"]],
    }
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar per column change of a second is noise
    try:
        out = train.remove_columns(list(columns))
        for name, values in columns.items():
            out = out.add_column(name, values)
        return out.cast(train.features)
    finally:
        if bars:
            datasets.enable_progress_bars()
