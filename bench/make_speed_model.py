"""Build the stand-in sentiment model that the speed benchmarks load.

The MiniLM-L6 encoder (the ``encoder`` extra, loaded by path, never from a hub) with a new
3-class head, fine-tuned on the airline-sentiment-2015 train split of our own
``dedup_split`` (test_size 0.2, seed 13), so its test figures are comparable with our
evaluation. Saves model and tokenizer with ``save_pretrained`` plus ``bench_model.json``.
Run from the repository root:

    RADAR_DATA_MIRROR=../shared/datasets HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \\
        .venv/bin/python bench/make_speed_model.py              # ~6-10 min on 2 cores
    ... bench/make_speed_model.py --max-train 200 --out /tmp/smoke-model   # smoke run

It is a benchmark fixture, not a production model: no MLflow run, no model card.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sklearn.metrics import accuracy_score, f1_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    get_linear_schedule_with_warmup,
)

from nlp.text import normalize_text
from training import datasets as registry
from training.splits import dedup_split, stratified_subsample
from training.train_transformer import find_encoder_dir

DATASET = "airline-sentiment-2015"
ID2LABEL = {0: "negative", 1: "neutral", 2: "positive"}
LABEL2ID = {label: i for i, label in ID2LABEL.items()}
# Rows per length-sorted chunk: big enough that batches hold similar lengths (little
# padding), small enough that the batch order is still well mixed.
BUCKET_ROWS = 50
# Wide enough for one-line messages when the output is a log file (rich assumes 80 there).
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


@dataclass(frozen=True)
class SpeedModelConfig:
    """How the stand-in model is trained; validated before any data or weights load."""

    out_dir: Path = Path("models/bench-sentiment-minilm")
    epochs: int = 1
    max_train: int | None = None
    batch_size: int = 32
    lr: float = 5e-5
    max_length: int = 64
    warmup_ratio: float = 0.1
    eval_batch_size: int = 128
    seed: int = 13
    test_size: float = 0.2

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, "
                                 f"got {getattr(self, name)}")
        if self.max_train is not None and self.max_train < 10:
            raise ValueError(f"--max-train must be >= 10 (or left out), got {self.max_train}")
        if not 0 < self.lr < 1:
            raise ValueError(f"--lr must be in (0, 1), got {self.lr}")
        # The old folder is replaced at the end; never one that this script did not make.
        if (self.out_dir.exists() and any(self.out_dir.iterdir())
                and not (self.out_dir / "bench_model.json").is_file()):
            raise ValueError(f"--out {self.out_dir} exists and is not a model made by this "
                             "script (no bench_model.json); choose another folder or empty it")

    def to_dict(self) -> dict:
        return {**asdict(self), "out_dir": str(self.out_dir)}


def load_rows(rows, split_name: str) -> tuple[list[str], list[int]]:
    """Normalised texts and label ids of a split; unknown labels stop the run."""
    texts = [normalize_text(text) for text in rows["text"]]
    bad = sorted({str(s) for s in rows["sentiment"] if s not in LABEL2ID})
    if bad:
        raise ValueError(f"{DATASET} {split_name}: sentiment labels {bad} are not in "
                         f"{list(LABEL2ID)}; fix the loader or the label map")
    return texts, [LABEL2ID[s] for s in rows["sentiment"]]


def make_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort by length within chunks, cut into batches, shuffle the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * BUCKET_ROWS
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lengths.__getitem__)
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def fine_tune(model, tokenizer, texts: list[str], labels: list[int],
              config: SpeedModelConfig) -> None:
    """A plain AdamW loop with linear warmup and decay and length-bucketed batches."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True,
                                             max_length=config.max_length)["input_ids"]]
    rng = random.Random(config.seed)
    steps_per_epoch = -(-len(texts) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps), total_steps)
    # In a log file rich draws no live bar, so print a line now and then instead.
    log_every = 0 if console.is_terminal else max(1, total_steps // 20)
    model.train()
    with _progress() as progress:
        task = progress.add_task("fine-tuning", total=total_steps, loss=float("nan"))
        for epoch in range(config.epochs):
            for batch in make_batches(lengths, config.batch_size, rng):
                inputs = tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                   max_length=config.max_length, return_tensors="pt")
                target = torch.tensor([labels[i] for i in batch])
                loss = model(**inputs, labels=target).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                progress.update(task, advance=1, loss=loss.item())
                done = int(progress.tasks[task].completed)
                if log_every and (done % log_every == 0 or done == total_steps):
                    remaining = progress.tasks[task].time_remaining or 0
                    console.print(f"epoch {epoch + 1} step {done}/{total_steps} "
                                  f"loss {loss.item():.3f} eta {remaining:.0f}s")


