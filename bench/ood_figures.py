"""Compare trained models on out-of-domain dev, then in-domain and out-of-domain test.

Issue [H]: how much weight a data source gets is decided by what it does to the
out-of-domain figures. The decision is read on **out-of-domain dev**: the items of the
selection half of gold dev (the half no model trains on; ``split_dev``) from industries
other than airlines. The tests are printed beside it for the record, not to choose by.

    .venv/bin/python bench/ood_figures.py models/ablation-old-sources models/minilm-demo

Each figure uses the model's own calibrated thresholds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import datasets
import numpy as np

from nlp.classifier import load_classifier
from training.evaluate_model import score_gold_split
from training.train_transformer import split_dev

FIGURES = (("complaint_macro_f1", "complaint"), ("themes_macro_f1_supported", "themes>=20"),
           ("themes_macro_f1", "themes(9)"), ("churn_intent_f1", "churn"),
           ("sentiment_macro_f1", "sentiment"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model folders or models:/ URIs")
    parser.add_argument("--corpus-dir", type=Path, default=Path("data/processed/corpus"))
    parser.add_argument("--dev-train-fraction", type=float, default=0.5)
    args = parser.parse_args()
    corpus = datasets.load_from_disk(str(args.corpus_dir))
    _, select = split_dev(corpus["validation"], args.dev_train_fraction)
    ood_rows = [i for i, v in enumerate(select["industry"]) if v not in ("airline", "none")]
    splits = {"ood-dev": select.select(ood_rows), "test": corpus["test"],
              "ood-test": corpus["ood_test"]}
    print("items: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    header = "model".ljust(34) + "".join(f"{name:>11}" for _, name in FIGURES)
    for split_name, split in splits.items():
        print(f"\n{split_name}\n{header}")
        for uri in args.models:
            clf = load_classifier(uri)
            scores = score_gold_split(clf.predict(split["text"]), split,
                                      getattr(clf, "thresholds", {}) or {})
            cells = "".join(f"{scores[key]:>11.3f}" if not np.isnan(scores[key])
                            else f"{'-':>11}" for key, _ in FIGURES)
            print(f"{Path(uri).name[:33]:34s}{cells}")


if __name__ == "__main__":
    main()
