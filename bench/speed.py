"""Speed of transformer inference on this machine: Hugging Face pipeline vs our engine.

Scores the same 5,000 airline tweets with one sequence-classification model four ways,
each in a fresh subprocess (so peak memory is its own):

  pipeline-default   transformers.pipeline("text-classification"), default settings
  pipeline-bs64      the same with batch_size=64
  engine-torch       nlp.engine.TransformerEngine, PyTorch backend
  engine-onnx-int8   nlp.engine.TransformerEngine, ONNX Runtime, int8 dynamic quantisation

and, with ``--champion URI`` (a fine-tuned multi-task model: folder or ``models:/``), the
product path that ``radar score`` takes, all four heads:

  champion-torch     nlp.classifier.load_classifier(URI), PyTorch
  champion-onnx-int8 nlp.classifier.load_classifier(URI, backend="onnx")

and prints posts/s, peak RSS, agreement of predicted labels with the default pipeline,
and the macro-F1 of the two engine backends on the de-duplicated airline test split.

    python bench/speed.py --model models/bench-sentiment-minilm   # make that model with
                                                                  # bench/make_speed_model.py
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

CHAMPION: str | None = None  # set from --champion in main()
METHODS = ("pipeline-default", "pipeline-bs64", "engine-torch", "engine-onnx-int8")
CHAMPION_METHODS = ("champion-torch", "champion-onnx-int8")


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


def run_method(method: str, model: Path, texts: list[str], out: Path, evaluate: bool) -> None:
    """One method in this process: warm up, time the scoring, save labels and figures."""
    from sklearn.metrics import f1_score

    if method.startswith("champion"):
        from nlp.classifier import load_classifier

        clf = load_classifier(CHAMPION, backend="onnx" if "onnx" in method else "torch")

        def predict(batch):
            return [p.sentiment for p in clf.predict(batch)]
    elif method.startswith("pipeline"):
        from transformers import pipeline

        kwargs = {"batch_size": 64} if method == "pipeline-bs64" else {}
        pipe = pipeline("text-classification", model=str(model), tokenizer=str(model),
                        device="cpu")

        def predict(batch):
            return [r["label"] for r in pipe(batch, **kwargs)]
    else:
        from nlp.engine import TransformerEngine

        engine = TransformerEngine(model, backend="onnx" if "onnx" in method else "torch")

        def predict(batch):
            return [engine.id2label[i] for i in engine.logits(batch).argmax(axis=1)]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/bench-sentiment-minilm"),
                        help="Hugging Face sequence-classification folder")
    parser.add_argument("--n", type=int, default=5000, help="posts to score (default 5000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--methods", nargs="+", choices=METHODS + CHAMPION_METHODS,
                        default=list(METHODS))
    parser.add_argument("--champion", help="also time this fine-tuned multi-task model "
                                           "(folder or models:/ URI) as radar score runs it")
    parser.add_argument("--no-eval", action="store_true", help="skip the macro-F1 evaluation")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=METHODS + CHAMPION_METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not (args.model / "config.json").is_file():
        if args.champion and (Path(args.champion) / "encoder" / "config.json").is_file():
            # No fine-tuned sequence classifier to hand: the pipelines time the champion's
            # own encoder under an untrained 3-way head. Speed only: their labels mean
            # nothing, so only the champion rows' macro-F1 and accuracy count.
            args.model = speed_only_model(Path(args.champion) / "encoder", args.model)
        else:
            sys.exit(f"{args.model} is not a model folder; make one with "
                     f"bench/make_speed_model.py, or give --champion FOLDER (a fine-tuned "
                     f"model folder, e.g. from `radar models export`)")
    texts = bench_texts(args.n, args.seed)
    global CHAMPION
    CHAMPION = args.champion
    methods = list(args.methods)
    if args.champion:
        methods += [m for m in CHAMPION_METHODS if m not in methods]
    if args.worker:
        run_method(args.worker, args.model, texts, args.worker_out,
                   evaluate=not args.no_eval and not args.worker.startswith("pipeline"))
        return

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            out = Path(tmp) / f"{method}.json"
            print(f"running {method} ...", file=sys.stderr, flush=True)
            command = [sys.executable, __file__, "--model", str(args.model), "--n", str(args.n),
                       "--seed", str(args.seed), "--worker", method, "--worker-out", str(out)]
            if args.no_eval:
                command.append("--no-eval")
            if args.champion:
                command += ["--champion", args.champion]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            results.append(json.loads(out.read_text()))
    report(results, args)


def report(results: list[dict], args: argparse.Namespace) -> None:
    by_method = {r["method"]: r for r in results}
    reference = by_method.get("pipeline-default")
    base_speed = reference["posts_per_s"] if reference else None
    print(f"\n{args.n} airline tweets, model {args.model}, {os.cpu_count()} CPUs, "
          f"torch threads {os.cpu_count()}")
    header = f"{'method':<18} {'posts/s':>8} {'x default':>9} {'peak MiB':>9} " \
             f"{'same labels':>11} {'macro-F1':>8} {'accuracy':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        speedup = f"{r['posts_per_s'] / base_speed:.2f}" if base_speed else "-"
        agree = (f"{np.mean(np.array(r['labels']) == np.array(reference['labels'])):.2%}"
                 if reference else "-")
        f1 = f"{r['macro_f1']:.4f}" if "macro_f1" in r else "-"
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else "-"
        print(f"{r['method']:<18} {r['posts_per_s']:>8.1f} {speedup:>9} "
              f"{r['peak_rss_mib']:>9.0f} {agree:>11} {f1:>8} {acc:>8}")
    torch_r, onnx_r = by_method.get("engine-torch"), by_method.get("engine-onnx-int8")
    if torch_r and onnx_r and "macro_f1" in torch_r:
        print(f"\nONNX int8 vs PyTorch on the airline test split: macro-F1 change "
              f"{onnx_r['macro_f1'] - torch_r['macro_f1']:+.4f}")
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "labels"}
                                         for r in results], indent=2))


if __name__ == "__main__":
    main()