def predict(model, tokenizer, texts: list[str], config: SpeedModelConfig) -> list[int]:
    """Label ids for ``texts``, batched by length to waste little time on padding."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    preds = [0] * len(texts)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), config.eval_batch_size):
            batch = order[start:start + config.eval_batch_size]
            inputs = tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                               max_length=config.max_length, return_tensors="pt")
            for i, pred in zip(batch, model(**inputs).logits.argmax(-1).tolist(), strict=True):
                preds[i] = pred
    return preds


def build_speed_model(config: SpeedModelConfig) -> dict:
    """Fine-tune, evaluate and save the stand-in model; return what goes in bench_model.json."""
    started = time.perf_counter()
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(2)

    split = dedup_split(registry.load(DATASET), "sentiment", config.test_size, config.seed)
    train = stratified_subsample(split.train, "sentiment", config.max_train, config.seed)
    train_texts, train_labels = load_rows(train, "train")
    test_texts, test_labels = load_rows(split.test, "test")
    console.print(f"{DATASET}: train {len(split.train)} (using {len(train)}) / "
                  f"test {len(split.test)}, {split.duplicates_dropped} duplicates dropped")

    encoder_dir = find_encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        encoder_dir, num_labels=len(ID2LABEL), id2label=ID2LABEL, label2id=LABEL2ID)
    fine_tune(model, tokenizer, train_texts, train_labels, config)

    console.print(f"evaluating on {len(test_texts)} test tweets ...")
    preds = predict(model, tokenizer, test_texts, config)
    report = {
        "dataset": DATASET,
        "base_model": str(encoder_dir),
        "config": config.to_dict(),
        "train_rows": len(split.train),
        "train_rows_used": len(train),
        "test_rows": len(split.test),
        "duplicates_dropped": split.duplicates_dropped,
        "epochs": config.epochs,
        "accuracy": round(accuracy_score(test_labels, preds), 4),
        "macro_f1": round(f1_score(test_labels, preds, average="macro"), 4),
        "torch": torch.__version__,
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    _save(model, tokenizer, report, config.out_dir)
    return report


def _save(model, tokenizer, report: dict, out_dir: Path) -> None:
    """Write into a sibling temp folder, then swap: a crash never leaves half a model."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    tmp.chmod(0o755)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "bench_model.json").write_text(json.dumps(report, indent=2) + "\n")
    for path in tmp.iterdir():
        path.chmod(0o644)  # transformers writes the weights 0600; the folder is shared
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total} loss {task.fields[loss]:.3f}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console)


def main(
    out: Annotated[Path, typer.Option(help="Folder to save the model in.")] = Path(
        "models/bench-sentiment-minilm"),
    epochs: Annotated[int, typer.Option(help="Passes over the train split.")] = 1,
    max_train: Annotated[int | None, typer.Option(
        help="Use at most this many train rows (stratified), for a smoke run.")] = None,
    batch_size: Annotated[int, typer.Option(help="Tweets per training step.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak AdamW learning rate.")] = 5e-5,
) -> None:
    """Fine-tune MiniLM-L6 on airline sentiment and save it for the speed benchmarks."""
    try:
        config = SpeedModelConfig(out_dir=out, epochs=epochs, max_train=max_train,
                                  batch_size=batch_size, lr=lr)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    report = build_speed_model(config)
    console.print(f"saved {config.out_dir}: accuracy {report['accuracy']:.4f}, "
                  f"macro-F1 {report['macro_f1']:.4f}, {report['seconds']:.0f} s")
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    typer.run(main)
