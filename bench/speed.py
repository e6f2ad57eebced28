"""Speed of transformer inference on this machine: Hugging Face pipeline vs our classifier.

Scores the same 5,000 airline tweets four ways, each in a fresh subprocess (so peak
memory is its own):

  pipeline-default      transformers.pipeline("text-classification") over --model
  pipeline-bs64         the same with batch_size=64
  classifier-torch      nlp.classifier.load_classifier(--champion), PyTorch
  classifier-onnx-int8  nlp.classifier.load_classifier(--champion, backend="onnx"): ONNX
                        Runtime, int8 dynamic quantisation

The pipelines run a sequence-classification model (one sentiment head); the classifier
rows run the fine-tuned multi-task model as `radar score` does (length-sorted batches,
all four heads), and their sentiment label is the one compared. With the same encoder
(MiniLM-L6 in both) the work per post is nearly the same.

Prints posts/s, peak RSS, agreement of predicted labels with the default of the same model
(the pipelines with ``pipeline-default``, the classifier rows with ``classifier-torch``),
and the sentiment macro-F1 and accuracy of the classifier rows on the de-duplicated airline
test split (the fine-tuned model never trained on it).

    python bench/speed.py --model models/bench-sentiment-minilm   # make that model with
                                                                  # bench/make_speed_model.py
    python bench/speed.py --champion models/minilm                # a folder, not the registry
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nlp.classifier import CHAMPION_URI
from nlp.classifier.folder import ENCODER_DIR, META_FILE

PIPELINE_METHODS = ("pipeline-default", "pipeline-bs64")
CLASSIFIER_METHODS = ("classifier-torch", "classifier-onnx-int8")
METHODS = PIPELINE_METHODS + CLASSIFIER_METHODS
# The row each method's labels are compared with: the default run of the same model.
REFERENCE = {**dict.fromkeys(PIPELINE_METHODS, "pipeline-default"),
             **dict.fromkeys(CLASSIFIER_METHODS, "classifier-torch")}


def bench_texts(n: int, seed: int) -> list[str]:
    """A fixed sample of ``n`` airline tweets, normalised once for every method alike."""
    from nlp.text import normalize_text
    from training import datasets as registry

    texts = registry.load("airline-sentiment-2015")["text"]
    rng = np.random.default_rng(seed)
    return [normalize_text(texts[i]) for i in rng.choice(len(texts), size=n, replace=False)]


def speed_only_model(encoder_dir: Path, out_dir: Path) -> Path:
    """A sequence-classification folder of ``encoder_dir`` with an untrained 3-way head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out_dir = Path(str(out_dir) + "-speed-only")
    if not (out_dir / "config.json").is_file():
        model = AutoModelForSequenceClassification.from_pretrained(
            encoder_dir, num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
            label2id={"negative": 0, "neutral": 1, "positive": 2})
        model.save_pretrained(out_dir)
        AutoTokenizer.from_pretrained(encoder_dir).save_pretrained(out_dir)
    return out_dir


def eval_split():
    from training import datasets as registry
    from training.splits import dedup_split

    split = dedup_split(registry.load("airline-sentiment-2015"), "sentiment", 0.2, seed=13)
    return split.test["text"], split.test["sentiment"]


def make_predict(method: str, model: Path, champion: Path):
    """The method's ``predict(texts) -> sentiment labels``, loaded and ready."""
    if method in CLASSIFIER_METHODS:
        from nlp.classifier import load_classifier

        clf = load_classifier(champion, backend="onnx" if "onnx" in method else "torch")

        def predict(batch):
            return [p.sentiment for p in clf.predict(batch)]
        return predict
    from transformers import pipeline

    kwargs = {"batch_size": 64} if method == "pipeline-bs64" else {}
    pipe = pipeline("text-classification", model=str(model), tokenizer=str(model), device="cpu")

    def predict(batch):
        return [r["label"] for r in pipe(batch, **kwargs)]
    return predict


