"""Which encoder transfers beyond airlines: frozen encoders, logistic heads, out-of-domain dev.

Issue [H] item 3. Each encoder embeds (mean pooling over the last layer, 64 tokens, as the
product model reads a post) a fixed sample of the corpus's ``train`` split and every
``validation`` item. Logistic heads, one per label, are fitted on the train sample plus the
trained half of gold dev (gold labels where present, weak labels at 0.5 otherwise) and
scored on the out-of-domain dev items of the selection half (``industry`` not airline/none;
the items ``bench/ood_figures.py`` reads), which no head saw.
Nothing is fine-tuned: this compares what the encoders know, cheaply, before spending
hours fine-tuning a large one.

    .venv/bin/python bench/encoder_probe.py --teacher-dir models/teacher/all-mpnet-base-v2

Prints, per encoder: complaint macro-F1, theme macro-F1, churn F1 at 0.5 and
embedding speed (posts/s on this machine).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import datasets
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from transformers import AutoModel, AutoTokenizer

from nlp.taxonomy import THEME_KEYS
from nlp.text import normalize_text
from training.train_transformer import find_encoder_dir, split_dev


def embed(folder: Path, texts: list[str], batch_size: int = 64) -> tuple[np.ndarray, float]:
    """Mean-pooled last-layer embeddings and posts per second."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    out, started = [], time.perf_counter()
    order = np.argsort([len(t) for t in texts])
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = [normalize_text(texts[i]) for i in order[start:start + batch_size]]
            enc = tokenizer(batch, truncation=True, max_length=64, padding=True,
                            return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    vectors = np.empty((len(texts), out[0].shape[1]), dtype=np.float32)
    vectors[order] = np.concatenate(out)
    return vectors, len(texts) / (time.perf_counter() - started)


def targets(split: datasets.Dataset) -> dict[str, np.ndarray]:
    """0/1 targets (-1: unknown) for complaint, each theme and churn."""
    out = {"complaint": np.where(np.asarray(split["complaint_mask"]) > 0,
                                 np.asarray(split["complaint"]) >= 0.5, -1).astype(int)}
    themes = np.asarray(split["themes"])
    for i, theme in enumerate(THEME_KEYS):
        out[theme] = (themes[:, i] >= 0.5).astype(int)
    out["churn_intent"] = (np.asarray(split["churn_intent"]) >= 0.5).astype(int)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=Path("data/processed/corpus"))
    parser.add_argument("--teacher-dir", type=Path, action="append", default=[],
                        help="another encoder folder to compare (repeatable)")
    parser.add_argument("--train-sample", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--dev-train-fraction", type=float, default=0.5)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    corpus = datasets.load_from_disk(str(args.corpus_dir))
    rng = np.random.default_rng(args.seed)
    train = corpus["train"].select(sorted(rng.choice(len(corpus["train"]),
                                                     size=min(args.train_sample,
                                                              len(corpus["train"])),
                                                     replace=False).tolist()))
    # the same halves as a fine-tuned model (split_dev): heads fit on the trained half,
    # scores on the out-of-domain items of the selection half, as bench/ood_figures.py reads
    dev_fit, select = split_dev(corpus["validation"], args.dev_train_fraction)
    ood_rows = [i for i, v in enumerate(select["industry"]) if v not in ("airline", "none")]
    val = datasets.concatenate_datasets([dev_fit, select.select(ood_rows)])
    ood = np.arange(len(val)) >= len(dev_fit)
    fit_targets = {k: np.concatenate([v, targets(val)[k][~ood]])
                   for k, v in targets(train).items()}
    test_targets = {k: v[ood] for k, v in targets(val).items()}
    print(f"heads fit on {len(train)} corpus rows + {int((~ood).sum())} gold dev items (the "
          f"trained half); scored on {int(ood.sum())} out-of-domain dev items of the selection "
          f"half")
    for folder in [find_encoder_dir(), *args.teacher_dir]:
        train_x, speed = embed(folder, train["text"])
        val_x, _ = embed(folder, val["text"])
        fit_x = np.concatenate([train_x, val_x[~ood]])
        scores = {}
        for key, y in fit_targets.items():
            rows = y >= 0
            head = LogisticRegression(max_iter=2000, C=1.0, class_weight="balanced")
            head.fit(fit_x[rows], y[rows])
            predicted = head.predict(val_x[ood])
            gold = test_targets[key]
            if key == "complaint":
                scores[key] = f1_score(gold, predicted, average="macro")
            else:
                scores[key] = f1_score(gold, predicted, zero_division=0)
        theme_f1 = np.mean([scores[t] for t in THEME_KEYS])
        print(f"{folder.name:28s} complaint macro-F1 {scores['complaint']:.3f}  theme macro-F1 "
              f"{theme_f1:.3f}  churn F1 {scores['churn_intent']:.3f}  {speed:.0f} posts/s")


if __name__ == "__main__":
    main()