def run_method(method: str, model: Path, champion: Path, texts: list[str], out: Path,
               evaluate: bool) -> None:
    """One method in this process: warm up, time the scoring, save labels and figures."""
    from sklearn.metrics import f1_score

    predict = make_predict(method, model, champion)
    predict(texts[:32])  # warm-up: first-call allocations and lazy initialisation
    started = time.perf_counter()
    labels = predict(texts)
    seconds = time.perf_counter() - started
    result = {"method": method, "posts": len(texts), "seconds": seconds,
              "posts_per_s": len(texts) / seconds, "labels": labels}
    if evaluate:
        eval_texts, gold = eval_split()
        from nlp.text import normalize_text

        predicted = predict([normalize_text(t) for t in eval_texts])
        result["macro_f1"] = float(f1_score(gold, predicted, average="macro"))
        result["accuracy"] = float(np.mean(np.array(gold) == np.array(predicted)))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result))


def local_champion(champion: str, download_dir: Path) -> Path:
    """The champion's model folder; an MLflow URI is downloaded once, for every worker."""
    from nlp.classifier import fetch_model_dir, is_mlflow_uri

    if not is_mlflow_uri(champion):
        return Path(champion)
    return fetch_model_dir(champion, dst_dir=download_dir)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/bench-sentiment-minilm"),
                        help="Hugging Face sequence-classification folder, for the pipelines")
    parser.add_argument("--champion", default=CHAMPION_URI,
                        help="the fine-tuned multi-task model the classifier rows load: a "
                             f"folder or an MLflow URI (default {CHAMPION_URI})")
    parser.add_argument("--n", type=int, default=5000, help="posts to score (default 5000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--no-eval", action="store_true", help="skip the macro-F1 evaluation")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.worker:
        texts = bench_texts(args.n, args.seed)
        run_method(args.worker, args.model, Path(args.champion), texts, args.worker_out,
                   evaluate=not args.no_eval and args.worker in CLASSIFIER_METHODS)
        return

    with tempfile.TemporaryDirectory() as tmp:
        champion = local_champion(args.champion, Path(tmp) / "champion")
        if not (champion / META_FILE).is_file():
            sys.exit(f"--champion {args.champion} is not a model folder; train one with "
                     f"`radar train --config training/configs/minilm.yaml` or export one "
                     f"with `radar models export`")
        if not (args.model / "config.json").is_file():
            # No fine-tuned sequence classifier to hand: the pipelines time the champion's
            # own encoder under an untrained 3-way head. Speed only: their labels mean
            # nothing, so only the classifier rows' macro-F1 and accuracy count.
            args.model = speed_only_model(champion / ENCODER_DIR, args.model)
        results = []
        for method in args.methods:
            out = Path(tmp) / f"{method}.json"
            print(f"running {method} ...", file=sys.stderr, flush=True)
            command = [sys.executable, __file__, "--model", str(args.model), "--champion",
                       str(champion), "--n", str(args.n), "--seed", str(args.seed),
                       "--worker", method, "--worker-out", str(out)]
            if args.no_eval:
                command.append("--no-eval")
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            results.append(json.loads(out.read_text()))
    report(results, args)


def report(results: list[dict], args: argparse.Namespace) -> None:
    by_method = {r["method"]: r for r in results}
    reference = by_method.get("pipeline-default")
    base_speed = reference["posts_per_s"] if reference else None
    print(f"\n{args.n} airline tweets, pipelines {args.model}, classifier {args.champion}, "
          f"{os.cpu_count()} CPUs")
    header = f"{'method':<20} {'posts/s':>8} {'x default':>9} {'peak MiB':>9} " \
             f"{'same labels':>11} {'macro-F1':>8} {'accuracy':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        speedup = f"{r['posts_per_s'] / base_speed:.2f}" if base_speed else "-"
        same = by_method.get(REFERENCE[r["method"]])
        agree = (f"{np.mean(np.array(r['labels']) == np.array(same['labels'])):.2%}"
                 if same else "-")
        f1 = f"{r['macro_f1']:.4f}" if "macro_f1" in r else "-"
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else "-"
        print(f"{r['method']:<20} {r['posts_per_s']:>8.1f} {speedup:>9} "
              f"{r['peak_rss_mib']:>9.0f} {agree:>11} {f1:>8} {acc:>8}")
    torch_r, onnx_r = by_method.get("classifier-torch"), by_method.get("classifier-onnx-int8")
    if torch_r and onnx_r and "macro_f1" in torch_r:
        print(f"\nONNX int8 vs PyTorch on the airline test split: macro-F1 change "
              f"{onnx_r['macro_f1'] - torch_r['macro_f1']:+.4f}")
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "labels"}
                                         for r in results], indent=2))


if __name__ == "__main__":
    main()
